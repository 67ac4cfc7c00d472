package loadgen

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// bare starts the baseline kind of server: a net/http handler that writes a
// small JSON body, counting the requests it serves.
func bare(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var served atomic.Int64
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"user":{"id":"usr_1"}}`)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &served
}

// get is the Do of the tests: GET url with the loopback-only client.
func get(c *http.Client, url string) Do {
	return func(ctx context.Context, _ int) Outcome {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return Outcome{Err: err}
		}
		res, err := c.Do(req)
		if err != nil {
			return Outcome{Err: err}
		}
		_, err = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return Outcome{Status: res.StatusCode, Err: err}
	}
}

func TestClosedLoopStopsAtRequestCount(t *testing.T) {
	srv, served := bare(t, nil)
	c := NewClient(4, false)
	defer c.Transport.(*http.Transport).CloseIdleConnections()
	res, err := Run(t.Context(), Plan{Concurrency: 4, Requests: 250, Duration: 10 * time.Second}, get(c, srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 250 || res.OK != 250 || served.Load() != 250 {
		t.Errorf("requests %d, ok %d, served %d, want 250 each", res.Requests, res.OK, served.Load())
	}
	if res.ErrorCount() != 0 || res.Mode != "closed" || res.Concurrency != 4 {
		t.Errorf("errors %v, mode %q, concurrency %d", res.Errors, res.Mode, res.Concurrency)
	}
	if res.Latency.Count != 250 || res.Latency.P50 <= 0 || res.Latency.P50 > res.Latency.P99 || res.Latency.P99 > res.Latency.Max {
		t.Errorf("latency %+v: want 250 ordered samples", res.Latency)
	}
	if res.Throughput() <= 0 {
		t.Errorf("throughput %v, want > 0", res.Throughput())
	}
}

func TestClosedLoopStopsAtDuration(t *testing.T) {
	srv, _ := bare(t, nil)
	c := NewClient(8, false)
	var ticks atomic.Int64
	start := time.Now()
	res, err := Run(t.Context(), Plan{
		Concurrency: 8, Duration: 300 * time.Millisecond,
		Progress: func(Progress) { ticks.Add(1) }, ProgressEvery: 50 * time.Millisecond,
	}, get(c, srv.URL))
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if took < 300*time.Millisecond || took > 2*time.Second {
		t.Errorf("run took %v, want 300ms and a little", took)
	}
	if res.Requests == 0 || res.OK != res.Requests {
		t.Errorf("requests %d ok %d, want some, all ok", res.Requests, res.OK)
	}
	if ticks.Load() < 2 {
		t.Errorf("progress called %d times, want several", ticks.Load())
	}
}

func TestOpenLoopFollowsTheSchedule(t *testing.T) {
	srv, served := bare(t, nil)
	c := NewClient(16, false)
	res, err := Run(t.Context(), Plan{Rate: 200, Concurrency: 16, Duration: 500 * time.Millisecond}, get(c, srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	// 500 ms at 200/s schedules exactly 100 requests.
	if res.Requests+res.Missed != 100 || served.Load() != res.Requests {
		t.Errorf("requests %d + missed %d (served %d), want 100 scheduled", res.Requests, res.Missed, served.Load())
	}
	if res.Mode != "open" || res.Rate != 200 {
		t.Errorf("mode %q rate %v", res.Mode, res.Rate)
	}
}

func TestOpenLoopCountsQueueingAgainstTheServer(t *testing.T) {
	// The server takes 40 ms a request, one at a time: 25/s against a
	// schedule of 100/s. A closed loop would report 40 ms; from the
	// schedule, requests wait ever longer for the one slot.
	srv, _ := bare(t, func(w http.ResponseWriter, r *http.Request) { time.Sleep(40 * time.Millisecond) })
	c := NewClient(1, false)
	res, err := Run(t.Context(), Plan{Rate: 100, Concurrency: 1, Duration: 600 * time.Millisecond}, get(c, srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if res.Missed == 0 {
		t.Errorf("missed = 0, want requests left unsent (%d sent)", res.Requests)
	}
	if res.Latency.Max < 150*time.Millisecond {
		t.Errorf("max latency %v, want the queueing delay counted (≥ 150ms)", res.Latency.Max)
	}
	if res.Latency.P50 <= 45*time.Millisecond {
		t.Errorf("p50 %v, want more than the service time", res.Latency.P50)
	}
}

func TestErrorsByStatus(t *testing.T) {
	var n atomic.Int64
	srv, _ := bare(t, func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) % 4 {
		case 0:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 1:
			w.WriteHeader(http.StatusUnauthorized)
		}
	})
	c := NewClient(2, false)
	plain := get(c, srv.URL)
	do := func(ctx context.Context, w int) Outcome {
		o := plain(ctx, w)
		if o.Status == http.StatusUnauthorized {
			o.Code = "invalid_token"
		}
		return o
	}
	res, err := Run(t.Context(), Plan{Concurrency: 2, Requests: 100}, do)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"503": 25, "401 invalid_token": 25}
	if len(res.Errors) != 2 || res.Errors["503"] != 25 || res.Errors["401 invalid_token"] != 25 {
		t.Errorf("errors = %v, want %v", res.Errors, want)
	}
	if res.OK != 50 || res.ErrorCount() != 50 {
		t.Errorf("ok %d errors %d, want 50 and 50", res.OK, res.ErrorCount())
	}
}

func TestLatencyByStatus(t *testing.T) {
	rec := newRecorder()
	for range 3 {
		rec.record(Outcome{Status: http.StatusOK}, time.Millisecond, nil)
	}
	rec.record(Outcome{Status: http.StatusTooManyRequests}, 2*time.Millisecond, nil)
	rec.record(Outcome{Status: http.StatusServiceUnavailable}, 3*time.Millisecond, nil)
	rec.record(Outcome{Status: http.StatusServiceUnavailable}, 5*time.Millisecond, nil)
	rec.record(Outcome{Err: errors.New("connection refused")}, 7*time.Millisecond, nil)
	rec.record(Outcome{Status: 12345}, 9*time.Millisecond, nil) // out of range: as no answer
	res := rec.result(Plan{Concurrency: 1}, time.Second)
	want := map[int]struct {
		n   uint64
		max time.Duration
	}{200: {3, time.Millisecond}, 429: {1, 2 * time.Millisecond}, 503: {2, 5 * time.Millisecond}, 0: {2, 9 * time.Millisecond}}
	if len(res.ByStatus) != len(want) {
		t.Errorf("statuses %v, want %v", res.ByStatus, want)
	}
	for st, w := range want {
		h := res.ByStatus[st]
		if h == nil || h.Count() != w.n || h.Max() != w.max {
			t.Errorf("status %d: %+v, want count %d max %v", st, h, w.n, w.max)
		}
	}
}

func TestOutcomeKeys(t *testing.T) {
	rec := newRecorder()
	rec.record(Outcome{Err: context.DeadlineExceeded}, time.Millisecond, nil)
	rec.record(Outcome{Err: errors.New("connection refused")}, time.Millisecond, nil)
	rec.record(Outcome{Status: 200, Err: errors.New("no token in body")}, time.Millisecond, nil)
	rec.record(Outcome{Status: 204}, time.Millisecond, nil)
	res := rec.result(Plan{}, time.Second)
	want := map[string]int64{"timeout": 1, "conn": 1, "200 unexpected": 1}
	for k, v := range want {
		if res.Errors[k] != v {
			t.Errorf("errors[%q] = %d, want %d (all: %v)", k, res.Errors[k], v, res.Errors)
		}
	}
	if res.OK != 1 || res.Requests != 4 {
		t.Errorf("ok %d requests %d, want 1 and 4", res.OK, res.Requests)
	}
	if res.ErrorSamples["200 unexpected"] != "no token in body" {
		t.Errorf("samples = %v", res.ErrorSamples)
	}
}

func TestSkippedCallsAreNotCounted(t *testing.T) {
	var calls atomic.Int64
	do := func(ctx context.Context, _ int) Outcome {
		if calls.Add(1)%2 == 0 {
			return Outcome{Skip: true}
		}
		return Outcome{Status: 200}
	}
	res, err := Run(t.Context(), Plan{Concurrency: 1, Requests: 10}, do)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 10 || res.Latency.Count != 10 || calls.Load() != 19 {
		t.Errorf("requests %d latencies %d calls %d, want 10, 10, 19", res.Requests, res.Latency.Count, calls.Load())
	}
}

func TestPlanBounds(t *testing.T) {
	tests := []struct {
		name string
		plan Plan
		want string
	}{
		{"too many workers", Plan{Concurrency: MaxConcurrency + 1}, "concurrency"},
		{"negative workers", Plan{Concurrency: -1}, "concurrency"},
		{"too long", Plan{Duration: MaxDuration + time.Second}, "duration"},
		{"negative duration", Plan{Duration: -time.Second}, "duration"},
		{"too many requests", Plan{Requests: MaxRequests + 1}, "requests"},
		{"rate too high", Plan{Rate: MaxRate * 2}, "rate"},
		{"negative rate", Plan{Rate: -1}, "rate"},
	}
	do := func(context.Context, int) Outcome { t.Error("called"); return Outcome{} }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(t.Context(), tt.plan, do)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run = %v, want an error about %s", err, tt.want)
			}
		})
	}

	// Zero bounds take the hard maxima: the run still ends, here by ctx.
	p := Plan{}
	if err := p.validate(); err != nil || p.Duration != MaxDuration || p.Requests != MaxRequests || p.Concurrency != 1 || p.Timeout != DefaultTimeout {
		t.Errorf("defaults = %+v, %v", p, err)
	}
}

func TestCancelEndsTheRun(t *testing.T) {
	for _, rate := range []float64{0, 1000} {
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		start := time.Now()
		res, err := Run(ctx, Plan{Concurrency: 2, Rate: rate}, func(ctx context.Context, _ int) Outcome {
			<-ctx.Done()
			return Outcome{Err: ctx.Err()}
		})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("rate %v: cancelled run took %v", rate, took)
		}
		if res.Requests == 0 || res.OK != 0 {
			t.Errorf("rate %v: requests %d ok %d, want the cancelled ones counted as errors", rate, res.Requests, res.OK)
		}
	}
}

func TestRequestTimeout(t *testing.T) {
	srv, _ := bare(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	c := NewClient(1, false)
	res, err := Run(t.Context(), Plan{Requests: 2, Timeout: 50 * time.Millisecond}, get(c, srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors["timeout"] != 2 {
		t.Errorf("errors = %v, want 2 timeouts", res.Errors)
	}
}

func TestCheckTarget(t *testing.T) {
	tests := []struct {
		url         string
		allowRemote bool
		ok          bool
	}{
		{"http://127.0.0.1:8080", false, true},
		{"http://127.3.4.5", false, true},
		{"https://[::1]:8443/base", false, true},
		{"http://localhost:8080", false, true},
		{"http://LOCALHOST:8080", false, true},
		{"http://[::ffff:127.0.0.1]:80", false, true},
		{"http://10.0.0.1:8080", false, false},
		{"http://192.0.2.1", false, false},
		{"http://[2001:db8::1]", false, false},
		{"http://[::ffff:10.0.0.1]", false, false},
		{"http://0.0.0.0:8080", false, false},
		{"http://[fe80::1%25lo]", false, false},
		{"http://auth.example.invalid", false, false}, // does not resolve: refused too
		{"http://192.0.2.1", true, true},
		{"https://auth.example.com", true, true},
		{"ftp://127.0.0.1", false, false},
		{"127.0.0.1:8080", false, false},
		{"http://user:pw@127.0.0.1", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			_, err := CheckTarget(t.Context(), tt.url, tt.allowRemote)
			if (err == nil) != tt.ok {
				t.Errorf("CheckTarget(%q, %v) = %v, want ok %v", tt.url, tt.allowRemote, err, tt.ok)
			}
		})
	}
	_, err := CheckTarget(t.Context(), "http://10.1.2.3", false)
	if !errors.Is(err, ErrNotLoopback) {
		t.Errorf("error %v, want ErrNotLoopback", err)
	}
}

func TestClientRefusesNonLoopbackConnections(t *testing.T) {
	c := NewClient(1, false)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	// TEST-NET-1: refused before any packet is sent.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://192.0.2.1:9/", nil)
	_, err := c.Do(req)
	if !errors.Is(err, ErrNotLoopback) {
		t.Errorf("GET 192.0.2.1 = %v, want ErrNotLoopback", err)
	}
	srv, _ := bare(t, nil)
	if o := get(c, srv.URL)(ctx, 0); o.Err != nil || o.Status != 200 {
		t.Errorf("GET loopback = %+v, want 200", o)
	}
}

func TestIsLoopback(t *testing.T) {
	for s, want := range map[string]bool{"127.0.0.1": true, "127.255.255.254": true, "::1": true, "::ffff:127.0.0.1": true, "128.0.0.1": false, "::2": false} {
		if got := IsLoopback(netip.MustParseAddr(s)); got != want {
			t.Errorf("IsLoopback(%s) = %v, want %v", s, got, want)
		}
	}
}

func TestParseVmRSS(t *testing.T) {
	status := "Name:\tbulwark\nVmPeak:\t  900 kB\nVmRSS:\t   12345 kB\nThreads:\t4\n"
	if got, ok := parseVmRSS([]byte(status)); !ok || got != 12345*1024 {
		t.Errorf("parseVmRSS = %d, %v, want %d", got, ok, 12345*1024)
	}
	if _, ok := parseVmRSS([]byte("Name:\tx\n")); ok {
		t.Error("parseVmRSS without VmRSS: ok")
	}
	if rss, ok := RSS(); ok && rss <= 0 {
		t.Errorf("RSS = %d", rss)
	}
	if u, s, ok := CPUTime(); ok && u+s <= 0 {
		t.Errorf("CPUTime = %v + %v", u, s)
	}
}

func TestEndingReleasesWaitingWorkers(t *testing.T) {
	if Ending(t.Context()) != nil {
		t.Error("Ending outside a run is not nil")
	}
	for _, p := range []Plan{
		{Concurrency: 3, Duration: 200 * time.Millisecond},
		{Concurrency: 3, Requests: 50},
		{Concurrency: 3, Rate: 500, Duration: 200 * time.Millisecond},
	} {
		start := time.Now()
		// Worker 0 waits for the end of the run, as a worker at a barrier
		// whose peers have stopped would.
		res, err := Run(t.Context(), p, func(ctx context.Context, w int) Outcome {
			if w == 0 {
				<-Ending(ctx)
				return Outcome{Skip: true}
			}
			time.Sleep(time.Millisecond)
			return Outcome{Status: 200}
		})
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("%+v: run took %v, want it to end at its bound", p, took)
		}
		if res.Requests == 0 {
			t.Errorf("%+v: no requests", p)
		}
	}
}

// RSS and CPUTime count the child processes too (an in-process server's
// hash worker runs as one).
func TestUsageCountsChildren(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	before, ok := RSS()
	if !ok {
		t.Skip("no VmRSS")
	}
	// A child that holds ~64 MiB resident and burns CPU until stdin closes.
	cmd := exec.Command("sh", "-c", `head -c 67108864 /dev/zero | tr '\0' 'a' > /dev/null & x=$(head -c 67108864 /dev/zero | tr '\0' b); cat`)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); _ = cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		rss, _ := RSS()
		if rss-before > 32<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("RSS stayed at %d MiB (before %d MiB) while a child holds 64 MiB", rss>>20, before>>20)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(children()) == 0 {
		t.Fatal("children() found no child")
	}
}

// SampleRSS reports a peak at least as large as any RSS read while it ran.
func TestSampleRSS(t *testing.T) {
	now, ok := RSS()
	if !ok {
		t.Skip("no VmRSS")
	}
	stop := SampleRSS(time.Millisecond)
	time.Sleep(10 * time.Millisecond)
	if peak := stop(); peak < now/2 {
		t.Fatalf("peak %d, but RSS was %d before sampling", peak, now)
	}
}
