package auth_test

import (
	"strings"
	"testing"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

func TestNormalizeEmail(t *testing.T) {
	local64 := strings.Repeat("a", 64)
	// 64 + 1 + 189 = 254 characters.
	domain189 := strings.Repeat("b", 60) + "." + strings.Repeat("c", 60) + "." + strings.Repeat("d", 63) + ".com"
	tests := []struct {
		name string
		in   string
		want string // "" means refused
	}{
		{"plain", "alice@example.com", "alice@example.com"},
		{"trims spaces", "  alice@example.com\t", "alice@example.com"},
		{"trims trailing newline", "alice@example.com\r\n", "alice@example.com"},
		{"lower-cases", "Alice@Example.COM", "alice@example.com"},
		{"plus tag kept", "alice+tag@example.com", "alice+tag@example.com"},
		{"non-ASCII lower-cased", "ÉLODIE@example.com", "élodie@example.com"},
		{"254 characters", local64 + "@" + domain189, local64 + "@" + domain189},
		{"local part of 64", local64 + "@example.com", local64 + "@example.com"},

		{"empty", "", ""},
		{"blank", "   ", ""},
		{"display name", "A <a@b.c>", ""},
		{"quoted display name", `"Alice" <alice@example.com>`, ""},
		{"angle brackets only", "<alice@example.com>", ""},
		{"trailing comment", "alice@example.com (work)", ""},
		{"leading comment", "(work)alice@example.com", ""},
		{"comment in local part", "alice(work)@example.com", ""},
		{"comment in domain", "alice@(work)example.com", ""},
		{"two addresses", "a@example.com, b@example.com", ""},
		{"CRLF inside", "alice@example.com\r\nBcc: eve@example.com", ""},
		{"LF inside", "alice\n@example.com", ""},
		{"CR inside", "alice@exa\rmple.com", ""},
		{"NUL", "alice@example.com\x00", ""},
		{"DEL", "alice\x7f@example.com", ""},
		{"tab inside", "ali\tce@example.com", ""},
		{"255 characters", "a" + local64 + "@" + domain189, ""},
		{"local part of 65", local64 + "a@example.com", ""},
		{"no at", "alice.example.com", ""},
		{"empty local part", "@example.com", ""},
		{"empty domain", "alice@", ""},
		{"two ats", "alice@bob@example.com", ""},
		{"trailing dot in domain", "alice@example.com.", ""},
		{"double dot", "al..ice@example.com", ""},
		{"quoted local part with space", `"al ice"@example.com`, ""},
		{"invalid UTF-8", "al\xffice@example.com", ""},
		{"invalid UTF-8 upper case", "AL\xffICE@EXAMPLE.COM", ""},
		{"truncated UTF-8", "alice\xc3@example.com", ""},
		{"C1 control NEL", "ali\u0085ce@example.com", ""},
		{"line separator", "ali\u2028ce@example.com", ""},
		{"paragraph separator", "ali\u2029ce@example.com", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := auth.NormalizeEmail(tt.in)
			if ok != (tt.want != "") || got != tt.want {
				t.Errorf("NormalizeEmail(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.want != "")
			}
			if ok {
				// Normalisation is idempotent.
				again, ok2 := auth.NormalizeEmail(got)
				if !ok2 || again != got {
					t.Errorf("NormalizeEmail(%q) = %q, %v; want it unchanged", got, again, ok2)
				}
			}
		})
	}
}

// TestNormalizeEmail_InvalidUTF8DoesNotAlias: two different invalid byte
// sequences must not normalise to one account's address.
func TestNormalizeEmail_InvalidUTF8DoesNotAlias(t *testing.T) {
	a, okA := auth.NormalizeEmail("x\xfe@example.com")
	b, okB := auth.NormalizeEmail("x\xff@example.com")
	c, okC := auth.NormalizeEmail("x\uFFFD@example.com")
	if okA && okB && a == b {
		t.Errorf("%q and %q both normalise to %q", "x\xfe@example.com", "x\xff@example.com", a)
	}
	if okA && okC && a == c {
		t.Errorf("invalid UTF-8 %q normalises to the valid address %q", "x\xfe@example.com", c)
	}
}
