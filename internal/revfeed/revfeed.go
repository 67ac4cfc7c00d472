// Package revfeed serves the revocation feed (GET /v1/token/revocations): a
// server-sent-events stream (WHATWG HTML §9.2) of every revocation, for
// resource servers that verify Bulwark's access tokens themselves.
//
// The database is the source of truth (auth.RevocationFeedStore): every
// revocation appends an event, with an id that grows in commit order, in its
// own transaction. Each instance runs one Hub, which holds the one listener
// of the instance (LISTEN/NOTIFY on PostgreSQL, an in-process wake on SQLite),
// reads each new event from the table once, and hands it, already encoded,
// to every subscriber of the instance. A subscriber has a bounded buffer; one
// that falls behind is dropped (its stream ends) rather than allowed to slow
// the others, and resumes from its cursor when it reconnects.
//
// A new subscriber, or one whose cursor the table no longer covers (unknown,
// purged, malformed), first gets a snapshot of the whole state; one with a
// good cursor gets exactly the events after it. Then it gets live events
// within a second of their commit, and a keepalive comment every 15 seconds.
package revfeed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// Defaults of Options.
const (
	DefaultBuffer         = 256
	DefaultKeepAlive      = 15 * time.Second
	DefaultWriteWait      = 10 * time.Second
	DefaultMaxSubscribers = 10000
	pageSize              = 1000
)

// ErrUnavailable is returned by Stream when the hub is closed or full, before
// anything was written: the caller answers 503.
var ErrUnavailable = errors.New("revocation feed unavailable")

// Options tune a Hub; zero fields take the defaults.
type Options struct {
	Buffer         int           // broadcasts a subscriber may have waiting
	KeepAlive      time.Duration // comment interval on a quiet stream
	WriteWait      time.Duration // how long one write may block
	MaxSubscribers int           // streams one instance serves at once
	Now            func() time.Time
}

// Hub is one instance's end of the feed. It is safe for concurrent use.
type Hub struct {
	store auth.RevocationFeedStore
	log   *slog.Logger
	opt   Options

	wake  chan struct{}
	done  chan struct{}
	once  sync.Once
	ready chan struct{} // closed once Run knows the newest event id

	mu   sync.Mutex
	subs map[*subscriber]struct{}
	last int64 // newest event id handed to the subscribers
	// stale is set when a wake found no subscriber and read nothing: every
	// write transaction wakes the hub, and without a listener the read
	// would be wasted. The next subscriber brings last up to date first
	// (catchUp).
	stale bool
}

type frame struct {
	id   int64
	data []byte // the whole SSE event
}

// subscriber receives the events of one broadcast as one batch: a burst
// read in one page takes one place in the buffer.
type subscriber struct {
	ch      chan []*frame
	dropped chan struct{} // closed when the hub drops it
}

// New returns a hub reading from store. Call Run to start it.
func New(store auth.RevocationFeedStore, log *slog.Logger, opt Options) *Hub {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opt.Buffer <= 0 {
		opt.Buffer = DefaultBuffer
	}
	if opt.KeepAlive <= 0 {
		opt.KeepAlive = DefaultKeepAlive
	}
	if opt.WriteWait <= 0 {
		opt.WriteWait = DefaultWriteWait
	}
	if opt.MaxSubscribers <= 0 {
		opt.MaxSubscribers = DefaultMaxSubscribers
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Hub{
		store: store, log: log, opt: opt,
		wake: make(chan struct{}, 1), done: make(chan struct{}), ready: make(chan struct{}), subs: map[*subscriber]struct{}{},
	}
}

// Wake tells the hub that new events may have been committed. It never
// blocks.
func (h *Hub) Wake() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// Close ends every stream and refuses new ones (graceful shutdown: the
// server's Shutdown waits for handlers, and a stream never ends by itself).
func (h *Hub) Close() {
	h.once.Do(func() { close(h.done) })
}

// Run is the hub's one reader of the store: it starts the store's watcher
// and, on every wake, hands the new events to the subscribers, until ctx
// ends; then it closes the hub.
func (h *Hub) Run(ctx context.Context) {
	defer h.Close()
	for {
		last, err := h.store.LatestRevocation(ctx)
		if err == nil {
			h.mu.Lock()
			h.last = last
			h.mu.Unlock()
			close(h.ready)
			break
		}
		h.log.Warn("revocation feed: read latest event", "error", err.Error())
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	go func() { _ = h.store.WatchRevocations(ctx, h.Wake) }()
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.done:
			return
		case <-h.wake:
			if err := h.pump(ctx); err != nil && ctx.Err() == nil {
				h.log.Warn("revocation feed: read events", "error", err.Error())
			}
		}
	}
}

