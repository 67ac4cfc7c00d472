package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/httpapi"
	"github.com/bulwarkauth/bulwark/internal/revfeed"
)

// feedServer serves e's API with a revocation-feed hub on its store, as
// serve does, on a server of its own; tweak may set the server's timeouts.
func feedServer(t testing.TB, e *env, opt revfeed.Options, tweak func(*http.Server)) (string, *revfeed.Hub) {
	t.Helper()
	if opt.Now == nil {
		opt.Now = e.clock.Now
	}
	hub := revfeed.New(e.db.(auth.RevocationFeedStore), nil, opt)
	ctx, cancel := context.WithCancel(context.Background())
	go hub.Run(ctx)
	opts := e.opts
	opts.Feed = hub
	srv := httptest.NewUnstartedServer(httpapi.NewServer(e.svc, nil, opts))
	if tweak != nil {
		tweak(srv.Config)
	}
	srv.Config.RegisterOnShutdown(hub.Close)
	srv.Start()
	t.Cleanup(func() { cancel(); srv.Close() })
	return srv.URL, hub
}

// sseEvent is one server-sent event, or a comment (event "" and comment set).
type sseEvent struct {
	Event, ID, Data, Comment string
	At                       time.Time
}

type sseStream struct {
	t      testing.TB
	res    *http.Response
	events chan sseEvent
	cancel context.CancelFunc
}

// openFeed subscribes with authz; cursor goes in Last-Event-ID unless
// asQuery.
func openFeed(t testing.TB, base, authz, cursor string, asQuery bool) (*sseStream, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	u := base + "/v1/token/revocations"
	if asQuery && cursor != "" {
		u += "?cursor=" + cursor
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	req.Header.Set("Authorization", authz)
	if !asQuery && cursor != "" {
		req.Header.Set("Last-Event-ID", cursor)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		cancel()
		res.Body.Close()
		return nil, res
	}
	s := &sseStream{t: t, res: res, events: make(chan sseEvent, 4096), cancel: cancel}
	t.Cleanup(s.close)
	go s.read()
	return s, res
}

func (s *sseStream) close() { s.cancel(); s.res.Body.Close() }

// read parses the stream (WHATWG HTML §9.2.6, the subset the feed uses).
func (s *sseStream) read() {
	defer close(s.events)
	sc := bufio.NewScanner(s.res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.Event != "" || ev.Comment != "" {
				ev.At = time.Now()
				s.events <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"):
			ev.Comment = strings.TrimSpace(line[1:])
		default:
			k, v, _ := strings.Cut(line, ": ")
			switch k {
			case "event":
				ev.Event = v
			case "id":
				ev.ID = v
			case "data":
				ev.Data = v
			}
		}
	}
}

// next returns the next event (comments skipped) within d.
func (s *sseStream) next(d time.Duration) sseEvent {
	s.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				s.t.Fatal("stream ended")
			}
			if ev.Event != "" {
				return ev
			}
		case <-deadline:
			s.t.Fatalf("no event within %v", d)
		}
	}
}

// quiet fails if an event arrives within d.
func (s *sseStream) quiet(d time.Duration) {
	s.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev, ok := <-s.events:
			if ok && ev.Event != "" {
				s.t.Fatalf("unexpected event %+v", ev)
			}
			if !ok {
				return
			}
		case <-deadline:
			return
		}
	}
}

func decodeData(t testing.TB, ev sseEvent) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(ev.Data), &m); err != nil {
		t.Fatalf("data %q: %v", ev.Data, err)
	}
	return m
}

// claimsOf asks introspection for a token's jti and sid.
func claimsOf(t *testing.T, e *env, authz, tok string) (jti, sid string) {
	t.Helper()
	r := e.introspect(authz, tok)
	return r.str("jti"), r.str("sid")
}

