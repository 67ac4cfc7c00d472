package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	benchpkg "github.com/bulwarkauth/bulwark/internal/bench"
	"github.com/bulwarkauth/bulwark/internal/loadgen"
	"github.com/bulwarkauth/bulwark/internal/testutil"
)

// The tests of `bulwark bench` through run: bench's in-process server is
// this command's serve. internal/bench tests the rest on its own.

// defaultBenchScenarios are the scenarios of a run without --scenario.
var defaultBenchScenarios = []string{"me-bearer", "me-cookie", "login", "refresh", "signup", "refresh-storm", "mixed"}

func runBench(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut testutil.Buffer
	if env == nil {
		env = map[string]string{}
	}
	err = run(t.Context(), append([]string{"bulwark", "bench"}, args...), envFunc(env), &out, &errOut)
	return out.String(), errOut.String(), err
}

func tableRows(t *testing.T, out string) map[string][]string {
	t.Helper()
	rows := map[string][]string{}
	inTable := false
	sep := regexp.MustCompile(`\s{2,}`)
	for line := range strings.SplitSeq(out, "\n") {
		f := sep.Split(strings.TrimSpace(line), -1)
		switch {
		case len(f) > 0 && f[0] == "scenario":
			inTable = true
		case inTable && len(f) >= 11:
			rows[f[0]] = f
		case inTable:
			inTable = false
		}
	}
	return rows
}

func TestBenchShortRunReportsEveryScenario(t *testing.T) {
	loadTest(t)
	start := time.Now()
	stdout, stderr, err := runBench(t, map[string]string{"BULWARK_EMAIL_VERIFICATION": "required"},
		"--duration", "300ms", "--users", "4", "--concurrency", "4", "--storm-clients", "4")
	if err != nil {
		t.Fatalf("bench: %v\nstderr:\n%s", err, stderr)
	}
	t.Logf("took %s\n%s", time.Since(start), stdout)
	rows := tableRows(t, stdout)
	for _, name := range append([]string{"bare-handler", "hash-verify"}, defaultBenchScenarios...) {
		row, ok := rows[name]
		if !ok {
			t.Errorf("no row for %s", name)
			continue
		}
		// scenario conc req/s ratio…: the ratio of a scenario is "0.45× bare".
		if rps, err := strconv.ParseFloat(row[2], 64); err != nil || rps <= 0 {
			t.Errorf("%s: req/s %q, want > 0", name, row[2])
		}
		want := "×"
		if name == "bare-handler" || name == "hash-verify" {
			want = "baseline"
		}
		if !strings.Contains(row[3], want) {
			t.Errorf("%s: ratio column %q, want %q", name, row[3], want)
		}
		if !strings.HasSuffix(row[8], " MiB") {
			t.Errorf("%s: rss %v, want MiB in-process", name, row)
		}
	}
	// What bench changed in the configuration is said, the environment's
	// verification setting notwithstanding, and every run ends with a line.
	for _, want := range []string{"in-process server", "email verification off", "every rate limit raised", "seeded 4 users"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	for _, name := range defaultBenchScenarios {
		if !strings.Contains(stderr, "bench: "+name) {
			t.Errorf("no progress line for %s:\n%s", name, stderr)
		}
	}
}

func runBenchJSON(t *testing.T, args ...string) (rep benchpkg.Report, stderr string) {
	t.Helper()
	start := time.Now()
	stdout, stderr, err := runBench(t, nil, append([]string{"--json"}, args...)...)
	if err != nil {
		t.Fatalf("bench: %v\nstderr:\n%s", err, stderr)
	}
	t.Logf("took %s", time.Since(start))
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s", err, stdout)
	}
	return rep, stderr
}

func TestBenchJSON(t *testing.T) {
	loadTest(t)
	rep, _ := runBenchJSON(t, "--duration", "200ms", "--users", "2",
		"--concurrency", "2", "--scenario", "me-bearer,login,refresh-storm", "--storm-clients", "3")
	if len(rep.Baselines) != 2 || rep.Baselines[0].Name != "bare-handler" || rep.Baselines[1].Name != "hash-verify" {
		t.Fatalf("baselines = %+v", rep.Baselines)
	}
	for _, b := range rep.Baselines {
		if b.Throughput <= 0 {
			t.Errorf("baseline %s: throughput %v", b.Name, b.Throughput)
		}
	}
	var names []string
	for _, s := range rep.Scenarios {
		names = append(names, s.Name)
		if s.Throughput <= 0 || s.Ratio <= 0 || s.Requests == 0 || s.RSSBytes == nil || *s.RSSBytes <= 0 {
			t.Errorf("%s: throughput %v ratio %v requests %d rss %v", s.Name, s.Throughput, s.Ratio, s.Requests, s.RSSBytes)
		}
		if s.Latency.P50 <= 0 || s.Latency.P50 > s.Latency.P99 || s.Latency.P99 > s.Latency.Max {
			t.Errorf("%s: latency %+v", s.Name, s.Latency)
		}
	}
	if got := strings.Join(names, ","); got != "me-bearer,login,refresh-storm" {
		t.Errorf("scenarios %s", got)
	}
	if rep.Scenarios[1].Baseline != "hash" || rep.Scenarios[0].Baseline != "bare" {
		t.Errorf("baselines of me-bearer and login: %q, %q", rep.Scenarios[0].Baseline, rep.Scenarios[1].Baseline)
	}
	if rep.Target != "in-process" || rep.Database != "sqlite" || rep.Machine.GOMAXPROCS == 0 {
		t.Errorf("report header: %+v", rep)
	}
	if storm := rep.Scenarios[2]; storm.Notes["rounds"] == 0 || storm.Notes["families"] == 0 {
		t.Errorf("refresh-storm notes = %v", storm.Notes)
	}
}

