package mail_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/mail"
	"github.com/bulwarkauth/bulwark/internal/testutil"
)

// memOutbox is an in-memory auth.Outbox.
type memOutbox struct {
	mu      sync.Mutex
	nextID  int64
	pending map[int64]*memMail
	sent    map[int64]int   // MarkMailSent calls per id
	retries []time.Time     // every RetryMailAt time, in order
	leases  []time.Duration // the lease of every PendingMail call
}

type memMail struct {
	m    auth.Mail
	next time.Time
}

func newMemOutbox() *memOutbox {
	return &memOutbox{pending: map[int64]*memMail{}, sent: map[int64]int{}}
}

func (o *memOutbox) EnqueueMail(_ context.Context, m *auth.Mail) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.nextID++
	m.ID = o.nextID
	o.pending[m.ID] = &memMail{m: *m, next: m.CreatedAt}
	return nil
}

func (o *memOutbox) PendingMail(_ context.Context, now time.Time, lease time.Duration, limit int) ([]auth.Mail, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var due []*memMail
	for _, p := range o.pending {
		if !p.next.After(now) {
			due = append(due, p)
		}
	}
	slices.SortFunc(due, func(a, b *memMail) int { return a.m.CreatedAt.Compare(b.m.CreatedAt) })
	if len(due) > limit {
		due = due[:limit]
	}
	out := make([]auth.Mail, len(due))
	for i, p := range due {
		if lease > 0 {
			p.next = now.Add(lease)
		}
		out[i] = p.m
	}
	o.leases = append(o.leases, lease)
	return out, nil
}

func (o *memOutbox) MarkMailSent(_ context.Context, id int64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent[id]++
	if _, ok := o.pending[id]; !ok {
		return auth.ErrNotFound
	}
	delete(o.pending, id)
	return nil
}

func (o *memOutbox) RetryMailAt(_ context.Context, id int64, next time.Time) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	p, ok := o.pending[id]
	if !ok {
		return auth.ErrNotFound
	}
	p.m.Attempts++
	p.next = next
	o.retries = append(o.retries, next)
	return nil
}

func (o *memOutbox) state() (pending int, sent map[int64]int, retries []time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.pending), maps.Clone(o.sent), slices.Clone(o.retries)
}

// fakeMailer fails while failing is set and records what it delivered.
type fakeMailer struct {
	mu        sync.Mutex
	failing   bool
	attempts  int
	delivered []*auth.Message
	sent      chan struct{}
}

func (f *fakeMailer) Send(_ context.Context, m *auth.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts++
	if f.failing {
		return errors.New("connection refused")
	}
	f.delivered = append(f.delivered, m)
	if f.sent != nil {
		f.sent <- struct{}{}
	}
	return nil
}

func (f *fakeMailer) setFailing(b bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failing = b
}

func (f *fakeMailer) counts() (attempts, delivered int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts, len(f.delivered)
}

const secretToken = "SECRETtoken0123456789"

