package verify

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// feedServer implements the server side of the revocation feed contract:
// HTTP Basic, text/event-stream, a snapshot when there is no cursor or the
// cursor cannot be replayed, "revoked" events with decimal ids, keepalive
// comments.
type feedServer struct {
	*httptest.Server
	clientID, secret string

	mu           sync.Mutex
	seq          int
	history      []sseEvent // revoked events, in order
	oldest       int        // the smallest cursor that can still be replayed
	jtis, sids   map[string]int64
	users        map[string]map[string]any
	subs         map[chan string]struct{}
	conns        map[int]context.CancelFunc
	lastEventIDs []string // the Last-Event-ID of each connection, "" for none
	snapshots    int
	status       int           // when not 0, answered instead of a stream
	keepalive    time.Duration // 0: none
}

func newFeedServer(t *testing.T) *feedServer {
	t.Helper()
	s := &feedServer{
		clientID: "client-1", secret: "secret-1",
		jtis: map[string]int64{}, sids: map[string]int64{}, users: map[string]map[string]any{},
		subs: map[chan string]struct{}{}, conns: map[int]context.CancelFunc{},
		keepalive: 50 * time.Millisecond,
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.kill()
		s.Close()
	})
	return s
}

func (s *feedServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != feedPath || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok || id != s.clientID || secret != s.secret {
		w.Header().Set("WWW-Authenticate", `Basic realm="bulwark"`)
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"type":"about:blank","title":"Unauthorized","status":401,"code":"unauthenticated"}`))
		return
	}
	cursor := r.Header.Get("Last-Event-ID")
	if q := r.URL.Query().Get("cursor"); cursor == "" && q != "" {
		cursor = q
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	ch := make(chan string, 1000)
	s.mu.Lock()
	s.lastEventIDs = append(s.lastEventIDs, cursor)
	if s.status != 0 {
		st := s.status
		s.mu.Unlock()
		w.WriteHeader(st)
		return
	}
	connID := len(s.lastEventIDs)
	s.conns[connID] = cancel
	var first strings.Builder
	if n, err := strconv.Atoi(cursor); err == nil && n >= s.oldest && n <= s.seq {
		for _, ev := range s.history {
			if id, _ := strconv.Atoi(ev.id); id > n {
				first.WriteString(format(ev))
			}
		}
	} else {
		s.snapshots++
		first.WriteString(format(sseEvent{typ: "snapshot", id: strconv.Itoa(s.seq), data: s.snapshotData()}))
	}
	s.subs[ch] = struct{}{}
	keepalive := s.keepalive
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.subs, ch)
		delete(s.conns, connID)
		s.mu.Unlock()
	}()

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, first.String())
	w.(http.Flusher).Flush()
	var tick <-chan time.Time
	if keepalive > 0 {
		t := time.NewTicker(keepalive)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case msg := <-ch:
			_, _ = io.WriteString(w, msg)
		case <-tick:
			_, _ = io.WriteString(w, ": keepalive\n\n")
		}
		w.(http.Flusher).Flush()
	}
}

func format(ev sseEvent) string {
	return "event: " + ev.typ + "\nid: " + ev.id + "\ndata: " + ev.data + "\n\n"
}

// snapshotData is the snapshot of the current state; s.mu is held.
func (s *feedServer) snapshotData() string {
	snap := map[string][]map[string]any{"jtis": {}, "sids": {}, "users": {}}
	for j, exp := range s.jtis {
		snap["jtis"] = append(snap["jtis"], map[string]any{"jti": j, "exp": exp})
	}
	for j, exp := range s.sids {
		snap["sids"] = append(snap["sids"], map[string]any{"sid": j, "exp": exp})
	}
	for _, u := range s.users {
		snap["users"] = append(snap["users"], u)
	}
	b, _ := json.Marshal(snap)
	return string(b)
}

// publish records a revoked event and sends it to every subscriber.
func (s *feedServer) publish(entry map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case entry["jti"] != nil:
		s.jtis[entry["jti"].(string)] = entry["exp"].(int64)
	case entry["sid"] != nil:
		s.sids[entry["sid"].(string)] = entry["exp"].(int64)
	default:
		s.users[entry["sub"].(string)] = entry
	}
	b, _ := json.Marshal(entry)
	s.seq++
	ev := sseEvent{typ: "revoked", id: strconv.Itoa(s.seq), data: string(b)}
	s.history = append(s.history, ev)
	for ch := range s.subs {
		ch <- format(ev)
	}
}

// send writes raw text to every subscriber.
func (s *feedServer) send(raw string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.subs {
		ch <- raw
	}
}

// kill ends every open stream.
func (s *feedServer) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cancel := range s.conns {
		cancel()
	}
}

func (s *feedServer) set(edit func(*feedServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	edit(s)
}

func (s *feedServer) connections() (ids []string, snapshots int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lastEventIDs...), s.snapshots
}

func feedConfig(s *feedServer) func(*Config) {
	return func(c *Config) {
		c.Revocations = &FeedConfig{
			URL:      s.URL + feedPath,
			ClientID: s.clientID, ClientSecret: s.secret,
			IdleTimeout: time.Second,
			MinBackoff:  10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		}
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func isRevoked(f *fixture, tok string) bool {
	_, err := f.v.Verify(context.Background(), tok)
	return errors.Is(err, ErrRevoked) && errors.Is(err, ErrInvalid)
}

func revokedFor(t *testing.T, f *fixture, tok string, reason error) {
	t.Helper()
	_, err := f.v.Verify(context.Background(), tok)
	if !errors.Is(err, ErrRevoked) || !errors.Is(err, ErrInvalid) || !errors.Is(err, reason) {
		t.Fatalf("err = %v, want ErrRevoked for %v", err, reason)
	}
}

func TestFeedSnapshotRefuses(t *testing.T) {
	s := newFeedServer(t)
	now := newClock().now().Unix()
	s.jtis["jti-bad"] = now + 900
	s.sids["sid-bad"] = now + 3600
	s.users["user-disabled"] = map[string]any{"sub": "user-disabled", "not_before": 0, "cv": 0, "disabled": true}
	s.users["user-epoch"] = map[string]any{"sub": "user-epoch", "not_before": now + 1, "cv": 0, "disabled": false}
	s.users["user-cv"] = map[string]any{"sub": "user-cv", "not_before": 0, "cv": 3, "disabled": false}
	f := newFixture(t, feedConfig(s))

	revokedFor(t, f, f.token(func(c map[string]any) { c["jti"] = "jti-bad" }), errRevokedToken)
	revokedFor(t, f, f.token(func(c map[string]any) { c["sid"] = "sid-bad" }), errRevokedSession)
	revokedFor(t, f, f.token(func(c map[string]any) { c["sub"] = "user-disabled" }), errUserDisabled)
	revokedFor(t, f, f.token(func(c map[string]any) { c["sub"] = "user-epoch" }), errRevokedBefore)
	revokedFor(t, f, f.token(func(c map[string]any) { c["sub"] = "user-cv"; c["cv"] = 2 }), errCredentialVersion)
	revokedFor(t, f, f.token(func(c map[string]any) { c["sub"] = "user-cv"; c["cv"] = 4 }), errCredentialVersion)
	revokedFor(t, f, f.token(func(c map[string]any) { c["sub"] = "user-cv"; delete(c, "cv") }), errCredentialVersion)
	// Tokens the state does not deny.
	accepted(t, f.v, f.token(nil))
	accepted(t, f.v, f.token(func(c map[string]any) { c["sub"] = "user-cv"; c["cv"] = 3 }))
	accepted(t, f.v, f.token(func(c map[string]any) { c["sub"] = "user-epoch"; c["iat"] = now + 1 }))
	accepted(t, f.v, f.token(func(c map[string]any) { c["sub"] = "user-unknown"; c["cv"] = 5 }))

	// The middleware answers a revoked token like any invalid one.
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+f.token(func(c map[string]any) { c["jti"] = "jti-bad" }))
	w := httptest.NewRecorder()
	f.v.Middleware(http.NotFoundHandler()).ServeHTTP(w, r)
	if w.Code != http.StatusUnauthorized || w.Header().Get("WWW-Authenticate") != `Bearer error="invalid_token"` {
		t.Fatalf("status %d, challenge %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
}

func TestFeedRevokedEventsApplyWithinASecond(t *testing.T) {
	s := newFeedServer(t)
	f := newFixture(t, feedConfig(s))
	exp := f.clock.now().Unix() + 900
	for _, c := range []struct {
		entry  map[string]any
		token  string
		reason error
	}{
		{map[string]any{"jti": "jti-1", "exp": exp}, f.token(nil), errRevokedToken},
		{map[string]any{"sid": "sid-2", "exp": exp}, f.token(func(c map[string]any) { c["jti"], c["sid"] = "j2", "sid-2" }), errRevokedSession},
		{map[string]any{"sub": "u3", "not_before": int64(0), "cv": int64(0), "disabled": true}, f.token(func(c map[string]any) { c["jti"], c["sub"] = "j3", "u3" }), errUserDisabled},
		{map[string]any{"sub": "u4", "not_before": exp - 800, "cv": int64(0), "disabled": false}, f.token(func(c map[string]any) { c["jti"], c["sub"] = "j4", "u4" }), errRevokedBefore},
		{map[string]any{"sub": "u5", "not_before": int64(0), "cv": int64(1), "disabled": false}, f.token(func(c map[string]any) { c["jti"], c["sub"] = "j5", "u5" }), errCredentialVersion},
	} {
		accepted(t, f.v, c.token)
		start := time.Now()
		s.publish(c.entry)
		eventually(t, "the revocation applies", func() bool { return isRevoked(f, c.token) })
		if d := time.Since(start); d > time.Second {
			t.Errorf("revocation took %v", d)
		}
		revokedFor(t, f, c.token, c.reason)
	}
	// A user's new state replaces the old: re-enabled, u3 is accepted again.
	s.publish(map[string]any{"sub": "u3", "not_before": int64(0), "cv": int64(0), "disabled": false})
	tok := f.token(func(c map[string]any) { c["jti"], c["sub"] = "j3", "u3" })
	eventually(t, "u3 is re-enabled", func() bool { _, err := f.v.Verify(context.Background(), tok); return err == nil })
}

func TestFeedResumesWithLastEventID(t *testing.T) {
	s := newFeedServer(t)
	f := newFixture(t, feedConfig(s))
	exp := f.clock.now().Unix() + 900
	a := f.token(func(c map[string]any) { c["jti"] = "a" })
	b := f.token(func(c map[string]any) { c["jti"] = "b" })
	s.publish(map[string]any{"jti": "a", "exp": exp})
	eventually(t, "a is revoked", func() bool { return isRevoked(f, a) })
	s.set(func(s *feedServer) { s.status = http.StatusServiceUnavailable })
	s.kill()
	eventually(t, "a reconnection is refused", func() bool { ids, _ := s.connections(); return len(ids) >= 2 })
	s.publish(map[string]any{"jti": "b", "exp": exp}) // while the client is away
	s.set(func(s *feedServer) { s.status = 0 })
	eventually(t, "b is revoked", func() bool { return isRevoked(f, b) })
	ids, snapshots := s.connections()
	if ids[0] != "" || ids[len(ids)-1] != "1" {
		t.Fatalf("Last-Event-IDs = %q, want \"\" first and \"1\" last", ids)
	}
	if snapshots != 1 {
		t.Fatalf("snapshots = %d, want 1 (the reconnection resumed)", snapshots)
	}
	revokedFor(t, f, a, errRevokedToken)
}

// A cursor the server can no longer replay brings a snapshot, which
// replaces the client's state.
func TestFeedSnapshotReplacesState(t *testing.T) {
	s := newFeedServer(t)
	f := newFixture(t, feedConfig(s))
	exp := f.clock.now().Unix() + 900
	a := f.token(func(c map[string]any) { c["jti"] = "a" })
	s.publish(map[string]any{"jti": "a", "exp": exp})
	eventually(t, "a is revoked", func() bool { return isRevoked(f, a) })
	s.set(func(s *feedServer) {
		delete(s.jtis, "a")
		s.jtis["c"] = exp
		s.oldest = s.seq + 1
	})
	s.kill()
	c := f.token(func(c map[string]any) { c["jti"] = "c" })
	eventually(t, "the new snapshot applies", func() bool { return isRevoked(f, c) })
	accepted(t, f.v, a)
	ids, snapshots := s.connections()
	if snapshots != 2 || ids[1] != "1" {
		t.Fatalf("snapshots %d, Last-Event-IDs %q", snapshots, ids)
	}
}

func TestFeedMalformedEventRestartsFromSnapshot(t *testing.T) {
	for name, raw := range map[string]string{
		"missing exp":     `{"jti":"x"}`,
		"two kinds":       `{"jti":"x","exp":1,"sid":"y"}`,
		"user without cv": `{"sub":"u","not_before":0,"disabled":false}`,
		"string exp":      `{"jti":"x","exp":"1"}`,
		"not json":        `jti=x`,
		"empty object":    `{}`,
	} {
		t.Run(name, func(t *testing.T) {
			s := newFeedServer(t)
			f := newFixture(t, feedConfig(s))
			accepted(t, f.v, f.token(nil))
			s.publish(map[string]any{"jti": "a", "exp": f.clock.now().Unix() + 900})
			a := f.token(func(c map[string]any) { c["jti"] = "a" })
			eventually(t, "a is revoked", func() bool { return isRevoked(f, a) })
			s.send("event: revoked\nid: 99\ndata: " + raw + "\n\n")
			eventually(t, "a new snapshot is fetched", func() bool { _, n := s.connections(); return n == 2 })
			ids, _ := s.connections()
			if ids[1] != "" {
				t.Fatalf("Last-Event-ID after a bad event = %q, want none", ids[1])
			}
			revokedFor(t, f, a, errRevokedToken)
			accepted(t, f.v, f.token(nil))
		})
	}
}

func TestFeedMalformedSnapshotChangesNothing(t *testing.T) {
	fd := &feed{jtis: map[string]int64{"a": 1}, sids: map[string]int64{}, users: map[string]userState{}, now: newClock().now}
	for _, data := range []string{
		`{"jtis":[{"jti":"b","exp":1},{"jti":"","exp":1}]}`,
		`{"sids":[{"sid":"b"}]}`,
		`{"users":[{"sub":"u","not_before":0,"cv":0}]}`,
		`{"jtis":{}}`,
		`[]`,
	} {
		if err := fd.apply(sseEvent{typ: "snapshot", data: data}); !errors.Is(err, errFeedEvent) {
			t.Errorf("apply(%s) = %v, want errFeedEvent", data, err)
		}
	}
	if _, ok := fd.jtis["a"]; !ok || len(fd.jtis) != 1 || fd.synced {
		t.Fatalf("state changed: %v synced %v", fd.jtis, fd.synced)
	}
	// Unknown event types are ignored.
	for _, typ := range []string{"message", "hello", "Snapshot"} {
		if err := fd.apply(sseEvent{typ: typ, data: "x"}); err != nil {
			t.Errorf("apply(%s) = %v", typ, err)
		}
	}
}

func TestFeedBadCredentials(t *testing.T) {
	s := newFeedServer(t)
	s.secret = "other"
	jw := newJWKSServer(t)
	cfg := Config{Issuer: testIssuer, Audience: testAudience, JWKSURL: jw.URL}
	feedConfig(s)(&cfg)
	cfg.Revocations.ClientSecret = "secret-1"
	_, err := New(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "status 401") {
		t.Fatalf("err = %v, want status 401", err)
	}
}

func TestFeedNotAnEventStream(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "event: snapshot\ndata: {}\n\n")
	}))
	defer srv.Close()
	jw := newJWKSServer(t)
	cfg := Config{Issuer: testIssuer, Audience: testAudience, JWKSURL: jw.URL,
		Revocations: &FeedConfig{URL: srv.URL, ClientID: "a", ClientSecret: "b"}}
	if _, err := New(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "text/event-stream") {
		t.Fatalf("err = %v", err)
	}
}

func TestFeedNewTimesOutWithoutSnapshot(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	jw := newJWKSServer(t)
	cfg := Config{Issuer: testIssuer, Audience: testAudience, JWKSURL: jw.URL,
		Revocations: &FeedConfig{URL: srv.URL, ClientID: "a", ClientSecret: "b"}}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := New(ctx, cfg); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
}

// A connection on which nothing arrives for IdleTimeout is dropped and
// reopened; keepalives keep it open.
func TestFeedIdleTimeout(t *testing.T) {
	s := newFeedServer(t)
	s.keepalive = 20 * time.Millisecond
	f := newFixture(t, feedConfig(s), func(c *Config) { c.Revocations.IdleTimeout = 400 * time.Millisecond })
	time.Sleep(time.Second)
	if ids, _ := s.connections(); len(ids) != 1 {
		t.Fatalf("connections = %d with keepalives, want 1", len(ids))
	}
	s.set(func(s *feedServer) { s.keepalive = 0 })
	s.kill() // the next connection gets no keepalives
	eventually(t, "the silent connection is replaced", func() bool { ids, _ := s.connections(); return len(ids) >= 3 })
	ids, _ := s.connections()
	if ids[2] != "0" {
		t.Fatalf("Last-Event-IDs = %q", ids)
	}
	_ = f
}

func TestFeedBackoffGrows(t *testing.T) {
	s := newFeedServer(t)
	newFixture(t, feedConfig(s), func(c *Config) {
		c.Revocations.MinBackoff = 40 * time.Millisecond
		c.Revocations.MaxBackoff = 2 * time.Second
	})
	s.set(func(s *feedServer) { s.status = http.StatusServiceUnavailable })
	s.kill()
	time.Sleep(700 * time.Millisecond)
	// Waits of 20–40, 40–80, 80–160, 160–320, 320–640 ms: at most 5
	// attempts after the first connection in 700 ms; a fixed 40 ms would
	// make at least 17.
	ids, _ := s.connections()
	if n := len(ids) - 1; n < 2 || n > 6 {
		t.Fatalf("attempts in 700 ms = %d, want 2 to 6", n)
	}
}

// With MaxStaleness, a feed that has been silent for that long makes
// Verify fail closed with ErrUnavailable (503 in the middleware); once the
// feed is back, tokens verify again.
func TestFeedMaxStaleness(t *testing.T) {
	s := newFeedServer(t)
	s.keepalive = 0
	f := newFixture(t, feedConfig(s), func(c *Config) {
		c.Revocations.MaxStaleness = time.Minute
		c.Revocations.IdleTimeout = 10 * time.Second
	})
	tok := f.token(nil)
	accepted(t, f.v, tok)
	s.set(func(s *feedServer) { s.status = http.StatusServiceUnavailable })
	s.kill()
	eventually(t, "a reconnection is refused", func() bool { ids, _ := s.connections(); return len(ids) >= 2 })
	f.clock.advance(time.Minute)
	accepted(t, f.v, tok)
	f.clock.advance(time.Second)
	_, err := f.v.Verify(context.Background(), tok)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, errFeedStale) || errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	w := httptest.NewRecorder()
	f.v.Middleware(http.NotFoundHandler()).ServeHTTP(w, r)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" || w.Header().Get("WWW-Authenticate") != "" {
		t.Fatalf("status %d, headers %v", w.Code, w.Header())
	}
	s.set(func(s *feedServer) { s.status = 0; s.keepalive = 20 * time.Millisecond })
	eventually(t, "the feed is back", func() bool { _, err := f.v.Verify(context.Background(), tok); return err == nil })
}

// Entries whose exp plus the leeway is not after now are dropped, from a
// snapshot at once and from the state by prune.
func TestFeedPrunesExpiredEntries(t *testing.T) {
	clk := newClock()
	now := clk.now().Unix()
	fd := &feed{jtis: map[string]int64{}, sids: map[string]int64{}, users: map[string]userState{}, now: clk.now, leeway: DefaultLeeway, log: slog.New(slog.DiscardHandler)}
	snap := fmt.Sprintf(`{"jtis":[{"jti":"gone","exp":%d},{"jti":"edge","exp":%d},{"jti":"live","exp":%d}],
		"sids":[{"sid":"gone","exp":%d},{"sid":"live","exp":%d}],
		"users":[{"sub":"u","not_before":0,"cv":1,"disabled":false}]}`, now-31, now-30, now+10, now-100, now+10)
	if err := fd.apply(sseEvent{typ: "snapshot", data: snap}); err != nil {
		t.Fatal(err)
	}
	// A token with exp = now − 30 s expired at exp + leeway = now.
	if _, ok := fd.jtis["live"]; !ok || len(fd.jtis) != 1 || len(fd.sids) != 1 || len(fd.users) != 1 {
		t.Fatalf("after the snapshot: jtis %v sids %v users %v", fd.jtis, fd.sids, fd.users)
	}
	fd.prune(clk.now().Add(9*time.Second + DefaultLeeway))
	if j, si, u := fd.sizes(); j != 1 || si != 1 || u != 1 {
		t.Fatalf("sizes after an early prune = %d %d %d, want 1 1 1", j, si, u)
	}
	fd.prune(clk.now().Add(10*time.Second + DefaultLeeway))
	if j, si, u := fd.sizes(); j != 0 || si != 0 || u != 1 {
		t.Fatalf("sizes after prune = %d %d %d, want 0 0 1", j, si, u)
	}
}

// The subscription prunes as it reads.
func TestFeedPrunesWhileConnected(t *testing.T) {
	s := newFeedServer(t)
	f := newFixture(t, feedConfig(s))
	f.v.feed.mu.Lock()
	f.v.feed.jtis["old"] = f.clock.now().Unix() - 31
	f.v.feed.mu.Unlock()
	f.clock.advance(pruneEvery)
	s.publish(map[string]any{"jti": "new", "exp": f.clock.now().Unix() + 60})
	eventually(t, "old is pruned", func() bool { j, _, _ := f.v.feed.sizes(); return j == 1 })
}

func TestFeedConfigRefused(t *testing.T) {
	jw := newJWKSServer(t)
	for name, fc := range map[string]FeedConfig{
		"no client id":          {ClientSecret: "s"},
		"no secret":             {ClientID: "c"},
		"http feed":             {URL: "http://auth.example.test/v1/token/revocations", ClientID: "c", ClientSecret: "s"},
		"staleness below idle":  {ClientID: "c", ClientSecret: "s", MaxStaleness: time.Second},
		"max below min backoff": {ClientID: "c", ClientSecret: "s", MinBackoff: time.Second, MaxBackoff: time.Millisecond},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := Config{Issuer: testIssuer, Audience: testAudience, JWKSURL: jw.URL, Revocations: &fc}
			if _, err := New(context.Background(), cfg); err == nil {
				t.Fatal("New accepted the config")
			}
		})
	}
	f, err := newFeed(Config{Issuer: testIssuer + "/", Revocations: &FeedConfig{ClientID: "c", ClientSecret: "s"}}, &http.Client{Timeout: time.Second}, time.Now, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if f.url != testIssuer+feedPath || f.client.Timeout != 0 || f.idle != DefaultFeedIdleTimeout || f.minBackoff != DefaultFeedMinBackoff || f.maxBack != DefaultFeedMaxBackoff {
		t.Fatalf("defaults: %s timeout %v idle %v backoff %v–%v", f.url, f.client.Timeout, f.idle, f.minBackoff, f.maxBack)
	}
}

func TestSSEReader(t *testing.T) {
	stream := "\uFEFF: comment\r\n" +
		"event: snapshot\r\nid: 1\r\ndata: {\"a\":1}\r\n\r\n" + // CRLF
		"event: revoked\rid: 2\rdata: x\rdata:y\r\r" + // lone CR; no space after the colon
		"data: only data\n\n" + // no event type: "message", id carries over
		"event: empty\nid: 3\n\n" + // no data: not dispatched, but the id sticks
		"data\n\n" + // a field without a colon: empty data
		"id: 4\x005\ndata: z\n\n" + // an id with NUL is ignored
		"retry: 10\nunknown: q\nevent: last\ndata: cut off" // unterminated: discarded
	r := newSSEReader(strings.NewReader(stream), "0", maxEventSize, nil)
	want := []sseEvent{
		{typ: "snapshot", data: `{"a":1}`, id: "1"},
		{typ: "revoked", data: "x\ny", id: "2"},
		{typ: "message", data: "only data", id: "2"},
		{typ: "message", data: "", id: "3"},
		{typ: "message", data: "z", id: "3"},
	}
	for i, w := range want {
		got, err := r.next()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if got != w {
			t.Fatalf("event %d = %+v, want %+v", i, got, w)
		}
	}
	if _, err := r.next(); err != io.EOF {
		t.Fatalf("end: err = %v, want io.EOF", err)
	}
}

// A line longer than the limit ends the stream with an error, and so do
// data lines adding up past it; an event just inside it is read.
func TestSSEReaderBounded(t *testing.T) {
	const limit = 1 << 10
	read := func(s string) (sseEvent, error) {
		return newSSEReader(strings.NewReader(s), "", limit, nil).next()
	}
	if _, err := read("data: " + strings.Repeat("a", limit) + "\n\n"); !errors.Is(err, bufio.ErrTooLong) {
		t.Fatalf("long line: err = %v, want ErrTooLong", err)
	}
	line := "data: " + strings.Repeat("a", 99) + "\n" // 100 bytes of data with the LF
	if _, err := read(strings.Repeat(line, limit/100+1) + "\n"); !errors.Is(err, bufio.ErrTooLong) {
		t.Fatalf("many lines: err = %v, want ErrTooLong", err)
	}
	if ev, err := read(strings.Repeat(line, limit/100) + "\n"); err != nil || len(ev.data) != limit/100*100-1 {
		t.Fatalf("inside the limit: %d bytes, %v", len(ev.data), err)
	}
}

// A CR at the end of one read and LF at the start of the next is one line
// end, not two.
func TestSSEReaderSplitCRLF(t *testing.T) {
	pr, pw := io.Pipe()
	go func() {
		for _, part := range []string{"data: a\r", "\ndata: b\r", "\n\r", "\n"} {
			_, _ = pw.Write([]byte(part))
			time.Sleep(5 * time.Millisecond)
		}
		pw.Close()
	}()
	ev, err := newSSEReader(pr, "", maxEventSize, nil).next()
	if err != nil || ev.data != "a\nb" {
		t.Fatalf("event = %+v, %v", ev, err)
	}
}
