package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/email"
	"github.com/bulwarkauth/bulwark/internal/password"
)

const usersUsage = `usage: bulwark users COMMAND [--dev] [--setting=value …]
  list [PREFIX]             one JSON line per user whose email starts with PREFIX
  show USER                 the user, their sessions and lockout state
  disable USER              disable and end every session, refresh token and access token
  enable USER               enable again (old sessions stay ended)
  unlock USER               clear the failed-login and second-factor lockouts
  revoke-sessions USER      end every session, refresh token and access token
  delete USER               delete the account and everything it holds
  grant-admin USER          give the admin role (/v1/admin/*)
  revoke-admin USER         take the admin role away
  import FILE [--dry-run]   create users from JSON lines {"email","password_hash","email_verified"} ("-": standard input)
  export [--with-hashes]    one JSON line per user (with password hashes only when asked)
USER is an email address or a user id (usr_…).`

// usersCommand is the operator's side of the admin API. It reads serve's
// settings (command.go) and needs only the database; every change is an
// admin_action audit event on stdout with user_id "cli".
func usersCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cmd, err := loadCommand("users", args, getenv, stdout, usesDatabase, "dry-run", "with-hashes")
	if err != nil {
		return err
	}
	if len(cmd.args) == 0 {
		return usagef("users: unknown command or wrong arguments")
	}
	action, rest := cmd.args[0], cmd.args[1:]
	arity := map[string][2]int{
		"list": {0, 1}, "show": {1, 1}, "disable": {1, 1}, "enable": {1, 1}, "unlock": {1, 1},
		"revoke-sessions": {1, 1}, "delete": {1, 1}, "grant-admin": {1, 1}, "revoke-admin": {1, 1},
		"import": {1, 1}, "export": {0, 0},
	}
	n, ok := arity[action]
	if !ok || len(rest) < n[0] || len(rest) > n[1] {
		return usagef("users: unknown command or wrong arguments")
	}
	if cmd.bools["dry-run"] && action != "import" || cmd.bools["with-hashes"] && action != "export" {
		return usagef("users: --dry-run is a flag of import, --with-hashes of export")
	}
	db, err := openMigrated(ctx, cmd.cfg, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	admin, err := auth.NewAdmin(db, email.Canonical, time.Now, cmd.log)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	cl := auth.Client{RequestID: "cli"}
	switch action {
	case "list":
		prefix := ""
		if len(rest) == 1 {
			prefix = rest[0]
		}
		return eachUser(ctx, admin, prefix, func(u auth.UserSummary) error { return enc.Encode(userLine(u, "")) })
	case "export":
		return eachUser(ctx, admin, "", func(u auth.UserSummary) error {
			hash := ""
			if cmd.bools["with-hashes"] {
				full, err := db.UserByID(ctx, u.ID)
				if err != nil {
					return err
				}
				hash = full.PasswordHash
			}
			return enc.Encode(userLine(u, hash))
		})
	case "import":
		return importUsers(ctx, admin, rest[0], cmd.bools["dry-run"], enc)
	}
	u, err := findUser(ctx, admin, db, rest[0])
	if err != nil {
		return err
	}
	if action == "show" {
		d, err := admin.User(ctx, u.ID)
		if err != nil {
			return err
		}
		type session struct {
			ID         string `json:"id"`
			Kind       string `json:"kind"`
			CreatedAt  string `json:"created_at"`
			LastSeenAt string `json:"last_seen_at"`
			IP         string `json:"ip"`
			UserAgent  string `json:"user_agent"`
		}
		out := struct {
			userJSONLine
			Sessions    []session `json:"sessions"`
			Failures    int       `json:"failed_logins"`
			LockedUntil string    `json:"locked_until,omitempty"`
			// The second factors' lockout, a counter of its own.
			MFAFailures    int    `json:"failed_second_factors"`
			MFALockedUntil string `json:"second_factors_locked_until,omitempty"`
		}{userJSONLine: userLine(d.UserSummary, ""), Sessions: []session{}, Failures: d.Lockout.Failures, MFAFailures: d.MFALockout.Failures}
		for _, v := range d.Sessions {
			out.Sessions = append(out.Sessions, session{v.ID, v.Kind, v.CreatedAt.UTC().Format(time.RFC3339), v.LastSeenAt.UTC().Format(time.RFC3339), v.IP, v.UserAgent})
		}
		if !d.Lockout.LockedUntil.IsZero() {
			out.LockedUntil = d.Lockout.LockedUntil.UTC().Format(time.RFC3339)
		}
		if !d.MFALockout.LockedUntil.IsZero() {
			out.MFALockedUntil = d.MFALockout.LockedUntil.UTC().Format(time.RFC3339)
		}
		return enc.Encode(out)
	}
	act := map[string]string{
		"disable": auth.AdminDisable, "enable": auth.AdminEnable, "unlock": auth.AdminUnlock,
		"revoke-sessions": auth.AdminRevokeSessions, "delete": auth.AdminDelete,
		"grant-admin": auth.AdminGrant, "revoke-admin": auth.AdminRevoke,
	}[action]
	if err := admin.Act(ctx, cl, "cli", u.ID, act); err != nil {
		return err
	}
	return enc.Encode(map[string]string{"user_id": u.ID, "email": u.Email, "action": act})
}

