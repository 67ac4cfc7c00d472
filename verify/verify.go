package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Defaults and bounds of Config.
const (
	DefaultLeeway          = 30 * time.Second
	MaxLeeway              = 5 * time.Minute
	DefaultRefreshInterval = time.Minute
	MinRefreshInterval     = time.Second
	DefaultMaxLifetime     = 24 * time.Hour
	defaultHTTPTimeout     = 10 * time.Second
)

// Errors returned by Verify. Every refused token is ErrInvalid; a revoked
// one is also ErrRevoked. ErrUnavailable means the token could not be
// checked at all (keys or revocation state too old): answer 503, not 401.
// The wrapped detail is a fixed string that never quotes the token, so
// errors may be logged as they are.
var (
	ErrInvalid     = errors.New("invalid access token")
	ErrRevoked     = errors.New("access token revoked")
	ErrUnavailable = errors.New("token verification unavailable")
)

// Config configures a Verifier. Issuer and Audience are required.
type Config struct {
	// Issuer is the exact iss of the tokens: Bulwark's BULWARK_PUBLIC_URL,
	// without a trailing slash.
	Issuer string
	// Audience is the exact aud of the tokens: BULWARK_TOKEN_AUDIENCE.
	Audience string
	// JWKSURL is where the signing keys are published. Default:
	// Issuer + "/.well-known/jwks.json".
	JWKSURL string
	// Algorithms pins the JWS algorithms accepted, a subset of EdDSA and
	// ES256. Default: both. Any other name makes New fail.
	Algorithms []string
	// Leeway is the clock skew tolerated on exp, nbf and iat. Default
	// DefaultLeeway; at most MaxLeeway.
	Leeway time.Duration
	// MaxLifetime refuses tokens whose exp − iat is longer. Default
	// DefaultMaxLifetime; set it to Bulwark's BULWARK_ACCESS_TOKEN_TTL for
	// the tightest bound.
	MaxLifetime time.Duration
	// HTTPClient makes the JWKS and feed requests. Default: a client with
	// a 10 s timeout. Redirects are never followed, and the feed request
	// ignores the client's Timeout (it is a long-lived stream).
	HTTPClient *http.Client
	// RefreshInterval is the least time between two JWKS fetches, and the
	// least time a fetched key set is kept whatever its max-age. Default
	// DefaultRefreshInterval; at least MinRefreshInterval, at most an hour.
	RefreshInterval time.Duration
	// InsecureHTTP allows http:// JWKS and feed URLs on hosts other than
	// loopback. Without TLS anyone on the path can substitute keys or read
	// the feed's client secret: use it only on a trusted network.
	InsecureHTTP bool
	// Revocations, when set, subscribes to the revocation feed so that
	// revoked tokens are refused before they expire.
	Revocations *FeedConfig
	// Logger receives JWKS and feed events. Default: discarded.
	Logger *slog.Logger
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// Claims are the claims of a verified access token. Times are UTC.
type Claims struct {
	Issuer            string    // iss
	Subject           string    // sub: the user id
	Audience          string    // aud
	ID                string    // jti
	SessionID         string    // sid: the refresh family the token came from
	ExpiresAt         time.Time // exp
	IssuedAt          time.Time // iat
	NotBefore         time.Time // nbf; zero when absent
	CredentialVersion int64     // cv
	// AMR (RFC 8176) says how the user signed in: "pwd" password, "otp"
	// TOTP, "hwk" and "user" a passkey with user verification, "rc" a
	// recovery code, and "mfa" when more than one factor was proved.
	// AuthTime is when (OpenID Connect Core §2); zero when absent.
	AMR      []string
	AuthTime time.Time
}

// MultiFactor reports whether the user proved more than one factor to get
// the token (a password and a second factor, or a passkey with user
// verification): what a route that needs NIST SP 800-63B AAL2 checks.
func (c *Claims) MultiFactor() bool { return slices.Contains(c.AMR, "mfa") }

// Verifier verifies Bulwark access tokens. It is safe for concurrent use.
type Verifier struct {
	issuer, audience    string
	algorithms          []string
	leeway, maxLifetime time.Duration
	keys                *keyCache
	feed                *feed
	now                 func() time.Time
	log                 *slog.Logger
	stop                context.CancelFunc
	done                chan struct{}
}

// New checks cfg, fetches the key set and, if cfg.Revocations is set,
// subscribes to the revocation feed and waits for its first snapshot. ctx
// bounds that start-up work only; the subscription runs until Close. New
// fails if the keys or the snapshot cannot be had, so that a wrong URL or
// credential shows at start-up rather than as refused tokens.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	v, err := newVerifier(cfg)
	if err != nil {
		return nil, fmt.Errorf("new verifier: %w", err)
	}
	now := v.now()
	v.keys.mu.Lock()
	v.keys.lastAttempt = now
	v.keys.mu.Unlock()
	s, err := v.keys.fetch(ctx, now)
	if err != nil {
		return nil, fmt.Errorf("new verifier: %w", err)
	}
	v.keys.cur.Store(s)
	if cfg.Revocations == nil {
		close(v.done)
		return v, nil
	}
	f, err := newFeed(cfg, v.keys.client, v.now, v.log, v.leeway)
	if err != nil {
		return nil, fmt.Errorf("new verifier: %w", err)
	}
	v.feed = f
	runCtx, stop := context.WithCancel(context.Background())
	v.stop = stop
	go func() {
		defer close(v.done)
		f.run(runCtx)
	}()
	select {
	case err := <-f.first:
		if err == nil {
			return v, nil
		}
		v.Close()
		return nil, fmt.Errorf("new verifier: revocation feed: %w", err)
	case <-ctx.Done():
		v.Close()
		return nil, fmt.Errorf("new verifier: waiting for the revocation snapshot: %w", ctx.Err())
	}
}

