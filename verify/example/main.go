// Command example is a minimal resource server protected by Bulwark access
// tokens: GET /whoami answers the verified claims of the caller's token.
//
//	BULWARK_ISSUER=https://auth.example.com \
//	BULWARK_AUDIENCE=https://api.example.com \
//	go run github.com/bulwarkauth/bulwark/verify/example
//
//	curl -H "Authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:8081/whoami
//
// Environment:
//
//	BULWARK_ISSUER            Bulwark's public URL, the tokens' iss (required)
//	BULWARK_AUDIENCE          the tokens' aud (default: BULWARK_ISSUER)
//	BULWARK_JWKS_URL          default BULWARK_ISSUER/.well-known/jwks.json
//	BULWARK_FEED_CLIENT_ID    with BULWARK_FEED_CLIENT_SECRET: subscribe to
//	BULWARK_FEED_CLIENT_SECRET  the revocation feed (bulwark clients create NAME)
//	LISTEN_ADDR               default 127.0.0.1:8081
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/bulwarkauth/bulwark/verify"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "example:", err)
		os.Exit(1)
	}
}

// config reads the verifier's configuration from the environment.
func config(getenv func(string) string, log *slog.Logger) (verify.Config, string, error) {
	cfg := verify.Config{
		Issuer:   getenv("BULWARK_ISSUER"),
		Audience: getenv("BULWARK_AUDIENCE"),
		JWKSURL:  getenv("BULWARK_JWKS_URL"),
		Logger:   log,
	}
	if cfg.Issuer == "" {
		return cfg, "", errors.New("BULWARK_ISSUER is not set")
	}
	if cfg.Audience == "" {
		cfg.Audience = cfg.Issuer // Bulwark's default BULWARK_TOKEN_AUDIENCE
	}
	if id := getenv("BULWARK_FEED_CLIENT_ID"); id != "" {
		cfg.Revocations = &verify.FeedConfig{
			ClientID:     id,
			ClientSecret: getenv("BULWARK_FEED_CLIENT_SECRET"),
			MaxStaleness: 2 * time.Minute, // fail closed if the feed is gone
		}
	}
	addr := getenv("LISTEN_ADDR")
	if addr == "" {
		addr = "127.0.0.1:8081"
	}
	return cfg, addr, nil
}

func run(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	cfg, addr, err := config(getenv, log)
	if err != nil {
		return err
	}
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	v, err := verify.New(startCtx, cfg)
	cancel()
	if err != nil {
		return err
	}
	defer v.Close()
	srv := &http.Server{
		Addr:              addr,
		Handler:           routes(v),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Info("listening", slog.String("addr", addr))
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// routes protects every route with the verifier's middleware.
func routes(v *verify.Verifier) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		c, _ := verify.ClaimsFrom(r.Context()) // always there behind Middleware
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"sub": c.Subject, "sid": c.SessionID, "jti": c.ID, "exp": c.ExpiresAt.Unix(),
		})
	})
	return v.Middleware(mux)
}
