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
	Slots    int           // capacity: hashes that may run at once
	InFlight int           // hashes running now
	Queued   int           // callers waiting for a slot now
	Rejected uint64        // callers refused with auth.ErrBusy since start
	Cost     time.Duration // moving average of one hash, as admission predicts waits with it
}

// pool is a counting semaphore with a bounded, time-limited wait, and
// admission by predicted wait: a caller that would not get a slot within
// maxWait is refused at once rather than held until it times out, so that
// under a flood a refusal costs the caller microseconds, not maxWait
// (STANDARDS item 103: refuse with 503 + Retry-After when no slot frees in
// time).
type pool struct {
	slots    chan struct{}
	maxQueue int64
	maxWait  time.Duration
	queued   atomic.Int64
	rejected atomic.Uint64
	// cost is an exponentially weighted moving average of one run, in
	// nanoseconds; it starts at the cost of the hash New computes.
	cost atomic.Int64

	closed atomic.Bool
}

func newPool(slots, maxQueue int, maxWait time.Duration) *pool {
	return &pool{
		slots:    make(chan struct{}, slots),
		maxQueue: int64(maxQueue),
		maxWait:  maxWait,
	}
}

// observe folds the duration of one run into cost (weight 1/8).
func (p *pool) observe(d time.Duration) {
	for {
		old := p.cost.Load()
		next := int64(d)
		if old > 0 {
			next = old + (int64(d)-old)/8
		}
		if p.cost.CompareAndSwap(old, next) {
			return
		}
	}
}

// predictedWait is how long the n-th caller in line waits for a slot if
// every slot just started a run: whole rounds of cap(slots) runs.
func (p *pool) predictedWait(n int64) time.Duration {
	slots := int64(cap(p.slots))
	rounds := (n + slots - 1) / slots
	return time.Duration(rounds * p.cost.Load())
}

// acquire takes a slot. It returns auth.ErrBusy (wrapped) at once when the
// queue is full or the predicted wait is over maxWait, after maxWait when no
// slot freed in time after all, and ctx's error when ctx ends first. On
// success the caller must call release exactly once.
func (p *pool) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if p.closed.Load() {
		p.rejected.Add(1)
		return fmt.Errorf("wait for hashing slot: hasher closed: %w", auth.ErrBusy)
	}
	select {
	case p.slots <- struct{}{}:
		return nil
	default:
	}
	// Every slot is taken: join the queue if there is room and the wait in
	// it would end in a slot. Queued callers hold no hashing memory, only a
	// goroutine; a caller that would only wait to be refused is refused now.
	n := p.queued.Add(1)
	if n > p.maxQueue {
		p.queued.Add(-1)
		p.rejected.Add(1)
		return fmt.Errorf("wait for hashing slot: queue full: %w", auth.ErrBusy)
	}
	if w := p.predictedWait(n); w > p.maxWait {
		p.queued.Add(-1)
		p.rejected.Add(1)
		return fmt.Errorf("wait for hashing slot: predicted wait %v over %v: %w", w.Round(time.Millisecond), p.maxWait, auth.ErrBusy)
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

// run calls f holding a slot, and folds its duration into cost.
func (p *pool) run(ctx context.Context, f func()) error {
	if err := p.acquire(ctx); err != nil {
		return err
	}
	defer p.release()
	start := time.Now()
	f()
	p.observe(time.Since(start))
	return nil
}

// close refuses new callers and waits for the runs in flight. It is
// idempotent.
func (p *pool) close() {
	if p.closed.Swap(true) {
		return
	}
	// Taking every slot waits for the runs in flight, and for callers
	// already queued, which still run: once every slot is here, nothing
	// runs.
	for range cap(p.slots) {
		p.slots <- struct{}{}
	}
}

func (p *pool) stats() Stats {
	return Stats{
		Slots:    cap(p.slots),
		InFlight: len(p.slots),
		Queued:   int(p.queued.Load()),
		Rejected: p.rejected.Load(),
		Cost:     time.Duration(p.cost.Load()),
	}
}
