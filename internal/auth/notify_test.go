package auth_test

import (
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/mail"
)

// tokenLike matches what a token the server issues looks like: a run of 43
// base64url characters (32 random bytes), the length of every opaque token
// (session, refresh, reset, verification, device). A notice must hold none.
var tokenLike = regexp.MustCompile(`[A-Za-z0-9_-]{43}`)

// noticeCases is every Notice with the detail a caller gives it and the
// template field that detail must reach ("" when the notice takes none).
var noticeCases = []struct {
	n             auth.Notice
	detail, field string
}{
	{auth.NoticeNewSignIn, "", ""},
	{auth.NoticePasswordChanged, "", ""},
	{auth.NoticePasswordReset, "", ""},
	{auth.NoticeMFAEnabled, "totp", "method"},
	{auth.NoticeMFADisabled, "passkey", "method"},
	{auth.NoticePasskeyAdded, "Jane's YubiKey", "passkey_name"},
	{auth.NoticePasskeyRemoved, "Work laptop", "passkey_name"},
	{auth.NoticeRecoveryCodeUsed, "7", "remaining"},
	{auth.NoticeSecondFactorFailed, "recovery_code", "method"},
	{auth.NoticePasskeyCloned, "Phone", "passkey_name"},
}

// noticeEnv is an env with one verified account and an empty outbox.
func noticeEnv(t *testing.T) (*env, *auth.User) {
	t.Helper()
	e := newEnv(t, testConfig())
	u := e.signup("jane@example.com", testPassword, true)
	e.mails()
	e.exec(`DELETE FROM mail_outbox`)
	return e, u
}

// checkNoToken fails the test when any value of m, or its rendering, holds
// something shaped like an issued token or a link that carries one.
func checkNoToken(t *testing.T, m auth.Mail) {
	t.Helper()
	for k, v := range m.Data {
		if tokenLike.MatchString(v) || strings.Contains(v, "token") || strings.ContainsAny(v, "?#") && strings.Contains(v, "://") {
			t.Errorf("%s: field %s = %q looks like a token or a link with one", m.Template, k, v)
		}
	}
	msg, err := mail.Render(m.Template, m.To, m.Data)
	if err != nil {
		t.Fatalf("%s: the queued notice does not render: %v", m.Template, err)
	}
	for _, body := range []string{msg.Text, msg.HTML} {
		if tokenLike.MatchString(body) || strings.Contains(body, "token=") {
			t.Errorf("%s: the mail holds a token-like value:\n%s", m.Template, body)
		}
	}
}

