package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
)

// Config is the policy of a Service. Every field has a default (DefaultConfig)
// that matches docs/configuration.md.
type Config struct {
	// PublicURL is the external base URL without a trailing slash; mail links
	// are built from it, never from a request's Host header.
	PublicURL string
	// VerifyEmailURL and ResetPasswordURL are the pages of the application
	// that mail links point at; the token goes in the fragment
	// ("#token=…"), which browsers never send to a server or put in a
	// Referer. Empty: PublicURL + "/verify-email" and "/reset-password".
	VerifyEmailURL   string
	ResetPasswordURL string
	// ForgotPasswordURL is the application's forgot-password page: the one
	// link of the security notices (notify) and the reset link of the
	// already_registered mail. It takes no token. Empty: PublicURL +
	// "/forgot-password".
	ForgotPasswordURL string

	RequireVerification bool

	SessionTTL     time.Duration // absolute cookie-session lifetime
	SessionIdleTTL time.Duration // 0: no idle timeout
	AccessTTL      time.Duration
	RefreshTTL     time.Duration // absolute refresh-family lifetime
	RefreshGrace   time.Duration // 0: strict reuse detection
	ResetTTL       time.Duration
	VerifyTTL      time.Duration
	MFATokenTTL    time.Duration // pending login between password and second factor

	// TOTPIssuer names the service in authenticator apps (the otpauth URI's
	// issuer).
	TOTPIssuer string

	// RefreshGraceReplays bounds how many times one rotated refresh token
	// may be replayed inside RefreshGrace; 0 serves no replay.
	RefreshGraceReplays int

	LockoutThreshold int
	LockoutDuration  time.Duration

	LoginPerIP    Limit
	LoginPerEmail Limit
	EmailPerEmail Limit // forgot-password and verify-resend, each its own counter
	EmailPerIP    Limit
	SignupPerIP   Limit
	TokenPerIP    Limit

	// WebAuthnRPID, WebAuthnOrigins and WebAuthnRPName are the WebAuthn
	// relying party (docs/configuration.md, "Passkeys"). An empty RP ID
	// turns passkeys off.
	WebAuthnRPID    string
	WebAuthnOrigins []string
	WebAuthnRPName  string
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		PublicURL:           "http://127.0.0.1:8080",
		RequireVerification: true,
		SessionTTL:          24 * time.Hour,
		AccessTTL:           15 * time.Minute,
		RefreshTTL:          720 * time.Hour,
		RefreshGrace:        10 * time.Second,
		RefreshGraceReplays: 3,
		ResetTTL:            time.Hour,
		VerifyTTL:           24 * time.Hour,
		MFATokenTTL:         5 * time.Minute,
		TOTPIssuer:          "Bulwark",
		LockoutThreshold:    10,
		LockoutDuration:     15 * time.Minute,
		LoginPerIP:          Limit{N: 20, Per: time.Minute},
		LoginPerEmail:       Limit{N: 5, Per: time.Minute},
		EmailPerEmail:       Limit{N: 3, Per: time.Hour},
		EmailPerIP:          Limit{N: 10, Per: time.Hour},
		SignupPerIP:         Limit{N: 10, Per: time.Hour},
		TokenPerIP:          Limit{N: 30, Per: time.Minute},
	}
}

// Deps are the collaborators of a Service. Store, Limiter, Hasher, Policy,
// Normalize and Tokens are required.
type Deps struct {
	Store   Store
	Limiter Limiter
	Hasher  PasswordHasher
	Policy  PasswordPolicy
	// Normalize applies NFKC to a password and reports false for invalid
	// UTF-8 (internal/password.Normalize).
	Normalize func(string) (string, bool)
	Tokens    TokenIssuer
	Logger    *slog.Logger
	Now       func() time.Time
	Rand      io.Reader
	// MailQueued is called after a message was put in the outbox, to wake the
	// sender. Optional.
	MailQueued func()

	// CanonicalEmail returns the canonical form of an address or false to
	// refuse it (internal/email.Canonical). Every address the Service takes
	// goes through it. Optional: NormalizeEmail when nil.
	CanonicalEmail func(string) (string, bool)

	// Passkeys is the WebAuthn relying party (internal/passkey). Optional:
	// without it, or when Store is no PasskeyStore, passkeys are off.
	Passkeys WebAuthnRP

	// Observer is told of every audit event and every password login's
	// result, for metrics (internal/metrics). Optional.
	Observer Observer
}

