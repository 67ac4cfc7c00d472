package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// Config is every BULWARK_* setting, parsed and validated once at start-up
// (docs/configuration.md). Nothing reads the environment later.
//
// Config never prints a secret: its String, Format (every fmt verb) and
// LogValue show the JWT secret and the key-encryption key only as set or not
// set, and URLs with their passwords replaced. Fields holding a secret say so.
type Config struct {
	// Dev is --dev: the insecure conveniences listed by DevRelaxations.
	Dev bool

	// Addr is the listen address, host:port (port 0 picks a free port).
	Addr string
	// AdminAddr is the admin listener's address (metrics, health), or ""
	// for none ("off"). Never the public listener.
	AdminAddr string
	// PublicURL is the external base URL, without a trailing slash: the iss
	// of access tokens and the base of links in mail. https in production.
	PublicURL *url.URL
	// VerifyEmailURL and ResetPasswordURL are the application pages mail
	// links point at (BULWARK_APP_URL + BULWARK_*_PATH).
	VerifyEmailURL, ResetPasswordURL string
	// ForgotPasswordURL is the application's forgot-password page
	// (BULWARK_APP_URL + "/forgot-password"), the one link of the security
	// notices.
	ForgotPasswordURL string
	// TLSCert and TLSKey are file paths, both set or both empty.
	TLSCert string
	TLSKey  string
	// TrustedProxies are the peers whose X-Forwarded-For is believed. Bare
	// IPs are single-address prefixes; IPv4-mapped IPv6 is unmapped.
	TrustedProxies []netip.Prefix
	// CORSOrigins are the origins given CORS headers, canonical
	// (scheme://host[:port], lower case, default port dropped); never "*".
	CORSOrigins []string
	LogLevel    slog.Level

	// WebAuthnRPID is the WebAuthn relying party id (WebAuthn L3 §5.1.4.1):
	// the host of every origin in WebAuthnOrigins or a registrable parent
	// domain of it. Every passkey is bound to it: changing it later orphans
	// them all. Default: the host of the public URL.
	WebAuthnRPID string
	// WebAuthnOrigins are the origins allowed to run WebAuthn ceremonies,
	// canonical like CORSOrigins; https (http only for localhost and
	// 127.0.0.1 in dev). Default: the origins of the app URL (when set)
	// and of the public URL.
	WebAuthnOrigins []string
	// WebAuthnRPName is the relying party name the authenticator shows.
	WebAuthnRPName string

	// DataDir is where dev data lives; the defaults of DatabaseURL and
	// MailURL are under it.
	DataDir string
	// DatabaseURL is the setting as given. A postgres URL may hold a
	// password: print it only through redactURL.
	DatabaseURL string
	// DatabaseDriver is "sqlite" or "postgres".
	DatabaseDriver string
	// SQLitePath is the database file when DatabaseDriver is "sqlite":
	// sqlite:///abs/path gives /abs/path, sqlite://rel/path gives rel/path.
	SQLitePath string
	// RedisURL is nil when no Redis is configured. Scheme redis or rediss;
	// its User may hold a password.
	RedisURL    *url.URL
	RedisPrefix string
	AutoMigrate bool

	// MailURL has scheme smtp (STARTTLS), smtps (TLS) or file. For smtp and
	// smtps, Host always has a port (587 and 465 by default) and User may
	// hold a password. For file, Path is the outbox directory, which may be
	// relative (file://./data/outbox gives ./data/outbox).
	MailURL *url.URL
	// MailFrom is the sender of every mail (BULWARK_MAIL_FROM, our
	// addition; default "Bulwark <no-reply@host of the public URL>").
	MailFrom *mail.Address

	// JWTSecret is the decoded HS256 secret (at least 32 bytes), nil when
	// unset. Secret.
	JWTSecret Secret
	// KeyEncryptionKey is the decoded key that encrypts managed signing keys
	// (at least 32 bytes), nil when unset. Secret.
	KeyEncryptionKey Secret
	// KeyEncryptionKeysPrevious are older key-encryption keys, exactly 32
	// bytes each: they still open what they sealed, the current key seals.
	// Secret.
	KeyEncryptionKeysPrevious []Secret

	// SigningAlg is the algorithm of new managed signing keys, "EdDSA" or
	// "ES256"; "" when JWTSecret is set (HS256, no managed keys: the secret
	// takes precedence, see signing_keys.go).
	SigningAlg string
	// KeyRotation is the automatic rotation period of managed keys; 0 is
	// off.
	KeyRotation time.Duration
	// KeyPollInterval is how often an instance re-reads the managed keys
	// (to pick up a rotation made elsewhere).
	KeyPollInterval time.Duration

	// EmailVerificationRequired is BULWARK_EMAIL_VERIFICATION=required.
	EmailVerificationRequired bool
	// PasswordHasher is "argon2id" or "bcrypt".
	PasswordHasher    string
	PasswordMinLength int
	BcryptCost        int
	// HashWorker is "process" (hashes run in a child process at lower CPU
	// priority) or "inline" (in the server's own process).
	HashWorker string

	SessionTTL time.Duration
	// SessionIdleTTL is 0 when there is no idle timeout.
	SessionIdleTTL  time.Duration
	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration
	// TokenAudience is the aud of access tokens; default the public URL.
	TokenAudience string
	// TOTPIssuer names the service in authenticator apps.
	TOTPIssuer     string
	ResetTokenTTL  time.Duration
	VerifyTokenTTL time.Duration
	MFATokenTTL    time.Duration
	// RefreshReuseGrace is 0 for strict reuse detection.
	RefreshReuseGrace time.Duration
	// RefreshGraceReplays bounds the replays of one rotated refresh token
	// inside the grace window; 0 serves none.
	RefreshGraceReplays int

	LoginLimitPerIP    auth.Limit
	LoginLimitPerEmail auth.Limit
	ResetLimitPerEmail auth.Limit
	EmailLimitPerIP    auth.Limit
	SignupLimitPerIP   auth.Limit
	TokenLimitPerIP    auth.Limit
	LockoutThreshold   int
	LockoutDuration    time.Duration
}

