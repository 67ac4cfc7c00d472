// Package metrics exposes Bulwark's Prometheus metrics. They are served on
// the admin listener only (BULWARK_ADMIN_ADDR), never on the public one: the
// counts of failed logins and lockouts are of use to an attacker probing the
// effect of an attack (OWASP ASVS 5.0 13.4.5: documentation and monitoring
// endpoints not exposed to users).
//
// Every metric is registered on the Metrics' own registry, not the global
// one, so tests can make as many as they like. Label values are bounded:
// routes are the mux's patterns (or "unmatched"), codes are HTTP statuses,
// outcomes and limiter names are fixed sets.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/password"
)

// Login outcomes, the values of bulwark_logins_total's outcome label.
const (
	LoginSuccess            = "success"
	LoginInvalidCredentials = "invalid_credentials"
	LoginLocked             = "locked"
	LoginRateLimited        = "rate_limited"
	LoginUnavailable        = "unavailable"
	LoginInvalidRequest     = "invalid_request"
	LoginOther              = "other"
)

// Metrics holds the collectors. The zero value is not usable; a nil
// *Metrics is, and records nothing.
type Metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	logins     *prometheus.CounterVec
	limited    *prometheus.CounterVec
	lockouts   prometheus.Counter
	reuses     prometheus.Counter
	replays    prometheus.Counter
	dependency *prometheus.HistogramVec
	depErrors  *prometheus.CounterVec
}

// New returns Metrics with the HTTP, login and event collectors, and the Go
// runtime and process collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bulwark_http_requests_total",
		Help: "HTTP requests answered, by route pattern and status code.",
	}, []string{"route", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "bulwark_http_request_duration_seconds",
		Help:    "Time to answer an HTTP request, by route pattern.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route"})
	m.logins = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bulwark_logins_total",
		Help: "Password logins (cookie and token), by outcome.",
	}, []string{"outcome"})
	m.limited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bulwark_rate_limited_total",
		Help: "Requests refused by a rate limit, by limiter.",
	}, []string{"limiter"})
	m.lockouts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bulwark_lockouts_total",
		Help: "Accounts (or unknown addresses) locked after too many failed logins.",
	})
	m.reuses = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bulwark_refresh_reuse_detections_total",
		Help: "Rotated refresh tokens presented after the grace window: the family was revoked.",
	})
	m.replays = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bulwark_refresh_grace_replays_total",
		Help: "Rotated refresh tokens presented again inside the grace window.",
	})
	m.dependency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "bulwark_dependency_ping_seconds",
		Help:    "Round trip of a health check of a dependency (database, redis), probed periodically.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"dependency"})
	m.depErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bulwark_dependency_ping_errors_total",
		Help: "Health checks of a dependency that failed.",
	}, []string{"dependency"})
	m.reg.MustRegister(m.requests, m.latency, m.logins, m.limited, m.lockouts, m.reuses, m.replays, m.dependency, m.depErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text or OpenMetrics format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Request records one answered request.
func (m *Metrics) Request(route string, code int, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

// Login records the outcome of one password login from its error.
func (m *Metrics) Login(err error) {
	if m == nil {
		return
	}
	m.logins.WithLabelValues(LoginOutcome(err)).Inc()
}

// LoginOutcome maps the result of auth.Service.Authenticate to an outcome.
func LoginOutcome(err error) string {
	if err == nil {
		return LoginSuccess
	}
	switch auth.ErrorCode(err) {
	case auth.CodeInvalidCredentials:
		return LoginInvalidCredentials
	case auth.CodeAccountLocked:
		return LoginLocked
	case auth.CodeRateLimited:
		return LoginRateLimited
	case auth.CodeUnavailable:
		return LoginUnavailable
	case auth.CodeInvalidRequest:
		return LoginInvalidRequest
	}
	return LoginOther
}

// Event counts the audit events that have a metric: rate-limit refusals by
// limiter, lockouts, refresh-token reuse and grace replays.
func (m *Metrics) Event(ev auth.Event) {
	if m == nil {
		return
	}
	switch ev.Name {
	case auth.EventRateLimited:
		m.limited.WithLabelValues(ev.Limiter).Inc()
	case auth.EventAccountLocked:
		m.lockouts.Inc()
	case auth.EventRefreshTokenReused:
		m.reuses.Inc()
	case auth.EventRefreshTokenReplayed:
		m.replays.Inc()
	}
}

// HashPool exports the password hashing pool's state, read at each scrape.
func (m *Metrics) HashPool(stats func() password.Stats) {
	gauge := func(name, help string, f func(password.Stats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(stats()) })
	}
	counter := func(name, help string, f func(password.Stats) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return f(stats()) })
	}
	m.reg.MustRegister(
		gauge("bulwark_hash_slots", "Password hashes that may run at once.", func(s password.Stats) float64 { return float64(s.Slots) }),
		gauge("bulwark_hash_in_flight", "Password hashes running now.", func(s password.Stats) float64 { return float64(s.InFlight) }),
		gauge("bulwark_hash_queue_depth", "Callers waiting for a hashing slot now.", func(s password.Stats) float64 { return float64(s.Queued) }),
		gauge("bulwark_hash_cost_seconds", "Moving average of one password hash.", func(s password.Stats) float64 { return s.Cost.Seconds() }),
		counter("bulwark_hash_rejected_total", "Callers refused a hashing slot (503 + Retry-After).", func(s password.Stats) float64 { return float64(s.Rejected) }),
		counter("bulwark_hash_acquired_total", "Callers that got a hashing slot.", func(s password.Stats) float64 { return float64(s.Acquired) }),
		counter("bulwark_hash_wait_seconds_total", "Time callers spent queued before they got a hashing slot; divide its rate by that of bulwark_hash_acquired_total for the mean wait.",
			func(s password.Stats) float64 { return s.Waited.Seconds() }),
	)
}

