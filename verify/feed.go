package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of FeedConfig.
const (
	DefaultFeedIdleTimeout = 30 * time.Second
	DefaultFeedMinBackoff  = time.Second
	DefaultFeedMaxBackoff  = time.Minute
	feedPath               = "/v1/token/revocations"
	maxFeedIDLen           = 1024
	pruneEvery             = time.Minute
)

// Reasons wrapped in ErrRevoked and ErrUnavailable by the feed check.
var (
	errRevokedToken      = errors.New("the token's jti is revoked")
	errRevokedSession    = errors.New("the token's session is revoked")
	errUserDisabled      = errors.New("the token's user is disabled")
	errRevokedBefore     = errors.New("the token was issued before the user's not_before")
	errCredentialVersion = errors.New("the token's cv is not the user's credential version")
	errFeedStale         = errors.New("no word from the revocation feed for too long")
	errFeedEvent         = errors.New("revocation feed event is malformed")
)

// FeedConfig subscribes a Verifier to Bulwark's revocation feed: a
// server-sent event stream of revoked token ids, revoked sessions and user
// states, authenticated with the client id and secret that
// `bulwark clients create NAME` prints.
type FeedConfig struct {
	// URL of the feed. Default: Issuer + "/v1/token/revocations".
	URL string
	// ClientID and ClientSecret are sent with HTTP Basic (RFC 7617).
	ClientID, ClientSecret string
	// MaxStaleness, when positive, makes Verify fail with ErrUnavailable
	// once nothing (not even a keepalive) has been read from a synchronised
	// feed for that long: fail closed rather than miss revocations. Zero
	// keeps verifying with the last state received, so a revoked token can
	// then be accepted until it expires. At least IdleTimeout.
	MaxStaleness time.Duration
	// IdleTimeout drops a connection on which nothing has been read for
	// that long (the server sends a keepalive at least every 15 s).
	// Default DefaultFeedIdleTimeout.
	IdleTimeout time.Duration
	// MinBackoff and MaxBackoff bound the jittered exponential wait
	// between reconnections. Defaults DefaultFeedMinBackoff and
	// DefaultFeedMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
}

// userState is a user's entry in the feed: tokens issued before notBefore,
// or carrying another credential version, or of a disabled user, are
// refused.
type userState struct {
	notBefore int64
	cv        int64
	disabled  bool
}

// feed holds the revocation state and the subscription that keeps it.
type feed struct {
	url, clientID, secret string
	client                *http.Client
	now                   func() time.Time
	log                   *slog.Logger
	leeway                time.Duration
	maxStale, idle        time.Duration
	minBackoff, maxBack   time.Duration

	first     chan error   // the outcome of the first connection, sent once
	sentFirst bool         // run's own
	cursor    string       // last applied event id; run's own
	lastPrune time.Time    // run's own
	alive     atomic.Int64 // unix nanoseconds of the last line read once synchronised

	mu     sync.RWMutex
	synced bool // a snapshot has been applied
	jtis   map[string]int64
	sids   map[string]int64
	users  map[string]userState
}

func newFeed(cfg Config, client *http.Client, now func() time.Time, log *slog.Logger, leeway time.Duration) (*feed, error) {
	fc := cfg.Revocations
	u := fc.URL
	if u == "" {
		u = strings.TrimSuffix(cfg.Issuer, "/") + feedPath
	}
	if err := checkURL(u, cfg.InsecureHTTP); err != nil {
		return nil, fmt.Errorf("feed url: %w", err)
	}
	if fc.ClientID == "" || fc.ClientSecret == "" {
		return nil, errors.New("feed: empty client id or secret")
	}
	f := &feed{
		url: u, clientID: fc.ClientID, secret: fc.ClientSecret,
		now: now, log: log, leeway: leeway,
		maxStale:   fc.MaxStaleness,
		idle:       orDefault(fc.IdleTimeout, DefaultFeedIdleTimeout),
		minBackoff: orDefault(fc.MinBackoff, DefaultFeedMinBackoff),
		maxBack:    orDefault(fc.MaxBackoff, DefaultFeedMaxBackoff),
		first:      make(chan error, 1),
		jtis:       map[string]int64{},
		sids:       map[string]int64{},
		users:      map[string]userState{},
	}
	switch {
	case f.idle < 0 || f.minBackoff < 0 || f.maxBack < f.minBackoff:
		return nil, errors.New("feed: negative idle timeout or backoff, or max backoff below min")
	case f.maxStale != 0 && f.maxStale < f.idle:
		return nil, errors.New("feed: max staleness shorter than the idle timeout")
	}
	// A stream has no overall deadline: IdleTimeout replaces it.
	c := *client
	c.Timeout = 0
	f.client = &c
	return f, nil
}

