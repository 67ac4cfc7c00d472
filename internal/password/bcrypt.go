package password

import (
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// bcrypt costs a configuration may choose. A cost below 10 is refused
// (ASVS Appendix C: bcrypt cost ≥ 10); above 15 one hash takes seconds.
const (
	DefaultBcryptCost = 12
	MinBcryptCost     = 10
	MaxBcryptCost     = 15
)

// bcryptMaxInput is the most bcrypt reads of its input: bytes after it are
// ignored by x/crypto's CompareHashAndPassword (OWASP Password Storage Cheat
// Sheet: "bcrypt has a maximum length input length of 72 bytes").
const bcryptMaxInput = 72

// Bounds on a parsed bcrypt cost. 4 is bcrypt's own minimum; a hostile
// stored cost of 31 would run for hours (CWE-400).
const (
	bcryptParseMinCost = bcrypt.MinCost
	bcryptParseMaxCost = MaxBcryptCost
)

const prehashPrefix = "$bcrypt-sha384$"

// bcryptHash is a parsed bcrypt hash, pre-hashed or plain.
type bcryptHash struct {
	prehashed bool
	cost      int
	mcf       string // the standard "$2?$NN$…" string given to x/crypto
}

// bcryptInput is what bcrypt hashes for a pre-hashed bcrypt hash:
// base64(SHA-384(password)), 64 ASCII bytes, no NUL, under bcrypt's 72.
func bcryptInput(password string) []byte {
	sum := sha512.Sum384([]byte(password))
	out := make([]byte, base64.StdEncoding.EncodedLen(len(sum)))
	base64.StdEncoding.Encode(out, sum[:])
	return out
}

// bcryptHashPassword makes a new pre-hashed bcrypt hash at cost.
func bcryptHashPassword(password string, cost int) (string, error) {
	mcf, err := bcrypt.GenerateFromPassword(bcryptInput(password), cost)
	if err != nil {
		return "", fmt.Errorf("bcrypt: %w", err)
	}
	return prehashPrefix + string(mcf[1:]), nil
}

// verify reports whether password matches h.
func (h *bcryptHash) verify(password string) (bool, error) {
	in := []byte(password)
	if h.prehashed {
		in = bcryptInput(password)
	}
	err := bcrypt.CompareHashAndPassword([]byte(h.mcf), in)
	switch {
	case err == nil:
		// A plain hash only ever saw the first 72 bytes: a longer password
		// would match on its prefix alone. Refuse it rather than truncate
		// (ASVS 6.2.8; NIST SP 800-63B "SHALL NOT truncate"). The work was
		// still done, so timing does not tell the two cases apart.
		return h.prehashed || len(password) <= bcryptMaxInput, nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, nil
	default:
		return false, fmt.Errorf("bcrypt: %w", err)
	}
}

// parseBcrypt parses either a pre-hashed ("$bcrypt-sha384$2a$…") or a plain
// ("$2a$…", "$2b$…", "$2y$…") bcrypt hash strictly: version, two-digit cost
// within bounds, then exactly 53 characters of bcrypt's base64 alphabet.
func parseBcrypt(s string) (*bcryptHash, error) {
	h := &bcryptHash{mcf: s}
	if rest, ok := strings.CutPrefix(s, prehashPrefix); ok {
		h.prehashed = true
		h.mcf = "$" + rest
	}
	m := h.mcf
	// "$2?$NN$" + 22 salt + 31 hash characters = 60.
	if len(m) != 60 || m[0] != '$' || m[1] != '2' || m[3] != '$' || m[6] != '$' {
		return nil, malformed("bcrypt: not of the form $2?$NN$ followed by 53 characters")
	}
	switch m[2] {
	case 'a', 'b', 'y':
	default:
		return nil, malformed("bcrypt: version 2%c not accepted", m[2])
	}
	if m[4] < '0' || m[4] > '9' || m[5] < '0' || m[5] > '9' {
		return nil, malformed("bcrypt: cost %q is not two digits", m[4:6])
	}
	h.cost = int(m[4]-'0')*10 + int(m[5]-'0')
	if h.cost < bcryptParseMinCost || h.cost > bcryptParseMaxCost {
		return nil, malformed("bcrypt: cost %d out of bounds (%d to %d)", h.cost, bcryptParseMinCost, bcryptParseMaxCost)
	}
	for i := 7; i < len(m); i++ {
		if !isBcryptBase64(m[i]) {
			return nil, malformed("bcrypt: salt or hash has a character outside bcrypt's base64 alphabet")
		}
	}
	return h, nil
}

// isBcryptBase64 reports whether c is in bcrypt's alphabet
// "./A-Za-z0-9".
func isBcryptBase64(c byte) bool {
	return c == '.' || c == '/' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
}

func validateBcryptCost(cost int, weak bool) error {
	lo := MinBcryptCost
	if weak {
		lo = bcrypt.MinCost
	}
	if cost < lo || cost > MaxBcryptCost {
		return fmt.Errorf("bcrypt cost %d out of range (%d to %d)", cost, lo, MaxBcryptCost)
	}
	return nil
}
