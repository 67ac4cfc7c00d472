package mail_test

import (
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/bulwarkauth/bulwark/internal/mail"
)

// noticeBase is valid data shared by every security notice.
var noticeBase = map[string]string{
	"reset_url":  "https://auth.example.com/forgot-password",
	"time":       "Sat, 28 Nov 2026 10:00:00 UTC",
	"time_iso":   "2026-11-28T10:00:00Z",
	"ip":         "203.0.113.9",
	"user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
}

// noticeData returns noticeBase with extra fields set.
func noticeData(extra ...string) map[string]string {
	d := maps.Clone(noticeBase)
	for i := 0; i+1 < len(extra); i += 2 {
		d[extra[i]] = extra[i+1]
	}
	return d
}

// notices lists every security notice with its subject, data with its
// detail field set, and phrases each of its bodies must hold: what happened,
// the detail as shown, and what to do about it.
var notices = []struct {
	template, subject string
	data              map[string]string
	text, html        []string
}{
	{mail.TemplateNewSignIn, "New sign-in to your account", noticeData(),
		[]string{"signed in to from a device or browser that had not", "someone else knows your password"},
		[]string{"signed in to from a device or browser that had not", "someone else knows your password"}},
	{mail.TemplatePasswordChanged, "Your password was changed", noticeData(),
		[]string{"The password of your account has just been changed"},
		[]string{"The password of your account has just been changed"}},
	{mail.TemplatePasswordResetCompleted, "Your password was reset", noticeData(),
		[]string{"has just been reset with a link mailed to this", "secure your\nemail account first"},
		[]string{"has just been reset with a link mailed to this", "secure your\nemail account first"}},
	{mail.TemplateMFAEnabled, "Two-step verification was turned on", noticeData("method", "totp"),
		[]string{"Two-step verification (an authenticator app) has just been turned on", "remove the\nsecond step you did not add"},
		[]string{"Two-step verification (an authenticator app) has just been turned on", "remove the\nsecond step you did not add"}},
	{mail.TemplateMFADisabled, "Two-step verification was turned off", noticeData("method", "passkey"),
		[]string{"Two-step verification (a passkey) has just been turned off", "turn two-step\nverification back on"},
		[]string{"Two-step verification (a passkey) has just been turned off", "turn two-step\nverification back on"}},
	{mail.TemplatePasskeyAdded, "A passkey was added to your account", noticeData("passkey_name", "Jane's <YubiKey>"),
		[]string{`A passkey named "Jane's <YubiKey>" has just been added`, "remove the\npasskey you did not add"},
		[]string{`A passkey named <q>Jane&#39;s &lt;YubiKey&gt;</q> has just been added`, "remove the\npasskey you did not add"}},
	{mail.TemplatePasskeyRemoved, "A passkey was removed from your account", noticeData("passkey_name", "Work laptop"),
		[]string{`A passkey named "Work laptop" has just been removed`, "check the\npasskeys left"},
		[]string{`A passkey named <q>Work laptop</q> has just been removed`, "check the\npasskeys left"}},
	{mail.TemplateRecoveryCodeUsed, "A recovery code was used", noticeData("remaining", "7"),
		[]string{"A recovery code was just used", "Recovery codes left: 7.", "make new\nrecovery codes"},
		[]string{"A recovery code was just used", "Recovery codes left: 7.", "make new\nrecovery codes"}},
	{mail.TemplateSecondFactorFailed, "Failed sign-in attempt on your account", noticeData("method", "recovery_code"),
		[]string{"with the correct password\nbut failed the second step (a recovery code). They were not signed in.", "someone else knows your password"},
		[]string{"with the correct password\nbut failed the second step (a recovery code). They were not signed in.", "someone else knows your password"}},
	{mail.TemplatePasskeyCloneDetected, "A passkey of your account may have been copied", noticeData("passkey_name", "Phone"),
		[]string{`used your passkey named "Phone", but its signature`, "passkey was copied", "treat that passkey\nas exposed", "and remove the\npasskey."},
		[]string{`used your passkey named <q>Phone</q>, but its signature`, "passkey was copied", "treat that passkey\nas exposed", "and remove the\npasskey."}},
}

