// Package logging holds the process's log plumbing: an asynchronous slog
// handler that keeps a slow or stuck log sink from stalling requests.
package logging

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
)

// DefaultQueue is the number of records an Async handler holds before it
// drops new ones.
const DefaultQueue = 4096

type entry struct {
	h   slog.Handler
	ctx context.Context
	r   slog.Record
}

type queue struct {
	mu      sync.RWMutex // held for reading while sending, for writing to close
	closed  bool
	ch      chan entry
	dropped atomic.Uint64
	done    chan struct{}
}

// Async is a slog.Handler that hands records to a bounded queue drained by
// one goroutine. When the queue is full a record is dropped and counted,
// never waited for: a log sink that errors or hangs must neither change an
// authentication decision nor hold up a request (STANDARDS item 92, ASVS
// 16.5.2). Close drains what is queued.
type Async struct {
	inner slog.Handler
	q     *queue
}

// NewAsync wraps h. size ≤ 0 means DefaultQueue.
func NewAsync(h slog.Handler, size int) *Async {
	if size <= 0 {
		size = DefaultQueue
	}
	q := &queue{ch: make(chan entry, size), done: make(chan struct{})}
	go func() {
		defer close(q.done)
		for e := range q.ch {
			_ = e.h.Handle(e.ctx, e.r)
		}
	}()
	return &Async{inner: h, q: q}
}

// Enabled reports whether the wrapped handler takes records of level.
func (a *Async) Enabled(ctx context.Context, level slog.Level) bool {
	return a.inner.Enabled(ctx, level)
}

// Handle queues r, or drops it when the queue is full.
func (a *Async) Handle(ctx context.Context, r slog.Record) error {
	// The request's context may be cancelled before the record is written;
	// handlers only read values from it.
	e := entry{h: a.inner, ctx: context.WithoutCancel(ctx), r: r.Clone()}
	a.q.mu.RLock()
	defer a.q.mu.RUnlock()
	if a.q.closed {
		a.q.dropped.Add(1)
		return nil
	}
	select {
	case a.q.ch <- e:
	default:
		a.q.dropped.Add(1)
	}
	return nil
}

// WithAttrs returns a handler on the same queue.
func (a *Async) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Async{inner: a.inner.WithAttrs(attrs), q: a.q}
}

// WithGroup returns a handler on the same queue.
func (a *Async) WithGroup(name string) slog.Handler {
	return &Async{inner: a.inner.WithGroup(name), q: a.q}
}

// Dropped returns how many records were dropped because the queue was full.
func (a *Async) Dropped() uint64 { return a.q.dropped.Load() }

// Close stops accepting records and waits until the queued ones are written
// or ctx is done. Records handled after Close are dropped.
func (a *Async) Close(ctx context.Context) error {
	a.q.mu.Lock()
	if !a.q.closed {
		a.q.closed = true
		close(a.q.ch)
	}
	a.q.mu.Unlock()
	select {
	case <-a.q.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
