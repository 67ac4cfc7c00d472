package mail

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// NewSender returns the Mailer for mailURL (BULWARK_MAIL_URL), sending as
// from:
//
//   - file:///dir writes one .eml file per message into dir (see FileSender).
//     file://./dir and file://../dir are taken as relative paths, so that
//     file://$BULWARK_DATA_DIR/outbox works with the default ./data.
//   - smtp:// and smtps:// return an SMTPSender (see NewSMTPSender for the
//     URL's form).
//
// Errors never quote the URL, which may hold an SMTP password.
func NewSender(mailURL, from string) (auth.Mailer, error) {
	u, err := parseMailURL(mailURL)
	if err != nil {
		return nil, err
	}
	if _, err := parseFrom(from); err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "file":
		dir, err := fileDir(u)
		if err != nil {
			return nil, err
		}
		return NewFileSender(dir, from), nil
	case "smtp", "smtps":
		return newSMTPSender(u, from)
	case "":
		return nil, errors.New("parse mail URL: missing scheme (want file:// or smtp://)")
	default:
		return nil, fmt.Errorf("parse mail URL: unsupported scheme %q (want file:// or smtp://)", u.Scheme)
	}
}

// parseMailURL parses a mail URL without quoting any of it in its error:
// url.Error holds the whole URL, and its causes quote the part they reject,
// which can be a piece of the password (a "/" in an unescaped password makes
// the rest of it a "port").
func parseMailURL(mailURL string) (*url.URL, error) {
	u, err := url.Parse(mailURL)
	if err != nil {
		var escape url.EscapeError
		var host url.InvalidHostError
		switch {
		case errors.As(err, &escape):
			return nil, errors.New("parse mail URL: invalid percent-escape")
		case errors.As(err, &host):
			return nil, errors.New("parse mail URL: invalid host")
		default:
			return nil, errors.New("parse mail URL: malformed URL (a password must be percent-encoded)")
		}
	}
	return u, nil
}

// fileDir returns the directory named by a file:// URL.
func fileDir(u *url.URL) (string, error) {
	if u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("parse mail URL: want file:///absolute/dir")
	}
	switch u.Host {
	case "", "localhost":
		if u.Path == "" || u.Path == "/" {
			return "", errors.New("parse mail URL: file:// needs a directory")
		}
		return filepath.FromSlash(u.Path), nil
	case ".", "..":
		return filepath.FromSlash(u.Host + u.Path), nil
	default:
		return "", errors.New("parse mail URL: file:// URL names a host; want file:///absolute/dir or file://./relative/dir")
	}
}

// FileSender is the Mailer for development and file:// URLs: it writes each
// message, built by Build, as one RFC 5322 file into Dir. Names sort by time
// and are unique (20261128T102030.123456789Z-<random>.eml); each file is
// written to a temporary name and renamed, so a reader never sees half a
// message, and has mode 0600 because messages hold tokens. Dir is created
// with mode 0700 if missing.
type FileSender struct {
	Dir  string
	From string
	// Now is the clock for the Date header and the file name; nil means
	// time.Now.
	Now func() time.Time
}

// NewFileSender returns a FileSender writing into dir as from.
func NewFileSender(dir, from string) *FileSender {
	return &FileSender{Dir: dir, From: from, Now: time.Now}
}

// Send implements auth.Mailer.
func (s *FileSender) Send(ctx context.Context, m *auth.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	t := now().UTC()
	id := rand.Text()
	msg, err := Build(s.From, m, t, id)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("create mail directory: %w", err)
	}
	f, err := os.CreateTemp(s.Dir, ".eml-*.tmp")
	if err != nil {
		return fmt.Errorf("create mail file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op once renamed
	// CreateTemp already uses 0600; Chmod makes it explicit.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write mail file: %w", err)
	}
	if _, err := f.Write(msg); err != nil {
		f.Close()
		return fmt.Errorf("write mail file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write mail file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write mail file: %w", err)
	}
	name := filepath.Join(s.Dir, t.Format("20060102T150405.000000000Z")+"-"+id+".eml")
	if err := os.Rename(tmp, name); err != nil {
		return fmt.Errorf("write mail file: %w", err)
	}
	return nil
}
