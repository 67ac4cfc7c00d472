package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"testing"
	"time"
)

// TestLoginFailures_BoundUnderDistinctEmails measures what a million failed
// logins for a million distinct emails leave in login_failures, with the
// server's purge every 5 minutes and the default lockout period (15 minutes),
// on a clock advancing 10 ms per failure (100 failures a second, 2.8 hours).
// The table never holds more than the failures of one period plus one purge
// interval (here 100/s x 20 min = 120,000 rows) and is empty one period and
// one purge after the attack. It takes about 4 minutes on a loaded
// 2-core machine: it runs only when BULWARK_MEASURE_FAILURES is set.
func TestLoginFailures_BoundUnderDistinctEmails(t *testing.T) {
	if testing.Short() || os.Getenv("BULWARK_MEASURE_FAILURES") == "" {
		t.Skip("set BULWARK_MEASURE_FAILURES=1 to measure (about 4 minutes)")
	}
	const (
		n       = 1_000_000
		step    = 10 * time.Millisecond
		period  = 15 * time.Minute
		purgeEv = 5 * time.Minute
	)
	db := openTemp(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	nextPurge := now.Add(purgeEv)
	raw, err := sql.Open("sqlite", db.Path()+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rows := func() (n int64) {
		t.Helper()
		if err := raw.QueryRowContext(ctx, `SELECT count(*) FROM login_failures`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var peak int64
	start := time.Now()
	for i := range n {
		if _, _, err := db.ReserveLoginAttempt(ctx, fmt.Sprintf("victim%07d@example.com", i), now, 10, period); err != nil {
			t.Fatal(err)
		}
		now = now.Add(step)
		if !now.Before(nextPurge) {
			if _, err := db.Purge(ctx, now); err != nil {
				t.Fatal(err)
			}
			peak = max(peak, rows())
			nextPurge = nextPurge.Add(purgeEv)
		}
	}
	atEnd := rows()
	bound := int64((period + purgeEv) / step)
	for !now.After(nextPurge.Add(period)) {
		now = now.Add(purgeEv)
		if _, err := db.Purge(ctx, now); err != nil {
			t.Fatal(err)
		}
	}
	after := rows()
	t.Logf("%d distinct failed emails in %v (wall %v): peak after a purge %d rows, %d at the end of the attack, %d one period later (bound %d)",
		n, time.Duration(n)*step, time.Since(start).Round(time.Second), peak, atEnd, after, bound)
	if atEnd > bound || peak > bound {
		t.Errorf("login_failures held %d rows (peak %d), bound %d", atEnd, peak, bound)
	}
	if after != 0 {
		t.Errorf("%d rows left one period after the attack, want 0", after)
	}
}
