package bench

// The scale scenario: does Bulwark stay as fast with a million users as
// with a thousand? It has two phases, each with an in-process server of its
// own (benchForced settings) over a database of its own: one seeded with
// scaleSmallUsers users, one with --scale-users, each user with one live
// cookie session. Both servers stay up while the three loads run, each on
// the small phase's server and then at once on the large one's, with the
// same plans and clients: the two figures compared are then taken seconds
// apart, not minutes (seeding a million users takes one or two), on a
// machine whose other work comes and goes. The report gives the large
// phase's latency over the small one's (target: p50 and p99 within
// scaleTarget) and the database's size per user.
//
// Seeding goes straight into the database, before the phase's server
// starts, through internal/bench/seed (prepared statements in large
// transactions on SQLite, COPY on PostgreSQL): a million signups through
// the API would hash a million passwords, about 26 ms of CPU each with the
// default argon2id. Instead bench hashes the bench password once, with the
// configured hasher, and every seeded user gets that same hash; the output
// says so. Ids, session tokens and times are derived from a random key and
// the user's index, so that bench can name any seeded user's email and
// session token without keeping a million of them in memory.
//
// The loads draw their users at random from the whole population, as the
// traffic of that many users would, so that the indexes and the caches in
// front of them (the SQLite store's read cache of per-request answers, the
// token verifier's cache) see the large phase's population, not a few hot
// rows. Both /v1/me loads draw from --scale-sample users at most (all of
// them in the small phase), by default far more than those caches hold:
//
//   - /v1/me by cookie, closed loop at --concurrency, over the seeded
//     sessions of the sample (their tokens are derived, never sent through
//     a sign-in). Each is used once just before the clock starts: that
//     first use writes last_seen_at (the server touches a session at most
//     once a minute), which would otherwise make the large phase, where
//     nearly every request would find a session not seen for a minute, a
//     write load and the small one a read load.
//   - /v1/me by bearer, closed loop at --concurrency, over one access token
//     for each user of the sample. Signing in tens of thousands of users
//     over the API would cost as many password hashes, so bench gives the
//     phases' servers their signing key (unless the settings do) and issues
//     the tokens itself, with internal/token, as the server does after a
//     login: their sid names no stored family, which /v1/me never reads
//     (only the deny list, by key). A token from a real sign-in is checked
//     first.
//   - token login (POST /v1/token, password grant), closed loop at
//     --hash-concurrency, each of any user of the population.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"maps"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/bench/seed"
	"github.com/bulwarkauth/bulwark/internal/loadgen"
	"github.com/bulwarkauth/bulwark/internal/password"
	"github.com/bulwarkauth/bulwark/internal/postgres"
	"github.com/bulwarkauth/bulwark/internal/sqlite"
	"github.com/bulwarkauth/bulwark/internal/token"
)

const (
	scaleSmallUsers   = 1_000     // users (and sessions) of the reference phase
	scaleDefaultUsers = 1_000_000 // --scale-users
	scaleMinUsers     = scaleSmallUsers
	scaleMaxUsers     = 2_000_000
	// scaleDefaultSample is --scale-sample, the most users the /v1/me
	// loads draw from: several times what the caches in front of the
	// database hold (the SQLite store's: 16384 answers), as a large
	// population's traffic would be. A small one (1000) measures a hot set
	// of users instead.
	scaleDefaultSample = 50_000
	scaleTarget        = 1.20 // most the large phase's p50 and p99 may be over the small one's
	// scaleUserAgent is a seeded session's User-Agent: a browser's, as
	// most sessions have, so that the size per user is a realistic one.
	scaleUserAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
)

// scaleReport is what the scale scenario measured.
type scaleReport struct {
	Database string `json:"database"` // "sqlite" or "postgres"
	// PasswordHash says how the seeded users' passwords were hashed.
	PasswordHash string `json:"password_hash"`
	// BearerTokens says where the bearer load's access tokens come from.
	BearerTokens string       `json:"bearer_tokens"`
	Target       float64      `json:"target_ratio"`
	Small        scalePhase   `json:"small"`
	Large        scalePhase   `json:"large"`
	Ratios       []scaleRatio `json:"ratios"` // large over small, by load
	Within       bool         `json:"within_target"`
}

