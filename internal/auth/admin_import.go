package auth

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// ImportLine is one line of `bulwark users import`: an account from another
// system, with its existing password hash.
type ImportLine struct {
	Email         string `json:"email"`
	PasswordHash  string `json:"password_hash"`
	EmailVerified bool   `json:"email_verified"`
}

// ImportRefusal says why one line was not imported.
type ImportRefusal struct {
	Line   int    `json:"line"`
	Email  string `json:"email,omitempty"`
	Reason string `json:"reason"`
}

// ImportResult counts what an import did (or, in a dry run, would do).
type ImportResult struct {
	Lines    int `json:"lines"`
	Imported int `json:"imported"`
	Refused  int `json:"refused"`
}

// maxImportLine bounds one line; a hash and an address fit many times over.
const maxImportLine = 64 << 10

// Import creates one user per JSON line of r ({"email", "password_hash",
// "email_verified"}), keeping the hash as it is: checkHash says whether a
// hash is one Bulwark verifies (internal/password.CheckEncoded), and the
// first successful login upgrades it to the configured algorithm. Lines
// that cannot be imported (malformed JSON, unknown fields, an invalid
// address, an unsupported hash, an address that already has an account or
// appears twice) are refused one by one, each reported to refuse; the rest
// go on. With dryRun nothing is written. Blank lines are skipped.
func (a *Admin) Import(ctx context.Context, r io.Reader, dryRun bool, checkHash func(string) error, refuse func(ImportRefusal)) (ImportResult, error) {
	var res ImportResult
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxImportLine)
	seen := map[string]bool{}
	now := a.now().UTC()
	for n := 1; sc.Scan(); n++ {
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		res.Lines++
		reason, email := a.importLine(ctx, raw, dryRun, checkHash, seen, now)
		if reason != "" {
			res.Refused++
			refuse(ImportRefusal{Line: n, Email: email, Reason: reason})
			continue
		}
		res.Imported++
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return res, fmt.Errorf("line %d is longer than %d bytes", res.Lines+1, maxImportLine)
		}
		return res, err
	}
	return res, nil
}

func (a *Admin) importLine(ctx context.Context, raw []byte, dryRun bool, checkHash func(string) error, seen map[string]bool, now time.Time) (reason, email string) {
	var in ImportLine
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || dec.More() {
		return "not one JSON object with email, password_hash and email_verified", ""
	}
	email, ok := a.canon(in.Email)
	if !ok {
		return "invalid email address", in.Email
	}
	if seen[email] {
		return "the address appears on an earlier line", email
	}
	seen[email] = true
	if in.PasswordHash == "" || checkHash(in.PasswordHash) != nil {
		// The hash is never repeated in the report.
		return "password_hash is not a bcrypt or argon2id hash Bulwark accepts", email
	}
	if dryRun {
		// Without writing, ask; a real import lets the insert's unique
		// constraint answer (one round trip less a line).
		if _, err := a.users.UserByEmail(ctx, email); err == nil {
			return "an account with this address exists", email
		} else if !errors.Is(err, ErrNotFound) {
			return "the database refused: " + strings.TrimSpace(err.Error()), email
		}
		return "", email
	}
	id, err := newID(rand.Reader, "usr_")
	if err != nil {
		return "no randomness: " + err.Error(), email
	}
	err = a.users.CreateUser(ctx, &User{ID: id, Email: email, PasswordHash: in.PasswordHash, EmailVerified: in.EmailVerified, CreatedAt: now})
	if errors.Is(err, ErrConflict) {
		return "an account with this address exists", email
	}
	if err != nil {
		return "the database refused: " + err.Error(), email
	}
	return "", email
}