// TestNotify_EveryNotice calls notify for every Notice and checks the entry
// it queues: the template named after the notice, the account's address,
// the time in both forms, the client, the forgot-password page, the detail,
// and no token anywhere. Each entry must render.
func TestNotify_EveryNotice(t *testing.T) {
	e, u := noticeEnv(t)
	cl := auth.Client{IP: "2001:db8::7", IPKey: "2001:db8::/64", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0", RequestID: "req-n"}
	for _, tc := range noticeCases {
		if err := e.svc.Notify(e.ctx, cl, u, tc.n, tc.detail); err != nil {
			t.Fatalf("notify %s: %v", tc.n, err)
		}
	}
	ms := e.mails()
	if len(ms) != len(noticeCases) {
		t.Fatalf("%d mails queued, want %d", len(ms), len(noticeCases))
	}
	for i, tc := range noticeCases {
		m := ms[i]
		if m.Template != string(tc.n) || m.To != "jane@example.com" {
			t.Errorf("mail %d: template %q to %q, want %q to jane@example.com", i, m.Template, m.To, tc.n)
		}
		want := map[string]string{
			"reset_url":  "https://auth.example.test/forgot-password",
			"time":       "Sat, 28 Nov 2026 10:00:00 UTC",
			"time_iso":   "2026-11-28T10:00:00Z",
			"ip":         "2001:db8::7",
			"user_agent": cl.UserAgent,
		}
		if tc.field != "" {
			want[tc.field] = tc.detail
		}
		if len(m.Data) != len(want) {
			t.Errorf("%s: data %v, want %v", tc.n, m.Data, want)
		}
		for k, v := range want {
			if m.Data[k] != v {
				t.Errorf("%s: %s = %q, want %q", tc.n, k, m.Data[k], v)
			}
		}
		checkNoToken(t, m)
	}
}

// TestNotify_HostileClient checks that what the client chose is made safe
// before it is queued, so the notice renders (a refused one would be retried
// for ever) and shows it as text: no CR or LF, no markup that renders, no
// clickable URL, no quote that ends the quoted value, no bidirectional
// override, at most 200 characters.
func TestNotify_HostileClient(t *testing.T) {
	tests := []struct {
		name, ua, want string
	}{
		{"link markup", `<a href=https://evil.example>click</a>`, `<a href=https[:]//evil.example>click</a>`},
		{"header injection", "curl/8.5\r\nBcc: evil@example.org\r\n\r\nbody", "curl/8.5 Bcc: evil@example.org body"},
		{"quote", `x" - this sign-in was checked by support, all is well "`, `x' - this sign-in was checked by support, all is well '`},
		{"bidi and zero width", "Chrome\u202e\u200bexe.gnp\x00\t end", "Chrome exe.gnp end"},
		{"invalid UTF-8", "curl\xff\xfe/8", "curl /8"},
		{"scheme run", "a:::////b", "a::[:]////b"},
		{"blank", " \r\n\t ", ""},
		{"long", strings.Repeat("Mozilla ", 60), strings.TrimRight(strings.Repeat("Mozilla ", 60)[:199], " ") + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, u := noticeEnv(t)
			cl := auth.Client{IP: "invalid IP", UserAgent: tt.ua}
			if err := e.svc.Notify(e.ctx, cl, u, auth.NoticeNewSignIn, ""); err != nil {
				t.Fatal(err)
			}
			ms := e.mails()
			if len(ms) != 1 {
				t.Fatalf("%d mails, want 1", len(ms))
			}
			m := ms[0]
			if got := m.Data["user_agent"]; got != tt.want {
				t.Errorf("user_agent = %q, want %q", got, tt.want)
			}
			if n := len([]rune(m.Data["user_agent"])); n > mail.MaxUserAgent {
				t.Errorf("user_agent is %d characters, over %d", n, mail.MaxUserAgent)
			}
			if m.Data["ip"] != "" {
				t.Errorf("ip = %q for a request without an address, want none", m.Data["ip"])
			}
			msg, err := mail.Render(m.Template, m.To, m.Data)
			if err != nil {
				t.Fatalf("the notice does not render: %v", err)
			}
			if strings.Count(msg.HTML, "<a ") != 1 || strings.Contains(msg.HTML, "<a href=https") {
				t.Errorf("the user agent became a link:\n%s", msg.HTML)
			}
			if !strings.Contains(msg.Text, "IP address: unknown\n") {
				t.Errorf("text lacks the unknown address:\n%s", msg.Text)
			}
		})
	}
}