// TestFeedSnapshot: a new subscriber first gets the whole state: every
// denied jti and sid not yet expired, and every user whose epoch, credential
// version or disabled flag moved, and nobody else.
func TestFeedSnapshot(t *testing.T) {
	e := newEnv(t)
	_, authz := apiClient(t, e, "rs")
	base, _ := feedServer(t, e, revfeed.Options{}, nil)
	for _, m := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		e.signup(m)
	}
	// A user who never changed (no verification, epoch or disabling): not
	// listed.
	plain := &auth.User{ID: "usr_plain", Email: "plain@example.com", CreatedAt: e.clock.Now()}
	if err := e.db.CreateUser(t.Context(), plain); err != nil {
		t.Fatal(err)
	}
	ta := e.tokenLogin("a@example.com", strongPassword)
	jti, sid := claimsOf(t, e, authz, ta.access)
	expectStatus(t, e.do(req{method: "POST", path: "/v1/logout", bearer: ta.access}), 204)
	tb := e.tokenLogin("b@example.com", strongPassword)
	expectStatus(t, e.do(req{method: "POST", path: "/v1/password/change", bearer: tb.access,
		body: map[string]string{"current_password": strongPassword, "new_password": strongPassword + "!"}}), 200)
	if err := setDisabled(e, "c@example.com"); err != nil {
		t.Fatal(err)
	}
	var users []any
	for _, m := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		u, err := e.db.UserByEmail(t.Context(), m)
		if err != nil {
			t.Fatal(err)
		}
		// a's verification moved its version (signup's password took
		// effect), b changed its password, c is disabled.
		users = append(users, map[string]any{"sub": u.ID, "not_before": float64(u.TokensValidAfter.Unix()),
			"cv": float64(u.CredentialVersion), "disabled": u.Disabled})
		if u.TokensValidAfter.IsZero() {
			users[len(users)-1].(map[string]any)["not_before"] = float64(0)
		}
	}
	ub, _ := e.db.UserByEmail(t.Context(), "b@example.com")

	s, res := openFeed(t, base, authz, "", false)
	if s == nil {
		t.Fatalf("status %d", res.StatusCode)
	}
	if res.Header.Get("Content-Type") != "text/event-stream" || res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", res.Header)
	}
	ev := s.next(2 * time.Second)
	if ev.Event != "snapshot" || ev.ID == "" {
		t.Fatalf("first event %+v, want a snapshot with an id", ev)
	}
	exp := float64(e.clock.Now().Add(e.cfg.AccessTTL + time.Minute).Unix())
	want := map[string]any{
		"jtis":  []any{map[string]any{"jti": jti, "exp": exp}},
		"sids":  []any{map[string]any{"sid": sid, "exp": exp}},
		"users": sortedUsers(users),
	}
	if got := decodeData(t, ev); !reflect.DeepEqual(got, want) {
		t.Errorf("snapshot\n got %v\nwant %v", got, want)
	}
	if ub.TokensValidAfter.IsZero() || ub.CredentialVersion < 2 {
		t.Error("password change set no epoch or version")
	}
}

func sortedUsers(u []any) []any {
	slices.SortFunc(u, func(a, b any) int {
		return strings.Compare(a.(map[string]any)["sub"].(string), b.(map[string]any)["sub"].(string))
	})
	return u
}

// TestFeedEvents: each kind of revocation reaches a subscriber as the right
// event within a second: logout (its jti and its family's sid), password
// reset (the user's new epoch and credential version), disabling an account,
// and refresh-token reuse (the family's sid).
func TestFeedEvents(t *testing.T) {
	e := newEnv(t)
	_, authz := apiClient(t, e, "rs")
	base, _ := feedServer(t, e, revfeed.Options{}, nil)
	e.signup("ev@example.com")
	u, _ := e.db.UserByEmail(t.Context(), "ev@example.com")
	s, _ := openFeed(t, base, authz, "", false)
	snap := s.next(2 * time.Second)
	if snap.Event != "snapshot" {
		t.Fatalf("%+v", snap)
	}
	last := snap.ID
	expectEvent := func(what string, want map[string]any) {
		t.Helper()
		start := time.Now()
		ev := s.next(time.Second)
		if ev.Event != "revoked" {
			t.Fatalf("%s: %+v", what, ev)
		}
		if ev.ID <= last && len(ev.ID) <= len(last) {
			t.Errorf("%s: id %s not after %s", what, ev.ID, last)
		}
		last = ev.ID
		if got := decodeData(t, ev); !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %v\nwant %v", what, got, want)
		}
		t.Logf("%s: waited %v for the event after the request returned", what, max(0, ev.At.Sub(start)).Round(time.Millisecond))
	}
	exp := func() float64 { return float64(e.clock.Now().Add(e.cfg.AccessTTL + time.Minute).Unix()) }

	tk := e.tokenLogin("ev@example.com", strongPassword)
	jti, sid := claimsOf(t, e, authz, tk.access)
	expectStatus(t, e.do(req{method: "POST", path: "/v1/logout", bearer: tk.access}), 204)
	expectEvent("logout jti", map[string]any{"jti": jti, "exp": exp()})
	expectEvent("logout sid", map[string]any{"sid": sid, "exp": exp()})

	expectStatus(t, e.post("/v1/password/forgot", map[string]string{"email": "ev@example.com"}), 202)
	rt := e.mailToken("ev@example.com", "password_reset")
	e.clock.Advance(3 * time.Second)
	expectStatus(t, e.post("/v1/password/reset", map[string]string{"token": rt, "new_password": strongPassword + " reset"}), 200)
	expectEvent("reset", map[string]any{"sub": u.ID, "not_before": float64(e.clock.Now().Unix()), "cv": float64(u.CredentialVersion + 1), "disabled": false})

	tk = e.tokenLogin("ev@example.com", strongPassword+" reset")
	_, sid = claimsOf(t, e, authz, tk.access)
	r := e.refresh(tk.refresh)
	expectStatus(t, r, 200)
	e.clock.Advance(e.cfg.RefreshGrace + time.Second)
	r = e.refresh(tk.refresh) // reuse outside the grace window
	if r.code() != "refresh_token_reused" {
		t.Fatalf("reuse: %s", r.Body)
	}
	expectEvent("reuse", map[string]any{"sid": sid, "exp": exp()})

	if err := setDisabled(e, "ev@example.com"); err != nil {
		t.Fatal(err)
	}
	expectEvent("disable", map[string]any{"sub": u.ID, "not_before": float64(e.clock.Now().Add(-e.cfg.RefreshGrace - time.Second).Unix()), "cv": float64(u.CredentialVersion + 1), "disabled": true})
	s.quiet(300 * time.Millisecond)
}

