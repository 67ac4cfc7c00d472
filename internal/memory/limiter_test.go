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

// TestProperty: several thousand random sequences against the exact rule.
func TestProperty(t *testing.T) {
	n := 5000
	if testing.Short() {
		n = 500
	}
	limitertest.Property(t, func(t *testing.T, now func() time.Time) auth.Limiter {
		return NewLimiter(LimiterOptions{Now: now})
	}, n)
}

// TestStepExactAgainstReference drives Step alone, the decision the Redis
// script mirrors and PostgreSQL calls, with bursts at one instant and time
// going on, and compares every answer with the reference.
func TestStepExactAgainstReference(t *testing.T) {
	limit := auth.Limit{N: 4, Per: 10 * time.Second}
	ref := &limitertest.Reference{Limit: limit}
	var lg Log
	now := time.Unix(1_700_000_000, 0)
	for i, d := range []time.Duration{0, 0, time.Second, 0, 0, 8 * time.Second, time.Second, 0, 500 * time.Millisecond, 10 * time.Second, 0} {
		now = now.Add(d)
		var ok bool
		var retry time.Duration
		lg, ok, retry = Step(lg, now.UnixNano(), limit)
		wok, wretry := ref.Allow(now)
		if ok != wok || retry != wretry {
			t.Fatalf("event %d: Step says ok=%v retryAfter=%v, the rule says ok=%v retryAfter=%v", i, ok, retry, wok, wretry)
		}
		if len(lg) > 2*limit.N {
			t.Fatalf("event %d: log of %d spans, want at most N=%d", i, len(lg)/2, limit.N)
		}
	}
}

// TestStepBucketsBounded: above MaxExact the log holds at most Buckets+1
// spans whatever N and the rate, and still never lets N+1 through in Per.
func TestStepBucketsBounded(t *testing.T) {
	limit := auth.Limit{N: 1_000_000, Per: time.Minute}
	var lg Log
	now := time.Unix(1_700_000_000, 0).UnixNano()
	accepted := 0
	var times []time.Time
	for range 200_000 {
		var ok bool
		lg, ok, _ = Step(lg, now, limit)
		if ok {
			accepted++
			times = append(times, time.Unix(0, now))
		}
		if len(lg) > 2*(Buckets+1) {
			t.Fatalf("log of %d spans, want at most %d", len(lg)/2, Buckets+1)
		}
		now += int64(time.Millisecond) // 60,000 a minute, far below N
	}
	if accepted != 200_000 {
		t.Fatalf("%d of 200,000 accepted at 6%% of the limit", accepted)
	}
	// A clock that jumps back and forth by more than a bucket keeps the
	// log in order and within its bound: events are recorded at the
	// newest span's time.
	lg = nil
	for i := range 10_000 {
		at := now + int64(i)*int64(time.Millisecond)
		if i%2 == 1 {
			at -= int64(10 * time.Second)
		}
		lg, _, _ = Step(lg, at, limit)
		if len(lg) > 2*(Buckets+1) {
			t.Fatalf("event %d with the clock jumping: log of %d spans, want at most %d", i, len(lg)/2, Buckets+1)
		}
		for j := 2; j < len(lg); j += 2 {
			if lg[j] <= lg[j-2] {
				t.Fatalf("event %d with the clock jumping: spans out of order", i)
			}
		}
	}
	small := auth.Limit{N: MaxExact + 1, Per: time.Minute}
	lg, times = nil, times[:0]
	now = time.Unix(1_700_000_000, 0).UnixNano()
	for range 10_000 {
		var ok bool
		lg, ok, _ = Step(lg, now, small)
		if ok {
			times = append(times, time.Unix(0, now))
		}
		now += int64(37 * time.Millisecond)
	}
	if most := limitertest.MostInAnyWindow(times, small.Per); most > small.N {
		t.Fatalf("%d events accepted in one minute, want at most %d", most, small.N)
	}
	// The price of buckets: a client at the exact rate gets most, not all.
	if len(times) < 10_000*small.N/(int(time.Minute/(37*time.Millisecond))+1)*9/10 {
		t.Fatalf("only %d accepted", len(times))
	}
}

// TestBytesPerKey measures the heap a key costs at the limits Bulwark
// ships, with its log full, and when it has seen one event (a flood of
// distinct keys).
func TestBytesPerKey(t *testing.T) {
	for _, tc := range []struct {
		limit  auth.Limit
		events int
		max    float64
	}{
		{auth.Limit{N: 5, Per: time.Minute}, 1, 240},
		{auth.Limit{N: 5, Per: time.Minute}, 5, 290},
		{auth.Limit{N: 20, Per: time.Minute}, 20, 570},
		{auth.Limit{N: 1 << 20, Per: time.Minute}, 200, 1500},
	} {
		const keys = 20_000
		clock := limitertest.NewClock()
		l := NewLimiter(LimiterOptions{Now: clock.Now})
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range tc.events {
			for i := range keys {
				allow(t, l, "login_ip:198.51.100."+strconv.Itoa(i), tc.limit)
			}
			clock.Advance(tc.limit.Per / time.Duration(min(tc.events, Buckets)+1))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		per := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / keys
		t.Logf("%d/%v, %d events a key: %.0f bytes a key", tc.limit.N, tc.limit.Per, tc.events, per)
		if per > tc.max {
			t.Errorf("%d/%v, %d events: %.0f bytes a key, want at most %.0f", tc.limit.N, tc.limit.Per, tc.events, per, tc.max)
		}
		runtime.KeepAlive(l)
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
	clock.Advance(time.Minute - time.Nanosecond)
	if n := l.Sweep(); n != 0 {
		t.Fatalf("Sweep just before the events leave the window dropped %d entries, want 0", n)
	}
	clock.Advance(time.Nanosecond)
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

func BenchmarkAllowAtLimit(b *testing.B) {
	limitertest.BenchmarkAllowAtLimit(b, NewLimiter(LimiterOptions{}))
}
