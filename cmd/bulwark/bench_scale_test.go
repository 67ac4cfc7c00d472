package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// testScale runs the scale scenario with 2,000 users, of whom 1,500 are
// sampled by the /v1/me loads, and checks its report.
func testScale(t *testing.T, database string, extra ...string) (stderr string) {
	t.Helper()
	args := append([]string{"--scenario", "scale", "--scale-users", "2000", "--scale-sample", "1500", "--duration", "300ms",
		"--concurrency", "4"}, extra...)
	rep, stderr := runBenchJSON(t, args...)
	if len(rep.Scenarios) != 1 || rep.Scenarios[0].Scale == nil {
		t.Fatalf("scenarios %+v, want one scale row with its report", rep.Scenarios)
	}
	row, s := rep.Scenarios[0], rep.Scenarios[0].Scale
	if row.Name != "scale" || row.Throughput <= 0 || row.RSSBytes == nil {
		t.Errorf("scale row %+v", row)
	}
	if s.Database != database || s.Target != 1.2 || !strings.Contains(s.PasswordHash, "one argon2id") || s.BearerTokens == "" {
		t.Errorf("report header: database %q target %v hash %q", s.Database, s.Target, s.PasswordHash)
	}
	for _, ph := range []struct {
		name          string
		users, sample int
		got           scalePhase
	}{{"small", 1000, 1000, s.Small}, {"large", 2000, 1500, s.Large}} {
		p := ph.got
		if p.Users != ph.users || p.Sessions != ph.users || p.Sample != ph.sample || p.SeedSeconds <= 0 || p.DatabaseBytes <= 0 || p.BytesPerUser <= 0 {
			t.Errorf("%s phase: %d users %d sessions %d sampled, seeded in %vs, %d bytes, %v B/user", ph.name, p.Users, p.Sessions, p.Sample, p.SeedSeconds, p.DatabaseBytes, p.BytesPerUser)
		}
		var names []string
		for _, l := range p.Loads {
			names = append(names, l.Name)
			if l.Throughput <= 0 || l.Requests == 0 || l.OK != l.Requests || len(l.Errors) != 0 || l.Missed != 0 {
				t.Errorf("%s %s: throughput %v, %d ok of %d, errors %v %v", ph.name, l.Name, l.Throughput, l.OK, l.Requests, l.Errors, l.ErrorSamples)
			}
			if l.Latency.P50 <= 0 || l.Latency.P99 < l.Latency.P50 {
				t.Errorf("%s %s: latency %+v", ph.name, l.Name, l.Latency)
			}
		}
		if got := strings.Join(names, ","); got != "me-cookie,me-bearer,login" {
			t.Errorf("%s phase loads %s", ph.name, got)
		}
	}
	if len(s.Ratios) != 3 {
		t.Fatalf("ratios %+v", s.Ratios)
	}
	within := true
	for _, r := range s.Ratios {
		if r.P50 <= 0 || r.P99 <= 0 || r.Throughput <= 0 || r.Within != (r.P50 <= 1.2 && r.P99 <= 1.2) {
			t.Errorf("ratio %+v", r)
		}
		within = within && r.Within
	}
	if s.Within != within {
		t.Errorf("within %v, loads say %v", s.Within, within)
	}
	for _, want := range []string{"hashed the bench password once", "seeded 1000 users and 1000 sessions into " + database,
		"seeded 2000 users and 2000 sessions", "scale 2k: 1500 seeded sessions drawn at random accepted by the server",
		"scale 1k: issued access tokens to 1000 seeded users drawn at random"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}

	var table bytes.Buffer
	if err := rep.writeTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"scale: " + database + ", 1k vs 2k users", "B/user", "scale:   me-cookie", "scale:   me-bearer", "scale:   login", "within 1.20× of 1k"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	if r := tableRows(t, table.String())["scale"]; len(r) < 11 || r[3] != "-" {
		t.Errorf("scale table row %q", r)
	}
	t.Logf("\n%s", table.String())
	return stderr
}

func TestBenchScale(t *testing.T) {
	testScale(t, "sqlite")
}

// TestBenchScalePostgres runs the scenario on the PostgreSQL server of
// BULWARK_TEST_POSTGRES_URL, which must let its user create databases, and
// checks that the phases' databases are gone afterwards.
func TestBenchScalePostgres(t *testing.T) {
	base := os.Getenv("BULWARK_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("BULWARK_TEST_POSTGRES_URL not set: scale scenario on PostgreSQL SKIPPED")
	}
	stderr := testScale(t, "postgres", "--scale-database-url", base)
	created := regexp.MustCompile(`created PostgreSQL database (bulwark_bench_[0-9a-f]+)`).FindAllStringSubmatch(stderr, -1)
	if len(created) != 2 {
		t.Fatalf("want two databases created, stderr:\n%s", stderr)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, m := range created {
		var n int
		if err := conn.QueryRow(ctx, `SELECT COUNT(*) FROM pg_database WHERE datname = $1`, m[1]).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("database %s was not dropped", m[1])
		}
	}
}

