package password

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the cost parameters of argon2id (RFC 9106 §3.1).
type Argon2Params struct {
	Memory  uint32 // m, in KiB
	Time    uint32 // t, passes over memory
	Threads uint8  // p, lanes
}

// The default argon2id parameters are the OWASP Password Storage Cheat
// Sheet's second option: 19 MiB, two passes, one lane (the default, docs/configuration.md).
const (
	DefaultArgon2Memory  = 19456
	DefaultArgon2Time    = 2
	DefaultArgon2Threads = 1
)

// DefaultArgon2 returns the default parameters.
func DefaultArgon2() Argon2Params {
	return Argon2Params{Memory: DefaultArgon2Memory, Time: DefaultArgon2Time, Threads: DefaultArgon2Threads}
}

func (p Argon2Params) String() string {
	return fmt.Sprintf("m=%d,t=%d,p=%d", p.Memory, p.Time, p.Threads)
}

// Hash writes a 16-byte salt and a 32-byte key (RFC 9106 §4 recommends a
// 128-bit salt and a 256-bit tag; NIST SP 800-63B asks for ≥32 bits of salt).
const (
	argon2SaltLen = 16
	argon2KeyLen  = 32
)

// Bounds on a parsed argon2id hash, so that a hostile stored hash cannot
// exhaust memory or CPU (CWE-400). They are also the upper bounds
// of a configuration.
const (
	argon2MaxMemory  = 1 << 20 // KiB: 1 GiB
	argon2MaxTime    = 10
	argon2MaxThreads = 16
	argon2MinSalt    = 8 // RFC 9106 §3.1: salt of 8 to 2^32-1 bytes
	argon2MaxSalt    = 64
	argon2MinKey     = 16
	argon2MaxKey     = 64
)

const argon2Prefix = "$argon2id$"

// argon2Hash is a parsed argon2id PHC string.
type argon2Hash struct {
	params Argon2Params
	salt   []byte
	key    []byte
}

func (h *argon2Hash) String() string {
	return fmt.Sprintf("%sv=%d$%s$%s$%s", argon2Prefix, argon2.Version, h.params,
		base64.RawStdEncoding.EncodeToString(h.salt),
		base64.RawStdEncoding.EncodeToString(h.key))
}

func argon2Key(password string, salt []byte, p Argon2Params, keyLen uint32) []byte {
	return argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, keyLen)
}

// b64 is standard base64 without padding, refusing non-zero trailing bits so
// that each value has one encoding.
var b64 = base64.RawStdEncoding.Strict()

// parseArgon2 parses s, which starts with argon2Prefix, strictly: exactly
// "$argon2id$v=19$m=M,t=T,p=P$SALT$KEY", decimal numbers without sign or
// leading zeros, canonical unpadded base64, every value within bounds.
func parseArgon2(s string) (*argon2Hash, error) {
	fields := strings.Split(strings.TrimPrefix(s, argon2Prefix), "$")
	if len(fields) != 4 {
		return nil, malformed("argon2id: want 4 fields after the prefix, got %d", len(fields))
	}
	if fields[0] != "v=19" {
		return nil, malformed("argon2id: version %q is not v=19", fields[0])
	}
	params := strings.Split(fields[1], ",")
	if len(params) != 3 {
		return nil, malformed("argon2id: want m,t,p parameters")
	}
	m, err := parseParam(params[0], "m=", argon2MaxMemory)
	if err != nil {
		return nil, err
	}
	t, err := parseParam(params[1], "t=", argon2MaxTime)
	if err != nil {
		return nil, err
	}
	p, err := parseParam(params[2], "p=", argon2MaxThreads)
	if err != nil {
		return nil, err
	}
	if m < 8*p {
		// RFC 9106 §3.1: m ≥ 8·p. x/crypto would silently raise m instead.
		return nil, malformed("argon2id: m=%d below 8*p", m)
	}
	h := &argon2Hash{params: Argon2Params{Memory: m, Time: t, Threads: uint8(p)}}
	if h.salt, err = decodeBounded(fields[2], "salt", argon2MinSalt, argon2MaxSalt); err != nil {
		return nil, err
	}
	if h.key, err = decodeBounded(fields[3], "key", argon2MinKey, argon2MaxKey); err != nil {
		return nil, err
	}
	return h, nil
}

// parseParam parses "name=N" with 1 ≤ N ≤ max.
func parseParam(s, name string, max uint32) (uint32, error) {
	v, ok := strings.CutPrefix(s, name)
	if !ok {
		return 0, malformed("argon2id: want %sN, got %q", name, s)
	}
	if v == "" || len(v) > 10 || v[0] == '0' || strings.TrimLeft(v, "0123456789") != "" {
		return 0, malformed("argon2id: %s%q is not a positive decimal number", name, v)
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n > uint64(max) {
		return 0, malformed("argon2id: %s%s out of bounds (1 to %d)", name, v, max)
	}
	return uint32(n), nil
}

func decodeBounded(s, what string, minLen, maxLen int) ([]byte, error) {
	// Check the encoded length first so a huge field is not decoded at all.
	if s == "" || b64.DecodedLen(len(s)) > maxLen {
		return nil, malformed("argon2id: %s length out of bounds", what)
	}
	// encoding/base64 skips '\r' and '\n' anywhere in its input; refuse
	// every byte outside the alphabet so that one value has one encoding.
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return nil, malformed("argon2id: %s is not canonical unpadded base64", what)
		}
	}
	b, err := b64.DecodeString(s)
	if err != nil {
		return nil, malformed("argon2id: %s is not canonical unpadded base64", what)
	}
	if len(b) < minLen || len(b) > maxLen {
		return nil, malformed("argon2id: %s of %d bytes out of bounds (%d to %d)", what, len(b), minLen, maxLen)
	}
	return b, nil
}

// validateArgon2 checks a configuration: within the parsing bounds and, unless
// weak is set, at least as strong as one OWASP option.
func validateArgon2(p Argon2Params, weak bool) error {
	if p.Memory > argon2MaxMemory || p.Time < 1 || p.Time > argon2MaxTime ||
		p.Threads < 1 || p.Threads > argon2MaxThreads || p.Memory < 8*uint32(p.Threads) {
		return fmt.Errorf("argon2id parameters %s out of bounds (8*p <= m <= %d, 1 <= t <= %d, 1 <= p <= %d)",
			p, argon2MaxMemory, argon2MaxTime, argon2MaxThreads)
	}
	if weak {
		return nil
	}
	// The OWASP Password Storage Cheat Sheet's argon2id options, all with
	// p=1, all of about equal strength; the first is also ASVS Appendix C's.
	// A configuration must be at least as strong as one of them in both m
	// and t.
	owasp := []Argon2Params{
		{Memory: 47104, Time: 1},
		{Memory: 19456, Time: 2},
		{Memory: 12288, Time: 3},
		{Memory: 9216, Time: 4},
		{Memory: 7168, Time: 5},
	}
	for _, o := range owasp {
		if p.Memory >= o.Memory && p.Time >= o.Time {
			return nil
		}
	}
	return fmt.Errorf("argon2id parameters %s weaker than every OWASP option (m=47104,t=1; m=19456,t=2; m=12288,t=3; m=9216,t=4; m=7168,t=5)", p)
}
