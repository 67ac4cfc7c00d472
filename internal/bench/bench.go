// Package bench is `bulwark bench`: it drives a Bulwark server with the
// load generator of internal/loadgen and prints throughput and latency
// beside two baselines measured in the same run, so that the ratios
// compare numbers taken on the same machine at the same time:
//
//   - "bare": a bare net/http handler that writes a small JSON body, served
//     on loopback by this process, behind the same client and plan. It is
//     the baseline of every scenario that is not bound by password hashing.
//   - "hash": the raw password hash rate, the configured Hasher's Verify
//     called directly from GOMAXPROCS goroutines. It is the baseline of
//     login and signup, whose cost is one hash each.
//
// By default the server runs in-process: the command's own, through Deps,
// with a Config from the environment and the flags, in dev mode, that bench
// adjusts so that the measurement is not limited by what it is not
// measuring: a fresh data directory, email verification off and every rate
// limit raised.
// RSS and CPU time are then the whole process's: server, load generator and
// baselines. With --target it measures a running server instead; RSS is
// then unknown and CPU time is the load generator's.
//
// Scenarios are entries of benchScenarios; each prepares its state (tokens,
// families) before the clock starts and returns the one request its workers
// repeat. The flood scenario (not in the default set) is more: it starts a
// server of its own with the default login limits and loopback as a trusted
// proxy, and measures legitimate users idle and under a credential-stuffing
// flood at 10× the hash-verify baseline (see runFlood).
package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/loadgen"
	"github.com/bulwarkauth/bulwark/internal/password"
)

// Bounds of a bench run.
const (
	benchMaxDuration = 5 * time.Minute  // per scenario
	benchMaxTotal    = 60 * time.Minute // the whole run, whatever --max-total
	benchMaxUsers    = 100_000          // seeded through the API; the 1M-user scenario seeds otherwise
	// benchLimit is the rate limit bench gives every limiter of the
	// in-process server: the largest the configuration accepts.
	benchLimit = "1000000/1s"
)

// benchOptions are bench's own flags; every other flag is a setting.
type benchOptions struct {
	scenarios       []string
	concurrency     int
	hashConcurrency int
	stormClients    int
	rate            float64
	duration        time.Duration
	requests        int64
	maxTotal        time.Duration
	users           int
	json            bool
	target          string
	allowRemote     bool
	// The scale scenario's: users of its large phase, the most users its
	// /v1/me loads draw from, and the PostgreSQL server it creates its
	// databases on (SQLite when empty).
	scaleUsers       int
	scaleSample      int
	scaleDatabaseURL string
}

func defaultBenchOptions() benchOptions {
	return benchOptions{
		scenarios:       defaultScenarios(),
		concurrency:     32,
		hashConcurrency: runtime.GOMAXPROCS(0),
		stormClients:    20,
		duration:        10 * time.Second,
		maxTotal:        15 * time.Minute,
		users:           100,
		scaleUsers:      scaleDefaultUsers,
		scaleSample:     scaleDefaultSample,
	}
}

// Usage is bench's synopsis, as usage errors and help print it.
const Usage = `usage: bulwark bench [--scenario a,b,…] [--concurrency 32] [--duration 10s]
  [--users 100] [--rate N] [--requests N] [--hash-concurrency N] [--storm-clients 20]
  [--max-total 15m] [--json] [--target URL [--allow-remote]]
  [--scale-users 1000000] [--scale-sample 50000] [--scale-database-url postgres://…]
  [--setting-name=value …]`

// parseBenchArgs separates bench's flags from the settings, whose
// arguments it returns for Deps.ParseFlags. The options are not validated
// yet: see validate.
func parseBenchArgs(args []string) (benchOptions, []string, error) {
	o := defaultBenchOptions()
	var rest []string
	var errs []error
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") {
			return o, nil, usagef("bench: unexpected argument %q", a)
		}
		switch name {
		case "json", "allow-remote":
			b := true
			if hasValue {
				var err error
				if b, err = strconv.ParseBool(value); err != nil {
					errs = append(errs, fmt.Errorf("--%s takes true or false", name))
				}
			}
			if name == "json" {
				o.json = b
			} else {
				o.allowRemote = b
			}
			continue
		case "scenario", "scenarios", "concurrency", "hash-concurrency", "storm-clients", "rate",
			"duration", "requests", "max-total", "users", "target", "scale-users", "scale-sample", "scale-database-url":
		case "help", "h":
			return o, nil, usagef("bench: see bulwark help bench")
		default:
			rest = append(rest, a)
			if !hasValue && name != "dev" && i+1 < len(args) {
				i++
				rest = append(rest, args[i])
			}
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return o, nil, fmt.Errorf("flag --%s needs a value", name)
			}
			i++
			value = args[i]
		}
		if err := o.set(name, value); err != nil {
			errs = append(errs, err)
		}
	}
	return o, rest, errors.Join(errs...)
}

func (o *benchOptions) set(name, value string) error {
	atoi := func(lo, hi int) (int, error) {
		n, err := strconv.Atoi(value)
		if err != nil || n < lo || n > hi {
			return 0, fmt.Errorf("--%s: %q is not a whole number from %d to %d", name, value, lo, hi)
		}
		return n, nil
	}
	dur := func(lo, hi time.Duration) (time.Duration, error) {
		d, err := time.ParseDuration(value)
		if err != nil || d < lo || d > hi {
			return 0, fmt.Errorf("--%s: %q is not a duration from %s to %s", name, value, lo, hi)
		}
		return d, nil
	}
	var err error
	switch name {
	case "scenario", "scenarios":
		o.scenarios = nil
		for s := range strings.SplitSeq(value, ",") {
			if s = strings.TrimSpace(s); s == "all" {
				o.scenarios = append(o.scenarios, defaultScenarios()...)
			} else if s != "" {
				o.scenarios = append(o.scenarios, s)
			}
		}
	case "concurrency":
		o.concurrency, err = atoi(1, 1000)
	case "hash-concurrency":
		o.hashConcurrency, err = atoi(1, 1000)
	case "storm-clients":
		o.stormClients, err = atoi(2, 1000)
	case "users":
		o.users, err = atoi(1, benchMaxUsers)
	case "requests":
		var n int
		n, err = atoi(0, loadgen.MaxRequests)
		o.requests = int64(n)
	case "rate":
		o.rate, err = strconv.ParseFloat(value, 64)
		if err != nil || o.rate < 0 || o.rate > loadgen.MaxRate {
			err = fmt.Errorf("--rate: %q is not a rate from 0 (closed loop) to %d a second", value, loadgen.MaxRate)
		}
	case "duration":
		o.duration, err = dur(10*time.Millisecond, benchMaxDuration)
	case "max-total":
		o.maxTotal, err = dur(time.Second, benchMaxTotal)
	case "target":
		o.target = value
	case "scale-users":
		o.scaleUsers, err = atoi(scaleMinUsers, scaleMaxUsers)
	case "scale-sample":
		o.scaleSample, err = atoi(1, scaleMaxUsers)
	case "scale-database-url":
		// Never echo the value: it may hold a password.
		if !strings.HasPrefix(value, "postgres://") && !strings.HasPrefix(value, "postgresql://") {
			err = errors.New("--scale-database-url: want a postgres:// URL (SQLite is the default)")
		}
		o.scaleDatabaseURL = value
	}
	return err
}

func (o *benchOptions) validate() error {
	var errs []error
	if len(o.scenarios) == 0 {
		errs = append(errs, errors.New("--scenario: name at least one scenario"))
	}
	seen := map[string]bool{}
	for _, s := range o.scenarios {
		if scenarioByName(s) == nil {
			errs = append(errs, fmt.Errorf("--scenario: unknown scenario %q (known: %s)", s, strings.Join(scenarioNames(), ", ")))
		}
		if seen[s] {
			errs = append(errs, fmt.Errorf("--scenario: %q named twice", s))
		}
		seen[s] = true
	}
	// Two baselines and every scenario each take up to --duration, some
	// scenarios more than one.
	runs := 2
	for _, name := range o.scenarios {
		if s := scenarioByName(name); s != nil {
			runs += max(s.runs, 1)
			if s.run != nil && o.target != "" {
				errs = append(errs, fmt.Errorf("--scenario %s: starts servers of its own in-process, so it cannot measure --target", name))
			}
		}
	}
	if o.scaleDatabaseURL != "" && !slices.Contains(o.scenarios, "scale") {
		errs = append(errs, errors.New("--scale-database-url: only the scale scenario uses it; add --scenario scale"))
	}
	if need := time.Duration(runs) * o.duration; need > o.maxTotal {
		errs = append(errs, fmt.Errorf("%d runs of %s take %s, more than --max-total %s", runs, o.duration, need, o.maxTotal))
	}
	return errors.Join(errs...)
}

