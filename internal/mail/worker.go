package mail

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// Worker defaults.
const (
	DefaultPollInterval = time.Second
	DefaultBatchSize    = 50
	// DefaultLease is how long a claimed batch belongs to this worker before
	// another may take it (see Worker.Lease).
	DefaultLease = 2 * time.Minute
	// sendTimeout bounds one delivery, so a hung server cannot stall the queue.
	sendTimeout = time.Minute
	// Retry backoff: firstRetry after the first failure, doubling, at most
	// maxRetry.
	firstRetry = 5 * time.Second
	maxRetry   = time.Hour
)

// Worker delivers the outbox: it claims due messages for a lease, renders
// each, hands it to the Mailer, deletes it when delivered and schedules a
// retry with exponential backoff when not. Because messages stay in the
// Outbox until delivered, a message is never lost; a crash between delivery
// and MarkMailSent sends it twice, which is the better failure for one-time
// links. Because a batch is claimed, workers of several instances sharing one
// Outbox do not send the same message twice; a worker that dies leaves its
// batch to the others once the lease ends.
//
// It never logs a message's data (which may hold a token) nor its full
// recipient, only MaskEmail of it.
//
// Outbox and Mailer are required; every other field has a default.
type Worker struct {
	Outbox auth.Outbox
	Mailer auth.Mailer
	// Render renders a message; nil means Render.
	Render RenderFunc
	// Resolve does the work of an outbox job (a template for which
	// auth.IsMailJob is true, typically auth.Service.ResolveMailJob): it
	// may queue mail of its own. The job is deleted when Resolve returns
	// nil and retried with backoff otherwise. With Resolve nil, jobs are
	// retried like a template this build does not know.
	Resolve func(ctx context.Context, m *auth.Mail) error
	// Logger; nil means no logging.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// PollInterval is how often Run looks for due messages; 0 means
	// DefaultPollInterval.
	PollInterval time.Duration
	// BatchSize is how many messages one PendingMail call claims; 0 means
	// DefaultBatchSize.
	BatchSize int
	// Lease is how long a claimed batch is reserved for this worker; 0 means
	// DefaultLease, and a lease not longer than the one-minute send timeout
	// is raised to DefaultLease. The worker starts no delivery that could
	// outlast the lease: the rest of the batch is left to be claimed again
	// when the lease ends.
	Lease time.Duration

	once   sync.Once
	wakeup chan struct{}
	flush  sync.Mutex // one Flush at a time, so no message is sent twice by this worker
}

// NewWorker returns a Worker with the default Render, poll interval and batch
// size.
func NewWorker(outbox auth.Outbox, mailer auth.Mailer, logger *slog.Logger, now func() time.Time) *Worker {
	return &Worker{Outbox: outbox, Mailer: mailer, Render: Render, Logger: logger, Now: now}
}

func (w *Worker) wake() chan struct{} {
	w.once.Do(func() { w.wakeup = make(chan struct{}, 1) })
	return w.wakeup
}