// TestRenderNotices checks each security notice: its fixed subject, what
// happened, the time in both forms, the client (the user agent quoted as
// reported, the IP address), the advice for an owner who did not do it and
// its one link, the forgot-password page.
func TestRenderNotices(t *testing.T) {
	for _, tt := range notices {
		t.Run(tt.template, func(t *testing.T) {
			m, err := mail.Render(tt.template, "jane@example.com", tt.data)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if m.To != "jane@example.com" || m.Subject != tt.subject {
				t.Errorf("To, Subject = %q, %q; want jane@example.com, %q", m.To, m.Subject, tt.subject)
			}
			text := append([]string{
				"When: Sat, 28 Nov 2026 10:00:00 UTC (2026-11-28T10:00:00Z)\n",
				"Device: reported as \"Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0\"\n",
				"IP address: 203.0.113.9\n",
				"reset your password at once on the forgot-password page:\n\nhttps://auth.example.com/forgot-password\n",
				"Resetting your password signs out every session and device.",
				"review your sessions",
			}, tt.text...)
			html := append([]string{
				"<li>When: Sat, 28 Nov 2026 10:00:00 UTC (2026-11-28T10:00:00Z)</li>",
				"<li>Device: reported as <q>Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0</q></li>",
				"<li>IP address: 203.0.113.9</li>",
				`<a href="https://auth.example.com/forgot-password">Reset my password</a>`,
				"Resetting your password signs out every session and device.",
				"review your sessions",
			}, tt.html...)
			for _, want := range text {
				if !strings.Contains(m.Text, want) {
					t.Errorf("text lacks %q:\n%s", want, m.Text)
				}
			}
			for _, want := range html {
				if !strings.Contains(m.HTML, want) {
					t.Errorf("html lacks %q:\n%s", want, m.HTML)
				}
			}
			if tt.template == mail.TemplatePasskeyCloneDetected {
				if !strings.Contains(m.Text, "If you did not sign in at that time") {
					t.Errorf("text lacks the advice for an owner who did not sign in")
				}
			} else if !strings.Contains(m.Text, "If it was not you, ") || !strings.Contains(m.HTML, "<p>If it was not you, ") {
				t.Errorf("text or html lacks the advice for an owner who did not do it")
			}
			// The forgot-password page is the one link: no other URL, and
			// so no token, is in either body.
			if n := strings.Count(m.Text, "://"); n != 1 {
				t.Errorf("text holds %d URLs, want the forgot-password page alone", n)
			}
			if n := strings.Count(m.HTML, "://"); n != 2 || strings.Count(m.HTML, "<a ") != 1 {
				t.Errorf("html holds %d URLs and %d links, want the forgot-password page as one link and its copy", n, strings.Count(m.HTML, "<a "))
			}
			for _, body := range []string{m.Text, m.HTML} {
				if strings.Contains(body, "<no value>") || strings.Contains(body, "token") {
					t.Errorf("unfilled field or a token in the output:\n%s", body)
				}
			}
		})
	}
}

// TestRenderNoticeOptionalFields checks what a notice says without the
// optional fields: the client unknown, no detail sentence.
func TestRenderNoticeOptionalFields(t *testing.T) {
	for _, tt := range notices {
		t.Run(tt.template, func(t *testing.T) {
			data := map[string]string{"reset_url": noticeBase["reset_url"], "time": noticeBase["time"], "time_iso": noticeBase["time_iso"]}
			m, err := mail.Render(tt.template, "jane@example.com", data)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			for _, want := range []string{"Device: not reported\n", "IP address: unknown\n", "When: Sat, 28 Nov 2026 10:00:00 UTC"} {
				if !strings.Contains(m.Text, want) {
					t.Errorf("text lacks %q:\n%s", want, m.Text)
				}
			}
			for _, want := range []string{"<li>Device: not reported</li>", "<li>IP address: unknown</li>"} {
				if !strings.Contains(m.HTML, want) {
					t.Errorf("html lacks %q:\n%s", want, m.HTML)
				}
			}
			for _, absent := range []string{" named ", "Recovery codes left", "(an authenticator app)", "(a passkey)", "(a code from", "(a recovery code)", "(recovery codes)", "()", "<q></q>", `""`} {
				if strings.Contains(m.Text, absent) || strings.Contains(m.HTML, absent) {
					t.Errorf("an absent detail left %q in the output", absent)
				}
			}
		})
	}
}