// scalePhase is one phase: its database and its loads.
type scalePhase struct {
	Users    int `json:"users"`
	Sessions int `json:"sessions"`
	// Sample is how many users (their seeded sessions, their access
	// tokens) the /v1/me loads draw from.
	Sample int `json:"sample"`
	// SeedSeconds is the time to open, migrate, fill and checkpoint (on
	// SQLite) or analyze (on PostgreSQL) the database.
	SeedSeconds float64 `json:"seed_s"`
	// DatabaseBytes is the database's size after seeding: on SQLite the
	// file and its WAL after a checkpoint, on PostgreSQL Bulwark's tables
	// with their indexes.
	DatabaseBytes int64   `json:"database_bytes"`
	BytesPerUser  float64 `json:"bytes_per_user"`
	// Loads are me-cookie, me-bearer and login, in that order.
	Loads []benchRow `json:"loads"`
}

// scaleRatio compares one load across the phases.
type scaleRatio struct {
	Load       string  `json:"load"`
	P50        float64 `json:"p50"`
	P99        float64 `json:"p99"`
	Throughput float64 `json:"throughput"`
	Within     bool    `json:"within_target"` // p50 and p99 within Target
}

// scaleRun is the state shared by the two phases.
type scaleRun struct {
	b      *bencher
	cfg    *Config // the phases' servers' configuration, for the hasher and the session lifetimes
	hash   string  // the one hash of the bench password
	driver string
	dir    string // SQLite: parent of the phases' data
	pgURL  string // PostgreSQL: where to create the phases' databases
	// jwtSecret is the servers' signing key, which bench issues the
	// bearer load's tokens with; jwtFlag is set when bench chose it.
	jwtSecret []byte
	jwtFlag   string
}