// findUser resolves USER: a user id or an email address.
func findUser(ctx context.Context, admin *auth.Admin, db database, who string) (*auth.User, error) {
	if strings.HasPrefix(who, "usr_") {
		u, err := db.UserByID(ctx, who)
		if errors.Is(err, auth.ErrNotFound) {
			return nil, fmt.Errorf("no user %s", who)
		}
		return u, err
	}
	u, err := admin.UserByEmail(ctx, who)
	if err != nil {
		return nil, fmt.Errorf("no user %s", who)
	}
	return u, nil
}

// eachUser calls f for every user whose email starts with prefix, a page at
// a time.
func eachUser(ctx context.Context, admin *auth.Admin, prefix string, f func(auth.UserSummary) error) error {
	cursor := ""
	for {
		page, next, err := admin.ListUsers(ctx, prefix, cursor, auth.MaxUserPage)
		if err != nil {
			return err
		}
		for _, u := range page {
			if err := f(u); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		cursor = next
	}
}

type userJSONLine struct {
	ID            string `json:"id"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	Disabled      bool   `json:"disabled"`
	Admin         bool   `json:"admin"`
	CreatedAt     string `json:"created_at"`
	PasswordHash  string `json:"password_hash,omitempty"`
}

func userLine(u auth.UserSummary, hash string) userJSONLine {
	return userJSONLine{ID: u.ID, Email: u.Email, EmailVerified: u.EmailVerified, Disabled: u.Disabled, Admin: u.Admin,
		CreatedAt: u.CreatedAt.UTC().Format(time.RFC3339), PasswordHash: hash}
}

// importUsers reads JSON lines from path ("-" for standard input), prints
// one JSON line per refused line and a summary, and fails (exit 1) when any
// line was refused, so scripts notice.
func importUsers(ctx context.Context, admin *auth.Admin, path string, dryRun bool, enc *json.Encoder) error {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	start := time.Now()
	res, err := admin.Import(ctx, r, dryRun, password.CheckEncoded, func(ref auth.ImportRefusal) {
		_ = enc.Encode(struct {
			Refused auth.ImportRefusal `json:"refused"`
		}{ref})
	})
	if err != nil {
		return fmt.Errorf("import stopped after %d lines: %w", res.Lines, err)
	}
	summary := struct {
		auth.ImportResult
		DryRun  bool    `json:"dry_run"`
		Seconds float64 `json:"seconds"`
	}{res, dryRun, time.Since(start).Seconds()}
	if err := enc.Encode(summary); err != nil {
		return err
	}
	if res.Refused > 0 {
		return fmt.Errorf("%d of %d lines refused", res.Refused, res.Lines)
	}
	return nil
}
