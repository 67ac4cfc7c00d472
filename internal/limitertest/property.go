package limitertest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// Reference is the rule every limiter must keep, computed the slow and
// obvious way: it remembers the time of every accepted event and accepts a
// new one when fewer than N of them lie in the half-open interval
// (now − Per, now]. Then no interval of length Per ever holds more than N
// accepted events, and a refused event can be accepted again exactly when
// the oldest event of that interval leaves it. Times must not go back.
type Reference struct {
	Limit    auth.Limit
	Accepted []time.Time
}

// Allow decides one event at now as the rule says, and records it when it is
// accepted.
func (r *Reference) Allow(now time.Time) (bool, time.Duration) {
	var live []time.Time
	for _, a := range r.Accepted {
		if a.After(now.Add(-r.Limit.Per)) {
			live = append(live, a)
		}
	}
	if len(live) < r.Limit.N {
		r.Accepted = append(r.Accepted, now)
		return true, 0
	}
	// live holds N events, oldest first: one more fits when the oldest
	// leaves the interval.
	return false, live[len(live)-r.Limit.N].Add(r.Limit.Per).Sub(now)
}

// MostInAnyWindow returns the largest number of times in accepted (in
// ascending order) that one half-open interval of length per holds.
func MostInAnyWindow(accepted []time.Time, per time.Duration) int {
	most, lo := 0, 0
	for hi := range accepted {
		for !accepted[hi].Before(accepted[lo].Add(per)) {
			lo++
		}
		most = max(most, hi-lo+1)
	}
	return most
}

// exactUpTo mirrors memory.MaxExact: up to it a limiter's decisions and
// Retry-After must equal the reference's; above it, only the guarantee is
// checked (the limiter may refuse a little more).
const exactUpTo = 64

// Property runs sequences random event sequences through limiters from open
// (one per worker goroutine, sequences on distinct keys) and checks each
// against the guarantee: no interval of length Per ever holds more than N
// accepted events, and a refused event's Retry-After is positive. For
// N ≤ 64 (exact logs) every decision and every Retry-After must also equal
// the Reference's. The seed is logged; BULWARK_LIMITER_SEED replays one run.
//
// Sequences mix the limits Bulwark ships with random ones (N from 1 to 100,
// Per from a millisecond to an hour), and time steps that an attacker would
// choose: bursts at one instant, runs just before and just after a window
// boundary, steps of about Per/N, and jumps of a window and more. Every time
// is a whole microsecond, the resolution every limiter keeps.
func Property(t *testing.T, open Open, sequences int) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("BULWARK_LIMITER_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("BULWARK_LIMITER_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with BULWARK_LIMITER_SEED=%d)", seed, seed)
	const workers = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failure string
	events, refused := 0, 0
	for w := range workers {
		clock := NewClock()
		l := open(t, clock.Now)
		wg.Go(func() {
			for s := w; s < sequences; s += workers {
				rng := rand.New(rand.NewPCG(seed, uint64(s)))
				n, r, err := sequence(l, clock, rng, fmt.Sprintf("prop:%d:%d", seed, s))
				mu.Lock()
				events, refused = events+n, refused+r
				if err != nil && failure == "" {
					failure = fmt.Sprintf("sequence %d (seed %d): %v", s, seed, err)
				}
				stop := failure != ""
				mu.Unlock()
				if stop {
					return
				}
			}
		})
	}
	wg.Wait()
	if failure != "" {
		t.Fatal(failure)
	}
	t.Logf("%d sequences, %d events, %d refused", sequences, events, refused)
	if refused < events/50 || refused > events*19/20 {
		t.Fatalf("%d of %d events refused: the sequences do not exercise both answers", refused, events)
	}
}

// shipped are the limits Bulwark uses by default.
var shipped = []auth.Limit{
	{N: 20, Per: time.Minute}, {N: 5, Per: time.Minute}, {N: 3, Per: time.Hour},
	{N: 10, Per: time.Hour}, {N: 30, Per: time.Minute}, {N: 60, Per: time.Minute},
}

