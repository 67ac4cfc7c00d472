package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cli runs `bulwark args…` through run() and returns its standard output.
func cli(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"bulwark"}, args...), envFunc(env), &out, &errOut)
	return out.String(), err
}

type createdClient struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
	Name   string `json:"name"`
}

func createClient(t *testing.T, env map[string]string, name string) createdClient {
	t.Helper()
	out, err := cli(t, env, "clients", "create", "--dev", name)
	if err != nil {
		t.Fatalf("clients create: %v", err)
	}
	var c createdClient
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || strings.Count(out, "\n") != 1 {
		t.Fatalf("clients create printed %q: %v", out, err)
	}
	if !strings.HasPrefix(c.ID, "cli_") || c.Name != name {
		t.Fatalf("created %+v", c)
	}
	raw, err := base64.RawURLEncoding.DecodeString(c.Secret)
	if err != nil || len(raw) < 16 {
		t.Fatalf("secret of %d random bytes (%v), want at least 16", len(raw), err)
	}
	return c
}

func (c createdClient) basic() string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(c.ID+":"+c.Secret))
}

// introspectOn posts an RFC 7662 request to in.
func introspectOn(t *testing.T, in *instance, authz, tok string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", in.url+"/v1/token/introspect", strings.NewReader(url.Values{"token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", authz)
	res, err := in.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m
}

// TestClientsCommand: `bulwark clients create|list|revoke --dev` manage the
// API clients of the dev database serve uses; the secret is printed once
// and the database holds no copy of it; a revoked client is refused at once.
func TestClientsCommand(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"BULWARK_DATA_DIR": dir}
	a := createClient(t, env, "orders service")
	b := createClient(t, env, "billing")

	out, err := cli(t, env, "clients", "list", "--dev")
	if err != nil {
		t.Fatal(err)
	}
	lines := jsonLines(t, out)
	if len(lines) != 2 || lines[0]["client_id"] != a.ID || lines[0]["name"] != "orders service" || lines[1]["client_id"] != b.ID ||
		lines[0]["revoked_at"] != nil || lines[0]["created_at"] == nil {
		t.Fatalf("list: %s", out)
	}
	if strings.Contains(out, a.Secret) || strings.Contains(out, b.Secret) || strings.Contains(out, "secret") {
		t.Fatalf("list shows a secret: %s", out)
	}

	// Every file of the data directory (database, WAL) reveals no secret,
	// in text or base64 or hex of its bytes.
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, _ := os.ReadFile(p)
		for _, c := range []createdClient{a, b} {
			if bytes.Contains(data, []byte(c.Secret)) {
				t.Errorf("%s holds a client secret", p)
			}
			raw, _ := base64.RawURLEncoding.DecodeString(c.Secret)
			if bytes.Contains(data, raw) {
				t.Errorf("%s holds a client secret's bytes", p)
			}
		}
		return nil
	})

	srv := start(t, map[string]string{"BULWARK_DATA_DIR": dir}, "serve", "--dev")
	srv.expect(srv.call("POST", "/v1/signup", map[string]string{"email": "cli@example.com", "password": strongPW}), 202)
	vt := outboxToken(t, filepath.Join(dir, "outbox"), "Verify")
	srv.expect(srv.call("POST", "/v1/email/verify", map[string]string{"token": vt}), 200)
	r := srv.expect(srv.call("POST", "/v1/token", map[string]string{"grant_type": "password", "email": "cli@example.com", "password": strongPW}), 200)
	access := r.body["access_token"].(string)
	if st, m := introspectOn(t, srv, a.basic(), access); st != 200 || m["active"] != true {
		t.Fatalf("introspect with a created client: %d %v", st, m)
	}

	out, err = cli(t, env, "clients", "revoke", "--dev", a.ID)
	if err != nil || !strings.Contains(out, `"revoked":true`) {
		t.Fatalf("revoke: %q %v", out, err)
	}
	if st, _ := introspectOn(t, srv, a.basic(), access); st != 401 {
		t.Fatalf("introspect with a revoked client: %d", st)
	}
	if st, m := introspectOn(t, srv, b.basic(), access); st != 200 || m["active"] != true {
		t.Fatalf("the other client after a revoke: %d %v", st, m)
	}
	out, _ = cli(t, env, "clients", "list", "--dev")
	if l := jsonLines(t, out); l[0]["revoked_at"] == nil || l[1]["revoked_at"] != nil {
		t.Fatalf("list after revoke: %s", out)
	}

	for _, args := range [][]string{
		{"clients"}, {"clients", "create", "--dev"}, {"clients", "create", "--dev", "a", "b"}, {"clients", "list", "--dev", "x"},
		{"clients", "revoke", "--dev", a.ID}, {"clients", "revoke", "--dev", "cli_unknown"}, {"clients", "rotate", "--dev", a.ID},
		{"clients", "create", "--dev", "bad\nname"},
	} {
		if out, err := cli(t, env, args...); err == nil || out != "" {
			t.Errorf("%v: printed %q, err %v; want an error and nothing printed", args, out, err)
		}
	}
}

