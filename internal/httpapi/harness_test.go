package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/email"
	"github.com/bulwarkauth/bulwark/internal/httpapi"
	"github.com/bulwarkauth/bulwark/internal/mail"
	"github.com/bulwarkauth/bulwark/internal/passkey"
	"github.com/bulwarkauth/bulwark/internal/password"
	"github.com/bulwarkauth/bulwark/internal/testutil"
	"github.com/bulwarkauth/bulwark/internal/token"
)

// env is one Bulwark API on a real socket, with a real SQLite store in a
// temporary directory, the real hasher (fast test parameters unless asked),
// the real token issuer and the real limiter, all on one settable clock.
type env struct {
	t      testing.TB
	srv    *httptest.Server
	clock  *testutil.Clock
	db     auth.Store
	be     *backend
	svc    *auth.Service
	logs   *testutil.Buffer
	cfg    auth.Config
	opts   httpapi.Options
	hasher *countingHasher
	secret []byte
	issuer *token.Issuer
}

// countingHasher counts verifications, so tests can check that unknown emails
// pay for a dummy hash exactly like wrong passwords (uniform timing).
type countingHasher struct {
	*password.Hasher
	mu                    sync.Mutex
	hashes, verifies, dum int
	// gate, when set, holds every Verify and VerifyDummy until it is closed,
	// after sending on arrived: a test can see how many checks run at once.
	gate    chan struct{}
	arrived chan struct{}
}

// hold makes the password checks wait for the returned release function.
func (h *countingHasher) hold(capacity int) (arrived <-chan struct{}, release func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gate, h.arrived = make(chan struct{}), make(chan struct{}, capacity)
	gate := h.gate
	return h.arrived, func() { close(gate) }
}

func (h *countingHasher) wait() {
	h.mu.Lock()
	gate, arrived := h.gate, h.arrived
	h.mu.Unlock()
	if gate != nil {
		arrived <- struct{}{}
		<-gate
	}
}

func (h *countingHasher) Hash(ctx context.Context, pw string) (string, error) {
	h.mu.Lock()
	h.hashes++
	h.mu.Unlock()
	return h.Hasher.Hash(ctx, pw)
}

func (h *countingHasher) Verify(ctx context.Context, pw, enc string) (bool, bool, error) {
	h.mu.Lock()
	h.verifies++
	h.mu.Unlock()
	h.wait()
	return h.Hasher.Verify(ctx, pw, enc)
}

func (h *countingHasher) VerifyDummy(ctx context.Context, pw string) error {
	h.mu.Lock()
	h.dum++
	h.mu.Unlock()
	h.wait()
	return h.Hasher.VerifyDummy(ctx, pw)
}

// counts returns hashes, verifications and dummy verifications so far.
func (h *countingHasher) counts() (int, int, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hashes, h.verifies, h.dum
}

type envOption func(*envSettings)

type envSettings struct {
	cfg        auth.Config
	opts       httpapi.Options
	hasherCfg  password.Config
	realHasher bool
	quietLogs  bool
	hasherOpts []password.Option
	// passkeyOrigins, when set, turn passkeys on with the RP ID localhost
	// and these origins.
	passkeyOrigins []string
	// signingAlgs, when set, are managed keys (current, next, …) instead of
	// an HS256 secret.
	signingAlgs []string
}

// withManagedKeys signs with managed keys of the given algorithms: the
// first current, the second (if any) next, the third previous; the
// issuer also answers the JWKS and discovery.
func withManagedKeys(algs ...string) envOption {
	return func(s *envSettings) { s.signingAlgs = algs }
}

// withPasskeys turns passkeys on: RP ID localhost, the given origins.
func withPasskeys(origins ...string) envOption {
	return func(s *envSettings) { s.passkeyOrigins = origins }
}

func withConfig(f func(*auth.Config)) envOption { return func(s *envSettings) { f(&s.cfg) } }
func withOptions(f func(*httpapi.Options)) envOption {
	return func(s *envSettings) { f(&s.opts) }
}

// withQuietLogs formats logs at Info, as in production, and discards them,
// instead of keeping a debug log in memory (for benchmarks).
func withQuietLogs() envOption { return func(s *envSettings) { s.quietLogs = true } }

// withHasherOptions passes options to password.New.
func withHasherOptions(o ...password.Option) envOption {
	return func(s *envSettings) { s.hasherOpts = append(s.hasherOpts, o...) }
}

func withHasher(c password.Config) envOption {
	return func(s *envSettings) { s.hasherCfg = c; s.realHasher = true }
}

