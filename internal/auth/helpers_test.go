package auth_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/email"
	"github.com/bulwarkauth/bulwark/internal/memory"
	"github.com/bulwarkauth/bulwark/internal/password"
	"github.com/bulwarkauth/bulwark/internal/sqlite"
	"github.com/bulwarkauth/bulwark/internal/testutil"
	"github.com/bulwarkauth/bulwark/internal/token"
)

// The passwords the tests use. Each passes the policy (15 characters, not
// common, not containing the email).
const (
	testPassword  = "correct horse battery staple"
	otherPassword = "another long passphrase 42"
	thirdPassword = "yet one more secret phrase"
	wrongPassword = "definitely not the password"
)

// storeCall is one call of a store method: its name and which call of that
// method it was (1 for the first).
type storeCall struct {
	Method string
	N      int
}

func (c storeCall) String() string { return fmt.Sprintf("%s#%d", c.Method, c.N) }

// faultStore wraps the real SQLite store. It records the store methods the
// Service calls and makes a chosen call of a chosen method fail with a chosen
// error, without touching the database.
type faultStore struct {
	auth.Store
	mu     sync.Mutex
	counts map[string]int
	calls  []storeCall
	fail   storeCall // zero: nothing fails
	err    error
}

func newFaultStore(s auth.Store) *faultStore {
	return &faultStore{Store: s, counts: map[string]int{}}
}

// failOn makes the c.N-th call of c.Method (counted from now) return err.
func (f *faultStore) failOn(c storeCall, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail, f.err = c, err
	f.counts = map[string]int{}
	f.calls = nil
}

// record starts recording afresh.
func (f *faultStore) record() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts = map[string]int{}
	f.calls = nil
}

// recorded returns the calls since record or failOn.
func (f *faultStore) recorded() []storeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]storeCall(nil), f.calls...)
}

func (f *faultStore) called(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[method]
}

func (f *faultStore) check(method string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts[method]++
	c := storeCall{Method: method, N: f.counts[method]}
	f.calls = append(f.calls, c)
	if c == f.fail {
		return f.err
	}
	return nil
}

func (f *faultStore) CreateUser(ctx context.Context, u *auth.User) error {
	if err := f.check("CreateUser"); err != nil {
		return err
	}
	return f.Store.CreateUser(ctx, u)
}

func (f *faultStore) UserByID(ctx context.Context, id string) (*auth.User, error) {
	if err := f.check("UserByID"); err != nil {
		return nil, err
	}
	return f.Store.UserByID(ctx, id)
}

func (f *faultStore) UserByEmail(ctx context.Context, email string) (*auth.User, error) {
	if err := f.check("UserByEmail"); err != nil {
		return nil, err
	}
	return f.Store.UserByEmail(ctx, email)
}

func (f *faultStore) SetPasswordHash(ctx context.Context, userID, hash string) error {
	if err := f.check("SetPasswordHash"); err != nil {
		return err
	}
	return f.Store.SetPasswordHash(ctx, userID, hash)
}

func (f *faultStore) MarkEmailVerified(ctx context.Context, userID string) error {
	if err := f.check("MarkEmailVerified"); err != nil {
		return err
	}
	return f.Store.MarkEmailVerified(ctx, userID)
}

func (f *faultStore) SetTokensValidAfter(ctx context.Context, userID string, t time.Time) error {
	if err := f.check("SetTokensValidAfter"); err != nil {
		return err
	}
	return f.Store.SetTokensValidAfter(ctx, userID, t)
}

func (f *faultStore) CreateOneTimeToken(ctx context.Context, t *auth.OneTimeToken) error {
	if err := f.check("CreateOneTimeToken"); err != nil {
		return err
	}
	return f.Store.CreateOneTimeToken(ctx, t)
}

func (f *faultStore) ConsumeOneTimeToken(ctx context.Context, kind auth.OneTimeKind, hash []byte, now time.Time) (*auth.OneTimeToken, error) {
	if err := f.check("ConsumeOneTimeToken"); err != nil {
		return nil, err
	}
	return f.Store.ConsumeOneTimeToken(ctx, kind, hash, now)
}

func (f *faultStore) OneTimeToken(ctx context.Context, kind auth.OneTimeKind, hash []byte, now time.Time) (*auth.OneTimeToken, error) {
	if err := f.check("OneTimeToken"); err != nil {
		return nil, err
	}
	return f.Store.OneTimeToken(ctx, kind, hash, now)
}

func (f *faultStore) CreateSession(ctx context.Context, s *auth.Session) error {
	if err := f.check("CreateSession"); err != nil {
		return err
	}
	return f.Store.CreateSession(ctx, s)
}

