package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// process is a Bulwark binary running as a child process, so it can be
// killed with SIGKILL like a crashed machine.
type process struct {
	cmd *exec.Cmd
	url string
}

// The binary is built once per test run and shared (TestMain removes it).
var (
	binaryOnce sync.Once
	binaryDir  string
	binaryPath string
	binaryErr  error
)

func buildBinary(t *testing.T) string {
	t.Helper()
	binaryOnce.Do(func() {
		if binaryDir, binaryErr = os.MkdirTemp("", "bulwark-bin-"); binaryErr != nil {
			return
		}
		binaryPath = filepath.Join(binaryDir, "bulwark")
		// -buildvcs=auto overrides a GOFLAGS that turns stamping off: the
		// version command reports the source revision.
		out, err := exec.Command("go", "build", "-buildvcs=auto", "-o", binaryPath, ".").CombinedOutput()
		if err != nil {
			binaryErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return binaryPath
}

func startProcess(t *testing.T, bin string, env map[string]string) *process {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--dev")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "BULWARK_ADDR=127.0.0.1:0", "BULWARK_ADMIN_ADDR=127.0.0.1:0"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "listening" {
				addr <- m["addr"].(string)
			}
		}
	}()
	select {
	case a := <-addr:
		p.url = "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatal("process did not start")
	}
	return p
}

func (p *process) post(path string, body any, headers ...string) (int, map[string]any) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", p.url+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer res.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m
}

// TestKillDuringTrafficLosesNothing kills a server with SIGKILL in the
// middle of a stream of refreshes, revocations and failed logins, restarts
// it, and checks that nothing the server acknowledged was lost and no family
// was left half-rotated.
func TestKillDuringTrafficLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a real process")
	}
	env := deployment(t, true, map[string]string{
		"BULWARK_LOGIN_LIMIT_PER_EMAIL": "100000/1m",
		"BULWARK_LOGIN_LIMIT_PER_IP":    "100000/1m",
		"BULWARK_TOKEN_LIMIT_PER_IP":    "100000/1m",
		"BULWARK_LOCKOUT_THRESHOLD":     "100",
		"BULWARK_REFRESH_REUSE_GRACE":   "0",
	})
	bin := buildBinary(t)
	p := startProcess(t, bin, env)
	const chains = 4
	acked := make([]string, chains)
	for i := range chains {
		email := fmt.Sprintf("kill%d@example.com", i)
		if s, _ := p.post("/v1/signup", map[string]string{"email": email, "password": strongPW}); s != 201 {
			t.Fatalf("signup: %d", s)
		}
		_, m := p.post("/v1/token", map[string]string{"grant_type": "password", "email": email, "password": strongPW})
		acked[i] = m["refresh_token"].(string)
	}

	var mu sync.Mutex
	var revoked []string
	failures := 0
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// writer repeats step until stop is closed or step reports a write
	// that was not acknowledged (the server is gone).
	writer := func(step func() (acked bool)) {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if !step() {
					return
				}
			}
		})
	}
	for i := range chains {
		writer(func() bool {
			s, m := p.post("/v1/token", map[string]string{"grant_type": "refresh_token", "refresh_token": acked[i]})
			if s != 200 {
				return false
			}
			mu.Lock()
			acked[i] = m["refresh_token"].(string)
			mu.Unlock()
			return true
		})
	}
	writer(func() bool {
		s, m := p.post("/v1/token", map[string]string{"grant_type": "password", "email": "kill0@example.com", "password": strongPW})
		if s != 200 {
			return false
		}
		at := m["access_token"].(string)
		if s, _ := p.post("/v1/token/revoke", map[string]string{"token": at}); s != 200 {
			return false
		}
		mu.Lock()
		revoked = append(revoked, at)
		mu.Unlock()
		return true
	})
	writer(func() bool {
		s, _ := p.post("/v1/session", map[string]string{"email": "locked@example.com", "password": "a wrong password"})
		if s != 401 {
			return false
		}
		mu.Lock()
		failures++
		mu.Unlock()
		return true
	})
	// Kill mid-stream, once every kind of write has been acknowledged at
	// least once (a loaded CI machine may need longer than a quiet one).
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		ready := len(revoked) > 0 && failures > 0
		mu.Unlock()
		if ready || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	if len(revoked) == 0 || failures == 0 {
		t.Fatalf("the stream did too little before the kill: %d revocations, %d failures", len(revoked), failures)
	}
	q := startProcess(t, bin, env)
	for i, rt := range acked {
		// The last acknowledged token is current, or a rotation committed
		// just before the kill made it used (reuse then revokes): it is
		// never unknown.
		s, m := q.post("/v1/token", map[string]string{"grant_type": "refresh_token", "refresh_token": rt})
		if s != 200 && !(s == 401 && m["code"] == "refresh_token_reused") {
			t.Errorf("chain %d: last acknowledged refresh token answered %d %v", i, s, m["code"])
		}
	}
	for _, at := range revoked {
		req, _ := http.NewRequest("GET", q.url+"/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+at)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 401 {
			t.Fatalf("a revoked access token came back after the kill: %d", res.StatusCode)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, env["BULWARK_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var stored int
	if err := conn.QueryRow(ctx, `SELECT failures FROM login_failures WHERE key = 'locked@example.com'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored < failures {
		t.Fatalf("%d failed logins acknowledged, %d stored after the kill", failures, stored)
	}
	var halfRotated int
	err = conn.QueryRow(ctx, `
		SELECT count(*) FROM refresh_families f
		WHERE f.revoked_at IS NULL AND (SELECT count(*) FROM refresh_tokens r WHERE r.family_id = f.id AND r.used_at IS NULL) <> 1`).Scan(&halfRotated)
	if err != nil {
		t.Fatal(err)
	}
	if halfRotated != 0 {
		t.Fatalf("%d live families without exactly one current token", halfRotated)
	}
	t.Logf("killed after %d revocations and %d failed logins; nothing lost", len(revoked), failures)
}
