package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// env returns a getenv over m.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// secret32 is a valid JWT secret: 32 bytes, standard base64.
var secret32 = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

// prodEnv is a complete production environment.
func prodEnv() map[string]string {
	return map[string]string{
		"BULWARK_PUBLIC_URL":   "https://auth.example.com/",
		"BULWARK_DATABASE_URL": "postgres://bulwark:pw@db.internal:5432/bulwark?sslmode=require",
		"BULWARK_MAIL_URL":     "smtps://mailer:pw@smtp.example.com",
		"BULWARK_JWT_SECRET":   secret32,
		// Another value than the JWT secret: tests tell them apart.
		"BULWARK_KEY_ENCRYPTION_KEY": kek32,
	}
}

func load(t *testing.T, m map[string]string, flags map[string]string, dev bool) *Config {
	t.Helper()
	c, err := LoadConfig(env(m), flags, dev)
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	return c
}

// loadErr returns the joined error's messages.
func loadErr(t *testing.T, m map[string]string, flags map[string]string, dev bool) []string {
	t.Helper()
	c, err := LoadConfig(env(m), flags, dev)
	if err == nil {
		t.Fatalf("LoadConfig succeeded (%v), want an error", c)
	}
	if c != nil {
		t.Errorf("LoadConfig returned a config with its error")
	}
	var msgs []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			msgs = append(msgs, e.Error())
		}
	} else {
		msgs = []string{err.Error()}
	}
	return msgs
}

func hasPrefix(msgs []string, prefix string) bool {
	for _, m := range msgs {
		if strings.HasPrefix(m, prefix) {
			return true
		}
	}
	return false
}

func TestLoadConfigDevDefaults(t *testing.T) {
	c := load(t, nil, nil, true)
	want := Config{
		Dev:                       true,
		Addr:                      "127.0.0.1:8080",
		AdminAddr:                 "127.0.0.1:8081",
		VerifyEmailURL:            "http://127.0.0.1:8080/verify-email",
		ResetPasswordURL:          "http://127.0.0.1:8080/reset-password",
		ForgotPasswordURL:         "http://127.0.0.1:8080/forgot-password",
		LogLevel:                  slog.LevelInfo,
		DataDir:                   "./data",
		DatabaseURL:               "sqlite://data/bulwark.db",
		DatabaseDriver:            "sqlite",
		SQLitePath:                "data/bulwark.db",
		RedisPrefix:               "bulwark:",
		AutoMigrate:               true,
		EmailVerificationRequired: true,
		PasswordHasher:            "argon2id",
		PasswordMinLength:         15,
		BcryptCost:                12,
		HashWorker:                "process",
		SessionTTL:                24 * time.Hour,
		SessionIdleTTL:            0,
		AccessTokenTTL:            15 * time.Minute,
		RefreshTokenTTL:           720 * time.Hour,
		TokenAudience:             "http://127.0.0.1:8080",
		ResetTokenTTL:             time.Hour,
		VerifyTokenTTL:            24 * time.Hour,
		MFATokenTTL:               5 * time.Minute,
		TOTPIssuer:                "Bulwark",
		RefreshReuseGrace:         10 * time.Second,
		RefreshGraceReplays:       3,
		LoginLimitPerIP:           auth.Limit{N: 20, Per: time.Minute},
		LoginLimitPerEmail:        auth.Limit{N: 5, Per: time.Minute},
		ResetLimitPerEmail:        auth.Limit{N: 3, Per: time.Hour},
		EmailLimitPerIP:           auth.Limit{N: 10, Per: time.Hour},
		SignupLimitPerIP:          auth.Limit{N: 10, Per: time.Hour},
		TokenLimitPerIP:           auth.Limit{N: 30, Per: time.Minute},
		LockoutThreshold:          10,
		LockoutDuration:           15 * time.Minute,
		SigningAlg:                "EdDSA",
		KeyPollInterval:           30 * time.Second,
		WebAuthnRPID:              "127.0.0.1",
		WebAuthnOrigins:           []string{"http://127.0.0.1:8080"},
		WebAuthnRPName:            "Bulwark",
	}
	// Compare the pointer fields apart, then the rest in one go.
	if got := c.PublicURL.String(); got != "http://127.0.0.1:8080" {
		t.Errorf("PublicURL = %q, want http://127.0.0.1:8080", got)
	}
	if c.MailURL.Scheme != "file" || c.MailURL.Path != "data/outbox" {
		t.Errorf("MailURL = %s %q, want file data/outbox", c.MailURL.Scheme, c.MailURL.Path)
	}
	if got := c.MailFrom.String(); got != `"Bulwark" <no-reply@127.0.0.1>` {
		t.Errorf("MailFrom = %s", got)
	}
	if c.RedisURL != nil || c.JWTSecret != nil || c.KeyEncryptionKey != nil ||
		c.TrustedProxies != nil || c.CORSOrigins != nil || c.TLSCert != "" || c.TLSKey != "" {
		t.Errorf("optional settings not empty: %v", c)
	}
	got := *c
	got.PublicURL, got.MailURL, got.MailFrom = nil, nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("dev defaults:\n got %v\nwant %v", got, want)
	}
}