func TestBenchRefusesRemoteTargets(t *testing.T) {
	for _, target := range []string{"http://192.0.2.1:8080", "http://[2001:db8::1]", "https://10.0.0.1"} {
		start := time.Now()
		_, _, err := runBench(t, nil, "--target", target, "--duration", "100ms")
		if !errors.Is(err, loadgen.ErrNotLoopback) {
			t.Errorf("--target %s: %v, want a refusal", target, err)
		}
		if !strings.Contains(err.Error(), "--allow-remote") {
			t.Errorf("--target %s: %v, want the message to name --allow-remote", target, err)
		}
		if time.Since(start) > time.Second {
			t.Errorf("--target %s: refusal took %v", target, time.Since(start))
		}
	}
}

func TestBenchAgainstARunningTarget(t *testing.T) {
	loadTest(t)
	in := start(t, map[string]string{
		"BULWARK_DATA_DIR": t.TempDir(), "BULWARK_EMAIL_VERIFICATION": "off",
		"BULWARK_TOKEN_LIMIT_PER_IP": "1000000/1s", "BULWARK_LOGIN_LIMIT_PER_IP": "1000000/1s",
		"BULWARK_LOGIN_LIMIT_PER_EMAIL": "1000000/1s", "BULWARK_SIGNUP_LIMIT_PER_IP": "1000000/1s",
	}, "serve", "--dev")
	stdout, stderr, err := runBench(t, nil, "--target", in.url, "--duration", "200ms", "--users", "2",
		"--concurrency", "2", "--scenario", "me-cookie")
	if err != nil {
		t.Fatalf("bench --target: %v\nstderr:\n%s", err, stderr)
	}
	row := tableRows(t, stdout)["me-cookie"]
	if len(row) < 11 || row[8] != "n/a" {
		t.Errorf("me-cookie row %v, want rss n/a against a target\n%s", row, stdout)
	}
}