// newVerifier applies the defaults and bounds of cfg, without I/O.
func newVerifier(cfg Config) (*Verifier, error) {
	switch {
	case cfg.Issuer == "":
		return nil, errors.New("empty issuer")
	case cfg.Audience == "":
		return nil, errors.New("empty audience")
	case cfg.Leeway < 0 || cfg.Leeway > MaxLeeway:
		return nil, fmt.Errorf("leeway not in [0, %v]", MaxLeeway)
	case cfg.MaxLifetime < 0:
		return nil, errors.New("negative max lifetime")
	case cfg.RefreshInterval != 0 && (cfg.RefreshInterval < MinRefreshInterval || cfg.RefreshInterval > maxCacheAge):
		return nil, fmt.Errorf("refresh interval not in [%v, %v]", MinRefreshInterval, maxCacheAge)
	}
	algs := cfg.Algorithms
	if len(algs) == 0 {
		algs = []string{EdDSA, ES256}
	}
	for _, a := range algs {
		// Exact names only: "none", "eddsa" and every HS* are refused here
		// rather than silently ignored.
		if a != EdDSA && a != ES256 {
			return nil, fmt.Errorf("algorithm %q not supported (EdDSA or ES256)", a)
		}
	}
	jwksURL := cfg.JWKSURL
	if jwksURL == "" {
		jwksURL = strings.TrimSuffix(cfg.Issuer, "/") + "/.well-known/jwks.json"
	}
	if err := checkURL(jwksURL, cfg.InsecureHTTP); err != nil {
		return nil, fmt.Errorf("jwks url: %w", err)
	}
	v := &Verifier{
		issuer:      cfg.Issuer,
		audience:    cfg.Audience,
		algorithms:  append([]string(nil), algs...),
		leeway:      orDefault(cfg.Leeway, DefaultLeeway),
		maxLifetime: orDefault(cfg.MaxLifetime, DefaultMaxLifetime),
		now:         cfg.Now,
		log:         cfg.Logger,
		done:        make(chan struct{}),
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	client := &http.Client{Timeout: defaultHTTPTimeout}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		client = &c
		if client.Timeout == 0 {
			client.Timeout = defaultHTTPTimeout
		}
	}
	// The URLs come from configuration; a redirect would move the key
	// source (or the feed's credentials) somewhere else.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	v.keys = &keyCache{
		url:      jwksURL,
		client:   client,
		allowed:  v.algorithms,
		interval: orDefault(cfg.RefreshInterval, DefaultRefreshInterval),
		log:      v.log,
	}
	return v, nil
}

// checkURL accepts https URLs, and http ones on a loopback host or when
// insecure is set.
func checkURL(raw string, insecure bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a URL")
	}
	switch {
	case u.Host == "":
		return errors.New("no host")
	case u.Scheme == "https":
		return nil
	case u.Scheme != "http":
		return errors.New("scheme is not https")
	case insecure:
		return nil
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); (ip != nil && ip.IsLoopback()) || host == "localhost" {
		return nil
	}
	return errors.New("http on a non-loopback host (set InsecureHTTP to allow it)")
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Verify checks token as the package documentation describes and returns
// its claims. ctx bounds the wait for a key set refresh, when one is
// needed. Every refused token is ErrInvalid (and ErrRevoked when revoked);
// ErrUnavailable means the keys or the revocation state are too old to
// decide.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	now := v.now()
	if now.IsZero() {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, errNoVerifyClock)
	}
	p, err := parse(token, v.algorithms)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	k, err := v.keys.lookup(ctx, p.kid, now)
	if errors.Is(err, errKeysStale) {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	} else if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := verifySignature(p, k); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	c, err := checkClaims(p.payload, v.issuer, v.audience, v.leeway, v.maxLifetime, now)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if v.feed != nil {
		if err := v.feed.check(c, now); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Close ends the revocation feed subscription, if any, and waits for it to
// stop. Verify keeps working after Close with the state it last had.
func (v *Verifier) Close() {
	if v.stop != nil {
		v.stop()
	}
	<-v.done
}
