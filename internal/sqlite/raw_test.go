package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// RawWrite writes on the store's write connection, the store's cached
// answers are forgotten at once (not after the -wal file is re-checked),
// and a closed store refuses it.
func TestRawWrite(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	now := time.Now().UTC().Truncate(time.Second)
	u := &auth.User{ID: "usr_raw", Email: "raw@example.com", PasswordHash: "x", CreatedAt: now}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if got, _, err := db.UserForAccess(ctx, u.ID, now, "jti:x"); err != nil || got.Disabled {
			t.Fatalf("before: %+v %v", got, err)
		}
	}
	if db.CacheHits() == 0 {
		t.Fatal("no read was answered from the cache")
	}
	err := db.RawWrite(ctx, func(conn *sql.Conn) error {
		_, err := conn.ExecContext(ctx, `UPDATE users SET disabled = 1 WHERE id = ?`, u.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, _, err := db.UserForAccess(ctx, u.ID, now, "jti:x"); err != nil || !got.Disabled {
		t.Fatalf("UserForAccess right after RawWrite: %+v %v, want the account disabled", got, err)
	}
	mine := errors.New("mine")
	if err := db.RawWrite(ctx, func(*sql.Conn) error { return mine }); err != mine {
		t.Errorf("RawWrite = %v, want f's error as it is", err)
	}
	db.Close()
	called := false
	if err := db.RawWrite(ctx, func(*sql.Conn) error { called = true; return nil }); err == nil || called {
		t.Errorf("RawWrite on a closed store = %v (f called: %v), want a refusal", err, called)
	}
}
