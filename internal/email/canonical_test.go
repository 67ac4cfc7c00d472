package email

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCanonical(t *testing.T) {
	long := strings.Repeat("a", 63)
	tests := []struct {
		name, in, want string // want "" means refused
	}{
		{"plain", "ada@example.com", "ada@example.com"},
		{"trim and lower-case", "  Ada@Example.COM ", "ada@example.com"},
		{"U-label domain", "ada@exämple.com", "ada@xn--exmple-cua.com"},
		{"A-label domain", "ada@xn--exmple-cua.com", "ada@xn--exmple-cua.com"},
		{"upper-case A-label", "ada@XN--EXMPLE-CUA.COM", "ada@xn--exmple-cua.com"},
		{"NFC local part", "ad\u00e1@example.com", "ad\u00e1@example.com"},
		{"NFD local part", "ada\u0301@example.com", "ad\u00e1@example.com"},
		{"NFD domain", "ada@exa\u0308mple.com", "ada@xn--exmple-cua.com"},
		{"fullwidth domain", "ada@ｅｘａｍｐｌｅ.com", "ada@example.com"},
		{"ideographic full stop", "ada@example\u3002com", "ada@example.com"},
		{"trailing root dot", "ada@example.com.", ""},
		{"fullwidth local part", "ａｄａ@example.com", ""},
		{"Kelvin sign local part", "\u212aelvin@example.com", ""},
		{"Ohm sign local part", "\u2126@example.com", ""},
		{"Kelvin sign domain maps to k", "ada@\u212aelvin.com", "ada@kelvin.com"},
		{"single label", "a@b", ""},
		{"localhost", "ada@localhost", ""},
		{"sub.localhost", "ada@x.localhost", ""},
		{".local", "ada@printer.local", ""},
		{".test", "ada@mail.test", ""},
		{"IPv4 literal", "ada@[127.0.0.1]", ""},
		{"IPv6 literal", "ada@[IPv6:::1]", ""},
		{"bare IPv4", "ada@127.0.0.1", ""},
		{"all-numeric TLD", "ada@example.123", ""},
		{"underscore label", "ada@ex_ample.com", ""},
		{"leading hyphen label", "ada@-example.com", ""},
		{"trailing hyphen label", "ada@example-.com", ""},
		{"empty label", "ada@example..com", ""},
		{"label over 63", "ada@" + long + "a.com", ""},
		{"label of 63", "ada@" + long + ".com", "ada@" + long + ".com"},
		{"domain over 253", "a@" + strings.Repeat(long+".", 4) + "com", ""},
		{"local part of 64", strings.Repeat("b", 64) + "@example.com", strings.Repeat("b", 64) + "@example.com"},
		{"local part over 64", strings.Repeat("b", 65) + "@example.com", ""},
		{"local part of 64 octets measured canonical", strings.Repeat("á", 32) + "@example.com", strings.Repeat("á", 32) + "@example.com"},
		{"local part over 64 octets canonical", strings.Repeat("a\u0301", 33) + "@example.com", ""},
		{"whole over 254", strings.Repeat("b", 64) + "@" + strings.Repeat("c", 60) + "." + strings.Repeat("d", 60) + "." + strings.Repeat("e", 60) + "." + strings.Repeat("f", 10) + ".com", ""},
		{"empty", "", ""},
		{"no at", "ada.example.com", ""},
		{"empty local", "@example.com", ""},
		{"empty domain", "ada@", ""},
		{"display name", "Ada <ada@example.com>", ""},
		{"comment", "ada@example.com (Ada)", ""},
		{"control char", "ada\x00@example.com", ""},
		{"CRLF", "ada@example.com\r\nBcc: x@example.com", ""},
		{"RTL override", "ada\u202e@example.com", ""},
		{"zero-width joiner", "ada@exa\u200dmple.com", ""},
		{"line separator", "ada\u2028@example.com", ""},
		{"invalid UTF-8", "ada\xff@example.com", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Canonical(tt.in)
			if tt.want == "" {
				if ok {
					t.Fatalf("Canonical(%q) = %q, want refusal", tt.in, got)
				}
				return
			}
			if !ok || got != tt.want {
				t.Fatalf("Canonical(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
			}
			if again, ok := Canonical(got); !ok || again != got {
				t.Fatalf("not idempotent: Canonical(%q) = %q, %v", got, again, ok)
			}
		})
	}
}

func FuzzCanonical(f *testing.F) {
	for _, s := range []string{"ada@example.com", "ada@exämple.com", "ada\u0301@ｅｘａｍｐｌｅ\u3002com", "\u212a@x.y", "a@b", "ada@[127.0.0.1]", "\"a b\"@example.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, ok := Canonical(in)
		if !ok {
			return
		}
		again, ok := Canonical(got)
		if !ok || again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", in, got, again, ok)
		}
		at := strings.LastIndexByte(got, '@')
		for i := at + 1; i < len(got); i++ {
			if got[i] >= utf8.RuneSelf {
				t.Fatalf("non-ASCII domain %q from %q", got, in)
			}
		}
		if len(got) > maxEmail || at > maxLocal {
			t.Fatalf("over-length %q", got)
		}
	})
}
