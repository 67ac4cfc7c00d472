// Package mail renders, builds and delivers Bulwark's mail.
//
// Render turns an outbox entry (template name, recipient, data fields) into an
// auth.Message from the embedded templates; Build turns a Message into an RFC
// 5322 multipart/alternative message; the senders (FileSender, SMTPSender)
// implement auth.Mailer; Worker drains the auth.Outbox.
//
// Data values may hold a one-time token, so they are never put in a header and
// never logged: subjects are fixed text per template, the only caller-supplied
// header value is the recipient address, which must be a bare address without
// CR or LF, and log lines carry the recipient only as MaskEmail gives it.
package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"net/mail"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	texttemplate "text/template"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// The templates and their data fields. Links are absolute http(s) URLs built
// by the caller (docs/api.md: a token travels in the URL fragment):
//
//   - verify_email: "link", the verification page with the token.
//   - already_registered: "sign_in_url" and "reset_url" (forgot-password page).
//   - password_reset: "link", the reset page with the token.
//
// The security notices (OWASP ASVS 5.0 6.3.5, 6.3.7; auth.Service.notify
// queues them, docs/events.md lists them) share "reset_url", the
// forgot-password page as a fixed page (no query, no fragment, so never a
// token), and the request's "time" (RFC 1123, UTC), "time_iso" (RFC 3339,
// UTC), "ip" and "user_agent" (both optional: unknown or not reported).
// Some add one more field:
//
//   - new_sign_in, password_changed, password_reset_completed: none.
//   - mfa_enabled, mfa_disabled, second_factor_failed: "method" (optional:
//     totp, passkey or recovery_code).
//   - passkey_added, passkey_removed, passkey_clone_detected:
//     "passkey_name" (optional).
//   - recovery_code_used: "remaining" (optional: codes left, digits).
//
// password_changed mails queued by an older version carry "reset_url"
// alone; they still render, without the time and client lines.
const (
	TemplateVerifyEmail       = "verify_email"
	TemplateAlreadyRegistered = "already_registered"
	TemplatePasswordReset     = "password_reset"

	TemplateNewSignIn              = "new_sign_in"
	TemplatePasswordChanged        = "password_changed"
	TemplatePasswordResetCompleted = "password_reset_completed"
	TemplateMFAEnabled             = "mfa_enabled"
	TemplateMFADisabled            = "mfa_disabled"
	TemplatePasskeyAdded           = "passkey_added"
	TemplatePasskeyRemoved         = "passkey_removed"
	TemplateRecoveryCodeUsed       = "recovery_code_used"
	TemplateSecondFactorFailed     = "second_factor_failed"
	TemplatePasskeyCloneDetected   = "passkey_clone_detected"
)

// subjects holds the fixed subject of each template. Subjects never contain
// data, so no token or user input can reach a header through them.
var subjects = map[string]string{
	TemplateVerifyEmail:       "Verify your email address",
	TemplateAlreadyRegistered: "You already have an account",
	TemplatePasswordReset:     "Reset your password",

	TemplateNewSignIn:              "New sign-in to your account",
	TemplatePasswordChanged:        "Your password was changed",
	TemplatePasswordResetCompleted: "Your password was reset",
	TemplateMFAEnabled:             "Two-step verification was turned on",
	TemplateMFADisabled:            "Two-step verification was turned off",
	TemplatePasskeyAdded:           "A passkey was added to your account",
	TemplatePasskeyRemoved:         "A passkey was removed from your account",
	TemplateRecoveryCodeUsed:       "A recovery code was used",
	TemplateSecondFactorFailed:     "Failed sign-in attempt on your account",
	TemplatePasskeyCloneDetected:   "A passkey of your account may have been copied",
}

// Limits of the free-text fields, in characters. The sender (auth.Service)
// truncates to them; Render refuses longer values.
const (
	MaxUserAgent   = 200
	MaxPasskeyName = 64
)

// kind is what a data field holds, and so how Render checks it.
type kind int

