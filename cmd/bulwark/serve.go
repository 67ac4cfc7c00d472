package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/email"
	"github.com/bulwarkauth/bulwark/internal/httpapi"
	"github.com/bulwarkauth/bulwark/internal/logging"
	"github.com/bulwarkauth/bulwark/internal/mail"
	"github.com/bulwarkauth/bulwark/internal/memory"
	"github.com/bulwarkauth/bulwark/internal/metrics"
	"github.com/bulwarkauth/bulwark/internal/passkey"
	"github.com/bulwarkauth/bulwark/internal/password"
	"github.com/bulwarkauth/bulwark/internal/postgres"
	"github.com/bulwarkauth/bulwark/internal/redis"
	"github.com/bulwarkauth/bulwark/internal/revfeed"
	"github.com/bulwarkauth/bulwark/internal/sqlite"
)

// Server timeouts (slowloris, CWE-400): slow-header and slow-body clients are
// cut off, and idle keep-alive connections do not pile up.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 32 << 10
	shutdownTimeout   = 10 * time.Second
)

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// database is what serve and migrate need of a backend: the stores, and the
// schema and maintenance operations both backends have.
type database interface {
	auth.Store
	auth.APIClientStore
	auth.RevocationFeedStore
	Migrate(ctx context.Context) error
	Pending(ctx context.Context) ([]string, error)
	Purge(ctx context.Context, now time.Time) (int64, error)
	MailBacklog(ctx context.Context) (int, time.Time, error)
}

// newHasher builds the password hasher. With BULWARK_HASH_WORKER=process
// (the default) every hash runs in a child process, this same binary
// running `bulwark hash-worker` at a lower CPU priority: a login flood then
// cannot take the CPU, the Go scheduler or the garbage collector from the
// requests that do not hash (see internal/password's worker.go).
func newHasher(cfg *Config) (*password.Hasher, error) {
	pcfg := password.Config{Algorithm: password.Algorithm(cfg.PasswordHasher), BcryptCost: cfg.BcryptCost}
	if cfg.HashWorker != "process" {
		return password.New(pcfg)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this program to start its hash worker (or set BULWARK_HASH_WORKER=inline): %w", err)
	}
	cmd := func() *exec.Cmd {
		c := exec.Command(exe, "hash-worker")
		// Nothing of the server's environment (secrets, URLs) goes to the
		// child, and its standard error is dropped: it prints nothing unless
		// it crashes, and a crash is seen as 503s and a restart.
		c.Env = []string{}
		return c
	}
	return password.New(pcfg, password.WithWorker(cmd, password.StartLowPriority))
}

// openStore opens the configured database: SQLite for one instance,
// PostgreSQL for any number. sealer (the key-encryption key) seals the
// secrets the store keeps at rest; nil only to migrate.
func openStore(ctx context.Context, cfg *Config, migrate bool, sealer auth.Sealer) (database, error) {
	if cfg.DatabaseDriver == "postgres" {
		return postgres.Open(ctx, cfg.DatabaseURL, postgres.AutoMigrate(migrate), postgres.WithSealer(sealer))
	}
	if dir := filepath.Dir(cfg.SQLitePath); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create database directory: %w", err)
		}
	}
	return sqlite.Open(ctx, cfg.SQLitePath, sqlite.AutoMigrate(migrate), sqlite.WithSealer(sealer))
}

