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
	"net/url"
	"strings"
	"sync"
	texttemplate "text/template"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// The templates and their data fields, all of them absolute http(s) URLs
// built by the caller (docs/api.md: a token travels in the URL fragment):
//
//   - verify_email: "link", the verification page with the token.
//   - already_registered: "sign_in_url" and "reset_url" (forgot-password page).
//   - password_reset: "link", the reset page with the token.
//   - password_changed: "reset_url" (forgot-password page).
const (
	TemplateVerifyEmail       = "verify_email"
	TemplateAlreadyRegistered = "already_registered"
	TemplatePasswordReset     = "password_reset"
	TemplatePasswordChanged   = "password_changed"
)

// subjects holds the fixed subject of each template. Subjects never contain
// data, so no token or user input can reach a header through them.
var subjects = map[string]string{
	TemplateVerifyEmail:       "Verify your email address",
	TemplateAlreadyRegistered: "You already have an account",
	TemplatePasswordReset:     "Reset your password",
	TemplatePasswordChanged:   "Your password was changed",
}

// fields lists the data fields each template needs. Every one is a link and
// is checked by validLink.
var fields = map[string][]string{
	TemplateVerifyEmail:       {"link"},
	TemplateAlreadyRegistered: {"sign_in_url", "reset_url"},
	TemplatePasswordReset:     {"link"},
	TemplatePasswordChanged:   {"reset_url"},
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
// required field is missing or is not an absolute http(s) URL.
func Render(template, to string, data map[string]string) (*auth.Message, error) {
	subject, ok := subjects[template]
	if !ok {
		return nil, ErrUnknownTemplate
	}
	addr, err := parseAddress(to)
	if err != nil {
		return nil, err
	}
	for _, field := range fields[template] {
		v, ok := data[field]
		if !ok || v == "" {
			return nil, fmt.Errorf("%w: field %s missing", ErrInvalidData, field)
		}
		if !validLink(v) {
			return nil, fmt.Errorf("%w: field %s is not an absolute http or https URL", ErrInvalidData, field)
		}
	}
	t, err := parsed()
	if err != nil {
		return nil, err
	}
	var text, html bytes.Buffer
	if err := t.text.ExecuteTemplate(&text, template+".txt", data); err != nil {
		return nil, fmt.Errorf("render %s text: %w", template, err)
	}
	if err := t.html.ExecuteTemplate(&html, template+".html", data); err != nil {
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
