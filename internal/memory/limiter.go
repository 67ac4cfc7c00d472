// Package memory holds single-process implementations of Bulwark's
// ephemeral-state interfaces, for dev mode, single-instance deployments and
// tests. Everything it keeps in memory is bounded (STANDARDS 100, 105).
package memory

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"math/bits"
	"strings"
	"sync"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// DefaultMaxKeys is the number of keys a Limiter tracks when
// LimiterOptions.MaxKeys is zero. At about 150 bytes a key (measured with
// keys of some twenty bytes) it costs some 40 MiB when full.
const DefaultMaxKeys = 1 << 18

// maxShards bounds lock contention; minShardKeys keeps shards of small
// limiters (tests) large enough for LRU eviction to mean something.
const (
	maxShards    = 64
	minShardKeys = 64
)

// maxPer is the longest window Allow accepts; it keeps every window
// computation far from int64 overflow.
const maxPer = 366 * 24 * time.Hour

// LimiterOptions configures NewLimiter. The zero value is usable.
type LimiterOptions struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxKeys bounds the number of (key, window) pairs tracked; 0 means
	// DefaultMaxKeys. Len never exceeds it.
	MaxKeys int
}

// Limiter is an auth.Limiter for one process. It counts events with a
// sliding-window counter: for each key it keeps the count of the current
// fixed window and of the previous one, and estimates the events of the last
// Per as prev*(1-elapsed/Per) + curr, where elapsed is the time since the
// current window began. An event is allowed while that estimate is below N,
// so a fresh key allows exactly N events in a burst and refuses the next.
// The estimate is computed exactly in integer arithmetic.
//
// Refused events are not counted. A client that keeps hammering a key is
// therefore admitted again at the configured rate (N per Per), never later:
// counting refusals would let anyone who can send requests under someone
// else's key (an email address, a shared office IP) keep that key blocked
// forever, turning the limit into a denial of service. Lockout, not the
// limiter, is what stops a patient guesser (auth.LockoutStore).
//
// Counters are kept per key and per window length: one key used with two
// limits of different Per gets two independent counters; limits with the same
// Per share one, so callers name the limiter in the key ("login_ip:…",
// "login_email:…"), as internal/auth does.
//
// Memory is bounded: keys live in up to 64 shards, each with its own mutex
// and a fixed share of MaxKeys. An entry whose two windows are both past
// counts nothing and is dropped: a few at a time on every insertion (from the
// least recently used end), by a sweep of the whole shard when a new key finds
// the shard full (at most once per quarter of the shard's capacity of
// insertions, so the cost stays O(1) amortised), and by Sweep or Run. When a
// shard is still full after that, the entry with the oldest last activity is
// evicted (LRU). An evicted key starts again from zero: under a flood of
// distinct keys the limiter forgets the least recently seen keys rather than
// grow without bound. Per-account lockout is kept in the database, so no flood
// can erase it.
type Limiter struct {
	now    func() time.Time
	seed   maphash.Seed
	shards []limiterShard
}

var _ auth.Limiter = (*Limiter)(nil)

// NewLimiter returns an empty Limiter. It starts no goroutine; call Run for a
// periodic sweep.
func NewLimiter(o LimiterOptions) *Limiter {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	n := min(maxShards, max(1, o.MaxKeys/minShardKeys))
	l := &Limiter{now: o.Now, seed: maphash.MakeSeed(), shards: make([]limiterShard, n)}
	for i := range l.shards {
		l.shards[i] = limiterShard{
			index: make(map[limitKey]int32),
			max:   o.MaxKeys / n,
			free:  -1,
			head:  -1,
			tail:  -1,
		}
	}
	return l
}