// openMigrated opens the configured database as serve and the operator
// commands use it: pending migrations are applied when BULWARK_AUTO_MIGRATE
// is on (the default) and refused otherwise. sealer may be nil for commands
// that keep nothing sealed.
func openMigrated(ctx context.Context, cfg *Config, sealer auth.Sealer) (database, error) {
	db, err := openStore(ctx, cfg, cfg.AutoMigrate, sealer)
	if err != nil {
		return nil, err
	}
	pending, err := db.Pending(ctx)
	if err == nil && len(pending) > 0 {
		err = fmt.Errorf("database has %d pending migrations (%s): run `bulwark migrate` or set BULWARK_AUTO_MIGRATE=true", len(pending), strings.Join(pending, ", "))
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func migrate(ctx context.Context, cfg *Config, stdout io.Writer) error {
	log := newLogger(stdout, cfg.LogLevel)
	db, err := openStore(ctx, cfg, false, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	pending, err := db.Pending(ctx)
	if err != nil {
		return err
	}
	if err := db.Migrate(ctx); err != nil {
		return err
	}
	log.Info("migrations applied", "applied", pending, "database", cfg.DatabaseDriver)
	return canonicalizeEmails(ctx, db, log)
}

// canonicalizeEmails brings stored addresses to the canonical form of
// internal/email (accounts made before the rule existed), reporting instead
// of merging the accounts that would collide.
func canonicalizeEmails(ctx context.Context, db database, log *slog.Logger) error {
	r, err := auth.CanonicalizeStoredEmails(ctx, db, email.Canonical, log)
	if err != nil {
		return err
	}
	if r.Rewritten > 0 || len(r.Collisions) > 0 || len(r.Invalid) > 0 {
		log.Warn("stored emails canonicalized", "checked", r.Checked, "rewritten", r.Rewritten,
			"collisions", len(r.Collisions), "invalid", len(r.Invalid))
	}
	return nil
}

func serve(ctx context.Context, cfg *Config, stdout, stderr io.Writer) error {
	// Records go through a bounded queue: a stuck stdout reader must not
	// stall authentication (OWASP ASVS 5.0 16.5.2: fail safely). Drops are counted and
	// reported.
	logs := logging.NewAsync(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: cfg.LogLevel}), 0)
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = logs.Close(cctx)
	}()
	log := slog.New(logs)
	if cfg.Dev {
		log.Warn("dev mode: insecure conveniences are on; never use --dev in production", "relaxes", cfg.DevRelaxations())
	}
	hasher, err := newHasher(cfg)
	if err != nil {
		return fmt.Errorf("password hasher: %w", err)
	}
	defer hasher.Close() // after the server's shutdown (defers run last in, first out)
	policy, err := password.NewPolicy(cfg.PasswordMinLength)
	if err != nil {
		return fmt.Errorf("BULWARK_PASSWORD_MIN_LENGTH: %w", err)
	}
	mailer, err := newMailer(cfg)
	if err != nil {
		return fmt.Errorf("BULWARK_MAIL_URL: %w", err)
	}

	keys, err := keyEncryptionKeys(cfg, log)
	if err != nil {
		return err
	}
	db, err := openMigrated(ctx, cfg, keys)
	if err != nil {
		return err
	}
	defer db.Close()
	if cfg.AutoMigrate {
		if err := canonicalizeEmails(ctx, db, log); err != nil {
			return err
		}
	}
	issuer, runKeys, err := accessTokens(ctx, cfg, db, keys, log)
	if err != nil {
		return err
	}

	limiter, ready, closeLimiter, err := newLimiter(ctx, cfg, db, log)
	if err != nil {
		return err
	}
	defer closeLimiter()
	worker := mail.NewWorker(db, mailer, log, time.Now)
	met := metrics.New()
	met.HashPool(hasher.Stats)
	met.Outbox(db.MailBacklog, time.Now)
	// Passkeys need a relying party browsers accept: a domain (not an IP
	// address, such as the dev default 127.0.0.1) and an origin.
	var rp auth.WebAuthnRP
	if p, err := passkey.New(cfg.WebAuthnRPID, cfg.WebAuthnRPName, cfg.WebAuthnOrigins); err != nil {
		log.Warn("passkeys are off: set BULWARK_WEBAUTHN_RP_ID (a domain) and BULWARK_WEBAUTHN_ORIGINS", "error", err.Error())
	} else {
		rp = p
	}
	svc, err := auth.NewService(ctx, authConfig(cfg), auth.Deps{
		Store: db, Limiter: limiter, Hasher: hasher, Policy: policy, Normalize: password.Normalize, CanonicalEmail: email.Canonical,
		Tokens: issuer, Logger: log, MailQueued: worker.Notify, Observer: met, Passkeys: rp,
	})
	if err != nil {
		return err
	}
	worker.Resolve = svc.ResolveMailJob
	readiness := func(ctx context.Context) []string {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		var failing []string
		if err := db.Ping(ctx); err != nil {
			failing = append(failing, "database")
		}
		return append(failing, ready(ctx)...)
	}
	// One revocation-feed hub per instance: one listener on the database,
	// fanned out to every subscriber.
	feed := revfeed.New(db, log, revfeed.Options{})
	api := httpapi.NewServer(svc, log, httpapi.Options{
		Dev: cfg.Dev, PublicURL: cfg.PublicURL.String(), TrustedProxies: cfg.TrustedProxies,
		CORSOrigins: cfg.CORSOrigins, Keys: issuer, Ready: readiness, Metrics: met,
		Feed: feed, Issuer: cfg.PublicURL.String(), Audience: cfg.TokenAudience,
	})
	var admin *http.Server
	var adminLn net.Listener
	if cfg.AdminAddr != "" {
		adminLn, err = net.Listen("tcp", cfg.AdminAddr)
		switch {
		case err != nil && cfg.Dev:
			// `serve --dev` must start on any machine: a busy admin port
			// costs the metrics, not the server.
			log.Warn("admin listener not started: its address is taken; set BULWARK_ADMIN_ADDR to another address, or off",
				"addr", cfg.AdminAddr, "error", err.Error())
			adminLn = nil
		case err != nil:
			return fmt.Errorf("BULWARK_ADMIN_ADDR: listen: %w (set another address, or off)", err)
		default:
			defer adminLn.Close()
		}
	}
	if adminLn != nil {
		admin = &http.Server{
			Handler:           httpapi.AdminHandler(met.Handler(), readiness),
			ReadHeaderTimeout: readHeaderTimeout,
			ReadTimeout:       readTimeout,
			WriteTimeout:      writeTimeout,
			IdleTimeout:       idleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		// net/http's own messages (TLS handshake errors…) become JSON too.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// HTTP/1.1, and HTTP/2 over TLS (negotiated by ALPN). The toolchain
		// go.mod pins has no known HTTP/2 server vulnerability; CI's
		// dependency audit fails the day one is published.
		Protocols: protocols(),
	}

	// Shutdown waits for handlers, and a feed stream never ends by itself:
	// closing the hub ends every stream as shutdown begins.
	srv.RegisterOnShutdown(feed.Close)

	bg, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBackground()
	go feed.Run(bg)
	go worker.Run(bg)
	go purge(bg, db, log)
	go reportDropped(bg, logs, log)
	go met.Probe(bg, "database", 15*time.Second, db.Ping)
	if probe := dependencyPing(limiter); probe != nil {
		go met.Probe(bg, "redis", 15*time.Second, probe)
	}
	if runKeys != nil {
		go runKeys(bg)
	}

	errc := make(chan error, 1)
	go func() {
		if cfg.TLSCert != "" {
			errc <- srv.ServeTLS(ln, cfg.TLSCert, cfg.TLSKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	if admin != nil {
		go func() {
			if err := admin.Serve(adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("admin listener: %w", err)
			}
		}()
		log.Info("admin listening", "addr", adminLn.Addr().String(), "serves", "/metrics /healthz /readyz")
	}
	// What this instance runs on, for the operator reading the log; the
	// URLs are redacted (no password, no query).
	log.Info("listening", "addr", ln.Addr().String(), "public_url", cfg.PublicURL.String(), "version", buildVersion(),
		"database", redactURL(cfg.DatabaseURL), "limiter", limiterName(limiter), "mail", redactURL(cfg.MailURL.String()))

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown", "error", err.Error())
	}
	if admin != nil {
		_ = admin.Shutdown(sctx)
	}
	stopBackground()
	// Deliver what is due before exiting; what is not stays in the outbox.
	if err := worker.Flush(sctx); err != nil {
		log.Warn("flush mail", "error", err.Error())
	}
	if n := logs.Dropped(); n > 0 {
		log.Warn("log records dropped", "dropped", n)
	}
	log.Info("stopped")
	return nil
}

// reportDropped logs, once a minute, how many records the log queue had to
// drop since the last report.
func reportDropped(ctx context.Context, logs *logging.Async, log *slog.Logger) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	var last uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n := logs.Dropped(); n > last {
				log.Warn("log records dropped", "dropped", n-last)
				last = n
			}
		}
	}
}