// configSettings returns the name of every setting without its BULWARK_
// prefix. Its flag is the name in lower-case kebab-case (see flagName).
func configSettings() []string {
	return []string{
		"ADDR", "ADMIN_ADDR", "PUBLIC_URL", "APP_URL", "VERIFY_EMAIL_PATH", "RESET_PASSWORD_PATH", "TLS_CERT", "TLS_KEY", "TRUSTED_PROXIES",
		"CORS_ORIGINS", "LOG_LEVEL",
		"WEBAUTHN_RP_ID", "WEBAUTHN_ORIGINS", "WEBAUTHN_RP_NAME",
		"DATA_DIR", "DATABASE_URL", "REDIS_URL", "REDIS_PREFIX", "AUTO_MIGRATE",
		"MAIL_URL", "MAIL_FROM",
		"JWT_SECRET", "KEY_ENCRYPTION_KEY", "KEY_ENCRYPTION_KEY_FILE", "KEY_ENCRYPTION_KEYS_PREVIOUS",
		"SIGNING_ALG", "KEY_ROTATION", "KEY_POLL_INTERVAL",
		"EMAIL_VERIFICATION", "PASSWORD_HASHER", "PASSWORD_MIN_LENGTH", "BCRYPT_COST", "HASH_WORKER",
		"SESSION_TTL", "SESSION_IDLE_TTL", "ACCESS_TOKEN_TTL", "REFRESH_TOKEN_TTL",
		"TOKEN_AUDIENCE", "RESET_TOKEN_TTL", "VERIFY_TOKEN_TTL", "MFA_TOKEN_TTL", "TOTP_ISSUER",
		"REFRESH_REUSE_GRACE", "REFRESH_GRACE_REPLAYS",
		"LOGIN_LIMIT_PER_IP", "LOGIN_LIMIT_PER_EMAIL", "RESET_LIMIT_PER_EMAIL",
		"EMAIL_LIMIT_PER_IP", "SIGNUP_LIMIT_PER_IP", "TOKEN_LIMIT_PER_IP",
		"LOCKOUT_THRESHOLD", "LOCKOUT_DURATION",
	}
}

var listedSetting = func() map[string]bool {
	m := map[string]bool{}
	for _, s := range configSettings() {
		m[s] = true
	}
	return m
}()

// flagName returns the flag of a setting: "PUBLIC_URL" is "public-url".
func flagName(setting string) string {
	return strings.ToLower(strings.ReplaceAll(setting, "_", "-"))
}

// Bounds of the numeric settings. Lifetimes have a floor of one second
// because cookies and expires_in count whole seconds.
const (
	minJWTSecretBytes = 32 // RFC 7518 §3.2: an HS256 key is at least 256 bits
	minKEKBytes       = 32
	maxLimitN         = 1_000_000
)

// LoadConfig reads every setting from flags (keys are kebab-case names
// without the prefix, "public-url" for BULWARK_PUBLIC_URL), falling back to
// getenv("BULWARK_…"). A flag present in the map overrides the environment
// even when empty; an empty value means the default. Values are trimmed.
//
// It reports every problem at once: the error joins one "BULWARK_X: why"
// error per bad or missing setting (and "--x: unknown flag" per unknown
// flag key). No message contains a secret or a URL that may hold one.
//
// Without dev, BULWARK_PUBLIC_URL (https), BULWARK_DATABASE_URL,
// BULWARK_MAIL_URL and BULWARK_KEY_ENCRYPTION_KEY are required and get no
// default. This is the configuration of serve; operator subcommands load
// theirs with loadConfig (command.go), which requires only what they use.
func LoadConfig(getenv func(string) string, flags map[string]string, dev bool) (*Config, error) {
	return loadConfig(getenv, flags, dev, usesAll)
}