// TestFeedResume: a subscriber that comes back with its cursor (header or
// query) gets exactly the events it missed, and no snapshot; an unknown or
// malformed cursor gets a snapshot.
func TestFeedResume(t *testing.T) {
	e := newEnv(t)
	_, authz := apiClient(t, e, "rs")
	base, _ := feedServer(t, e, revfeed.Options{}, nil)
	e.signup("re@example.com")
	s, _ := openFeed(t, base, authz, "", false)
	cursor := s.next(2 * time.Second).ID
	s.close()

	var missed []string
	for range 3 {
		tk := e.tokenLogin("re@example.com", strongPassword)
		jti, _ := claimsOf(t, e, authz, tk.access)
		expectStatus(t, e.post("/v1/token/revoke", map[string]string{"token": tk.access}), 200)
		missed = append(missed, jti)
	}
	for _, asQuery := range []bool{false, true} {
		s, _ := openFeed(t, base, authz, cursor, asQuery)
		var got []string
		prev := cursor
		for range missed {
			ev := s.next(time.Second)
			if ev.Event != "revoked" {
				t.Fatalf("query=%v: %+v, want the missed events only", asQuery, ev)
			}
			got = append(got, decodeData(t, ev)["jti"].(string))
			if ev.ID == prev {
				t.Errorf("repeated id %s", ev.ID)
			}
			prev = ev.ID
		}
		if !reflect.DeepEqual(got, missed) {
			t.Errorf("query=%v: resumed with %v, want %v", asQuery, got, missed)
		}
		s.quiet(200 * time.Millisecond)
		// Up to date: resuming from the newest id replays nothing.
		s2, _ := openFeed(t, base, authz, prev, asQuery)
		s2.quiet(200 * time.Millisecond)
	}
	for _, bad := range []string{"999999999", "abc", "-1", "0", "1e3", strings.Repeat("9", 30)} {
		s, _ := openFeed(t, base, authz, bad, false)
		if ev := s.next(time.Second); ev.Event != "snapshot" {
			t.Errorf("cursor %q: %+v, want a snapshot", bad, ev)
		}
	}
}

// TestFeedClientAuth: the feed takes the API clients of introspection only.
func TestFeedClientAuth(t *testing.T) {
	e := newEnv(t)
	id, _ := apiClient(t, e, "rs")
	base, hub := feedServer(t, e, revfeed.Options{}, nil)
	e.signup("fa@example.com")
	tk := e.tokenLogin("fa@example.com", strongPassword)
	for name, h := range map[string]string{"none": "", "wrong": basic(id, "nope"), "user bearer": "Bearer " + tk.access} {
		s, res := openFeed(t, base, h, "", false)
		if s != nil || res.StatusCode != 401 || res.Header.Get("WWW-Authenticate") != `Basic realm="bulwark", charset="UTF-8"` ||
			res.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %v", name, res.StatusCode, res.Header)
		}
	}
	if n := hub.Subscribers(); n != 0 {
		t.Errorf("%d subscribers after refused requests", n)
	}
}

