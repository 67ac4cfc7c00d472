package auth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Notice is a security event the account's owner is told of by mail (OWASP
// ASVS 5.0 6.3.5: notified of suspicious authentication attempts; 6.3.7:
// notified of changes to authentication details). Its value is the name of
// the mail template (internal/mail) and docs/events.md lists each one.
type Notice string

// The security notices.
const (
	NoticeNewSignIn          Notice = "new_sign_in"
	NoticePasswordChanged    Notice = "password_changed"
	NoticePasswordReset      Notice = "password_reset_completed"
	NoticeMFAEnabled         Notice = "mfa_enabled"
	NoticeMFADisabled        Notice = "mfa_disabled"
	NoticePasskeyAdded       Notice = "passkey_added"
	NoticePasskeyRemoved     Notice = "passkey_removed"
	NoticeRecoveryCodeUsed   Notice = "recovery_code_used"
	NoticeSecondFactorFailed Notice = "second_factor_failed"
	NoticePasskeyCloned      Notice = "passkey_clone_detected"
)

// noticeDetail names the template field that carries a notice's detail, ""
// for a notice without one (a detail given to it is dropped).
var noticeDetail = map[Notice]string{
	NoticeNewSignIn:          "",
	NoticePasswordChanged:    "",
	NoticePasswordReset:      "",
	NoticeMFAEnabled:         "method",
	NoticeMFADisabled:        "method",
	NoticePasskeyAdded:       "passkey_name",
	NoticePasskeyRemoved:     "passkey_name",
	NoticeRecoveryCodeUsed:   "remaining",
	NoticeSecondFactorFailed: "method",
	NoticePasskeyCloned:      "passkey_name",
}

// Limits of the free-text fields of a notice, in characters; the same as
// internal/mail's MaxUserAgent and MaxPasskeyName, which refuse longer ones
// (a test renders every notice to hold the two together).
const (
	noticeMaxUserAgent   = 200
	noticeMaxPasskeyName = 64
)

// Layouts of the notice's time: the readable one (RFC 1123, always "UTC")
// and the exact one (RFC 3339), both in UTC and to the second.
const (
	noticeTimeLayout    = time.RFC1123
	noticeTimeISOLayout = time.RFC3339
)

// notify queues the security notice n for u through s.queueMail, the
// persistent outbox: the mail worker renders and delivers it later, so the
// request never waits on the mail server. detail is optional non-secret
// context, used as follows and otherwise dropped:
//
//   - NoticeMFAEnabled, NoticeMFADisabled, NoticeSecondFactorFailed: the
//     factor, "totp", "passkey" or "recovery_code".
//   - NoticePasskeyAdded, NoticePasskeyRemoved, NoticePasskeyCloned: the
//     passkey's name, as its owner chose it.
//   - NoticeRecoveryCodeUsed: the count of codes left, in decimal.
//   - The others take none.
//
// A detail that is not what its notice takes (an unknown factor, a count
// that is not a number) is dropped with an ERROR log line naming the notice
// only, and the notice is sent without it: a caller's slip must not cost
// the owner the notice.
//
// The mail holds the time (UTC, RFC 1123 and RFC 3339), the client's IP
// address and user agent as cl gives them (the agent cut to 200
// characters, with control and format characters, '"' and "://" made
// harmless: a user agent is chosen by whoever sent the request), the
// forgot-password page (Config.ForgotPasswordURL) as its one link, fixed
// (never a token: nothing in a notice
// signs anyone in or changes anything) and the advice for an owner who did
// not do it. A notice is never skipped: a disabled or unverified account
// is told too, at its address.
//
// Errors: notify returns nil once the notice is in the outbox. It returns
// an *Error when it is not: CodeInternal for a programming error (nil u,
// an empty address, an unknown Notice) and what queueMail returns when the
// store refuses (503 CodeUnavailable when the database is down, otherwise
// CodeInternal). The notice is part of the change it reports, so the error
// goes back to the caller rather than being swallowed: a caller calls
// notify after its change is committed and returns the error, so the client
// sees a failure and the request_failed log line says why (the error never
// holds mail data). The change itself stays made; retrying it (changing the
// password again, say) sends the notice again. A caller for which a failed
// notice must not change the answer (the second-factor failure, which
// answers with an error of its own) may log it and go on.
func (s *Service) notify(ctx context.Context, cl Client, u *User, n Notice, detail string) error {
	field, ok := noticeDetail[n]
	if !ok {
		return &Error{Code: CodeInternal, Message: "Internal error.", Err: fmt.Errorf("notify: unknown notice %q", string(n))}
	}
	if u == nil || u.Email == "" {
		return &Error{Code: CodeInternal, Message: "Internal error.", Err: fmt.Errorf("notify %s: no recipient", n)}
	}
	now := s.now().UTC().Truncate(time.Second)
	data := map[string]string{
		"reset_url":  s.forgotPasswordURL(),
		"time":       now.Format(noticeTimeLayout),
		"time_iso":   now.Format(noticeTimeISOLayout),
		"ip":         noticeIP(cl.IP),
		"user_agent": noticeText(cl.UserAgent, noticeMaxUserAgent),
	}
	if detail != "" {
		v, err := noticeDetailValue(field, detail)
		if err != nil {
			s.log.ErrorContext(ctx, "security notice detail dropped", "notice", string(n), "error", err.Error())
		} else {
			data[field] = v
		}
	}
	return s.queueMail(ctx, u.Email, string(n), data)
}

// noticeDetailValue checks detail for the template field it goes to and
// returns the value to send. The error never quotes detail.
func noticeDetailValue(field, detail string) (string, error) {
	switch field {
	case "":
		return "", errors.New("this notice takes no detail")
	case "method":
		switch detail {
		case "totp", "passkey", "recovery_code":
			return detail, nil
		}
		return "", errors.New("method is not totp, passkey or recovery_code")
	case "remaining":
		if len(detail) > 4 || strings.TrimLeft(detail, "0123456789") != "" {
			return "", errors.New("remaining is not a count")
		}
		return detail, nil
	case "passkey_name":
		if v := noticeText(detail, noticeMaxPasskeyName); v != "" {
			return v, nil
		}
		return "", errors.New("passkey name is blank")
	}
	return "", fmt.Errorf("unknown detail field %s", field)
}

// noticeIP returns ip as an address the mail can show, "" (shown as unknown)
// when it is not one: httpapi gives netip.Addr.String, which is "invalid IP"
// for a request without a usable peer address.
func noticeIP(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	return a.WithZone("").String()
}

// noticeText makes s, chosen by the client (a user agent, a passkey name),
// safe to quote in a mail: invalid UTF-8, control and format characters
// (CR, LF, tab, bidirectional overrides, zero-width characters: whatever
// unicode.IsPrint refuses) become spaces and runs of spaces one; '"', which
// would end the quotes around it in the text mail, becomes '\”; "://"
// becomes "[:]//", so no mail reader turns it into a clickable link
// (html/template escapes markup, but readers link bare URLs in text); and
// the result is cut to max characters, the last one "…" when cut.
func noticeText(s string, max int) string {
	s = strings.ToValidUTF8(s, " ")
	var b strings.Builder
	space := false
	for _, r := range s {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		if r == '"' {
			r = '\''
		}
		b.WriteRune(r)
	}
	out := strings.ReplaceAll(b.String(), "://", "[:]//")
	if utf8.RuneCountInString(out) > max {
		rs := []rune(out)
		out = strings.TrimRight(string(rs[:max-1]), " ") + "…"
	}
	return out
}