// uses names the settings a subcommand needs. Without dev, loadConfig
// requires those it names and leaves the others unset when they are not
// given; every setting that is given is checked whatever the subcommand.
type uses uint8

const (
	usesPublicURL uses = 1 << iota
	usesDatabase
	usesMail
	// usesKEK is the key-encryption key (sealing, managed signing keys).
	usesKEK
	usesAll = usesPublicURL | usesDatabase | usesMail | usesKEK
)

func loadConfig(getenv func(string) string, flags map[string]string, dev bool, need uses) (*Config, error) {
	l := &configLoader{getenv: getenv, flags: flags}
	l.checkFlags()
	c := &Config{Dev: dev}

	c.Addr = l.addr("ADDR", "127.0.0.1:8080")
	if v := l.valueOr("ADMIN_ADDR", "127.0.0.1:8081"); v != "off" {
		c.AdminAddr = l.addr("ADMIN_ADDR", "127.0.0.1:8081")
		if c.AdminAddr == c.Addr && !strings.HasSuffix(c.Addr, ":0") {
			l.errorf("ADMIN_ADDR", "must differ from BULWARK_ADDR: metrics are never served on the public listener")
		}
	}
	c.PublicURL = l.publicURL(dev, need&usesPublicURL != 0, c.Addr)
	l.mailLinks(c, dev)
	c.TLSCert = l.value("TLS_CERT")
	c.TLSKey = l.value("TLS_KEY")
	switch {
	case c.TLSCert != "" && c.TLSKey == "":
		l.errorf("TLS_KEY", "required when BULWARK_TLS_CERT is set")
	case c.TLSCert == "" && c.TLSKey != "":
		l.errorf("TLS_CERT", "required when BULWARK_TLS_KEY is set")
	}
	c.TrustedProxies = l.trustedProxies("TRUSTED_PROXIES")
	c.CORSOrigins = l.corsOrigins("CORS_ORIGINS")
	c.LogLevel = l.logLevel("LOG_LEVEL")
	l.webauthn(c, dev)

	c.DataDir = l.valueOr("DATA_DIR", "./data")
	l.database(c, dev, need&usesDatabase != 0)
	c.RedisURL = l.redisURL("REDIS_URL")
	c.RedisPrefix = l.redisPrefix("REDIS_PREFIX")
	c.AutoMigrate = l.boolean("AUTO_MIGRATE", true)

	c.MailURL = l.mailURL(c.DataDir, dev, need&usesMail != 0)
	c.MailFrom = l.mailFrom(c.PublicURL)

	c.JWTSecret = l.key("JWT_SECRET", minJWTSecretBytes)
	c.KeyEncryptionKey = l.key("KEY_ENCRYPTION_KEY", minKEKBytes)
	l.kek(c, dev, need&usesKEK != 0)
	if !dev && need&usesKEK != 0 && len(c.JWTSecret) == 0 && len(c.KeyEncryptionKey) == 0 {
		l.errorf("JWT_SECRET", "required in production: %d or more random bytes, base64 (or set BULWARK_KEY_ENCRYPTION_KEY for managed signing keys)", minJWTSecretBytes)
	}

	c.EmailVerificationRequired = l.enum("EMAIL_VERIFICATION", "required", "required", "off") == "required"
	c.PasswordHasher = l.enum("PASSWORD_HASHER", "argon2id", "argon2id", "bcrypt")
	c.PasswordMinLength = l.integer("PASSWORD_MIN_LENGTH", 15, 8, 64)
	c.BcryptCost = l.integer("BCRYPT_COST", 12, 10, 15)
	c.HashWorker = l.enum("HASH_WORKER", "process", "process", "inline")

	c.SessionTTL = l.duration("SESSION_TTL", 24*time.Hour, time.Second, 720*time.Hour, false)
	c.SessionIdleTTL = l.duration("SESSION_IDLE_TTL", 0, time.Second, 720*time.Hour, true)
	if c.SessionIdleTTL > c.SessionTTL && c.SessionTTL > 0 {
		l.errorf("SESSION_IDLE_TTL", "%s is longer than BULWARK_SESSION_TTL (%s)", c.SessionIdleTTL, c.SessionTTL)
	}
	c.AccessTokenTTL = l.duration("ACCESS_TOKEN_TTL", 15*time.Minute, time.Second, time.Hour, false)
	l.signing(c)
	c.RefreshTokenTTL = l.duration("REFRESH_TOKEN_TTL", 720*time.Hour, time.Second, 720*time.Hour, false)
	c.TokenAudience = l.value("TOKEN_AUDIENCE")
	if c.TokenAudience == "" && c.PublicURL != nil {
		c.TokenAudience = c.PublicURL.String()
	}
	c.ResetTokenTTL = l.duration("RESET_TOKEN_TTL", time.Hour, time.Second, 24*time.Hour, false)
	c.TOTPIssuer = "Bulwark"
	if v := l.value("TOTP_ISSUER"); v != "" {
		// The otpauth label is "issuer:account": a colon would split it
		// (Key URI format); apps show at most a few dozen characters.
		if len(v) > 64 || strings.ContainsAny(v, ":\r\n") || !utf8.ValidString(v) {
			l.errorf("TOTP_ISSUER", "must be 1 to 64 characters without a colon")
		} else {
			c.TOTPIssuer = v
		}
	}
	c.VerifyTokenTTL = l.duration("VERIFY_TOKEN_TTL", 24*time.Hour, time.Second, 168*time.Hour, false)
	c.MFATokenTTL = l.duration("MFA_TOKEN_TTL", 5*time.Minute, time.Second, 30*time.Minute, false)
	c.RefreshReuseGrace = l.duration("REFRESH_REUSE_GRACE", 10*time.Second, time.Second, time.Minute, true)
	c.RefreshGraceReplays = l.integer("REFRESH_GRACE_REPLAYS", 3, 0, 10)

	c.LoginLimitPerIP = l.limit("LOGIN_LIMIT_PER_IP", auth.Limit{N: 20, Per: time.Minute})
	c.LoginLimitPerEmail = l.limit("LOGIN_LIMIT_PER_EMAIL", auth.Limit{N: 5, Per: time.Minute})
	c.ResetLimitPerEmail = l.limit("RESET_LIMIT_PER_EMAIL", auth.Limit{N: 3, Per: time.Hour})
	c.EmailLimitPerIP = l.limit("EMAIL_LIMIT_PER_IP", auth.Limit{N: 10, Per: time.Hour})
	c.SignupLimitPerIP = l.limit("SIGNUP_LIMIT_PER_IP", auth.Limit{N: 10, Per: time.Hour})
	c.TokenLimitPerIP = l.limit("TOKEN_LIMIT_PER_IP", auth.Limit{N: 30, Per: time.Minute})
	c.LockoutThreshold = l.integer("LOCKOUT_THRESHOLD", 10, 3, 100)
	c.LockoutDuration = l.duration("LOCKOUT_DURATION", 15*time.Minute, time.Second, 24*time.Hour, false)

	if err := errors.Join(l.errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// DevRelaxations lists what --dev relaxes in this configuration, for one
// start-up warning; nil outside dev.
func (c *Config) DevRelaxations() []string {
	if !c.Dev {
		return nil
	}
	var r []string
	if len(c.KeyEncryptionKey) == 0 {
		r = append(r, "key-encryption key generated into "+c.DataDir+" (it seals the signing keys and mail)")
	}
	if c.PublicURL != nil && c.PublicURL.Scheme == "http" {
		r = append(r, "http public URL "+c.PublicURL.String()+": cookies without Secure and without __Host- prefix")
	} else {
		r = append(r, "cookies without __Host- prefix")
	}
	r = append(r, "no Strict-Transport-Security header")
	if c.MailURL != nil && c.MailURL.Scheme == "file" {
		r = append(r, "mail written to files in "+c.MailURL.Path)
	}
	if c.DatabaseDriver == "sqlite" {
		r = append(r, "SQLite database in "+c.SQLitePath)
	}
	return r
}

// LogValue shows the configuration without its secrets.
func (c Config) LogValue() slog.Value {
	str := func(u *url.URL) string {
		if u == nil {
			return ""
		}
		return redactURL(u.String())
	}
	limit := func(l auth.Limit) string { return strconv.Itoa(l.N) + "/" + l.Per.String() }
	proxies := make([]string, len(c.TrustedProxies))
	for i, p := range c.TrustedProxies {
		proxies[i] = p.String()
	}
	from := ""
	if c.MailFrom != nil {
		from = c.MailFrom.String()
	}
	return slog.GroupValue(
		slog.Bool("dev", c.Dev),
		slog.String("addr", c.Addr),
		slog.String("public_url", str(c.PublicURL)),
		slog.String("tls_cert", c.TLSCert),
		slog.String("tls_key", c.TLSKey),
		slog.Any("trusted_proxies", proxies),
		slog.Any("cors_origins", c.CORSOrigins),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("webauthn_rp_id", c.WebAuthnRPID),
		slog.Any("webauthn_origins", c.WebAuthnOrigins),
		slog.String("webauthn_rp_name", c.WebAuthnRPName),
		slog.String("data_dir", c.DataDir),
		slog.String("database_url", redactURL(c.DatabaseURL)),
		slog.String("redis_url", str(c.RedisURL)),
		slog.String("redis_prefix", c.RedisPrefix),
		slog.Bool("auto_migrate", c.AutoMigrate),
		slog.String("mail_url", str(c.MailURL)),
		slog.String("mail_from", from),
		slog.Any("jwt_secret", c.JWTSecret),
		slog.Any("key_encryption_key", c.KeyEncryptionKey),
		slog.Int("key_encryption_keys_previous", len(c.KeyEncryptionKeysPrevious)),
		slog.String("signing_alg", c.SigningAlg),
		slog.String("key_rotation", c.KeyRotation.String()),
		slog.String("key_poll_interval", c.KeyPollInterval.String()),
		slog.Bool("email_verification_required", c.EmailVerificationRequired),
		slog.String("password_hasher", c.PasswordHasher),
		slog.Int("password_min_length", c.PasswordMinLength),
		slog.Int("bcrypt_cost", c.BcryptCost),
		slog.String("hash_worker", c.HashWorker),
		slog.String("session_ttl", c.SessionTTL.String()),
		slog.String("session_idle_ttl", c.SessionIdleTTL.String()),
		slog.String("access_token_ttl", c.AccessTokenTTL.String()),
		slog.String("refresh_token_ttl", c.RefreshTokenTTL.String()),
		slog.String("token_audience", c.TokenAudience),
		slog.String("reset_token_ttl", c.ResetTokenTTL.String()),
		slog.String("verify_token_ttl", c.VerifyTokenTTL.String()),
		slog.String("totp_issuer", c.TOTPIssuer),
		slog.String("mfa_token_ttl", c.MFATokenTTL.String()),
		slog.String("refresh_reuse_grace", c.RefreshReuseGrace.String()),
		slog.Int("refresh_grace_replays", c.RefreshGraceReplays),
		slog.String("login_limit_per_ip", limit(c.LoginLimitPerIP)),
		slog.String("login_limit_per_email", limit(c.LoginLimitPerEmail)),
		slog.String("reset_limit_per_email", limit(c.ResetLimitPerEmail)),
		slog.String("email_limit_per_ip", limit(c.EmailLimitPerIP)),
		slog.String("signup_limit_per_ip", limit(c.SignupLimitPerIP)),
		slog.String("token_limit_per_ip", limit(c.TokenLimitPerIP)),
		slog.Int("lockout_threshold", c.LockoutThreshold),
		slog.String("lockout_duration", c.LockoutDuration.String()),
	)
}

// String shows the configuration as key=value pairs, without its secrets.
func (c Config) String() string {
	var b strings.Builder
	for i, a := range c.LogValue().Group() {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%v", a.Key, a.Value.Resolve())
	}
	return b.String()
}

// Format makes every fmt verb (%v, %+v, %#v, %s, %x…) print String, so no
// formatting of a Config reaches its secret fields.
func (c Config) Format(f fmt.State, _ rune) { io.WriteString(f, c.String()) }

// Secret is key material that is never printed: fmt, slog, encoding/json and
// encoding/text show "[REDACTED]" (or "[not set]" when empty). It converts
// implicitly to []byte where one is expected.
type Secret []byte

func (s Secret) String() string {
	if len(s) == 0 {
		return "[not set]"
	}
	return "[REDACTED]"
}

// Format prints String for every verb, %x and %d included.
func (s Secret) Format(f fmt.State, _ rune) { io.WriteString(f, s.String()) }

// LogValue hides the secret from slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText hides the secret from text encoders.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// MarshalJSON hides the secret from encoding/json.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.String())), nil }

// redactURL returns raw with any password replaced: the userinfo password
// and query parameters that look like credentials (libpq's password and
// sslpassword, for example). What cannot be parsed is hidden whole.
func redactURL(raw string) string {
	if raw == "" {
		return ""
	}
	if strings.HasPrefix(raw, "sqlite://") || strings.HasPrefix(raw, "file://") {
		return raw // a path, no credential
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "[REDACTED]"
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			lk := strings.ToLower(k)
			if strings.Contains(lk, "pass") || strings.Contains(lk, "secret") ||
				strings.Contains(lk, "token") || strings.Contains(lk, "key") {
				q[k] = []string{"xxxxx"}
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// configLoader reads settings and collects every problem.
type configLoader struct {
	getenv func(string) string
	flags  map[string]string
	errs   []error
}

func (l *configLoader) errorf(setting, format string, args ...any) {
	l.errs = append(l.errs, fmt.Errorf("BULWARK_%s: %s", setting, fmt.Sprintf(format, args...)))
}

func (l *configLoader) checkFlags() {
	known := make(map[string]bool)
	for _, s := range configSettings() {
		known[flagName(s)] = true
	}
	var unknown []string
	for f := range l.flags {
		if !known[f] {
			unknown = append(unknown, f)
		}
	}
	// Map order is random; report in a stable order.
	slices.Sort(unknown)
	for _, f := range unknown {
		l.errs = append(l.errs, fmt.Errorf("--%s: unknown flag", f))
	}
}

// value returns the trimmed flag or environment value, "" when unset.
func (l *configLoader) value(setting string) string {
	if !listedSetting[setting] {
		// A setting read but not listed would have no flag and no help.
		panic("config: setting BULWARK_" + setting + " is not in configSettings")
	}
	if v, ok := l.flags[flagName(setting)]; ok {
		return strings.TrimSpace(v)
	}
	return strings.TrimSpace(l.getenv("BULWARK_" + setting))
}

func (l *configLoader) valueOr(setting, def string) string {
	if v := l.value(setting); v != "" {
		return v
	}
	return def
}

func (l *configLoader) integer(setting string, def, lo, hi int) int {
	v := l.value(setting)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		l.errorf(setting, "%q is not a whole number", v)
		return def
	}
	if n < lo || n > hi {
		l.errorf(setting, "%d is out of range (%d to %d)", n, lo, hi)
		return def
	}
	return n
}

// duration parses a Go duration in [lo, hi], or 0 when zeroOK.
func (l *configLoader) duration(setting string, def, lo, hi time.Duration, zeroOK bool) time.Duration {
	v := l.value(setting)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		l.errorf(setting, "%q is not a duration (Go syntax: 90s, 15m, 24h)", v)
		return def
	}
	if d == 0 && zeroOK {
		return 0
	}
	if d < lo || d > hi {
		zero := ""
		if zeroOK {
			zero = ", or 0 for off"
		}
		l.errorf(setting, "%s is out of range (%s to %s%s)", d, lo, hi, zero)
		return def
	}
	return d
}

func (l *configLoader) boolean(setting string, def bool) bool {
	v := l.value(setting)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		l.errorf(setting, "%q is not true or false", v)
		return def
	}
	return b
}

// enum returns the lower-cased value if it is one of allowed.
func (l *configLoader) enum(setting, def string, allowed ...string) string {
	v := strings.ToLower(l.value(setting))
	if v == "" {
		return def
	}
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	l.errorf(setting, "%q is not one of %s", v, strings.Join(allowed, ", "))
	return def
}

// limit parses "N/duration": 1 ≤ N ≤ 1,000,000 events per 1s to 720h.
func (l *configLoader) limit(setting string, def auth.Limit) auth.Limit {
	v := l.value(setting)
	if v == "" {
		return def
	}
	ns, ds, ok := strings.Cut(v, "/")
	if !ok {
		l.errorf(setting, "%q is not a limit N/duration, such as 5/1m", v)
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(ns))
	if err != nil {
		l.errorf(setting, "%q is not a limit N/duration: N is not a whole number", v)
		return def
	}
	d, err := time.ParseDuration(strings.TrimSpace(ds))
	if err != nil {
		l.errorf(setting, "%q is not a limit N/duration: %q is not a duration", v, ds)
		return def
	}
	bad := false
	if n < 1 || n > maxLimitN {
		l.errorf(setting, "%d events is out of range (1 to %d)", n, maxLimitN)
		bad = true
	}
	if d < time.Second || d > 720*time.Hour {
		l.errorf(setting, "window %s is out of range (1s to 720h)", d)
		bad = true
	}
	if bad {
		return def
	}
	return auth.Limit{N: n, Per: d}
}

func (l *configLoader) addr(setting, def string) string {
	v := l.valueOr(setting, def)
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		l.errorf(setting, "%q is not host:port", v)
		return v
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		l.errorf(setting, "%q has no valid port number", v)
	}
	return v
}

// publicURL parses BULWARK_PUBLIC_URL: http(s)://host[:port][/path], no
// user, query or fragment, trailing slashes dropped; https in production.
func (l *configLoader) publicURL(dev, required bool, addr string) *url.URL {
	const setting = "PUBLIC_URL"
	v := l.value(setting)
	if v == "" {
		if !dev {
			if required {
				l.errorf(setting, "required in production (https://…)")
			}
			return nil
		}
		v = devPublicURL(addr)
	}
	return l.baseURL(setting, v, dev)
}

// devPublicURL is the dev public URL when none is set: the listen address,
// so that `--dev --addr 127.0.0.1:9000` links and issues tokens for port
// 9000. A wildcard host becomes 127.0.0.1; port 0 (a free port, chosen
// when listening) keeps the default http://127.0.0.1:8080: set
// BULWARK_PUBLIC_URL when that matters.
func devPublicURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "0" || port == "" {
		return "http://127.0.0.1:8080"
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// mailLinks sets the pages mail links point at: BULWARK_APP_URL (the
// application's base URL, the public URL by default) followed by
// BULWARK_VERIFY_EMAIL_PATH and BULWARK_RESET_PASSWORD_PATH. The token is
// appended as a fragment, so a path may carry a query but no fragment. The
// forgot-password page, which takes no token, is "/forgot-password" there.
func (l *configLoader) mailLinks(c *Config, dev bool) {
	base := c.PublicURL
	if v := l.value("APP_URL"); v != "" {
		base = l.baseURL("APP_URL", v, dev)
	}
	path := func(setting, def string) string {
		v := l.valueOr(setting, def)
		if !strings.HasPrefix(v, "/") || strings.HasPrefix(v, "//") || strings.ContainsAny(v, "#\\ \t\r\n") {
			l.errorf(setting, "%q is not a path starting with one / (a query is allowed, a fragment is not)", v)
			return def
		}
		if _, err := url.ParseRequestURI(v); err != nil {
			l.errorf(setting, "%q is not a valid path", v)
			return def
		}
		return v
	}
	verify, reset := path("VERIFY_EMAIL_PATH", "/verify-email"), path("RESET_PASSWORD_PATH", "/reset-password")
	if base != nil {
		c.VerifyEmailURL = base.String() + verify
		c.ResetPasswordURL = base.String() + reset
		c.ForgotPasswordURL = base.String() + "/forgot-password"
	}
}

// baseURL parses an absolute http(s) base URL: no user, query or fragment,
// trailing slashes dropped; https in production.
func (l *configLoader) baseURL(setting, v string, dev bool) *url.URL {
	u, err := url.Parse(v)
	if err != nil || u.Opaque != "" || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		l.errorf(setting, "not an absolute http or https URL")
		return nil
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		l.errorf(setting, "must not have a user, query or fragment")
		return nil
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			l.errorf(setting, "invalid port %q", p)
			return nil
		}
	}
	if !dev && u.Scheme != "https" {
		l.errorf(setting, "must be https in production")
		return nil
	}
	u.Host = strings.ToLower(u.Host)
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u
}

