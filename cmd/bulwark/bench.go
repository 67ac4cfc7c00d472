package main

import (
	"context"
	"errors"
	"io"

	benchpkg "github.com/bulwarkauth/bulwark/internal/bench"
)

// benchUsage is the synopsis of `bulwark bench` (internal/bench).
const benchUsage = benchpkg.Usage

// bench is `bulwark bench`: internal/bench, with this command's serve and
// configuration as the in-process server it measures, and its usage errors
// reported as this command's.
func bench(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	err := benchpkg.Run(ctx, args, getenv, stdout, stderr, benchpkg.Deps{
		IsTerminal:        isTerminal,
		Version:           buildVersion(),
		ParseFlags:        parseFlags,
		LoadConfig:        benchConfig,
		ReadHeaderTimeout: readHeaderTimeout,
		ShutdownTimeout:   shutdownTimeout,
	})
	if errors.Is(err, benchpkg.ErrUsage) {
		return &usageError{err.Error()}
	}
	return err
}

// benchConfig is bench's Deps.LoadConfig: LoadConfig in dev mode, and serve.
func benchConfig(getenv func(string) string, flags map[string]string) (*benchpkg.Config, error) {
	cfg, err := LoadConfig(getenv, flags, true)
	if err != nil {
		return nil, err
	}
	return &benchpkg.Config{
		DatabaseDriver:            cfg.DatabaseDriver,
		SQLitePath:                cfg.SQLitePath,
		EmailVerificationRequired: cfg.EmailVerificationRequired,
		LoginLimitPerIP:           cfg.LoginLimitPerIP,
		LoginLimitPerEmail:        cfg.LoginLimitPerEmail,
		TrustedProxies:            cfg.TrustedProxies,
		PasswordHasher:            cfg.PasswordHasher,
		BcryptCost:                cfg.BcryptCost,
		JWTSecret:                 cfg.JWTSecret,
		PublicURL:                 cfg.PublicURL,
		TokenAudience:             cfg.TokenAudience,
		AccessTokenTTL:            cfg.AccessTokenTTL,
		SessionTTL:                cfg.SessionTTL,
		SessionIdleTTL:            cfg.SessionIdleTTL,
		Serve: func(ctx context.Context, stdout, stderr io.Writer) error {
			return serve(ctx, cfg, stdout, stderr)
		},
	}, nil
}