const (
	kindLink    kind = iota // absolute http(s) URL (validLink)
	kindPage                // a link to a fixed page: no query, no fragment (validPage)
	kindTime                // RFC 1123 in UTC, "Mon, 02 Jan 2006 15:04:05 UTC"
	kindTimeISO             // RFC 3339 in UTC, "2006-01-02T15:04:05Z"
	kindIP                  // an IP address as netip.Addr.String gives it, no zone
	kindText                // one line of printable text (validText)
	kindMethod              // a second factor: totp, passkey or recovery_code
	kindCount               // a small decimal count
)

// field is one data field of a template.
type field struct {
	name     string
	kind     kind
	required bool
	max      int // kindText only: the longest value, in characters
}

// notice returns the fields of a security notice: the shared ones, then
// extra. legacy makes the time fields optional (password_changed mails
// queued before they existed).
func notice(legacy bool, extra ...field) []field {
	return append([]field{
		{name: "reset_url", kind: kindPage, required: true},
		{name: "time", kind: kindTime, required: !legacy},
		{name: "time_iso", kind: kindTimeISO, required: !legacy},
		{name: "ip", kind: kindIP},
		{name: "user_agent", kind: kindText, max: MaxUserAgent},
	}, extra...)
}

var (
	methodField      = field{name: "method", kind: kindMethod}
	passkeyNameField = field{name: "passkey_name", kind: kindText, max: MaxPasskeyName}
	remainingField   = field{name: "remaining", kind: kindCount}
)

// fields lists the data fields of each template. Render passes the templates
// these fields only, each checked, an absent optional one as "".
var fields = map[string][]field{
	TemplateVerifyEmail:       {{name: "link", kind: kindLink, required: true}},
	TemplateAlreadyRegistered: {{name: "sign_in_url", kind: kindLink, required: true}, {name: "reset_url", kind: kindLink, required: true}},
	TemplatePasswordReset:     {{name: "link", kind: kindLink, required: true}},

	TemplateNewSignIn:              notice(false),
	TemplatePasswordChanged:        notice(true),
	TemplatePasswordResetCompleted: notice(false),
	TemplateMFAEnabled:             notice(false, methodField),
	TemplateMFADisabled:            notice(false, methodField),
	TemplatePasskeyAdded:           notice(false, passkeyNameField),
	TemplatePasskeyRemoved:         notice(false, passkeyNameField),
	TemplateRecoveryCodeUsed:       notice(false, remainingField),
	TemplateSecondFactorFailed:     notice(false, methodField),
	TemplatePasskeyCloneDetected:   notice(false, passkeyNameField),
}

//go:embed templates/*
var templateFS embed.FS

// Errors returned by Render and Build. They never quote the offending value:
// it may be an address or hold a token, and errors end up in logs.
var (
	ErrUnknownTemplate = errors.New("unknown mail template")
	ErrInvalidAddress  = errors.New("invalid mail address")
	ErrInvalidData     = errors.New("invalid mail template data")
	ErrInvalidHeader   = errors.New("invalid mail header value")
)

type templates struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

// parsed parses the embedded templates once, on first use.
var parsed = sync.OnceValues(func() (*templates, error) {
	text, err := texttemplate.New("").Option("missingkey=error").ParseFS(templateFS, "templates/*.txt")
	if err != nil {
		return nil, fmt.Errorf("parse text mail templates: %w", err)
	}
	html, err := htmltemplate.New("").Option("missingkey=error").ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("parse html mail templates: %w", err)
	}
	return &templates{text: text, html: html}, nil
})

// RenderFunc is the signature of Render, so the Worker can be given another.
type RenderFunc func(template, to string, data map[string]string) (*auth.Message, error)