// database parses BULWARK_DATABASE_URL into c.
func (l *configLoader) database(c *Config, dev, required bool) {
	const setting = "DATABASE_URL"
	v := l.value(setting)
	if v == "" {
		if !dev {
			if required {
				l.errorf(setting, "required in production (sqlite:///path/to/file.db or postgres://…)")
			}
			return
		}
		v = "sqlite://" + filepath.Join(c.DataDir, "bulwark.db")
	}
	switch {
	case strings.HasPrefix(v, "sqlite://"):
		path := strings.TrimPrefix(v, "sqlite://")
		if path == "" || strings.ContainsAny(path, "?#") {
			l.errorf(setting, "a sqlite URL is sqlite:///absolute/path or sqlite://relative/path, without query")
			return
		}
		c.DatabaseURL, c.DatabaseDriver, c.SQLitePath = v, "sqlite", path
	case strings.HasPrefix(v, "postgres://") || strings.HasPrefix(v, "postgresql://"):
		// Never echo the URL or url.Parse's error: both may hold the password.
		if _, err := url.Parse(v); err != nil {
			l.errorf(setting, "malformed postgres URL")
			return
		}
		c.DatabaseURL, c.DatabaseDriver = v, "postgres"
	default:
		l.errorf(setting, "unsupported scheme: use sqlite:// or postgres://")
	}
}