func TestLoadConfigProductionRequiresEverything(t *testing.T) {
	msgs := loadErr(t, nil, nil, false)
	for _, s := range []string{"BULWARK_PUBLIC_URL: ", "BULWARK_DATABASE_URL: ", "BULWARK_MAIL_URL: ", "BULWARK_JWT_SECRET: ", "BULWARK_KEY_ENCRYPTION_KEY: "} {
		if !hasPrefix(msgs, s) {
			t.Errorf("error does not name %s\n%s", s, strings.Join(msgs, "\n"))
		}
	}
	if len(msgs) != 5 {
		t.Errorf("got %d errors, want 5:\n%s", len(msgs), strings.Join(msgs, "\n"))
	}
}

func TestLoadConfigProduction(t *testing.T) {
	c := load(t, prodEnv(), nil, false)
	if got := c.PublicURL.String(); got != "https://auth.example.com" {
		t.Errorf("PublicURL = %q, want the trailing slash dropped", got)
	}
	if c.TokenAudience != "https://auth.example.com" {
		t.Errorf("TokenAudience = %q", c.TokenAudience)
	}
	if c.DatabaseDriver != "postgres" || c.DatabaseURL != prodEnv()["BULWARK_DATABASE_URL"] {
		t.Errorf("database = %q %q", c.DatabaseDriver, c.DatabaseURL)
	}
	if c.MailURL.Scheme != "smtps" || c.MailURL.Host != "smtp.example.com:465" {
		t.Errorf("MailURL = %s", c.MailURL.Redacted())
	}
	if pw, _ := c.MailURL.User.Password(); pw != "pw" || c.MailURL.User.Username() != "mailer" {
		t.Errorf("MailURL user lost")
	}
	if got := c.MailFrom.Address; got != "no-reply@auth.example.com" {
		t.Errorf("MailFrom = %q", got)
	}
	if string(c.JWTSecret) != "0123456789abcdef0123456789abcdef" {
		t.Errorf("JWTSecret not decoded")
	}
	if r := c.DevRelaxations(); r != nil {
		t.Errorf("DevRelaxations in production = %q, want nil", r)
	}

	// Managed keys instead of a JWT secret.
	m := prodEnv()
	delete(m, "BULWARK_JWT_SECRET")
	m["BULWARK_KEY_ENCRYPTION_KEY"] = secret32
	c = load(t, m, nil, false)
	if c.JWTSecret != nil || len(c.KeyEncryptionKey) != 32 {
		t.Errorf("keys: jwt %d bytes, kek %d bytes", len(c.JWTSecret), len(c.KeyEncryptionKey))
	}
}

func TestLoadConfigProductionRefusesHTTP(t *testing.T) {
	m := prodEnv()
	m["BULWARK_PUBLIC_URL"] = "http://auth.example.com"
	msgs := loadErr(t, m, nil, false)
	if !hasPrefix(msgs, "BULWARK_PUBLIC_URL: must be https") {
		t.Errorf("got %q", msgs)
	}
	// Dev accepts it.
	load(t, m, nil, true)
}