// TestFeedOutlivesServerTimeouts: the stream is not cut by the server's
// ReadTimeout or WriteTimeout, nor by the handler deadline every other
// route has, it carries keepalive comments, and closing the hub (graceful
// shutdown) ends it.
func TestFeedOutlivesServerTimeouts(t *testing.T) {
	e := newEnv(t, withOptions(func(o *httpapi.Options) { o.RequestTimeout = 300 * time.Millisecond }))
	_, authz := apiClient(t, e, "rs")
	base, hub := feedServer(t, e, revfeed.Options{KeepAlive: 200 * time.Millisecond}, func(s *http.Server) {
		s.ReadTimeout, s.WriteTimeout = 500*time.Millisecond, 500*time.Millisecond
	})
	e.signup("to@example.com")
	s, _ := openFeed(t, base, authz, "", false)
	s.next(time.Second)
	comments := 0
	deadline := time.After(1500 * time.Millisecond)
wait:
	for {
		select {
		case ev := <-s.events:
			if ev.Comment == "keepalive" {
				comments++
			}
		case <-deadline:
			break wait
		}
	}
	if comments < 3 {
		t.Errorf("%d keepalive comments in 1.5 s at a 200 ms interval", comments)
	}
	tk := e.tokenLogin("to@example.com", strongPassword)
	expectStatus(t, e.post("/v1/token/revoke", map[string]string{"token": tk.access}), 200)
	if ev := s.next(time.Second); ev.Event != "revoked" {
		t.Fatalf("after 1.5 s on a server with 0.5 s timeouts: %+v", ev)
	}
	hub.Close()
	select {
	case _, ok := <-s.events:
		for ok {
			_, ok = <-s.events
		}
	case <-time.After(2 * time.Second):
		t.Fatal("closing the hub did not end the stream")
	}
	if n := hub.Subscribers(); n != 0 {
		t.Errorf("%d subscribers after close", n)
	}
	if s, res := openFeed(t, base, authz, "", false); s != nil || res.StatusCode != 503 {
		t.Errorf("subscribe after close: %d", res.StatusCode)
	}
}

// TestFeedThousandSubscribers measures how long a revocation takes to reach
// 1,000 subscribers of one instance (SQLite store), from the moment the
// revoking request returns. It logs the figures and asserts only that every
// subscriber got the event (timing depends on the machine).
func TestFeedThousandSubscribers(t *testing.T) {
	if testing.Short() {
		t.Skip("!!! -short: 1,000-subscriber fan-out test SKIPPED")
	}
	const n = 1000
	e := newEnv(t, withQuietLogs())
	_, authz := apiClient(t, e, "rs")
	base, hub := feedServer(t, e, revfeed.Options{}, nil)
	e.signup("k@example.com")
	tr := &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: 0}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	arrivals := make(chan time.Time, n)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{}, n)
	// At most 32 connections are being set up at once: 1,000 at once would
	// overflow the listener's accept backlog on a loaded machine, and a
	// dropped SYN is retried only after seconds, then minutes.
	dialing := make(chan struct{}, 32)
	for range n {
		go func() {
			dialing <- struct{}{}
			connected := false
			defer func() {
				if !connected {
					<-dialing
					ready <- struct{}{}
				}
			}()
			req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/token/revocations", nil)
			req.Header.Set("Authorization", authz)
			res, err := client.Do(req)
			if err != nil {
				return
			}
			defer res.Body.Close()
			sc := bufio.NewScanner(res.Body)
			sc.Buffer(make([]byte, 1<<16), 1<<20)
			for sc.Scan() {
				line := sc.Text()
				if line == "event: snapshot" {
					connected = true
					<-dialing
					ready <- struct{}{}
				}
				if line == "event: revoked" {
					arrivals <- time.Now()
					return
				}
			}
		}()
	}
	for range n {
		select {
		case <-ready:
		case <-time.After(3 * time.Minute): // generous: -race on a loaded machine
			t.Fatal("subscribers did not all connect within 3 min")
		}
	}
	if hub.Subscribers() != n {
		t.Fatalf("%d subscribers, want %d", hub.Subscribers(), n)
	}
	tk := e.tokenLogin("k@example.com", strongPassword)
	expectStatus(t, e.post("/v1/token/revoke", map[string]string{"token": tk.access}), 200)
	start := time.Now()
	lat := make([]time.Duration, 0, n)
	for range n {
		select {
		case at := <-arrivals:
			lat = append(lat, at.Sub(start))
		case <-time.After(time.Minute):
			t.Fatalf("only %d of %d subscribers got the event within a minute", len(lat), n)
		}
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
	t.Logf("1,000 subscribers: delivery latency p50 %v, p90 %v, p99 %v, max %v",
		pct(0.50).Round(time.Microsecond), pct(0.90).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
}
