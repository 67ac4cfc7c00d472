package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// Persistence checks that what a store wrote is there after Close and a new
// open of the same database: users (with UTC times), the deny list, lockout
// counters, the outbox and server secrets. open must open the same database
// every time, with or without applying migrations.
func Persistence(t *testing.T, open func(t *testing.T, migrate bool) auth.Store) {
	ctx := t.Context()
	now := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

	db := open(t, true)
	u := &auth.User{ID: "u1", Email: "alice@example.com", PasswordHash: "h", CreatedAt: now}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := db.Deny(ctx, "jti:1", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RecordLoginFailure(ctx, "bob@example.com", now, 1, time.Hour); err != nil {
		t.Fatal(err)
	}
	m := &auth.Mail{To: "alice@example.com", Template: "verify_email", CreatedAt: now}
	if err := db.EnqueueMail(ctx, m); err != nil {
		t.Fatal(err)
	}
	secret, err := db.Secret(ctx, "k", []byte("first"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = open(t, false) // no migration needed
	defer db.Close()
	if pd, ok := db.(interface {
		Pending(context.Context) ([]string, error)
	}); ok {
		if p, err := pd.Pending(ctx); err != nil || len(p) != 0 {
			t.Fatalf("Pending after reopening = %v, %v", p, err)
		}
	}
	got, err := db.UserByEmail(ctx, u.Email)
	if err != nil || got.ID != u.ID || !got.CreatedAt.Equal(now) || got.CreatedAt.Location() != time.UTC {
		t.Errorf("UserByEmail after reopening = %+v, %v", got, err)
	}
	if d, err := db.Denied(ctx, now, "jti:1"); err != nil || !d {
		t.Errorf("Denied after reopening = %v, %v; want true", d, err)
	}
	if l, err := db.LoginLockout(ctx, "bob@example.com"); err != nil || l.Failures != 1 || !l.LockedUntil.Equal(now.Add(time.Hour)) {
		t.Errorf("LoginLockout after reopening = %+v, %v", l, err)
	}
	if ms, err := db.PendingMail(ctx, now, 0, 10); err != nil || len(ms) != 1 || ms[0].ID != m.ID {
		t.Errorf("PendingMail after reopening = %+v, %v", ms, err)
	}
	if s, err := db.Secret(ctx, "k", []byte("second")); err != nil || string(s) != string(secret) {
		t.Errorf("Secret after reopening = %q, %v; want %q", s, err, secret)
	}
}
