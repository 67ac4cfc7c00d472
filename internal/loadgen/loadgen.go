// Package loadgen is a small HTTP load generator for benchmarking a server
// on the same machine.
//
// # Loops
//
// A closed-loop run (Plan.Rate = 0) has Plan.Concurrency workers; each sends
// its next request as soon as its previous one is answered, so the offered
// load adapts to the server. An open-loop run (Plan.Rate > 0) starts
// requests on a fixed schedule, Rate a second, whatever the answers, with at
// most Plan.Concurrency in flight. Its latency is measured from the time a
// request was scheduled, not from the time it could be sent: a server that
// stalls delays every request queued behind it, and those delays are counted
// rather than silently omitted ("coordinated omission"). Requests still
// waiting for a free slot when the run ends are reported as Missed.
//
// # Bounds
//
// Every run stops by itself: after Plan.Duration (at most MaxDuration, the
// default when zero) or after Plan.Requests requests (at most MaxRequests,
// the default when zero), whichever comes first, or when its context is
// cancelled. Requests in flight at the end are allowed to finish; each is
// bounded by Plan.Timeout. Memory does not grow with the number of requests:
// latencies go into a fixed-size Histogram.
//
// # Targets
//
// CheckTarget and NewClient refuse any address that is not loopback
// (127.0.0.0/8, ::1, localhost) unless remote targets are explicitly
// allowed. The load is meant for one's own machine.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Hard bounds of a Plan.
const (
	MaxDuration    = 10 * time.Minute
	MaxRequests    = 100_000_000
	MaxConcurrency = 10_000
	MaxRate        = 1_000_000
	DefaultTimeout = 10 * time.Second
)

// Plan shapes and bounds one run.
type Plan struct {
	// Concurrency is the number of closed-loop workers, or the most requests
	// in flight in an open loop. Default 1.
	Concurrency int
	// Rate, when positive, makes the run open-loop: Rate requests a second.
	Rate float64
	// Duration bounds the run; zero means MaxDuration.
	Duration time.Duration
	// Requests bounds the number of requests; zero means MaxRequests.
	Requests int64
	// Timeout bounds each request through the context passed to Do; zero
	// means DefaultTimeout.
	Timeout time.Duration
	// Progress, when set, is called every ProgressEvery (default 1 s) from
	// another goroutine while the run lasts.
	Progress      func(Progress)
	ProgressEvery time.Duration
}

// Progress is a snapshot of a run in progress.
type Progress struct {
	Elapsed  time.Duration
	Requests int64
	Errors   int64
}

// Outcome is what one request came to.
type Outcome struct {
	// Status is the HTTP status, 0 when no response came.
	Status int
	// Code is the problem document's error code of a non-2xx answer, when
	// the caller read one; it refines the error key ("401 invalid_token").
	Code string
	// Err is a failed exchange, or a 2xx answer that was not what the caller
	// expected. A non-2xx status is an error even when Err is nil.
	Err error
	// Skip leaves the call out of the result altogether (no count, no
	// latency): for a caller's own bookkeeping, such as starting a new
	// session between measured requests.
	Skip bool
}

// Do performs one request. worker is in [0, Concurrency) and no two calls
// with the same worker run at once, so a caller can keep per-worker state
// (a connection, a session, a rotating token) without locking.
type Do func(ctx context.Context, worker int) Outcome

// Result is what a run measured.
type Result struct {
	Mode        string        `json:"mode"` // "closed" or "open"
	Concurrency int           `json:"concurrency"`
	Rate        float64       `json:"rate,omitempty"`
	Elapsed     time.Duration `json:"elapsed_ns"`
	// Requests counts every completed request, errors included.
	Requests int64 `json:"requests"`
	// OK counts 2xx answers without Err.
	OK int64 `json:"ok"`
	// Missed counts open-loop requests that were due but never sent
	// because every slot stayed busy until the end.
	Missed int64 `json:"missed,omitempty"`
	// Errors counts the other requests by key: the status ("503"), with the
	// problem code when known ("401 refresh_token_reused"), "timeout" or
	// "conn" when no answer came, "<status> unexpected" for a 2xx the caller
	// refused.
	Errors map[string]int64 `json:"errors"`
	// ErrorSamples holds one message per error key, for diagnosis.
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
	// Latency covers every completed request, errors included.
	Latency Summary `json:"latency"`
	// Histogram is the full latency record.
	Histogram *Histogram `json:"-"`
	// ByStatus is the latency record of each HTTP status answered, 0 for
	// requests that got no answer; its Count is how many. A caller's own
	// refusal of a 2xx answer is recorded under that 2xx status.
	ByStatus map[int]*Histogram `json:"-"`
}