func (l *configLoader) redisURL(setting string) *url.URL {
	v := l.value(setting)
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		l.errorf(setting, "not a redis://host:port or rediss://host:port URL")
		return nil
	}
	return u
}

func (l *configLoader) redisPrefix(setting string) string {
	v := l.valueOr(setting, "bulwark:")
	if len(v) > 64 {
		l.errorf(setting, "longer than 64 bytes")
	}
	for _, r := range v {
		if r <= ' ' || r > '~' {
			l.errorf(setting, "%q must be printable ASCII without spaces", v)
			break
		}
	}
	return v
}

// mailURL parses BULWARK_MAIL_URL: smtp://, smtps:// or file://dir.
func (l *configLoader) mailURL(dataDir string, dev, required bool) *url.URL {
	const setting = "MAIL_URL"
	v := l.value(setting)
	if v == "" {
		if !dev {
			if required {
				l.errorf(setting, "required in production (smtp://user:pass@host:port, smtps://… or file:///dir)")
			}
			return nil
		}
		return &url.URL{Scheme: "file", Path: filepath.Join(dataDir, "outbox")}
	}
	if dir, ok := strings.CutPrefix(v, "file://"); ok {
		if dir == "" || strings.ContainsAny(dir, "?#") {
			l.errorf(setting, "a file URL is file:///absolute/dir or file://relative/dir")
			return nil
		}
		return &url.URL{Scheme: "file", Path: dir}
	}
	// Never echo the URL or url.Parse's error: both may hold the password.
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
		l.errorf(setting, "not an smtp://, smtps:// or file:// URL")
		return nil
	}
	if (u.Path != "" && u.Path != "/") || u.Fragment != "" {
		l.errorf(setting, "an smtp URL has no path or fragment")
		return nil
	}
	// The one query parameter: ?tls=required|opportunistic|none on smtp://
	// (STARTTLS is required unless the URL says otherwise).
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		tls := q.Get("tls")
		if err != nil || len(q) != 1 || len(q["tls"]) != 1 || u.Scheme != "smtp" ||
			(tls != "required" && tls != "opportunistic" && tls != "none") {
			l.errorf(setting, "the only query parameter is tls=required|opportunistic|none, on smtp:// URLs")
			return nil
		}
	}
	if p := u.Port(); p == "" {
		port := "587"
		if u.Scheme == "smtps" {
			port = "465"
		}
		u.Host = net.JoinHostPort(u.Hostname(), port)
	} else if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
		l.errorf(setting, "invalid port")
		return nil
	}
	u.Path = ""
	return u
}

