package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/loadgen"
	"github.com/bulwarkauth/bulwark/internal/testutil"
)

// runBench runs `bulwark bench args…` in-process with an empty environment.
func runBench(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut testutil.Buffer
	if env == nil {
		env = map[string]string{}
	}
	err = run(t.Context(), append([]string{"bulwark", "bench"}, args...), envFunc(env), &out, &errOut)
	return out.String(), errOut.String(), err
}

// tableRows returns the rows of bench's table by scenario name, each as
// its cells: columns are two or more spaces apart, cells hold single ones.
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
	start := time.Now()
	stdout, stderr, err := runBench(t, map[string]string{"BULWARK_EMAIL_VERIFICATION": "required"},
		"--duration", "300ms", "--users", "4", "--concurrency", "4", "--storm-clients", "4")
	if err != nil {
		t.Fatalf("bench: %v\nstderr:\n%s", err, stderr)
	}
	t.Logf("took %s\n%s", time.Since(start), stdout)
	rows := tableRows(t, stdout)
	for _, name := range append([]string{"bare-handler", "hash-verify"}, defaultScenarios()...) {
		row, ok := rows[name]
		if !ok {
			t.Errorf("no row for %s", name)
			continue
		}
		// scenario conc req/s ratio…: the ratio of a scenario is "0.45× bare".
		if rps, err := strconv.ParseFloat(row[2], 64); err != nil || rps <= 0 {
			t.Errorf("%s: req/s %q, want > 0", name, row[2])
		}
		want := "baseline"
		if sc := scenarioByName(name); sc != nil {
			want = "×"
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
	for _, name := range defaultScenarios() {
		if !strings.Contains(stderr, "bench: "+name) {
			t.Errorf("no progress line for %s:\n%s", name, stderr)
		}
	}
}

// runBenchJSON runs `bulwark bench --json args…` and decodes its report,
// refusing unknown fields.
func runBenchJSON(t *testing.T, args ...string) (rep benchReport, stderr string) {
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

func TestParseBenchArgs(t *testing.T) {
	o, flags, err := parseBenchArgs([]string{"--json", "--scenario=login,mixed", "--concurrency", "8",
		"--password-hasher", "bcrypt", "--dev", "--allow-remote=false", "--rate=100", "--requests", "500"})
	if err != nil {
		t.Fatal(err)
	}
	if !o.json || o.allowRemote || o.concurrency != 8 || o.rate != 100 || o.requests != 500 ||
		strings.Join(o.scenarios, ",") != "login,mixed" || flags["password-hasher"] != "bcrypt" || len(flags) != 1 {
		t.Errorf("options %+v, settings %v", o, flags)
	}
	if o, _, _ := parseBenchArgs(nil); strings.Join(o.scenarios, ",") != "me-bearer,me-cookie,login,refresh,signup,refresh-storm,mixed" {
		t.Errorf("default scenarios %v", o.scenarios)
	}

	bad := []struct {
		args []string
		want string
	}{
		{[]string{"--scenario", "nope"}, "unknown scenario"},
		{[]string{"--scenario", "login,login"}, "named twice"},
		{[]string{"--duration", "6m"}, "--duration"},
		{[]string{"--duration", "10s", "--max-total", "30s"}, "--max-total"},
		{[]string{"--concurrency", "0"}, "--concurrency"},
		{[]string{"--users", "-1"}, "--users"},
		{[]string{"--rate", "-5"}, "--rate"},
		{[]string{"--json=maybe"}, "--json"},
		{[]string{"--duration"}, "needs a value"},
		{[]string{"stray"}, "unexpected argument"},
		{[]string{"--scenario", "flood", "--target", "http://127.0.0.1:1"}, "in-process"},
		{[]string{"--scenario", "flood", "--duration", "5s", "--max-total", "19s"}, "4 runs"},
	}
	for _, tt := range bad {
		if _, _, err := parseBenchArgs(tt.args); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseBenchArgs(%q) = %v, want an error about %s", tt.args, err, tt.want)
		}
	}
	if _, _, err := runBench(t, nil, "--addr", "127.0.0.1:9999", "--duration", "100ms"); err == nil || !strings.Contains(err.Error(), "--addr") {
		t.Errorf("bench --addr = %v, want a refusal", err)
	}
}

func TestListenWatcher(t *testing.T) {
	w := &listenWatcher{addr: make(chan string, 1)}
	for _, chunk := range []string{`{"msg":"dev mode"}` + "\n" + `{"msg":"liste`, `ning","addr":"127.0.0.1:4321"}` + "\n", `{"msg":"request"}` + "\n"} {
		if n, err := w.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	select {
	case got := <-w.addr:
		if got != "127.0.0.1:4321" {
			t.Errorf("addr %q", got)
		}
	default:
		t.Error("no address found")
	}
}

// TestBenchFlood runs the flood scenario briefly: its own server with the
// default login limits, an idle phase and a flood phase.
func TestBenchFlood(t *testing.T) {
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
	for name, ph := range map[string]floodPhase{"idle": f.Idle, "flood": f.Flood} {
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
	if err := rep.writeTable(&table); err != nil {
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