// pump hands every event after h.last to the subscribers.
func (h *Hub) pump(ctx context.Context) error {
	for {
		h.mu.Lock()
		if len(h.subs) == 0 || h.stale {
			// Nobody listens, or the first subscriber after that has not
			// caught up yet: its snapshot, read after catchUp, holds
			// every event committed until then.
			h.stale = true
			h.mu.Unlock()
			return nil
		}
		after := h.last
		h.mu.Unlock()
		evs, _, err := h.store.RevocationsAfter(ctx, after, pageSize)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return nil
		}
		frames := make([]*frame, len(evs))
		for i := range evs {
			frames[i] = eventFrame(&evs[i])
		}
		h.broadcast(frames)
		if len(evs) < pageSize {
			return nil
		}
	}
}

// broadcast never blocks: a subscriber whose buffer is full is dropped.
func (h *Hub) broadcast(frames []*frame) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		select {
		case s.ch <- frames:
		default:
			close(s.dropped)
			delete(h.subs, s)
		}
	}
	h.last = frames[len(frames)-1].id
}

// catchUp brings last to the newest event after wakes that read nothing
// because nobody listened. It runs after the caller subscribed and before it
// reads its snapshot or replay: what that read returns covers every event up
// to the newest id read here, so no event the caller needs is skipped.
// Events a concurrent pump hands out twice are skipped by id.
func (h *Hub) catchUp(ctx context.Context) error {
	h.mu.Lock()
	stale := h.stale
	h.mu.Unlock()
	if !stale {
		return nil
	}
	latest, err := h.store.LatestRevocation(ctx)
	if err != nil {
		return err
	}
	h.mu.Lock()
	if h.stale {
		h.last = max(h.last, latest)
		h.stale = false
	}
	h.mu.Unlock()
	return nil
}

// Subscribers returns how many streams are open.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

func (h *Hub) subscribe() *subscriber {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.done:
		return nil
	default:
	}
	if len(h.subs) >= h.opt.MaxSubscribers {
		return nil
	}
	s := &subscriber{ch: make(chan []*frame, h.opt.Buffer), dropped: make(chan struct{})}
	h.subs[s] = struct{}{}
	return s
}

func (h *Hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, s)
}

// ParseCursor reads a cursor the feed gave out: a decimal event id. Anything
// else is not a cursor (the subscriber gets a snapshot).
func ParseCursor(s string) (int64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// Stream serves one subscriber on w until the client goes, the hub closes or
// drops it, or a write fails. cursor is the Last-Event-ID (or ?cursor=) the
// client sent, "" for none. An error means nothing was written, and the
// caller answers it (auth.ErrUnavailable in the chain: 503).
func (h *Hub) Stream(w http.ResponseWriter, r *http.Request, cursor string) error {
	ctx := r.Context()
	// The reads before the stream starts are bounded like a request's.
	setup, cancelSetup := context.WithTimeout(ctx, h.opt.WriteWait)
	defer cancelSetup()
	// Until Run has read the newest id, an event committed after this
	// subscriber's read could be taken for one already handed out.
	select {
	case <-h.ready:
	case <-h.done:
		return ErrUnavailable
	case <-setup.Done():
		return ErrUnavailable
	}
	s := h.subscribe()
	if s == nil {
		return ErrUnavailable
	}
	defer h.unsubscribe(s)
	if err := h.catchUp(setup); err != nil {
		return err
	}

	// What comes first: the events after a good cursor, or a snapshot. The
	// subscription is taken before the read, so that nothing committed
	// after the read is missed; what both deliver is skipped by id.
	var first [][]byte
	var last int64
	c, ok := ParseCursor(cursor)
	var evs []auth.RevocationEvent
	replayable := false
	if ok {
		var err error
		if evs, replayable, err = h.store.RevocationsAfter(setup, c, pageSize); err != nil {
			return err
		}
	}
	if replayable {
		last = c
	} else {
		snap, err := h.store.RevocationSnapshot(setup, h.opt.Now())
		if err != nil {
			return err
		}
		first = append(first, snapshotFrame(snap))
		last, evs = snap.Cursor, nil
	}

	rc := http.NewResponseController(w)
	// The request has been read: clear the connection's read deadline
	// (ReadTimeout), so nothing of it can end the stream later; a dead
	// client is found by the write deadline of the next keepalive.
	_ = rc.SetReadDeadline(time.Time{})
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Accel-Buffering", "no") // a buffering proxy would hold events back
	w.WriteHeader(http.StatusOK)
	write := func(b []byte) error {
		// Each write gets its own deadline: the server's WriteTimeout would
		// otherwise end the stream, and a client that stops reading must not
		// hold the handler forever.
		_ = rc.SetWriteDeadline(time.Now().Add(h.opt.WriteWait))
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	}
	for _, b := range first {
		if err := write(b); err != nil {
			return nil
		}
	}
	// Replay page by page until caught up.
	for len(evs) > 0 {
		var buf bytes.Buffer
		for i := range evs {
			buf.Write(eventFrame(&evs[i]).data)
			last = evs[i].ID
		}
		if err := write(buf.Bytes()); err != nil {
			return nil
		}
		if len(evs) < pageSize {
			break
		}
		var err error
		pctx, cancel := context.WithTimeout(ctx, h.opt.WriteWait)
		evs, _, err = h.store.RevocationsAfter(pctx, last, pageSize)
		cancel()
		if err != nil {
			return nil // the client reconnects with its cursor
		}
	}
	if len(first) == 0 && last == c {
		// Nothing to replay: flush the headers so the client knows it is
		// connected.
		if err := rc.Flush(); err != nil {
			return nil
		}
	}

	keep := time.NewTicker(h.opt.KeepAlive)
	defer keep.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-h.done:
			return nil
		case <-s.dropped:
			return nil
		case <-keep.C:
			if err := write([]byte(": keepalive\n\n")); err != nil {
				return nil
			}
		case batch := <-s.ch:
			// Take what else is waiting, so that a burst is one write.
			var buf bytes.Buffer
			for more := true; more; {
				for _, f := range batch {
					if f.id > last {
						buf.Write(f.data)
						last = f.id
					}
				}
				select {
				case batch = <-s.ch:
				default:
					more = false
				}
			}
			if buf.Len() == 0 {
				continue
			}
			if err := write(buf.Bytes()); err != nil {
				return nil
			}
		}
	}
}

