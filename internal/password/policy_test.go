package password

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// distinct returns n code points starting at first, each different, so no
// repetition or run rule can fire by accident.
func distinct(first rune, n int) string {
	var b strings.Builder
	for i := range n {
		// A stride of 7 avoids runs of consecutive code points.
		b.WriteRune(first + rune(i*7))
	}
	return b.String()
}

func TestPolicyCheck(t *testing.T) {
	p15, err := NewPolicy(0)
	if err != nil {
		t.Fatal(err)
	}
	p8, err := NewPolicy(8)
	if err != nil {
		t.Fatal(err)
	}
	emoji := []rune("😀😁😂🤣😃😄😅😆😉😊😋😎😍😘🥰")
	tests := []struct {
		name   string
		policy *Policy
		pw     string
		email  string
		want   string
	}{
		{"14 ASCII", p15, "k7#Lm9!qW2vX$p", "", ReasonTooShort},
		{"15 ASCII", p15, "k7#Lm9!qW2vX$pZ", "", ""},
		{"15 emoji (60 bytes)", p15, string(emoji), "", ""},
		{"14 emoji", p15, string(emoji[:14]), "", ReasonTooShort},
		{"empty", p15, "", "", ReasonTooShort},
		{"7 with min 8", p8, "k7#Lm9!", "", ReasonTooShort},
		{"8 with min 8", p8, "k7#Lm9!q", "", ""},
		{"64 code points", p15, distinct('a', 64), "", ""},
		{"128 code points", p15, distinct(0x4e00, 128), "", ""},
		{"129 code points", p15, distinct(0x4e00, 129), "", ReasonTooLong},
		{"129 ASCII", p15, strings.Repeat("k7#Lm9!qW2vX$pZ", 9)[:129], "", ReasonTooLong},
		{"1 MiB", p15, strings.Repeat("x", 1<<20), "", ReasonTooLong},
		{"correct horse battery staple", p15, "correct horse battery staple", "jane@example.com", ""},
		{"15 random digits", p15, "830492175638204", "", ""},
		{"listed: password", p8, "password", "", ReasonCommon},
		{"listed: baseball", p8, "baseball", "", ReasonCommon},
		{"listed: upper case", p8, "BaseBall", "", ReasonCommon},
		{"listed: 1qaz2wsx3edc4rfv", p15, "1qaz2wsx3edc4rfv", "", ReasonCommon},
		{"added: passwordpassword", p15, "passwordpassword", "", ReasonCommon},
		{"added: 123456789012345", p15, "123456789012345", "", ReasonCommon},
		{"added: qwertyuiopasdfgh", p15, "qwertyuiopasdfgh", "", ReasonCommon},
		{"contains password", p15, "MyPassword-is-long", "", ReasonCommon},
		{"repeated one", p15, strings.Repeat("a", 15), "", ReasonCommon},
		{"repeated unit", p15, strings.Repeat("x7k", 6), "", ReasonCommon},
		{"repeated emoji", p15, strings.Repeat("😀", 15), "", ReasonCommon},
		{"run up", p15, "abcdefghijklmnop", "", ReasonCommon},
		{"run down, digits wrap", p15, "987654321098765", "", ReasonCommon},
		{"local part", p15, "xjane.doe-is-great", "Jane.Doe@example.com", ReasonContainsEmail},
		{"local part upper case", p15, "XJANE.DOE-IS-GREAT", "jane.doe@example.com", ReasonContainsEmail},
		{"local part piece", p15, "my name is doe, really", "jane.doe@example.com", ReasonContainsEmail},
		{"local+2024+service", p15, "jane2024bulwarkxyz", "jane@example.com", ReasonContainsEmail},
		{"service name", p15, "i love Bulwark so much", "", ReasonContainsEmail},
		{"whole email, short local", p15, "mail me at al@ex.io please", "al@ex.io", ReasonContainsEmail},
		{"short local part ignored", p15, "al gore was right about it", "al@ex.io", ""},
		{"domain alone allowed", p15, "example is a fine word here", "jane@example.com", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.policy.Check(tt.pw, tt.email); got != tt.want {
				t.Fatalf("Check(%q, %q) = %q, want %q", tt.pw, tt.email, got, tt.want)
			}
		})
	}
}

func TestNewPolicyRange(t *testing.T) {
	for _, tt := range []struct {
		min  int
		ok   bool
		want int
	}{
		{0, true, 15}, {7, false, 0}, {8, true, 8}, {64, true, 64}, {65, false, 0}, {-1, false, 0},
	} {
		p, err := NewPolicy(tt.min)
		if (err == nil) != tt.ok {
			t.Fatalf("NewPolicy(%d): err = %v, want ok = %v", tt.min, err, tt.ok)
		}
		if err == nil && p.minLength != tt.want {
			t.Fatalf("NewPolicy(%d): minimum %d, want %d", tt.min, p.minLength, tt.want)
		}
	}
}

func TestCommonList(t *testing.T) {
	list := commonList()
	if len(list) < 10000 {
		t.Fatalf("list has %d entries, want at least 10000", len(list))
	}
	if list[0] != "123456" || list[1] != "password" {
		t.Fatalf("list starts %q, %q; want frequency order 123456, password", list[0], list[1])
	}
	seen := make(map[string]bool, len(list))
	for i, w := range list {
		if w != strings.ToLower(w) || !utf8.ValidString(w) || w == "" {
			t.Fatalf("entry %d %q is not a lower-case UTF-8 word", i, w)
		}
		if seen[w] {
			t.Fatalf("entry %d %q is a duplicate", i, w)
		}
		seen[w] = true
	}
	if got := strings.Count(commonPasswords, "\n"); got != len(list) {
		t.Fatalf("%d lines but %d entries: blank or space-holding lines", got, len(list))
	}
	// The set keeps only entries a password of the minimum length could be.
	p8, _ := NewPolicy(8)
	p15, _ := NewPolicy(15)
	if len(p8.common) < 10000 || len(p15.common) >= len(p8.common) {
		t.Fatalf("set sizes: min 8 → %d, min 15 → %d", len(p8.common), len(p15.common))
	}
	t.Logf("%d entries; %d of ≥8 code points; %d of ≥15", len(list), len(p8.common), len(p15.common))
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"\u00e9t\u00e9", "\u00e9t\u00e9", true},
		{"e\u0301te\u0301", "\u00e9t\u00e9", true}, // NFC composition
		{"\ufb01le", "file", true},                 // NFKC: ligature fi
		{"\uff21\uff22", "AB", true},               // NFKC: full-width
		{"  spaces kept  ", "  spaces kept  ", true},
		{"\xff\xfe", "", false},
		{"ok\xc3", "", false},
	}
	for _, tt := range tests {
		got, ok := Normalize(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Fatalf("Normalize(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
