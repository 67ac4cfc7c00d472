// Package memory holds single-process implementations of Bulwark's
// ephemeral-state interfaces, for dev mode, single-instance deployments and
// tests. Everything it keeps in memory is bounded (CWE-400; OWASP ASVS 5.0 2.4.1).
package memory

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// DefaultMaxKeys is the number of keys a Limiter tracks when
// LimiterOptions.MaxKeys is zero. See Limiter for the bytes a key costs.
const DefaultMaxKeys = 1 << 18

// maxShards bounds lock contention; minShardKeys keeps shards of small
// limiters (tests) large enough for LRU eviction to mean something.
const (
	maxShards    = 64
	minShardKeys = 64
)

// maxPer is the longest window Allow accepts; it keeps every computation far
// from int64 overflow.
const maxPer = 366 * 24 * time.Hour

// LimiterOptions configures NewLimiter. The zero value is usable.
type LimiterOptions struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxKeys bounds the number of (key, window) pairs tracked; 0 means
	// DefaultMaxKeys. Len never exceeds it.
	MaxKeys int
}

// Limiter is an auth.Limiter for one process. Its guarantee, shared with the
// Redis and PostgreSQL limiters through Step, is exact: for every key, at
// most N events are accepted in any interval of length Per, however the
// events are timed. A fixed or two-window sliding counter does not give that:
// a burst at the end of one window and another at the start of the next gets
// 2N through (OWASP ASVS 5.0 2.4.1 asks for limits that hold, and 6.3.1 for
// the login limits that rest on them). See Step for the rule and Log for the
// state it keeps.
//
// Refused events are not counted. A client that keeps hammering a key is
// therefore admitted again as soon as one more event fits, never later:
// counting refusals would let anyone who can send requests under someone
// else's key (an email address, a shared office IP) keep that key blocked
// forever, turning the limit into a denial of service. Lockout, not the
// limiter, is what stops a patient guesser (auth.LockoutStore).
//
// State is kept per key and per window length: one key used with two limits
// of different Per gets two independent logs; limits with the same Per share
// one, so callers name the limiter in the key ("login_ip:…",
// "login_email:…"), as internal/auth does.
//
// Memory is bounded: keys live in up to 64 shards, each with its own mutex
// and a fixed share of MaxKeys. A key costs about 200 bytes when it has seen
// one event (entry, index, a key string of some twenty bytes, one span of 16
// bytes), and its log grows to at most min(N, MaxExact) spans, or Buckets+1
// above MaxExact (see Log): measured, 250 bytes for a key at the 5-a-minute
// login limit with its log full, 490 at 20 a minute, 1.3 KiB for the largest
// limits (TestBytesPerKey). A flood of distinct keys therefore fills the
// default 262,144 keys with some 50 MiB; the bound for keys whose logs are
// all full is MaxKeys times those figures (130 MiB at 20 a minute). Logs grow
// by doubling but never past their largest size, so a full log wastes
// nothing. An entry whose log counts
// nothing any more is dropped: a few at a time on every insertion (from the
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

// ValidLimit reports whether limit is one the limiters accept: N in
// [1, 2^32-1] and Per in (0, 366 days].
func ValidLimit(limit auth.Limit) bool {
	return limit.N > 0 && uint64(limit.N) <= math.MaxUint32 && limit.Per > 0 && limit.Per <= maxPer
}

// Allow records one event for key under limit and reports whether it is
// within the limit. When it is not, the event is not recorded and retryAfter
// is the exact time until one more event fits (see Step); callers round it
// up to whole seconds. The only error is an invalid limit (see ValidLimit).
func (l *Limiter) Allow(_ context.Context, key string, limit auth.Limit) (ok bool, retryAfter time.Duration, err error) {
	if !ValidLimit(limit) {
		return false, 0, fmt.Errorf("memory limiter: invalid limit %d/%s", limit.N, limit.Per)
	}
	now := l.now().UnixNano()

	k := limitKey{key: key, per: limit.Per}
	s := &l.shards[maphash.String(l.seed, key)%uint64(len(l.shards))]
	s.mu.Lock()
	defer s.mu.Unlock()

	i, found := s.index[k]
	if found {
		s.moveToFront(i)
	} else {
		i = s.insert(k, now)
	}
	e := &s.entries[i]
	e.log, ok, retryAfter = Step(e.log, now, limit)
	e.expires = e.log.Expires(limit)
	return ok, retryAfter, nil
}

// MaxExact is the largest N decided with an exact log: one span per accepted
// event (events of the same instant share a span). Every security limit
// Bulwark ships is far below it.
const MaxExact = 64

// Buckets is the number of buckets a window is cut into above MaxExact.
const Buckets = 64