// sseLines reads a feed response line by line into a channel.
func sseLines(body interface{ Read([]byte) (int, error) }) <-chan string {
	ch := make(chan string, 1024)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 1<<16), 1<<22)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return ch
}

// nextEvent returns the next event's name and data within d.
func nextEvent(t *testing.T, lines <-chan string, d time.Duration) (event, data string) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("stream ended")
			}
			switch {
			case strings.HasPrefix(l, "event: "):
				event = l[len("event: "):]
			case strings.HasPrefix(l, "data: "):
				data = l[len("data: "):]
			case l == "" && event != "":
				return event, data
			}
		case <-deadline:
			t.Fatalf("no event within %v", d)
		}
	}
}

func subscribe(t *testing.T, in *instance, c createdClient) (*http.Response, <-chan string) {
	t.Helper()
	req, _ := http.NewRequest("GET", in.url+"/v1/token/revocations", nil)
	req.Header.Set("Authorization", c.basic())
	res, err := (&http.Client{}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("feed: %d", res.StatusCode)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res, sseLines(res.Body)
}

// TestInstances_FeedReachesEveryInstance: on PostgreSQL, a logout on B
// reaches a subscriber of A within a second (LISTEN/NOTIFY), and a graceful
// shutdown of A ends A's streams instead of waiting for them.
func TestInstances_FeedReachesEveryInstance(t *testing.T) {
	env := deployment(t, false, nil)
	a, b := startPair(t, env)
	c := createClient(t, env, "rs")
	signupOn(t, a, "feed@example.com")
	_, lines := subscribe(t, a, c)
	if ev, _ := nextEvent(t, lines, 5*time.Second); ev != "snapshot" {
		t.Fatalf("first event %q", ev)
	}
	r := b.expect(b.call("POST", "/v1/token", map[string]string{"grant_type": "password", "email": "feed@example.com", "password": strongPW}), 200)
	access := r.body["access_token"].(string)
	_, claims := introspectOn(t, b, c.basic(), access)
	start := time.Now()
	b.expect(b.call("POST", "/v1/logout", nil, "Authorization", "Bearer "+access), 204)
	ev, data := nextEvent(t, lines, time.Second)
	lat := time.Since(start)
	if ev != "revoked" || !strings.Contains(data, `"jti":"`+claims["jti"].(string)+`"`) {
		t.Fatalf("on A after a logout on B: %s %s", ev, data)
	}
	ev, data = nextEvent(t, lines, time.Second)
	if ev != "revoked" || !strings.Contains(data, `"sid":"`+claims["sid"].(string)+`"`) {
		t.Fatalf("second event on A: %s %s", ev, data)
	}
	t.Logf("logout on B reached A's subscriber %v after the request was sent", lat.Round(time.Millisecond))

	stopped := time.Now()
	a.shutdown()
	if d := time.Since(stopped); d > 5*time.Second {
		t.Errorf("shutdown with an open stream took %v", d)
	}
	for range lines { // the stream ends
	}
}
