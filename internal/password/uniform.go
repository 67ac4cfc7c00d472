package password

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Meter is the clock of the uniform-cost padding: Now times a
// verification, Sleep pads it. Tests inject one to check cost without
// wall-clock assertions.
type Meter interface {
	Now() time.Time
	// Sleep returns after d or when ctx is done.
	Sleep(ctx context.Context, d time.Duration)
}

// WithMeter sets the clock of the uniform-cost padding (default: the real
// clock and a timer).
func WithMeter(m Meter) Option { return func(o *options) { o.meter = m } }

type realMeter struct{}

func (realMeter) Now() time.Time { return time.Now() }

func (realMeter) Sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// floorWindow is how long a verification's cost keeps the floor up. Two
// windows are kept, so a cost counts for one to two minutes.
const floorWindow = time.Minute

// costFloor tracks, per class of stored hash (algorithm and parameters),
// the cheapest verification of the recent windows: the class's own cost,
// without the waits that a busy CPU adds to any verification alike. Every
// verification is padded up to the highest of these class costs, so its
// duration does not depend on the class of the hash it checked: not on
// whether the account exists (the dummy has the configured class) nor on
// whether its hash is a not-yet-upgraded import or from before a change of
// BULWARK_PASSWORD_HASHER (ASVS 6.3.8, uniform responses for unknown and
// known accounts). The configured class never expires: unknown emails
// always pay it. The minimum, not the maximum, is kept: a maximum let one
// verification slowed by CPU contention pad every login for two minutes
// (measured: 300 to 560 ms a login where the hash costs 40 ms), while
// contention slows known and unknown accounts alike and so tells nothing.
type costFloor struct {
	mu        sync.Mutex
	start     time.Time // of the current window
	cur, prev map[string]time.Duration
	base      string        // the configured class
	baseCost  time.Duration // its latest window minimum, kept forever
}

func newCostFloor(base string) *costFloor {
	return &costFloor{cur: map[string]time.Duration{}, prev: map[string]time.Duration{}, base: base}
}

// observe folds a verification of class that took d into the floor and
// returns the floor in force after it.
func (f *costFloor) observe(now time.Time, class string, d time.Duration) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.start.IsZero():
		f.start = now
	case now.Sub(f.start) >= 2*floorWindow:
		f.prev, f.cur, f.start = map[string]time.Duration{}, map[string]time.Duration{}, now
	case now.Sub(f.start) >= floorWindow:
		f.prev, f.cur, f.start = f.cur, map[string]time.Duration{}, now
	}
	if c, ok := f.cur[class]; !ok || d < c {
		f.cur[class] = d
	}
	// A class's cost: its cheapest verification of the two windows.
	cost := func(class string) time.Duration {
		c, ok := f.cur[class]
		if p, okp := f.prev[class]; okp && (!ok || p < c) {
			c = p
		}
		return c
	}
	if class == f.base {
		f.baseCost = cost(class)
	}
	floor := f.baseCost
	for _, m := range []map[string]time.Duration{f.cur, f.prev} {
		for c := range m {
			floor = max(floor, cost(c))
		}
	}
	return floor
}

func (a *argon2Hash) class() string {
	return fmt.Sprintf("argon2id m=%d t=%d p=%d k=%d", a.params.Memory, a.params.Time, a.params.Threads, len(a.key))
}

func (b *bcryptHash) class() string {
	return fmt.Sprintf("bcrypt cost=%d prehashed=%t", b.cost, b.prehashed)
}
