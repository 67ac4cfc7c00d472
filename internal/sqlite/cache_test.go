package sqlite_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// A write from another process or connection (an operator's sqlite3
// disabling an account) is seen by the reads that follow it by more than
// walRecheck (1 ms), although the answer was cached: the -wal file changed.
func TestCacheSeesWritesFromOutside(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	now := time.Now().UTC().Truncate(time.Second)
	u := &auth.User{ID: "usr_out", Email: "out@example.com", PasswordHash: "x", CreatedAt: now}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	hash := []byte("0123456789abcdef0123456789abcdef")
	if err := db.CreateSession(ctx, &auth.Session{ID: "ses_out", UserID: u.ID, TokenHash: hash, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		got, denied, err := db.UserForAccess(ctx, u.ID, now, "jti:x")
		if err != nil || denied || got.Disabled {
			t.Fatalf("before: %+v %v %v", got, denied, err)
		}
		if _, got, err := db.SessionWithUser(ctx, hash); err != nil || got.Disabled {
			t.Fatalf("before: %+v %v", got, err)
		}
	}
	if db.CacheHits() == 0 {
		t.Fatal("no read was answered from the cache")
	}
	raw, err := sql.Open("sqlite", db.Path()+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(ctx, `UPDATE users SET disabled = 1 WHERE id = ?`, u.ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond) // walRecheck
	if got, _, err := db.UserForAccess(ctx, u.ID, now, "jti:x"); err != nil || !got.Disabled {
		t.Fatalf("UserForAccess after an outside UPDATE: disabled=%v err=%v, want the account disabled at once", got != nil && got.Disabled, err)
	}
	if _, got, err := db.SessionWithUser(ctx, hash); err != nil || !got.Disabled {
		t.Fatalf("SessionWithUser after an outside UPDATE: %v, want the account disabled at once", err)
	}
	if _, err := raw.ExecContext(ctx, `INSERT INTO deny_list (key, expires_at) VALUES ('jti:x', ?)`, now.Add(time.Hour).UnixMicro()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond)
	if _, denied, err := db.UserForAccess(ctx, u.ID, now, "jti:x"); err != nil || !denied {
		t.Fatalf("UserForAccess after an outside deny: denied=%v err=%v, want denied at once", denied, err)
	}
}

// A write query is parsed once: after its first transaction it is
// prepared, and later transactions reuse the statement (the same answers).
func TestWriteStatementsArePrepared(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	now := time.Now().UTC().Truncate(time.Second)
	for i := range 3 {
		lock, err := db.RecordLoginFailure(ctx, "prep@example.com", now, 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if lock.Failures != i+1 {
			t.Fatalf("failure %d recorded as %d", i+1, lock.Failures)
		}
	}
	if db.WriteStmts() == 0 {
		t.Fatal("no write statement was prepared after three transactions of the same query")
	}
	// Reads in read transactions are not handed the write pool's
	// statements (Tx.Stmt would refuse them).
	if lock, err := db.LoginLockout(ctx, "prep@example.com"); err != nil || lock.Failures != 3 {
		t.Fatalf("LoginLockout = %+v, %v; want 3 failures", lock, err)
	}
}