// runScale is the scale scenario.
func runScale(ctx context.Context, b *bencher, _ map[string]float64) (benchRow, error) {
	if _, ok := b.flags["database-url"]; ok {
		return benchRow{}, errors.New("--database-url: the scale scenario creates and seeds databases of its own; name a PostgreSQL server with --scale-database-url")
	}
	dir, err := os.MkdirTemp("", "bulwark-scale-")
	if err != nil {
		return benchRow{}, fmt.Errorf("create data directory: %w", err)
	}
	defer os.RemoveAll(dir)
	forced := benchForced(dir)
	cfg, err := b.deps.LoadConfig(func(k string) string {
		if v, ok := forced[k]; ok {
			return v
		}
		return b.getenv(k)
	}, b.flags)
	if err != nil {
		return benchRow{}, fmt.Errorf("configuration refused: %w", err)
	}
	sc := &scaleRun{b: b, cfg: cfg, driver: "sqlite", dir: dir, pgURL: b.opt.scaleDatabaseURL, jwtSecret: cfg.JWTSecret}
	if sc.pgURL != "" {
		sc.driver = "postgres"
	}
	if len(sc.jwtSecret) == 0 {
		sc.jwtSecret = make([]byte, 32)
		if _, err := rand.Read(sc.jwtSecret); err != nil {
			return benchRow{}, fmt.Errorf("signing key: %w", err)
		}
		sc.jwtFlag = base64.StdEncoding.EncodeToString(sc.jwtSecret)
	}

	// One hash for everyone, with the hasher serve builds from the same
	// settings, so the server verifies it and finds nothing to upgrade.
	start := time.Now()
	h, err := password.New(password.Config{Algorithm: password.Algorithm(cfg.PasswordHasher), BcryptCost: cfg.BcryptCost})
	if err != nil {
		return benchRow{}, fmt.Errorf("password hasher: %w", err)
	}
	pw, _ := password.Normalize(b.password) // hex: valid UTF-8, its own NFKC form
	sc.hash, err = h.Hash(ctx, pw)
	h.Close()
	if err != nil {
		return benchRow{}, fmt.Errorf("hash the bench password: %w", err)
	}
	fmt.Fprintf(b.stderr, "bench: scale: hashed the bench password once (%s, %s); every seeded user gets that same hash\n",
		hasherName(cfg), time.Since(start).Round(time.Millisecond))

	rep := &scaleReport{
		Database:     sc.driver,
		PasswordHash: "one " + hasherName(cfg) + " hash of the bench password, shared by every seeded user",
		BearerTokens: "issued by bench with the server's signing key, one per sampled user, as a login would",
		Target:       scaleTarget,
	}
	small, err := sc.start(ctx, scaleSmallUsers, &rep.Small)
	if err != nil {
		return benchRow{}, err
	}
	defer small.stop()
	large, err := sc.start(ctx, b.opt.scaleUsers, &rep.Large)
	if err != nil {
		return benchRow{}, err
	}
	defer large.stop()
	// Both servers are up: each load runs on one and then at once on the
	// other, so that the two figures compared are taken a few seconds
	// apart, not minutes, on a machine whose other work comes and goes.
	for _, load := range scaleLoads() {
		for _, side := range []*scaleSide{small, large} {
			if err := side.measure(ctx, load); err != nil {
				return benchRow{}, fmt.Errorf("scale %s %s: %w", side.label, load.name, err)
			}
		}
	}

	rep.Within = true
	for i, small := range rep.Small.Loads {
		large := rep.Large.Loads[i]
		r := scaleRatio{Load: small.Name,
			P50: ratio(large.Latency.P50, small.Latency.P50), P99: ratio(large.Latency.P99, small.Latency.P99),
			Throughput: ratio(large.Throughput, small.Throughput)}
		r.Within = r.P50 > 0 && r.P99 > 0 && r.P50 <= scaleTarget && r.P99 <= scaleTarget
		rep.Within = rep.Within && r.Within
		rep.Ratios = append(rep.Ratios, r)
	}

	row := rep.Large.Loads[0]
	row.Name = "scale"
	row.About = fmt.Sprintf("GET /v1/me by cookie, %s users and sessions (%s); 1k comparison under the table", fmtCount(b.opt.scaleUsers), sc.driver)
	row.Scale = rep
	return row, nil
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

// scaleSide is one phase while it runs: its server, and what its loads
// draw from.
type scaleSide struct {
	ph         *scalePhase
	label      string
	seed       *scaleSeed
	b          *bencher // on the phase's server
	cookieName string
	issuer     *token.Issuer // the server's, for the bearer load's tokens
	accessTTL  time.Duration
	stop       func() // stops the server, then removes the database
}

// start seeds a fresh database with users users and as many sessions and
// starts a server on it.
func (sc *scaleRun) start(ctx context.Context, users int, ph *scalePhase) (side *scaleSide, err error) {
	b := sc.b
	label := fmtCount(users)
	*ph = scalePhase{Users: users, Sessions: users, Sample: min(users, b.opt.scaleSample)}
	dbURL, drop, err := sc.newDatabase(ctx, label)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			drop()
		}
	}()

	seed, err := newScaleSeed(b, sc.hash, sc.cfg)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	size, err := sc.seed(ctx, dbURL, seed.users(users), seed.sessions(users))
	if err != nil {
		return nil, fmt.Errorf("seed %s users: %w", label, err)
	}
	ph.SeedSeconds = time.Since(start).Seconds()
	ph.DatabaseBytes, ph.BytesPerUser = size, float64(size)/float64(users)
	fmt.Fprintf(b.stderr, "bench: scale: seeded %d users and %d sessions into %s in %.1fs (%.0f rows/s); database %s, %.0f B/user\n",
		users, users, sc.driver, ph.SeedSeconds, float64(2*users)/ph.SeedSeconds, fmtBytes(size), ph.BytesPerUser)

	flags := maps.Clone(b.flags)
	flags["database-url"] = dbURL
	if sc.jwtFlag != "" {
		flags["jwt-secret"] = sc.jwtFlag
	}
	srv, err := startBenchServer(ctx, b.deps, b.getenv, flags, b.stderr, false)
	if err != nil {
		return nil, err
	}
	// The issuer serve builds from the same settings.
	issuer, err := token.NewHS256(sc.jwtSecret, srv.cfg.PublicURL.String(), srv.cfg.TokenAudience, srv.cfg.AccessTokenTTL)
	if err != nil {
		srv.stop()
		return nil, fmt.Errorf("access-token issuer: %w", err)
	}
	side = &scaleSide{ph: ph, label: label, seed: seed, issuer: issuer, accessTTL: srv.cfg.AccessTokenTTL,
		b: &bencher{opt: b.opt, base: srv.url, stderr: b.stderr, progressTTY: b.progressTTY, inProcess: true,
			runID: b.runID, password: b.password},
		stop: func() { srv.stop(); drop() }}

	// One sign-in by cookie gives the session cookie's name (it differs
	// in production), which the seeded tokens then travel in.
	c := loadgen.NewClient(1, false)
	defer c.CloseIdleConnections()
	probe := &benchUser{email: seed.email(mrand.IntN(users))}
	if err := side.b.retryBusy(ctx, func() error { return side.b.cookieLogin(ctx, c, probe) }); err != nil {
		srv.stop() // and the deferred drop removes the database
		return nil, fmt.Errorf("scale %s: sign in a seeded user: %w", label, err)
	}
	side.cookieName = probe.cookie.Name
	return side, nil
}

