package memory

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/limitertest"
)

func allow(t *testing.T, l *Limiter, key string, limit auth.Limit) (bool, time.Duration) {
	t.Helper()
	ok, retry, err := l.Allow(context.Background(), key, limit)
	if err != nil {
		t.Fatalf("Allow(%q, %v): %v", key, limit, err)
	}
	return ok, retry
}

func TestConformance(t *testing.T) {
	limitertest.Run(t, func(t *testing.T, now func() time.Time) auth.Limiter {
		return NewLimiter(LimiterOptions{Now: now})
	})
}

// TestAllowClockFarBackwards: the memory limiter stays in the latest window
// seen however far the clock steps back (the shared suite checks less than a
// window, all that Redis promises).
func TestAllowClockFarBackwards(t *testing.T) {
	clock := limitertest.NewClock()
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

func TestLimiterBoundedUnderFlood(t *testing.T) {
	const keys = 1_000_000
	const bound = 64 << 20
	clock := limitertest.NewClock()
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
	clock := limitertest.NewClock()
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
	clock := limitertest.NewClock()
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
	clock := limitertest.NewClock()
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
	limitertest.BenchmarkAllowParallel(b, NewLimiter(LimiterOptions{}))
}
