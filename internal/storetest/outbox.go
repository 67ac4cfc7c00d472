package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

var outboxTests = []testCase{
	{"Queue", testOutboxQueue},
	{"NotFound", testOutboxNotFound},
	{"Claim", testOutboxClaim},
	{"ConcurrentClaim", testOutboxConcurrentClaim},
	{"Backlog", testOutboxBacklog},
}

// testOutboxBacklog: the backlog counts every message not yet sent, due or
// leased, and dates the oldest; a sent message leaves it.
func testOutboxBacklog(t *testing.T, s auth.Store) {
	b, ok := s.(interface {
		MailBacklog(ctx context.Context) (int, time.Time, error)
	})
	if !ok {
		t.Fatal("the store has no MailBacklog")
	}
	n, oldest, err := b.MailBacklog(ctx(t))
	noErr(t, "MailBacklog", err)
	if n != 0 || !oldest.IsZero() {
		t.Fatalf("empty outbox: backlog %d, oldest %v", n, oldest)
	}
	first := &auth.Mail{To: "a@example.com", Template: "verify_email", CreatedAt: t0}
	second := &auth.Mail{To: "b@example.com", Template: "verify_email", CreatedAt: t0.Add(time.Minute)}
	noErr(t, "EnqueueMail", s.EnqueueMail(ctx(t), second))
	noErr(t, "EnqueueMail", s.EnqueueMail(ctx(t), first))
	claim(t, s, t0.Add(2*time.Minute), time.Hour, 1) // leased, still waiting
	n, oldest, err = b.MailBacklog(ctx(t))
	noErr(t, "MailBacklog", err)
	if n != 2 || !oldest.Equal(t0) {
		t.Fatalf("backlog %d, oldest %v; want 2, %v", n, oldest, t0)
	}
	noErr(t, "MarkMailSent", s.MarkMailSent(ctx(t), first.ID))
	n, oldest, err = b.MailBacklog(ctx(t))
	noErr(t, "MailBacklog", err)
	if n != 1 || !oldest.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after sending the oldest: backlog %d, oldest %v; want 1, %v", n, oldest, t0.Add(time.Minute))
	}
}

