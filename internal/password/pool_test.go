package password

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// With the only slot taken and the queue full, a caller is refused at once:
// long before MaxWait, without waiting in line.
func TestPoolQueueFullIsBusyAtOnce(t *testing.T) {
	const maxWait = 30 * time.Second
	h := newTestHasher(t, Config{Slots: 1, MaxQueue: 1, MaxWait: maxWait})
	ctx := context.Background()
	enc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}

	if err := h.pool.acquire(ctx); err != nil { // block the only slot
		t.Fatal(err)
	}
	queued := make(chan error, 1)
	go func() {
		ok, _, err := h.Verify(ctx, "correct horse battery staple", enc)
		if err == nil && !ok {
			err = errors.New("queued Verify did not match")
		}
		queued <- err
	}()
	waitFor(t, "one queued caller", func() bool { return h.Stats().Queued == 1 })

	start := time.Now()
	for name, call := range map[string]func() error{
		"Hash":        func() error { _, err := h.Hash(ctx, "x"); return err },
		"Verify":      func() error { _, _, err := h.Verify(ctx, "x", enc); return err },
		"VerifyDummy": func() error { return h.VerifyDummy(ctx, "x") },
	} {
		if err := call(); !errors.Is(err, auth.ErrBusy) {
			t.Fatalf("%s with queue full: err = %v, want auth.ErrBusy", name, err)
		}
	}
	// Structural: the refusals did not wait for MaxWait (30 s). The bound
	// is generous so a slow machine cannot make this flaky.
	if elapsed := time.Since(start); elapsed > maxWait/3 {
		t.Fatalf("refusals took %v, want well under MaxWait %v", elapsed, maxWait)
	}
	if s := h.Stats(); s.Rejected != 3 || s.InFlight != 1 || s.Queued != 1 || s.Slots != 1 {
		t.Fatalf("Stats = %+v, want 3 rejected, 1 in flight, 1 queued, 1 slot", s)
	}

	h.pool.release()
	if err := <-queued; err != nil {
		t.Fatalf("queued caller: %v", err)
	}
	if s := h.Stats(); s.InFlight != 0 || s.Queued != 0 {
		t.Fatalf("after release Stats = %+v, want nothing in flight or queued", s)
	}
}

func TestPoolWaitTimesOut(t *testing.T) {
	h := newTestHasher(t, Config{Slots: 1, MaxWait: 20 * time.Millisecond})
	ctx := context.Background()
	if err := h.pool.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	defer h.pool.release()
	// The cost average starts at a measured hash: on a loaded machine it
	// can exceed half of MaxWait, and admission would refuse at once
	// (TestPoolRefusesPredictedLongWaitAtOnce covers that). Here the wait itself is tested.
	h.pool.cost.Store(int64(time.Microsecond))
	start := time.Now()
	if err := h.VerifyDummy(ctx, "x"); !errors.Is(err, auth.ErrBusy) {
		t.Fatalf("err = %v, want auth.ErrBusy", err)
	}
	if elapsed := time.Since(start); elapsed < 20*time.Millisecond {
		t.Fatalf("gave up after %v, before MaxWait", elapsed)
	}
	if s := h.Stats(); s.Rejected != 1 || s.Queued != 0 {
		t.Fatalf("Stats = %+v, want 1 rejected, 0 queued", s)
	}
}

func TestPoolNoQueue(t *testing.T) {
	h := newTestHasher(t, Config{Slots: 1, MaxQueue: -1, MaxWait: time.Minute})
	ctx := context.Background()
	if err := h.pool.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	defer h.pool.release()
	if _, err := h.Hash(ctx, "x"); !errors.Is(err, auth.ErrBusy) {
		t.Fatalf("err = %v, want auth.ErrBusy", err)
	}
}