// check applies the feed's rules to the claims of a verified token.
func (f *feed) check(c *Claims, now time.Time) error {
	if f.maxStale > 0 && now.Sub(time.Unix(0, f.alive.Load())) > f.maxStale {
		return fmt.Errorf("%w: %w", ErrUnavailable, errFeedStale)
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	var reason error
	if _, ok := f.jtis[c.ID]; ok {
		reason = errRevokedToken
	} else if _, ok := f.sids[c.SessionID]; ok {
		reason = errRevokedSession
	} else if u, ok := f.users[c.Subject]; ok {
		switch {
		case u.disabled:
			reason = errUserDisabled
		case c.IssuedAt.Before(time.Unix(u.notBefore, 0)):
			reason = errRevokedBefore
		case c.CredentialVersion != u.cv:
			reason = errCredentialVersion
		}
	}
	if reason != nil {
		return fmt.Errorf("%w: %w: %w", ErrInvalid, ErrRevoked, reason)
	}
	return nil
}

// run keeps the subscription until ctx is done, reconnecting with jittered
// exponential backoff. A connection that applied an event resets the
// backoff.
func (f *feed) run(ctx context.Context) {
	backoff := f.minBackoff
	for {
		progressed, err := f.connect(ctx)
		if ctx.Err() != nil {
			return
		}
		if !f.sentFirst {
			f.sentFirst = true
			f.first <- fmt.Errorf("first connection: %w", err)
		}
		f.log.LogAttrs(ctx, slog.LevelWarn, "revocation_feed_disconnected", slog.String("url", f.url), slog.String("error", err.Error()))
		if progressed {
			backoff = f.minBackoff
		}
		// Full jitter over [backoff/2, backoff], so that many verifiers
		// cut off together do not reconnect together.
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		backoff = min(backoff*2, f.maxBack)
	}
}

// connect opens one stream and applies its events until it ends. It always
// returns a non-nil error: the reason the stream ended.
func (f *feed) connect(ctx context.Context) (progressed bool, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil)
	if err != nil {
		return false, err
	}
	req.SetBasicAuth(f.clientID, f.secret)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if f.cursor != "" {
		req.Header.Set("Last-Event-ID", f.cursor)
	}
	errIdle := fmt.Errorf("nothing read for %v", f.idle)
	idle := time.AfterFunc(f.idle, func() { cancel(errIdle) })
	defer idle.Stop()
	resp, err := f.client.Do(req)
	if err != nil {
		if c := context.Cause(ctx); c == errIdle {
			return false, c
		}
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("status %d", resp.StatusCode)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/event-stream" {
		return false, errors.New("response is not text/event-stream")
	}
	r := newSSEReader(resp.Body, f.cursor, maxEventSize, func() {
		idle.Reset(f.idle)
		if f.isSynced() {
			f.alive.Store(f.now().UnixNano())
		}
	})
	for {
		ev, err := r.next()
		if err != nil {
			if c := context.Cause(ctx); c == errIdle {
				err = c
			} else if err == io.EOF {
				err = errors.New("stream closed by the server")
			}
			return progressed, err
		}
		if err := f.apply(ev); err != nil {
			// Replaying from this cursor would bring the same event back:
			// start afresh from a snapshot instead.
			f.cursor = ""
			return progressed, err
		}
		if ev.typ == "snapshot" || ev.typ == "revoked" {
			progressed = true
			if len(ev.id) <= maxFeedIDLen {
				f.cursor = ev.id
			} else {
				f.cursor = ""
			}
			if !f.sentFirst && f.isSynced() {
				f.sentFirst = true
				f.first <- nil
			}
		}
		if now := f.now(); now.Sub(f.lastPrune) >= pruneEvery {
			f.prune(now)
			f.lastPrune = now
		}
	}
}

func (f *feed) isSynced() bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.synced
}

