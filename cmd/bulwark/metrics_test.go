package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// scrape reads the admin listener's /metrics and returns every sample,
// keyed by its name and labels as exposed ("name{a=\"b\"}").
func scrape(t *testing.T, in *instance) map[string]float64 {
	t.Helper()
	if in.admin == "" {
		t.Fatal("no admin listener")
	}
	resp, err := http.Get(in.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics on the admin listener: %d %s", resp.StatusCode, body)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// TestServeMetricsOnTheAdminListenerOnly: the counters move with traffic,
// the admin listener also answers health checks, and the public listener
// has no /metrics.
func TestServeMetricsOnTheAdminListenerOnly(t *testing.T) {
	in := start(t, map[string]string{"BULWARK_DATA_DIR": t.TempDir(), "BULWARK_EMAIL_VERIFICATION": "off"}, "serve", "--dev")
	before := scrape(t, in)
	in.expect(in.call("POST", "/v1/signup", map[string]string{"email": "m@example.com", "password": strongPW}), 201)
	in.expect(in.call("POST", "/v1/session", loginBody("m@example.com", "not the password at all")), 401)
	in.expect(in.call("POST", "/v1/session", loginBody("m@example.com", strongPW)), 200)
	for range 5 {
		in.call("POST", "/v1/session", loginBody("m@example.com", "another wrong guess"))
	}
	in.expect(in.call("GET", "/no/such/route", nil), 404)
	after := scrape(t, in)

	for name, want := range map[string]float64{
		`bulwark_logins_total{outcome="success"}`:                               1,
		`bulwark_logins_total{outcome="invalid_credentials"}`:                   4, // the 5th is over the 5-a-minute limit
		`bulwark_logins_total{outcome="rate_limited"}`:                          2,
		`bulwark_rate_limited_total{limiter="login_email"}`:                     2,
		`bulwark_http_requests_total{code="201",route="POST /v1/signup"}`:       1,
		`bulwark_http_requests_total{code="401",route="POST /v1/session"}`:      4,
		`bulwark_http_requests_total{code="429",route="POST /v1/session"}`:      2,
		`bulwark_http_requests_total{code="404",route="unmatched"}`:             1,
		`bulwark_http_request_duration_seconds_count{route="POST /v1/session"}`: 7,
		`bulwark_hash_acquired_total`:                                           6, // signup, 5 checked passwords
	} {
		if got := after[name] - before[name]; got != want {
			t.Errorf("%s moved by %v, want %v", name, got, want)
		}
	}
	for _, name := range []string{"bulwark_hash_queue_depth", "bulwark_outbox_depth", "bulwark_outbox_oldest_age_seconds", "bulwark_hash_wait_seconds_total"} {
		if _, ok := after[name]; !ok {
			t.Errorf("%s not exposed", name)
		}
	}
	// The dependency probe runs at start.
	if after[`bulwark_dependency_ping_seconds_count{dependency="database"}`] < 1 {
		t.Error("no database ping recorded")
	}

	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(in.admin + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("admin %s: %d", path, resp.StatusCode)
		}
	}
	r := in.call("GET", "/metrics", nil)
	if r.status != 404 {
		t.Fatalf("public /metrics: %d, want 404", r.status)
	}
	// The start-up line names what the instance runs on.
	for _, line := range jsonLines(t, in.stdout.String()) {
		if line["msg"] == "listening" {
			if !strings.HasPrefix(line["database"].(string), "sqlite://") || line["limiter"] != "memory" || !strings.HasPrefix(line["mail"].(string), "file://") {
				t.Fatalf("listening line %v", line)
			}
			return
		}
	}
	t.Fatal("no listening line")
}

// TestServeAdminListenerOff: BULWARK_ADMIN_ADDR=off starts no admin
// listener; the same address as the public one is refused.
func TestServeAdminListenerOff(t *testing.T) {
	in := start(t, map[string]string{"BULWARK_DATA_DIR": t.TempDir(), "BULWARK_ADMIN_ADDR": "off"}, "serve", "--dev")
	if in.admin != "" {
		t.Fatalf("admin listener at %s with BULWARK_ADMIN_ADDR=off", in.admin)
	}
	var out strings.Builder
	err := run(t.Context(), []string{"bulwark", "serve", "--dev"}, envFunc(map[string]string{
		"BULWARK_DATA_DIR": t.TempDir(), "BULWARK_ADDR": "127.0.0.1:8099", "BULWARK_ADMIN_ADDR": "127.0.0.1:8099",
	}), &out, &out)
	if err == nil || !strings.Contains(err.Error(), "BULWARK_ADMIN_ADDR") {
		t.Fatalf("same admin and public address: %v", err)
	}
}

// TestServeBusyAdminPort: `serve --dev` starts whatever holds the admin
// port (the metrics are lost, with a warning); production refuses to start,
// saying which setting to change.
func TestServeBusyAdminPort(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	in := start(t, map[string]string{"BULWARK_DATA_DIR": t.TempDir(), "BULWARK_ADMIN_ADDR": busy.Addr().String()}, "serve", "--dev")
	if in.admin != "" || !strings.Contains(in.stdout.String(), "admin listener not started") {
		t.Fatalf("dev with a busy admin port: admin %q, log:\n%s", in.admin, in.stdout.String())
	}
	in.expect(in.call("GET", "/healthz", nil), 200)

	dir := t.TempDir()
	var out strings.Builder
	err = run(t.Context(), []string{"bulwark", "serve"}, envFunc(map[string]string{
		"BULWARK_ADDR":               "127.0.0.1:0",
		"BULWARK_ADMIN_ADDR":         busy.Addr().String(),
		"BULWARK_PUBLIC_URL":         "https://auth.example.com",
		"BULWARK_DATABASE_URL":       "sqlite://" + filepath.Join(dir, "b.db"),
		"BULWARK_MAIL_URL":           "file://" + filepath.Join(dir, "outbox"),
		"BULWARK_KEY_ENCRYPTION_KEY": kek32,
		"BULWARK_HASH_WORKER":        "inline",
	}), &out, &out)
	if err == nil || !strings.Contains(err.Error(), "BULWARK_ADMIN_ADDR") {
		t.Fatalf("production with a busy admin port: %v", err)
	}
}
