package logging

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/testutil"
)

type blockingWriter struct{ release chan struct{} }

func (w blockingWriter) Write(p []byte) (int, error) {
	<-w.release
	return len(p), nil
}

// TestAsyncBlockedSinkNeverBlocks: a hung sink fills the queue, then
// access-log records are dropped and counted, and logging returns at once.
func TestAsyncBlockedSinkNeverBlocks(t *testing.T) {
	w := blockingWriter{release: make(chan struct{})}
	a := NewAsync(slog.NewJSONHandler(w, nil), 8)
	log := slog.New(a)
	done := make(chan struct{})
	go func() {
		for i := 0; i < 100; i++ {
			log.Info(AccessLogMessage, "i", i)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("logging blocked on a hung sink")
	}
	// One record may be held by the writer goroutine, 8 in the queue.
	if d := a.Dropped(); d < 100-9 {
		t.Fatalf("dropped %d, want at least %d", d, 100-9)
	}
	close(w.release)
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestAsyncWritesEverythingAndCloseDrains(t *testing.T) {
	var buf testutil.Buffer
	a := NewAsync(slog.NewJSONHandler(&buf, nil), 0)
	log := slog.New(a).With("component", "test")
	ctx, cancel := context.WithCancel(context.Background())
	for i := 0; i < 1000; i++ {
		log.InfoContext(ctx, "event", "i", i)
	}
	cancel() // a finished request's context does not lose its records
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Count(buf.String(), "\n")
	if lines != 1000 || a.Dropped() != 0 {
		t.Fatalf("%d lines written, %d dropped", lines, a.Dropped())
	}
	if !strings.Contains(buf.String(), `"component":"test"`) {
		t.Fatal("attributes of WithAttrs lost")
	}
	// After Close, access-log records are dropped, not a panic.
	log.Info(AccessLogMessage)
	if a.Dropped() != 1 {
		t.Fatalf("dropped after close = %d", a.Dropped())
	}
}

type failing struct{}

func (failing) Enabled(context.Context, slog.Level) bool  { return true }
func (failing) Handle(context.Context, slog.Record) error { return errors.New("sink full") }
func (f failing) WithAttrs([]slog.Attr) slog.Handler      { return f }
func (f failing) WithGroup(string) slog.Handler           { return f }

func TestAsyncFailingSinkIsNotAnError(t *testing.T) {
	a := NewAsync(failing{}, 4)
	if err := a.Handle(context.Background(), slog.NewRecord(time.Now(), slog.LevelInfo, "x", 0)); err != nil {
		t.Fatal(err)
	}
	_ = a.Close(context.Background())
}