// Wire shapes of FEED events.
type (
	jtiEntry struct {
		JTI string `json:"jti"`
		Exp *int64 `json:"exp"`
	}
	sidEntry struct {
		SID string `json:"sid"`
		Exp *int64 `json:"exp"`
	}
	userEntry struct {
		Sub       string `json:"sub"`
		NotBefore *int64 `json:"not_before"`
		CV        *int64 `json:"cv"`
		Disabled  *bool  `json:"disabled"`
	}
)

func (e jtiEntry) valid() bool { return e.JTI != "" && e.Exp != nil }
func (e sidEntry) valid() bool { return e.SID != "" && e.Exp != nil }
func (e userEntry) valid() bool {
	return e.Sub != "" && e.NotBefore != nil && e.CV != nil && e.Disabled != nil
}

func (e userEntry) state() userState {
	return userState{notBefore: *e.NotBefore, cv: *e.CV, disabled: *e.Disabled}
}

// apply applies one event: a snapshot replaces the whole state, a revoked
// event adds or replaces one entry. Other event types are ignored (a later
// server may send more). A malformed event changes nothing.
func (f *feed) apply(ev sseEvent) error {
	switch ev.typ {
	case "snapshot":
		var s struct {
			JTIs  []jtiEntry  `json:"jtis"`
			SIDs  []sidEntry  `json:"sids"`
			Users []userEntry `json:"users"`
		}
		if err := json.Unmarshal([]byte(ev.data), &s); err != nil {
			return errFeedEvent
		}
		// Entries whose tokens can no longer verify are dropped at once.
		limit := f.now().Add(-f.leeway).Unix()
		jtis := make(map[string]int64, len(s.JTIs))
		sids := make(map[string]int64, len(s.SIDs))
		users := make(map[string]userState, len(s.Users))
		for _, e := range s.JTIs {
			if !e.valid() {
				return errFeedEvent
			}
			if *e.Exp > limit {
				jtis[e.JTI] = *e.Exp
			}
		}
		for _, e := range s.SIDs {
			if !e.valid() {
				return errFeedEvent
			}
			if *e.Exp > limit {
				sids[e.SID] = *e.Exp
			}
		}
		for _, e := range s.Users {
			if !e.valid() {
				return errFeedEvent
			}
			users[e.Sub] = e.state()
		}
		f.mu.Lock()
		f.jtis, f.sids, f.users = jtis, sids, users
		f.synced = true
		f.mu.Unlock()
		f.alive.Store(f.now().UnixNano())
		f.log.Info("revocation_feed_snapshot", slog.Int("jtis", len(jtis)), slog.Int("sids", len(sids)), slog.Int("users", len(users)))
	case "revoked":
		m, err := members([]byte(ev.data))
		if err != nil {
			return errFeedEvent
		}
		_, hasJTI := m["jti"]
		_, hasSID := m["sid"]
		_, hasSub := m["sub"]
		data := []byte(ev.data)
		switch {
		case hasJTI && !hasSID && !hasSub:
			var e jtiEntry
			if json.Unmarshal(data, &e) != nil || !e.valid() {
				return errFeedEvent
			}
			f.mu.Lock()
			f.jtis[e.JTI] = *e.Exp
			f.mu.Unlock()
		case hasSID && !hasJTI && !hasSub:
			var e sidEntry
			if json.Unmarshal(data, &e) != nil || !e.valid() {
				return errFeedEvent
			}
			f.mu.Lock()
			f.sids[e.SID] = *e.Exp
			f.mu.Unlock()
		case hasSub && !hasJTI && !hasSID:
			var e userEntry
			if json.Unmarshal(data, &e) != nil || !e.valid() {
				return errFeedEvent
			}
			f.mu.Lock()
			f.users[e.Sub] = e.state()
			f.mu.Unlock()
		default:
			return errFeedEvent
		}
	}
	return nil
}

// prune drops jti and sid entries whose exp, plus the leeway Verify allows
// on a token's exp, is not after now: no token they deny can verify any
// more (Verify needs now < exp + leeway).
// User entries are full states and stay.
func (f *feed) prune(now time.Time) {
	limit := now.Add(-f.leeway).Unix()
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, exp := range f.jtis {
		if exp <= limit {
			delete(f.jtis, k)
		}
	}
	for k, exp := range f.sids {
		if exp <= limit {
			delete(f.sids, k)
		}
	}
}

// sizes returns the sizes of the revocation state, for tests and metrics.
func (f *feed) sizes() (jtis, sids, users int) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return len(f.jtis), len(f.sids), len(f.users)
}
