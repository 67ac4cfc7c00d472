package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/testutil"
)

const urlEnv = "BULWARK_TEST_REDIS_URL"

func TestMain(m *testing.M) {
	if os.Getenv(urlEnv) == "" {
		fmt.Fprintf(os.Stderr, "\n"+
			"################################################################\n"+
			"## internal/redis: %s is not set.\n"+
			"## Every test that needs a Redis server is SKIPPED.\n"+
			"## Run with %s=redis://127.0.0.1:6379/15\n"+
			"################################################################\n\n",
			urlEnv, urlEnv)
	}
	// go-redis logs every failed dial; the fault tests cause many.
	SetLogger(nil)
	os.Exit(m.Run())
}

// redisURL returns the test Redis URL or skips the test.
func redisURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(urlEnv)
	if u == "" {
		t.Skipf("SKIPPED: %s is not set; this test needs a Redis server", urlEnv)
	}
	return u
}

// randomPrefix returns a prefix no other test run uses.
func randomPrefix(t testing.TB) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "bulwark-test:" + hex.EncodeToString(b) + ":"
}

// openTest opens a client on the test Redis under prefix and, when the test
// ends, deletes every key under prefix and closes the client.
func openTest(t testing.TB, prefix string, opts ...Option) *Client {
	t.Helper()
	ctx := context.Background()
	c, err := Open(ctx, redisURL(t), prefix, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		deletePrefix(t, c, prefix)
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

func deletePrefix(t testing.TB, c *Client, prefix string) {
	t.Helper()
	ctx := context.Background()
	iter := c.rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Errorf("scan %s*: %v", prefix, err)
		return
	}
	for len(keys) > 0 {
		n := min(len(keys), 500)
		if err := c.rdb.Del(ctx, keys[:n]...).Err(); err != nil {
			t.Errorf("del: %v", err)
			return
		}
		keys = keys[n:]
	}
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  string
		ok   bool
		tls  bool
	}{
		{"plain", "redis://127.0.0.1:6379/15", true, false},
		{"password", "redis://:s3cret-pw@127.0.0.1:6379/0", true, false},
		{"tls", "rediss://bulwark:s3cret-pw@redis.example:6380/0", true, true},
		{"unix", "unix:///tmp/s3cret-pw.sock", false, false},
		{"http", "http://user:s3cret-pw@127.0.0.1:6379", false, false},
		{"bad port", "redis://:s3cret-pw@127.0.0.1:port/0", false, false},
		{"bad db", "redis://:s3cret-pw@127.0.0.1:6379/x", false, false},
		{"unknown option", "redis://:s3cret-pw@127.0.0.1:6379/0?bogus=1", false, false},
		{"timeout disabled", "redis://:s3cret-pw@127.0.0.1:6379/0?read_timeout=-1", false, false},
		{"timeout zero", "redis://:s3cret-pw@127.0.0.1:6379/0?dial_timeout=0", false, false},
		{"control character", "redis://:s3cret-pw@127.0.0.1:6379/0\x7f", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseURL(tc.url)
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil {
				if strings.Contains(err.Error(), "s3cret-pw") {
					t.Fatalf("error %q reveals the password", err)
				}
				return
			}
			if got := o.TLSConfig != nil; got != tc.tls {
				t.Errorf("TLS = %v, want %v", got, tc.tls)
			}
		})
	}
}

func TestParseURLDefaults(t *testing.T) {
	o, err := parseURL("redis://127.0.0.1:6379/15")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want time.Duration
	}{
		{"dial", o.DialTimeout, DefaultDialTimeout},
		{"read", o.ReadTimeout, DefaultReadTimeout},
		{"write", o.WriteTimeout, DefaultWriteTimeout},
		{"pool", o.PoolTimeout, DefaultPoolTimeout},
	} {
		if c.got != c.want {
			t.Errorf("%s timeout = %v, want %v", c.name, c.got, c.want)
		}
	}
	if o.PoolSize != DefaultPoolSize || o.MaxRetries != 1 || o.DialerRetries != 1 || !o.ContextTimeoutEnabled {
		t.Errorf("pool size %d, retries %d, dialer retries %d, context timeouts %v; want %d, 1, 1, true",
			o.PoolSize, o.MaxRetries, o.DialerRetries, o.ContextTimeoutEnabled, DefaultPoolSize)
	}

	o, err = parseURL("redis://127.0.0.1:6379/15?pool_size=7&read_timeout=2s")
	if err != nil {
		t.Fatal(err)
	}
	if o.PoolSize != 7 || o.ReadTimeout != 2*time.Second {
		t.Errorf("URL options ignored: pool size %d, read timeout %v", o.PoolSize, o.ReadTimeout)
	}
	c, err := newClient("redis://127.0.0.1:6379/15?pool_size=7", "", WithPoolSize(3))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.rdb.Options().PoolSize; got != 3 {
		t.Errorf("WithPoolSize(3): pool size %d", got)
	}
}