func TestLoadConfigJWTSecretTooShort(t *testing.T) {
	const canary = "CANARYCANARY" // 9 bytes decoded
	for _, dev := range []bool{true, false} {
		m := prodEnv()
		m["BULWARK_JWT_SECRET"] = canary
		msgs := loadErr(t, m, nil, dev)
		if !hasPrefix(msgs, "BULWARK_JWT_SECRET: too short") {
			t.Errorf("dev=%v: got %q", dev, msgs)
		}
		if strings.Contains(strings.Join(msgs, "\n"), canary) {
			t.Errorf("dev=%v: error shows the secret", dev)
		}
	}
	m := prodEnv()
	m["BULWARK_KEY_ENCRYPTION_KEY"] = canary
	if msgs := loadErr(t, m, nil, true); !hasPrefix(msgs, "BULWARK_KEY_ENCRYPTION_KEY: too short") {
		t.Errorf("short key-encryption key: got %q", msgs)
	}
}

func TestLoadConfigSecretEncodings(t *testing.T) {
	// 0xfb 0xff… encodes to characters that differ between the alphabets.
	raw := bytes.Repeat([]byte{0xfb, 0xff, 0xbf}, 11) // 33 bytes
	raw = raw[:32]
	for _, tc := range []struct {
		name, value string
	}{
		{"std padded", base64.StdEncoding.EncodeToString(raw)},
		{"std raw", base64.RawStdEncoding.EncodeToString(raw)},
		{"url padded", base64.URLEncoding.EncodeToString(raw)},
		{"url raw", base64.RawURLEncoding.EncodeToString(raw)},
		{"surrounding space", "  " + base64.RawURLEncoding.EncodeToString(raw) + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := load(t, map[string]string{"BULWARK_JWT_SECRET": tc.value, "BULWARK_KEY_ENCRYPTION_KEY": tc.value}, nil, true)
			if !bytes.Equal(c.JWTSecret, raw) || !bytes.Equal(c.KeyEncryptionKey, raw) {
				t.Errorf("decoded %x, want %x", []byte(c.JWTSecret), raw)
			}
		})
	}
	if !strings.ContainsAny(base64.RawURLEncoding.EncodeToString(raw), "-_") {
		t.Fatal("test vector does not exercise the URL alphabet")
	}
	std := base64.RawStdEncoding.EncodeToString(raw)
	for _, bad := range []string{
		"not base64 at all!!",
		std[:10] + "-" + std[11:], // both alphabets
		std + "==",                // wrong padding
		std[:len(std)-1] + "B",    // non-canonical trailing bits
	} {
		if msgs := loadErr(t, map[string]string{"BULWARK_JWT_SECRET": bad}, nil, true); !hasPrefix(msgs, "BULWARK_JWT_SECRET: not base64") {
			t.Errorf("%q: got %q", bad, msgs)
		}
	}
}

func TestLoadConfigFlagsOverrideEnv(t *testing.T) {
	m := map[string]string{
		"BULWARK_PUBLIC_URL":         "http://env.example:8080",
		"BULWARK_LOGIN_LIMIT_PER_IP": "7/1m",
		"BULWARK_BCRYPT_COST":        "9", // invalid, but the flag wins
		"BULWARK_LOG_LEVEL":          "debug",
	}
	flags := map[string]string{
		"public-url":         "https://flag.example",
		"login-limit-per-ip": "99/1h",
		"bcrypt-cost":        "13",
		"log-level":          "", // present but empty: the default
	}
	c := load(t, m, flags, true)
	if got := c.PublicURL.String(); got != "https://flag.example" {
		t.Errorf("PublicURL = %q", got)
	}
	if c.LoginLimitPerIP != (auth.Limit{N: 99, Per: time.Hour}) {
		t.Errorf("LoginLimitPerIP = %v", c.LoginLimitPerIP)
	}
	if c.BcryptCost != 13 {
		t.Errorf("BcryptCost = %d", c.BcryptCost)
	}
	if c.LogLevel != slog.LevelInfo {
		t.Errorf("LogLevel = %v, want the default", c.LogLevel)
	}

	msgs := loadErr(t, nil, map[string]string{"public_url": "x", "PUBLIC-URL": "y"}, true)
	if !hasPrefix(msgs, "--public_url: unknown flag") || !hasPrefix(msgs, "--PUBLIC-URL: unknown flag") {
		t.Errorf("unknown flags: got %q", msgs)
	}
}