// newDatabase returns the URL of an empty database for one phase and the
// function that removes it.
func (sc *scaleRun) newDatabase(ctx context.Context, label string) (dbURL string, drop func(), err error) {
	if sc.driver == "sqlite" {
		dir := filepath.Join(sc.dir, label)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", nil, fmt.Errorf("create database directory: %w", err)
		}
		return "sqlite://" + filepath.Join(dir, "bulwark.db"), func() { os.RemoveAll(dir) }, nil
	}
	u, err := url.Parse(sc.pgURL)
	if err != nil {
		return "", nil, errors.New("--scale-database-url: malformed URL") // never echo it: it may hold a password
	}
	// A database of its own, created through the given URL's server, so
	// nothing of anybody's is ever touched. Its name is [a-z0-9_] only.
	name := "bulwark_bench_" + benchRandomHex(6)
	if err := pgAdmin(ctx, sc.pgURL, "CREATE DATABASE "+name); err != nil {
		return "", nil, err
	}
	u.Path, u.RawPath = "/"+name, ""
	drop = func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		// FORCE (PostgreSQL 13+): a connection the server's pool has not
		// closed yet must not leave the database behind.
		if err := pgAdmin(dctx, sc.pgURL, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			fmt.Fprintf(sc.b.stderr, "bench: scale: could not drop database %s: %v\n", name, err)
		}
	}
	fmt.Fprintf(sc.b.stderr, "bench: scale: created PostgreSQL database %s for the %s phase (dropped at the end)\n", name, label)
	return u.String(), drop, nil
}

// pgAdmin runs one statement on a connection of its own to the server of
// --scale-database-url.
func pgAdmin(ctx context.Context, adminURL, stmt string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("--scale-database-url: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("--scale-database-url: %s: %w", stmt, err)
	}
	return nil
}

// seed opens the phase's database, migrates it, seeds it, measures it and
// closes it, before the phase's server opens it.
func (sc *scaleRun) seed(ctx context.Context, dbURL string, users iter.Seq[*auth.User], sessions iter.Seq[*auth.Session]) (int64, error) {
	var db seed.DB
	if sc.driver == "sqlite" {
		sdb, err := sqlite.Open(ctx, strings.TrimPrefix(dbURL, "sqlite://"), sqlite.AutoMigrate(true))
		if err != nil {
			return 0, err
		}
		db = seed.SQLite{DB: sdb}
	} else {
		pdb, err := postgres.Open(ctx, dbURL, postgres.AutoMigrate(true))
		if err != nil {
			return 0, err
		}
		db = seed.Postgres{DB: pdb}
	}
	defer db.Close()
	if err := db.Seed(ctx, users, sessions); err != nil {
		return 0, err
	}
	size, err := db.Size(ctx)
	if err != nil {
		return 0, err
	}
	return size, db.Close()
}

// scaleLoad is one of the loads measured in both phases.
type scaleLoad struct {
	name, about string
	workers     func(o benchOptions) int
	// prepare readies the side's server for the load, outside the
	// measurement, and returns the request to repeat.
	prepare func(ctx context.Context, side *scaleSide, c *http.Client) (loadgen.Do, error)
}

// scaleLoads are the loads, in the order they run and are reported.
func scaleLoads() []scaleLoad {
	return []scaleLoad{
		{"me-cookie", "GET /v1/me by cookie, sampled users' seeded sessions at random",
			func(o benchOptions) int { return o.concurrency }, prepareScaleCookie},
		{"me-bearer", "GET /v1/me by bearer, sampled users' access tokens at random",
			func(o benchOptions) int { return o.concurrency }, prepareScaleBearer},
		{"login", "POST /v1/token password grant, any seeded user at random",
			func(o benchOptions) int { return o.hashConcurrency }, prepareScaleLogin},
	}
}

