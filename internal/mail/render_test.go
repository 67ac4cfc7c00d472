package mail_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/bulwarkauth/bulwark/internal/mail"
)

// testData is valid data for each template that carries a token link.
var testData = map[string]map[string]string{
	mail.TemplateVerifyEmail:       {"link": "https://auth.example.com/verify-email#token=abc123"},
	mail.TemplateAlreadyRegistered: {"sign_in_url": "https://auth.example.com/sign-in", "reset_url": "https://auth.example.com/forgot-password"},
	mail.TemplatePasswordReset:     {"link": "https://auth.example.com/reset-password#token=def456"},
}

func TestRenderTemplates(t *testing.T) {
	tests := []struct {
		template, subject, phrase string
	}{
		{mail.TemplateVerifyEmail, "Verify your email address", "expires in 24 hours"},
		{mail.TemplateAlreadyRegistered, "You already have an account", "already\nhave one"},
		{mail.TemplatePasswordReset, "Reset your password", "expires in 1 hour"},
	}
	for _, tt := range tests {
		t.Run(tt.template, func(t *testing.T) {
			data := testData[tt.template]
			m, err := mail.Render(tt.template, "jane@example.com", data)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if m.To != "jane@example.com" {
				t.Errorf("To = %q, want jane@example.com", m.To)
			}
			if m.Subject != tt.subject {
				t.Errorf("Subject = %q, want %q", m.Subject, tt.subject)
			}
			for field, link := range data {
				if !strings.Contains(m.Text, link) {
					t.Errorf("text lacks %s %q:\n%s", field, link, m.Text)
				}
				if !strings.Contains(m.HTML, `href="`+link+`"`) {
					t.Errorf("html lacks href %s %q:\n%s", field, link, m.HTML)
				}
			}
			if !strings.Contains(m.Text, tt.phrase) || !strings.Contains(m.HTML, tt.phrase) {
				t.Errorf("text or html lacks %q", tt.phrase)
			}
			if strings.Contains(m.Text, "<no value>") || strings.Contains(m.HTML, "<no value>") {
				t.Errorf("unfilled field in output")
			}
		})
	}
}

func TestRenderEscapesHTML(t *testing.T) {
	for name, valid := range testData {
		t.Run(name, func(t *testing.T) {
			data := map[string]string{}
			for field := range valid {
				data[field] = `https://auth.example.com/x#token=<script>alert("x")</script>`
			}
			m, err := mail.Render(name, "jane@example.com", data)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if strings.Contains(m.HTML, "<script>") {
				t.Errorf("html holds an unescaped <script>:\n%s", m.HTML)
			}
			if !strings.Contains(m.HTML, "&lt;script&gt;") {
				t.Errorf("html lacks the escaped &lt;script&gt;:\n%s", m.HTML)
			}
			if !strings.Contains(m.Text, "<script>") {
				t.Errorf("text lacks the link as given")
			}
		})
	}
}

func TestRenderRejects(t *testing.T) {
	link := map[string]string{"link": "https://auth.example.com/verify-email#token=abc"}
	tests := []struct {
		name     string
		template string
		to       string
		data     map[string]string
		want     error
	}{
		{"unknown template", "nope", "jane@example.com", link, mail.ErrUnknownTemplate},
		{"LF in to", mail.TemplateVerifyEmail, "jane@example.com\nBcc: evil@example.org", link, mail.ErrInvalidAddress},
		{"CR in to", mail.TemplateVerifyEmail, "jane@example.com\rBcc: evil@example.org", link, mail.ErrInvalidAddress},
		{"CRLF folded to", mail.TemplateVerifyEmail, "jane@example.com\r\n ", link, mail.ErrInvalidAddress},
		{"two addresses", mail.TemplateVerifyEmail, "jane@example.com, evil@example.org", link, mail.ErrInvalidAddress},
		{"display name", mail.TemplateVerifyEmail, "Jane <jane@example.com>", link, mail.ErrInvalidAddress},
		{"not an address", mail.TemplateVerifyEmail, "jane", link, mail.ErrInvalidAddress},
		{"empty to", mail.TemplateVerifyEmail, "", link, mail.ErrInvalidAddress},
		{"missing link", mail.TemplatePasswordReset, "jane@example.com", map[string]string{}, mail.ErrInvalidData},
		{"missing reset_url", mail.TemplateAlreadyRegistered, "jane@example.com", map[string]string{"sign_in_url": "https://a.example/sign-in"}, mail.ErrInvalidData},
		{"bad sign_in_url", mail.TemplateAlreadyRegistered, "jane@example.com", map[string]string{"sign_in_url": "data:text/html,x", "reset_url": "https://a.example/r"}, mail.ErrInvalidData},
		{"nil data", mail.TemplatePasswordChanged, "jane@example.com", nil, mail.ErrInvalidData},
		{"javascript link", mail.TemplatePasswordReset, "jane@example.com", map[string]string{"link": "javascript:alert(1)"}, mail.ErrInvalidData},
		{"relative link", mail.TemplatePasswordReset, "jane@example.com", map[string]string{"link": "/reset-password#token=x"}, mail.ErrInvalidData},
		{"newline in link", mail.TemplatePasswordReset, "jane@example.com", map[string]string{"link": "https://a.example/\nx"}, mail.ErrInvalidData},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := mail.Render(tt.template, tt.to, tt.data)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Render error = %v, want %v", err, tt.want)
			}
			if m != nil {
				t.Errorf("Render returned a message with an error")
			}
			if strings.Contains(err.Error(), "abc") || (tt.to != "" && strings.Contains(err.Error(), tt.to)) {
				t.Errorf("error %q quotes its input", err)
			}
		})
	}
}