func TestWorkerRetriesWithBackoffThenDelivers(t *testing.T) {
	ctx := context.Background()
	t0 := testNow
	now := t0
	outbox := newMemOutbox()
	mailer := &fakeMailer{failing: true}
	var logs testutil.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w := mail.NewWorker(outbox, mailer, logger, func() time.Time { return now })

	m := &auth.Mail{
		To:        "jane.doe@example.com",
		Template:  mail.TemplatePasswordReset,
		Data:      map[string]string{"link": "https://auth.example.com/reset-password#token=" + secretToken},
		CreatedAt: t0,
	}
	if err := outbox.EnqueueMail(ctx, m); err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		at           time.Duration // since t0
		fix          bool          // mailer works from this step on
		wantAttempts int           // cumulative Send calls
		wantRetries  []time.Duration
	}{
		{at: 0, wantAttempts: 1, wantRetries: []time.Duration{5 * time.Second}},
		{at: 4 * time.Second, wantAttempts: 1, wantRetries: []time.Duration{5 * time.Second}},                                      // not due yet
		{at: 5 * time.Second, wantAttempts: 2, wantRetries: []time.Duration{5 * time.Second, 15 * time.Second}},                    // +10s
		{at: 15 * time.Second, wantAttempts: 3, wantRetries: []time.Duration{5 * time.Second, 15 * time.Second, 35 * time.Second}}, // +20s
		{at: 34 * time.Second, fix: true, wantAttempts: 3, wantRetries: []time.Duration{5 * time.Second, 15 * time.Second, 35 * time.Second}},
		{at: 35 * time.Second, wantAttempts: 4, wantRetries: []time.Duration{5 * time.Second, 15 * time.Second, 35 * time.Second}},
		{at: 2 * time.Hour, wantAttempts: 4, wantRetries: []time.Duration{5 * time.Second, 15 * time.Second, 35 * time.Second}},
	}
	for i, s := range steps {
		now = t0.Add(s.at)
		if s.fix {
			mailer.setFailing(false)
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatalf("step %d: Flush: %v", i, err)
		}
		attempts, _ := mailer.counts()
		if attempts != s.wantAttempts {
			t.Errorf("step %d: Send calls = %d, want %d", i, attempts, s.wantAttempts)
		}
		_, _, retries := outbox.state()
		var got []time.Duration
		for _, r := range retries {
			got = append(got, r.Sub(t0))
		}
		if !slices.Equal(got, s.wantRetries) {
			t.Errorf("step %d: retries at %v, want %v", i, got, s.wantRetries)
		}
	}

	pending, sent, _ := outbox.state()
	if pending != 0 {
		t.Errorf("pending = %d, want 0", pending)
	}
	if sent[m.ID] != 1 || len(sent) != 1 {
		t.Errorf("MarkMailSent calls = %v, want exactly one for id %d", sent, m.ID)
	}
	_, delivered := mailer.counts()
	if delivered != 1 {
		t.Fatalf("delivered = %d, want 1", delivered)
	}
	if got := mailer.delivered[0]; got.To != m.To || got.Subject != "Reset your password" || !strings.Contains(got.Text, secretToken) {
		t.Errorf("delivered message = %+v", got)
	}

	out := logs.String()
	if strings.Contains(out, secretToken) {
		t.Errorf("log holds the token:\n%s", out)
	}
	if strings.Contains(out, "jane.doe@example.com") {
		t.Errorf("log holds the full recipient:\n%s", out)
	}
	if !strings.Contains(out, "j***@example.com") || !strings.Contains(out, "connection refused") {
		t.Errorf("log lacks the masked recipient or the error:\n%s", out)
	}
}

