package memory

import (
	"context"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// fakeClock is a clock tests move by hand; safe for concurrent use.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	// Deliberately not on a minute or hour boundary.
	c.ns.Store(time.Date(2026, 3, 1, 12, 0, 17, 250_000_000, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func allow(t *testing.T, l *Limiter, key string, limit auth.Limit) (bool, time.Duration) {
	t.Helper()
	ok, retry, err := l.Allow(context.Background(), key, limit)
	if err != nil {
		t.Fatalf("Allow(%q, %v): %v", key, limit, err)
	}
	return ok, retry
}

func TestAllowExactBurst(t *testing.T) {
	clock := newFakeClock()
	l := NewLimiter(LimiterOptions{Now: clock.Now})
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

func TestAllowBurstOnWindowBoundary(t *testing.T) {
	clock := newFakeClock()
	clock.ns.Store(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	l := NewLimiter(LimiterOptions{Now: clock.Now})
	limit := auth.Limit{N: 3, Per: time.Minute}
	for range 3 {
		allow(t, l, "k", limit)
	}
	ok, retry := allow(t, l, "k", limit)
	if ok || retry <= 0 || retry > time.Minute {
		t.Fatalf("got ok=%v retryAfter=%v, want refused with retryAfter in (0, 1m]", ok, retry)
	}
}

func TestAllowRetryAfterIsHonest(t *testing.T) {
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
			clock := newFakeClock()
			l := NewLimiter(LimiterOptions{Now: clock.Now})
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
			if retry > time.Nanosecond {
				clock.Advance(retry - time.Nanosecond)
				if ok, _ := allow(t, l, "k", tc.limit); ok {
					t.Fatalf("allowed before retryAfter %v", retry)
				}
				clock.Advance(time.Nanosecond)
			}
			if ok, _ := allow(t, l, "k", tc.limit); !ok {
				t.Fatalf("refused after waiting retryAfter %v", retry)
			}
		})
	}
}

func TestAllowWindowSlides(t *testing.T) {
	clock := newFakeClock()
	l := NewLimiter(LimiterOptions{Now: clock.Now})
	limit := auth.Limit{N: 10, Per: time.Minute}
	for range 10 {
		allow(t, l, "k", limit)
	}
	if ok, _ := allow(t, l, "k", limit); ok {
		t.Fatal("11th event allowed")
	}
	// A full window later the burst still weighs on the estimate
	// (it lies in the previous window), but less than 10.
	clock.Advance(time.Minute)
	n := 0
	for range 10 {
		if ok, _ := allow(t, l, "k", limit); ok {
			n++
		}
	}
	if n == 0 || n == 10 {
		t.Fatalf("allowed %d of 10 one window later, want some but not all", n)
	}
	// Two windows later nothing remains.
	clock.Advance(2 * time.Minute)
	for i := range 10 {
		if ok, _ := allow(t, l, "k", limit); !ok {
			t.Fatalf("event %d refused two windows later", i+1)
		}
	}
}

func TestAllowSteadyRate(t *testing.T) {
	// A client that sends exactly at the limit's rate is never refused.
	clock := newFakeClock()
	l := NewLimiter(LimiterOptions{Now: clock.Now})
	limit := auth.Limit{N: 6, Per: time.Minute}
	for i := range 60 {
		if ok, _ := allow(t, l, "k", limit); !ok {
			t.Fatalf("event %d at the limit's rate refused", i+1)
		}
		clock.Advance(10*time.Second + time.Millisecond)
	}
}

func TestAllowRefusalsNotCounted(t *testing.T) {
	clock := newFakeClock()
	l := NewLimiter(LimiterOptions{Now: clock.Now})
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

func TestAllowKeysIndependent(t *testing.T) {
	clock := newFakeClock()
	l := NewLimiter(LimiterOptions{Now: clock.Now})
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

func TestAllowInvalidLimit(t *testing.T) {
	l := NewLimiter(LimiterOptions{})
	for _, limit := range []auth.Limit{
		{N: 0, Per: time.Minute},
		{N: -1, Per: time.Minute},
		{N: 5, Per: 0},
		{N: 5, Per: -time.Second},
		{N: 5, Per: 400 * 24 * time.Hour},
	} {
		ok, _, err := l.Allow(context.Background(), "k", limit)
		if err == nil || ok {
			t.Errorf("Allow with %v: ok=%v err=%v, want error", limit, ok, err)
		}
	}
}

func TestAllowClockBackwards(t *testing.T) {
	clock := newFakeClock()
	l := NewLimiter(LimiterOptions{Now: clock.Now})
	limit := auth.Limit{N: 3, Per: time.Minute}
	clock.Advance(5 * time.Minute)
	for range 3 {
		allow(t, l, "k", limit)
	}
	clock.Advance(-3 * time.Minute)
	ok, retry := allow(t, l, "k", limit)
	if ok || retry <= 0 {
		t.Fatalf("after the clock went back: ok=%v retryAfter=%v, want refused", ok, retry)
	}
}

func TestAllowConcurrent(t *testing.T) {
	clock := newFakeClock()
	l := NewLimiter(LimiterOptions{Now: clock.Now})
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

func TestLimiterBoundedUnderFlood(t *testing.T) {
	const keys = 1_000_000
	const bound = 64 << 20
	clock := newFakeClock()
	l := NewLimiter(LimiterOptions{Now: clock.Now})
	limit := auth.Limit{N: 1, Per: time.Hour}
	allow(t, l, "victim", limit) // the oldest entry: evicted by the flood

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range keys {
		if ok, _ := allow(t, l, "login_ip:"+strconv.Itoa(i), limit); !ok {
			t.Fatalf("fresh key %d refused", i)
		}
	}
	allow(t, l, "recent", limit)
	runtime.GC()
	runtime.ReadMemStats(&after)

	if n := l.Len(); n > DefaultMaxKeys {
		t.Fatalf("Len() = %d, want ≤ %d", n, DefaultMaxKeys)
	}
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d keys tracked, heap grew by %.1f MiB", l.Len(), float64(growth)/(1<<20))
	if growth > bound {
		t.Fatalf("heap grew by %d bytes, want < %d", growth, bound)
	}
	if ok, _ := allow(t, l, "victim", limit); !ok {
		t.Fatal("oldest key still tracked after the flood, want evicted")
	}
	if ok, _ := allow(t, l, "recent", limit); ok {
		t.Fatal("most recent key forgotten")
	}
	runtime.KeepAlive(l)
}

func TestLimiterMaxKeys(t *testing.T) {
	for _, maxKeys := range []int{1, 10, 63, 64, 100, 1000, 5000} {
		l := NewLimiter(LimiterOptions{MaxKeys: maxKeys})
		for i := range 3 * maxKeys {
			allow(t, l, strconv.Itoa(i), auth.Limit{N: 1, Per: time.Minute})
		}
		if n := l.Len(); n > maxKeys {
			t.Errorf("MaxKeys %d: Len() = %d", maxKeys, n)
		}
	}
}

func TestLimiterSweepPurgesExpired(t *testing.T) {
	clock := newFakeClock()
	l := NewLimiter(LimiterOptions{Now: clock.Now})
	for i := range 1000 {
		allow(t, l, strconv.Itoa(i), auth.Limit{N: 5, Per: time.Minute})
	}
	allow(t, l, "hourly", auth.Limit{N: 5, Per: time.Hour})
	clock.Advance(time.Minute)
	if n := l.Sweep(); n != 0 {
		t.Fatalf("Sweep one window later dropped %d entries, want 0 (the previous window still counts)", n)
	}
	clock.Advance(2 * time.Minute)
	if n := l.Sweep(); n != 1000 {
		t.Fatalf("Sweep dropped %d entries, want 1000", n)
	}
	if n := l.Len(); n != 1 {
		t.Fatalf("Len() = %d after sweep, want 1 (the hourly entry)", n)
	}
}

func TestLimiterFullShardDropsExpiredBeforeLive(t *testing.T) {
	clock := newFakeClock()
	l := NewLimiter(LimiterOptions{Now: clock.Now, MaxKeys: 10}) // one shard of 10
	hourly := auth.Limit{N: 1, Per: time.Hour}
	minutely := auth.Limit{N: 1, Per: time.Minute}
	allow(t, l, "live", hourly) // least recently used, but live
	for i := range 9 {
		allow(t, l, strconv.Itoa(i), minutely)
	}
	clock.Advance(3 * time.Minute)
	for i := range 5 {
		allow(t, l, "new"+strconv.Itoa(i), minutely)
	}
	if n := l.Len(); n != 6 {
		t.Fatalf("Len() = %d, want 6 (live + 5 new)", n)
	}
	if ok, _ := allow(t, l, "live", hourly); ok {
		t.Fatal("live entry was evicted while expired ones could be dropped")
	}
}

func TestLimiterRunStops(t *testing.T) {
	clock := newFakeClock()
	l := NewLimiter(LimiterOptions{Now: clock.Now})
	allow(t, l, "k", auth.Limit{N: 1, Per: time.Second})
	clock.Advance(time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		l.Run(ctx, time.Millisecond)
		close(done)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for l.Len() != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := l.Len(); n != 0 {
		t.Errorf("Len() = %d with Run sweeping, want 0", n)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func BenchmarkAllowParallel(b *testing.B) {
	l := NewLimiter(LimiterOptions{})
	limit := auth.Limit{N: 1 << 30, Per: time.Minute}
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
