package token

import (
	"bytes"
	"encoding/base64"
	"testing"
)

func TestDecodeSecret(t *testing.T) {
	// 0xfb 0xff 0xfe encodes to "+//+" in the standard alphabet and "-__-"
	// in the URL alphabet, so these inputs tell the two apart. 32 bytes need
	// one '=' of padding.
	secret := bytes.Repeat([]byte{0xfb, 0xff, 0xfe}, 11)[:32]
	std := base64.StdEncoding.EncodeToString(secret)
	url := base64.URLEncoding.EncodeToString(secret)
	if std[len(std)-1] != '=' || std[len(std)-2] == '=' {
		t.Fatalf("test vector %q should end with one '='", std)
	}
	short := []byte{0xfb, 0xff, 0xfe, 0xfb} // two '=' of padding
	shortStd := base64.StdEncoding.EncodeToString(short)

	tests := []struct {
		name string
		in   string
		want []byte // nil: error
	}{
		{"standard, padded", std, secret},
		{"standard, unpadded", std[:len(std)-1], secret},
		{"url, padded", url, secret},
		{"url, unpadded", url[:len(url)-1], secret},
		{"two pad chars", shortStd, short},
		{"two pad chars dropped", shortStd[:len(shortStd)-2], short},
		{"surrounding white space", " " + std + "\n", secret},
		{"alphanumeric only", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", make([]byte, 32)},
		{"empty", "", nil},
		{"blank", "  \n", nil},
		{"mixed alphabets", "+-" + std[2:], nil},
		{"one pad char missing", shortStd[:len(shortStd)-1], nil},
		{"too much padding", std + "=", nil},
		{"three pad chars", shortStd + "=", nil},
		{"padding in the middle", std[:4] + "=" + std[4:], nil},
		{"inner newline", std[:8] + "\n" + std[8:], nil},
		{"invalid character", "*" + std[1:], nil},
		{"impossible length", "AAAAA", nil},
		{"non-zero trailing bits", "AB", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeSecret(tt.in)
			if tt.want == nil {
				if err == nil {
					t.Errorf("DecodeSecret(%q) = %x, want an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeSecret(%q): %v", tt.in, err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("DecodeSecret(%q) = %x, want %x", tt.in, got, tt.want)
			}
		})
	}
}

func TestGenerateSecret(t *testing.T) {
	a, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != MinSecretLen {
		t.Errorf("len = %d, want %d", len(a), MinSecretLen)
	}
	if bytes.Equal(a, b) {
		t.Error("two secrets are equal")
	}
	if _, err := NewHS256(a, testIssuer, testAudience, testTTL); err != nil {
		t.Errorf("NewHS256 refuses a generated secret: %v", err)
	}
}

func TestNewJTI(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		id := NewJTI()
		b, err := base64.RawURLEncoding.Strict().DecodeString(id)
		if err != nil || len(b) != 16 {
			t.Fatalf("NewJTI() = %q: %d bytes, %v; want 16 bytes of base64url", id, len(b), err)
		}
		if seen[id] {
			t.Fatalf("NewJTI() repeated %q", id)
		}
		seen[id] = true
	}
}
