// Package limitertest is the conformance suite of auth.Limiter: the memory,
// Redis and PostgreSQL limiters make the same decisions (memory.Step), and
// each runs this suite from its own tests with a clock the test moves. The
// guarantee every limiter must keep is that no more than N events are
// accepted for one key in any interval of length Per (Property checks it
// against an exact reference).
package limitertest

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// Open returns a new limiter with no state that reads the time from now.
type Open func(t *testing.T, now func() time.Time) auth.Limiter

// resolution is the finest step of time every limiter keeps (Redis counts
// microseconds).
const resolution = time.Microsecond

// Run runs the suite.
func Run(t *testing.T, open Open) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, open Open)
	}{
		{"ExactBurst", testExactBurst},
		{"BurstOnWindowBoundary", testBurstOnWindowBoundary},
		{"BurstAtWindowEnd", testBurstAtWindowEnd},
		{"RetryAfterIsHonest", testRetryAfterIsHonest},
		{"WindowSlides", testWindowSlides},
		{"LargeLimitHolds", testLargeLimitHolds},
		{"SteadyRate", testSteadyRate},
		{"RefusalsNotCounted", testRefusalsNotCounted},
		{"KeysIndependent", testKeysIndependent},
		{"ClockBackwards", testClockBackwards},
		{"ClockFarBackwards", testClockFarBackwards},
		{"Concurrent", testConcurrent},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

// Clock is a clock tests move by hand; safe for concurrent use.
type Clock struct{ ns atomic.Int64 }

// NewClock returns a clock deliberately not on a minute or hour boundary.
func NewClock() *Clock {
	c := &Clock{}
	c.Set(time.Date(2026, 3, 1, 12, 0, 17, 250_000_000, time.UTC))
	return c
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

// Advance moves the clock by d (backwards if negative).
func (c *Clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// Set sets the clock.
func (c *Clock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

func allow(t *testing.T, l auth.Limiter, key string, limit auth.Limit) (bool, time.Duration) {
	t.Helper()
	ok, retry, err := l.Allow(context.Background(), key, limit)
	if err != nil {
		t.Fatalf("Allow(%q, %v): %v", key, limit, err)
	}
	return ok, retry
}

func testExactBurst(t *testing.T, open Open) {
	clock := NewClock()
	l := open(t, clock.Now)
	limit := auth.Limit{N: 5, Per: time.Minute}
	for i := range 5 {
		if ok, _ := allow(t, l, "login_ip:203.0.113.0/24", limit); !ok {
			t.Fatalf("event %d refused, want allowed", i+1)
		}
	}
	ok, retry := allow(t, l, "login_ip:203.0.113.0/24", limit)
	if ok {
		t.Fatal("6th event allowed, want refused")
	}
	if retry <= 0 || retry > time.Minute {
		t.Fatalf("retryAfter = %v, want in (0, 1m]", retry)
	}
}
func testBurstOnWindowBoundary(t *testing.T, open Open) {
	clock := NewClock()
	clock.Set(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	l := open(t, clock.Now)
	limit := auth.Limit{N: 3, Per: time.Minute}
	for range 3 {
		allow(t, l, "k", limit)
	}
	ok, retry := allow(t, l, "k", limit)
	if ok || retry <= 0 || retry > time.Minute {
		t.Fatalf("got ok=%v retryAfter=%v, want refused with retryAfter in (0, 1m]", ok, retry)
	}
}
func testRetryAfterIsHonest(t *testing.T, open Open) {
	// Waiting retryAfter (plus the caller's rounding up to a second) must
	// be enough to be allowed again, and not much more than needed.
	for _, tc := range []struct {
		name  string
		limit auth.Limit
		gap   time.Duration // between events of the burst
	}{
		{"burst", auth.Limit{N: 5, Per: time.Minute}, 0},
		{"spread", auth.Limit{N: 5, Per: time.Minute}, 7 * time.Second},
		{"hourly", auth.Limit{N: 3, Per: time.Hour}, 10 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := NewClock()
			l := open(t, clock.Now)
			for range tc.limit.N {
				if ok, _ := allow(t, l, "k", tc.limit); !ok {
					t.Fatal("burst refused")
				}
				clock.Advance(tc.gap)
			}
			ok, retry := allow(t, l, "k", tc.limit)
			if ok {
				t.Fatal("event over the limit allowed")
			}
			if retry <= 0 || retry > tc.limit.Per {
				t.Fatalf("retryAfter = %v, want in (0, %v]", retry, tc.limit.Per)
			}
			if retry > resolution {
				clock.Advance(retry - resolution)
				if ok, _ := allow(t, l, "k", tc.limit); ok {
					t.Fatalf("allowed before retryAfter %v", retry)
				}
				clock.Advance(resolution)
			}
			if ok, _ := allow(t, l, "k", tc.limit); !ok {
				t.Fatalf("refused after waiting retryAfter %v", retry)
			}
		})
	}
}

// testBurstAtWindowEnd is the attack a two-window counter lets through: five
// attempts in the last half second of a wall-clock minute, then one every 12
// seconds. Only the burst may pass, and the first refusal must say to wait
// until the burst's first event has left the minute.
func testBurstAtWindowEnd(t *testing.T, open Open) {
	clock := NewClock()
	boundary := time.Date(2026, 3, 1, 12, 1, 0, 0, time.UTC)
	clock.Set(boundary.Add(-500 * time.Millisecond))
	l := open(t, clock.Now)
	limit := auth.Limit{N: 5, Per: time.Minute}
	for i := range 5 {
		if ok, _ := allow(t, l, "login_email:victim@example.com", limit); !ok {
			t.Fatalf("burst event %d refused", i+1)
		}
		clock.Advance(100 * time.Millisecond)
	}
	// The 6th comes 0.4 s after the 5th, just after the boundary.
	clock.Set(boundary.Add(300 * time.Millisecond))
	ok, retry := allow(t, l, "login_email:victim@example.com", limit)
	if ok {
		t.Fatal("6th attempt just after the boundary allowed: the burst before it was forgotten")
	}
	if want := 59*time.Second + 200*time.Millisecond; retry != want {
		t.Fatalf("retryAfter = %v, want %v (first event + 1m − now)", retry, want)
	}
	// One every 12 s after that: none fits before the burst leaves the
	// minute, 59.5 s after the boundary.
	for i := 1; i <= 4; i++ {
		clock.Set(boundary.Add(300*time.Millisecond + time.Duration(i)*12*time.Second))
		if ok, _ := allow(t, l, "login_email:victim@example.com", limit); ok {
			t.Fatalf("attempt %d s after the boundary allowed: more than 5 in one minute", 12*i)
		}
	}
	clock.Set(boundary.Add(59*time.Second + 500*time.Millisecond))
	if ok, _ := allow(t, l, "login_email:victim@example.com", limit); !ok {
		t.Fatal("refused once the burst's first event left the minute")
	}
}

// testWindowSlides: a burst counts for exactly Per, to the resolution.
func testWindowSlides(t *testing.T, open Open) {
	clock := NewClock()
	l := open(t, clock.Now)
	limit := auth.Limit{N: 10, Per: time.Minute}
	for range 10 {
		allow(t, l, "k", limit)
	}
	clock.Advance(time.Minute - resolution)
	if ok, retry := allow(t, l, "k", limit); ok || retry != resolution {
		t.Fatalf("just before the burst left the window: ok=%v retryAfter=%v, want refused, %v", ok, retry, resolution)
	}
	clock.Advance(resolution)
	for i := range 10 {
		if ok, _ := allow(t, l, "k", limit); !ok {
			t.Fatalf("event %d refused one window after the burst", i+1)
		}
	}
	if ok, _ := allow(t, l, "k", limit); ok {
		t.Fatal("11th event of the second burst allowed")
	}
}

// testLargeLimitHolds: above MaxExact events a window the log keeps buckets,
// and still accepts no more than N in any interval of Per, also across the
// boundary of a bucket and of a window.
func testLargeLimitHolds(t *testing.T, open Open) {
	clock := NewClock()
	clock.Set(time.Date(2026, 3, 1, 12, 1, 0, 0, time.UTC).Add(-time.Second))
	l := open(t, clock.Now)
	limit := auth.Limit{N: 1000, Per: time.Minute}
	var accepted []time.Time
	for i := range 3000 {
		if ok, _ := allow(t, l, "k", limit); ok {
			accepted = append(accepted, clock.Now())
		}
		// 1,500 events in the last second of the minute, then one every
		// 40 ms.
		if i < 1500 {
			clock.Advance(666 * time.Microsecond)
		} else {
			clock.Advance(40 * time.Millisecond)
		}
	}
	if len(accepted) < 1000 {
		t.Fatalf("%d events accepted, want at least the first 1,000", len(accepted))
	}
	for i := range accepted {
		if j := i + limit.N; j < len(accepted) && accepted[j].Sub(accepted[i]) < limit.Per {
			t.Fatalf("events %d and %d accepted %v apart: %d in less than %v", i, j, accepted[j].Sub(accepted[i]), limit.N+1, limit.Per)
		}
	}
	// Memory is bounded by the number of buckets, not by N: that is what
	// makes a million a minute affordable; checked by each backend.
}

func testSteadyRate(t *testing.T, open Open) {
	// A client that sends exactly at the limit's rate is never refused.
	clock := NewClock()
	l := open(t, clock.Now)
	limit := auth.Limit{N: 6, Per: time.Minute}
	for i := range 60 {
		if ok, _ := allow(t, l, "k", limit); !ok {
			t.Fatalf("event %d at the limit's rate refused", i+1)
		}
		clock.Advance(10*time.Second + time.Millisecond)
	}
}
func testRefusalsNotCounted(t *testing.T, open Open) {
	clock := NewClock()
	l := open(t, clock.Now)
	limit := auth.Limit{N: 2, Per: time.Minute}
	allow(t, l, "k", limit)
	allow(t, l, "k", limit)
	for range 1000 {
		allow(t, l, "k", limit)
	}
	// Had the refusals counted, the estimate would stay far above 2 for
	// the whole next window.
	clock.Advance(2 * time.Minute)
	if ok, _ := allow(t, l, "k", limit); !ok {
		t.Fatal("hammering extended the block beyond the limit")
	}
}
func testKeysIndependent(t *testing.T, open Open) {
	clock := NewClock()
	l := open(t, clock.Now)
	limit := auth.Limit{N: 1, Per: time.Minute}
	allow(t, l, "login_email:a@example.com", limit)
	if ok, _ := allow(t, l, "login_email:a@example.com", limit); ok {
		t.Fatal("second event on a allowed")
	}
	if ok, _ := allow(t, l, "login_email:b@example.com", limit); !ok {
		t.Fatal("b refused because of a")
	}
	// One key under two limits of different windows: two counters.
	if ok, _ := allow(t, l, "login_email:a@example.com", auth.Limit{N: 1, Per: time.Hour}); !ok {
		t.Fatal("hourly limit refused because of the per-minute counter")
	}
}

// testClockBackwards: a clock stepping back (by less than a window, as NTP
// corrections do) keeps counting what it counted at the latest time seen.
func testClockBackwards(t *testing.T, open Open) {
	clock := NewClock()
	l := open(t, clock.Now)
	limit := auth.Limit{N: 3, Per: time.Minute}
	clock.Advance(time.Minute)
	for range 3 {
		allow(t, l, "k", limit)
	}
	clock.Advance(-30 * time.Second) // into the previous window
	ok, retry := allow(t, l, "k", limit)
	if ok || retry <= 0 {
		t.Fatalf("after the clock went back: ok=%v retryAfter=%v, want refused", ok, retry)
	}
}

// testClockFarBackwards: however far the clock steps back, nothing counted
// is forgotten, and the limiter accepts nothing more until the clock is past
// the point where the events leave the window.
func testClockFarBackwards(t *testing.T, open Open) {
	clock := NewClock()
	l := open(t, clock.Now)
	limit := auth.Limit{N: 3, Per: time.Minute}
	clock.Advance(5 * time.Minute)
	first := clock.Now()
	for range 3 {
		allow(t, l, "k", limit)
	}
	clock.Advance(-3 * time.Minute)
	ok, retry := allow(t, l, "k", limit)
	if ok {
		t.Fatal("allowed after the clock went 3 windows back")
	}
	if want := first.Add(limit.Per).Sub(clock.Now()); retry != want {
		t.Fatalf("retryAfter = %v, want %v (until the burst leaves the window on this clock)", retry, want)
	}
	clock.Advance(retry - resolution)
	if ok, _ := allow(t, l, "k", limit); ok {
		t.Fatal("allowed before retryAfter")
	}
	clock.Advance(resolution)
	if ok, _ := allow(t, l, "k", limit); !ok {
		t.Fatal("refused after retryAfter")
	}
}

// testConcurrent: 100 goroutines racing on one key never get more than the
// limit between them, nor less.
func testConcurrent(t *testing.T, open Open) {
	clock := NewClock()
	l := open(t, clock.Now)
	limit := auth.Limit{N: 50, Per: time.Minute}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			for range 10 {
				ok, _, err := l.Allow(context.Background(), "login_ip:198.51.100.7", limit)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != 50 {
		t.Fatalf("allowed %d, want 50", got)
	}
}

// BenchmarkAllowParallel measures Allow from GOMAXPROCS goroutines over
// 4,096 keys under a limit that never refuses, so that what is measured is
// the limiter's bookkeeping, not its refusals.
func BenchmarkAllowParallel(b *testing.B, l auth.Limiter) {
	benchmarkAllow(b, l, auth.Limit{N: 1 << 20, Per: time.Minute})
}

// BenchmarkAllowAtLimit measures Allow at the per-IP login limit Bulwark
// ships (20 a minute) from GOMAXPROCS goroutines over 4,096 keys: after the
// first 20 events of each key, what is measured is the refusal, the path an
// attacker drives.
func BenchmarkAllowAtLimit(b *testing.B, l auth.Limiter) {
	benchmarkAllow(b, l, auth.Limit{N: 20, Per: time.Minute})
}

// benchmarkAllow calls Allow under limit from GOMAXPROCS goroutines over
// 4,096 keys.
func benchmarkAllow(b *testing.B, l auth.Limiter, limit auth.Limit) {
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = "login_ip:" + strconv.Itoa(i)
	}
	var seq atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seq.Add(1)) * 7919
		for pb.Next() {
			if _, _, err := l.Allow(context.Background(), keys[i%len(keys)], limit); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