func (l *configLoader) mailFrom(public *url.URL) *mail.Address {
	const setting = "MAIL_FROM"
	v := l.value(setting)
	if v == "" {
		host := "localhost"
		if public != nil {
			if h := public.Hostname(); h != "" && !strings.Contains(h, ":") {
				host = h
			}
		}
		return &mail.Address{Name: "Bulwark", Address: "no-reply@" + host}
	}
	a, err := mail.ParseAddress(v)
	if err != nil {
		l.errorf(setting, "%q is not a mail address such as \"Bulwark <no-reply@example.com>\"", v)
		return nil
	}
	return a
}

// key decodes a base64 secret (standard or URL alphabet, padding optional)
// of at least minBytes. Messages never include the value.
func (l *configLoader) key(setting string, minBytes int) Secret {
	v := l.value(setting)
	if v == "" {
		return nil
	}
	b, err := decodeBase64(v)
	if err != nil {
		l.errorf(setting, "not base64 (standard or URL alphabet)")
		return nil
	}
	if len(b) < minBytes {
		l.errorf(setting, "too short: %d bytes decoded, at least %d random bytes needed", len(b), minBytes)
		return nil
	}
	return Secret(b)
}

// decodeBase64 accepts the standard and the URL alphabet, with or without
// padding, and refuses non-canonical encodings.
func decodeBase64(s string) ([]byte, error) {
	enc := base64.StdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.URLEncoding
	}
	if !strings.HasSuffix(s, "=") {
		enc = enc.WithPadding(base64.NoPadding)
	}
	return enc.Strict().DecodeString(s)
}

