package redis

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/limitertest"
	"github.com/bulwarkauth/bulwark/internal/memory"
	"github.com/bulwarkauth/bulwark/internal/testutil"
)

func allow(t testing.TB, l *Limiter, key string, limit auth.Limit) (bool, time.Duration) {
	t.Helper()
	ok, retry, err := l.Allow(context.Background(), key, limit)
	if err != nil {
		t.Fatalf("Allow(%q, %v): %v", key, limit, err)
	}
	return ok, retry
}

// clockLimiter returns a limiter on the test Redis that reads clock, under a
// fresh prefix.
func clockLimiter(t *testing.T, clock *limitertest.Clock) *Limiter {
	return openTest(t, randomPrefix(t), WithClock(clock.Now)).Limiter()
}

func TestAllowExactBurst(t *testing.T) {
	// The server's clock, as in production.
	l := openTest(t, randomPrefix(t)).Limiter()
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

func TestConformance(t *testing.T) {
	limitertest.Run(t, func(t *testing.T, now func() time.Time) auth.Limiter {
		return openTest(t, randomPrefix(t), WithClock(now)).Limiter()
	})
}

// TestProperty: several thousand random sequences against the exact rule.
func TestProperty(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	limitertest.Property(t, func(t *testing.T, now func() time.Time) auth.Limiter {
		return openTest(t, randomPrefix(t), WithClock(now)).Limiter()
	}, n)
}

func TestAllowSharedAcrossClients(t *testing.T) {
	// Two instances on one Redis share one budget: 5 in total, not 10.
	prefix := randomPrefix(t)
	a := openTest(t, prefix).Limiter()
	b := openTest(t, prefix).Limiter()
	limit := auth.Limit{N: 5, Per: time.Minute}
	allowed := 0
	for i := range 10 {
		l := a
		if i%2 == 1 {
			l = b
		}
		if ok, _ := allow(t, l, "login_email:alice@example.com", limit); ok {
			allowed++
		}
	}
	if allowed != 5 {
		t.Fatalf("allowed %d across two clients, want 5", allowed)
	}
}

func TestAllowConcurrent(t *testing.T) {
	prefix := randomPrefix(t)
	limiters := []*Limiter{openTest(t, prefix).Limiter(), openTest(t, prefix).Limiter()}
	limit := auth.Limit{N: 50, Per: time.Minute}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := range 100 {
		l := limiters[g%2]
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

func TestAllowRetryAfterServerTime(t *testing.T) {
	// The same with the server's clock and real time: sleeping retryAfter
	// is enough. A short window keeps the test fast.
	l := openTest(t, randomPrefix(t)).Limiter()
	limit := auth.Limit{N: 3, Per: 500 * time.Millisecond}
	// Exactly N of a burst pass, wherever the burst falls.
	for i := range limit.N {
		if ok, _ := allow(t, l, "k", limit); !ok {
			t.Fatalf("event %d of the burst refused", i+1)
		}
	}
	ok, retry := allow(t, l, "k", limit)
	if ok {
		t.Fatalf("event %d of a burst allowed at %d per %v", limit.N+1, limit.N, limit.Per)
	}
	if retry <= 0 || retry > limit.Per {
		t.Fatalf("retryAfter = %v, want in (0, %v]", retry, limit.Per)
	}
	time.Sleep(retry)
	if ok, retry2 := allow(t, l, "k", limit); !ok {
		t.Fatalf("refused after sleeping retryAfter %v (now retryAfter %v)", retry, retry2)
	}
}

func TestAllowMatchesMemoryLimiter(t *testing.T) {
	// The script is the twin of internal/memory's Limiter: driven by one
	// clock through the same events, both decide alike, and retryAfter
	// differs only by the script's microsecond resolution.
	clock := limitertest.NewClock()
	l := clockLimiter(t, clock)
	m := memory.NewLimiter(memory.LimiterOptions{Now: clock.Now})
	rng := rand.New(rand.NewPCG(1, 2))
	limits := []auth.Limit{
		{N: 1, Per: time.Minute},
		{N: 3, Per: time.Minute},
		{N: 5, Per: 1500 * time.Millisecond},
		{N: 10, Per: time.Hour},
		{N: 7, Per: 7 * time.Second},
		{N: memory.MaxExact + 16, Per: time.Minute}, // bucketed
	}
	steps := 3000
	if testing.Short() {
		steps = 300
	}
	refused := 0
	for i := range steps {
		limit := limits[rng.IntN(len(limits))]
		key := "k" + strconv.Itoa(rng.IntN(3))
		ok, retry := allow(t, l, key, limit)
		mok, mretry, err := m.Allow(context.Background(), key, limit)
		if err != nil {
			t.Fatal(err)
		}
		if ok != mok || retry < mretry || retry >= mretry+time.Microsecond {
			t.Fatalf("step %d, %s %d/%v: got ok=%v retryAfter=%v, memory says ok=%v retryAfter=%v",
				i, key, limit.N, limit.Per, ok, retry, mok, mretry)
		}
		if !ok {
			refused++
		}
		// Mostly small steps, sometimes a jump of about a window; all
		// whole microseconds.
		var d time.Duration
		switch rng.IntN(10) {
		case 0:
			d = time.Duration(rng.Int64N(int64(limit.Per)))
		case 1, 2, 3:
			d = 0
		default:
			d = time.Duration(rng.Int64N(int64(limit.Per) / int64(limit.N) / 3))
		}
		clock.Advance(d.Truncate(time.Microsecond))
	}
	t.Logf("%d of %d events refused", refused, steps)
	if refused < steps/20 || refused > steps*19/20 {
		t.Fatalf("%d of %d events refused: the sequence does not exercise both answers", refused, steps)
	}
}

func TestAllowWindowSlidesServerTime(t *testing.T) {
	// With the server's clock: a 200ms window is free again after two.
	l := openTest(t, randomPrefix(t)).Limiter()
	limit := auth.Limit{N: 2, Per: 200 * time.Millisecond}
	allow(t, l, "k", limit)
	allow(t, l, "k", limit)
	time.Sleep(2 * limit.Per)
	for i := range 2 {
		if ok, _ := allow(t, l, "k", limit); !ok {
			t.Fatalf("event %d refused two windows later", i+1)
		}
	}
}

func TestAllowKeysIndependent(t *testing.T) {
	clock := limitertest.NewClock()
	l := clockLimiter(t, clock)
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
	// Keys that contain the separator do not collide with others.
	if ok, _ := allow(t, l, "login_email:a@example.com:60", limit); !ok {
		t.Fatal("a key ending in :60 shares a counter")
	}
}

func TestPrefixIsolation(t *testing.T) {
	a := openTest(t, randomPrefix(t)).Limiter()
	b := openTest(t, randomPrefix(t)).Limiter()
	limit := auth.Limit{N: 1, Per: time.Minute}
	if ok, _ := allow(t, a, "k", limit); !ok {
		t.Fatal("first event under prefix a refused")
	}
	if ok, _ := allow(t, b, "k", limit); !ok {
		t.Fatal("first event under prefix b refused: prefixes share counters")
	}
	if ok, _ := allow(t, a, "k", limit); ok {
		t.Fatal("second event under prefix a allowed")
	}
}

func TestAllowInvalidLimit(t *testing.T) {
	// Validation happens before Redis is contacted: no server needed.
	c, err := newClient("redis://127.0.0.1:1/0", "p:")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, limit := range []auth.Limit{
		{N: 0, Per: time.Minute},
		{N: -1, Per: time.Minute},
		{N: 5, Per: 0},
		{N: 5, Per: -time.Second},
		{N: 5, Per: 400 * 24 * time.Hour},
		{N: 5, Per: 1500 * time.Nanosecond},
		{N: 1 << 32, Per: time.Minute},
	} {
		ok, _, err := c.Limiter().Allow(context.Background(), "k", limit)
		if err == nil || ok || errors.Is(err, auth.ErrUnavailable) {
			t.Errorf("Allow with %v: ok=%v err=%v, want an invalid-limit error", limit, ok, err)
		}
	}
}

func TestAllowLargeLimits(t *testing.T) {
	// The largest limits accepted still count exactly.
	clock := limitertest.NewClock()
	l := clockLimiter(t, clock)
	for _, limit := range []auth.Limit{
		{N: 142, Per: 366 * 24 * time.Hour},
		{N: 1 << 20, Per: time.Hour},
	} {
		key := "k" + limit.Per.String()
		for i := range 3 {
			if ok, _ := allow(t, l, key, limit); !ok {
				t.Fatalf("%v: event %d refused", limit, i+1)
			}
		}
	}
}

func TestAllowKeysExpire(t *testing.T) {
	prefix := randomPrefix(t)
	c := openTest(t, prefix)
	limit := auth.Limit{N: 5, Per: time.Minute}
	allow(t, c.Limiter(), "login_ip:192.0.2.1", limit)
	ctx := context.Background()
	keys, err := c.rdb.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if want := prefix + "rl:login_ip:192.0.2.1:60"; len(keys) != 1 || keys[0] != want {
		t.Fatalf("keys = %q, want [%q]", keys, want)
	}
	// The log lives exactly as long as its newest event counts.
	ttl, err := c.rdb.PTTL(ctx, keys[0]).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= time.Minute-time.Second || ttl > time.Minute {
		t.Fatalf("PTTL = %v, want in (59s, 1m]", ttl)
	}
	// The log holds the span: start in microseconds, count, as
	// little-endian float64s.
	v, err := c.rdb.Get(ctx, keys[0]).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != 16 {
		t.Fatalf("log of %d bytes, want one span of 16", len(v))
	}
	start := math.Float64frombits(binary.LittleEndian.Uint64(v))
	count := math.Float64frombits(binary.LittleEndian.Uint64(v[8:]))
	if count != 1 || time.Since(time.UnixMicro(int64(start))).Abs() > time.Minute {
		t.Fatalf("log (%v, %v), want the event's time in microseconds and a count of 1", start, count)
	}
}

func TestRedisGoesAwayAndComesBack(t *testing.T) {
	target, err := parseURL(redisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	p := testutil.NewFaultProxy(t, target.Addr)
	u := strings.Replace(redisURL(t), target.Addr, p.Addr(), 1)
	if u == redisURL(t) {
		t.Skipf("cannot route %s through a proxy", urlEnv)
	}
	prefix := randomPrefix(t)
	openTest(t, prefix) // cleans up the keys directly
	c, err := Open(context.Background(), u, prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l := c.Limiter()
	limit := auth.Limit{N: 3, Per: time.Minute}
	allow(t, l, "k", limit)

	p.Cut()
	start := time.Now()
	for i := range 3 {
		ok, _, err := l.Allow(context.Background(), "k", limit)
		if ok || !errors.Is(err, auth.ErrUnavailable) {
			t.Fatalf("call %d with Redis gone: ok=%v err=%v, want refused with auth.ErrUnavailable", i+1, ok, err)
		}
	}
	if err := c.Ping(context.Background()); !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("Ping with Redis gone: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("failing took %v", d)
	}

	p.Restore()
	deadline := time.Now().Add(5 * time.Second)
	for c.Ping(context.Background()) != nil {
		if time.Now().After(deadline) {
			t.Fatal("client did not recover after Redis came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The count from before the outage still holds: 1 used, 2 left.
	for i := range 2 {
		if ok, _ := allow(t, l, "k", limit); !ok {
			t.Fatalf("event %d after recovery refused", i+1)
		}
	}
	if ok, _ := allow(t, l, "k", limit); ok {
		t.Fatal("4th event allowed after recovery")
	}
}

func BenchmarkAllowParallel(b *testing.B) {
	limitertest.BenchmarkAllowParallel(b, openTest(b, randomPrefix(b)).Limiter())
}

func BenchmarkAllowAtLimit(b *testing.B) {
	limitertest.BenchmarkAllowAtLimit(b, openTest(b, randomPrefix(b)).Limiter())
}