func TestParseBenchArgsScale(t *testing.T) {
	o, _, err := parseBenchArgs([]string{"--scenario", "scale", "--scale-users", "2000000", "--scale-database-url", "postgres://u:secret@db/x"})
	if err != nil {
		t.Fatal(err)
	}
	if o.scaleUsers != 2_000_000 || o.scaleDatabaseURL != "postgres://u:secret@db/x" {
		t.Errorf("options %+v", o)
	}
	if o, _, _ := parseBenchArgs([]string{"--scenario", "scale"}); o.scaleUsers != 1_000_000 || o.scaleSample != 50_000 {
		t.Errorf("default --scale-users %d --scale-sample %d", o.scaleUsers, o.scaleSample)
	}
	if o, _, _ := parseBenchArgs(nil); strings.Contains(strings.Join(o.scenarios, ","), "scale") {
		t.Errorf("scale in the default scenarios %v", o.scenarios)
	}
	bad := []struct {
		args []string
		want string
	}{
		{[]string{"--scenario", "scale", "--scale-users", "999"}, "--scale-users"},
		{[]string{"--scenario", "scale", "--scale-users", "2000001"}, "--scale-users"},
		{[]string{"--scenario", "scale", "--scale-sample", "0"}, "--scale-sample"},
		{[]string{"--scenario", "scale", "--scale-database-url", "mysql://u:secret@db/x"}, "postgres://"},
		{[]string{"--scenario", "login", "--scale-database-url", "postgres://db/x"}, "only the scale scenario"},
		{[]string{"--scenario", "scale", "--target", "http://127.0.0.1:1"}, "in-process"},
		{[]string{"--scenario", "scale", "--duration", "10s", "--max-total", "79s"}, "8 runs"},
	}
	for _, tt := range bad {
		_, _, err := parseBenchArgs(tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseBenchArgs(%q) = %v, want an error about %s", tt.args, err, tt.want)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("parseBenchArgs(%q) = %v: echoes the password", tt.args, err)
		}
	}
	if _, _, err := runBench(t, nil, "--scenario", "scale", "--database-url", "sqlite://"+filepath.Join(t.TempDir(), "x.db"), "--duration", "10ms"); err == nil || !strings.Contains(err.Error(), "--scale-database-url") {
		t.Errorf("bench --scenario scale --database-url = %v, want a refusal naming --scale-database-url", err)
	}
}

// TestScaleSeedRows: the derived rows are what the real code would write,
// live, and the same every time they are derived.
func TestScaleSeedRows(t *testing.T) {
	cfg := &Config{SessionTTL: 24 * time.Hour, SessionIdleTTL: 30 * time.Minute}
	b := &bencher{runID: "0a1b2c3d"}
	s, err := newScaleSeed(b, "$argon2id$…", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var users []auth.User
	for u := range s.users(50) {
		users = append(users, *u)
	}
	var sessions []auth.Session
	for ss := range s.sessions(50) {
		sessions = append(sessions, *ss)
	}
	seen := map[string]bool{}
	for i := range 50 {
		u, ss := users[i], sessions[i]
		if e, ok := auth.NormalizeEmail(u.Email); !ok || e != u.Email || u.Email != b.email("scale", int64(i)) {
			t.Errorf("user %d email %q", i, u.Email)
		}
		if !regexp.MustCompile(`^usr_[a-z2-7]{26}$`).MatchString(u.ID) || !regexp.MustCompile(`^ses_[a-z2-7]{26}$`).MatchString(ss.ID) {
			t.Errorf("ids %q %q", u.ID, ss.ID)
		}
		if !u.EmailVerified || u.Disabled || !u.TokensValidAfter.IsZero() || u.PasswordHash != "$argon2id$…" {
			t.Errorf("user %+v", u)
		}
		tok := s.token(i)
		if len(tok) != 43 || !bytes.Equal(ss.TokenHash, auth.HashToken(tok)) || ss.UserID != u.ID {
			t.Errorf("session %d: token %q, hash %x, user %s", i, tok, ss.TokenHash, ss.UserID)
		}
		if u.CreatedAt.After(ss.CreatedAt) || ss.LastSeenAt.Before(ss.CreatedAt) || ss.LastSeenAt.After(s.now) ||
			s.now.Sub(ss.LastSeenAt) >= cfg.SessionIdleTTL || !ss.ExpiresAt.Equal(ss.CreatedAt.Add(cfg.SessionTTL)) || ss.ExpiresAt.Before(s.now.Add(12*time.Hour)) {
			t.Errorf("session %d times: user created %v, created %v, last seen %v, expires %v (now %v)", i, u.CreatedAt, ss.CreatedAt, ss.LastSeenAt, ss.ExpiresAt, s.now)
		}
		if seen[u.ID] || seen[ss.ID] || seen[tok] {
			t.Errorf("row %d repeats an id or token", i)
		}
		seen[u.ID], seen[ss.ID], seen[tok] = true, true, true
	}
	// Derived again, the same.
	i := 0
	for u := range s.users(50) {
		if *u != users[i] {
			t.Errorf("user %d differs the second time", i)
		}
		i++
	}
}