// Notify makes Run look for due messages at once, typically right after a
// message was enqueued. It never blocks.
func (w *Worker) Notify() {
	select {
	case w.wake() <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// Run delivers due messages every PollInterval and whenever Notify is called,
// until ctx is done.
func (w *Worker) Run(ctx context.Context) {
	interval := w.PollInterval
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		if err := w.Flush(ctx); err != nil && ctx.Err() == nil {
			w.logger().LogAttrs(ctx, slog.LevelError, "mail outbox", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-w.wake():
		}
	}
}

// Flush delivers every message due now, once, and returns. Failed deliveries
// are rescheduled and are not errors; the error is that of the Outbox (or
// ctx), after which Flush stops.
func (w *Worker) Flush(ctx context.Context) error {
	w.flush.Lock()
	defer w.flush.Unlock()
	limit := w.BatchSize
	if limit <= 0 {
		limit = DefaultBatchSize
	}
	lease := w.Lease
	if lease <= sendTimeout {
		lease = DefaultLease
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		claimed := w.now()
		batch, err := w.Outbox.PendingMail(ctx, claimed, lease, limit)
		if err != nil {
			return err
		}
		// A send may take sendTimeout; none may start that could end after
		// the lease, when another worker may have claimed the message.
		last := claimed.Add(lease - sendTimeout)
		jobs := false
		for i := range batch {
			if w.now().After(last) {
				return nil // the rest is claimed again after the lease
			}
			jobs = jobs || (auth.IsMailJob(batch[i].Template) && w.Resolve != nil)
			if err := w.deliver(ctx, &batch[i]); err != nil {
				return err
			}
		}
		// Every message of the batch is now deleted or due later, so the
		// next call returns others; a short batch means the queue is
		// drained, unless a job of it queued mail that is due now.
		if len(batch) < limit && !jobs {
			return nil
		}
	}
}

// deliver renders and sends one message, then deletes or reschedules it. It
// returns only Outbox and ctx errors.
func (w *Worker) deliver(ctx context.Context, m *auth.Mail) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	log := w.logger().With(
		slog.Int64("mail_id", m.ID),
		slog.String("template", m.Template),
		slog.String("to", MaskEmail(m.To)),
		slog.Int("attempts", m.Attempts),
	)
	if auth.IsMailJob(m.Template) && w.Resolve != nil {
		if err := w.Resolve(ctx, m); err != nil {
			if ctx.Err() != nil {
				return ctx.Err() // shutting down: the job stays due
			}
			return w.retry(ctx, log, m, slog.LevelWarn, "mail job failed", err)
		}
		if err := w.Outbox.MarkMailSent(ctx, m.ID); err != nil {
			return err
		}
		log.LogAttrs(ctx, slog.LevelInfo, "mail job done")
		// The mail it queued, if any, is due now: the next PendingMail
		// call of this Flush, or the next poll, takes it.
		return nil
	}
	render := w.Render
	if render == nil {
		render = Render
	}
	msg, err := render(m.Template, m.To, m.Data)
	if err != nil {
		// Retried like a failed send, not dropped: a template unknown to
		// this build may be known to a newer instance (rolling deploy).
		return w.retry(ctx, log, m, slog.LevelError, "mail render failed", err)
	}
	sendCtx, cancel := context.WithTimeout(ctx, sendTimeout)
	err = w.Mailer.Send(sendCtx, msg)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // shutting down: the message stays due
		}
		return w.retry(ctx, log, m, slog.LevelWarn, "mail delivery failed", err)
	}
	if err := w.Outbox.MarkMailSent(ctx, m.ID); err != nil {
		// Delivered but still queued: it will be sent again.
		return err
	}
	log.LogAttrs(ctx, slog.LevelInfo, "mail sent")
	return nil
}

// retry logs a failed attempt at m and schedules the next one with backoff.
func (w *Worker) retry(ctx context.Context, log *slog.Logger, m *auth.Mail, level slog.Level, what string, err error) error {
	next := w.now().Add(Backoff(m.Attempts))
	log.LogAttrs(ctx, level, what, slog.String("error", err.Error()), slog.Time("next_attempt", next))
	return w.Outbox.RetryMailAt(ctx, m.ID, next)
}

// Backoff returns the delay before the next attempt of a message that has
// failed attempts times before this failure: 5s, 10s, 20s, … at most 1h.
func Backoff(attempts int) time.Duration {
	d := firstRetry
	for range max(attempts, 0) {
		d *= 2
		if d >= maxRetry {
			return maxRetry
		}
	}
	return d
}

func (w *Worker) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

func (w *Worker) logger() *slog.Logger {
	if w.Logger != nil {
		return w.Logger
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// MaskEmail returns addr with all of its local part but the first character
// replaced by "***" (j***@example.com), for logs. Anything that is not an
// address becomes "***".
func MaskEmail(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 {
		return "***"
	}
	r, _ := utf8.DecodeRuneInString(addr)
	if r == utf8.RuneError {
		return "***" + addr[at:]
	}
	return string(r) + "***" + addr[at:]
}