// Throughput returns successful requests per second.
func (r *Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK) / r.Elapsed.Seconds()
}

// ErrorCount returns the number of failed requests.
func (r *Result) ErrorCount() int64 {
	var n int64
	for _, v := range r.Errors {
		n += v
	}
	return n
}

// ErrorKeys returns the error keys, most frequent first.
func (r *Result) ErrorKeys() []string {
	keys := slices.Sorted(maps.Keys(r.Errors))
	slices.SortStableFunc(keys, func(a, b string) int { return int(r.Errors[b] - r.Errors[a]) })
	return keys
}

// validate fills in defaults and refuses plans outside the hard bounds.
func (p *Plan) validate() error {
	if p.Concurrency == 0 {
		p.Concurrency = 1
	}
	if p.Duration == 0 {
		p.Duration = MaxDuration
	}
	if p.Requests == 0 {
		p.Requests = MaxRequests
	}
	if p.Timeout == 0 {
		p.Timeout = DefaultTimeout
	}
	if p.ProgressEvery <= 0 {
		p.ProgressEvery = time.Second
	}
	var errs []error
	if p.Concurrency < 1 || p.Concurrency > MaxConcurrency {
		errs = append(errs, fmt.Errorf("concurrency %d is out of range (1 to %d)", p.Concurrency, MaxConcurrency))
	}
	if p.Rate < 0 || p.Rate > MaxRate {
		errs = append(errs, fmt.Errorf("rate %g is out of range (0 to %d a second)", p.Rate, MaxRate))
	}
	if p.Duration < 0 || p.Duration > MaxDuration {
		errs = append(errs, fmt.Errorf("duration %s is out of range (up to %s)", p.Duration, MaxDuration))
	}
	if p.Requests < 0 || p.Requests > MaxRequests {
		errs = append(errs, fmt.Errorf("requests %d is out of range (up to %d)", p.Requests, MaxRequests))
	}
	if p.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout %s is negative", p.Timeout))
	}
	return errors.Join(errs...)
}

// maxStatus bounds the statuses recorded apart: HTTP statuses are three
// digits; anything else is recorded as 0.
const maxStatus = 1000

// recorder collects outcomes from many goroutines.
type recorder struct {
	hist     *Histogram
	byStatus [maxStatus]atomic.Pointer[Histogram] // created on first use
	requests atomic.Int64
	ok       atomic.Int64
	failed   atomic.Int64

	mu      sync.Mutex
	errs    map[string]int64
	samples map[string]string
}

func newRecorder() *recorder {
	return &recorder{hist: NewHistogram(), errs: map[string]int64{}, samples: map[string]string{}}
}

// statusHist returns the histogram of status st, creating it once.
func (r *recorder) statusHist(st int) *Histogram {
	if st < 0 || st >= maxStatus {
		st = 0
	}
	if h := r.byStatus[st].Load(); h != nil {
		return h
	}
	h := NewHistogram()
	if r.byStatus[st].CompareAndSwap(nil, h) {
		return h
	}
	return r.byStatus[st].Load()
}

func (r *recorder) record(o Outcome, lat time.Duration, ctxErr error) {
	r.hist.Record(lat)
	r.statusHist(o.Status).Record(lat)
	r.requests.Add(1)
	if o.Err == nil && o.Status >= 200 && o.Status < 300 {
		r.ok.Add(1)
		return
	}
	r.failed.Add(1)
	var key string
	switch {
	case o.Status == 0 && (errors.Is(o.Err, context.DeadlineExceeded) || errors.Is(ctxErr, context.DeadlineExceeded)):
		key = "timeout"
	case o.Status == 0:
		key = "conn"
	case o.Status >= 200 && o.Status < 300:
		key = strconv.Itoa(o.Status) + " unexpected"
	case o.Code != "":
		key = strconv.Itoa(o.Status) + " " + o.Code
	default:
		key = strconv.Itoa(o.Status)
	}
	r.mu.Lock()
	r.errs[key]++
	if _, ok := r.samples[key]; !ok && o.Err != nil {
		r.samples[key] = o.Err.Error()
	}
	r.mu.Unlock()
}