func ids(ms []auth.Mail) []int64 {
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// pending lists the due messages without claiming them (lease 0).
func pending(t *testing.T, s auth.Store, now time.Time, limit int) []auth.Mail {
	t.Helper()
	ms, err := s.PendingMail(ctx(t), now, 0, limit)
	noErr(t, "PendingMail", err)
	return ms
}

// claim claims due messages for lease.
func claim(t *testing.T, s auth.Store, now time.Time, lease time.Duration, limit int) []auth.Mail {
	t.Helper()
	ms, err := s.PendingMail(ctx(t), now, lease, limit)
	noErr(t, "PendingMail", err)
	return ms
}

func testOutboxQueue(t *testing.T, s auth.Store) {
	a := &auth.Mail{To: "a@example.com", Template: "verify_email", CreatedAt: t0,
		Data: map[string]string{"link": "https://auth.example.com/verify?token=abc", "name": "Ünïcødé \"quoted\""}}
	b := &auth.Mail{To: "b@example.com", Template: "password_reset", CreatedAt: t0.Add(time.Second)}
	c := &auth.Mail{To: "c@example.com", Template: "password_changed", CreatedAt: t0.Add(2 * time.Second), Data: map[string]string{}}
	// Enqueued out of order: the queue orders by creation time.
	for _, m := range []*auth.Mail{b, a, c} {
		noErr(t, "EnqueueMail", s.EnqueueMail(ctx(t), m))
		if m.ID == 0 {
			t.Fatal("EnqueueMail did not set ID")
		}
	}
	if a.ID == b.ID || b.ID == c.ID || a.ID == c.ID {
		t.Fatalf("EnqueueMail set ids %d, %d, %d; want distinct", a.ID, b.ID, c.ID)
	}

	if got := pending(t, s, t0.Add(-time.Second), 10); len(got) != 0 {
		t.Errorf("PendingMail before creation = %v, want none", ids(got))
	}
	check(t, "PendingMail", pending(t, s, t0.Add(2*time.Second), 10), []auth.Mail{*a, *b, *c})
	check(t, "PendingMail with limit 2", ids(pending(t, s, t0.Add(2*time.Second), 2)), []int64{a.ID, b.ID})
	check(t, "PendingMail at b's creation", ids(pending(t, s, t0.Add(time.Second), 10)), []int64{a.ID, b.ID})

	retry := t0.Add(time.Minute)
	noErr(t, "RetryMailAt", s.RetryMailAt(ctx(t), a.ID, retry))
	check(t, "PendingMail before the retry time", ids(pending(t, s, retry.Add(-time.Millisecond), 10)), []int64{b.ID, c.ID})
	got := pending(t, s, retry, 10)
	check(t, "PendingMail at the retry time", ids(got), []int64{a.ID, b.ID, c.ID})
	wantA := *a
	wantA.Attempts = 1
	check(t, "retried mail", got[0], wantA)

	noErr(t, "RetryMailAt", s.RetryMailAt(ctx(t), a.ID, retry.Add(time.Minute)))
	noErr(t, "MarkMailSent", s.MarkMailSent(ctx(t), b.ID))
	got = pending(t, s, retry.Add(time.Hour), 10)
	check(t, "PendingMail after b was sent", ids(got), []int64{a.ID, c.ID})
	if got[0].Attempts != 2 {
		t.Errorf("Attempts after two retries = %d, want 2", got[0].Attempts)
	}

	noErr(t, "MarkMailSent", s.MarkMailSent(ctx(t), a.ID))
	noErr(t, "MarkMailSent", s.MarkMailSent(ctx(t), c.ID))
	if got := pending(t, s, retry.Add(time.Hour), 10); len(got) != 0 {
		t.Errorf("PendingMail after all were sent = %v, want none", ids(got))
	}
	// A new message never takes the id of a sent one.
	d := &auth.Mail{To: "d@example.com", Template: "verify_email", CreatedAt: t0}
	noErr(t, "EnqueueMail", s.EnqueueMail(ctx(t), d))
	if d.ID == a.ID || d.ID == b.ID || d.ID == c.ID {
		t.Errorf("EnqueueMail reused id %d", d.ID)
	}
}

func testOutboxNotFound(t *testing.T, s auth.Store) {
	m := &auth.Mail{To: "a@example.com", Template: "verify_email", CreatedAt: t0}
	noErr(t, "EnqueueMail", s.EnqueueMail(ctx(t), m))
	noErr(t, "MarkMailSent", s.MarkMailSent(ctx(t), m.ID))
	wantErr(t, "MarkMailSent of a sent message", s.MarkMailSent(ctx(t), m.ID), auth.ErrNotFound)
	wantErr(t, "RetryMailAt of a sent message", s.RetryMailAt(ctx(t), m.ID, t0), auth.ErrNotFound)
	wantErr(t, "MarkMailSent of an unknown id", s.MarkMailSent(ctx(t), m.ID+1000), auth.ErrNotFound)
}

// testOutboxClaim checks that a claim moves the next attempt of the messages
// it returns to now+lease, and only theirs, and that listing (lease 0)
// changes nothing.
func testOutboxClaim(t *testing.T, s auth.Store) {
	var ms []*auth.Mail
	for i := range 3 {
		m := &auth.Mail{To: "a@example.com", Template: "verify_email", CreatedAt: t0.Add(time.Duration(i) * time.Second),
			Data: map[string]string{"i": string(rune('a' + i))}}
		noErr(t, "EnqueueMail", s.EnqueueMail(ctx(t), m))
		ms = append(ms, m)
	}
	a, b, c := ms[0], ms[1], ms[2]
	now := t0.Add(time.Minute)
	lease := 2 * time.Minute

	// Listing is no claim, however often.
	for range 2 {
		check(t, "PendingMail with lease 0", pending(t, s, now, 10), []auth.Mail{*a, *b, *c})
	}
	if got := claim(t, s, now, lease, 0); len(got) != 0 {
		t.Errorf("PendingMail with limit 0 = %v, want none", ids(got))
	}

	check(t, "first claim", claim(t, s, now, lease, 2), []auth.Mail{*a, *b})
	check(t, "listing after the first claim", ids(pending(t, s, now, 10)), []int64{c.ID})
	check(t, "second claim", claim(t, s, now, lease, 2), []auth.Mail{*c})
	if got := claim(t, s, now, lease, 10); len(got) != 0 {
		t.Errorf("claim while every message is leased = %v, want none", ids(got))
	}
	if got := claim(t, s, now.Add(lease-time.Millisecond), lease, 10); len(got) != 0 {
		t.Errorf("claim a millisecond before the lease ends = %v, want none", ids(got))
	}

	// A failed attempt reschedules; a delivered message is gone.
	noErr(t, "RetryMailAt", s.RetryMailAt(ctx(t), a.ID, now.Add(10*time.Second)))
	noErr(t, "MarkMailSent", s.MarkMailSent(ctx(t), b.ID))
	wantA := *a
	wantA.Attempts = 1
	check(t, "claim at the retry time", claim(t, s, now.Add(10*time.Second), lease, 10), []auth.Mail{wantA})

	// A worker that died: its messages are due again when the lease ends.
	check(t, "claim when the lease ends", ids(claim(t, s, now.Add(lease), time.Minute, 10)), []int64{c.ID})
	check(t, "claim when the retried message's lease ends", ids(claim(t, s, now.Add(10*time.Second+lease), time.Minute, 10)), []int64{a.ID})
}

// testOutboxConcurrentClaim runs claimers in parallel until the queue is
// drained: every message is claimed by exactly one of them.
func testOutboxConcurrentClaim(t *testing.T, s auth.Store) {
	const n, claimers, limit = 40, 8, 3
	want := map[int64]bool{}
	for i := range n {
		m := &auth.Mail{To: "a@example.com", Template: "verify_email", CreatedAt: t0.Add(time.Duration(i) * time.Millisecond)}
		noErr(t, "EnqueueMail", s.EnqueueMail(ctx(t), m))
		want[m.ID] = true
	}
	now := t0.Add(time.Second)
	var mu sync.Mutex
	got := map[int64]int{}
	parallel(claimers, func(w int) {
		for {
			ms, err := s.PendingMail(ctx(t), now, time.Minute, limit)
			if err != nil {
				t.Errorf("PendingMail: %v", err)
				return
			}
			if len(ms) == 0 {
				return
			}
			if len(ms) > limit {
				t.Errorf("PendingMail returned %d messages, limit %d", len(ms), limit)
			}
			mu.Lock()
			for _, m := range ms {
				got[m.ID]++
			}
			mu.Unlock()
		}
	})
	for id, k := range got {
		if k != 1 {
			t.Errorf("message %d claimed %d times, want once", id, k)
		}
		if !want[id] {
			t.Errorf("claimed unknown message %d", id)
		}
	}
	if len(got) != n {
		t.Errorf("%d of %d messages claimed", len(got), n)
	}
	if left := pending(t, s, now, n); len(left) != 0 {
		t.Errorf("messages still due after the claims: %v", ids(left))
	}
}
