package password

import (
	_ "embed"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"golang.org/x/text/unicode/norm"
)

// Length limits, in Unicode code points after NFKC normalisation, except
// MaxBytes (bytes of UTF-8). docs/api.md: minimum configurable from 8 to 64,
// default 15 (NIST SP 800-63B-4: ≥15 for a single-factor password; ASVS
// 6.2.1); maximum 128 code points and 1024 bytes, a cap against denial of
// service that still permits 64 characters (ASVS 6.2.9).
const (
	DefaultMinLength = 15
	MinMinLength     = 8
	MaxMinLength     = 64
	MaxLength        = 128
	MaxBytes         = 1024
)

// The reasons Check returns: the weak_password reasons of docs/api.md.
const (
	ReasonTooShort      = "too_short"
	ReasonTooLong       = "too_long"
	ReasonCommon        = "common"
	ReasonContainsEmail = "contains_email"
)

// ServiceName is the context word no password may contain (ASVS 6.2.11,
// NIST SP 800-63B §5.1.1.2 "the name of the service").
const ServiceName = "bulwark"

// commonPasswords is the bundled list: one lower-case password per line, most
// frequent first. See common-passwords.SOURCE.md.
//
//go:embed common-passwords.txt
var commonPasswords string

// Normalize returns the NFKC normalisation of pw (NIST SP 800-63B
// §5.1.1.2), and false if pw is not valid UTF-8, which must be refused
// rather than repaired: two different invalid strings would otherwise become
// the same password (ASVS 6.2.10). Apply it before Check, Hash and
// Verify alike.
func Normalize(pw string) (string, bool) {
	if !utf8.ValidString(pw) {
		return "", false
	}
	return norm.NFKC.String(pw), true
}

// Policy checks new passwords. It implements auth.PasswordPolicy and is safe
// for concurrent use.
type Policy struct {
	minLength int
	common    map[string]struct{}
}

var _ auth.PasswordPolicy = (*Policy)(nil)

// NewPolicy returns a Policy requiring at least minLength code points
// (MinMinLength to MaxMinLength; 0 means DefaultMinLength). It builds the
// common-password set once, keeping only entries of at least minLength code
// points: shorter ones are refused as too_short before the list is consulted.
func NewPolicy(minLength int) (*Policy, error) {
	if minLength == 0 {
		minLength = DefaultMinLength
	}
	if minLength < MinMinLength || minLength > MaxMinLength {
		return nil, fmt.Errorf("new password policy: minimum length %d out of range (%d to %d)", minLength, MinMinLength, MaxMinLength)
	}
	p := &Policy{minLength: minLength, common: make(map[string]struct{})}
	for _, w := range commonList() {
		if utf8.RuneCountInString(w) >= minLength {
			p.common[w] = struct{}{}
		}
	}
	return p, nil
}

// commonList returns the entries of the bundled list in order.
func commonList() []string {
	return strings.Fields(commonPasswords)
}

// Check returns "" if password (already normalised, see Normalize) is
// acceptable for the account with this email, or the first reason it is not:
// too_long, too_short, common or contains_email (see the package doc).
func (p *Policy) Check(password, email string) string {
	// Bytes first: it bounds the work of everything below.
	if len(password) > MaxBytes {
		return ReasonTooLong
	}
	n := utf8.RuneCountInString(password)
	if n > MaxLength {
		return ReasonTooLong
	}
	if n < p.minLength {
		return ReasonTooShort
	}
	lower := strings.ToLower(password)
	if p.isCommon(lower) {
		return ReasonCommon
	}
	if containsContext(lower, email) {
		return ReasonContainsEmail
	}
	return ""
}

func (p *Policy) isCommon(lower string) bool {
	if _, ok := p.common[lower]; ok {
		return true
	}
	return strings.Contains(lower, "password") || isRepeated(lower) || isSequence(lower)
}

// isRepeated reports whether s is one unit of at most half its length
// repeated: "aaaa…", "abab…", "passwordpassword".
func isRepeated(s string) bool {
	r := []rune(s)
	for unit := 1; unit <= len(r)/2; unit++ {
		if len(r)%unit != 0 {
			continue
		}
		same := true
		for i := unit; i < len(r) && same; i++ {
			same = r[i] == r[i-unit]
		}
		if same {
			return true
		}
	}
	return false
}

// isSequence reports whether every code point of s is the one after (or
// every one the one before) its predecessor, with digits wrapping 9→0:
// "abcdefghijklmno", "123456789012345", "987654321098765".
func isSequence(s string) bool {
	r := []rune(s)
	if len(r) < 2 {
		return false
	}
	next := func(a, b rune, step rune) bool {
		if b-a == step {
			return true
		}
		return step == 1 && a == '9' && b == '0' || step == -1 && a == '0' && b == '9'
	}
	for _, step := range []rune{1, -1} {
		ok := true
		for i := 1; i < len(r) && ok; i++ {
			ok = next(r[i-1], r[i], step)
		}
		if ok {
			return true
		}
	}
	return false
}

// containsContext reports whether lower (a lower-cased password) contains the
// service name, the whole email, its local part, or a piece of the local part
// split at '.', '_', '-' and '+', each compared case-insensitively and only
// if at least 3 code points long.
func containsContext(lower, email string) bool {
	if strings.Contains(lower, ServiceName) {
		return true
	}
	email = strings.ToLower(norm.NFKC.String(email))
	if email == "" {
		return false
	}
	if strings.Contains(lower, email) {
		return true
	}
	local := email
	if i := strings.LastIndexByte(email, '@'); i >= 0 {
		local = email[:i]
	}
	words := append([]string{local}, strings.FieldsFunc(local, func(r rune) bool {
		return r == '.' || r == '_' || r == '-' || r == '+'
	})...)
	for _, w := range words {
		if utf8.RuneCountInString(w) >= 3 && strings.Contains(lower, w) {
			return true
		}
	}
	return false
}