func (f *faultStore) SessionByTokenHash(ctx context.Context, hash []byte) (*auth.Session, error) {
	if err := f.check("SessionByTokenHash"); err != nil {
		return nil, err
	}
	return f.Store.SessionByTokenHash(ctx, hash)
}

func (f *faultStore) TouchSession(ctx context.Context, id string, at time.Time) error {
	if err := f.check("TouchSession"); err != nil {
		return err
	}
	return f.Store.TouchSession(ctx, id, at)
}

func (f *faultStore) DeleteSession(ctx context.Context, userID, id string) error {
	if err := f.check("DeleteSession"); err != nil {
		return err
	}
	return f.Store.DeleteSession(ctx, userID, id)
}

func (f *faultStore) CreateRefreshFamily(ctx context.Context, fam *auth.RefreshFamily, first *auth.RefreshToken) error {
	if err := f.check("CreateRefreshFamily"); err != nil {
		return err
	}
	return f.Store.CreateRefreshFamily(ctx, fam, first)
}

func (f *faultStore) RefreshTokenByHash(ctx context.Context, hash []byte) (*auth.RefreshToken, *auth.RefreshFamily, error) {
	if err := f.check("RefreshTokenByHash"); err != nil {
		return nil, nil, err
	}
	return f.Store.RefreshTokenByHash(ctx, hash)
}

func (f *faultStore) RotateRefreshToken(ctx context.Context, oldHash []byte, next *auth.RefreshToken, now time.Time) (bool, error) {
	if err := f.check("RotateRefreshToken"); err != nil {
		return false, err
	}
	return f.Store.RotateRefreshToken(ctx, oldHash, next, now)
}

func (f *faultStore) RevokeFamily(ctx context.Context, userID, familyID string, now time.Time) error {
	if err := f.check("RevokeFamily"); err != nil {
		return err
	}
	return f.Store.RevokeFamily(ctx, userID, familyID, now)
}

func (f *faultStore) ListSessions(ctx context.Context, userID string, now time.Time) ([]auth.SessionInfo, error) {
	if err := f.check("ListSessions"); err != nil {
		return nil, err
	}
	return f.Store.ListSessions(ctx, userID, now)
}

func (f *faultStore) RevokeUserSessions(ctx context.Context, userID, keepSessionID, keepFamilyID string, now time.Time) ([]string, error) {
	if err := f.check("RevokeUserSessions"); err != nil {
		return nil, err
	}
	return f.Store.RevokeUserSessions(ctx, userID, keepSessionID, keepFamilyID, now)
}

func (f *faultStore) Deny(ctx context.Context, key string, expiresAt time.Time) error {
	if err := f.check("Deny"); err != nil {
		return err
	}
	return f.Store.Deny(ctx, key, expiresAt)
}

func (f *faultStore) SessionWithUser(ctx context.Context, hash []byte) (*auth.Session, *auth.User, error) {
	if err := f.check("SessionWithUser"); err != nil {
		return nil, nil, err
	}
	return f.Store.SessionWithUser(ctx, hash)
}

func (f *faultStore) UserForAccess(ctx context.Context, userID string, now time.Time, keys ...string) (*auth.User, bool, error) {
	if err := f.check("UserForAccess"); err != nil {
		return nil, false, err
	}
	return f.Store.UserForAccess(ctx, userID, now, keys...)
}

func (f *faultStore) Denied(ctx context.Context, now time.Time, keys ...string) (bool, error) {
	if err := f.check("Denied"); err != nil {
		return false, err
	}
	return f.Store.Denied(ctx, now, keys...)
}

func (f *faultStore) RecordLoginFailure(ctx context.Context, key string, now time.Time, threshold int, lockFor time.Duration) (auth.Lockout, error) {
	if err := f.check("RecordLoginFailure"); err != nil {
		return auth.Lockout{}, err
	}
	return f.Store.RecordLoginFailure(ctx, key, now, threshold, lockFor)
}

func (f *faultStore) ReserveLoginAttempt(ctx context.Context, key string, now time.Time, threshold int, lockFor time.Duration) (auth.Lockout, bool, error) {
	if err := f.check("ReserveLoginAttempt"); err != nil {
		return auth.Lockout{}, false, err
	}
	return f.Store.ReserveLoginAttempt(ctx, key, now, threshold, lockFor)
}

func (f *faultStore) ReplacePassword(ctx context.Context, userID, hash, keepSessionID, keepFamilyID string, now time.Time) ([]string, int64, error) {
	if err := f.check("ReplacePassword"); err != nil {
		return nil, 0, err
	}
	return f.Store.ReplacePassword(ctx, userID, hash, keepSessionID, keepFamilyID, now)
}