// newLimiter picks where rate-limit windows live: Redis when configured
// (shared by every instance, one round trip), otherwise the database for
// PostgreSQL (shared too), otherwise memory (one SQLite instance). ready
// names the limiter's dependency when it does not answer.
func newLimiter(ctx context.Context, cfg *Config, db database, log *slog.Logger) (auth.Limiter, func(context.Context) []string, func(), error) {
	none := func(context.Context) []string { return nil }
	if cfg.RedisURL != nil {
		redis.SetLogger(log)
		rc, err := redis.Connect(cfg.RedisURL.String(), cfg.RedisPrefix)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("BULWARK_REDIS_URL: %w", err)
		}
		if err := rc.Ping(ctx); err != nil {
			log.Warn("redis does not answer yet: rate-limited requests get 503 until it does")
		}
		ready := func(ctx context.Context) []string {
			if rc.Ping(ctx) != nil {
				return []string{"redis"}
			}
			return nil
		}
		return rc.Limiter(), ready, func() { _ = rc.Close() }, nil
	}
	if pg, ok := db.(*postgres.DB); ok {
		return pg.Limiter(), none, func() {}, nil
	}
	m := memory.NewLimiter(memory.LimiterOptions{})
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	go m.Run(bg, time.Minute)
	return m, none, stop, nil
}