// trustedProxies parses comma-separated CIDRs or bare IPs. A CIDR with host
// bits set is refused: it is more likely a typo than a network.
func (l *configLoader) trustedProxies(setting string) []netip.Prefix {
	var out []netip.Prefix
	for _, item := range splitList(l.value(setting)) {
		if !strings.Contains(item, "/") {
			a, err := netip.ParseAddr(item)
			if err != nil || a.Zone() != "" {
				l.errorf(setting, "%q is not an IP address or CIDR", item)
				continue
			}
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(item)
		if err != nil {
			l.errorf(setting, "%q is not an IP address or CIDR", item)
			continue
		}
		if p.Masked() != p {
			l.errorf(setting, "%q has host bits set (did you mean %s?)", item, p.Masked())
			continue
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p)
	}
	return out
}

// corsOrigins parses comma-separated origins into canonical form.
func (l *configLoader) corsOrigins(setting string) []string {
	var out []string
	seen := make(map[string]bool)
	for _, item := range splitList(l.value(setting)) {
		if item == "*" || strings.Contains(item, "*") {
			l.errorf(setting, "wildcards are never allowed: list each origin")
			continue
		}
		u, err := url.Parse(item)
		if err != nil || u.Opaque != "" || u.Hostname() == "" || (u.Scheme != "http" && u.Scheme != "https") ||
			u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
			l.errorf(setting, "%q is not an origin scheme://host[:port]", item)
			continue
		}
		host := strings.ToLower(u.Hostname())
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		if p := u.Port(); p != "" {
			n, err := strconv.ParseUint(p, 10, 16)
			if err != nil || n == 0 {
				l.errorf(setting, "%q has an invalid port", item)
				continue
			}
			if !(u.Scheme == "https" && n == 443) && !(u.Scheme == "http" && n == 80) {
				host += ":" + strconv.FormatUint(n, 10)
			}
		}
		origin := u.Scheme + "://" + host
		if !seen[origin] {
			seen[origin] = true
			out = append(out, origin)
		}
	}
	return out
}

func (l *configLoader) logLevel(setting string) slog.Level {
	switch v := strings.ToLower(l.valueOr(setting, "info")); v {
	case "debug":
		return slog.LevelDebug
	case "info":
		return slog.LevelInfo
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		l.errorf(setting, "%q is not one of debug, info, warn, error", v)
		return slog.LevelInfo
	}
}

// splitList splits a comma-separated value, trimming items and skipping
// empty ones.
func splitList(v string) []string {
	var out []string
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