// benchScenario is one measured workload.
type benchScenario struct {
	name  string
	about string
	// baseline is "bare" or "hash": what its throughput is divided by.
	baseline string
	// inDefault marks the scenarios of a run without --scenario.
	inDefault bool
	// concurrency picks its number of workers from the options.
	concurrency func(o benchOptions) int
	// prepare sets up the scenario's state before the clock starts and
	// returns its request and, optionally, counters reported as notes.
	prepare func(ctx context.Context, b *bencher, workers int) (loadgen.Do, func() map[string]int64, error)
	// run, when set instead of prepare, runs a scenario that is more than
	// one load (flood): it gets the baselines' throughputs by name and
	// starts its own server, so the users seeded on the shared one are not
	// needed. runs is how many --duration long runs it takes.
	run  func(ctx context.Context, b *bencher, baselines map[string]float64) (benchRow, error)
	runs int
}

func benchScenarios() []*benchScenario {
	conc := func(o benchOptions) int { return o.concurrency }
	hashing := func(o benchOptions) int { return o.hashConcurrency }
	storm := func(o benchOptions) int { return o.stormClients }
	return []*benchScenario{
		{name: "me-bearer", about: "GET /v1/me with an access token", baseline: "bare", inDefault: true, concurrency: conc, prepare: prepareMeBearer},
		{name: "me-cookie", about: "GET /v1/me with a session cookie", baseline: "bare", inDefault: true, concurrency: conc, prepare: prepareMeCookie},
		{name: "login", about: "POST /v1/token, password grant", baseline: "hash", inDefault: true, concurrency: hashing, prepare: prepareLogin},
		{name: "login-cookie", about: "POST /v1/session", baseline: "hash", concurrency: hashing, prepare: prepareLoginCookie},
		{name: "refresh", about: "POST /v1/token, refresh grant, one family per client", baseline: "bare", inDefault: true, concurrency: conc, prepare: prepareRefresh},
		{name: "signup", about: "POST /v1/signup of a new address", baseline: "hash", inDefault: true, concurrency: hashing, prepare: prepareSignup},
		{name: "refresh-storm", about: "many clients refreshing one family at once", baseline: "bare", inDefault: true, concurrency: storm, prepare: prepareRefreshStorm},
		{name: "mixed", about: "80% me-bearer, 10% refresh, 5% login, 5% me-cookie", baseline: "bare", inDefault: true, concurrency: conc, prepare: prepareMixed},
		{name: "flood", about: "GET /v1/me by bearer under a login flood at 10× the hash rate", concurrency: func(benchOptions) int { return floodMeClients }, run: runFlood, runs: 2},
		{name: "scale", about: "1k vs --scale-users users and sessions: /v1/me by cookie and bearer, token login", concurrency: conc, run: runScale, runs: 6},
	}
}

func defaultScenarios() []string {
	var out []string
	for _, s := range benchScenarios() {
		if s.inDefault {
			out = append(out, s.name)
		}
	}
	return out
}

func scenarioNames() []string {
	var out []string
	for _, s := range benchScenarios() {
		out = append(out, s.name)
	}
	return out
}

func scenarioByName(name string) *benchScenario {
	for _, s := range benchScenarios() {
		if s.name == name {
			return s
		}
	}
	return nil
}

// Run is `bulwark bench`: args are its arguments after "bench". Mistakes on
// the command line are errors wrapping ErrUsage.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, d Deps) error {
	o, rest, err := parseBenchArgs(args)
	if err != nil {
		return err
	}
	// bench always configures its server in dev mode: --dev changes nothing.
	_, flags, err := d.ParseFlags(rest)
	if err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.maxTotal)
	defer cancel()

	rep := &Report{
		Version: d.Version, Machine: machine(), Users: o.users, Duration: o.duration.String(),
		Concurrency: o.concurrency, Rate: o.rate,
	}
	var base *url.URL
	var cfg *Config
	if o.target != "" {
		if base, err = loadgen.CheckTarget(ctx, o.target, o.allowRemote); err != nil {
			return err
		}
		// The settings still give the hasher of the hash baseline.
		if cfg, err = d.LoadConfig(getenv, flags); err != nil {
			return fmt.Errorf("configuration refused: %w", err)
		}
		rep.Target = base.String()
		fmt.Fprintf(stderr, "bench: target %s; the hash baseline uses this machine's %s\n", base, hasherName(cfg))
	} else {
		srv, err := startBenchServer(ctx, d, getenv, flags, stderr, false)
		if err != nil {
			return err
		}
		defer srv.stop()
		base, cfg = srv.url, srv.cfg
		rep.Target, rep.Database = "in-process", cfg.DatabaseDriver
	}
	rep.Hasher = hasherName(cfg)

	b := &bencher{opt: o, base: base, stderr: stderr, inProcess: o.target == "", runID: benchRandomHex(4), password: benchRandomHex(16),
		deps: d, getenv: getenv, flags: flags}
	b.progressTTY = d.IsTerminal != nil && d.IsTerminal(stderr)
	if slices.ContainsFunc(o.scenarios, func(name string) bool { return scenarioByName(name).run == nil }) {
		if err := b.seed(ctx); err != nil {
			return err
		}
	}

	bare, err := b.runBare(ctx)
	if err != nil {
		return err
	}
	hash, err := b.runHash(ctx, cfg)
	if err != nil {
		return err
	}
	rep.Baselines = []benchRow{bare, hash}
	baselines := map[string]float64{"bare": bare.Throughput, "hash": hash.Throughput}

	for _, name := range o.scenarios {
		s := scenarioByName(name)
		var row benchRow
		if s.run != nil {
			row, err = s.run(ctx, b, baselines)
		} else {
			row, err = b.runScenario(ctx, s)
		}
		if err != nil {
			return fmt.Errorf("scenario %s: %w", name, err)
		}
		row.Baseline = s.baseline
		if bt := baselines[s.baseline]; bt > 0 && s.baseline != "" {
			row.Ratio = row.Throughput / bt
		}
		rep.Scenarios = append(rep.Scenarios, row)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bench stopped: %w", err)
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.WriteTable(stdout)
}

// benchServer is the in-process server bench starts.
type benchServer struct {
	url  *url.URL
	cfg  *Config
	stop func()
}

// benchForced are the settings bench gives its in-process server whatever
// the environment says; a flag on the command line still wins for those
// that are not about where the server lives.
func benchForced(dataDir string) map[string]string {
	return map[string]string{
		"BULWARK_ADDR":                  "127.0.0.1:0",
		"BULWARK_ADMIN_ADDR":            "off",
		"BULWARK_DATA_DIR":              dataDir,
		"BULWARK_DATABASE_URL":          "", // default: SQLite under dataDir
		"BULWARK_MAIL_URL":              "", // default: files under dataDir
		"BULWARK_EMAIL_VERIFICATION":    "off",
		"BULWARK_LOGIN_LIMIT_PER_IP":    benchLimit,
		"BULWARK_LOGIN_LIMIT_PER_EMAIL": benchLimit,
		"BULWARK_RESET_LIMIT_PER_EMAIL": benchLimit,
		"BULWARK_EMAIL_LIMIT_PER_IP":    benchLimit,
		"BULWARK_SIGNUP_LIMIT_PER_IP":   benchLimit,
		"BULWARK_TOKEN_LIMIT_PER_IP":    benchLimit,
	}
}

// floodForced are the settings of the flood scenario's own server: those of
// benchForced, except that the login limits are the defaults (unless a flag
// sets them) and loopback is a trusted proxy, so that the bench can present
// many client addresses in X-Forwarded-For. Signup stays raised: the users
// are seeded from loopback.
func floodForced(dataDir string) map[string]string {
	f := benchForced(dataDir)
	f["BULWARK_LOGIN_LIMIT_PER_IP"] = ""
	f["BULWARK_LOGIN_LIMIT_PER_EMAIL"] = ""
	f["BULWARK_TOKEN_LIMIT_PER_IP"] = ""
	f["BULWARK_TRUSTED_PROXIES"] = "127.0.0.1/32,::1/128"
	return f
}

