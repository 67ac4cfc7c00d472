package mail

import (
	"strings"
	"testing"
)

func TestTransferEncoding(t *testing.T) {
	for s, want := range map[string]string{
		"plain ascii\nlines":     "7bit",
		"h\u00e9llo":             "quoted-printable",
		strings.Repeat("a", 999): "quoted-printable",
		"a\rb":                   "quoted-printable",
	} {
		if got := transferEncoding(s); got != want {
			t.Errorf("transferEncoding(%q...) = %s, want %s", s[:min(len(s), 8)], got, want)
		}
	}
}
