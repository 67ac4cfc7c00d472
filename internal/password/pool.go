package password

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// RetryAfter is how long a caller refused with auth.ErrBusy should be told to
// wait (the Retry-After of the 503). A slot frees within tens of
// milliseconds at the default parameters, so one second (the smallest whole
// number of seconds Retry-After can say) is enough.
const RetryAfter = time.Second

// Stats is a snapshot of the hashing pool, for metrics.
type Stats struct {
	Slots    int    // capacity: hashes that may run at once
	InFlight int    // hashes running now
	Queued   int    // callers waiting for a slot now
	Rejected uint64 // callers refused with auth.ErrBusy since start
}

// pool is a counting semaphore with a bounded, time-limited wait.
type pool struct {
	slots    chan struct{}
	maxQueue int64
	maxWait  time.Duration
	queued   atomic.Int64
	rejected atomic.Uint64
}

func newPool(slots, maxQueue int, maxWait time.Duration) *pool {
	return &pool{
		slots:    make(chan struct{}, slots),
		maxQueue: int64(maxQueue),
		maxWait:  maxWait,
	}
}

// acquire takes a slot. It returns auth.ErrBusy (wrapped) when the queue is
// full or no slot frees within maxWait, and ctx's error when ctx ends first.
// On success the caller must call release exactly once.
func (p *pool) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case p.slots <- struct{}{}:
		return nil
	default:
	}
	// Every slot is taken: join the queue if there is room. Queued callers
	// hold no hashing memory, only a goroutine, but a queue longer than what
	// the slots can serve within maxWait would only make callers wait to be
	// refused.
	if p.queued.Add(1) > p.maxQueue {
		p.queued.Add(-1)
		p.rejected.Add(1)
		return fmt.Errorf("wait for hashing slot: queue full: %w", auth.ErrBusy)
	}
	defer p.queued.Add(-1)
	t := time.NewTimer(p.maxWait)
	defer t.Stop()
	// A send blocked on a full buffered channel is served before later
	// senders when a slot is released, so the queue is roughly first come,
	// first served.
	select {
	case p.slots <- struct{}{}:
		return nil
	case <-t.C:
		p.rejected.Add(1)
		return fmt.Errorf("wait for hashing slot: no slot within %v: %w", p.maxWait, auth.ErrBusy)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *pool) release() { <-p.slots }

// run calls f holding a slot.
func (p *pool) run(ctx context.Context, f func()) error {
	if err := p.acquire(ctx); err != nil {
		return err
	}
	defer p.release()
	f()
	return nil
}

func (p *pool) stats() Stats {
	return Stats{
		Slots:    cap(p.slots),
		InFlight: len(p.slots),
		Queued:   int(p.queued.Load()),
		Rejected: p.rejected.Load(),
	}
}