func newEnv(t testing.TB, options ...envOption) *env {
	t.Helper()
	st := &envSettings{cfg: auth.DefaultConfig(), opts: httpapi.Options{Dev: true}}
	st.hasherCfg = password.Config{Algorithm: password.Argon2id, Argon2: password.Argon2Params{Memory: 64, Time: 1, Threads: 1}}
	for _, o := range options {
		o(st)
	}
	ctx := context.Background()
	clk := testutil.NewClock(time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC))
	be := openBackend(t, clk)
	db := be.store
	var hopts []password.Option
	if !st.realHasher {
		hopts = append(hopts, password.AllowWeakParameters())
	}
	hopts = append(hopts, st.hasherOpts...)
	ph, err := password.New(st.hasherCfg, hopts...)
	if err != nil {
		t.Fatal(err)
	}
	hasher := &countingHasher{Hasher: ph}
	policy, err := password.NewPolicy(15)
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := token.GenerateSecret()
	srv := httptest.NewUnstartedServer(nil)
	public := "http://" + srv.Listener.Addr().String()
	st.cfg.PublicURL = public
	issuer, err := token.NewHS256(secret, public, public, st.cfg.AccessTTL)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.signingAlgs) > 0 {
		var keys []*token.Key
		for i, alg := range st.signingAlgs {
			k, err := token.GenerateKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			k.State = []string{auth.KeyCurrent, auth.KeyNext, auth.KeyPrevious}[i]
			keys = append(keys, k)
		}
		if issuer, err = token.NewManaged(keys, public, public, st.cfg.AccessTTL); err != nil {
			t.Fatal(err)
		}
		st.opts.Keys = issuer
	}
	logs := &testutil.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if st.quietLogs {
		logger = slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	var rp auth.WebAuthnRP
	if st.passkeyOrigins != nil {
		st.cfg.WebAuthnRPID, st.cfg.WebAuthnOrigins, st.cfg.WebAuthnRPName = "localhost", st.passkeyOrigins, "Bulwark test"
		p, err := passkey.New(st.cfg.WebAuthnRPID, st.cfg.WebAuthnRPName, st.cfg.WebAuthnOrigins)
		if err != nil {
			t.Fatal(err)
		}
		rp = p
	}
	svc, err := auth.NewService(ctx, st.cfg, auth.Deps{
		Store: db, Limiter: be.limiter, Hasher: hasher, Policy: policy,
		Normalize: password.Normalize, CanonicalEmail: email.Canonical, Tokens: issuer, Logger: logger, Now: clk.Now,
		Passkeys: rp,
	})
	if err != nil {
		t.Fatal(err)
	}
	st.opts.PublicURL = public
	srv.Config.Handler = httpapi.NewServer(svc, logger, st.opts)
	srv.Start()
	t.Cleanup(srv.Close)
	e := &env{t: t, srv: srv, clock: clk, db: db, be: be, svc: svc, logs: logs, cfg: st.cfg, opts: st.opts, hasher: hasher, secret: secret, issuer: issuer}
	if _, ok := t.(*testing.T); ok {
		// Every answer of every test (not benchmark) is checked against
		// openapi.json (see openapi_test.go).
		validateAgainstOpenAPI(t, e)
	}
	return e
}

// resp is a decoded response.
type resp struct {
	Status int
	Header http.Header
	Body   []byte
	JSON   map[string]any
}

func (r *resp) str(key string) string {
	v, _ := r.JSON[key].(string)
	return v
}

func (r *resp) code() string { return r.str("code") }

func (r *resp) cookie(name string) *http.Cookie {
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// req describes one request.
type req struct {
	method  string
	path    string
	body    any // string (sent as is) or value (JSON encoded); nil: no body
	ctype   string
	headers map[string]string
	cookies []*http.Cookie
	bearer  string
}

func (e *env) do(r req) *resp {
	e.t.Helper()
	var body io.Reader
	ctype := r.ctype
	switch b := r.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
		if ctype == "" {
			ctype = "application/json"
		}
	case []byte:
		body = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		body = bytes.NewReader(j)
		if ctype == "" {
			ctype = "application/json"
		}
	}
	hr, err := http.NewRequest(r.method, e.srv.URL+r.path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if ctype != "" && body != nil {
		hr.Header.Set("Content-Type", ctype)
	}
	for k, v := range r.headers {
		hr.Header.Set(k, v)
	}
	for _, c := range r.cookies {
		hr.AddCookie(c)
	}
	if r.bearer != "" {
		hr.Header.Set("Authorization", "Bearer "+r.bearer)
	}
	res, err := e.srv.Client().Do(hr)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := &resp{Status: res.StatusCode, Header: res.Header, Body: raw}
	_ = json.Unmarshal(raw, &out.JSON)
	return out
}

func (e *env) post(path string, body any) *resp {
	e.t.Helper()
	return e.do(req{method: "POST", path: path, body: body})
}

func expectStatus(t testing.TB, r *resp, want int) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status = %d, want %d; body %s", r.Status, want, r.Body)
	}
}

const strongPassword = "correct horse battery staple"

