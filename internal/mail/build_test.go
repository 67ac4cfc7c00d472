package mail_test

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	netmail "net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/mail"
)

var testNow = time.Date(2026, 11, 28, 10, 20, 30, 123456789, time.UTC)

// parsedMail is a Build result taken apart with the standard library.
type parsedMail struct {
	header netmail.Header
	text   string
	html   string
}

// parseBuilt parses raw as a receiver would, decoding every part, and checks
// that all its line endings are CRLF.
func parseBuilt(t *testing.T, raw []byte) parsedMail {
	t.Helper()
	if i := bytes.IndexByte(bytes.ReplaceAll(raw, []byte("\r\n"), nil), '\n'); i >= 0 {
		t.Errorf("bare LF in message")
	}
	if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\r")) {
		t.Errorf("bare CR in message")
	}
	// RFC 5322 §2.1.1: lines MUST be at most 998 characters. 7bit parts
	// keep links whole (longer than the SHOULD of 78) so they can be copied.
	for _, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 998 {
			t.Errorf("line longer than 998 characters: %q", line)
		}
	}
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("ReadMessage: %v", err)
	}
	p := parsedMail{header: msg.Header}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type: %v", err)
	}
	if mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type = %q, want multipart/alternative", mediaType)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("NextPart: %v", err)
		}
		body, err := io.ReadAll(part)
		if err != nil {
			t.Fatalf("read part: %v", err)
		}
		// Text travels in canonical CRLF form; compare in Go's LF form.
		s := strings.ReplaceAll(string(body), "\r\n", "\n")
		switch ct := part.Header.Get("Content-Type"); ct {
		case "text/plain; charset=utf-8":
			p.text = s
		case "text/html; charset=utf-8":
			p.html = s
		default:
			t.Errorf("unexpected part %q", ct)
		}
	}
	return p
}

func TestBuildRendered(t *testing.T) {
	link := "https://auth.example.com/reset-password#token=" + strings.Repeat("Zx9_-", 12)
	m, err := mail.Render(mail.TemplatePasswordReset, "jane@example.com", map[string]string{"link": link})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := mail.Build("Bulwark <no-reply@auth.example.com>", m, testNow, "abc123")
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	p := parseBuilt(t, raw)

	if got, want := p.text, m.Text; got != want {
		t.Errorf("text part = %q, want %q", got, want)
	}
	if got, want := p.html, m.HTML; got != want {
		t.Errorf("html part = %q, want %q", got, want)
	}
	from, err := p.header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Address != "no-reply@auth.example.com" || from[0].Name != "Bulwark" {
		t.Errorf("From = %v, %v", from, err)
	}
	to, err := p.header.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Address != "jane@example.com" {
		t.Errorf("To = %v, %v", to, err)
	}
	if got, want := p.header.Get("Subject"), "Reset your password"; got != want {
		t.Errorf("Subject = %q, want %q", got, want)
	}
	if got, want := p.header.Get("Message-ID"), "<abc123@auth.example.com>"; got != want {
		t.Errorf("Message-ID = %q, want %q", got, want)
	}
	date, err := p.header.Date()
	if err != nil || !date.Equal(testNow.Truncate(time.Second)) {
		t.Errorf("Date = %v, %v; want %v", date, err, testNow.Truncate(time.Second))
	}
	if got := p.header.Get("MIME-Version"); got != "1.0" {
		t.Errorf("MIME-Version = %q, want 1.0", got)
	}
	// The token must only be in the body.
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	if bytes.Contains(head, []byte("Zx9_-")) {
		t.Errorf("token in headers:\n%s", head)
	}
}

func TestBuildEncodesSubjectAndRandomID(t *testing.T) {
	m := &auth.Message{To: "jane@example.com", Subject: "Réinitialisez votre mot de passe", Text: "Bonjour,\nvoilà.\n", HTML: "<p>Bonjour, voilà.</p>"}
	raw, err := mail.Build("no-reply@example.com", m, testNow, "")
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if !bytes.Contains(raw, []byte("Subject: =?utf-8?q?")) {
		t.Errorf("subject not Q-encoded:\n%s", raw)
	}
	for _, b := range raw {
		if b >= 0x80 {
			t.Fatalf("non-ASCII byte in message")
		}
	}
	p := parseBuilt(t, raw)
	subject, err := new(mime.WordDecoder).DecodeHeader(p.header.Get("Subject"))
	if err != nil || subject != m.Subject {
		t.Errorf("Subject = %q, %v; want %q", subject, err, m.Subject)
	}
	if p.text != m.Text || p.html != m.HTML {
		t.Errorf("parts = %q, %q; want %q, %q", p.text, p.html, m.Text, m.HTML)
	}
	if id := p.header.Get("Message-ID"); !regexp.MustCompile(`^<[A-Za-z0-9]{16,}@example\.com>$`).MatchString(id) {
		t.Errorf("Message-ID = %q, want <random@example.com>", id)
	}
}

func TestBuildTextOnly(t *testing.T) {
	m := &auth.Message{To: "jane@example.com", Subject: "Hello", Text: "line one\nline two\n"}
	raw, err := mail.Build("no-reply@example.com", m, testNow, "x")
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if got := msg.Header.Get("Content-Type"); got != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type = %q", got)
	}
	body, _ := io.ReadAll(msg.Body)
	if got, want := string(body), "line one\r\nline two\r\n"; got != want {
		t.Errorf("body = %q, want %q", got, want)
	}
}

func TestBuildRejectsHeaderInjection(t *testing.T) {
	ok := auth.Message{To: "jane@example.com", Subject: "Hello", Text: "hi", HTML: "<p>hi</p>"}
	tests := []struct {
		name  string
		from  string
		msgID string
		edit  func(*auth.Message)
		want  error
	}{
		{"LF in to", "a@example.com", "", func(m *auth.Message) { m.To = "jane@example.com\nBcc: x@example.org" }, mail.ErrInvalidAddress},
		{"CR in to", "a@example.com", "", func(m *auth.Message) { m.To = "jane@example.com\r" }, mail.ErrInvalidAddress},
		{"two recipients", "a@example.com", "", func(m *auth.Message) { m.To = "jane@example.com, x@example.org" }, mail.ErrInvalidAddress},
		{"LF in subject", "a@example.com", "", func(m *auth.Message) { m.Subject = "Hi\nBcc: x@example.org" }, mail.ErrInvalidHeader},
		{"LF in from", "a@example.com\nBcc: x@example.org", "", func(*auth.Message) {}, mail.ErrInvalidAddress},
		{"bad from", "nobody", "", func(*auth.Message) {}, mail.ErrInvalidAddress},
		{"bad message id", "a@example.com", "a>\r\nBcc: x", func(*auth.Message) {}, mail.ErrInvalidHeader},
		{"empty text", "a@example.com", "", func(m *auth.Message) { m.Text = "" }, mail.ErrInvalidData},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := ok
			tt.edit(&m)
			raw, err := mail.Build(tt.from, &m, testNow, tt.msgID)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Build error = %v, want %v", err, tt.want)
			}
			if raw != nil {
				t.Errorf("Build returned a message with an error")
			}
		})
	}
}

func TestBuildKeepsASCIILinksWhole(t *testing.T) {
	link := "https://auth.example.com/reset-password#token=" + strings.Repeat("Zx9_-", 12)
	m, err := mail.Render(mail.TemplatePasswordReset, "a@example.com", map[string]string{"link": link})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := mail.Build("Bulwark <no-reply@example.com>", m, testNow, "")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte("\r\n"+link+"\r\n")) {
		t.Fatal("the link is not whole on a line of its own in the raw message")
	}
}