func TestConfigSettingsHaveFlags(t *testing.T) {
	// Every setting can be set by flag; the flag names are what the lead
	// registers.
	for _, s := range configSettings() {
		if _, err := LoadConfig(env(nil), map[string]string{flagName(s): ""}, true); err != nil {
			t.Errorf("--%s: %v", flagName(s), err)
		}
	}
}

func TestLoadConfigOutOfRange(t *testing.T) {
	for _, tc := range []struct {
		setting, value string
	}{
		{"BCRYPT_COST", "9"},
		{"BCRYPT_COST", "16"},
		{"BCRYPT_COST", "twelve"},
		{"HASH_WORKER", "thread"},
		{"LOCKOUT_THRESHOLD", "2"},
		{"LOCKOUT_THRESHOLD", "101"},
		{"PASSWORD_MIN_LENGTH", "7"},
		{"PASSWORD_MIN_LENGTH", "65"},
		{"LOGIN_LIMIT_PER_IP", "0/1m"},
		{"LOGIN_LIMIT_PER_EMAIL", "-5/1m"},
		{"RESET_LIMIT_PER_EMAIL", "3/0s"},
		{"EMAIL_LIMIT_PER_IP", "10/-1h"},
		{"SIGNUP_LIMIT_PER_IP", "10"},
		{"TOKEN_LIMIT_PER_IP", "30/minute"},
		{"TOKEN_LIMIT_PER_IP", "x/1m"},
		{"TOKEN_LIMIT_PER_IP", "5/1m/2"},
		{"LOGIN_LIMIT_PER_IP", "2000000/1m"},
		{"SESSION_TTL", "0"},
		{"SESSION_TTL", "-1h"},
		{"SESSION_TTL", "1d"},
		{"SESSION_IDLE_TTL", "-1m"},
		{"SESSION_IDLE_TTL", "48h"}, // longer than the session
		{"ACCESS_TOKEN_TTL", "0s"},
		{"ACCESS_TOKEN_TTL", "2h"},
		{"REFRESH_TOKEN_TTL", "-720h"},
		{"RESET_TOKEN_TTL", "0"},
		{"VERIFY_TOKEN_TTL", "-24h"},
		{"MFA_TOKEN_TTL", "0"},
		{"TOTP_ISSUER", "Acme:Corp"},
		{"TOTP_ISSUER", strings.Repeat("a", 65)},
		{"REFRESH_REUSE_GRACE", "-10s"},
		{"REFRESH_REUSE_GRACE", "1h"},
		{"LOCKOUT_DURATION", "0"},
		{"LOCKOUT_DURATION", "-15m"},
		{"EMAIL_VERIFICATION", "optional"},
		{"PASSWORD_HASHER", "md5"},
		{"LOG_LEVEL", "trace"},
		{"AUTO_MIGRATE", "maybe"},
		{"ADDR", "8080"},
		{"ADDR", "127.0.0.1:http-alt"},
		{"PUBLIC_URL", "auth.example.com"},
		{"PUBLIC_URL", "https://auth.example.com/?x=1"},
		{"PUBLIC_URL", "https://user@auth.example.com"},
		{"PUBLIC_URL", "ftp://auth.example.com"},
		{"DATABASE_URL", "mysql://db/bulwark"},
		{"DATABASE_URL", "sqlite://"},
		{"DATABASE_URL", "/var/lib/bulwark.db"},
		{"REDIS_URL", "localhost:6379"},
		{"REDIS_PREFIX", "has space:"},
		{"MAIL_URL", "http://mail.example.com"},
		{"MAIL_URL", "smtp://smtp.example.com:0"},
		{"MAIL_URL", "smtp://smtp.example.com?tls=maybe"},
		{"MAIL_URL", "smtp://smtp.example.com?tls=none&x=1"},
		{"MAIL_URL", "smtps://smtp.example.com?tls=none"},
		{"MAIL_URL", "file://"},
		{"MAIL_FROM", "not an address"},
		{"TRUSTED_PROXIES", "10.0.0.0/33"},
		{"TRUSTED_PROXIES", "10.0.0.1/8"},
		{"TRUSTED_PROXIES", "proxy.internal"},
		{"CORS_ORIGINS", "*"},
		{"CORS_ORIGINS", "https://*.example.com"},
		{"CORS_ORIGINS", "https://app.example.com/path"},
		{"CORS_ORIGINS", "app.example.com"},
		{"CORS_ORIGINS", "null"},
	} {
		t.Run(tc.setting+"="+tc.value, func(t *testing.T) {
			for _, dev := range []bool{true, false} {
				m := prodEnv()
				m["BULWARK_"+tc.setting] = tc.value
				msgs := loadErr(t, m, nil, dev)
				if !hasPrefix(msgs, "BULWARK_"+tc.setting+": ") {
					t.Errorf("dev=%v: got %q", dev, msgs)
				}
				if len(msgs) != 1 {
					t.Errorf("dev=%v: got %d errors, want 1: %q", dev, len(msgs), msgs)
				}
			}
		})
	}
}