// Outbox exports the mail backlog, read at each scrape with a short timeout
// so a slow database cannot hold a scrape.
func (m *Metrics) Outbox(backlog func(ctx context.Context) (int, time.Time, error), now func() time.Time) {
	m.reg.MustRegister(&outboxCollector{backlog: backlog, now: now,
		depth:  prometheus.NewDesc("bulwark_outbox_depth", "Mails accepted and not yet delivered.", nil, nil),
		oldest: prometheus.NewDesc("bulwark_outbox_oldest_age_seconds", "Age of the oldest mail not yet delivered (0 when none).", nil, nil),
	})
}

type outboxCollector struct {
	backlog       func(ctx context.Context) (int, time.Time, error)
	now           func() time.Time
	depth, oldest *prometheus.Desc
}

func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.depth; ch <- c.oldest }

func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, oldest, err := c.backlog(ctx)
	if err != nil {
		// An invalid metric fails the scrape with the error, so the
		// outage is seen rather than a stale or zero value.
		ch <- prometheus.NewInvalidMetric(c.depth, err)
		return
	}
	age := 0.0
	if !oldest.IsZero() {
		age = max(0, c.now().Sub(oldest).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age)
}

// Probe pings a dependency every interval until ctx ends, recording the
// round trip (or an error) under name.
func (m *Metrics) Probe(ctx context.Context, name string, every time.Duration, ping func(context.Context) error) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		m.probeOnce(ctx, name, every, ping)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *Metrics) probeOnce(ctx context.Context, name string, timeout time.Duration, ping func(context.Context) error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	if err := ping(ctx); err != nil {
		// A shutdown cancelling the ping is not a failed ping.
		if !errors.Is(ctx.Err(), context.Canceled) {
			m.depErrors.WithLabelValues(name).Inc()
		}
		return
	}
	m.dependency.WithLabelValues(name).Observe(time.Since(start).Seconds())
}