func (r *recorder) result(p Plan, elapsed time.Duration) *Result {
	mode := "closed"
	if p.Rate > 0 {
		mode = "open"
	}
	byStatus := map[int]*Histogram{}
	for st := range r.byStatus {
		if h := r.byStatus[st].Load(); h != nil {
			byStatus[st] = h
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return &Result{
		Mode: mode, Concurrency: p.Concurrency, Rate: p.Rate, Elapsed: elapsed,
		Requests: r.requests.Load(), OK: r.ok.Load(),
		Errors: maps.Clone(r.errs), ErrorSamples: maps.Clone(r.samples),
		Latency: r.hist.Summary(), Histogram: r.hist, ByStatus: byStatus,
	}
}

// Run drives do according to p until a bound is reached or ctx is done,
// and returns what it measured. It returns an error only for an invalid
// plan; a cancelled ctx ends the run early with the result so far.
func Run(ctx context.Context, p Plan, do Do) (*Result, error) {
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("load plan: %w", err)
	}
	rec := newRecorder()
	start := time.Now()
	deadline := start.Add(p.Duration)
	e := &ending{ch: make(chan struct{})}
	timer := time.AfterFunc(p.Duration, e.end)
	stopWatch := context.AfterFunc(ctx, e.end)
	ctx = context.WithValue(ctx, endingKey{}, e.ch)
	stopProgress := startProgress(p, rec, start)
	var missed int64
	if p.Rate > 0 {
		missed = openLoop(ctx, p, do, rec, start, deadline, e)
	} else {
		closedLoop(ctx, p, do, rec, deadline, e)
	}
	elapsed := time.Since(start)
	timer.Stop()
	stopWatch()
	e.end()
	stopProgress()
	res := rec.result(p, elapsed)
	res.Missed = missed
	return res, nil
}

// ending is closed once a run has reached a bound or its context is done.
type ending struct {
	once sync.Once
	ch   chan struct{}
}

func (e *ending) end() { e.once.Do(func() { close(e.ch) }) }

type endingKey struct{}

// Ending returns a channel that is closed when the run that passed ctx to
// Do has reached one of its bounds or was cancelled; nil (never ready)
// outside a run. A Do that waits for other workers, as at a barrier, must
// stop waiting then: the workers it waits for may have stopped.
func Ending(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(endingKey{}).(chan struct{})
	return ch
}

func startProgress(p Plan, rec *recorder, start time.Time) (stop func()) {
	if p.Progress == nil {
		return func() {}
	}
	return every(p.ProgressEvery, func() {
		p.Progress(Progress{Elapsed: time.Since(start), Requests: rec.requests.Load(), Errors: rec.failed.Load()})
	})
}

// every calls f every d from a goroutine of its own until stop is called;
// stop returns once f no longer runs.
func every(d time.Duration, f func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				f()
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// call runs one request under the per-request timeout and records it
// unless it is skipped. It reports whether it was skipped.
func call(ctx context.Context, p Plan, do Do, rec *recorder, worker int, from time.Time) bool {
	rctx, cancel := context.WithTimeout(ctx, p.Timeout)
	o := do(rctx, worker)
	lat := time.Since(from)
	ctxErr := rctx.Err()
	cancel()
	if o.Skip {
		return true
	}
	rec.record(o, lat, ctxErr)
	return false
}

func closedLoop(ctx context.Context, p Plan, do Do, rec *recorder, deadline time.Time, e *ending) {
	var issued atomic.Int64
	var wg sync.WaitGroup
	for w := range p.Concurrency {
		wg.Go(func() {
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(deadline) {
					return
				}
				if issued.Add(1) > p.Requests {
					e.end()
					return
				}
				if call(ctx, p, do, rec, w, t0) {
					issued.Add(-1) // a skipped call is not a request
				}
			}
		})
	}
	wg.Wait()
}

// openLoop starts request i at start + i/Rate, waiting for a free slot if
// all are busy; the latency runs from the scheduled time. It returns how
// many requests were due before the end but never sent.
func openLoop(ctx context.Context, p Plan, do Do, rec *recorder, start, deadline time.Time, e *ending) (missed int64) {
	free := make(chan int, p.Concurrency)
	for w := range p.Concurrency {
		free <- w
	}
	interval := float64(time.Second) / p.Rate
	end := time.NewTimer(time.Until(deadline))
	defer end.Stop()
	wait := time.NewTimer(0)
	defer wait.Stop()
	var wg sync.WaitGroup
	var sent int64
loop:
	for i := int64(0); i < p.Requests; i++ {
		at := start.Add(time.Duration(float64(i) * interval))
		if !at.Before(deadline) {
			break
		}
		if d := time.Until(at); d > 0 {
			wait.Reset(d)
			select {
			case <-ctx.Done():
				break loop
			case <-end.C:
				break loop
			case <-wait.C:
			}
		}
		var w int
		select {
		case <-ctx.Done():
			break loop
		case <-end.C:
			break loop
		case w = <-free:
		}
		sent++
		wg.Go(func() {
			call(ctx, p, do, rec, w, at)
			free <- w
		})
	}
	e.end()
	wg.Wait()
	if ctx.Err() != nil {
		return 0
	}
	due := int64(math.Ceil(float64(p.Duration) / interval))
	return max(min(due, p.Requests)-sent, 0)
}