func TestLoadConfigInRangeEdges(t *testing.T) {
	m := map[string]string{
		"BULWARK_BCRYPT_COST":         "10",
		"BULWARK_LOCKOUT_THRESHOLD":   "3",
		"BULWARK_PASSWORD_MIN_LENGTH": "64",
		"BULWARK_REFRESH_REUSE_GRACE": "0",
		"BULWARK_SESSION_IDLE_TTL":    "30m",
		"BULWARK_EMAIL_VERIFICATION":  "OFF",
		"BULWARK_PASSWORD_HASHER":     "bcrypt",
		"BULWARK_LOG_LEVEL":           "WARN",
		"BULWARK_AUTO_MIGRATE":        "false",
		"BULWARK_ADDR":                ":0",
		"BULWARK_TOKEN_LIMIT_PER_IP":  "1000/1s",
		"BULWARK_TOKEN_AUDIENCE":      "https://api.example.com",
		"BULWARK_MAIL_FROM":           "Example Auth <auth@example.com>",
		"BULWARK_HASH_WORKER":         "inline",
	}
	c := load(t, m, nil, true)
	if c.BcryptCost != 10 || c.LockoutThreshold != 3 || c.PasswordMinLength != 64 ||
		c.RefreshReuseGrace != 0 || c.SessionIdleTTL != 30*time.Minute || c.EmailVerificationRequired ||
		c.PasswordHasher != "bcrypt" || c.LogLevel != slog.LevelWarn || c.AutoMigrate || c.Addr != ":0" ||
		c.TokenLimitPerIP != (auth.Limit{N: 1000, Per: time.Second}) || c.TokenAudience != "https://api.example.com" ||
		c.MailFrom.Address != "auth@example.com" || c.MailFrom.Name != "Example Auth" || c.HashWorker != "inline" {
		t.Errorf("got %v", c)
	}
}

func TestLoadConfigReportsEveryProblem(t *testing.T) {
	m := map[string]string{
		"BULWARK_BCRYPT_COST":        "9",
		"BULWARK_LOCKOUT_THRESHOLD":  "1000",
		"BULWARK_LOGIN_LIMIT_PER_IP": "0/1m",
		"BULWARK_SESSION_TTL":        "-1s",
		"BULWARK_TLS_CERT":           "/etc/bulwark/cert.pem",
	}
	msgs := loadErr(t, m, nil, false)
	for _, s := range []string{
		"BULWARK_PUBLIC_URL", "BULWARK_DATABASE_URL", "BULWARK_MAIL_URL", "BULWARK_JWT_SECRET",
		"BULWARK_KEY_ENCRYPTION_KEY", "BULWARK_BCRYPT_COST", "BULWARK_LOCKOUT_THRESHOLD", "BULWARK_LOGIN_LIMIT_PER_IP",
		"BULWARK_SESSION_TTL", "BULWARK_TLS_KEY",
	} {
		if !hasPrefix(msgs, s+": ") {
			t.Errorf("error does not name %s", s)
		}
	}
	if len(msgs) != 10 {
		t.Errorf("got %d errors, want 10:\n%s", len(msgs), strings.Join(msgs, "\n"))
	}
}

