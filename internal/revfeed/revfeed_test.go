package revfeed_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/revfeed"
)

// memStore is an in-memory feed store.
type memStore struct {
	mu     sync.Mutex
	events []auth.RevocationEvent
	wake   func()
}

func (m *memStore) add(n int) {
	m.mu.Lock()
	for range n {
		id := int64(len(m.events) + 1)
		m.events = append(m.events, auth.RevocationEvent{ID: id, Kind: auth.RevokedJTI, Subject: "j", Exp: 1})
	}
	w := m.wake
	m.mu.Unlock()
	if w != nil {
		w()
	}
}

func (m *memStore) RevocationsAfter(_ context.Context, after int64, limit int) ([]auth.RevocationEvent, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []auth.RevocationEvent
	for _, e := range m.events {
		if e.ID > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, len(m.events) > 0 && after >= 1 && after <= int64(len(m.events)), nil
}

func (m *memStore) LatestRevocation(context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(len(m.events)), nil
}

func (m *memStore) RevocationSnapshot(context.Context, time.Time) (*auth.RevocationSnapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return &auth.RevocationSnapshot{Cursor: int64(len(m.events))}, nil
}

func (m *memStore) WatchRevocations(ctx context.Context, wake func()) error {
	m.mu.Lock()
	m.wake = wake
	m.mu.Unlock()
	<-ctx.Done()
	return ctx.Err()
}

// writer records what a stream writes; when block is set, every write after
// the first waits for it to be closed.
type writer struct {
	hdr    http.Header
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	block  chan struct{}
}

func (w *writer) Header() http.Header { return w.hdr }
func (w *writer) WriteHeader(int)     {}
func (w *writer) Flush()              {}
func (w *writer) Write(b []byte) (int, error) {
	w.mu.Lock()
	w.writes++
	n := w.writes
	w.mu.Unlock()
	if w.block != nil && n > 1 {
		<-w.block
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(b)
}
func (w *writer) count(s string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Count(w.buf.String(), s)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 2 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSlowSubscriberIsDropped: a subscriber that stops reading fills its
// bounded buffer and is dropped; the others get every event without delay.
func TestSlowSubscriberIsDropped(t *testing.T) {
	store := &memStore{}
	hub := revfeed.New(store, nil, revfeed.Options{Buffer: 4})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go hub.Run(ctx)

	req := httptest.NewRequest("GET", "/v1/token/revocations", nil).WithContext(ctx)
	slow := &writer{hdr: http.Header{}, block: make(chan struct{})}
	fast := &writer{hdr: http.Header{}}
	done := make(chan struct{}, 2)
	go func() { _ = hub.Stream(slow, req, ""); done <- struct{}{} }()
	go func() { _ = hub.Stream(fast, req, ""); done <- struct{}{} }()
	waitUntil(t, "two subscribers", func() bool { return hub.Subscribers() == 2 && fast.count("event: snapshot") == 1 })

	// The slow one takes the first event, then blocks writing it; its
	// buffer of 4 broadcasts fills and the hub drops it. A burst read in one
	// page is one broadcast: the fast one, which keeps up, is never dropped.
	store.add(3)
	for i := range 7 {
		waitUntil(t, "fast subscriber keeps up", func() bool { return fast.count("event: revoked") >= 3+i })
		store.add(1)
	}
	waitUntil(t, "fast subscriber has all 10", func() bool { return fast.count("event: revoked") == 10 })
	waitUntil(t, "slow subscriber dropped", func() bool { return hub.Subscribers() == 1 })
	close(slow.block)
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("the dropped stream did not end")
	}
	// The fast one is still served.
	store.add(1)
	waitUntil(t, "fast subscriber still served", func() bool { return fast.count("event: revoked") == 11 })
	hub.Close()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not end the stream")
	}
}

func TestParseCursor(t *testing.T) {
	for in, want := range map[string]bool{"0": true, "42": true, "9223372036854775807": true, "9223372036854775808": false,
		"": false, "-1": false, "+1": false, "1e3": false, " 1": false, "0x10": false, "abc": false} {
		if _, ok := revfeed.ParseCursor(in); ok != want {
			t.Errorf("ParseCursor(%q) ok = %v, want %v", in, ok, want)
		}
	}
}

// failingStore fails every read after the hub has started.
type failingStore struct{ memStore }

var errDown = errors.New("database down")

func (f *failingStore) RevocationSnapshot(context.Context, time.Time) (*auth.RevocationSnapshot, error) {
	return nil, errDown
}

// TestStreamRefusals: past MaxSubscribers, after Close, and when the store
// cannot answer, Stream returns an error and writes nothing, so the caller
// can answer 503.
func TestStreamRefusals(t *testing.T) {
	store := &memStore{}
	hub := revfeed.New(store, nil, revfeed.Options{MaxSubscribers: 1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go hub.Run(ctx)
	req := httptest.NewRequest("GET", "/v1/token/revocations", nil).WithContext(ctx)
	first := &writer{hdr: http.Header{}}
	go func() { _ = hub.Stream(first, req, "") }()
	waitUntil(t, "one subscriber", func() bool { return hub.Subscribers() == 1 })
	second := &writer{hdr: http.Header{}}
	if err := hub.Stream(second, req, ""); !errors.Is(err, revfeed.ErrUnavailable) || second.count("event") != 0 || len(second.hdr) != 0 {
		t.Errorf("past MaxSubscribers: %v, wrote %q", err, second.buf.String())
	}
	hub.Close()
	waitUntil(t, "closed", func() bool { return hub.Subscribers() == 0 })
	if err := hub.Stream(second, req, ""); !errors.Is(err, revfeed.ErrUnavailable) {
		t.Errorf("after Close: %v", err)
	}

	down := revfeed.New(&failingStore{}, nil, revfeed.Options{})
	go down.Run(ctx)
	w := &writer{hdr: http.Header{}}
	if err := down.Stream(w, req, ""); !errors.Is(err, errDown) || w.count("event") != 0 || len(w.hdr) != 0 {
		t.Errorf("store down: %v, wrote %q %v", err, w.buf.String(), w.hdr)
	}
	if down.Subscribers() != 0 {
		t.Error("a refused stream stayed subscribed")
	}
}

// countingStore counts the event reads of the hub.
type countingStore struct {
	memStore
	mu    sync.Mutex
	reads int
}

func (c *countingStore) RevocationsAfter(ctx context.Context, after int64, limit int) ([]auth.RevocationEvent, bool, error) {
	c.mu.Lock()
	c.reads++
	c.mu.Unlock()
	return c.memStore.RevocationsAfter(ctx, after, limit)
}

func (c *countingStore) readCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads
}

// TestNoReadsWithoutSubscribers: every write transaction wakes the hub; with
// nobody listening it reads nothing. The first subscriber after that gets a
// snapshot that covers what happened meanwhile, then every new event once.
func TestNoReadsWithoutSubscribers(t *testing.T) {
	store := &countingStore{}
	hub := revfeed.New(store, nil, revfeed.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go hub.Run(ctx)
	waitUntil(t, "hub watching", func() bool { store.memStore.mu.Lock(); defer store.memStore.mu.Unlock(); return store.wake != nil })
	for range 50 {
		store.add(1)
	}
	time.Sleep(50 * time.Millisecond)
	if n := store.readCount(); n != 0 {
		t.Fatalf("%d event reads with no subscriber, want 0", n)
	}

	w := &writer{hdr: http.Header{}}
	req := httptest.NewRequest("GET", "/v1/token/revocations", nil).WithContext(ctx)
	go func() { _ = hub.Stream(w, req, "") }()
	waitUntil(t, "snapshot", func() bool { return w.count("event: snapshot") == 1 })
	if w.count("id: 50\n") != 1 {
		t.Fatal("the snapshot does not cover the 50 events written meanwhile")
	}
	store.add(2)
	waitUntil(t, "two live events", func() bool { return w.count("event: revoked") == 2 })
	time.Sleep(50 * time.Millisecond)
	if n := w.count("event: revoked"); n != 2 {
		t.Fatalf("%d revoked events, want exactly the 2 new ones", n)
	}
}
