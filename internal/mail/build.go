package mail

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// Build returns m as an RFC 5322 message with CRLF line endings: From, To,
// Subject (RFC 2047 Q-encoded when it is not ASCII), Date (now), Message-ID
// <msgID@domain of from>, MIME-Version and Auto-Submitted headers, and a
// multipart/alternative body with a text/plain and a text/html part, both
// UTF-8 and quoted-printable. A message without HTML is sent as text/plain
// alone.
//
// from may carry a display name ("Bulwark <no-reply@example.com>"). msgID is
// the left part of the Message-ID (letters, digits, '-', '_'); when it
// is empty a random one is used. Header values holding CR or LF are refused
// with ErrInvalidHeader or ErrInvalidAddress.
func Build(from string, m *auth.Message, now time.Time, msgID string) ([]byte, error) {
	if m == nil || m.Text == "" {
		return nil, fmt.Errorf("build mail: %w: empty message", ErrInvalidData)
	}
	fromAddr, err := parseFrom(from)
	if err != nil {
		return nil, err
	}
	to, err := parseAddress(m.To)
	if err != nil {
		return nil, err
	}
	if m.Subject == "" || strings.ContainsAny(m.Subject, "\r\n\x00") {
		return nil, fmt.Errorf("%w: subject", ErrInvalidHeader)
	}
	if msgID == "" {
		msgID = rand.Text()
	} else if !validMsgID(msgID) {
		return nil, fmt.Errorf("%w: message id", ErrInvalidHeader)
	}
	domain := fromAddr.Address[strings.LastIndexByte(fromAddr.Address, '@')+1:]

	var b bytes.Buffer
	header := func(name, value string) { b.WriteString(name + ": " + value + "\r\n") }
	header("From", fromAddr.String())
	header("To", (&mail.Address{Address: to}).String())
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", "<"+msgID+"@"+domain+">")
	header("MIME-Version", "1.0")
	// RFC 3834: automatic mail, so auto-responders should not answer it.
	header("Auto-Submitted", "auto-generated")

	if m.HTML == "" {
		header("Content-Type", "text/plain; charset=utf-8")
		header("Content-Transfer-Encoding", transferEncoding(m.Text))
		b.WriteString("\r\n")
		if err := writeText(&b, m.Text); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, part := range []struct{ contentType, content string }{
		{"text/plain; charset=utf-8", m.Text},
		{"text/html; charset=utf-8", m.HTML},
	} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.contentType},
			"Content-Transfer-Encoding": {transferEncoding(part.content)},
		})
		if err != nil {
			return nil, fmt.Errorf("build mail: %w", err)
		}
		if err := writeText(w, part.content); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("build mail: %w", err)
	}
	// Folded: the boundary alone is 60 characters (RFC 5322 2.1.1).
	header("Content-Type", "multipart/alternative;\r\n boundary="+mw.Boundary())
	b.WriteString("\r\n")
	b.Write(body.Bytes())
	return b.Bytes(), nil
}

// transferEncoding is "7bit" for ASCII text whose lines fit RFC 5322's 998
// characters, so links stay whole and readable in the raw message (a user can
// copy one from a dev .eml file), and "quoted-printable" otherwise.
func transferEncoding(s string) string {
	line := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\n':
			line = 0
			continue
		case c >= 0x80 || c == 0 || c == '\r':
			return "quoted-printable"
		}
		if line++; line > 998 {
			return "quoted-printable"
		}
	}
	return "7bit"
}

// writeText writes s in the encoding transferEncoding chooses, with CRLF
// line breaks.
func writeText(w io.Writer, s string) error {
	if transferEncoding(s) == "quoted-printable" {
		return writeQP(w, s)
	}
	if _, err := io.WriteString(w, strings.ReplaceAll(s, "\n", "\r\n")); err != nil {
		return fmt.Errorf("build mail: %w", err)
	}
	return nil
}

// writeQP writes s quoted-printable encoded; line breaks become CRLF, as RFC
// 2046 requires of text in canonical form.
func writeQP(w io.Writer, s string) error {
	qp := quotedprintable.NewWriter(w)
	if _, err := io.WriteString(qp, s); err != nil {
		return fmt.Errorf("build mail: %w", err)
	}
	if err := qp.Close(); err != nil {
		return fmt.Errorf("build mail: %w", err)
	}
	return nil
}

// parseFrom parses the sender, which may have a display name.
func parseFrom(from string) (*mail.Address, error) {
	if from == "" || strings.ContainsAny(from, "\r\n\x00") {
		return nil, fmt.Errorf("%w: from", ErrInvalidAddress)
	}
	a, err := mail.ParseAddress(from)
	if err != nil || !strings.Contains(a.Address, "@") {
		return nil, fmt.Errorf("%w: from", ErrInvalidAddress)
	}
	return a, nil
}

// validMsgID reports whether s is a safe left part for a Message-ID.
func validMsgID(s string) bool {
	if len(s) > 128 {
		return false
	}
	for _, r := range s {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '-', r == '_':
		default:
			return false
		}
	}
	return true
}