// measure runs one load on the side's server and adds its row to the
// phase.
func (side *scaleSide) measure(ctx context.Context, l scaleLoad) error {
	workers := l.workers(side.b.opt)
	c := side.b.scenarioClient(workers)
	defer c.CloseIdleConnections()
	do, err := l.prepare(ctx, side, c)
	if err != nil {
		return err
	}
	row, err := side.b.measure(ctx, "scale "+side.label+" "+l.name, l.about, workers, 0, do)
	if err != nil {
		return err
	}
	row.Name = l.name
	side.ph.Loads = append(side.ph.Loads, row)
	return nil
}

// prepareScaleCookie draws the cookie sample and uses each session once
// just before the clock starts: that first use may write last_seen_at,
// which the measured requests then do not (see the file's comment). It is
// also the proof that the server takes seeded sessions for its own.
func prepareScaleCookie(ctx context.Context, side *scaleSide, c *http.Client) (loadgen.Do, error) {
	b, users := side.b, side.ph.Users
	start := time.Now()
	me := b.url("/v1/me")
	var cookies []*http.Cookie
	for _, i := range randomIndexes(users, side.ph.Sample) {
		cookies = append(cookies, &http.Cookie{Name: side.cookieName, Value: side.seed.token(i)})
	}
	err := parallel(ctx, b.opt.concurrency, len(cookies), func(i int) error {
		st, a, _, err := exchange(ctx, c, http.MethodGet, me, nil, "", cookies[i])
		if err != nil || st != http.StatusOK {
			return statusErr("GET /v1/me with a seeded session", st, a, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(b.stderr, "bench: scale %s: %d seeded sessions drawn at random accepted by the server (each used once) in %s\n",
		side.label, len(cookies), time.Since(start).Round(time.Millisecond))
	return func(ctx context.Context, _ int) loadgen.Outcome {
		return getOutcome(ctx, c, me, "", cookies[mrand.IntN(len(cookies))])
	}, nil
}

// prepareScaleBearer issues one access token to each user of a sample
// drawn at random, just before the clock starts, after checking that a
// token from a real sign-in and the first issued ones are accepted.
func prepareScaleBearer(ctx context.Context, side *scaleSide, c *http.Client) (loadgen.Do, error) {
	b, users := side.b, side.ph.Users
	me := b.url("/v1/me")
	probe := &benchUser{email: side.seed.email(mrand.IntN(users))}
	if err := b.retryBusy(ctx, func() error { return b.tokenLogin(ctx, c, probe) }); err != nil {
		return nil, fmt.Errorf("sign in a seeded user by token: %w", err)
	}
	sample := randomIndexes(users, side.ph.Sample)
	tokens := make([]string, len(sample))
	now := time.Now()
	for k, i := range sample {
		fam := side.seed.prf('f', i)
		var err error
		// As Service.accessToken does: the user, the family, 128 random
		// bits of jti, issued now for the configured lifetime, under the
		// credential version of a user who never changed the password (1).
		tokens[k], err = side.issuer.Issue(auth.AccessClaims{
			Subject: side.seed.userID(i), SessionID: "fam_" + idEncoding.EncodeToString(fam[:16]), ID: token.NewJTI(),
			IssuedAt: now, ExpiresAt: now.Add(side.accessTTL), CredentialVersion: 1,
		})
		if err != nil {
			return nil, fmt.Errorf("issue an access token: %w", err)
		}
	}
	for _, tok := range append([]string{probe.access}, tokens[:min(len(tokens), 8)]...) {
		st, a, _, err := exchange(ctx, c, http.MethodGet, me, nil, tok, nil)
		if err != nil || st != http.StatusOK {
			return nil, statusErr("GET /v1/me by bearer", st, a, err)
		}
	}
	fmt.Fprintf(b.stderr, "bench: scale %s: issued access tokens to %d seeded users drawn at random\n", side.label, len(tokens))
	return func(ctx context.Context, _ int) loadgen.Outcome {
		return getOutcome(ctx, c, me, tokens[mrand.IntN(len(tokens))], nil)
	}, nil
}

// prepareScaleLogin signs in any user of the population, drawn at random.
func prepareScaleLogin(_ context.Context, side *scaleSide, c *http.Client) (loadgen.Do, error) {
	b, users := side.b, side.ph.Users
	return func(ctx context.Context, _ int) loadgen.Outcome {
		return outcome(b.passwordGrant(ctx, c, side.seed.email(mrand.IntN(users))))
	}, nil
}

// randomIndexes returns k distinct indexes of [0, n) drawn at random (all
// of them, shuffled, when k >= n).
func randomIndexes(n, k int) []int {
	if k >= n {
		return mrand.Perm(n)
	}
	seen := make(map[int]bool, k)
	out := make([]int, 0, k)
	for len(out) < k {
		if i := mrand.IntN(n); !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	return out
}

// idEncoding is internal/auth's alphabet of public ids.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// scaleSeed derives the seeded rows from a random key and the user's
// index: the same index always gives the same user, session and token, so
// the loads can name any of them and nothing is kept per user.
type scaleSeed struct {
	key    [32]byte
	email  func(i int) string
	hash   string
	now    time.Time
	window time.Duration // sessions were created up to this long before now
	ttl    time.Duration
}

func newScaleSeed(b *bencher, hash string, cfg *Config) (*scaleSeed, error) {
	s := &scaleSeed{hash: hash, now: time.Now().UTC(), ttl: cfg.SessionTTL,
		email: func(i int) string { return b.email("scale", int64(i)) }}
	if _, err := rand.Read(s.key[:]); err != nil {
		return nil, fmt.Errorf("seed key: %w", err)
	}
	// Live and not idle whatever the settings: created within half of
	// each lifetime.
	s.window = cfg.SessionTTL / 2
	if cfg.SessionIdleTTL > 0 {
		s.window = min(s.window, cfg.SessionIdleTTL/2)
	}
	s.window = max(s.window, time.Microsecond)
	if e := s.email(0); e != strings.ToLower(e) {
		return nil, fmt.Errorf("seeded email %q is not normalised", e)
	}
	if e, ok := auth.NormalizeEmail(s.email(scaleMaxUsers)); !ok || e != s.email(scaleMaxUsers) {
		return nil, fmt.Errorf("seeded email %q is not normalised", s.email(scaleMaxUsers))
	}
	return s, nil
}

// prf is SHA-256(key ‖ tag ‖ i): 32 bytes that only this run can predict.
func (s *scaleSeed) prf(tag byte, i int) [32]byte {
	var buf [32 + 1 + 8]byte
	copy(buf[:], s.key[:])
	buf[32] = tag
	binary.BigEndian.PutUint64(buf[33:], uint64(i))
	return sha256.Sum256(buf[:])
}

// userID and sessionID have the form of internal/auth's newID: a prefix and
// 128 bits in base32.
func (s *scaleSeed) userID(i int) string {
	p := s.prf('u', i)
	return "usr_" + idEncoding.EncodeToString(p[:16])
}

func (s *scaleSeed) sessionID(i int) string {
	p := s.prf('s', i)
	return "ses_" + idEncoding.EncodeToString(p[:16])
}

// token is user i's session token, of the form of internal/auth's
// newToken: 32 bytes in unpadded base64url.
func (s *scaleSeed) token(i int) string {
	p := s.prf('t', i)
	return base64.RawURLEncoding.EncodeToString(p[:])
}

// times gives user i's session its creation and last use, spread over the
// window before now, and its user a creation up to a year before.
func (s *scaleSeed) times(i int) (userCreated, created, lastSeen time.Time, ip string) {
	p := s.prf('c', i)
	age := time.Duration(binary.BigEndian.Uint64(p[0:8]) % uint64(s.window))
	created = s.now.Add(-age)
	lastSeen = created.Add(time.Duration(binary.BigEndian.Uint64(p[8:16]) % uint64(age+1)))
	userCreated = created.Add(-time.Duration(binary.BigEndian.Uint64(p[16:24]) % uint64(365*24*time.Hour)))
	ip = "10." + strconv.Itoa(int(p[24])) + "." + strconv.Itoa(int(p[25])) + "." + strconv.Itoa(int(p[26]))
	return userCreated, created, lastSeen, ip
}

// users yields the n users; the value is reused from one to the next.
func (s *scaleSeed) users(n int) iter.Seq[*auth.User] {
	return func(yield func(*auth.User) bool) {
		var u auth.User
		for i := range n {
			created, _, _, _ := s.times(i)
			// As Signup writes it with verification off: normalised
			// email, verified, never disabled, no revocation epoch.
			u = auth.User{ID: s.userID(i), Email: s.email(i), PasswordHash: s.hash, EmailVerified: true, CreatedAt: created}
			if !yield(&u) {
				return
			}
		}
	}
}

// sessions yields one live cookie session for each of the n users; the
// value is reused from one to the next.
func (s *scaleSeed) sessions(n int) iter.Seq[*auth.Session] {
	return func(yield func(*auth.Session) bool) {
		var ss auth.Session
		for i := range n {
			_, created, lastSeen, ip := s.times(i)
			// As CreateSession writes it: only the token's SHA-256.
			ss = auth.Session{ID: s.sessionID(i), UserID: s.userID(i), TokenHash: auth.HashToken(s.token(i)),
				CreatedAt: created, LastSeenAt: lastSeen, ExpiresAt: created.Add(s.ttl), IP: ip, UserAgent: scaleUserAgent}
			if !yield(&ss) {
				return
			}
		}
	}
}

// fmtCount prints a user count briefly: 1k, 2.5k, 1M.
func fmtCount(n int) string {
	switch {
	case n >= 1_000_000 && n%100_000 == 0:
		return strconv.FormatFloat(float64(n)/1e6, 'f', -1, 64) + "M"
	case n >= 1_000 && n%100 == 0:
		return strconv.FormatFloat(float64(n)/1e3, 'f', -1, 64) + "k"
	}
	return strconv.Itoa(n)
}

func fmtBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
}

// writeLines prints the scale report under the table.
func (r *scaleReport) writeLines(w io.Writer) {
	s, l := r.Small, r.Large
	sl, ll := fmtCount(s.Users), fmtCount(l.Users)
	fmt.Fprintf(w, "scale: %s, %s vs %s users, each with one live cookie session, seeded directly into the database with %s (one hash computed, not one per user)\n",
		r.Database, sl, ll, r.PasswordHash)
	where := "SQLite file + WAL after a checkpoint"
	if r.Database == "postgres" {
		where = "Bulwark's tables and indexes"
	}
	fmt.Fprintf(w, "scale: seeding %s %.1fs, %s %.1fs (%.0f users+sessions/s); size (%s) %s %s = %.0f B/user, %s %s = %.0f B/user\n",
		sl, s.SeedSeconds, ll, l.SeedSeconds, float64(2*l.Users)/l.SeedSeconds, where,
		sl, fmtBytes(s.DatabaseBytes), s.BytesPerUser, ll, fmtBytes(l.DatabaseBytes), l.BytesPerUser)
	fmt.Fprintf(w, "scale: /v1/me draws from %d users at %s and %d picked at random at %s: their seeded sessions (each used once before the clock) and access tokens %s; login from every user\n",
		s.Sample, sl, l.Sample, ll, r.BearerTokens)
	table := [][]string{{"load", "conc", sl + " req/s", sl + " p50", sl + " p99", ll + " req/s", ll + " p50", ll + " p99", "p50 ×", "p99 ×", "req/s ×", "errors", ""}}
	for i, ra := range r.Ratios {
		a, b := s.Loads[i], l.Loads[i]
		verdict := "within"
		if !ra.Within {
			verdict = "NOT within"
		}
		errs := fmtErrors(a) + " / " + fmtErrors(b)
		table = append(table, []string{ra.Load, strconv.Itoa(b.Concurrency),
			fmt.Sprintf("%.1f", a.Throughput), fmtMS(a.Latency.P50), fmtMS(a.Latency.P99),
			fmt.Sprintf("%.1f", b.Throughput), fmtMS(b.Latency.P50), fmtMS(b.Latency.P99),
			fmt.Sprintf("%.2f", ra.P50), fmt.Sprintf("%.2f", ra.P99), fmt.Sprintf("%.2f", ra.Throughput),
			errs, fmt.Sprintf("%s %.2f×", verdict, r.Target)})
	}
	var buf strings.Builder
	_ = writeAligned(&buf, table, 0, 11, 12)
	for line := range strings.Lines(buf.String()) {
		fmt.Fprint(w, "scale:   "+line)
	}
	verdict := "within"
	if !r.Within {
		verdict = "NOT within"
	}
	fmt.Fprintf(w, "scale: %s latency (p50 and p99 of every load) is %s %.2f× of %s\n", ll, verdict, r.Target, sl)
}
