package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/password"
)

func exposition(t *testing.T, m *Metrics) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	return rec.Code, string(body)
}

func has(t *testing.T, body, line string) {
	t.Helper()
	for _, l := range strings.Split(body, "\n") {
		if l == line {
			return
		}
	}
	t.Errorf("exposition lacks %q", line)
}

func TestLoginOutcome(t *testing.T) {
	for err, want := range map[error]string{
		nil: LoginSuccess,
		&auth.Error{Code: auth.CodeInvalidCredentials}:                     LoginInvalidCredentials,
		&auth.Error{Code: auth.CodeAccountLocked}:                          LoginLocked,
		fmt.Errorf("wrapped: %w", &auth.Error{Code: auth.CodeRateLimited}): LoginRateLimited,
		&auth.Error{Code: auth.CodeUnavailable}:                            LoginUnavailable,
		&auth.Error{Code: auth.CodeInvalidRequest}:                         LoginInvalidRequest,
		errors.New("store down"):                                           LoginOther,
	} {
		if got := LoginOutcome(err); got != want {
			t.Errorf("LoginOutcome(%v) = %q, want %q", err, got, want)
		}
	}
}

func TestEventsAndRequests(t *testing.T) {
	m := New()
	m.Event(auth.Event{Name: auth.EventRateLimited, Limiter: "login_ip"})
	m.Event(auth.Event{Name: auth.EventRateLimited, Limiter: "login_ip"})
	m.Event(auth.Event{Name: auth.EventAccountLocked})
	m.Event(auth.Event{Name: auth.EventRefreshTokenReused})
	m.Event(auth.Event{Name: auth.EventRefreshTokenReplayed})
	m.Event(auth.Event{Name: auth.EventLogout}) // no metric
	m.Login(nil)
	m.Request("POST /v1/session", 200, 3*time.Millisecond)
	code, body := exposition(t, m)
	if code != 200 {
		t.Fatalf("scrape: %d", code)
	}
	has(t, body, `bulwark_rate_limited_total{limiter="login_ip"} 2`)
	has(t, body, `bulwark_lockouts_total 1`)
	has(t, body, `bulwark_refresh_reuse_detections_total 1`)
	has(t, body, `bulwark_refresh_grace_replays_total 1`)
	has(t, body, `bulwark_logins_total{outcome="success"} 1`)
	has(t, body, `bulwark_http_requests_total{code="200",route="POST /v1/session"} 1`)
	has(t, body, `bulwark_http_request_duration_seconds_bucket{route="POST /v1/session",le="0.005"} 1`)
	has(t, body, `bulwark_http_request_duration_seconds_bucket{route="POST /v1/session",le="0.0025"} 0`)

	var nilM *Metrics // a server without metrics records nothing, safely
	nilM.Request("x", 200, 0)
	nilM.Login(nil)
	nilM.Event(auth.Event{Name: auth.EventAccountLocked})
}

func TestHashPoolAndOutbox(t *testing.T) {
	m := New()
	m.HashPool(func() password.Stats {
		return password.Stats{Slots: 2, InFlight: 1, Queued: 3, Rejected: 4, Cost: 25 * time.Millisecond, Acquired: 10, Waited: 1500 * time.Millisecond}
	})
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var fail error
	m.Outbox(func(context.Context) (int, time.Time, error) { return 7, now.Add(-90 * time.Second), fail }, func() time.Time { return now })
	_, body := exposition(t, m)
	has(t, body, "bulwark_hash_queue_depth 3")
	has(t, body, "bulwark_hash_in_flight 1")
	has(t, body, "bulwark_hash_rejected_total 4")
	has(t, body, "bulwark_hash_wait_seconds_total 1.5")
	has(t, body, "bulwark_hash_acquired_total 10")
	has(t, body, "bulwark_outbox_depth 7")
	has(t, body, "bulwark_outbox_oldest_age_seconds 90")

	// A database that does not answer fails the scrape instead of showing
	// a stale or zero backlog.
	fail = errors.New("database down")
	if code, body := exposition(t, m); code != http.StatusInternalServerError || !strings.Contains(body, "database down") {
		t.Fatalf("scrape with the outbox failing: %d %q", code, body)
	}
}

func TestProbe(t *testing.T) {
	m := New()
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	m.probeOnce(ctx, "database", time.Second, func(context.Context) error { calls++; return nil })
	m.probeOnce(ctx, "redis", time.Second, func(context.Context) error { calls++; return errors.New("refused") })
	cancel()
	m.probeOnce(ctx, "redis", time.Second, func(ctx context.Context) error { return ctx.Err() }) // shutdown: not an error
	_, body := exposition(t, m)
	has(t, body, `bulwark_dependency_ping_seconds_count{dependency="database"} 1`)
	has(t, body, `bulwark_dependency_ping_errors_total{dependency="redis"} 1`)
	if calls != 2 {
		t.Fatalf("%d pings", calls)
	}
}