func randomLimit(rng *rand.Rand) auth.Limit {
	switch rng.IntN(10) {
	case 0, 1, 2, 3:
		return shipped[rng.IntN(len(shipped))]
	case 4:
		// Above the exact range: bucketed logs.
		return auth.Limit{N: exactUpTo + 1 + rng.IntN(24), Per: time.Duration(1+rng.IntN(120)) * time.Second}
	default:
		n := 1 + rng.IntN(8)
		if rng.IntN(4) == 0 {
			n = 1 + rng.IntN(exactUpTo)
		}
		return auth.Limit{N: n, Per: time.Duration(1000+rng.Int64N(int64(time.Hour/time.Microsecond))) * time.Microsecond}
	}
}

// sequence runs one random sequence on key and returns how many events it
// sent and how many were refused.
func sequence(l auth.Limiter, clock *Clock, rng *rand.Rand, key string) (events, refused int, err error) {
	limit := randomLimit(rng)
	per := limit.Per
	// Start anywhere in a day, on a whole microsecond.
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.Int64N(int64(24*time.Hour/time.Microsecond))) * time.Microsecond)
	clock.Set(start)
	ref := &Reference{Limit: limit}
	var accepted []time.Time
	exact := limit.N <= exactUpTo
	count := limit.N + 4 + rng.IntN(limit.N+8)
	for i := range count {
		now := clock.Now()
		ok, retry, err := l.Allow(context.Background(), key, limit)
		if err != nil {
			return events, refused, err
		}
		events++
		want, wantRetry := ref.Allow(now)
		if ok {
			accepted = append(accepted, now)
			if most := MostInAnyWindow(accepted, per); most > limit.N {
				return events, refused, fmt.Errorf("limit %d/%v: event %d at +%v accepted with %d in one window", limit.N, per, i, now.Sub(start), most)
			}
		} else {
			refused++
			if retry <= 0 {
				return events, refused, fmt.Errorf("limit %d/%v: event %d refused with retryAfter %v", limit.N, per, i, retry)
			}
		}
		if exact && (ok != want || retry != wantRetry) {
			return events, refused, fmt.Errorf("limit %d/%v: event %d at +%v: ok=%v retryAfter=%v, the exact rule says ok=%v retryAfter=%v",
				limit.N, per, i, now.Sub(start), ok, retry, want, wantRetry)
		}
		if !exact {
			// Bucketed logs may refuse more than the exact rule: keep the
			// reference on the limiter's own accepted events.
			ref.Accepted = accepted
		}
		clock.Advance(step(rng, limit, clock.Now(), ok, retry))
	}
	return events, refused, nil
}

// step picks the time to the next event, a whole number of microseconds.
func step(rng *rand.Rand, limit auth.Limit, now time.Time, ok bool, retry time.Duration) time.Duration {
	per := limit.Per
	us := func(d time.Duration) time.Duration { return max(0, d.Truncate(time.Microsecond)) }
	rand := func(d time.Duration) time.Duration {
		if d <= 0 {
			return 0
		}
		return time.Duration(rng.Int64N(int64(d)))
	}
	switch c := rng.IntN(24); {
	case c < 7:
		return 0 // a burst at one instant
	case c == 7:
		// Just before the next boundary of a window aligned on the epoch,
		// where a fixed window would start counting afresh.
		next := now.Truncate(per).Add(per)
		return us(next.Sub(now) - rand(per/50+time.Microsecond))
	case c == 8:
		// Just after that boundary.
		next := now.Truncate(per).Add(per)
		return us(next.Sub(now) + rand(per/50+time.Microsecond))
	case c < 12 && !ok:
		// Exactly when the limiter says one more fits, or just before.
		if rng.IntN(2) == 0 {
			return us(retry)
		}
		return us(retry - time.Microsecond)
	case c == 12:
		return us(per + rand(per)) // a window and more: everything is forgotten
	default:
		return us(rand(per / time.Duration(limit.N)))
	}
}