// Allow records one event for key under limit and reports whether it is
// within the limit. When it is not, the event is not recorded and retryAfter
// (in (0, limit.Per]) is the time until the estimate falls below N if no other
// event comes; callers round it up to whole seconds. The only error is an
// invalid limit (N or Per not positive, N above 2^32-1, Per above 366 days).
func (l *Limiter) Allow(_ context.Context, key string, limit auth.Limit) (ok bool, retryAfter time.Duration, err error) {
	if limit.N <= 0 || uint64(limit.N) > math.MaxUint32 || limit.Per <= 0 || limit.Per > maxPer {
		return false, 0, fmt.Errorf("memory limiter: invalid limit %d/%s", limit.N, limit.Per)
	}
	now := l.now().UnixNano()
	per := int64(limit.Per)
	window := floorDiv(now, per)

	k := limitKey{key: key, per: limit.Per}
	s := &l.shards[maphash.String(l.seed, key)%uint64(len(l.shards))]
	s.mu.Lock()
	defer s.mu.Unlock()

	i, found := s.index[k]
	if found {
		s.moveToFront(i)
	} else {
		i = s.insert(k, now)
		s.entries[i].window = window
	}
	e := &s.entries[i]
	st, ok, retry := Step(State{Window: e.window, Prev: int64(e.prev), Curr: int64(e.curr)}, now, limit)
	e.window, e.prev, e.curr = st.Window, uint32(st.Prev), uint32(st.Curr)
	e.expires = (st.Window + 2) * per
	return ok, retry, nil
}

// State is one key's sliding-window counter: the index of the current fixed
// window (Unix time divided by the limit's period) and the counts of the
// previous and current windows.
type State struct {
	Window     int64
	Prev, Curr int64
}

// Step records one event at now (Unix nanoseconds) on st under limit, which
// the caller has validated, and returns the new state, whether the event is
// within the limit, and when not, how long until it would be. A refused event
// is not counted. Backends that keep the state elsewhere (internal/postgres)
// use it so every limiter decides alike.
func Step(st State, now int64, limit auth.Limit) (State, bool, time.Duration) {
	per := int64(limit.Per)
	window := floorDiv(now, per)
	switch {
	case window < st.Window:
		// The clock went back: stay in the latest window seen, at its
		// start, which weighs the previous window fully (fails closed).
		window = st.Window
	case window == st.Window+1:
		st.Prev, st.Curr = st.Curr, 0
	case window > st.Window+1:
		st.Prev, st.Curr = 0, 0
	}
	st.Window = window
	elapsed := max(0, now-window*per)
	if below(uint64(st.Prev), uint64(st.Curr), uint64(limit.N), uint64(per), uint64(elapsed)) {
		st.Curr++
		return st, true, 0
	}
	return st, false, retryAfterFor(uint64(st.Prev), uint64(st.Curr), uint64(limit.N), uint64(per), uint64(elapsed))
}

// Sweep drops every entry whose windows are both past and returns how many
// it dropped.
func (l *Limiter) Sweep() int {
	now := l.now().UnixNano()
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += s.sweep(now)
		s.mu.Unlock()
	}
	return n
}

// Run calls Sweep every interval until ctx is done, then returns. It is
// optional: full shards sweep themselves.
func (l *Limiter) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.Sweep()
		}
	}
}

// Len returns the number of (key, window) pairs tracked.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.index)
		s.mu.Unlock()
	}
	return n
}

type limitKey struct {
	key string
	per time.Duration
}

// limiterEntry is the state of one (key, window) pair. Entries live in a
// slice and link to each other by index, which keeps them out of the
// garbage collector's way and makes an entry some 56 bytes.
type limiterEntry struct {
	k       limitKey
	window  int64 // index of the current fixed window: start = window*per
	expires int64 // Unix ns from which both windows are past
	prev    uint32
	curr    uint32
	newer   int32 // LRU list; -1 ends it
	older   int32 // LRU list; -1 ends it; also links the free list
}

type limiterShard struct {
	mu      sync.Mutex
	index   map[limitKey]int32
	entries []limiterEntry
	max     int
	free    int32 // first free slot in entries, -1 if none
	head    int32 // most recently used, -1 if empty
	tail    int32 // least recently used, -1 if empty
	// inserts counts insertions since the last whole-shard sweep.
	inserts int
	_       [64]byte // keep neighbouring shards' mutexes on other cache lines
}

