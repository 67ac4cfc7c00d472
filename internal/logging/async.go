// Package logging holds the process's log plumbing: an asynchronous slog
// handler that keeps a slow or stuck log sink from stalling requests.
package logging

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
)

// DefaultQueue is the number of access-log records an Async handler holds
// before it drops new ones.
const DefaultQueue = 4096

// AccessLogMessage is the message of the access log's records (one per
// request, written by internal/httpapi): the only records Async may shed.
const AccessLogMessage = "request"

// kept is the capacity of the queue of every other record. When it is full
// a caller waits for room: those records are never dropped.
const kept = 1024

type entry struct {
	h   slog.Handler
	ctx context.Context
	r   slog.Record
}

type queue struct {
	mu      sync.RWMutex // held for reading while sending, for writing to close
	closed  bool
	ch      chan entry // access-log records: dropped when full
	keep    chan entry // every other record (audit events...): waited for
	dropped atomic.Uint64
	done    chan struct{}
}

// Async is a slog.Handler that hands records to two bounded queues drained
// by one goroutine. Access-log lines (message AccessLogMessage) go to one:
// when it is full a line is dropped and counted, never waited for, so a
// flood of requests or a log sink that hangs does not hold up a request
// (ASVS 16.5.2). Every other record (the "audit" security events, errors)
// goes to a queue the access log cannot fill, and when that one is full
// the caller waits: security events are never dropped (ASVS 16.3.1-16.3.3
// require them to be logged), at the price of backpressure while the sink
// is stuck. Close drains what is queued.
type Async struct {
	inner slog.Handler
	q     *queue
}

// NewAsync wraps h. size ≤ 0 means DefaultQueue.
func NewAsync(h slog.Handler, size int) *Async {
	if size <= 0 {
		size = DefaultQueue
	}
	q := &queue{ch: make(chan entry, size), keep: make(chan entry, kept), done: make(chan struct{})}
	go func() {
		defer close(q.done)
		ch, keep := q.ch, q.keep
		for ch != nil || keep != nil {
			// Kept records first: a full access-log queue does not delay them.
			select {
			case e, ok := <-keep:
				if !ok {
					keep = nil
					continue
				}
				_ = e.h.Handle(e.ctx, e.r)
				continue
			default:
			}
			select {
			case e, ok := <-keep:
				if !ok {
					keep = nil
					continue
				}
				_ = e.h.Handle(e.ctx, e.r)
			case e, ok := <-ch:
				if !ok {
					ch = nil
					continue
				}
				_ = e.h.Handle(e.ctx, e.r)
			}
		}
	}()
	return &Async{inner: h, q: q}
}

// Enabled reports whether the wrapped handler takes records of level.
func (a *Async) Enabled(ctx context.Context, level slog.Level) bool {
	return a.inner.Enabled(ctx, level)
}

// Handle queues r. An access-log record is dropped when its queue is full;
// any other record waits for room, and after Close is written at once.
func (a *Async) Handle(ctx context.Context, r slog.Record) error {
	// The request's context may be cancelled before the record is written;
	// handlers only read values from it.
	e := entry{h: a.inner, ctx: context.WithoutCancel(ctx), r: r.Clone()}
	shed := r.Message == AccessLogMessage
	a.q.mu.RLock()
	defer a.q.mu.RUnlock()
	if a.q.closed {
		if !shed {
			return e.h.Handle(e.ctx, e.r)
		}
		a.q.dropped.Add(1)
		return nil
	}
	if !shed {
		a.q.keep <- e
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

// Dropped returns how many access-log records were dropped because their
// queue was full or the handler was closed.
func (a *Async) Dropped() uint64 { return a.q.dropped.Load() }

// Close stops queueing records and waits until the queued ones are written
// or ctx is done. Access-log records handled after Close are dropped, others
// are written synchronously.
func (a *Async) Close(ctx context.Context) error {
	a.q.mu.Lock()
	if !a.q.closed {
		a.q.closed = true
		close(a.q.ch)
		close(a.q.keep)
	}
	a.q.mu.Unlock()
	select {
	case <-a.q.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