func TestWorkerRenderFailureIsRetried(t *testing.T) {
	ctx := context.Background()
	outbox := newMemOutbox()
	mailer := &fakeMailer{}
	now := testNow
	w := mail.NewWorker(outbox, mailer, nil, func() time.Time { return now })
	m := &auth.Mail{To: "jane@example.com", Template: "from_a_newer_release", CreatedAt: now}
	if err := outbox.EnqueueMail(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	pending, sent, retries := outbox.state()
	if attempts, _ := mailer.counts(); attempts != 0 {
		t.Errorf("Send calls = %d, want 0", attempts)
	}
	if pending != 1 || len(sent) != 0 || len(retries) != 1 || !retries[0].Equal(now.Add(5*time.Second)) {
		t.Errorf("pending %d, sent %v, retries %v; want kept and retried in 5s", pending, sent, retries)
	}
}

func TestWorkerFlushDrainsSeveralBatches(t *testing.T) {
	ctx := context.Background()
	outbox := newMemOutbox()
	mailer := &fakeMailer{}
	w := mail.NewWorker(outbox, mailer, nil, func() time.Time { return testNow })
	w.BatchSize = 2
	for i := range 5 {
		m := &auth.Mail{To: "jane@example.com", Template: mail.TemplateVerifyEmail,
			Data: map[string]string{"link": "https://a.example/v"}, CreatedAt: testNow.Add(-time.Duration(i) * time.Second)}
		if err := outbox.EnqueueMail(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	pending, sent, _ := outbox.state()
	if _, delivered := mailer.counts(); delivered != 5 || pending != 0 || len(sent) != 5 {
		t.Errorf("delivered %d, pending %d, sent %v; want 5, 0, 5 ids", delivered, pending, sent)
	}
}

func TestWorkerRunWakesOnNotify(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	outbox := newMemOutbox()
	mailer := &fakeMailer{sent: make(chan struct{}, 10)}
	w := mail.NewWorker(outbox, mailer, nil, time.Now)
	w.PollInterval = time.Hour // only Notify can wake it within the test

	done := make(chan struct{})
	go func() {
		w.Run(ctx)
		close(done)
	}()

	m := &auth.Mail{To: "jane@example.com", Template: mail.TemplateVerifyEmail,
		Data: map[string]string{"link": "https://a.example/v#token=x"}, CreatedAt: time.Now()}
	if err := outbox.EnqueueMail(ctx, m); err != nil {
		t.Fatal(err)
	}
	w.Notify()
	w.Notify() // never blocks
	select {
	case <-mailer.sent:
	case <-time.After(5 * time.Second):
		t.Fatal("message not sent after Notify")
	}

	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if _, sent, _ := outbox.state(); sent[m.ID] != 1 {
		t.Errorf("MarkMailSent calls = %v, want 1", sent)
	}
}

func TestWorkerRunPolls(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outbox := newMemOutbox()
	mailer := &fakeMailer{sent: make(chan struct{}, 10)}
	w := mail.NewWorker(outbox, mailer, nil, time.Now)
	w.PollInterval = 10 * time.Millisecond
	go w.Run(ctx)

	m := &auth.Mail{To: "jane@example.com", Template: mail.TemplateVerifyEmail,
		Data: map[string]string{"link": "https://a.example/v"}, CreatedAt: time.Now()}
	if err := outbox.EnqueueMail(ctx, m); err != nil {
		t.Fatal(err)
	}
	select {
	case <-mailer.sent:
	case <-time.After(5 * time.Second):
		t.Fatal("message not sent by polling")
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		attempts int
		want     time.Duration
	}{
		{-1, 5 * time.Second},
		{0, 5 * time.Second},
		{1, 10 * time.Second},
		{2, 20 * time.Second},
		{3, 40 * time.Second},
		{9, 2560 * time.Second},
		{10, time.Hour},
		{11, time.Hour},
		{1000, time.Hour},
	}
	for _, tt := range tests {
		if got := mail.Backoff(tt.attempts); got != tt.want {
			t.Errorf("Backoff(%d) = %v, want %v", tt.attempts, got, tt.want)
		}
	}
}

func TestMaskEmail(t *testing.T) {
	tests := []struct{ in, want string }{
		{"john@example.com", "j***@example.com"},
		{"j@example.com", "j***@example.com"},
		{"élodie@exemple.fr", "é***@exemple.fr"},
		{"a@b@example.com", "a***@example.com"},
		{"@example.com", "***"},
		{"john", "***"},
		{"", "***"},
		{"\xffx@example.com", "***@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := mail.MaskEmail(tt.in); got != tt.want {
				t.Errorf("MaskEmail(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// clockMailer delivers every message, moving the clock on by step per send.
type clockMailer struct {
	now  *time.Time
	step time.Duration
	to   []string
}

func (c *clockMailer) Send(_ context.Context, m *auth.Message) error {
	*c.now = c.now.Add(c.step)
	c.to = append(c.to, m.To)
	return nil
}

// TestWorkerClaimsForALease checks that Flush claims its batches for the
// lease and starts no send that could outlast it: what is left of the batch
// waits until the lease ends, when any worker may claim it again.
func TestWorkerClaimsForALease(t *testing.T) {
	ctx := context.Background()
	outbox := newMemOutbox()
	now := testNow
	mailer := &clockMailer{now: &now, step: 40 * time.Second}
	w := mail.NewWorker(outbox, mailer, nil, func() time.Time { return now })
	w.BatchSize = 3
	for i := range 3 {
		m := &auth.Mail{To: fmt.Sprintf("u%d@example.com", i), Template: mail.TemplateVerifyEmail,
			Data: map[string]string{"link": "https://a.example/v"}, CreatedAt: testNow.Add(time.Duration(i-3) * time.Millisecond)}
		if err := outbox.EnqueueMail(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	// Sends start at +0s and +40s; one at +80s could end after the lease
	// (2 minutes) with its one-minute timeout.
	if want := []string{"u0@example.com", "u1@example.com"}; !slices.Equal(mailer.to, want) {
		t.Fatalf("delivered to %v, want %v", mailer.to, want)
	}
	if pending, _, _ := outbox.state(); pending != 1 {
		t.Fatalf("pending = %d, want 1", pending)
	}
	outbox.mu.Lock()
	leases := slices.Clone(outbox.leases)
	outbox.mu.Unlock()
	if len(leases) != 1 || leases[0] != mail.DefaultLease {
		t.Errorf("PendingMail leases = %v, want one of %v", leases, mail.DefaultLease)
	}

	// Still leased: nothing to do.
	now = testNow.Add(mail.DefaultLease - time.Second)
	if err := w.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if len(mailer.to) != 2 {
		t.Fatalf("delivered %d during the lease, want 2", len(mailer.to))
	}
	now = testNow.Add(mail.DefaultLease)
	if err := w.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if want := []string{"u0@example.com", "u1@example.com", "u2@example.com"}; !slices.Equal(mailer.to, want) {
		t.Fatalf("delivered to %v after the lease, want %v", mailer.to, want)
	}
}

// TestWorkerResolvesJobs checks the path of an outbox job: resolved through
// Resolve (which queues the mail it makes), deleted when that succeeds, kept
// and retried when it fails, and never rendered or sent itself.
func TestWorkerResolvesJobs(t *testing.T) {
	ctx := context.Background()
	outbox := newMemOutbox()
	mailer := &fakeMailer{}
	now := testNow
	w := mail.NewWorker(outbox, mailer, nil, func() time.Time { return now })
	var fail bool
	var resolved []string
	w.Resolve = func(ctx context.Context, m *auth.Mail) error {
		resolved = append(resolved, m.To)
		if fail {
			return errors.New("database down")
		}
		return outbox.EnqueueMail(ctx, &auth.Mail{To: m.To, Template: "password_changed", Data: map[string]string{"reset_url": "https://example.com/r"}, CreatedAt: now})
	}
	job := &auth.Mail{To: "jane@example.com", Template: auth.JobPasswordReset, CreatedAt: now}
	if err := outbox.EnqueueMail(ctx, job); err != nil {
		t.Fatal(err)
	}

	fail = true
	if err := w.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	pending, sent, retries := outbox.state()
	if pending != 1 || len(sent) != 0 || len(retries) != 1 {
		t.Fatalf("after a failed resolution: pending %d, sent %v, retries %v; want the job kept and retried", pending, sent, retries)
	}

	fail = false
	now = now.Add(5 * time.Second)
	if err := w.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	pending, sent, _ = outbox.state()
	attempts, delivered := mailer.counts()
	if pending != 0 || sent[job.ID] != 1 || attempts != 1 || delivered != 1 {
		t.Errorf("pending %d, sent %v, Send calls %d, delivered %d; want the job deleted and its one mail delivered", pending, sent, attempts, delivered)
	}
	if len(resolved) != 2 {
		t.Errorf("Resolve called %d times, want 2", len(resolved))
	}
}