// Observer receives what the metrics count. Its methods must not block.
type Observer interface {
	// Event is called with every audit event, after it is logged.
	Event(ev Event)
	// Login is called with the result of every Authenticate.
	Login(err error)
}

type noObserver struct{}

func (noObserver) Event(Event) {}
func (noObserver) Login(error) {}

// Service holds every authentication policy. It is safe for concurrent use.
type Service struct {
	cfg        Config
	store      Store
	limiter    Limiter
	hasher     PasswordHasher
	policy     PasswordPolicy
	normalize  func(string) (string, bool)
	tokens     TokenIssuer
	log        *slog.Logger
	now        func() time.Time
	rand       io.Reader
	mailQueued func()
	deviceKey  []byte
	canonEmail func(string) (string, bool)
	limitKey   []byte // HMAC key of the email in rate-limit keys (limiterKey)
	// recoveryKey keys the tags that find a recovery code's row.
	recoveryKey []byte
	observer    Observer
	// rp and passkeys are nil when passkeys are off.
	rp       WebAuthnRP
	passkeys PasskeyStore
}

// NewService checks deps and loads the server-wide device-cookie key from the
// store (creating it on first start, so every instance shares it).
func NewService(ctx context.Context, cfg Config, d Deps) (*Service, error) {
	if d.Store == nil || d.Limiter == nil || d.Hasher == nil || d.Policy == nil || d.Normalize == nil || d.Tokens == nil {
		return nil, errors.New("new auth service: missing dependency")
	}
	s := &Service{
		cfg: cfg, store: d.Store, limiter: d.Limiter, hasher: d.Hasher, policy: d.Policy,
		normalize: d.Normalize, tokens: d.Tokens, log: d.Logger, now: d.Now, rand: d.Rand,
		mailQueued: d.MailQueued, observer: d.Observer,
	}
	if s.observer == nil {
		s.observer = noObserver{}
	}
	if ps, ok := d.Store.(PasskeyStore); ok && d.Passkeys != nil {
		s.rp, s.passkeys = d.Passkeys, ps
	}
	if s.canonEmail = d.CanonicalEmail; s.canonEmail == nil {
		s.canonEmail = NormalizeEmail
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.mailQueued == nil {
		s.mailQueued = func() {}
	}
	candidate := make([]byte, 32)
	if _, err := io.ReadFull(s.rand, candidate); err != nil {
		return nil, fmt.Errorf("new auth service: %w", err)
	}
	key, err := s.store.Secret(ctx, "device_cookie_key", candidate)
	if err != nil {
		return nil, fmt.Errorf("new auth service: load device key: %w", err)
	}
	s.deviceKey = key
	if _, err := io.ReadFull(s.rand, candidate); err != nil {
		return nil, fmt.Errorf("new auth service: %w", err)
	}
	if s.limitKey, err = s.store.Secret(ctx, "rate_limit_key", candidate); err != nil {
		return nil, fmt.Errorf("new auth service: load rate-limit key: %w", err)
	}
	candidate = make([]byte, 32)
	if _, err := io.ReadFull(s.rand, candidate); err != nil {
		return nil, fmt.Errorf("new auth service: %w", err)
	}
	if s.recoveryKey, err = s.store.Secret(ctx, "recovery_code_key", candidate); err != nil {
		return nil, fmt.Errorf("new auth service: load recovery-code key: %w", err)
	}
	return s, nil
}

// Config returns the service's policy.
func (s *Service) Config() Config { return s.cfg }

// Client describes who sent a request: what the audit log records and what
// the rate limits are keyed on.
type Client struct {
	IP        string // client IP as derived from trusted proxies
	IPKey     string // rate-limit key: the IPv4 address or the IPv6 /64
	UserAgent string
	RequestID string
	// DeviceToken is the signed device cookie or X-Device-Token, if any.
	DeviceToken string
}

// Audit event names (docs/events.md).
const (
	EventLoginSucceeded         = "login_succeeded"
	EventLoginFailed            = "login_failed"
	EventRateLimited            = "rate_limited"
	EventAccountLocked          = "account_locked"
	EventLogout                 = "logout"
	EventSessionRevoked         = "session_revoked"
	EventPasswordResetRequested = "password_reset_requested"
	EventPasswordResetCompleted = "password_reset_completed"
	EventPasswordChanged        = "password_changed"
	EventRefreshTokenReused     = "refresh_token_reused"
	EventRefreshTokenReplayed   = "refresh_token_replayed"
	EventTokenRevoked           = "token_revoked"
	EventEmailVerified          = "email_verified"
	EventSignup                 = "signup"
	EventAdminAction            = "admin_action"
	EventMFARequired            = "mfa_required"
	EventMFAFailed              = "mfa_failed"
	EventMFAEnabled             = "mfa_enabled"
	EventMFADisabled            = "mfa_disabled"
	EventRecoveryCodeUsed       = "recovery_code_used"
	EventRecoveryCodesRenewed   = "recovery_codes_regenerated"
)

// Event is one audit record. It has no field that can carry a secret:
// passwords, tokens, hashes and session ids have no place here (ASVS 16.2.5).
type Event struct {
	Name    string
	UserID  string
	Email   string
	Reason  string
	Limiter string
	// SessionID is a public session or family id, never a token.
	SessionID string
	// Action and TargetID name what an admin did and to whom
	// (EventAdminAction); UserID is then the admin.
	Action   string
	TargetID string
	// Methods are the authentication methods of a sign-in (logged as
	// "methods"), or the factor an MFA event is about.
	Methods Methods
}

// audit writes ev through the one audit path. slog's JSON handler escapes
// every user-controlled string, so a CR/LF in an email cannot forge a line
// (ASVS 16.4.1).
func (s *Service) audit(ctx context.Context, cl Client, ev Event) {
	attrs := make([]slog.Attr, 0, 8)
	attrs = append(attrs, slog.String("event", ev.Name), slog.String("request_id", cl.RequestID), slog.String("ip", cl.IP))
	if ev.UserID != "" {
		attrs = append(attrs, slog.String("user_id", ev.UserID))
	}
	if ev.Email != "" {
		attrs = append(attrs, slog.String("email", ev.Email))
	}
	if ev.Reason != "" {
		attrs = append(attrs, slog.String("reason", ev.Reason))
	}
	if ev.Limiter != "" {
		attrs = append(attrs, slog.String("limiter", ev.Limiter))
	}
	if ev.SessionID != "" {
		// The public id of GET /v1/sessions (the sid claim), never a token.
		attrs = append(attrs, slog.String("sid", ev.SessionID))
	}
	if ev.Action != "" {
		attrs = append(attrs, slog.String("action", ev.Action), slog.String("target_user_id", ev.TargetID))
	}
	if len(ev.Methods) > 0 {
		attrs = append(attrs, slog.String("methods", ev.Methods.String()))
	}
	if cl.UserAgent != "" && (ev.Name == EventLoginSucceeded || ev.Name == EventLoginFailed || ev.Name == EventRefreshTokenReplayed || ev.Name == EventMFAFailed) {
		attrs = append(attrs, slog.String("user_agent", cl.UserAgent))
	}
	level := slog.LevelInfo
	switch ev.Name {
	case EventLoginFailed, EventRateLimited, EventAccountLocked, EventRefreshTokenReused, EventRefreshTokenReplayed, EventClientAuthFailed, EventMFAFailed, EventPasskeyCloneDetected:
		level = slog.LevelWarn
	}
	s.log.LogAttrs(ctx, level, "audit", attrs...)
	s.observer.Event(ev)
}

// limit checks one named limit. Limiter errors fail closed (503).
func (s *Service) limit(ctx context.Context, cl Client, name, key string, l Limit, email string) error {
	ok, retry, err := s.limiter.Allow(ctx, s.limiterKey(name, key), l)
	if err != nil {
		return unavailable(fmt.Errorf("rate limit %s: %w", name, err))
	}
	if !ok {
		s.audit(ctx, cl, Event{Name: EventRateLimited, Limiter: name, Email: email})
		return &Error{Code: CodeRateLimited, Message: "Too many requests. Try again later.", RetryAfter: retry}
	}
	return nil
}

// limiterKey is the key of limiter name for key. A limiter keyed by an
// email address ("…_email") gets HMAC-SHA-256 of it under a server-wide
// secret shared by every instance (server_secrets, sealed), so no limiter
// backend (Redis keys, rate_limits rows) names an address in plain text
// (OWASP ASVS 5.0 V14.2: personal data not kept where it is not needed).
// 128 bits of the MAC keep keys short and collisions out of reach.
func (s *Service) limiterKey(name, key string) string {
	if !strings.HasSuffix(name, "_email") {
		return name + ":" + key
	}
	m := hmac.New(sha256.New, s.limitKey)
	m.Write([]byte(name + ":" + key))
	return name + ":" + hex.EncodeToString(m.Sum(nil)[:16])
}

// cspReportLimit bounds how many CSP violation reports one client address
// may have logged: the endpoint is unauthenticated by nature.
var cspReportLimit = Limit{N: 60, Per: time.Minute}

// ReportAllowed reports whether a CSP violation report from cl may be logged.
// Past the limit, or if the limiter cannot decide, reports are dropped
// silently: they are advisory and must not become a way to flood the log.
func (s *Service) ReportAllowed(ctx context.Context, cl Client) bool {
	ok, _, err := s.limiter.Allow(ctx, "csp_ip:"+cl.IPKey, cspReportLimit)
	return err == nil && ok
}

// unavailable wraps a dependency failure as a 503 with a retry hint.
func unavailable(err error) *Error {
	return &Error{Code: CodeUnavailable, Message: "The service is temporarily unavailable. Try again shortly.", RetryAfter: 2 * time.Second, Err: err}
}

// storeErr converts an unexpected store error into a client error: an
// unavailable database is a 503, anything else internal.
func storeErr(op string, err error) error {
	if errors.Is(err, ErrUnavailable) {
		return unavailable(fmt.Errorf("%s: %w", op, err))
	}
	return &Error{Code: CodeInternal, Message: "Internal error.", Err: fmt.Errorf("%s: %w", op, err)}
}

// hashNoAnswer reports whether a hasher error says nothing about the
// password: the pool was full or the request gave up. Such an error is never
// counted as a failed attempt.
func hashNoAnswer(err error) bool {
	return errors.Is(err, ErrBusy) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// hashErr converts a hasher error: a full pool is a 503 with Retry-After.
func hashErr(err error) error {
	if hashNoAnswer(err) {
		return &Error{Code: CodeUnavailable, Message: "The server is busy. Try again shortly.", RetryAfter: time.Second, Err: err}
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Code: CodeInternal, Message: "Internal error.", Err: fmt.Errorf("hash password: %w", err)}
}

func invalidCredentials() *Error {
	return &Error{Code: CodeInvalidCredentials, Message: "The email or password is incorrect."}
}

func invalidToken() *Error {
	return &Error{Code: CodeInvalidToken, Message: "The token is invalid, expired or already used."}
}

func unauthenticated() *Error {
	return &Error{Code: CodeUnauthenticated, Message: "Authentication is required."}
}

// queueMail puts a message in the persistent outbox. Rendering and delivery
// happen in the background (internal/mail.Worker), so a response never waits
// on the mail server.
func (s *Service) queueMail(ctx context.Context, to, template string, data map[string]string) error {
	m := &Mail{To: to, Template: template, Data: data, CreatedAt: s.now().UTC()}
	if err := s.store.EnqueueMail(ctx, m); err != nil {
		return storeErr("queue mail", err)
	}
	s.mailQueued()
	return nil
}

// forgotPasswordURL is the forgot-password page mails link to.
func (s *Service) forgotPasswordURL() string {
	if s.cfg.ForgotPasswordURL != "" {
		return s.cfg.ForgotPasswordURL
	}
	return s.cfg.PublicURL + "/forgot-password"
}

// link builds a mail link to page (the configured URL of the application's
// page, or PublicURL/def when none is set) with the token in the fragment,
// so it never reaches a server log or a Referer header (OWASP ASVS 5.0
// 14.2.1: sensitive data not in URLs sent to servers).
func (s *Service) link(page, def string, token Secret) string {
	if page == "" {
		page = s.cfg.PublicURL + "/" + def
	}
	return page + "#token=" + token.Reveal()
}