func TestPoolContextCancelled(t *testing.T) {
	h := newTestHasher(t, Config{Slots: 1, MaxWait: time.Minute})
	if err := h.pool.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer h.pool.release()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := h.Hash(ctx, "x"); done <- err }()
	waitFor(t, "the caller to queue", func() bool { return h.Stats().Queued == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	// An already cancelled context never takes a slot, even a free one.
	h2 := newTestHasher(t, Config{Slots: 1})
	if _, err := h2.Hash(ctx, "x"); !errors.Is(err, context.Canceled) {
		t.Fatalf("free pool, cancelled ctx: err = %v, want context.Canceled", err)
	}
	if s := h.Stats(); s.Rejected != 0 {
		t.Fatalf("cancellation counted as a rejection: %+v", s)
	}
}

// No more than Slots functions ever run at once, and every caller that waits
// within bounds gets its turn.
func TestPoolBoundsConcurrency(t *testing.T) {
	const slots, callers = 3, 40
	p := newPool(slots, callers, time.Minute)
	var running, peak atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- p.run(context.Background(), func() {
				n := running.Add(1)
				for {
					m := peak.Load()
					if n <= m || peak.CompareAndSwap(m, n) {
						break
					}
				}
				time.Sleep(time.Millisecond)
				running.Add(-1)
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	}
	if got := peak.Load(); got > slots || got < 1 {
		t.Fatalf("peak concurrency %d, want 1 to %d", got, slots)
	}
	if s := p.stats(); s.InFlight != 0 || s.Queued != 0 || s.Rejected != 0 {
		t.Fatalf("stats = %+v after all done", s)
	}
}

// A caller whose predicted wait (its place in line times the average hash
// time, per slot) is over half of MaxWait is refused at once instead of waiting
// MaxWait to be refused; one whose wait fits is queued and served.
func TestPoolRefusesPredictedLongWaitAtOnce(t *testing.T) {
	const maxWait = 30 * time.Second
	h := newTestHasher(t, Config{Slots: 1, MaxQueue: 100, MaxWait: maxWait})
	ctx := context.Background()
	enc, err := h.Hash(ctx, "pw")
	if err != nil {
		t.Fatal(err)
	}
	// Hashes take 10 s each, as far as admission knows: the first in line
	// waits one round (10 s, within half of MaxWait), the second two
	// (20 s, over it).
	h.pool.cost.Store(int64(10 * time.Second))
	if err := h.pool.acquire(ctx); err != nil { // take the only slot
		t.Fatal(err)
	}
	queued := make(chan error, 1)
	go func() {
		_, _, err := h.Verify(ctx, "pw", enc)
		queued <- err
	}()
	waitFor(t, "one queued caller", func() bool { return h.Stats().Queued == 1 })
	start := time.Now()
	if _, _, err := h.Verify(ctx, "pw", enc); !errors.Is(err, auth.ErrBusy) {
		t.Fatalf("second in line: err = %v, want auth.ErrBusy", err)
	}
	if elapsed := time.Since(start); elapsed > maxWait/3 {
		t.Fatalf("refusal took %v: it waited instead of refusing at once", elapsed)
	}
	h.pool.release()
	if err := <-queued; err != nil {
		t.Fatalf("first in line: %v", err)
	}
	// The runs update the estimate: a fast hash brings it down.
	if c := h.Stats().Cost; c >= 10*time.Second {
		t.Fatalf("Stats().Cost = %v after a fast run, want below the 10 s estimate", c)
	}
}

// Callers marked with auth.WithHashPriority are served before the others,
// whatever the order they came in, and have a queue of their own: a full
// normal queue does not refuse them.
func TestPoolServesPriorityFirst(t *testing.T) {
	h := newTestHasher(t, Config{Slots: 1, MaxQueue: 2, MaxWait: 30 * time.Second})
	ctx := context.Background()
	if err := h.pool.acquire(ctx); err != nil { // take the only slot
		t.Fatal(err)
	}
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	enqueue := func(name string, ctx context.Context, queued int) {
		wg.Go(func() {
			if err := h.pool.run(ctx, func() {
				mu.Lock()
				order = append(order, name)
				mu.Unlock()
			}); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		})
		waitFor(t, name+" queued", func() bool { return h.Stats().Queued == queued })
	}
	prio := auth.WithHashPriority(ctx)
	enqueue("normal-1", ctx, 1)
	enqueue("normal-2", ctx, 2)
	// The normal queue is full: another normal caller is refused...
	if err := h.pool.acquire(ctx); !errors.Is(err, auth.ErrBusy) {
		t.Fatalf("third normal caller: err = %v, want auth.ErrBusy", err)
	}
	// ...a priority caller is not, and goes ahead of both.
	enqueue("priority-1", prio, 3)
	enqueue("priority-2", prio, 4)
	h.pool.release()
	wg.Wait()
	want := []string{"priority-1", "priority-2", "normal-1", "normal-2"}
	if !slices.Equal(order, want) {
		t.Fatalf("served in order %v, want %v", order, want)
	}
	if s := h.Stats(); s.InFlight != 0 || s.Queued != 0 {
		t.Fatalf("after all: %+v", s)
	}
}

// TestPoolCountsWaits: callers that got a slot at once add nothing to Waited;
// one that queued adds at least the time the slot was held.
func TestPoolCountsWaits(t *testing.T) {
	p := newPool(1, 4, 10*time.Second)
	ctx := context.Background()
	if err := p.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	if s := p.stats(); s.Acquired != 1 || s.Waited != 0 {
		t.Fatalf("after a free slot: %+v, want 1 acquired, no wait", s)
	}
	got := make(chan error, 1)
	go func() { got <- p.acquire(ctx) }()
	waitFor(t, "one queued caller", func() bool { return p.stats().Queued == 1 })
	const held = 30 * time.Millisecond
	time.Sleep(held)
	p.release()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	p.release()
	if s := p.stats(); s.Acquired != 2 || s.Waited < held {
		t.Fatalf("after a queued caller: %+v, want 2 acquired and Waited ≥ %v", s, held)
	}
}
