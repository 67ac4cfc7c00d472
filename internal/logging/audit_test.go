package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
)

// stalled holds every write until release is closed, then keeps them.
type stalled struct {
	release chan struct{}
	mu      sync.Mutex
	buf     bytes.Buffer
}

func (w *stalled) Write(p []byte) (int, error) {
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

// A flood of access-log lines against a stalled sink fills the access-log
// queue; audit events logged after it are still all written, and the drop
// counter equals exactly the access lines that were not written.
func TestAsyncAuditEventsAreNeverDropped(t *testing.T) {
	const flood, audits = 500, 3 * kept // more audit events than their queue holds
	w := &stalled{release: make(chan struct{})}
	a := NewAsync(slog.NewJSONHandler(w, nil), 16)
	log := slog.New(a).With("component", "test")
	for i := range flood {
		log.Info(AccessLogMessage, "i", i)
	}
	if a.Dropped() == 0 {
		t.Fatal("the flood dropped nothing: the access-log queue is not bounded")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range audits {
			log.Warn("audit", "event", "login_failed", "i", i)
		}
	}()
	close(w.release)
	<-done
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	var access, audit int
	for line := range bytes.Lines(w.buf.Bytes()) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		switch m["msg"] {
		case AccessLogMessage:
			access++
		case "audit":
			audit++
		}
	}
	if audit != audits {
		t.Fatalf("%d of %d audit events written", audit, audits)
	}
	if got := a.Dropped(); got != uint64(flood-access) {
		t.Fatalf("dropped = %d, want %d (the %d access lines not written)", got, flood-access, flood-access)
	}
	// After Close an audit event is written at once, not dropped.
	log.Warn("audit", "event", "refresh_token_reused")
	if !bytes.Contains(w.buf.Bytes(), []byte("refresh_token_reused")) || a.Dropped() != uint64(flood-access) {
		t.Fatal("an audit event after Close was dropped")
	}
}
