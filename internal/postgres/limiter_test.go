package postgres_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/limitertest"
)

func TestLimiterConformance(t *testing.T) {
	limitertest.Run(t, func(t *testing.T, now func() time.Time) auth.Limiter {
		return openFresh(t).LimiterWithClock(now)
	})
}

// TestLimiterProperty: several thousand random sequences against the exact
// rule, through the database.
func TestLimiterProperty(t *testing.T) {
	n := 2000
	if testing.Short() {
		n = 200
	}
	limitertest.Property(t, func(t *testing.T, now func() time.Time) auth.Limiter {
		return openFresh(t).LimiterWithClock(now)
	}, n)
}

// TestLimiterSharedAcrossPools: two stores on one database (two instances)
// share one budget, exactly, under concurrency.
func TestLimiterSharedAcrossPools(t *testing.T) {
	_, dbURL := newSchema(t)
	a, b := openOn(t, dbURL).Limiter(), openOn(t, dbURL).Limiter()
	limit := auth.Limit{N: 50, Per: time.Minute}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		l := a
		if i%2 == 1 {
			l = b
		}
		wg.Go(func() {
			for j := 0; j < 5; j++ {
				ok, retry, err := l.Allow(t.Context(), "login_email:x@example.com", limit)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					allowed.Add(1)
				} else if retry <= 0 || retry > time.Minute {
					t.Errorf("retryAfter %s", retry)
				}
			}
		})
	}
	wg.Wait()
	if allowed.Load() != 50 {
		t.Fatalf("%d of 100 events allowed across two instances, want exactly 50", allowed.Load())
	}
	// Another key has its own budget.
	if ok, _, err := a.Allow(t.Context(), "login_email:y@example.com", limit); err != nil || !ok {
		t.Fatalf("other key refused: %v", err)
	}
}

func TestLimiterClosedFailsClosed(t *testing.T) {
	db := openFresh(t)
	db.Close()
	ok, _, err := db.Limiter().Allow(t.Context(), "k", auth.Limit{N: 5, Per: time.Minute})
	if ok || err == nil {
		t.Fatalf("closed database: ok=%v err=%v, want refusal with an error", ok, err)
	}
}