func (f *faultStore) LoginLockout(ctx context.Context, key string) (auth.Lockout, error) {
	if err := f.check("LoginLockout"); err != nil {
		return auth.Lockout{}, err
	}
	return f.Store.LoginLockout(ctx, key)
}

func (f *faultStore) ClearLoginFailures(ctx context.Context, key string) error {
	if err := f.check("ClearLoginFailures"); err != nil {
		return err
	}
	return f.Store.ClearLoginFailures(ctx, key)
}

func (f *faultStore) EnqueueMail(ctx context.Context, m *auth.Mail) error {
	if err := f.check("EnqueueMail"); err != nil {
		return err
	}
	return f.Store.EnqueueMail(ctx, m)
}

// faultLimiter wraps the real in-memory limiter and can be made to fail.
type faultLimiter struct {
	*memory.Limiter
	mu  sync.Mutex
	err error
}

func (l *faultLimiter) setErr(err error) {
	l.mu.Lock()
	l.err = err
	l.mu.Unlock()
}

func (l *faultLimiter) Allow(ctx context.Context, key string, limit auth.Limit) (bool, time.Duration, error) {
	l.mu.Lock()
	err := l.err
	l.mu.Unlock()
	if err != nil {
		return false, 0, err
	}
	return l.Limiter.Allow(ctx, key, limit)
}

// faultHasher wraps the real hasher, counts calls and can be made to fail.
type faultHasher struct {
	*password.Hasher
	mu                        sync.Mutex
	hashes, verifies, dummies int
	hashErr, verifyErr        error
	dummyErr                  error
	priority                  []bool // auth.HashPriority of each Verify and VerifyDummy
}

func (h *faultHasher) setErr(err error) {
	h.mu.Lock()
	h.hashErr, h.verifyErr, h.dummyErr = err, err, err
	h.mu.Unlock()
}

func (h *faultHasher) calls() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hashes + h.verifies + h.dummies
}

func (h *faultHasher) Hash(ctx context.Context, pw string) (string, error) {
	h.mu.Lock()
	h.hashes++
	err := h.hashErr
	h.mu.Unlock()
	if err != nil {
		return "", err
	}
	return h.Hasher.Hash(ctx, pw)
}

func (h *faultHasher) Verify(ctx context.Context, pw, enc string) (bool, bool, error) {
	h.mu.Lock()
	h.verifies++
	h.priority = append(h.priority, auth.HashPriority(ctx))
	err := h.verifyErr
	h.mu.Unlock()
	if err != nil {
		return false, false, err
	}
	return h.Hasher.Verify(ctx, pw, enc)
}

func (h *faultHasher) VerifyDummy(ctx context.Context, pw string) error {
	h.mu.Lock()
	h.dummies++
	h.priority = append(h.priority, auth.HashPriority(ctx))
	err := h.dummyErr
	h.mu.Unlock()
	if err != nil {
		return err
	}
	return h.Hasher.VerifyDummy(ctx, pw)
}

// env is one Service on a real SQLite store in a temporary directory, the
// real hasher (tiny parameters), policy, token issuer and limiter, all on
// one settable clock, with fault-injecting wrappers around the store, the
// limiter and the hasher.
type env struct {
	t       testing.TB
	ctx     context.Context
	cfg     auth.Config
	clock   *testutil.Clock
	db      *sqlite.DB
	store   *faultStore
	limiter *faultLimiter
	hasher  *faultHasher
	logs    *testutil.Buffer
	tokens  auth.TokenIssuer
	policy  auth.PasswordPolicy
	svc     *auth.Service
	cl      auth.Client
}

// testConfig is DefaultConfig with rate limits high enough that tests which
// are not about them never meet them.
func testConfig() auth.Config {
	cfg := auth.DefaultConfig()
	cfg.PublicURL = "https://auth.example.test"
	big := auth.Limit{N: 10000, Per: time.Minute}
	cfg.LoginPerIP, cfg.LoginPerEmail, cfg.EmailPerEmail = big, big, big
	cfg.EmailPerIP, cfg.SignupPerIP, cfg.TokenPerIP = big, big, big
	return cfg
}

