package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// usageError is a mistake on the command line (an unknown command or flag,
// a missing argument): main prints it on one line to standard error and
// exits 2, as Go's flag package and Unix tools do.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// configError is a configuration refused at start: one problem per line.
type configError struct{ problems []string }

func (e *configError) Error() string {
	return "configuration refused: " + strings.Join(e.problems, "; ")
}

// newConfigError splits the joined error of loadConfig into its problems.
func newConfigError(err error) error {
	var problems []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			problems = append(problems, e.Error())
		}
	} else {
		problems = []string{err.Error()}
	}
	return &configError{problems: problems}
}

// printError writes err for a person at a terminal and returns the exit
// status: 2 for a usage error, 1 otherwise. A refused configuration gets
// one line per problem and a pointer to --dev for local use.
func printError(w io.Writer, err error) int {
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(w, "bulwark: %s (see bulwark help)\n", ue.msg)
		return 2
	}
	var ce *configError
	if errors.As(err, &ce) {
		fmt.Fprintln(w, "bulwark: configuration refused:")
		for _, p := range ce.problems {
			fmt.Fprintf(w, "  %s\n", p)
		}
		fmt.Fprintln(w, "For local development, add --dev (bulwark serve --dev): it fills in safe local defaults.")
		return 1
	}
	// A joined error (several problems) is printed one per line too.
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(w, "bulwark: %s\n", line)
	}
	return 1
}

// checkSettingFlags refuses, as a usage error, a --flag that names no
// setting (a typo would otherwise be ignored or read as a setting).
func checkSettingFlags(cmd string, flags map[string]string) error {
	known := map[string]bool{}
	for _, s := range configSettings() {
		known[flagName(s)] = true
	}
	for f := range flags {
		if !known[f] {
			return usagef("%s: unknown flag --%s", cmd, f)
		}
	}
	return nil
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "--help" || arg == "-help" || arg == "help"
}

const topUsage = `Bulwark is an authentication server: sign-up, sign-in, sessions, tokens,
password reset, hardened by default.

Usage:
  bulwark COMMAND [--dev] [--setting-name=value …] [arguments]

Commands:
  serve      run the server (bulwark serve --dev: local, SQLite, nothing to set up)
  migrate    apply pending database migrations
  keys       list, rotate and retire the managed signing keys
  clients    create, list and revoke API clients of resource servers
  users      list, inspect, disable, unlock, delete, import and export users
  bench      measure the server on this machine
  version    print the version and the source revision
  help       print this, or the help of a command (bulwark help serve)

Every setting is a BULWARK_* environment variable; a flag of the same name in
kebab-case overrides it (BULWARK_PUBLIC_URL is --public-url). --dev selects
local defaults (SQLite and mail files under ./data, a generated key); without
it, production settings are required. bulwark help serve lists them all.
`

const migrateUsage = `Usage: bulwark migrate [--dev] [--setting=value …]

Applies the pending database migrations (serve also does at start unless
BULWARK_AUTO_MIGRATE=false) and brings stored email addresses to their
canonical form. Needs only BULWARK_DATABASE_URL (or --dev).
`

const versionUsage = `Usage: bulwark version

Prints the module version, the source revision it was built from, and the Go
release.
`

// commandUsage returns the help of a command, or false if there is none.
func commandUsage(cmd string) (string, bool) {
	switch cmd {
	case "serve":
		return serveUsage(), true
	case "migrate":
		return migrateUsage, true
	case "keys":
		return "Usage: " + strings.TrimPrefix(keysUsage, "usage: ") + "\n\nReads the same settings as serve; needs the database URL and the key-encryption key (or --dev).\n", true
	case "clients":
		return "Usage: " + strings.TrimPrefix(clientsUsage, "usage: ") + "\n\nReads the same settings as serve; needs the database URL (or --dev).\n", true
	case "users":
		return "U" + strings.TrimPrefix(usersUsage, "u") + "\n\nReads the same settings as serve; needs the database URL (or --dev).\n", true
	case "bench":
		return "U" + strings.TrimPrefix(benchUsage, "u") + "\n\nRuns a dev server in this process (or measures --target) and prints a report; see the README's Performance.\n", true
	case "version":
		return versionUsage, true
	}
	return "", false
}

// serveUsage lists every setting with its flag, its variable and its dev
// default, from settingHelp.
func serveUsage() string {
	var b strings.Builder
	b.WriteString("Usage: bulwark serve [--dev] [--setting-name=value …]\n\n")
	b.WriteString("Runs the server. Settings (flag, environment variable: meaning [dev default]):\n\n")
	for _, s := range configSettings() {
		h := settingHelp[s]
		fmt.Fprintf(&b, "  --%s, BULWARK_%s\n      %s", flagName(s), s, h.meaning)
		if h.def != "" {
			fmt.Fprintf(&b, " [%s]", h.def)
		}
		b.WriteString("\n")
	}
	b.WriteString("\nWithout --dev, BULWARK_PUBLIC_URL (https), BULWARK_DATABASE_URL, BULWARK_MAIL_URL and\nBULWARK_KEY_ENCRYPTION_KEY are required. SIGINT or SIGTERM stops the server gracefully.\n")
	return b.String()
}

