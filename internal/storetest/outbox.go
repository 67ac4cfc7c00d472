package storetest

import (
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

var outboxTests = []testCase{
	{"Queue", testOutboxQueue},
	{"NotFound", testOutboxNotFound},
}

func ids(ms []auth.Mail) []int64 {
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

func pending(t *testing.T, s auth.Store, now time.Time, limit int) []auth.Mail {
	t.Helper()
	ms, err := s.PendingMail(ctx(t), now, limit)
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
