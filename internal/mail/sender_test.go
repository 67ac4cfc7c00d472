package mail_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/mail"
)

func TestFileSender(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox") // created by Send
	now := testNow
	s := mail.NewFileSender(dir, "Bulwark <no-reply@auth.example.com>")
	s.Now = func() time.Time { return now }

	link := "https://auth.example.com/verify-email#token=tok123"
	m, err := mail.Render(mail.TemplateVerifyEmail, "jane@example.com", map[string]string{"link": link})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	now = now.Add(time.Millisecond)
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("second Send: %v", err)
	}

	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o700 {
		t.Errorf("dir mode = %o, want 700", got)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 2 {
		t.Fatalf("files = %q, want 2 .eml files and nothing else", names)
	}
	nameRE := regexp.MustCompile(`^\d{8}T\d{6}\.\d{9}Z-[A-Z0-9]+\.eml$`)
	for _, n := range names {
		if !nameRE.MatchString(n) {
			t.Errorf("file name %q does not match %s", n, nameRE)
		}
	}
	if !strings.HasPrefix(names[0], "20261128T102030.123456789Z-") || !strings.HasPrefix(names[1], "20261128T102030.124456789Z-") {
		t.Errorf("names %q do not sort by time", names)
	}
	for _, n := range names {
		path := filepath.Join(dir, n)
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s mode = %o, want 600", n, got)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		p := parseBuilt(t, raw)
		if p.text != m.Text || p.html != m.HTML {
			t.Errorf("%s: parts do not decode to the rendered message", n)
		}
		if got := p.header.Get("Subject"); got != m.Subject {
			t.Errorf("Subject = %q, want %q", got, m.Subject)
		}
		if !bytes.Contains(raw, []byte("From: \"Bulwark\" <no-reply@auth.example.com>\r\n")) {
			t.Errorf("From header missing:\n%s", raw)
		}
	}
}

func TestFileSenderKeepsExistingDirMode(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	s := mail.NewFileSender(dir, "no-reply@example.com")
	m, err := mail.Render(mail.TemplatePasswordChanged, "jane@example.com", map[string]string{"reset_url": "https://a.example/forgot"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	if len(matches) != 1 {
		t.Errorf("eml files = %q, want 1", matches)
	}
}

func TestFileSenderRefusesBadMessage(t *testing.T) {
	dir := t.TempDir()
	s := mail.NewFileSender(dir, "no-reply@example.com")
	m, err := mail.Render(mail.TemplatePasswordChanged, "jane@example.com", map[string]string{"reset_url": "https://a.example/forgot"})
	if err != nil {
		t.Fatal(err)
	}
	m.To = "jane@example.com\r\nBcc: x@example.org"
	if err := s.Send(context.Background(), m); !errors.Is(err, mail.ErrInvalidAddress) {
		t.Errorf("Send error = %v, want ErrInvalidAddress", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files left: %v", entries)
	}
}

func TestNewSender(t *testing.T) {
	abs := filepath.Join(t.TempDir(), "outbox")
	tests := []struct {
		url     string
		wantDir string // "" when an error is expected
		wantErr string
	}{
		{"file://" + filepath.ToSlash(abs), abs, ""},
		{"file://localhost" + filepath.ToSlash(abs), abs, ""},
		{"file://./data/outbox", filepath.FromSlash("./data/outbox"), ""},
		{"file://../data/outbox", filepath.FromSlash("../data/outbox"), ""},
		{"file://", "", "needs a directory"},
		{"file://mailhost/var/mail", "", "names a host"},
		{"file:relative/dir", "", "file:///absolute/dir"},
		{"file:///dir?x=1", "", "file:///absolute/dir"},
		{"smtp://user:s3cret@mail.example.com:587?x=1", "", "unknown query parameter"},
		{"http://example.com/", "", "unsupported scheme"},
		{"/var/mail", "", "missing scheme"},
		{"smtp://user:s3cret@mail.example.com:bad port", "", "parse mail URL"},
		{"smtp://user:s3c/ret@mail.example.com:587", "", "parse mail URL"},
		{"smtp://user:s3cret%zz@mail.example.com:587", "", "parse mail URL"},
		{"::", "", "parse mail URL"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			m, err := mail.NewSender(tt.url, "no-reply@example.com")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("NewSender error = %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error %q leaks the password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewSender: %v", err)
			}
			fs, ok := m.(*mail.FileSender)
			if !ok {
				t.Fatalf("NewSender returned %T, want *mail.FileSender", m)
			}
			if fs.Dir != tt.wantDir {
				t.Errorf("Dir = %q, want %q", fs.Dir, tt.wantDir)
			}
		})
	}
	if _, err := mail.NewSender("smtp://h", "x"); err == nil {
		t.Errorf("NewSender accepted a bad from address")
	}
	for _, u := range []string{"smtp://user:s3cret@mail.example.com:587", "smtps://mail.example.com"} {
		if m, err := mail.NewSender(u, "a@example.com"); err != nil {
			t.Errorf("NewSender(smtp URL): %v", err)
		} else if _, ok := m.(*mail.SMTPSender); !ok {
			t.Errorf("NewSender(smtp URL) returned %T, want *mail.SMTPSender", m)
		}
	}
}