// startBenchServer starts the server (Config.Serve) in-process on a
// loopback port with a fresh data directory, and waits until /healthz
// answers. flood gives it the settings of floodForced instead of
// benchForced.
func startBenchServer(ctx context.Context, d Deps, getenv func(string) string, flags map[string]string, stderr io.Writer, flood bool) (*benchServer, error) {
	for _, f := range []string{"addr", "data-dir"} {
		if _, ok := flags[f]; ok {
			return nil, fmt.Errorf("--%s: bench chooses its own (a loopback port and a temporary directory)", f)
		}
	}
	dir, err := os.MkdirTemp("", "bulwark-bench-")
	if err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	forced := benchForced(dir)
	if flood {
		forced = floodForced(dir)
	}
	env := func(k string) string {
		if v, ok := forced[k]; ok {
			return v
		}
		return getenv(k)
	}
	cfg, err := d.LoadConfig(env, flags)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("configuration refused: %w", err)
	}
	var adjusted []string
	if !cfg.EmailVerificationRequired {
		adjusted = append(adjusted, "email verification off")
	}
	if cfg.LoginLimitPerIP.N == 1_000_000 {
		adjusted = append(adjusted, "every rate limit raised to "+benchLimit)
	}
	where := "in " + dir
	if cfg.DatabaseDriver == "sqlite" {
		where = "at " + cfg.SQLitePath
	} else if cfg.DatabaseDriver == "postgres" {
		where = "from --database-url" // never printed: it may hold a password
	}
	if flood {
		var proxies []string
		for _, p := range cfg.TrustedProxies {
			proxies = append(proxies, p.String())
		}
		fmt.Fprintf(stderr, "bench: flood server in-process in dev mode: %s database %s, trusted proxies %s, login limits %s per IP and %s per email, email verification off, signup limit raised for seeding\n",
			cfg.DatabaseDriver, where, strings.Join(proxies, ","), fmtLimit(cfg.LoginLimitPerIP), fmtLimit(cfg.LoginLimitPerEmail))
	} else {
		fmt.Fprintf(stderr, "bench: in-process server in dev mode: %s database %s, %s (the environment's database, mail, verification and limit settings are ignored; flags still apply)\n",
			cfg.DatabaseDriver, where, strings.Join(adjusted, ", "))
	}

	sctx, stopServer := context.WithCancel(context.WithoutCancel(ctx))
	w := &listenWatcher{addr: make(chan string, 1)}
	done := make(chan error, 1)
	go func() { done <- cfg.Serve(sctx, w, io.Discard) }()
	cleanup := func() {
		stopServer()
		select {
		case <-done:
		case <-time.After(d.ShutdownTimeout + 5*time.Second):
		}
		os.RemoveAll(dir)
	}
	var addr string
	select {
	case addr = <-w.addr:
	case err := <-done:
		stopServer()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("in-process server: %w", err)
	case <-time.After(30 * time.Second):
		cleanup()
		return nil, errors.New("in-process server did not start within 30s")
	case <-ctx.Done():
		cleanup()
		return nil, ctx.Err()
	}
	u := &url.URL{Scheme: "http", Host: addr}
	c := loadgen.NewClient(1, false)
	defer c.CloseIdleConnections()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		st, _, _, err := exchange(ctx, c, http.MethodGet, u.String()+"/healthz", nil, "", nil)
		if err == nil && st == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			cleanup()
			return nil, fmt.Errorf("in-process server: /healthz did not answer 200 within 10s (%d, %v)", st, err)
		}
	}
	return &benchServer{url: u, cfg: cfg, stop: cleanup}, nil
}

// listenWatcher is the server's stdout: it finds the address of the
// "listening" record and discards every line, as a log shipper would.
type listenWatcher struct {
	mu    sync.Mutex
	found bool
	buf   []byte
	addr  chan string
}