// TestRenderPasswordChangedQueuedBefore checks that a password_changed mail
// queued by a version that sent the forgot-password link alone still renders,
// without the lines it has no data for.
func TestRenderPasswordChangedQueuedBefore(t *testing.T) {
	m, err := mail.Render(mail.TemplatePasswordChanged, "jane@example.com", map[string]string{"reset_url": "https://auth.example.com/forgot-password"})
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if strings.Contains(m.Text, "When:") || strings.Contains(m.HTML, "When:") || strings.Contains(m.HTML, "<ul>") {
		t.Errorf("time and client lines without data:\n%s", m.Text)
	}
	if !strings.Contains(m.Text, "has just been changed") || !strings.Contains(m.HTML, `href="https://auth.example.com/forgot-password"`) {
		t.Errorf("notice or its link missing:\n%s", m.Text)
	}
	// A new notice has no such excuse: its time is required.
	if _, err := mail.Render(mail.TemplatePasswordResetCompleted, "jane@example.com", map[string]string{"reset_url": "https://auth.example.com/forgot-password"}); !errors.Is(err, mail.ErrInvalidData) {
		t.Errorf("password_reset_completed without time: error %v, want ErrInvalidData", err)
	}
}

// TestRenderNoticeHostileText checks that the text a client chooses (user
// agent, passkey name) is shown as text: markup is escaped in HTML, quoted
// in the text mail, and cannot become a link or a header.
func TestRenderNoticeHostileText(t *testing.T) {
	// What auth.Service.notify makes of `<a href=https://evil.example>click</a>`.
	ua := `<a href=https[:]//evil.example>click</a> Bcc: evil@example.org Subject: ok`
	for _, tt := range notices {
		t.Run(tt.template, func(t *testing.T) {
			data := noticeData("user_agent", ua, "passkey_name", `<img src=x onerror=alert(1)>`)
			m, err := mail.Render(tt.template, "jane@example.com", data)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if strings.Contains(m.HTML, "<a href=https") || strings.Contains(m.HTML, "<img") || strings.Contains(m.HTML, "evil.example\"") {
				t.Errorf("html holds client markup unescaped:\n%s", m.HTML)
			}
			if !strings.Contains(m.HTML, "<q>&lt;a href=https[:]//evil.example&gt;click&lt;/a&gt; Bcc: evil@example.org Subject: ok</q>") {
				t.Errorf("html lacks the escaped user agent:\n%s", m.HTML)
			}
			if !strings.Contains(m.Text, `Device: reported as "`+ua+`"`+"\n") {
				t.Errorf("text lacks the quoted user agent:\n%s", m.Text)
			}
			if strings.Count(m.HTML, "<a ") != 1 {
				t.Errorf("html holds %d links, want 1", strings.Count(m.HTML, "<a "))
			}
			raw, err := mail.Build("Bulwark <no-reply@auth.example.com>", m, testNow, "abc123")
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			p := parseBuilt(t, raw)
			if got := p.header.Get("Subject"); got != tt.subject {
				t.Errorf("Subject = %q, want %q", got, tt.subject)
			}
			if got := p.header.Get("Bcc"); got != "" {
				t.Errorf("a Bcc header was smuggled in: %q", got)
			}
			for key := range p.header {
				switch key {
				case "From", "To", "Subject", "Date", "Message-Id", "Mime-Version", "Content-Type", "Auto-Submitted":
				default:
					t.Errorf("unexpected header %s", key)
				}
			}
			if !strings.Contains(p.text, ua) {
				t.Errorf("text part lacks the user agent after building")
			}
		})
	}
}