// TestNotify_Detail checks what becomes of each kind of detail: a passkey
// name made safe like a user agent and cut to 64 characters, and a detail
// the notice does not take dropped with an ERROR line that names the notice
// but never the value, the notice still sent.
func TestNotify_Detail(t *testing.T) {
	tests := []struct {
		name   string
		n      auth.Notice
		detail string
		field  string
		want   string // "" when dropped
	}{
		{"passkey name made safe", auth.NoticePasskeyAdded, "My \"key\"\r\nvisit https://evil.example", "passkey_name", "My 'key' visit https[:]//evil.example"},
		{"long passkey name", auth.NoticePasskeyRemoved, strings.Repeat("k", 100), "passkey_name", strings.Repeat("k", 63) + "…"},
		{"blank passkey name", auth.NoticePasskeyCloned, "\u202e\r\n", "passkey_name", ""},
		{"unknown method", auth.NoticeMFAEnabled, "sms-canary", "method", ""},
		{"method with case", auth.NoticeSecondFactorFailed, "TOTP", "method", ""},
		{"count not a number", auth.NoticeRecoveryCodeUsed, "seven-canary", "remaining", ""},
		{"negative count", auth.NoticeRecoveryCodeUsed, "-1", "remaining", ""},
		{"huge count", auth.NoticeRecoveryCodeUsed, "100000", "remaining", ""},
		{"no detail taken", auth.NoticeNewSignIn, "password-canary", "", ""},
		{"no detail taken by a reset", auth.NoticePasswordReset, "totp", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, u := noticeEnv(t)
			if err := e.svc.Notify(e.ctx, e.cl, u, tt.n, tt.detail); err != nil {
				t.Fatal(err)
			}
			ms := e.mails()
			if len(ms) != 1 || ms[0].Template != string(tt.n) {
				t.Fatalf("mails %v, want one %s", ms, tt.n)
			}
			m := ms[0]
			if tt.field != "" && m.Data[tt.field] != tt.want {
				t.Errorf("%s = %q, want %q", tt.field, m.Data[tt.field], tt.want)
			}
			if tt.want == "" {
				if _, ok := m.Data[tt.field]; ok && tt.field != "" {
					t.Errorf("dropped detail reached %s = %q", tt.field, m.Data[tt.field])
				}
				if len(m.Data) != 5 {
					t.Errorf("data %v, want the five fields every notice has", m.Data)
				}
			}
			logs := e.logs.String()
			dropped := strings.Contains(logs, `"msg":"security notice detail dropped"`) && strings.Contains(logs, `"notice":"`+string(tt.n)+`"`) && strings.Contains(logs, `"level":"ERROR"`)
			if dropped != (tt.want == "") {
				t.Errorf("detail dropped logged %v, want %v:\n%s", dropped, tt.want == "", logs)
			}
			if strings.Contains(logs, "canary") {
				t.Errorf("the log quotes the detail:\n%s", logs)
			}
			if _, err := mail.Render(m.Template, m.To, m.Data); err != nil {
				t.Errorf("the notice does not render: %v", err)
			}
		})
	}
}

// TestNotify_Errors checks notify's errors: an unknown notice or no
// recipient is an internal error with nothing queued; an outbox the store
// refuses comes back as the store error's *auth.Error, which quotes no mail
// data.
func TestNotify_Errors(t *testing.T) {
	e, u := noticeEnv(t)
	wantCode(t, e.svc.Notify(e.ctx, e.cl, u, auth.Notice("nope"), ""), auth.CodeInternal)
	wantCode(t, e.svc.Notify(e.ctx, e.cl, nil, auth.NoticeNewSignIn, ""), auth.CodeInternal)
	wantCode(t, e.svc.Notify(e.ctx, e.cl, &auth.User{ID: u.ID}, auth.NoticeNewSignIn, ""), auth.CodeInternal)
	if ms := e.mails(); len(ms) != 0 {
		t.Fatalf("%d mails queued by failed notices", len(ms))
	}

	e.store.failOn(storeCall{"EnqueueMail", 1}, errors.Join(auth.ErrUnavailable, errors.New("disk gone")))
	cl := e.cl
	cl.UserAgent = "ua-canary"
	err := e.svc.Notify(e.ctx, cl, u, auth.NoticePasskeyAdded, "name-canary")
	ae := wantCode(t, err, auth.CodeUnavailable)
	if s := ae.Error() + ae.Message; strings.Contains(s, "canary") || strings.Contains(s, "jane@") {
		t.Errorf("error %q quotes mail data", s)
	}
	if ms := e.mails(); len(ms) != 0 {
		t.Fatalf("%d mails queued by a failed enqueue", len(ms))
	}
	// The next one goes through.
	if err := e.svc.Notify(e.ctx, cl, u, auth.NoticePasskeyAdded, "name"); err != nil {
		t.Fatal(err)
	}
}