// limiterName says where rate-limit state lives.
func limiterName(l auth.Limiter) string {
	switch l.(type) {
	case *redis.Limiter:
		return "redis"
	case *postgres.Limiter:
		return "postgres"
	default:
		return "memory"
	}
}

// dependencyPing returns the health check of the limiter's own dependency
// (Redis), or nil when it has none of its own.
func dependencyPing(l auth.Limiter) func(context.Context) error {
	if rl, ok := l.(*redis.Limiter); ok {
		return rl.Ping
	}
	return nil
}

// newMailer builds the sender of the configured mail URL. The config has
// already resolved a file:// URL to its directory, relative or absolute.
func newMailer(cfg *Config) (auth.Mailer, error) {
	if cfg.MailURL.Scheme == "file" {
		if err := os.MkdirAll(cfg.MailURL.Path, 0o700); err != nil {
			return nil, fmt.Errorf("create mail directory: %w", err)
		}
		return mail.NewFileSender(cfg.MailURL.Path, cfg.MailFrom.String()), nil
	}
	return mail.NewSender(cfg.MailURL.String(), cfg.MailFrom.String())
}

func protocols() *http.Protocols {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetHTTP2(true)
	return &p
}

// purge deletes expired rows every few minutes.
func purge(ctx context.Context, db database, log *slog.Logger) {
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := db.Purge(ctx, time.Now()); err != nil && ctx.Err() == nil {
				log.Warn("purge expired rows", "error", err.Error())
			}
		}
	}
}

func authConfig(c *Config) auth.Config {
	return auth.Config{
		PublicURL:           c.PublicURL.String(),
		VerifyEmailURL:      c.VerifyEmailURL,
		ResetPasswordURL:    c.ResetPasswordURL,
		ForgotPasswordURL:   c.ForgotPasswordURL,
		RequireVerification: c.EmailVerificationRequired,
		SessionTTL:          c.SessionTTL,
		SessionIdleTTL:      c.SessionIdleTTL,
		AccessTTL:           c.AccessTokenTTL,
		RefreshTTL:          c.RefreshTokenTTL,
		RefreshGrace:        c.RefreshReuseGrace,
		RefreshGraceReplays: c.RefreshGraceReplays,
		ResetTTL:            c.ResetTokenTTL,
		VerifyTTL:           c.VerifyTokenTTL,
		MFATokenTTL:         c.MFATokenTTL,
		TOTPIssuer:          c.TOTPIssuer,
		LockoutThreshold:    c.LockoutThreshold,
		LockoutDuration:     c.LockoutDuration,
		LoginPerIP:          c.LoginLimitPerIP,
		LoginPerEmail:       c.LoginLimitPerEmail,
		EmailPerEmail:       c.ResetLimitPerEmail,
		EmailPerIP:          c.EmailLimitPerIP,
		SignupPerIP:         c.SignupLimitPerIP,
		TokenPerIP:          c.TokenLimitPerIP,
		WebAuthnRPID:        c.WebAuthnRPID,
		WebAuthnOrigins:     c.WebAuthnOrigins,
		WebAuthnRPName:      c.WebAuthnRPName,
	}
}