// settingHelp documents each setting of configSettings for serve --help;
// a test checks that none is missing.
var settingHelp = map[string]struct{ meaning, def string }{
	"ADDR":                         {"listen address, host:port", "127.0.0.1:8080"},
	"ADMIN_ADDR":                   {"admin listener for /metrics, /healthz, /readyz; off for none", "127.0.0.1:8081"},
	"PUBLIC_URL":                   {"external base URL: issuer of tokens, base of links; https in production", "http://ADDR"},
	"APP_URL":                      {"base URL of your application's pages that mail links open", "the public URL"},
	"VERIFY_EMAIL_PATH":            {"path of your page that takes a verification token", "/verify-email"},
	"RESET_PASSWORD_PATH":          {"path of your page that takes a reset token", "/reset-password"},
	"TLS_CERT":                     {"certificate file, to serve HTTPS directly (with TLS_KEY)", ""},
	"TLS_KEY":                      {"private key file of TLS_CERT", ""},
	"TRUSTED_PROXIES":              {"comma-separated CIDRs whose X-Forwarded-For is believed", "none"},
	"CORS_ORIGINS":                 {"comma-separated origins allowed cross-origin requests with credentials", "none"},
	"LOG_LEVEL":                    {"debug, info, warn or error", "info"},
	"WEBAUTHN_RP_ID":               {"WebAuthn relying party id: passkeys are bound to it, changing it orphans them all", "public URL host"},
	"WEBAUTHN_ORIGINS":             {"comma-separated origins allowed to run passkey ceremonies", "app URL and public URL origins"},
	"WEBAUTHN_RP_NAME":             {"relying party name the authenticator shows", "Bulwark"},
	"DATA_DIR":                     {"where dev data lives (database, mail, key)", "./data"},
	"DATABASE_URL":                 {"sqlite:///path.db (one instance) or postgres://… (any number)", "sqlite://DATA_DIR/bulwark.db"},
	"REDIS_URL":                    {"redis:// or rediss:// URL for rate limits shared by instances", "none"},
	"REDIS_PREFIX":                 {"prefix of every Redis key", "bulwark:"},
	"AUTO_MIGRATE":                 {"apply pending migrations at start", "true"},
	"MAIL_URL":                     {"smtp://user:pass@host:587, smtps://…:465 or file:///dir", "file://DATA_DIR/outbox"},
	"MAIL_FROM":                    {"sender of every mail", "Bulwark <no-reply@public URL host>"},
	"JWT_SECRET":                   {"HS256 shared secret (base64, ≥ 32 bytes) instead of managed signing keys", "none"},
	"KEY_ENCRYPTION_KEY":           {"32 random bytes, base64: encrypts secrets and signing keys at rest", "generated into DATA_DIR"},
	"KEY_ENCRYPTION_KEY_FILE":      {"read the key-encryption key from this file instead", "none"},
	"KEY_ENCRYPTION_KEYS_PREVIOUS": {"comma-separated older key-encryption keys, for rotation", "none"},
	"SIGNING_ALG":                  {"EdDSA or ES256, for new managed signing keys", "EdDSA"},
	"KEY_ROTATION":                 {"automatic signing-key rotation period, e.g. 720h; 0 for off", "0"},
	"KEY_POLL_INTERVAL":            {"how often the signing keys are re-read (1s to 1m)", "30s"},
	"EMAIL_VERIFICATION":           {"required or off", "required"},
	"PASSWORD_HASHER":              {"argon2id or bcrypt", "argon2id"},
	"PASSWORD_MIN_LENGTH":          {"minimum password length in code points (8 to 64)", "15"},
	"BCRYPT_COST":                  {"bcrypt cost (10 to 15)", "12"},
	"HASH_WORKER":                  {"process (hash in a low-priority child process) or inline", "process"},
	"SESSION_TTL":                  {"cookie session lifetime", "24h"},
	"SESSION_IDLE_TTL":             {"cookie session idle timeout; 0 for none", "0"},
	"ACCESS_TOKEN_TTL":             {"access token lifetime", "15m"},
	"REFRESH_TOKEN_TTL":            {"refresh family lifetime", "720h"},
	"TOKEN_AUDIENCE":               {"aud of access tokens", "the public URL"},
	"TOTP_ISSUER":                  {"the name authenticator apps show for TOTP", "Bulwark"},
	"RESET_TOKEN_TTL":              {"password reset link lifetime", "1h"},
	"VERIFY_TOKEN_TTL":             {"verification link lifetime", "24h"},
	"MFA_TOKEN_TTL":                {"MFA step token lifetime", "5m"},
	"REFRESH_REUSE_GRACE":          {"window in which a just-rotated refresh token gets the same successor; 0 for strict", "10s"},
	"REFRESH_GRACE_REPLAYS":        {"replays of one rotated refresh token allowed inside that window (0 to 10)", "3"},
	"LOGIN_LIMIT_PER_IP":           {"login attempts per client IP: at most N in any interval of the duration", "20/1m"},
	"LOGIN_LIMIT_PER_EMAIL":        {"login attempts per email address", "5/1m"},
	"RESET_LIMIT_PER_EMAIL":        {"forgot-password and verify-resend per email address", "3/1h"},
	"EMAIL_LIMIT_PER_IP":           {"forgot-password and verify-resend per client IP", "10/1h"},
	"SIGNUP_LIMIT_PER_IP":          {"sign-ups per client IP", "10/1h"},
	"TOKEN_LIMIT_PER_IP":           {"token redemptions and failed refreshes per client IP", "30/1m"},
	"LOCKOUT_THRESHOLD":            {"failed logins before an account is locked (3 to 100)", "10"},
	"LOCKOUT_DURATION":             {"how long a lock lasts", "15m"},
}