// Wire forms of the feed's events.
type (
	jtiJSON struct {
		JTI string `json:"jti"`
		Exp int64  `json:"exp"`
	}
	sidJSON struct {
		SID string `json:"sid"`
		Exp int64  `json:"exp"`
	}
	userJSON struct {
		Sub       string `json:"sub"`
		NotBefore int64  `json:"not_before"`
		CV        int64  `json:"cv"`
		Disabled  bool   `json:"disabled"`
	}
	snapshotJSON struct {
		JTIs  []jtiJSON  `json:"jtis"`
		SIDs  []sidJSON  `json:"sids"`
		Users []userJSON `json:"users"`
	}
)

func eventFrame(e *auth.RevocationEvent) *frame {
	var v any
	switch e.Kind {
	case auth.RevokedJTI:
		v = jtiJSON{JTI: e.Subject, Exp: e.Exp}
	case auth.RevokedSID:
		v = sidJSON{SID: e.Subject, Exp: e.Exp}
	default:
		v = userJSON{Sub: e.Subject, NotBefore: e.NotBefore, CV: e.CredentialVersion, Disabled: e.Disabled}
	}
	return &frame{id: e.ID, data: sse("revoked", e.ID, v)}
}

func snapshotFrame(s *auth.RevocationSnapshot) []byte {
	out := snapshotJSON{JTIs: make([]jtiJSON, 0, len(s.JTIs)), SIDs: make([]sidJSON, 0, len(s.SIDs)), Users: make([]userJSON, 0, len(s.Users))}
	for _, d := range s.JTIs {
		out.JTIs = append(out.JTIs, jtiJSON{JTI: d.ID, Exp: d.Exp})
	}
	for _, d := range s.SIDs {
		out.SIDs = append(out.SIDs, sidJSON{SID: d.ID, Exp: d.Exp})
	}
	for _, u := range s.Users {
		out.Users = append(out.Users, userJSON{Sub: u.UserID, NotBefore: u.NotBefore, CV: u.CredentialVersion, Disabled: u.Disabled})
	}
	return sse("snapshot", s.Cursor, out)
}

// sse encodes one event. encoding/json never writes a line break, so data is
// one line, as the contract says.
func sse(event string, id int64, v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain structs of strings and numbers
	}
	var b bytes.Buffer
	b.Grow(len(data) + 48)
	b.WriteString("event: ")
	b.WriteString(event)
	b.WriteString("\nid: ")
	b.WriteString(strconv.FormatInt(id, 10))
	b.WriteString("\ndata: ")
	b.Write(data)
	b.WriteString("\n\n")
	return b.Bytes()
}