// insert adds a zero entry for k at the front of the LRU list, making room
// first, and returns its slot.
func (s *limiterShard) insert(k limitKey, now int64) int32 {
	// Opportunistic clean-up: the least recently used entries are the
	// likeliest to be past.
	for range 2 {
		if s.tail < 0 || s.entries[s.tail].expires > now {
			break
		}
		s.remove(s.tail)
	}
	if len(s.index) >= s.max && s.inserts >= max(1, s.max/4) {
		s.sweep(now)
	}
	for len(s.index) >= s.max {
		s.remove(s.tail)
	}
	s.inserts++

	var i int32
	if s.free >= 0 {
		i = s.free
		s.free = s.entries[i].older
	} else {
		s.entries = append(s.entries, limiterEntry{})
		i = int32(len(s.entries) - 1)
	}
	// Clone so that a key sliced from a large string does not pin it.
	k.key = strings.Clone(k.key)
	s.entries[i] = limiterEntry{k: k, newer: -1, older: -1}
	s.index[k] = i
	s.pushFront(i)
	return i
}

// sweep drops every past entry of the shard and returns how many.
func (s *limiterShard) sweep(now int64) int {
	s.inserts = 0
	n := 0
	for i := s.tail; i >= 0; {
		next := s.entries[i].newer
		if s.entries[i].expires <= now {
			s.remove(i)
			n++
		}
		i = next
	}
	return n
}

func (s *limiterShard) remove(i int32) {
	s.unlink(i)
	delete(s.index, s.entries[i].k)
	s.entries[i] = limiterEntry{older: s.free} // drops the key string
	s.free = i
}

func (s *limiterShard) unlink(i int32) {
	e := &s.entries[i]
	if e.newer >= 0 {
		s.entries[e.newer].older = e.older
	} else {
		s.head = e.older
	}
	if e.older >= 0 {
		s.entries[e.older].newer = e.newer
	} else {
		s.tail = e.newer
	}
	e.newer, e.older = -1, -1
}

func (s *limiterShard) pushFront(i int32) {
	e := &s.entries[i]
	e.newer, e.older = -1, s.head
	if s.head >= 0 {
		s.entries[s.head].newer = i
	}
	s.head = i
	if s.tail < 0 {
		s.tail = i
	}
}

func (s *limiterShard) moveToFront(i int32) {
	if s.head == i {
		return
	}
	s.unlink(i)
	s.pushFront(i)
}

// below reports whether the estimate prev*(1-elapsed/per) + curr is below n,
// that is whether prev*(per-elapsed) + curr*per < n*per, in 128-bit integers.
func below(prev, curr, n, per, elapsed uint64) bool {
	ah, al := bits.Mul64(prev, per-elapsed)
	bh, bl := bits.Mul64(curr, per)
	sl, c := bits.Add64(al, bl, 0)
	sh, _ := bits.Add64(ah, bh, c)
	nh, nl := bits.Mul64(n, per)
	return sh < nh || (sh == nh && sl < nl)
}

// retryAfterFor returns how long after elapsed the estimate falls below n
// when no other event is recorded, capped at per (the exact answer after a
// burst that began on a window boundary is per plus one nanosecond).
func retryAfterFor(prev, curr, n, per, elapsed uint64) time.Duration {
	var wait uint64
	if curr < n {
		// Within this window: the estimate is below n once the time left
		// x = per-e satisfies prev*x < (n-curr)*per.
		wait = per - maxLeft(n-curr, per, prev) - elapsed
	} else {
		// In the next window prev becomes curr and curr 0: the estimate is
		// below n once curr*x < n*per.
		wait = per - elapsed + per - maxLeft(n, per, curr)
	}
	return time.Duration(min(max(wait, 1), per))
}

// maxLeft returns the largest x with d*x < a*per, that is ceil(a*per/d)-1,
// or per when that exceeds per.
func maxLeft(a, per, d uint64) uint64 {
	hi, lo := bits.Mul64(a, per)
	if hi >= d {
		return per
	}
	q, r := bits.Div64(hi, lo, d)
	if r != 0 {
		q++
	}
	return min(q-1, per)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}