// Render renders the named template for the recipient to into a Message with
// the template's fixed subject, a plain-text body and an HTML body in which
// every data value is escaped. It fails with ErrUnknownTemplate for an
// unknown name, ErrInvalidAddress when to is not a single bare address (or
// holds CR or LF, which could inject headers), and ErrInvalidData when a
// required field is missing or a field does not hold what its kind allows
// (see fields). Only the template's own fields reach the templates.
func Render(template, to string, data map[string]string) (*auth.Message, error) {
	subject, ok := subjects[template]
	if !ok {
		return nil, ErrUnknownTemplate
	}
	addr, err := parseAddress(to)
	if err != nil {
		return nil, err
	}
	vals := make(map[string]string, len(fields[template]))
	for _, f := range fields[template] {
		v := data[f.name]
		if v == "" {
			if f.required {
				return nil, fmt.Errorf("%w: field %s missing", ErrInvalidData, f.name)
			}
			vals[f.name] = ""
			continue
		}
		if !f.valid(v) {
			return nil, fmt.Errorf("%w: field %s is not %s", ErrInvalidData, f.name, f.kind)
		}
		vals[f.name] = v
	}
	t, err := parsed()
	if err != nil {
		return nil, err
	}
	var text, html bytes.Buffer
	if err := t.text.ExecuteTemplate(&text, template+".txt", vals); err != nil {
		return nil, fmt.Errorf("render %s text: %w", template, err)
	}
	if err := t.html.ExecuteTemplate(&html, template+".html", vals); err != nil {
		return nil, fmt.Errorf("render %s html: %w", template, err)
	}
	return &auth.Message{To: addr, Subject: subject, Text: text.String(), HTML: html.String()}, nil
}

// parseAddress checks that s is one bare RFC 5322 address (no display name)
// and returns it. CR and LF are refused before parsing: net/mail would treat
// them as folding whitespace, and in a header they would start a new one.
func parseAddress(s string) (string, error) {
	if s == "" || strings.ContainsAny(s, "\r\n\x00") {
		return "", ErrInvalidAddress
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address == "" {
		return "", ErrInvalidAddress
	}
	return a.Address, nil
}

// validLink reports whether s is an absolute http or https URL with a host
// and no control characters.
func validLink(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	return (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.User == nil
}

// String names k in error messages.
func (k kind) String() string {
	switch k {
	case kindLink:
		return "an absolute http or https URL"
	case kindPage:
		return "an absolute http or https URL without query or fragment"
	case kindTime:
		return "an RFC 1123 time in UTC"
	case kindTimeISO:
		return "an RFC 3339 time in UTC"
	case kindIP:
		return "an IP address"
	case kindText:
		return "one line of printable text within its length"
	case kindMethod:
		return "totp, passkey or recovery_code"
	case kindCount:
		return "a decimal count"
	}
	return "valid"
}

// valid reports whether v is a value f may hold.
func (f field) valid(v string) bool {
	switch f.kind {
	case kindLink:
		return validLink(v)
	case kindPage:
		return validPage(v)
	case kindTime:
		t, err := time.Parse(time.RFC1123, v)
		return err == nil && t.UTC().Format(time.RFC1123) == v
	case kindTimeISO:
		t, err := time.Parse(time.RFC3339, v)
		return err == nil && t.UTC().Format(time.RFC3339) == v
	case kindIP:
		a, err := netip.ParseAddr(v)
		return err == nil && a.Zone() == "" && a.String() == v
	case kindText:
		return validText(v, f.max)
	case kindMethod:
		return v == "totp" || v == "passkey" || v == "recovery_code"
	case kindCount:
		if len(v) > 4 {
			return false
		}
		for _, c := range []byte(v) {
			if c < '0' || c > '9' {
				return false
			}
		}
		return true
	}
	return false
}

// validPage reports whether s is a link to a fixed page: validLink, and no
// query or fragment, where a token could travel. A security notice links
// only to such pages, so it never carries a live token.
func validPage(s string) bool {
	if !validLink(s) || strings.ContainsAny(s, "?#") {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && u.RawQuery == "" && u.Fragment == ""
}

// validText reports whether s is one line of at most max printable
// characters that a mail reader cannot mistake for a link or a quote's end:
// valid UTF-8; no control or format character (CR, LF, tab, bidirectional
// overrides and zero-width characters included: unicode.IsPrint); no '"',
// which would close the quotes the text templates put around it; and no
// "://", which mail readers turn into a clickable link (the sender defangs
// it). A user agent or a passkey name is chosen by whoever sent the request,
// who may not be the account's owner.
func validText(s string, max int) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max || strings.Contains(s, "://") || strings.ContainsRune(s, '"') {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