func (w *listenWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.found {
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	for {
		line, rest, ok := bytes.Cut(w.buf, []byte("\n"))
		if !ok {
			break
		}
		w.buf = rest
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(line, &rec) == nil && rec.Msg == "listening" && rec.Addr != "" {
			w.found, w.buf = true, nil
			w.addr <- rec.Addr
			break
		}
	}
	return len(p), nil
}

// benchUser is a seeded account and what its sign-ins gave.
type benchUser struct {
	email   string
	refresh string // newest refresh token of the user's own family
	access  string
	cookie  *http.Cookie // session cookie
}

// bencher runs baselines and scenarios against one server.
type bencher struct {
	opt         benchOptions
	base        *url.URL
	stderr      io.Writer
	progressTTY bool
	inProcess   bool
	runID       string
	password    string
	users       []*benchUser
	signups     atomic.Int64
	// deps, getenv and flags configure the servers of scenarios that
	// start their own.
	deps   Deps
	getenv func(string) string
	flags  map[string]string
}

func (b *bencher) url(path string) string { return b.base.String() + path }

func (b *bencher) email(kind string, i int64) string {
	return fmt.Sprintf("bench-%s-%s%d@example.com", b.runID, kind, i)
}

// seed creates the users through the API, and signs in (token and cookie)
// as many of them as a scenario runs clients at once.
func (b *bencher) seed(ctx context.Context) error {
	start := time.Now()
	n := b.opt.users
	signedIn := min(n, max(b.opt.concurrency, b.opt.stormClients, b.opt.hashConcurrency))
	b.users = make([]*benchUser, n)
	for i := range b.users {
		b.users[i] = &benchUser{email: b.email("u", int64(i))}
	}
	c := loadgen.NewClient(b.opt.hashConcurrency, b.opt.allowRemote)
	defer c.CloseIdleConnections()
	var next atomic.Int64
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for range b.opt.hashConcurrency {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				u := b.users[i]
				err := b.retryBusy(ctx, func() error { return b.signup(ctx, c, u.email) })
				if err == nil && i < signedIn {
					err = b.retryBusy(ctx, func() error { return b.tokenLogin(ctx, c, u) })
				}
				if err == nil && i < signedIn {
					err = b.retryBusy(ctx, func() error { return b.cookieLogin(ctx, c, u) })
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("seed users: %w", errs[0])
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	fmt.Fprintf(b.stderr, "bench: seeded %d users (%d signed in by token and cookie) in %s\n", n, signedIn, time.Since(start).Round(time.Millisecond))
	return nil
}

// errBusy is a 503 answer, retried while seeding.
var errBusy = errors.New("server busy (503)")

func (b *bencher) retryBusy(ctx context.Context, f func() error) error {
	for attempt := 0; ; attempt++ {
		err := f()
		if !errors.Is(err, errBusy) || attempt == 20 {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// answer is every field bench reads from a JSON answer.
type answer struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	DeviceToken  string `json:"device_token"`
	CSRFToken    string `json:"csrf_token"`
	Code         string `json:"code"`
	User         *struct {
		ID string `json:"id"`
	} `json:"user"`
}

// exchange sends one request. It decodes the answer when asked to (out
// non-nil) and always for a non-2xx answer, to read its problem code.
func exchange(ctx context.Context, c *http.Client, method, u string, body []byte, bearer string, cookie *http.Cookie) (int, *answer, []*http.Cookie, error) {
	return exchangeFrom(ctx, c, method, u, body, bearer, cookie, "", "")
}

// exchangeFrom is exchange presenting client address from in
// X-Forwarded-For and device token device in X-Device-Token, when they are
// not empty.
func exchangeFrom(ctx context.Context, c *http.Client, method, u string, body []byte, bearer string, cookie *http.Cookie, from, device string) (int, *answer, []*http.Cookie, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return 0, nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	if from != "" {
		req.Header.Set("X-Forwarded-For", from)
	}
	if device != "" {
		req.Header.Set("X-Device-Token", device)
	}
	res, err := c.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 1<<16))
	if err != nil {
		return res.StatusCode, nil, nil, err
	}
	a := &answer{}
	if len(raw) > 0 && (method != http.MethodGet || res.StatusCode >= 300) {
		_ = json.Unmarshal(raw, a)
	}
	return res.StatusCode, a, res.Cookies(), nil
}

// outcome turns an exchange into a loadgen outcome.
func outcome(st int, a *answer, err error) loadgen.Outcome {
	o := loadgen.Outcome{Status: st, Err: err}
	if a != nil && (st < 200 || st >= 300) {
		o.Code = a.Code
	}
	return o
}

// getOutcome is a GET whose answer is drained, not decoded, when it is 2xx.
func getOutcome(ctx context.Context, c *http.Client, u, bearer string, cookie *http.Cookie) loadgen.Outcome {
	st, a, _, err := exchange(ctx, c, http.MethodGet, u, nil, bearer, cookie)
	return outcome(st, a, err)
}

func statusErr(what string, st int, a *answer, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	code := ""
	if a != nil {
		code = a.Code
	}
	if st == http.StatusServiceUnavailable {
		return fmt.Errorf("%s: %w", what, errBusy)
	}
	return fmt.Errorf("%s: status %d %s", what, st, code)
}

func jsonBody(v map[string]string) []byte {
	b, _ := json.Marshal(v)
	return b
}

func (b *bencher) signup(ctx context.Context, c *http.Client, email string) error {
	st, a, _, err := exchange(ctx, c, http.MethodPost, b.url("/v1/signup"), jsonBody(map[string]string{"email": email, "password": b.password}), "", nil)
	if err != nil || st != http.StatusCreated {
		if st == http.StatusAccepted {
			return fmt.Errorf("signup %s: 202: email verification is on at the target; bench needs BULWARK_EMAIL_VERIFICATION=off there", email)
		}
		return statusErr("signup "+email, st, a, err)
	}
	return nil
}

func (b *bencher) passwordGrant(ctx context.Context, c *http.Client, email string) (int, *answer, error) {
	return b.passwordGrantFrom(ctx, c, email, b.password, "", "")
}

// passwordGrantFrom is a password grant of any password from client
// address from (X-Forwarded-For; none when empty).
func (b *bencher) passwordGrantFrom(ctx context.Context, c *http.Client, email, password, from, device string) (int, *answer, error) {
	st, a, _, err := exchangeFrom(ctx, c, http.MethodPost, b.url("/v1/token"),
		jsonBody(map[string]string{"grant_type": "password", "email": email, "password": password}), "", nil, from, device)
	if err == nil && st == http.StatusOK && (a.AccessToken == "" || a.RefreshToken == "") {
		err = errors.New("token answer without tokens")
	}
	return st, a, err
}

func (b *bencher) refreshGrant(ctx context.Context, c *http.Client, rt string) (int, *answer, error) {
	st, a, _, err := exchange(ctx, c, http.MethodPost, b.url("/v1/token"),
		jsonBody(map[string]string{"grant_type": "refresh_token", "refresh_token": rt}), "", nil)
	if err == nil && st == http.StatusOK && a.RefreshToken == "" {
		err = errors.New("refresh answer without a refresh token")
	}
	return st, a, err
}

func (b *bencher) tokenLogin(ctx context.Context, c *http.Client, u *benchUser) error {
	st, a, err := b.passwordGrant(ctx, c, u.email)
	if err != nil || st != http.StatusOK {
		return statusErr("token login "+u.email, st, a, err)
	}
	u.access, u.refresh = a.AccessToken, a.RefreshToken
	return nil
}

func (b *bencher) cookieLogin(ctx context.Context, c *http.Client, u *benchUser) error {
	st, a, cookies, err := exchange(ctx, c, http.MethodPost, b.url("/v1/session"),
		jsonBody(map[string]string{"email": u.email, "password": b.password}), "", nil)
	if err != nil || st != http.StatusOK {
		return statusErr("cookie login "+u.email, st, a, err)
	}
	for _, ck := range cookies {
		// bulwark_session in dev, __Host-bulwark_session in production.
		if strings.HasSuffix(ck.Name, "bulwark_session") && ck.Value != "" {
			u.cookie = &http.Cookie{Name: ck.Name, Value: ck.Value}
		}
	}
	if u.cookie == nil {
		return fmt.Errorf("cookie login %s: no session cookie", u.email)
	}
	return nil
}

// freshAccessTokens rotates the seeded families of the first n users so
// their access tokens are new: a long run must not outlive them.
func (b *bencher) freshAccessTokens(ctx context.Context, c *http.Client, n int) error {
	for _, u := range b.users[:min(n, len(b.users))] {
		st, a, err := b.refreshGrant(ctx, c, u.refresh)
		if err != nil || st != http.StatusOK {
			return statusErr("refresh "+u.email, st, a, err)
		}
		u.access, u.refresh = a.AccessToken, a.RefreshToken
	}
	return nil
}

// benchRow is one line of the report.
type benchRow struct {
	Name        string  `json:"name"`
	About       string  `json:"about"`
	Baseline    string  `json:"baseline,omitempty"`
	Ratio       float64 `json:"ratio,omitempty"`
	Mode        string  `json:"mode"`
	Concurrency int     `json:"concurrency"`
	Rate        float64 `json:"rate,omitempty"`
	Requests    int64   `json:"requests"`
	OK          int64   `json:"ok"`
	Missed      int64   `json:"missed,omitempty"`
	Elapsed     float64 `json:"elapsed_s"`
	// Throughput is successful requests a second.
	Throughput   float64           `json:"throughput_per_s"`
	Latency      benchLatency      `json:"latency_ms"`
	Errors       map[string]int64  `json:"errors"`
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
	// RSSBytes is the peak resident set size seen during the run; null
	// when the server is not in this process.
	RSSBytes *int64 `json:"rss_bytes"`
	// CPU is this process's and its children's user+system CPU time
	// during the run.
	CPU   float64          `json:"cpu_s"`
	Notes map[string]int64 `json:"notes,omitempty"`
	// Flood is the flood scenario's report; its row is the legitimate
	// /v1/me load under the flood.
	Flood *floodReport `json:"flood,omitempty"`
	// Scale is the scale scenario's report; its row is /v1/me by cookie
	// in its large phase.
	Scale *scaleReport `json:"scale,omitempty"`
}

type benchLatency struct {
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// measure runs one plan with a progress line and the process's RSS and CPU
// sampled around it.
func (b *bencher) measure(ctx context.Context, name, about string, workers int, rate float64, do loadgen.Do) (benchRow, error) {
	stopSampling := startRSSSampler()
	user0, sys0, _ := loadgen.CPUTime()
	res, err := loadgen.Run(ctx, loadgen.Plan{
		Concurrency: workers, Rate: rate, Duration: b.opt.duration, Requests: b.opt.requests,
		Progress: func(p loadgen.Progress) { b.progress(name, p) },
	}, do)
	peak := stopSampling()
	if err != nil {
		b.progressDone("")
		return benchRow{}, err
	}
	b.progressDone(fmt.Sprintf("bench: %-13s done in %.1fs: %d requests, %d errors, %.1f/s",
		name, res.Elapsed.Seconds(), res.Requests, res.ErrorCount(), res.Throughput()))
	user1, sys1, _ := loadgen.CPUTime()
	row := benchRow{
		Name: name, About: about, Mode: res.Mode, Concurrency: res.Concurrency, Rate: res.Rate,
		Requests: res.Requests, OK: res.OK, Missed: res.Missed, Elapsed: res.Elapsed.Seconds(),
		Throughput: res.Throughput(), Errors: res.Errors, ErrorSamples: res.ErrorSamples,
		Latency: benchLatency{
			P50: ms(res.Latency.P50), P95: ms(res.Latency.P95), P99: ms(res.Latency.P99),
			P999: ms(res.Latency.P999), Max: ms(res.Latency.Max), Mean: ms(res.Latency.Mean),
		},
		CPU: (user1 + sys1 - user0 - sys0).Seconds(),
	}
	if b.inProcess {
		row.RSSBytes = &peak
	}
	return row, ctx.Err()
}

// startRSSSampler samples the resident set size of this process and its
// children every 200 ms until the returned function is called; that
// returns the peak seen (0 where RSS is unknown).
func startRSSSampler() (stop func() int64) { return loadgen.SampleRSS(200 * time.Millisecond) }

// progress writes the progress line: rewritten in place on a terminal, one
// line a second otherwise.
func (b *bencher) progress(name string, p loadgen.Progress) {
	line := fmt.Sprintf("bench: %-13s %5.1fs %9d requests %6d errors", name, p.Elapsed.Seconds(), p.Requests, p.Errors)
	if b.progressTTY {
		fmt.Fprintf(b.stderr, "\r%s\x1b[K", line)
		return
	}
	fmt.Fprintln(b.stderr, line)
}

// progressDone ends the progress line of a run with a summary line.
func (b *bencher) progressDone(summary string) {
	if b.progressTTY {
		fmt.Fprint(b.stderr, "\r\x1b[K")
	}
	if summary != "" {
		fmt.Fprintln(b.stderr, summary)
	}
}

// runBare measures the bare handler: the same client, plan and loopback
// socket as the HTTP scenarios, and nothing behind them.
func (b *bencher) runBare(ctx context.Context) (benchRow, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return benchRow{}, fmt.Errorf("bare handler: %w", err)
	}
	type user struct {
		ID    string `json:"id"`
		Email string `json:"email"`
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"user": user{ID: "usr_0123456789abcdef", Email: "bench@example.com"}})
		}),
		ReadHeaderTimeout: b.deps.ReadHeaderTimeout,
	}
	go srv.Serve(ln)
	defer srv.Close()
	u := "http://" + ln.Addr().String() + "/v1/me"
	c := loadgen.NewClient(b.opt.concurrency, false)
	defer c.CloseIdleConnections()
	return b.measure(ctx, "bare-handler", "net/http handler writing a small JSON body", b.opt.concurrency, b.opt.rate,
		func(ctx context.Context, _ int) loadgen.Outcome {
			return getOutcome(ctx, c, u, "", nil)
		})
}

