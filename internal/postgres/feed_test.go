package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/postgres"
	"github.com/bulwarkauth/bulwark/internal/storetest"
	"github.com/bulwarkauth/bulwark/internal/testutil"
)

func TestFeedStore(t *testing.T) {
	testURL(t)
	var urls sync.Map // *postgres.DB → its URL
	storetest.RunFeed(t, func(t *testing.T) storetest.FeedStore {
		_, dbURL := newSchema(t)
		db := openOn(t, dbURL)
		urls.Store(db, dbURL)
		return db
	}, func(t *testing.T, s storetest.FeedStore, userID string) {
		u, _ := urls.Load(s.(*postgres.DB))
		testutil.PgExec(t, u.(string), `UPDATE users SET disabled = true WHERE id = $1`, userID)
	})
}

// TestWatchRevocationsNotifiesAndReconnects: the listener wakes within a
// second of a committed revocation, and after its connection is killed it
// reconnects and wakes again (it does not wait for the 5 s poll).
func TestWatchRevocationsNotifiesAndReconnects(t *testing.T) {
	schema, dbURL := newSchema(t)
	db := openOn(t, dbURL)
	wakes := make(chan struct{}, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = db.WatchRevocations(ctx, func() { wakes <- struct{}{} }) }()
	waitWake := func(what string, d time.Duration) {
		t.Helper()
		select {
		case <-wakes:
		case <-time.After(d):
			t.Fatalf("%s: no wake within %v", what, d)
		}
	}
	drain := func() {
		for {
			select {
			case <-wakes:
			default:
				return
			}
		}
	}
	waitWake("first connection", 5*time.Second)
	// Let the listener reach its wait.
	time.Sleep(200 * time.Millisecond)
	drain()
	if err := db.Deny(ctx, "jti:a", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	waitWake("notification", time.Second)

	n, err := db.Int64ForTest(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'`, schema)
	if err != nil || n != 1 {
		t.Fatalf("terminated %d listeners: %v", n, err)
	}
	time.Sleep(100 * time.Millisecond)
	drain()
	// The reconnection wakes once (catching up), then notifications flow.
	waitWake("reconnection", 3*time.Second)
	time.Sleep(200 * time.Millisecond)
	drain()
	if err := db.Deny(ctx, "jti:b", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	waitWake("notification after reconnecting", time.Second)
}