// mailLink returns the token of the newest queued mail to addr with the
// template, read from the outbox table as the mail worker would.
func (e *env) mailToken(addr, template string) string {
	e.t.Helper()
	e.resolveJobs()
	mails, err := e.db.PendingMail(context.Background(), e.clock.Now().Add(24*time.Hour), 0, 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := len(mails) - 1; i >= 0; i-- {
		m := mails[i]
		if m.To == addr && m.Template == template {
			u, err := url.Parse(m.Data["link"])
			if err != nil {
				e.t.Fatal(err)
			}
			return strings.TrimPrefix(u.Fragment, "token=")
		}
	}
	e.t.Fatalf("no %s mail to %s", template, addr)
	return ""
}

func (e *env) mailCount(addr, template string) int {
	e.t.Helper()
	e.resolveJobs()
	mails, err := e.db.PendingMail(context.Background(), e.clock.Now().Add(24*time.Hour), 0, 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, m := range mails {
		if m.To == addr && m.Template == template {
			n++
		}
	}
	return n
}

// resolveJobs does what the mail worker does with the outbox's jobs
// (forgot password, resend verification): each is resolved into the mail it
// makes, if any, and deleted. Mail is left in the outbox to be read.
func (e *env) resolveJobs() {
	e.t.Helper()
	ctx := context.Background()
	mails, err := e.db.PendingMail(ctx, e.clock.Now().Add(24*time.Hour), 0, 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := range mails {
		if !auth.IsMailJob(mails[i].Template) {
			continue
		}
		if err := e.svc.ResolveMailJob(ctx, &mails[i]); err != nil {
			e.t.Fatal(err)
		}
		if err := e.db.MarkMailSent(ctx, mails[i].ID); err != nil {
			e.t.Fatal(err)
		}
	}
}

// signup creates and verifies an account.
func (e *env) signup(email string) {
	e.t.Helper()
	expectStatus(e.t, e.post("/v1/signup", map[string]string{"email": email, "password": strongPassword}), 202)
	tok := e.mailToken(email, "verify_email")
	expectStatus(e.t, e.post("/v1/email/verify", map[string]string{"token": tok}), 200)
}

// session holds a cookie login.
type session struct {
	cookie *http.Cookie
	csrf   string
	device *http.Cookie
}

func (e *env) login(email, pw string) *session {
	e.t.Helper()
	r := e.post("/v1/session", map[string]string{"email": email, "password": pw})
	expectStatus(e.t, r, 200)
	return &session{cookie: r.cookie("bulwark_session"), csrf: r.str("csrf_token"), device: r.cookie("bulwark_device")}
}

// tokens holds a token login.
type tokens struct {
	access, refresh, device string
}

func (e *env) tokenLogin(email, pw string) tokens {
	e.t.Helper()
	r := e.post("/v1/token", map[string]string{"grant_type": "password", "email": email, "password": pw})
	expectStatus(e.t, r, 200)
	return tokens{access: r.str("access_token"), refresh: r.str("refresh_token"), device: r.str("device_token")}
}

func (e *env) refresh(rt string) *resp {
	e.t.Helper()
	return e.post("/v1/token", map[string]string{"grant_type": "refresh_token", "refresh_token": rt})
}

func (e *env) me(s *session, bearer string) *resp {
	e.t.Helper()
	r := req{method: "GET", path: "/v1/me", bearer: bearer}
	if s != nil {
		r.cookies = []*http.Cookie{s.cookie}
	}
	return e.do(r)
}

// auditEvents returns the audit lines with the event name.
func (e *env) auditEvents(name string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(e.logs.String(), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			e.t.Fatalf("log line is not JSON: %q", line)
		}
		if m["event"] == name {
			out = append(out, m)
		}
	}
	return out
}

// setDisabled disables an account straight in the database: the admin API
// that will do it belongs to a later issue.
func setDisabled(e *env, email string) error {
	return e.be.exec(`UPDATE users SET disabled = true WHERE email = $1`, email)
}

func passwordConfigBcrypt() password.Config {
	return password.Config{Algorithm: password.Bcrypt, BcryptCost: 10}
}

func slogJSON(w io.Writer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }

func httptestRecorder(h http.Handler, method, path string, headers map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

// deliverMail runs the outbox worker once into a folder and checkpoints the
// WAL, as a running server would have done by then.
func (e *env) deliverMail() {
	e.t.Helper()
	w := mail.NewWorker(e.db, mail.NewFileSender(e.t.TempDir(), "Bulwark <no-reply@example.com>"), slog.New(slog.DiscardHandler), e.clock.Now)
	w.Resolve = e.svc.ResolveMailJob
	if err := w.Flush(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	if e.be.sqlitePath != "" {
		if err := e.be.exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			e.t.Fatal(err)
		}
	}
}
