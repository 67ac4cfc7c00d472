package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

const clientsUsage = "usage: bulwark clients create [--dev] [--setting=value …] NAME | list [--dev] | revoke [--dev] ID"

// clients manages the API clients of resource servers (introspection and
// the revocation feed). It reads the same settings as serve (environment,
// then flags; --dev selects the dev database) and opens the database the
// same way, applying pending migrations only when BULWARK_AUTO_MIGRATE
// says serve would.
//
//	bulwark clients create NAME  prints {"client_id","client_secret","name"} once
//	bulwark clients list         prints one JSON line per client, never a secret
//	bulwark clients revoke ID    revokes the client at once
func clients(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	// Client secrets are stored hashed, not sealed: the database is all
	// this needs (see command.go for the shared settings).
	cmd, err := loadCommand("clients", args, getenv, stdout, usesDatabase)
	if err != nil {
		return err
	}
	if len(cmd.args) == 0 {
		return usagef("clients: create NAME, list or revoke ID")
	}
	action, positional := cmd.args[0], cmd.args[1:]
	want := map[string]int{"create": 1, "list": 0, "revoke": 1}
	n, ok := want[action]
	if !ok {
		return usagef("unknown clients command %q", action)
	}
	if len(positional) != n {
		return usagef("clients: create NAME, list or revoke ID")
	}
	cfg := cmd.cfg
	db, err := openMigrated(ctx, cfg, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	enc := json.NewEncoder(stdout)
	switch action {
	case "create":
		c, secret, err := auth.NewAPIClient(rand.Reader, positional[0], time.Now())
		if err != nil {
			return err
		}
		if err := db.CreateAPIClient(ctx, c); err != nil {
			return err
		}
		// The only time the secret is shown: the database keeps its hash.
		return enc.Encode(struct {
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
			Name         string `json:"name"`
		}{c.ID, secret.Reveal(), c.Name})
	case "list":
		list, err := db.ListAPIClients(ctx)
		if err != nil {
			return err
		}
		for _, c := range list {
			line := struct {
				ClientID  string `json:"client_id"`
				Name      string `json:"name"`
				CreatedAt string `json:"created_at"`
				RevokedAt string `json:"revoked_at,omitempty"`
			}{ClientID: c.ID, Name: c.Name, CreatedAt: c.CreatedAt.UTC().Format(time.RFC3339)}
			if c.Revoked() {
				line.RevokedAt = c.RevokedAt.UTC().Format(time.RFC3339)
			}
			if err := enc.Encode(line); err != nil {
				return err
			}
		}
		return nil
	default: // revoke
		if err := db.RevokeAPIClient(ctx, positional[0], time.Now()); err != nil {
			if errors.Is(err, auth.ErrNotFound) {
				return fmt.Errorf("no active client %q", positional[0])
			}
			return err
		}
		return enc.Encode(struct {
			ClientID string `json:"client_id"`
			Revoked  bool   `json:"revoked"`
		}{positional[0], true})
	}
}
