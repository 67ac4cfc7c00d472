package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/token"
)

// Access-token signing: precedence.
//
//  1. BULWARK_JWT_SECRET set: HS256 under that shared secret, as before
//     managed keys existed. Nothing is published (the JWKS is empty, the
//     discovery document has no jwks_uri), and BULWARK_SIGNING_ALG and
//     BULWARK_KEY_ROTATION are refused as contradictory.
//  2. Otherwise: managed keys (EdDSA by default, or ES256), stored in the
//     database sealed under the key-encryption key, in dev too (with the
//     key-encryption key --dev generates into the data directory).

// signing reads the signing settings.
func (l *configLoader) signing(c *Config) {
	c.KeyPollInterval = l.duration("KEY_POLL_INTERVAL", token.DefaultPollInterval, time.Second, token.MaxPollInterval, false)
	if l.value("JWT_SECRET") != "" {
		for _, s := range []string{"SIGNING_ALG", "KEY_ROTATION"} {
			if l.value(s) != "" {
				l.errorf(s, "has no effect with BULWARK_JWT_SECRET, which takes precedence (HS256 with the shared secret, no managed keys): unset one of them")
			}
		}
		return
	}
	switch v := l.value("SIGNING_ALG"); strings.ToLower(v) {
	case "", "eddsa":
		c.SigningAlg = token.EdDSA
	case "es256":
		c.SigningAlg = token.ES256
	default:
		l.errorf("SIGNING_ALG", "%q is not one of EdDSA, ES256", v)
	}
	c.KeyRotation = l.duration("KEY_ROTATION", 0, time.Second, 8760*time.Hour, true)
	if min := token.MinRotationInterval(c.AccessTokenTTL); c.KeyRotation > 0 && c.KeyRotation < min {
		l.errorf("KEY_ROTATION", "%s is shorter than %s, the time a key must be published before it signs and kept after (the JWKS cache time, the access-token lifetime and the poll interval)", c.KeyRotation, min)
	}
}

// accessTokens returns the access-token issuer of cfg (see the precedence
// above) and, for managed keys, the loop that rotates them on schedule and
// picks up changes made by other instances or `bulwark keys` (nil for
// HS256).
func accessTokens(ctx context.Context, cfg *Config, db database, sealer auth.Sealer, log *slog.Logger) (*token.Issuer, func(context.Context), error) {
	if len(cfg.JWTSecret) > 0 {
		issuer, err := token.NewHS256(cfg.JWTSecret, cfg.PublicURL.String(), cfg.TokenAudience, cfg.AccessTokenTTL)
		if err != nil {
			return nil, nil, fmt.Errorf("BULWARK_JWT_SECRET: %w", err)
		}
		log.Info("access tokens: HS256 with BULWARK_JWT_SECRET; nothing is published in the JWKS")
		return issuer, nil, nil
	}
	m, err := keyManager(cfg, db, sealer, log)
	if err != nil {
		return nil, nil, err
	}
	issuer, err := m.Load(ctx, cfg.PublicURL.String(), cfg.TokenAudience, cfg.AccessTokenTTL)
	if err != nil {
		return nil, nil, fmt.Errorf("signing keys: %w", err)
	}
	log.Info("access tokens: managed signing keys", "kid", issuer.KeyID(), "alg", issuer.Algorithms()[0], "rotation", cfg.KeyRotation.String())
	return issuer, func(ctx context.Context) { m.Run(ctx, cfg.KeyPollInterval) }, nil
}

func keyManager(cfg *Config, db database, sealer auth.Sealer, log *slog.Logger) (*token.Manager, error) {
	store, ok := db.(auth.SigningKeyStore)
	if !ok {
		return nil, errors.New("signing keys: this database does not keep signing keys")
	}
	return token.NewManager(token.ManagerConfig{
		Store: store, Sealer: sealer, Alg: cfg.SigningAlg, Rotation: cfg.KeyRotation,
		AccessTTL: cfg.AccessTokenTTL, Log: log,
	})
}

const keysUsage = "usage: bulwark keys list|rotate [--force]|retire KID [--dev] [--setting=value …]"

// keysCommand is `bulwark keys`: list the managed signing keys, rotate them
// now, or retire one. Every instance picks the change up within
// BULWARK_KEY_POLL_INTERVAL. It prints one JSON object.
func keysCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cmd, err := loadCommand("keys", args, getenv, stdout, usesDatabase|usesKEK, "force")
	if err != nil {
		return err
	}
	if len(cmd.args) == 0 {
		return usagef("keys: list, rotate [--force] or retire KID")
	}
	action, rest := cmd.args[0], cmd.args[1:]
	switch {
	case action == "list" && len(rest) == 0, action == "rotate" && len(rest) == 0, action == "retire" && len(rest) == 1:
	default:
		return usagef("keys: list, rotate [--force] or retire KID")
	}
	if cmd.bools["force"] && action != "rotate" {
		return usagef("keys: --force is a flag of rotate only")
	}
	if len(cmd.cfg.JWTSecret) > 0 {
		return errors.New("keys: BULWARK_JWT_SECRET is set, so this deployment signs with HS256 and uses no managed keys; unset it to use them")
	}
	db, sealer, err := cmd.openDatabase(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	m, err := keyManager(cmd.cfg, db, sealer, cmd.log)
	if err != nil {
		return err
	}
	var out any
	switch action {
	case "list":
		keys, err := db.(auth.SigningKeyStore).SigningKeys(ctx, true)
		if err != nil {
			return err
		}
		out = listKeys(keys)
	case "rotate":
		r, err := m.Rotate(ctx, cmd.bools["force"])
		if err != nil {
			return fmt.Errorf("keys rotate: %w", err)
		}
		out = rotationJSON("rotate", r, cmd.cfg)
	case "retire":
		r, err := m.Retire(ctx, rest[0])
		if err != nil {
			return fmt.Errorf("keys retire: %w", err)
		}
		out = rotationJSON("retire", r, cmd.cfg)
	}
	line, err := json.Marshal(out)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, string(line))
	return err
}

type keyJSON struct {
	KID         string     `json:"kid"`
	Alg         string     `json:"alg"`
	State       string     `json:"state"`
	CreatedAt   time.Time  `json:"created_at"`
	ActivatedAt *time.Time `json:"activated_at,omitempty"`
	RetiredAt   *time.Time `json:"retired_at,omitempty"`
}

func listKeys(keys []auth.SigningKey) map[string]any {
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	list := make([]keyJSON, len(keys))
	for i, k := range keys {
		list[i] = keyJSON{KID: k.KID, Alg: k.Alg, State: k.State, CreatedAt: k.CreatedAt, ActivatedAt: opt(k.ActivatedAt), RetiredAt: opt(k.RetiredAt)}
	}
	return map[string]any{"keys": list}
}

func rotationJSON(action string, r token.Rotation, cfg *Config) map[string]any {
	out := map[string]any{"action": action, "next": r.Next, "picked_up_within": cfg.KeyPollInterval.String()}
	if r.Created {
		out["created"] = true
	}
	if r.Current != "" {
		out["current"] = r.Current
	}
	if r.Retired != "" {
		out["retired"] = r.Retired
	}
	return out
}