func TestBenchFlood(t *testing.T) {
	loadTest(t)
	rep, stderr := runBenchJSON(t, "--scenario", "flood", "--duration", "1s", "--users", "4")
	if len(rep.Scenarios) != 1 || rep.Scenarios[0].Flood == nil {
		t.Fatalf("scenarios %+v, want one flood row with its report", rep.Scenarios)
	}
	row, f := rep.Scenarios[0], rep.Scenarios[0].Flood
	if row.Name != "flood" || row.Throughput <= 0 || row.RSSBytes == nil || *row.RSSBytes <= 0 {
		t.Errorf("flood row %+v", row)
	}
	if f.Limits != "20/1m0s per IP, 5/1m0s per email" || f.Victims != 4 || f.AttackEmails < 4000 || f.AttackIPs < 4000 {
		t.Errorf("flood set-up: limits %q victims %d emails %d addresses %d", f.Limits, f.Victims, f.AttackEmails, f.AttackIPs)
	}
	if want := 10 * rep.Baselines[1].Throughput; f.AttackRate < want*0.99 || f.AttackRate > want*1.01 {
		t.Errorf("attack rate %v, want 10× hash-verify %v", f.AttackRate, rep.Baselines[1].Throughput)
	}
	// Legitimate /v1/me never failed, in either phase, and has figures.
	for _, name := range []string{"idle", "flood"} {
		ph := f.Idle
		if name == "flood" {
			ph = f.Flood
		}
		if ph.Me.OK == 0 || ph.Me.OK != ph.Me.Requests || len(ph.Me.Errors) != 0 {
			t.Errorf("%s: legitimate /v1/me %d ok of %d, errors %v", name, ph.Me.OK, ph.Me.Requests, ph.Me.Errors)
		}
		if ph.Me.Latency.P50 <= 0 || ph.Me.Latency.P99 < ph.Me.Latency.P50 || ph.PeakRSSBytes == nil {
			t.Errorf("%s: /v1/me latency %+v, rss %v", name, ph.Me.Latency, ph.PeakRSSBytes)
		}
		if ph.Login.Requests == 0 {
			t.Errorf("%s: no legitimate login", name)
		}
	}
	if f.Idle.Attack != nil {
		t.Errorf("idle phase has an attack: %+v", f.Idle.Attack)
	}
	if f.MeP50Ratio <= 0 || f.MeP99Ratio <= 0 || f.PeakRSSBytes == nil || *f.PeakRSSBytes <= 0 {
		t.Errorf("ratios p50 %v p99 %v, peak rss %v", f.MeP50Ratio, f.MeP99Ratio, f.PeakRSSBytes)
	}
	// Attackers are refused (429 or 503) or told no (401), never let in.
	a := f.Flood.Attack
	if a == nil || a.Requests == 0 {
		t.Fatalf("no attack figures: %+v", a)
	}
	if a.OK != 0 {
		t.Errorf("%d attempts answered 2xx", a.OK)
	}
	for st := range a.Statuses {
		if st != "401" && st != "429" && st != "503" {
			t.Errorf("attack answered %s %d times; errors %v", st, a.Statuses[st], a.Errors)
		}
	}
	if a.Statuses["429"]+a.Statuses["503"] == 0 || f.Refused != a.Statuses["429"]+a.Statuses["503"] || f.RefusedLatency.P99 <= 0 {
		t.Errorf("attack statuses %v, refused %d, latency %+v: want 429s or 503s", a.Statuses, f.Refused, f.RefusedLatency)
	}
	if !strings.Contains(stderr, "flood server") || !strings.Contains(stderr, "trusted proxies 127.0.0.1/32,::1/128") || strings.Contains(stderr, "seeded 100 users") {
		t.Errorf("stderr:\n%s", stderr)
	}
	// The table prints the same figures under it.
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"flood: legit /v1/me (4 clients, bearer): idle p50", "flood: attack answers by status:", "flood: refused (429+503)", "flood: peak RSS during the flood"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	if r := tableRows(t, table.String())["flood"]; len(r) < 11 || r[3] != "-" {
		t.Errorf("flood table row %q", r)
	}
	t.Logf("\n%s", table.String())
}

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
	}{{"small", 1000, 1000}, {"large", 2000, 1500}} {
		p := s.Small
		if ph.name == "large" {
			p = s.Large
		}
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
	if err := rep.WriteTable(&table); err != nil {
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
	loadTest(t)
	testScale(t, "sqlite")
}

func TestBenchScalePostgres(t *testing.T) {
	loadTest(t)
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

// TestBenchCommandLine: a stray argument is a usage error (exit 2), --help
// prints the command's help, and the settings it chooses itself are refused.
func TestBenchCommandLine(t *testing.T) {
	var ue *usageError
	if _, _, err := runBench(t, nil, "stray"); !errors.As(err, &ue) || ue.msg != `bench: unexpected argument "stray"` {
		t.Errorf("bench stray = %v, want a usage error", err)
	}
	// Bad values of bench's options are refused as they always were.
	for _, args := range [][]string{{"--duration"}, {"--scenario", "nope"}, {"--json=maybe"}} {
		if _, _, err := runBench(t, nil, args...); err == nil || errors.As(err, &ue) {
			t.Errorf("bench %q = %v, want a refusal", args, err)
		}
	}
	stdout, _, err := runBench(t, nil, "--help")
	if err != nil || !strings.HasPrefix(stdout, "Usage: bulwark bench [--scenario") {
		t.Errorf("bench --help = %v, %q", err, stdout)
	}
	if _, _, err := runBench(t, nil, "--addr", "127.0.0.1:9999", "--duration", "100ms"); err == nil || !strings.Contains(err.Error(), "--addr") {
		t.Errorf("bench --addr = %v, want a refusal", err)
	}
	if _, _, err := runBench(t, nil, "--scenario", "scale", "--database-url", "sqlite://"+filepath.Join(t.TempDir(), "x.db"), "--duration", "10ms"); err == nil || !strings.Contains(err.Error(), "--scale-database-url") {
		t.Errorf("bench --scenario scale --database-url = %v, want a refusal naming --scale-database-url", err)
	}
}

// loadTest skips a load test under the race detector, which slows the
// server and the load generator some tenfold and turns a measurement into a
// ten-minute wait. CI runs these without -race, in a section of their own
// (.ci/run: go test -count=1 -run '^TestBench' ./cmd/bulwark/).
func loadTest(t *testing.T) {
	t.Helper()
	if raceDetector {
		t.Skip("!!! load test SKIPPED under -race; run: go test -count=1 -run '^TestBench' ./cmd/bulwark/ (CI does)")
	}
}
