// Package email holds the one rule by which Bulwark decides that two spellings
// name the same mailbox.
package email

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// Length limits of RFC 5321 §4.5.3.1, measured on the canonical form: a
// local part of at most 64 octets, a path of at most 256 octets less the
// angle brackets, and a domain of at most 253 octets (RFC 1035 §2.3.4).
const (
	maxLocal  = 64
	maxDomain = 253
	maxEmail  = 254
)

// profile is the UTS #46 lookup profile (non-transitional processing, STD3
// ASCII rules, DNS length checks and the Bidi and ContextJ checks) that
// browsers use to turn a typed domain into the name resolved in the DNS.
var profile = idna.New(
	idna.MapForLookup(),
	idna.Transitional(false),
	idna.BidiRule(),
	idna.CheckJoiners(true),
	idna.StrictDomainName(true),
	idna.VerifyDNSLength(true),
)

// Canonical returns the canonical form of an email address, or false when
// the address is refused. Two inputs with the same canonical form are the same
// account. The rule, in order:
//
//  1. The input must be valid UTF-8; surrounding white space is trimmed.
//  2. It must contain no control (C0, C1), line or paragraph separator, or
//     format (Cf, such as U+202E) character: these could disguise an address
//     in a log or a mail client.
//  3. It is normalised to Unicode NFC, so that precomposed and decomposed
//     spellings (U+00E1 and "a" U+0301) are one address.
//  4. It is split at the last "@". The local part must be non-empty, must not
//     change under NFKC (a fullwidth "ａ" or the Kelvin sign U+212A would
//     otherwise silently alias or split a mailbox, so such local parts are
//     refused rather than rewritten; so are characters NFC alone replaces,
//     like the Kelvin sign), and is lower-cased (Bulwark compares
//     addresses case-insensitively).
//  5. The domain is mapped with IDNA UTS #46 (non-transitional, STD3 rules) to
//     its ASCII A-label form: "exämple.com" and "xn--exmple-cua.com", fullwidth
//     letters and the ideographic full stop U+3002 all give one name.
//  6. The domain must be a public DNS name: at least two labels, each 1–63
//     octets of letters, digits and inner hyphens (RFC 1123 §2.1, RFC 5890
//     §2.3.1), a TLD that is not all digits (RFC 3696 §2), and not an address
//     literal ("[127.0.0.1]") or a name reserved for local use ("localhost",
//     RFC 6761 §6.3; ".local", RFC 6762; ".localhost", ".test", ".invalid",
//     ".example", RFC 2606 §2; ".internal", ".home.arpa", RFC 8375).
//  7. The result must parse as one plain RFC 5322 addr-spec (no display
//     name, no comment), with a local part of at most 64 octets, a domain of
//     at most 253 and a whole of at most 254 (RFC 5321 §4.5.3.1).
//
// Canonical is idempotent: Canonical(Canonical(x)) == Canonical(x), and its
// domain is always ASCII.
func Canonical(raw string) (string, bool) {
	if !utf8.ValidString(raw) {
		return "", false
	}
	e := strings.TrimSpace(raw)
	for _, r := range e {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Cf, r) {
			return "", false
		}
	}
	at := strings.LastIndexByte(e, '@')
	if at < 1 || at == len(e)-1 {
		return "", false
	}
	for _, r := range e[:at] {
		// Singleton decompositions (the Kelvin sign U+212A becomes "K",
		// the Ohm sign U+2126 becomes omega) are compatibility look-alikes
		// in all but name: refuse them in the local part like NFKC ones.
		if s := string(r); norm.NFC.String(s) != s {
			return "", false
		}
	}
	e = norm.NFC.String(e)
	at = strings.LastIndexByte(e, '@')
	local, domain := e[:at], e[at+1:]
	if !norm.NFKC.IsNormalString(local) {
		return "", false
	}
	local = strings.ToLower(local)
	// ToLower can produce a string NFC changes (rare, but the output must be
	// a fixed point); refuse rather than guess.
	if !norm.NFC.IsNormalString(local) || !norm.NFKC.IsNormalString(local) {
		return "", false
	}
	domain, ok := publicDomain(domain)
	if !ok {
		return "", false
	}
	out := local + "@" + domain
	if len(local) > maxLocal || len(out) > maxEmail {
		return "", false
	}
	a, err := mail.ParseAddress(out)
	if err != nil || a.Name != "" || a.Address != out {
		return "", false
	}
	return out, true
}

// reservedSuffixes are names that never reach a public mailbox.
var reservedSuffixes = []string{"localhost", "local", "test", "invalid", "example", "internal", "home.arpa"}

// publicDomain maps d to its lower-case A-label form and reports whether it
// is a public DNS name (rule 6 of Canonical).
func publicDomain(d string) (string, bool) {
	if strings.HasPrefix(d, "[") {
		return "", false // address literal, RFC 5321 §4.1.3
	}
	a, err := profile.ToASCII(d)
	if err != nil || a == "" {
		return "", false
	}
	a = strings.ToLower(a)
	if len(a) > maxDomain {
		return "", false
	}
	labels := strings.Split(a, ".")
	if len(labels) < 2 {
		return "", false
	}
	for _, l := range labels {
		if !ldh(l) {
			return "", false
		}
	}
	tld := labels[len(labels)-1]
	if strings.Trim(tld, "0123456789") == "" {
		return "", false // all-numeric TLD: an IPv4 literal or no real name
	}
	for _, s := range reservedSuffixes {
		if a == s || strings.HasSuffix(a, "."+s) {
			return "", false
		}
	}
	// Round trip: the A-label must map to itself, so that the output is a
	// fixed point of the rule.
	if b, err := profile.ToASCII(a); err != nil || b != a {
		return "", false
	}
	return a, true
}

// ldh reports whether l is a letter-digit-hyphen label of 1–63 octets that
// neither starts nor ends with a hyphen (RFC 1123 §2.1).
func ldh(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