// TestUnreachable needs no Redis: nothing listens on port 1.
func TestUnreachable(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	_, err := Open(ctx, "redis://:s3cret-pw@127.0.0.1:1/0", "p:")
	if !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("Open: err = %v, want one wrapping auth.ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Fatalf("error %q reveals the password", err)
	}

	c, err := newClient("redis://:s3cret-pw@127.0.0.1:1/0", "p:")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ok, _, err := c.Limiter().Allow(ctx, "k", auth.Limit{N: 5, Per: time.Minute})
	if ok || !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("Allow: ok=%v err=%v, want refused with auth.ErrUnavailable", ok, err)
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Fatalf("error %q reveals the password", err)
	}
	if err := c.Ping(ctx); !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("Ping: err = %v, want auth.ErrUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("failing took %v, want it bounded by the timeouts", d)
	}
}

func TestClosedClient(t *testing.T) {
	c, err := newClient("redis://127.0.0.1:1/0", "p:")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	ok, _, err := c.Limiter().Allow(context.Background(), "k", auth.Limit{N: 5, Per: time.Minute})
	if ok || !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("Allow after Close: ok=%v err=%v, want refused with auth.ErrUnavailable", ok, err)
	}
}

func TestStalledRedisFailsWithinTimeouts(t *testing.T) {
	c, err := newClient("redis://"+testutil.SilentServer(t)+"/0", "p:")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	ok, _, err := c.Limiter().Allow(context.Background(), "k", auth.Limit{N: 5, Per: time.Minute})
	d := time.Since(start)
	if ok || !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("Allow: ok=%v err=%v, want refused with auth.ErrUnavailable", ok, err)
	}
	t.Logf("stalled Redis: failed after %v: %v", d, err)
	if d > 3*time.Second {
		t.Fatalf("failing took %v, want about 2×read timeout", d)
	}

	// A caller's deadline shorter than the timeouts wins.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, _, err = c.Limiter().Allow(ctx, "k", auth.Limit{N: 5, Per: time.Minute})
	if d := time.Since(start); !errors.Is(err, auth.ErrUnavailable) || d > 400*time.Millisecond {
		t.Fatalf("with a 100ms deadline: err=%v after %v", err, d)
	}
}

func TestPing(t *testing.T) {
	c := openTest(t, randomPrefix(t))
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestPerSeconds(t *testing.T) {
	for _, tc := range []struct {
		per  time.Duration
		want string
	}{
		{time.Minute, "60"},
		{time.Hour, "3600"},
		{1500 * time.Millisecond, "1.5"},
		{time.Microsecond, "0.000001"},
		{2*time.Second + 250*time.Microsecond, "2.00025"},
	} {
		if got := perSeconds(int64(tc.per / time.Microsecond)); got != tc.want {
			t.Errorf("perSeconds(%v) = %q, want %q", tc.per, got, tc.want)
		}
	}
}

func TestSetLogger(t *testing.T) {
	var buf strings.Builder
	SetLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	defer SetLogger(nil)
	c, err := newClient("redis://:s3cret-pw@127.0.0.1:1/0", "p:")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.Ping(context.Background())
	if !strings.Contains(buf.String(), "level=WARN") || !strings.Contains(buf.String(), "127.0.0.1:1") {
		t.Fatalf("go-redis message not logged through slog: %q", buf.String())
	}
	if strings.Contains(buf.String(), "s3cret-pw") {
		t.Fatalf("log %q reveals the password", buf.String())
	}
}