// runHash measures the raw hash rate: the configured hasher's Verify of a
// correct password from --hash-concurrency goroutines (default: GOMAXPROCS
// before any server raised it for its hashing workers), always closed-loop,
// on the caller's goroutines at normal priority.
func (b *bencher) runHash(ctx context.Context, cfg *Config) (benchRow, error) {
	procs := b.opt.hashConcurrency
	h, err := password.New(password.Config{Algorithm: password.Algorithm(cfg.PasswordHasher), BcryptCost: cfg.BcryptCost, Slots: procs})
	if err != nil {
		return benchRow{}, fmt.Errorf("hash baseline: %w", err)
	}
	enc, err := h.Hash(ctx, b.password)
	if err != nil {
		return benchRow{}, fmt.Errorf("hash baseline: %w", err)
	}
	return b.measure(ctx, "hash-verify", hasherName(cfg)+" Verify, --hash-concurrency goroutines", procs, 0,
		func(ctx context.Context, _ int) loadgen.Outcome {
			ok, _, err := h.Verify(ctx, b.password, enc)
			if err == nil && !ok {
				err = errors.New("verify: no match")
			}
			if err != nil {
				return loadgen.Outcome{Status: http.StatusInternalServerError, Err: err}
			}
			return loadgen.Outcome{Status: http.StatusOK}
		})
}

func (b *bencher) runScenario(ctx context.Context, s *benchScenario) (benchRow, error) {
	workers := s.concurrency(b.opt)
	do, notes, err := s.prepare(ctx, b, workers)
	if err != nil {
		return benchRow{}, err
	}
	row, err := b.measure(ctx, s.name, s.about, workers, b.opt.rate, do)
	if notes != nil {
		row.Notes = notes()
	}
	return row, err
}

// scenarioClient is a client for one scenario's workers.
func (b *bencher) scenarioClient(workers int) *http.Client {
	return loadgen.NewClient(workers, b.opt.allowRemote)
}

func prepareMeBearer(ctx context.Context, b *bencher, workers int) (loadgen.Do, func() map[string]int64, error) {
	c := b.scenarioClient(workers)
	if err := b.freshAccessTokens(ctx, c, workers); err != nil {
		return nil, nil, err
	}
	u := b.url("/v1/me")
	return func(ctx context.Context, w int) loadgen.Outcome {
		return getOutcome(ctx, c, u, b.users[w%len(b.users)].access, nil)
	}, nil, nil
}

func prepareMeCookie(_ context.Context, b *bencher, workers int) (loadgen.Do, func() map[string]int64, error) {
	c := b.scenarioClient(workers)
	u := b.url("/v1/me")
	return func(ctx context.Context, w int) loadgen.Outcome {
		return getOutcome(ctx, c, u, "", b.users[w%len(b.users)].cookie)
	}, nil, nil
}

// prepareLogin cycles through every seeded user.
func prepareLogin(_ context.Context, b *bencher, workers int) (loadgen.Do, func() map[string]int64, error) {
	c := b.scenarioClient(workers)
	var next atomic.Int64
	return func(ctx context.Context, _ int) loadgen.Outcome {
		u := b.users[int(next.Add(1)-1)%len(b.users)]
		return outcome(b.passwordGrant(ctx, c, u.email))
	}, nil, nil
}

func prepareLoginCookie(_ context.Context, b *bencher, workers int) (loadgen.Do, func() map[string]int64, error) {
	c := b.scenarioClient(workers)
	var next atomic.Int64
	u := b.url("/v1/session")
	return func(ctx context.Context, _ int) loadgen.Outcome {
		email := b.users[int(next.Add(1)-1)%len(b.users)].email
		st, a, _, err := exchange(ctx, c, http.MethodPost, u, jsonBody(map[string]string{"email": email, "password": b.password}), "", nil)
		if err == nil && st == http.StatusOK && a.CSRFToken == "" {
			err = errors.New("session answer without a CSRF token")
		}
		return outcome(st, a, err)
	}, nil, nil
}

func prepareSignup(_ context.Context, b *bencher, workers int) (loadgen.Do, func() map[string]int64, error) {
	c := b.scenarioClient(workers)
	u := b.url("/v1/signup")
	return func(ctx context.Context, _ int) loadgen.Outcome {
		email := b.email("s", b.signups.Add(1))
		st, a, _, err := exchange(ctx, c, http.MethodPost, u, jsonBody(map[string]string{"email": email, "password": b.password}), "", nil)
		if err == nil && st == http.StatusCreated && (a.User == nil || a.User.ID == "") {
			err = errors.New("signup answer without a user")
		}
		return outcome(st, a, err)
	}, nil, nil
}

// families holds one refresh family per worker; a worker whose family was
// revoked signs in again, outside the measurement.
type families struct {
	b      *bencher
	c      *http.Client
	tokens []string
	starts atomic.Int64
}