func TestLoadConfigTLSBothOrNeither(t *testing.T) {
	if msgs := loadErr(t, map[string]string{"BULWARK_TLS_KEY": "key.pem"}, nil, true); !hasPrefix(msgs, "BULWARK_TLS_CERT: ") {
		t.Errorf("got %q", msgs)
	}
	c := load(t, map[string]string{"BULWARK_TLS_KEY": "key.pem", "BULWARK_TLS_CERT": "cert.pem"}, nil, true)
	if c.TLSCert != "cert.pem" || c.TLSKey != "key.pem" {
		t.Errorf("TLS = %q %q", c.TLSCert, c.TLSKey)
	}
}

func TestLoadConfigTrustedProxies(t *testing.T) {
	c := load(t, map[string]string{
		"BULWARK_TRUSTED_PROXIES": " 10.0.0.0/8, 192.0.2.7 ,2001:db8::/32,, ::1, ::ffff:198.51.100.1, ::ffff:203.0.113.0/120",
	}, nil, true)
	var want []netip.Prefix
	for _, s := range []string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32", "::1/128", "198.51.100.1/32", "203.0.113.0/24"} {
		want = append(want, netip.MustParsePrefix(s))
	}
	if !reflect.DeepEqual(c.TrustedProxies, want) {
		t.Errorf("TrustedProxies = %v, want %v", c.TrustedProxies, want)
	}
	if !c.TrustedProxies[0].Contains(netip.MustParseAddr("10.1.2.3")) {
		t.Error("10.0.0.0/8 does not contain 10.1.2.3")
	}
}

func TestLoadConfigCORSOrigins(t *testing.T) {
	c := load(t, map[string]string{
		"BULWARK_CORS_ORIGINS": "https://App.Example.com, https://app.example.com:443/, http://localhost:3000,http://[::1]:5173, https://app.example.com",
	}, nil, true)
	want := []string{"https://app.example.com", "http://localhost:3000", "http://[::1]:5173"}
	if !reflect.DeepEqual(c.CORSOrigins, want) {
		t.Errorf("CORSOrigins = %q, want %q", c.CORSOrigins, want)
	}
}

func TestLoadConfigDatabaseAndMailURLs(t *testing.T) {
	for _, tc := range []struct {
		db, driver, path string
	}{
		{"sqlite:///var/lib/bulwark/bulwark.db", "sqlite", "/var/lib/bulwark/bulwark.db"},
		{"sqlite://relative/bulwark.db", "sqlite", "relative/bulwark.db"},
		{"sqlite://./x.db", "sqlite", "./x.db"},
		{"postgres://u:p@localhost/bulwark", "postgres", ""},
		{"postgresql://localhost/bulwark", "postgres", ""},
	} {
		c := load(t, map[string]string{"BULWARK_DATABASE_URL": tc.db}, nil, true)
		if c.DatabaseDriver != tc.driver || c.SQLitePath != tc.path || c.DatabaseURL != tc.db {
			t.Errorf("%s: driver %q path %q url %q", tc.db, c.DatabaseDriver, c.SQLitePath, c.DatabaseURL)
		}
	}
	for _, tc := range []struct {
		mail, scheme, host, path string
	}{
		{"file:///var/spool/bulwark", "file", "", "/var/spool/bulwark"},
		{"file://./outbox", "file", "", "./outbox"},
		{"smtp://mail.example.com", "smtp", "mail.example.com:587", ""},
		{"smtp://u:p@mail.example.com:2525", "smtp", "mail.example.com:2525", ""},
		{"smtps://mail.example.com", "smtps", "mail.example.com:465", ""},
		{"smtp://127.0.0.1:1025?tls=none", "smtp", "127.0.0.1:1025", ""},
	} {
		c := load(t, map[string]string{"BULWARK_MAIL_URL": tc.mail}, nil, true)
		if c.MailURL.Scheme != tc.scheme || c.MailURL.Host != tc.host || c.MailURL.Path != tc.path {
			t.Errorf("%s: got %s %q %q", tc.mail, c.MailURL.Scheme, c.MailURL.Host, c.MailURL.Path)
		}
	}
	c := load(t, map[string]string{"BULWARK_DATA_DIR": "/srv/bulwark"}, nil, true)
	if c.SQLitePath != "/srv/bulwark/bulwark.db" || c.DatabaseURL != "sqlite:///srv/bulwark/bulwark.db" || c.MailURL.Path != "/srv/bulwark/outbox" {
		t.Errorf("defaults under DATA_DIR: %q %q %q", c.SQLitePath, c.DatabaseURL, c.MailURL.Path)
	}
}