// Log is one key's state under one limit: spans of accepted events, oldest
// first, as pairs (start, count) laid out flat: Log[2i] is the start of span
// i in Unix nanoseconds and Log[2i+1] the number of events it holds.
//
// Up to MaxExact events a window (N ≤ MaxExact) a span is one instant, and
// the log holds at most N spans. Above it, the window is cut into Buckets
// buckets of G = ceil(Per/Buckets) aligned on the Unix epoch, a span is a
// bucket and counts every event in [start, start+G), and the log holds at
// most Buckets+1 spans whatever N is: a million events a minute cost the
// same bytes as a hundred. Either way a span counts until its last possible
// event has left the window, so the count never misses an event (see Step).
type Log []int64

// Granularity returns the width G of a span under limit: 0 when spans are
// instants (N ≤ MaxExact), ceil(Per/Buckets) otherwise.
func Granularity(limit auth.Limit) int64 {
	if limit.N <= MaxExact {
		return 0
	}
	per := int64(limit.Per)
	return (per + Buckets - 1) / Buckets
}

// Expires returns the Unix nanosecond from which the log counts nothing,
// under limit; 0 for an empty log.
func (lg Log) Expires(limit auth.Limit) int64 {
	if len(lg) == 0 {
		return 0
	}
	return lg[len(lg)-2] + Granularity(limit) + int64(limit.Per)
}

// Step is the decision every limiter makes (Redis runs its Lua twin): it
// records one event at now (Unix nanoseconds) on lg under limit, which the
// caller has validated, and returns the new log, whether the event is
// accepted, and when not, how long until one more event fits.
//
// A span starting at s dies at s + G + Per: for an instant (G = 0) that is
// exactly when its events leave every interval of length Per that ends at
// or after now; for a bucket, when the last event it may hold has left it.
// The event is accepted when the events of the live spans number fewer than
// N. Every event accepted in the half-open interval (now − Per, now] lies in
// a live span, so at most N events are ever accepted in any interval of
// length Per. For N ≤ MaxExact the count is exact: the decision is the one a
// log of every timestamp would make. Above it the count may include events
// up to G older than Per, so a client sending exactly at N per Per may be
// refused now and then, while no one gets more than N through.
//
// A refused event is not recorded; retryAfter is then the time from now
// until enough of the oldest spans have died for one more event to fit,
// that is, for N ≤ MaxExact, oldest counted event + Per − now, exactly.
//
// If the clock has gone back behind the newest span, the decision is taken
// at the newest span's time and an accepted event is recorded there: the
// limiter counts as if no time had passed, which refuses more rather than
// less (fails closed), and retryAfter counts from the real now, so it may
// then exceed Per.
//
// Step reuses lg's storage.
func Step(lg Log, now int64, limit auth.Limit) (Log, bool, time.Duration) {
	per, n, g := int64(limit.Per), int64(limit.N), Granularity(limit)
	at := now
	if k := len(lg); k > 0 && lg[k-2] > at {
		at = lg[k-2]
	}
	dead := 0
	for dead < len(lg) && lg[dead]+g+per <= at {
		dead += 2
	}
	if dead > 0 {
		lg = lg[:copy(lg, lg[dead:])]
	}
	var count int64
	for i := 1; i < len(lg); i += 2 {
		count += lg[i]
	}
	if count < n {
		start := at
		if g > 0 {
			start = at - floorMod(at, g)
		}
		if k := len(lg); k > 0 && lg[k-2] == start {
			lg[k-1]++
			return lg, true, 0
		}
		if len(lg) == cap(lg) {
			// Grow by doubling, but never past the most spans the log can
			// hold, so a full log wastes nothing.
			most := 2 * int(min(n, MaxExact))
			if g > 0 {
				most = 2 * (Buckets + 1)
			}
			grown := make(Log, len(lg), min(max(2*cap(lg), 4), most))
			copy(grown, lg)
			lg = grown
		}
		return append(lg, start, 1), true, 0
	}
	// The oldest spans die first: wait for the first one whose death brings
	// the count below n.
	for i := 0; i < len(lg); i += 2 {
		count -= lg[i+1]
		if count < n {
			return lg, false, time.Duration(lg[i] + g + per - now)
		}
	}
	panic("memory.Step: count above the limit with no span") // unreachable: count ≥ n > 0 means spans
}

// Sweep drops every entry whose log counts nothing any more and returns how
// many it dropped.
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
// slice and link to each other by index, which makes an entry 72 bytes
// besides its log's spans.
type limiterEntry struct {
	k       limitKey
	log     Log
	expires int64 // Unix ns from which the log counts nothing
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
	// A freed slot keeps its log's storage for the next key.
	s.entries[i] = limiterEntry{k: k, log: s.entries[i].log[:0], newer: -1, older: -1}
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
	s.entries[i] = limiterEntry{log: s.entries[i].log[:0], older: s.free} // drops the key string
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

// floorMod returns a mod b in [0, b) for b > 0, also for negative a.
func floorMod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}