func newFamilies(ctx context.Context, b *bencher, c *http.Client, workers int) (*families, error) {
	f := &families{b: b, c: c, tokens: make([]string, workers)}
	for w := range workers {
		if err := f.start(ctx, w); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func (f *families) start(ctx context.Context, w int) error {
	u := f.b.users[w%len(f.b.users)]
	return f.b.retryBusy(ctx, func() error {
		st, a, err := f.b.passwordGrant(ctx, f.c, u.email)
		if err != nil || st != http.StatusOK {
			return statusErr("start a refresh family for "+u.email, st, a, err)
		}
		f.tokens[w] = a.RefreshToken
		f.starts.Add(1)
		return nil
	})
}

// rotate refreshes worker w's family once.
func (f *families) rotate(ctx context.Context, w int) loadgen.Outcome {
	if f.tokens[w] == "" {
		if err := f.start(ctx, w); err != nil {
			return loadgen.Outcome{Err: err}
		}
		return loadgen.Outcome{Skip: true}
	}
	st, a, err := f.b.refreshGrant(ctx, f.c, f.tokens[w])
	switch {
	case err == nil && st == http.StatusOK:
		f.tokens[w] = a.RefreshToken
	case st == http.StatusUnauthorized:
		f.tokens[w] = ""
	}
	return outcome(st, a, err)
}

func prepareRefresh(ctx context.Context, b *bencher, workers int) (loadgen.Do, func() map[string]int64, error) {
	c := b.scenarioClient(workers)
	f, err := newFamilies(ctx, b, c, workers)
	if err != nil {
		return nil, nil, err
	}
	return loadgen.Do(f.rotate), func() map[string]int64 {
		return map[string]int64{"families_started": f.starts.Load()}
	}, nil
}

// storm is one refresh family shared by every worker, as the tabs of one
// browser share a session and wake up together: in each round every worker
// presents the same newest token at once, and the next round starts when
// all have answered. Inside the server's grace window all should get 200
// and the same successor; any 401 refresh_token_reused is counted, and a
// revoked family is replaced by a new sign-in, outside the measurement.
type storm struct {
	b       *bencher
	c       *http.Client
	workers int

	mu    sync.Mutex
	round *stormRound
	last  []*stormRound // the round each worker last took part in

	rounds, families, forks atomic.Int64
}

type stormRound struct {
	token     string
	pending   int           // workers yet to answer
	successor string        // the first successor answered
	revoked   bool          // a 401 came back
	done      chan struct{} // closed when every worker has answered
}

func prepareRefreshStorm(ctx context.Context, b *bencher, workers int) (loadgen.Do, func() map[string]int64, error) {
	s := &storm{b: b, c: b.scenarioClient(workers), workers: workers, last: make([]*stormRound, workers)}
	tok, err := s.newFamily(ctx)
	if err != nil {
		return nil, nil, err
	}
	s.round = s.newRound(tok)
	return s.do, func() map[string]int64 {
		return map[string]int64{
			"rounds": s.rounds.Load(), "families": s.families.Load(), "different_successors": s.forks.Load(),
		}
	}, nil
}

func (s *storm) newRound(token string) *stormRound {
	s.rounds.Add(1)
	return &stormRound{token: token, pending: s.workers, done: make(chan struct{})}
}

func (s *storm) newFamily(ctx context.Context) (string, error) {
	var tok string
	err := s.b.retryBusy(ctx, func() error {
		st, a, err := s.b.passwordGrant(ctx, s.c, s.b.users[0].email)
		if err != nil || st != http.StatusOK {
			return statusErr("start the storm's family", st, a, err)
		}
		tok = a.RefreshToken
		return nil
	})
	if err == nil {
		s.families.Add(1)
	}
	return tok, err
}

func (s *storm) do(ctx context.Context, w int) loadgen.Outcome {
	s.mu.Lock()
	r := s.round
	if s.last[w] == r {
		// This worker has answered in this round: wait for the others.
		s.mu.Unlock()
		select {
		case <-r.done:
		case <-loadgen.Ending(ctx):
		case <-ctx.Done():
		}
		return loadgen.Outcome{Skip: true}
	}
	s.last[w] = r
	s.mu.Unlock()

	st, a, err := s.b.refreshGrant(ctx, s.c, r.token)

	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err == nil && st == http.StatusOK && r.successor == "":
		r.successor = a.RefreshToken
	case err == nil && st == http.StatusOK && r.successor != a.RefreshToken:
		s.forks.Add(1)
	case st == http.StatusUnauthorized:
		r.revoked = true
	}
	if r.pending--; r.pending == 0 {
		next := r.successor
		if r.revoked || next == "" {
			// The last worker to answer starts a new family while the
			// others wait for the round.
			// A failure leaves the token empty: the next round's 400s show it.
			next, _ = s.newFamily(ctx)
		}
		s.round = s.newRound(next)
		close(r.done)
	}
	return outcome(st, a, err)
}

// prepareMixed is a realistic profile: mostly authenticated reads by
// bearer, some refreshes, a few logins and cookie reads. Each worker draws
// from its own seeded generator, so runs are repeatable.
func prepareMixed(ctx context.Context, b *bencher, workers int) (loadgen.Do, func() map[string]int64, error) {
	c := b.scenarioClient(workers)
	if err := b.freshAccessTokens(ctx, c, workers); err != nil {
		return nil, nil, err
	}
	f, err := newFamilies(ctx, b, c, workers)
	if err != nil {
		return nil, nil, err
	}
	rngs := make([]*mrand.Rand, workers)
	for w := range rngs {
		rngs[w] = mrand.New(mrand.NewPCG(uint64(w), 0x6275_6c77_6172_6b))
	}
	var counts [4]atomic.Int64
	me := b.url("/v1/me")
	do := func(ctx context.Context, w int) loadgen.Outcome {
		u := b.users[w%len(b.users)]
		switch r := rngs[w].IntN(100); {
		case r < 80:
			counts[0].Add(1)
			return getOutcome(ctx, c, me, u.access, nil)
		case r < 90:
			counts[1].Add(1)
			return f.rotate(ctx, w)
		case r < 95:
			counts[2].Add(1)
			return outcome(b.passwordGrant(ctx, c, u.email))
		default:
			counts[3].Add(1)
			return getOutcome(ctx, c, me, "", u.cookie)
		}
	}
	return loadgen.Do(do), func() map[string]int64 {
		return map[string]int64{
			"me_bearer": counts[0].Load(), "refresh": counts[1].Load(), "login": counts[2].Load(), "me_cookie": counts[3].Load(),
		}
	}, nil
}

// benchReport is the whole result; --json prints it as is.
type Report struct {
	Version     string       `json:"version"`
	Machine     benchMachine `json:"machine"`
	Target      string       `json:"target"`
	Database    string       `json:"database,omitempty"`
	Hasher      string       `json:"hasher"`
	Users       int          `json:"users"`
	Duration    string       `json:"duration_per_run"`
	Concurrency int          `json:"concurrency"`
	Rate        float64      `json:"rate,omitempty"`
	Baselines   []benchRow   `json:"baselines"`
	Scenarios   []benchRow   `json:"scenarios"`
}

type benchMachine struct {
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	CPUModel   string `json:"cpu_model,omitempty"`
	Go         string `json:"go"`
}

func machine() benchMachine {
	m := benchMachine{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	return m
}

func hasherName(cfg *Config) string {
	if cfg.PasswordHasher == string(password.Bcrypt) {
		return fmt.Sprintf("bcrypt cost %d", cfg.BcryptCost)
	}
	return "argon2id " + password.DefaultArgon2().String()
}

// WriteTable prints the report for people.
func (r *Report) WriteTable(w io.Writer) error {
	loop := "closed loop"
	if r.Rate > 0 {
		loop = fmt.Sprintf("open loop at %g/s", r.Rate)
	}
	where := r.Target
	if r.Database != "" {
		where += " (" + r.Database + ")"
	}
	model := r.Machine.CPUModel
	if model == "" {
		model = "unknown CPU"
	}
	fmt.Fprintf(w, "bulwark bench %s: %s, %s, %d users, %s per run, %s\n", r.Version, where, r.Hasher, r.Users, r.Duration, loop)
	fmt.Fprintf(w, "machine: %s/%s, %d CPUs (GOMAXPROCS %d), %s, %s\n", r.Machine.OS, r.Machine.Arch, r.Machine.CPUs, r.Machine.GOMAXPROCS, model, r.Machine.Go)
	fmt.Fprintf(w, "rss and cpu: this process and its children (server and its hash worker process, load generator and baselines when in-process)\n\n")
	table := [][]string{{"scenario", "conc", "req/s", "ratio", "p50", "p95", "p99", "max", "rss", "cpu", "errors"}}
	for i, row := range slices.Concat(r.Baselines, r.Scenarios) {
		ratio := "baseline"
		if row.Baseline != "" {
			ratio = fmt.Sprintf("%.2f× %s", row.Ratio, row.Baseline)
		} else if i >= len(r.Baselines) {
			ratio = "-"
		}
		rss := "n/a"
		if row.RSSBytes != nil {
			rss = fmt.Sprintf("%d MiB", *row.RSSBytes>>20)
		}
		table = append(table, []string{
			row.Name, strconv.Itoa(row.Concurrency), fmt.Sprintf("%.1f", row.Throughput), ratio,
			fmtMS(row.Latency.P50), fmtMS(row.Latency.P95), fmtMS(row.Latency.P99), fmtMS(row.Latency.Max),
			rss, fmt.Sprintf("%.1fs", row.CPU), fmtErrors(row),
		})
	}
	if err := writeAligned(w, table, 0, 10); err != nil {
		return err
	}
	for _, row := range r.Scenarios {
		if len(row.Notes) > 0 {
			var parts []string
			for _, k := range slices.Sorted(maps.Keys(row.Notes)) {
				parts = append(parts, fmt.Sprintf("%s=%d", k, row.Notes[k]))
			}
			fmt.Fprintf(w, "%s: %s\n", row.Name, strings.Join(parts, " "))
		}
		if row.Flood != nil {
			row.Flood.writeLines(w)
		}
		if row.Scale != nil {
			row.Scale.writeLines(w)
		}
	}
	return nil
}

// writeAligned prints rows in columns two spaces apart: the columns named
// in left are aligned left, the others right; the last has no padding.
func writeAligned(w io.Writer, rows [][]string, left ...int) error {
	width := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, cell := range row {
			width[i] = max(width[i], utf8.RuneCountInString(cell))
		}
	}
	var b strings.Builder
	for _, row := range rows {
		for i, cell := range row {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(cell))
			switch {
			case i == len(row)-1:
				if !slices.Contains(left, i) {
					b.WriteString(pad)
				}
				b.WriteString(cell)
			case slices.Contains(left, i):
				b.WriteString(cell + pad + "  ")
			default:
				b.WriteString(pad + cell + "  ")
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func fmtMS(v float64) string {
	switch {
	case v < 1:
		return fmt.Sprintf("%.0fµs", v*1000)
	case v < 100:
		return fmt.Sprintf("%.2fms", v)
	case v < 1000:
		return fmt.Sprintf("%.0fms", v)
	default:
		return fmt.Sprintf("%.2fs", v/1000)
	}
}

func fmtErrors(row benchRow) string {
	if len(row.Errors) == 0 && row.Missed == 0 {
		return "-"
	}
	keys := slices.Sorted(maps.Keys(row.Errors))
	slices.SortStableFunc(keys, func(a, b string) int { return int(row.Errors[b] - row.Errors[a]) })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s:%d", strings.ReplaceAll(k, " ", "/"), row.Errors[k]))
	}
	if row.Missed > 0 {
		parts = append(parts, fmt.Sprintf("missed:%d", row.Missed))
	}
	return strings.Join(parts, " ")
}

func benchRandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// The flood scenario: credential stuffing against a server of its own, with
// the default login limits and loopback as a trusted proxy. Attackers try
// thousands of distinct emails (unknown ones, and seeded accounts with a
// wrong password) from thousands of client addresses, open-loop at
// floodFactor times the hash-verify baseline, while legitimate users keep
// calling /v1/me by bearer (closed loop) and signing in with the right
// password (a slow open loop), each from an address of their own. It runs
// twice: idle (legitimate load only), then under the flood.
const (
	floodFactor     = 10  // the attack rate, in hash-verify baselines
	floodLegitUsers = 16  // legitimate users, each with its own address
	floodMeClients  = 4   // closed-loop /v1/me callers among them
	floodLoginRate  = 1.0 // legitimate logins a second over the 16 users: 3.75 a minute each, under the default 5 per email
	floodLoginSlots = 8   // most legitimate logins in flight
	// A quarter of the attempts comes from a few hot addresses, which the
	// per-IP limit catches; the rest is spread over floodSpreadIPs, one
	// in eight an IPv6 address in a /64 of its own, few enough attempts
	// each that only the hashing pool stands in the way.
	floodHotIPs        = 16
	floodSpreadIPs     = 4096
	floodUnknownEmails = 4000 // half the attempts; the other half aims at the --users seeded victims
	floodAttackSlots   = 1024 // most attempts in flight
)

// floodReport is what the flood scenario measured.
type floodReport struct {
	HashRate     float64 `json:"hash_rate_per_s"`   // the hash-verify baseline
	AttackRate   float64 `json:"attack_rate_per_s"` // offered, open loop
	AttackIPs    int     `json:"attack_ips"`        // distinct client addresses (IPv6 ones in distinct /64s)
	AttackIPv6   int     `json:"attack_ipv6_nets"`
	AttackEmails int     `json:"attack_emails"` // distinct emails tried
	Victims      int     `json:"seeded_victims"`
	LegitUsers   int     `json:"legit_users"`
	MeClients    int     `json:"legit_me_clients"`
	LoginRate    float64 `json:"legit_login_rate_per_s"`
	Limits       string  `json:"login_limits"`

	Idle  floodPhase `json:"idle"`
	Flood floodPhase `json:"flood"`

	// MeP50Ratio and MeP99Ratio are legitimate /v1/me latency under the
	// flood over idle (target: p99 within 2×).
	MeP50Ratio float64 `json:"me_p50_ratio"`
	MeP99Ratio float64 `json:"me_p99_ratio"`
	// LoginSuccess is the share of legitimate logins answered 200 under the
	// flood.
	LoginSuccess float64 `json:"legit_login_success"`
	// Refused counts the attempts answered 429 or 503, RefusedLatency their
	// latency (target: p99 < 5 ms), measured from their scheduled time.
	Refused        int64        `json:"refused"`
	RefusedLatency benchLatency `json:"refused_latency_ms"`
	// PeakRSSBytes is the process's peak RSS during the flood phase; nil
	// where unknown.
	PeakRSSBytes *int64 `json:"peak_rss_bytes"`
}

// floodPhase is one phase's loads.
type floodPhase struct {
	Me     floodLoad  `json:"me"`
	Login  floodLoad  `json:"login"`
	Attack *floodLoad `json:"attack,omitempty"`
	// PeakRSSBytes and CPU are the whole process's during the phase.
	PeakRSSBytes *int64  `json:"peak_rss_bytes"`
	CPU          float64 `json:"cpu_s"`
}

// floodLoad digests one load of a phase.
type floodLoad struct {
	Requests   int64            `json:"requests"`
	OK         int64            `json:"ok"`
	Missed     int64            `json:"missed,omitempty"`
	Elapsed    float64          `json:"elapsed_s"`
	Throughput float64          `json:"throughput_per_s"` // 2xx a second
	Latency    benchLatency     `json:"latency_ms"`
	Errors     map[string]int64 `json:"errors"`
	// Statuses counts the answers by HTTP status ("0": no answer), and
	// StatusLatency gives their latency.
	Statuses      map[string]int64        `json:"statuses"`
	StatusLatency map[string]benchLatency `json:"status_latency_ms"`

	res *loadgen.Result
}

func digest(res *loadgen.Result) floodLoad {
	l := floodLoad{
		Requests: res.Requests, OK: res.OK, Missed: res.Missed, Elapsed: res.Elapsed.Seconds(),
		Throughput: res.Throughput(), Latency: latencyOf(res.Latency), Errors: res.Errors,
		Statuses: map[string]int64{}, StatusLatency: map[string]benchLatency{}, res: res,
	}
	for st, h := range res.ByStatus {
		k := strconv.Itoa(st)
		l.Statuses[k] = int64(h.Count())
		l.StatusLatency[k] = latencyOf(h.Summary())
	}
	return l
}

func latencyOf(s loadgen.Summary) benchLatency {
	return benchLatency{P50: ms(s.P50), P95: ms(s.P95), P99: ms(s.P99), P999: ms(s.P999), Max: ms(s.Max), Mean: ms(s.Mean)}
}

// floodUser is a legitimate user of the flood scenario.
type floodUser struct {
	email, ip, access string
	// device is the device token of the user's seeding login: as a real
	// client keeps it, the user's later logins send it (X-Device-Token),
	// which exempts them from the lockout and puts their hash ahead of the
	// flood's.
	device string
}

// floodAttackAddr is the client address of attempt i.
func floodAttackAddr(i int64) string {
	if (i>>1)&3 == 0 {
		return fmt.Sprintf("10.255.0.%d", 1+(i>>3)%floodHotIPs)
	}
	k := i % floodSpreadIPs
	if k%8 == 7 {
		return fmt.Sprintf("fd00:b1:%x:%x::1", k>>16, k&0xffff) // a /64 each
	}
	return fmt.Sprintf("10.%d.%d.%d", k>>16, (k>>8)&0xff, k&0xff)
}

func fmtLimit(l auth.Limit) string { return fmt.Sprintf("%d/%s", l.N, l.Per) }

// runFlood is the flood scenario.
func runFlood(ctx context.Context, b *bencher, baselines map[string]float64) (benchRow, error) {
	hashRate := baselines["hash"]
	if hashRate <= 0 {
		return benchRow{}, errors.New("the hash-verify baseline measured nothing: no attack rate to derive")
	}
	attackRate := min(floodFactor*hashRate, loadgen.MaxRate)
	srv, err := startBenchServer(ctx, b.deps, b.getenv, b.flags, b.stderr, true)
	if err != nil {
		return benchRow{}, err
	}
	defer srv.stop()
	fb := &bencher{opt: b.opt, base: srv.url, stderr: b.stderr, progressTTY: b.progressTTY, inProcess: true,
		runID: b.runID, password: b.password}

	// Seed: the victims and the legitimate users sign up from loopback
	// (the signup limit is raised); the legitimate users then sign in from
	// their own addresses.
	start := time.Now()
	legit := make([]*floodUser, floodLegitUsers)
	for i := range legit {
		legit[i] = &floodUser{email: fb.email("legit", int64(i)), ip: fmt.Sprintf("172.16.%d.%d", i>>8, 1+i&0xff)}
	}
	victims := make([]string, b.opt.users)
	for i := range victims {
		victims[i] = fb.email("victim", int64(i))
	}
	c := loadgen.NewClient(b.opt.hashConcurrency, false)
	defer c.CloseIdleConnections()
	err = parallel(ctx, b.opt.hashConcurrency, len(legit)+len(victims), func(i int) error {
		email := ""
		if i < len(legit) {
			email = legit[i].email
		} else {
			email = victims[i-len(legit)]
		}
		if err := fb.retryBusy(ctx, func() error { return fb.signup(ctx, c, email) }); err != nil {
			return err
		}
		if i >= len(legit) {
			return nil
		}
		u := legit[i]
		return fb.retryBusy(ctx, func() error {
			st, a, err := fb.passwordGrantFrom(ctx, c, u.email, fb.password, u.ip, "")
			if err != nil || st != http.StatusOK {
				return statusErr("token login "+u.email, st, a, err)
			}
			u.access, u.device = a.AccessToken, a.DeviceToken
			return nil
		})
	})
	if err != nil {
		return benchRow{}, fmt.Errorf("seed the flood server: %w", err)
	}
	fmt.Fprintf(b.stderr, "bench: flood: seeded %d legitimate users and %d victims in %s; attack at %.0f/s (%d× hash-verify %.1f/s)\n",
		len(legit), len(victims), time.Since(start).Round(time.Millisecond), attackRate, floodFactor, hashRate)

	rep := &floodReport{
		HashRate: hashRate, AttackRate: attackRate,
		AttackIPs: floodHotIPs + floodSpreadIPs, AttackIPv6: floodSpreadIPs / 8,
		AttackEmails: floodUnknownEmails + len(victims), Victims: len(victims),
		LegitUsers: len(legit), MeClients: floodMeClients, LoginRate: floodLoginRate,
		Limits: fmt.Sprintf("%s per IP, %s per email", fmtLimit(srv.cfg.LoginLimitPerIP), fmtLimit(srv.cfg.LoginLimitPerEmail)),
	}
	if rep.Idle, err = fb.floodPhase(ctx, "flood-idle", legit, victims, 0); err != nil {
		return benchRow{}, err
	}
	if rep.Flood, err = fb.floodPhase(ctx, "flood", legit, victims, attackRate); err != nil {
		return benchRow{}, err
	}

	idle, fl := rep.Idle.Me, rep.Flood.Me
	if idle.Latency.P50 > 0 {
		rep.MeP50Ratio = fl.Latency.P50 / idle.Latency.P50
	}
	if idle.Latency.P99 > 0 {
		rep.MeP99Ratio = fl.Latency.P99 / idle.Latency.P99
	}
	if n := rep.Flood.Login.Requests; n > 0 {
		rep.LoginSuccess = float64(rep.Flood.Login.OK) / float64(n)
	}
	refused := loadgen.NewHistogram()
	for _, st := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		if h := rep.Flood.Attack.res.ByStatus[st]; h != nil {
			refused.Merge(h)
		}
	}
	rep.Refused = int64(refused.Count())
	rep.RefusedLatency = latencyOf(refused.Summary())
	rep.PeakRSSBytes = rep.Flood.PeakRSSBytes

	return benchRow{
		Name: "flood", About: "GET /v1/me by bearer under a login flood at 10× the hash rate",
		Mode: fl.res.Mode, Concurrency: floodMeClients, Requests: fl.Requests, OK: fl.OK,
		Elapsed: fl.Elapsed, Throughput: fl.Throughput, Latency: fl.Latency,
		Errors: fl.Errors, ErrorSamples: fl.res.ErrorSamples,
		RSSBytes: rep.Flood.PeakRSSBytes, CPU: rep.Flood.CPU, Flood: rep,
	}, nil
}

// floodPhase runs the legitimate loads for --duration and, when
// attackRate is positive, the attack beside them.
func (b *bencher) floodPhase(ctx context.Context, name string, legit []*floodUser, victims []string, attackRate float64) (floodPhase, error) {
	me := b.url("/v1/me")
	meClient := loadgen.NewClient(floodMeClients, false)
	defer meClient.CloseIdleConnections()
	doMe := func(ctx context.Context, w int) loadgen.Outcome {
		u := legit[w%len(legit)]
		st, a, _, err := exchangeFrom(ctx, meClient, http.MethodGet, me, nil, u.access, nil, u.ip, "")
		return outcome(st, a, err)
	}
	loginClient := loadgen.NewClient(floodLoginSlots, false)
	defer loginClient.CloseIdleConnections()
	var logins atomic.Int64
	doLogin := func(ctx context.Context, _ int) loadgen.Outcome {
		u := legit[int(logins.Add(1)-1)%len(legit)]
		return outcome(b.passwordGrantFrom(ctx, loginClient, u.email, b.password, u.ip, u.device))
	}
	attackClient := loadgen.NewClient(floodAttackSlots, false)
	defer attackClient.CloseIdleConnections()
	var attempts atomic.Int64
	wrong := "wrong-" + b.password
	doAttack := func(ctx context.Context, _ int) loadgen.Outcome {
		i := attempts.Add(1) - 1
		var email string
		if i%2 == 0 && len(victims) > 0 {
			email = victims[(i/2)%int64(len(victims))]
		} else {
			email = b.email("nobody", (i/2)%floodUnknownEmails)
		}
		st, a, err := b.passwordGrantFrom(ctx, attackClient, email, wrong, floodAttackAddr(i), "")
		o := outcome(st, a, err)
		if st >= 200 && st < 300 {
			o.Err = fmt.Errorf("an attacker was answered %d", st)
		}
		return o
	}

	stopSampling := startRSSSampler()
	user0, sys0, _ := loadgen.CPUTime()
	progress := func(p loadgen.Progress) { b.progress(name, p) }
	plan := func(conc int, rate float64, progress func(loadgen.Progress)) loadgen.Plan {
		return loadgen.Plan{Concurrency: conc, Rate: rate, Duration: b.opt.duration, Progress: progress}
	}
	var meRes, loginRes, attackRes *loadgen.Result
	var meErr, loginErr, attackErr error
	var wg sync.WaitGroup
	if attackRate > 0 {
		attackPlan := plan(floodAttackSlots, attackRate, progress)
		wg.Go(func() { attackRes, attackErr = loadgen.Run(ctx, attackPlan, doAttack) })
		progress = nil
	}
	wg.Go(func() { loginRes, loginErr = loadgen.Run(ctx, plan(floodLoginSlots, floodLoginRate, nil), doLogin) })
	meRes, meErr = loadgen.Run(ctx, plan(floodMeClients, 0, progress), doMe)
	wg.Wait()
	peak := stopSampling()
	user1, sys1, _ := loadgen.CPUTime()
	if err := errors.Join(meErr, loginErr, attackErr); err != nil {
		b.progressDone("")
		return floodPhase{}, err
	}
	ph := floodPhase{Me: digest(meRes), Login: digest(loginRes), CPU: (user1 + sys1 - user0 - sys0).Seconds()}
	if peak > 0 {
		ph.PeakRSSBytes = &peak
	}
	summary := fmt.Sprintf("bench: %-13s done in %.1fs: /v1/me %d (%d errors), logins %d/%d ok", name,
		meRes.Elapsed.Seconds(), meRes.Requests, meRes.ErrorCount(), loginRes.OK, loginRes.Requests)
	if attackRes != nil {
		a := digest(attackRes)
		ph.Attack = &a
		summary += fmt.Sprintf(", attempts %d answered, %d missed", attackRes.Requests, attackRes.Missed)
	}
	b.progressDone(summary)
	return ph, ctx.Err()
}

// parallel calls f(i) for every i in [0, n) from workers goroutines, and
// returns the first error; it stops handing out work after one.
func parallel(ctx context.Context, workers, n int, f func(i int) error) error {
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					next.Store(int64(n))
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// writeLines prints the flood report under the table.
func (r *floodReport) writeLines(w io.Writer) {
	idle, fl := r.Idle, r.Flood
	fmt.Fprintf(w, "flood: attack %.0f/s offered (%d× hash-verify %.1f/s), open loop, from %d addresses (%d hot, %d IPv6 /64s) over %d emails (%d seeded, wrong password); login limits %s\n",
		r.AttackRate, floodFactor, r.HashRate, r.AttackIPs, floodHotIPs, r.AttackIPv6, r.AttackEmails, r.Victims, r.Limits)
	target := "within"
	if r.MeP99Ratio > 2 {
		target = "NOT within"
	}
	fmt.Fprintf(w, "flood: legit /v1/me (%d clients, bearer): idle p50 %s p99 %s %.0f/s; flood p50 %s p99 %s %.0f/s; flood/idle p50 %.2f× p99 %.2f× (%s 2×); errors idle %s flood %s\n",
		r.MeClients, fmtMS(idle.Me.Latency.P50), fmtMS(idle.Me.Latency.P99), idle.Me.Throughput,
		fmtMS(fl.Me.Latency.P50), fmtMS(fl.Me.Latency.P99), fl.Me.Throughput, r.MeP50Ratio, r.MeP99Ratio, target,
		fmtStatuses(idle.Me.Errors), fmtStatuses(fl.Me.Errors))
	fmt.Fprintf(w, "flood: legit login (%.0f/s, own addresses): idle %d/%d ok p50 %s p99 %s; flood %d/%d ok (%.0f%%) p50 %s p99 %s, errors %s\n",
		r.LoginRate, idle.Login.OK, idle.Login.Requests, fmtMS(idle.Login.Latency.P50), fmtMS(idle.Login.Latency.P99),
		fl.Login.OK, fl.Login.Requests, 100*r.LoginSuccess, fmtMS(fl.Login.Latency.P50), fmtMS(fl.Login.Latency.P99), fmtStatuses(fl.Login.Errors))
	if a := fl.Attack; a != nil {
		var parts []string
		for _, st := range slices.Sorted(maps.Keys(a.Statuses)) {
			part := fmt.Sprintf("%s:%d", st, a.Statuses[st])
			if l, ok := a.StatusLatency[st]; ok {
				part += fmt.Sprintf(" (p50 %s p99 %s)", fmtMS(l.P50), fmtMS(l.P99))
			}
			parts = append(parts, part)
		}
		missed := ""
		if a.Missed > 0 {
			missed = fmt.Sprintf(", %d due but never sent", a.Missed)
		}
		fmt.Fprintf(w, "flood: attack answers by status: %s%s\n", strings.Join(parts, ", "), missed)
		target = "under"
		if r.RefusedLatency.P99 >= 5 {
			target = "NOT under"
		}
		fmt.Fprintf(w, "flood: refused (429+503) %d: p50 %s p99 %s max %s (%s 5 ms p99)\n",
			r.Refused, fmtMS(r.RefusedLatency.P50), fmtMS(r.RefusedLatency.P99), fmtMS(r.RefusedLatency.Max), target)
	}
	rss := "n/a"
	if r.PeakRSSBytes != nil {
		rss = fmt.Sprintf("%d MiB", *r.PeakRSSBytes>>20)
	}
	fmt.Fprintf(w, "flood: peak RSS during the flood %s (this process and its children: both servers, their hash workers and the load generator), cpu %.1fs (idle phase %.1fs)\n", rss, fl.CPU, idle.CPU)
}

// fmtStatuses prints error counts as "key:n …", or "-" when none.
func fmtStatuses(m map[string]int64) string {
	if len(m) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s:%d", strings.ReplaceAll(k, " ", "/"), m[k]))
	}
	return strings.Join(parts, " ")
}