// TestRenderNoticeRejects checks every field kind of the notices: a value
// the sender would never make is refused, never rendered.
func TestRenderNoticeRejects(t *testing.T) {
	long := strings.Repeat("a", mail.MaxUserAgent+1)
	tests := []struct {
		name, template, field, value string
	}{
		{"LF in user agent", mail.TemplateNewSignIn, "user_agent", "curl/8\nBcc: evil@example.org"},
		{"CRLF in user agent", mail.TemplateNewSignIn, "user_agent", "curl/8\r\nBcc: evil@example.org"},
		{"CR in user agent", mail.TemplateNewSignIn, "user_agent", "curl/8\rx"},
		{"tab in user agent", mail.TemplateNewSignIn, "user_agent", "curl/8\tx"},
		{"NUL in user agent", mail.TemplateNewSignIn, "user_agent", "curl/8\x00"},
		{"bidi override in user agent", mail.TemplateNewSignIn, "user_agent", "curl/8 \u202egnp.exe"},
		{"zero-width space in user agent", mail.TemplateNewSignIn, "user_agent", "curl/8\u200b"},
		{"invalid UTF-8 in user agent", mail.TemplateNewSignIn, "user_agent", "curl/8 \xff"},
		{"URL in user agent", mail.TemplateNewSignIn, "user_agent", "<a href=https://evil.example>click</a>"},
		{"quote in user agent", mail.TemplateNewSignIn, "user_agent", `x" and all is well "`},
		{"long user agent", mail.TemplateNewSignIn, "user_agent", long},
		{"long passkey name", mail.TemplatePasskeyAdded, "passkey_name", strings.Repeat("é", mail.MaxPasskeyName+1)},
		{"URL in passkey name", mail.TemplatePasskeyRemoved, "passkey_name", "see http://evil.example"},
		{"LF in passkey name", mail.TemplatePasskeyCloneDetected, "passkey_name", "a\nb"},
		{"not an IP", mail.TemplateNewSignIn, "ip", "evil.example"},
		{"IP with zone", mail.TemplateNewSignIn, "ip", "fe80::1%eth0"},
		{"IP not canonical", mail.TemplateNewSignIn, "ip", "2001:DB8::1"},
		{"IP with header", mail.TemplateNewSignIn, "ip", "192.0.2.1\r\nBcc: evil@example.org"},
		{"time not in UTC", mail.TemplateNewSignIn, "time", "Sat, 28 Nov 2026 10:00:00 PST"},
		{"time not RFC 1123", mail.TemplateNewSignIn, "time", "2026-11-28 10:00:00"},
		{"time with text", mail.TemplateNewSignIn, "time", "Sat, 28 Nov 2026 10:00:00 UTC, click https://evil.example"},
		{"missing time", mail.TemplateMFAEnabled, "time", ""},
		{"ISO time with offset", mail.TemplateNewSignIn, "time_iso", "2026-11-28T11:00:00+01:00"},
		{"ISO time with fraction", mail.TemplateNewSignIn, "time_iso", "2026-11-28T10:00:00.5Z"},
		{"missing ISO time", mail.TemplatePasswordResetCompleted, "time_iso", ""},
		{"unknown method", mail.TemplateMFAEnabled, "method", "sms"},
		{"method with markup", mail.TemplateSecondFactorFailed, "method", "<b>totp</b>"},
		{"negative count", mail.TemplateRecoveryCodeUsed, "remaining", "-1"},
		{"count with text", mail.TemplateRecoveryCodeUsed, "remaining", "7 (call 555-0100)"},
		{"huge count", mail.TemplateRecoveryCodeUsed, "remaining", "12345"},
		{"token in the reset link fragment", mail.TemplatePasswordChanged, "reset_url", "https://auth.example.com/reset-password#token=abc"},
		{"token in the reset link query", mail.TemplateNewSignIn, "reset_url", "https://auth.example.com/forgot-password?token=abc"},
		{"empty fragment", mail.TemplateNewSignIn, "reset_url", "https://auth.example.com/forgot-password#"},
		{"javascript reset link", mail.TemplateNewSignIn, "reset_url", "javascript:alert(1)"},
		{"missing reset link", mail.TemplatePasswordChanged, "reset_url", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := noticeData("method", "totp", "passkey_name", "Key", "remaining", "3")
			data[tt.field] = tt.value
			m, err := mail.Render(tt.template, "jane@example.com", data)
			if !errors.Is(err, mail.ErrInvalidData) {
				t.Fatalf("Render error = %v, want ErrInvalidData", err)
			}
			if m != nil {
				t.Errorf("Render returned a message with an error")
			}
			if !strings.Contains(err.Error(), "field "+tt.field) {
				t.Errorf("error %q does not name the field %s", err, tt.field)
			}
			if tt.value != "" && strings.Contains(err.Error(), tt.value) {
				t.Errorf("error %q quotes its input", err)
			}
		})
	}
	// The boundaries themselves are accepted.
	ok := noticeData("user_agent", strings.Repeat("ü", mail.MaxUserAgent), "ip", "2001:db8::1", "passkey_name", strings.Repeat("k", mail.MaxPasskeyName), "remaining", "0")
	for _, tt := range notices {
		if _, err := mail.Render(tt.template, "jane@example.com", ok); err != nil {
			t.Errorf("%s at the limits: %v", tt.template, err)
		}
	}
}
