package password

import (
	"context"
	"fmt"
	"slices"
	"sync"
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
	// Acquired counts the callers that got a slot since start, and Waited
	// the time they spent in the queue before it, in total: the mean wait
	// over an interval is the growth of Waited over that of Acquired.
	Acquired uint64
	Waited   time.Duration
}

// Classes of callers, in the order they are served.
const (
	classPriority = iota // auth.HashPriority: a client that signed in to the account before
	classNormal
	classes
)

// pool is a counting semaphore with bounded, time-limited queues, and
// admission by predicted wait: a caller that would not get a slot within
// half of maxWait is refused at once rather than held until it times out, so that
// under a flood a refusal costs the caller microseconds, not maxWait
// (CWE-400: refuse with 503 + Retry-After when no slot frees in
// time).
//
// Callers whose context carries auth.HashPriority (a valid device token for
// the email: docs/api.md, "Rate limits and lockout") wait in a queue of their own that is served
// first: a credential-stuffing flood fills the normal queue, and the users
// who signed in from this client before still get in.
type pool struct {
	size     int
	maxQueue int // per class
	maxWait  time.Duration
	rejected atomic.Uint64
	acquired atomic.Uint64
	waited   atomic.Int64 // nanoseconds
	// cost is an exponentially weighted moving average of one run, in
	// nanoseconds; it starts at the cost of the hash New computes.
	cost atomic.Int64

	mu      sync.Mutex
	idle    *sync.Cond // signalled when a slot is given back
	inUse   int
	waiting [classes][]*waiter
	closed  bool
}

type waiter struct {
	ready   chan struct{}
	granted bool // under mu: release handed this waiter a slot
}

func newPool(slots, maxQueue int, maxWait time.Duration) *pool {
	p := &pool{size: slots, maxQueue: maxQueue, maxWait: maxWait}
	p.idle = sync.NewCond(&p.mu)
	return p
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
// every slot just started a run: whole rounds of size runs.
func (p *pool) predictedWait(n int) time.Duration {
	rounds := (n + p.size - 1) / p.size
	return time.Duration(int64(rounds) * p.cost.Load())
}

func (p *pool) busy(format string, args ...any) error {
	p.rejected.Add(1)
	return fmt.Errorf("wait for hashing slot: %s: %w", fmt.Sprintf(format, args...), auth.ErrBusy)
}

// acquire takes a slot. It returns auth.ErrBusy (wrapped) at once when the
// caller's queue is full or its predicted wait is over maxWait, after
// maxWait when no slot freed in time after all, and ctx's error when ctx
// ends first. On success the caller must call release exactly once.
func (p *pool) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	class := classNormal
	if auth.HashPriority(ctx) {
		class = classPriority
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return p.busy("hasher closed")
	}
	if p.inUse < p.size && len(p.waiting[classPriority])+len(p.waiting[classNormal]) == 0 {
		p.inUse++
		p.mu.Unlock()
		p.acquired.Add(1)
		return nil
	}
	// Every slot is taken: join the queue if there is room and the wait in
	// it would end in a slot. Queued callers hold no hashing memory, only a
	// goroutine; a caller that would only wait to be refused is refused now.
	if len(p.waiting[class]) >= p.maxQueue {
		p.mu.Unlock()
		return p.busy("queue full")
	}
	ahead := 0
	for c := range class + 1 {
		ahead += len(p.waiting[c])
	}
	// Half of maxWait: the estimate is an average, and a caller it
	// admits wrongly waits maxWait to be refused after all.
	if w := p.predictedWait(ahead + 1); w > p.maxWait/2 {
		p.mu.Unlock()
		return p.busy("predicted wait %v over half of %v", w.Round(time.Millisecond), p.maxWait)
	}
	w := &waiter{ready: make(chan struct{})}
	p.waiting[class] = append(p.waiting[class], w)
	p.mu.Unlock()

	queued := time.Now()
	t := time.NewTimer(p.maxWait)
	defer t.Stop()
	var err error
	select {
	case <-w.ready:
		p.acquired.Add(1)
		p.waited.Add(int64(time.Since(queued)))
		return nil
	case <-t.C:
		err = p.busy("no slot within %v", p.maxWait)
	case <-ctx.Done():
		err = ctx.Err()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if w.granted { // a slot came with the timeout: give it back
		p.releaseLocked()
		return err
	}
	p.waiting[class] = slices.DeleteFunc(p.waiting[class], func(x *waiter) bool { return x == w })
	return err
}

// release gives a slot back: to the first waiter of the first non-empty
// queue, or to the pool.
func (p *pool) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.releaseLocked()
}

func (p *pool) releaseLocked() {
	for c := range classes {
		if len(p.waiting[c]) > 0 {
			w := p.waiting[c][0]
			p.waiting[c] = p.waiting[c][1:]
			w.granted = true
			close(w.ready)
			return
		}
	}
	p.inUse--
	p.idle.Broadcast()
}

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

// close refuses new callers and waits for the runs in flight and for the
// callers already queued, which still run. It is idempotent.
func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for p.inUse > 0 {
		p.idle.Wait()
	}
}

func (p *pool) stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{
		Slots:    p.size,
		InFlight: p.inUse,
		Queued:   len(p.waiting[classPriority]) + len(p.waiting[classNormal]),
		Rejected: p.rejected.Load(),
		Cost:     time.Duration(p.cost.Load()),
		Acquired: p.acquired.Load(),
		Waited:   time.Duration(p.waited.Load()),
	}
}