func TestDevRelaxations(t *testing.T) {
	c := load(t, nil, nil, true)
	got := strings.Join(c.DevRelaxations(), "; ")
	for _, want := range []string{"key-encryption key generated into ./data", "without Secure", "__Host-", "data/outbox", "SQLite database in data/bulwark.db"} {
		if !strings.Contains(got, want) {
			t.Errorf("DevRelaxations %q lacks %q", got, want)
		}
	}
	c = load(t, prodEnv(), nil, true)
	got = strings.Join(c.DevRelaxations(), "; ")
	if strings.Contains(got, "key-encryption key") || strings.Contains(got, "SQLite") || strings.Contains(got, "files") {
		t.Errorf("DevRelaxations with production settings: %q", got)
	}
}

func TestConfigNeverShowsSecrets(t *testing.T) {
	const canary = "CANARY7f3a9"
	jwt := base64.RawURLEncoding.EncodeToString([]byte(canary + "-jwt-secret-at-least-32-bytes!!"))
	kek := base64.StdEncoding.EncodeToString([]byte(canary + "-key-encr-key-32-byte"))
	m := map[string]string{
		"BULWARK_PUBLIC_URL":         "https://auth.example.com",
		"BULWARK_DATABASE_URL":       "postgres://bulwark:" + canary + "@db/bulwark?sslmode=verify-full&sslpassword=" + canary,
		"BULWARK_REDIS_URL":          "rediss://default:" + canary + "@redis:6380/0",
		"BULWARK_MAIL_URL":           "smtp://mailer:" + canary + "@smtp.example.com:587",
		"BULWARK_JWT_SECRET":         jwt,
		"BULWARK_KEY_ENCRYPTION_KEY": kek,
	}
	c := load(t, m, nil, false)

	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("config", "config", c)
	log.Info("config", "config", *c)
	log.Info("secret", "jwt", c.JWTSecret, "kek", c.KeyEncryptionKey)
	b, err := json.Marshal(struct{ JWT, KEK Secret }{c.JWTSecret, c.KeyEncryptionKey})
	if err != nil {
		t.Fatal(err)
	}
	buf.Write(b)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q", "%d"} {
		fmt.Fprintf(&buf, verb+"\n", c)
		fmt.Fprintf(&buf, verb+"\n", *c)
		fmt.Fprintf(&buf, verb+"\n", c.JWTSecret)
		fmt.Fprintf(&buf, verb+"\n", c.KeyEncryptionKey)
	}
	buf.WriteString(c.String())
	out := buf.String()

	secretForms := []string{canary, jwt, kek,
		fmt.Sprintf("%x", []byte(c.JWTSecret)), fmt.Sprintf("%x", []byte(c.KeyEncryptionKey)),
		base64.StdEncoding.EncodeToString(c.JWTSecret), base64.StdEncoding.EncodeToString(c.KeyEncryptionKey)}
	for _, s := range secretForms {
		if strings.Contains(out, s) {
			t.Fatalf("output contains a secret (%q):\n%s", s, out)
		}
	}
	// What is shown is still useful.
	for _, want := range []string{"db/bulwark", "smtp.example.com:587", "redis:6380", `"jwt_secret":"[REDACTED]"`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// The log is one JSON object a line.
	for _, line := range strings.SplitN(out, "\n", 4)[:3] {
		if !json.Valid([]byte(line)) {
			t.Errorf("not JSON: %s", line)
		}
	}

	// Errors about malformed secret-bearing settings never echo them.
	bad := map[string]string{
		"BULWARK_DATABASE_URL":       "postgres://bulwark:" + canary + "@db:notaport/x",
		"BULWARK_REDIS_URL":          "redis://default:" + canary + "@redis:bad port",
		"BULWARK_MAIL_URL":           "smtp://mailer:" + canary + "@smtp.example.com:99999",
		"BULWARK_JWT_SECRET":         canary + "!",
		"BULWARK_KEY_ENCRYPTION_KEY": canary,
	}
	msgs := loadErr(t, bad, nil, true)
	if len(msgs) != 5 {
		t.Errorf("got %d errors, want 5: %q", len(msgs), msgs)
	}
	if joined := strings.Join(msgs, "\n"); strings.Contains(joined, canary) {
		t.Errorf("error shows a secret:\n%s", joined)
	}
}

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"sqlite://data/bulwark.db", "sqlite://data/bulwark.db"},
		{"postgres://u:secret@h/db", "postgres://u:xxxxx@h/db"},
		{"postgres://h/db?password=secret&sslmode=require", "postgres://h/db?password=xxxxx&sslmode=require"},
		{"postgres://u:secret@h:bad/db", "[REDACTED]"},
	} {
		if got := redactURL(tc.in); got != tc.want {
			t.Errorf("redactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestLoadConfigMailLinks(t *testing.T) {
	c := load(t, prodEnv(), nil, false)
	if c.VerifyEmailURL != "https://auth.example.com/verify-email" || c.ResetPasswordURL != "https://auth.example.com/reset-password" || c.ForgotPasswordURL != "https://auth.example.com/forgot-password" {
		t.Fatalf("default links %q %q %q", c.VerifyEmailURL, c.ResetPasswordURL, c.ForgotPasswordURL)
	}
	m := prodEnv()
	m["BULWARK_APP_URL"] = "https://App.example.com/account/"
	m["BULWARK_VERIFY_EMAIL_PATH"] = "/confirm"
	m["BULWARK_RESET_PASSWORD_PATH"] = "/auth?step=reset"
	c = load(t, m, nil, false)
	if c.VerifyEmailURL != "https://app.example.com/account/confirm" || c.ResetPasswordURL != "https://app.example.com/account/auth?step=reset" || c.ForgotPasswordURL != "https://app.example.com/account/forgot-password" {
		t.Fatalf("configured links %q %q %q", c.VerifyEmailURL, c.ResetPasswordURL, c.ForgotPasswordURL)
	}
	if ac := authConfig(c); ac.VerifyEmailURL != c.VerifyEmailURL || ac.ResetPasswordURL != c.ResetPasswordURL || ac.ForgotPasswordURL != c.ForgotPasswordURL {
		t.Fatalf("the service is given links %q %q %q", ac.VerifyEmailURL, ac.ResetPasswordURL, ac.ForgotPasswordURL)
	}
	for setting, bad := range map[string]string{
		"BULWARK_APP_URL":             "http://app.example.com", // production needs https
		"BULWARK_VERIFY_EMAIL_PATH":   "confirm",
		"BULWARK_RESET_PASSWORD_PATH": "/reset#here",
	} {
		m := prodEnv()
		m[setting] = bad
		msgs := loadErr(t, m, nil, false)
		if len(msgs) != 1 || !strings.Contains(msgs[0], strings.TrimPrefix(setting, "BULWARK_")) {
			t.Errorf("%s=%q: %v", setting, bad, msgs)
		}
	}
	for _, bad := range []string{"//evil.example/x", "/a b", `/a\b`} {
		m := prodEnv()
		m["BULWARK_VERIFY_EMAIL_PATH"] = bad
		loadErr(t, m, nil, false)
	}
}