func newEnv(t testing.TB, cfg auth.Config) *env {
	t.Helper()
	ctx := context.Background()
	clk := testutil.NewClock(time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC))
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"), sqlite.AutoMigrate(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ph, err := password.New(password.Config{
		Algorithm: password.Argon2id,
		Argon2:    password.Argon2Params{Memory: 64, Time: 1, Threads: 1},
	}, password.AllowWeakParameters())
	if err != nil {
		t.Fatal(err)
	}
	policy, err := password.NewPolicy(15)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := token.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := token.NewHS256(secret, cfg.PublicURL, cfg.PublicURL, cfg.AccessTTL)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{
		t: t, ctx: ctx, cfg: cfg, clock: clk, db: db,
		store:   newFaultStore(db),
		limiter: &faultLimiter{Limiter: memory.NewLimiter(memory.LimiterOptions{Now: clk.Now})},
		hasher:  &faultHasher{Hasher: ph},
		logs:    &testutil.Buffer{},
		tokens:  issuer,
		policy:  policy,
		cl:      auth.Client{IP: "192.0.2.7", IPKey: "192.0.2.7", UserAgent: "unit-test", RequestID: "req-1"},
	}
	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.svc, err = auth.NewService(ctx, cfg, auth.Deps{
		Store: e.store, Limiter: e.limiter, Hasher: e.hasher, Policy: policy,
		Normalize: password.Normalize, CanonicalEmail: email.Canonical, Tokens: issuer, Logger: logger, Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// signup creates an account with pw and, when verify is set, verifies it
// through the mailed link. It returns the user.
func (e *env) signup(email, pw string, verify bool) *auth.User {
	e.t.Helper()
	if _, err := e.svc.Signup(e.ctx, e.cl, email, pw); err != nil {
		e.t.Fatalf("Signup(%q): %v", email, err)
	}
	if verify && e.cfg.RequireVerification {
		tok := e.mailToken(email, "verify_email")
		if _, err := e.svc.VerifyEmail(e.ctx, e.cl, tok); err != nil {
			e.t.Fatalf("VerifyEmail: %v", err)
		}
	}
	u, err := e.db.UserByEmail(e.ctx, email)
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// mails returns every message in the outbox, after resolving its jobs as
// the mail worker would (auth.Service.ResolveMailJob, then deletion).
func (e *env) mails() []auth.Mail {
	e.t.Helper()
	pending := func() []auth.Mail {
		ms, err := e.db.PendingMail(e.ctx, e.clock.Now().Add(24*time.Hour), 0, 1000)
		if err != nil {
			e.t.Fatal(err)
		}
		return ms
	}
	for _, m := range pending() {
		if !auth.IsMailJob(m.Template) {
			continue
		}
		if err := e.svc.ResolveMailJob(e.ctx, &m); err != nil {
			e.t.Fatal(err)
		}
		if err := e.db.MarkMailSent(e.ctx, m.ID); err != nil {
			e.t.Fatal(err)
		}
	}
	return pending()
}

// mailToken returns the token in the link of the newest message of template
// to the address.
func (e *env) mailToken(to, template string) string {
	e.t.Helper()
	ms := e.mails()
	for i := len(ms) - 1; i >= 0; i-- {
		m := ms[i]
		if m.To != to || m.Template != template {
			continue
		}
		_, tok, ok := strings.Cut(m.Data["link"], "#token=")
		if !ok || tok == "" {
			e.t.Fatalf("%s mail to %s has no token in its link %q", template, to, m.Data["link"])
		}
		return tok
	}
	e.t.Fatalf("no %s mail to %s", template, to)
	return ""
}

// login authenticates with the client's device token, if any.
func (e *env) login(email, pw, device string) (*auth.Login, error) {
	cl := e.cl
	cl.DeviceToken = device
	return e.svc.Authenticate(e.ctx, cl, email, pw, auth.ModeCookie)
}

// exec runs one statement on the database file through a connection of its
// own, as an operator would.
func (e *env) exec(query string, args ...any) {
	e.t.Helper()
	raw, err := sql.Open("sqlite", e.db.Path()+"?_pragma=busy_timeout(5000)")
	if err != nil {
		e.t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(e.ctx, query, args...); err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
}

// authError returns err as an *auth.Error, failing the test if it is not one.
func authError(t *testing.T, err error) *auth.Error {
	t.Helper()
	var ae *auth.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not an *auth.Error", err, err)
	}
	return ae
}

// wantCode fails the test unless err is an *auth.Error with code.
func wantCode(t *testing.T, err error, code string) *auth.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	ae := authError(t, err)
	if ae.Code != code {
		t.Fatalf("got code %q (%v), want %q", ae.Code, err, code)
	}
	return ae
}

// pwLogin is a complete password login of u, for tests that establish
// sessions without going through Authenticate.
func pwLogin(u *auth.User) *auth.Login {
	return &auth.Login{User: u, Methods: auth.Methods{auth.MethodPassword}}
}
