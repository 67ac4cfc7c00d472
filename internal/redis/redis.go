// Package redis keeps Bulwark's shared ephemeral state in Redis, so that
// several instances behind a load balancer enforce one set of limits.
//
// Redis holds only state that may be lost: rate-limit windows (Limiter). Losing
// or flushing Redis resets the windows and nothing else; lockouts, sessions,
// refresh families and the deny list live in the database.
//
// # Connection
//
// Open takes a redis:// or rediss:// (TLS) URL as understood by go-redis'
// ParseURL, for example
//
//	redis://:password@redis.internal:6379/0
//	rediss://bulwark:password@redis.internal:6380/0?pool_size=64
//
// The URL may carry a password, so no error of this package includes it.
// Unless the URL's query sets them, Open bounds the client as follows, so that
// a Redis that is down or stalled turns a request into a quick 503 instead of
// a hung one:
//
//	dial_timeout   1 s      (one dial attempt per try)
//	read_timeout   500 ms
//	write_timeout  500 ms
//	pool_size      32 connections (WithPoolSize overrides it)
//	pool_timeout   1 s      (wait for a free connection)
//	max_retries    1        (one retry, after at most 100 ms)
//
// With these an operation against an unreachable or stalled Redis fails in
// about 2 s at most, sooner when the caller's context says so. A URL that
// disables a timeout (a value of zero or less) is refused. Timeouts come from
// the URL and the caller's context; go-redis honours context deadlines.
//
// Only standalone Redis (or a primary behind a stable address) is supported:
// the limiter script derives its key names from the server's clock, which
// Redis Cluster does not allow.
package redis

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// Defaults applied by Open when the URL does not set them.
const (
	DefaultDialTimeout  = time.Second
	DefaultReadTimeout  = 500 * time.Millisecond
	DefaultWriteTimeout = 500 * time.Millisecond
	DefaultPoolSize     = 32
	DefaultPoolTimeout  = time.Second
	defaultMaxRetries   = 1
	maxRetryBackoff     = 100 * time.Millisecond
)

// Client is a connection pool to one Redis server. It is safe for concurrent
// use. Keys it writes all begin with its prefix.
type Client struct {
	rdb    *goredis.Client
	prefix string
	// now, when set, replaces the Redis server's clock (tests only).
	now func() time.Time
}

// Option configures Open.
type Option func(*config)

type config struct {
	poolSize int
	now      func() time.Time
}

// WithPoolSize sets the maximum number of connections (n > 0). It overrides
// pool_size in the URL.
func WithPoolSize(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.poolSize = n
		}
	}
}

// WithClock makes the limiter read the time from now instead of the Redis
// server's clock, which it passes to the script as an argument. It is meant
// for tests, which need to move time by hand. In production leave it out: the
// server's clock is the one clock every instance agrees on, whatever the
// skew between their own.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

// Open parses url, connects to Redis and checks that it answers. prefix begins
// every key (for example "bulwark:"), so that several deployments or test runs
// can share one Redis. An error from a Redis that does not answer wraps
// auth.ErrUnavailable; no error includes the URL.
func Open(ctx context.Context, url, prefix string, opts ...Option) (*Client, error) {
	c, err := newClient(url, prefix, opts...)
	if err != nil {
		return nil, err
	}
	if err := c.Ping(ctx); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("open redis: %w", err)
	}
	return c, nil
}

// Connect is Open without the first Ping: go-redis connects lazily, so a
// server can start while Redis is down, answer 503 for what needs it, and
// recover by itself when it returns.
func Connect(url, prefix string, opts ...Option) (*Client, error) {
	return newClient(url, prefix, opts...)
}

// newClient is Open without the first Ping: go-redis connects lazily.
func newClient(rawURL, prefix string, opts ...Option) (*Client, error) {
	o, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	var cfg config
	for _, opt := range opts {
		opt(&cfg)
	}
	if cfg.poolSize > 0 {
		o.PoolSize = cfg.poolSize
	}
	return &Client{rdb: goredis.NewClient(o), prefix: prefix, now: cfg.now}, nil
}

// parseURL turns rawURL into go-redis options with Bulwark's bounds applied.
// Its errors never quote rawURL, which may hold a password.
func parseURL(rawURL string) (*goredis.Options, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// *url.Error quotes the whole URL; keep only the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("parse redis url: %w", err)
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("parse redis url: scheme %q, want redis or rediss", u.Scheme)
	}
	o, err := goredis.ParseURL(rawURL)
	if err != nil {
		// go-redis' own messages name the offending query option, never the
		// credentials; strip a *url.Error all the same.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("parse redis url: %w", err)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"dial_timeout", &o.DialTimeout, DefaultDialTimeout},
		{"read_timeout", &o.ReadTimeout, DefaultReadTimeout},
		{"write_timeout", &o.WriteTimeout, DefaultWriteTimeout},
		{"pool_timeout", &o.PoolTimeout, DefaultPoolTimeout},
	} {
		switch {
		case *d.v == 0:
			*d.v = d.def
		case *d.v < 0:
			// A Redis that stops answering must fail requests closed and
			// fast, not hold them.
			return nil, fmt.Errorf("parse redis url: %s must be positive", d.name)
		}
	}
	if o.PoolSize == 0 {
		o.PoolSize = DefaultPoolSize
	}
	if o.PoolSize < 0 {
		return nil, errors.New("parse redis url: pool_size must be positive")
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = defaultMaxRetries
	}
	if o.MaxRetryBackoff == 0 {
		o.MaxRetryBackoff = maxRetryBackoff
	}
	// One dial per try: go-redis would otherwise dial up to five times with
	// DialTimeout each before the command even starts.
	o.DialerRetries = 1
	// Deadlines of the caller's context apply to the network operations.
	o.ContextTimeoutEnabled = true
	// We send no pipelines; keep the connection count at PoolSize.
	if o.PipelinePoolSize == 0 {
		o.PipelinePoolSize = -1
	}
	// Maintenance notifications are a Redis Enterprise/Cloud feature; on
	// open-source Redis they only cost a failed command per connection.
	o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return o, nil
}

// Ping checks that Redis answers, for readiness probes. Its error wraps
// auth.ErrUnavailable.
func (c *Client) Ping(ctx context.Context) error {
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		return unavailable("ping redis", err)
	}
	return nil
}

// Close closes the connections. Operations after Close fail with an error
// wrapping auth.ErrUnavailable.
func (c *Client) Close() error {
	if err := c.rdb.Close(); err != nil && !errors.Is(err, goredis.ErrClosed) {
		return fmt.Errorf("close redis: %w", err)
	}
	return nil
}

// unavailable wraps err, an error from go-redis, so that callers see
// auth.ErrUnavailable and fail closed. go-redis errors name the server's
// address at most, never its credentials.
func unavailable(op string, err error) error {
	return fmt.Errorf("%s: %w: %w", op, auth.ErrUnavailable, err)
}