// TestNotify_PasswordChangeAndReset checks the two notices the password
// flows send: a change sends password_changed, a completed reset
// password_reset_completed, each with the time and the client of the
// request that made it, and neither mail holds a token.
func TestNotify_PasswordChangeAndReset(t *testing.T) {
	e, u := noticeEnv(t)
	cl := e.cl
	cl.UserAgent = "changer/1.0"
	cl.IP = "198.51.100.4"
	if err := e.svc.ChangePassword(e.ctx, cl, auth.Current{UserID: u.ID}, testPassword, otherPassword); err != nil {
		t.Fatalf("ChangePassword: %v", err)
	}
	ms := e.mails()
	if len(ms) != 1 || ms[0].Template != "password_changed" || ms[0].To != "jane@example.com" {
		t.Fatalf("after a change: mails %v, want one password_changed", ms)
	}
	if d := ms[0].Data; d["user_agent"] != "changer/1.0" || d["ip"] != "198.51.100.4" || d["time_iso"] != "2026-11-28T10:00:00Z" {
		t.Errorf("password_changed data %v", d)
	}
	checkNoToken(t, ms[0])
	e.exec(`DELETE FROM mail_outbox`)

	if err := e.svc.ForgotPassword(e.ctx, e.cl, "jane@example.com"); err != nil {
		t.Fatal(err)
	}
	tok := e.mailToken("jane@example.com", "password_reset")
	e.exec(`DELETE FROM mail_outbox`)
	e.clock.Advance(90 * time.Second)
	cl.UserAgent, cl.IP = "resetter/2.0", "198.51.100.5"
	if err := e.svc.ResetPassword(e.ctx, cl, tok, thirdPassword); err != nil {
		t.Fatalf("ResetPassword: %v", err)
	}
	ms = e.mails()
	if len(ms) != 1 || ms[0].Template != "password_reset_completed" || ms[0].To != "jane@example.com" {
		t.Fatalf("after a reset: mails %v, want one password_reset_completed", ms)
	}
	if d := ms[0].Data; d["user_agent"] != "resetter/2.0" || d["ip"] != "198.51.100.5" || d["time"] != "Sat, 28 Nov 2026 10:01:30 UTC" {
		t.Errorf("password_reset_completed data %v", d)
	}
	checkNoToken(t, ms[0])
	for _, v := range ms[0].Data {
		if strings.Contains(v, tok) {
			t.Errorf("the reset notice holds the reset token")
		}
	}
}

// TestNotify_DocumentedAndTested fails when a Notice constant of notify.go
// has no row in the "Security notifications" table of docs/events.md, or
// no case in noticeCases (so TestNotify_EveryNotice covers it).
func TestNotify_DocumentedAndTested(t *testing.T) {
	raw, err := os.ReadFile("../../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "\n## Security notifications\n")
	if !ok {
		t.Fatal("docs/events.md has no Security notifications section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	tested := map[string]bool{}
	for _, tc := range noticeCases {
		tested[string(tc.n)] = true
	}
	notices := stringConsts(t, "Notice")
	for constName, name := range notices {
		if !strings.Contains(section, "| `"+name+"` |") {
			t.Errorf("docs/events.md's Security notifications have no row for `%s`", name)
		}
		if !tested[name] {
			t.Errorf("noticeCases has no case for %s", constName)
		}
	}
	n := len(notices)
	if n != len(noticeCases) {
		t.Errorf("notify.go has %d notices, noticeCases %d", n, len(noticeCases))
	}
}

// TestNotify_ForgotPasswordPage checks that the notices and the
// already_registered mail link to the configured forgot-password page.
func TestNotify_ForgotPasswordPage(t *testing.T) {
	cfg := testConfig()
	cfg.ForgotPasswordURL = "https://app.example.test/account/forgot-password"
	e := newEnv(t, cfg)
	u := e.signup("jane@example.com", testPassword, true)
	e.mails()
	e.exec(`DELETE FROM mail_outbox`)
	if err := e.svc.Notify(e.ctx, e.cl, u, auth.NoticeMFAEnabled, "totp"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Signup(e.ctx, e.cl, "jane@example.com", otherPassword); err != nil {
		t.Fatal(err)
	}
	ms := e.mails()
	if len(ms) != 2 {
		t.Fatalf("%d mails, want the notice and already_registered", len(ms))
	}
	for _, m := range ms {
		if m.Data["reset_url"] != cfg.ForgotPasswordURL {
			t.Errorf("%s: reset_url %q, want %q", m.Template, m.Data["reset_url"], cfg.ForgotPasswordURL)
		}
	}
}
