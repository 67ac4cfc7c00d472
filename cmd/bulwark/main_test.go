package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"github.com/pquerna/otp/totp"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/testutil"
)

// instance is a real Bulwark started through run(), as main starts it.
type instance struct {
	t      *testing.T
	url    string
	admin  string // base URL of the admin listener, "" when off
	stdout *testutil.Buffer
	stderr *testutil.Buffer
	stop   context.CancelFunc
	done   chan error
	client *http.Client
}

func envFunc(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// start runs `bulwark <args>` with env on 127.0.0.1:0 and waits until it
// listens and answers /healthz.
func start(t *testing.T, env map[string]string, args ...string) *instance {
	t.Helper()
	if _, ok := env["BULWARK_ADDR"]; !ok {
		env["BULWARK_ADDR"] = "127.0.0.1:0"
	}
	if _, ok := env["BULWARK_ADMIN_ADDR"]; !ok {
		env["BULWARK_ADMIN_ADDR"] = "127.0.0.1:0"
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{t: t, stdout: &testutil.Buffer{}, stderr: &testutil.Buffer{}, stop: cancel, done: make(chan error, 1)}
	go func() { in.done <- run(ctx, append([]string{"bulwark"}, args...), envFunc(env), in.stdout, in.stderr) }()
	deadline := time.Now().Add(30 * time.Second)
	for in.url == "" {
		select {
		case err := <-in.done:
			t.Fatalf("server exited: %v\n%s", err, in.stdout.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start:\n%s", in.stdout.String())
		}
		for _, line := range jsonLines(t, in.stdout.String()) {
			if line["msg"] == "listening" {
				in.url = "http://" + line["addr"].(string)
			}
			if line["msg"] == "admin listening" {
				in.admin = "http://" + line["addr"].(string)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	jar, _ := cookiejar.New(nil)
	in.client = &http.Client{Jar: jar, Timeout: 10 * time.Second}
	if env["BULWARK_TLS_CERT"] != "" {
		in.url = strings.Replace(in.url, "http://", "https://", 1)
	}
	t.Cleanup(func() { in.shutdown() })
	return in
}

// shutdown cancels the server's context, as SIGTERM does, and waits.
func (in *instance) shutdown() {
	in.stop()
	select {
	case err := <-in.done:
		if err != nil {
			in.t.Errorf("run returned %v", err)
		}
		in.done <- nil
	case <-time.After(15 * time.Second):
		in.t.Error("server did not stop within 15s")
	}
}

func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("output line is not one JSON object: %q", l)
		}
		out = append(out, m)
	}
	return out
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
}

func (in *instance) call(method, path string, body any, headers ...string) reply {
	in.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, in.url+path, rd)
	if err != nil {
		in.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := in.client.Do(req)
	if err != nil {
		in.t.Fatal(err)
	}
	defer res.Body.Close()
	out := reply{status: res.StatusCode, header: res.Header}
	raw, _ := io.ReadAll(res.Body)
	_ = json.Unmarshal(raw, &out.body)
	return out
}

func (in *instance) expect(r reply, status int) reply {
	in.t.Helper()
	if r.status != status {
		in.t.Fatalf("status %d, want %d: %v", r.status, status, r.body)
	}
	return r
}

var tokenInMail = regexp.MustCompile(`#token=([A-Za-z0-9_-]+)`)

// outboxToken reads the newest .eml in dir whose subject contains subject and
// returns the token of its link, as the README tells a developer to.
func outboxToken(t *testing.T, dir, subject string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
		for i := len(files) - 1; i >= 0; i-- {
			b, err := os.ReadFile(files[i])
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), "Subject: "+subject) {
				if m := tokenInMail.FindSubmatch(b); m != nil {
					return string(m[1])
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no mail %q in %s", subject, dir)
	return ""
}

// TestServeDevWalkthrough runs the README walk-through against the real
// program and then checks that no secret it handled reached its output.
func TestServeDevWalkthrough(t *testing.T) {
	dir := t.TempDir()
	// Nine password logins of one address: more than the default 5 a minute.
	srv := start(t, map[string]string{"BULWARK_DATA_DIR": dir, "BULWARK_LOGIN_LIMIT_PER_EMAIL": "20/1m",
		"BULWARK_MFA_TOKEN_TTL": "2m", "BULWARK_TOTP_ISSUER": "Walk Through"}, "serve", "--dev")
	const email = "walk@example.com"
	pw := "CANARY-PW-" + randomHex(t)
	var secrets []string
	secrets = append(secrets, pw)

	srv.expect(srv.call("POST", "/v1/signup", map[string]string{"email": email, "password": pw}), 202)
	vt := outboxToken(t, filepath.Join(dir, "outbox"), "Verify")
	secrets = append(secrets, vt)
	srv.expect(srv.call("POST", "/v1/email/verify", map[string]string{"token": vt}), 200)

	// Cookie login.
	r := srv.expect(srv.call("POST", "/v1/session", map[string]string{"email": email, "password": pw}), 200)
	csrf := r.body["csrf_token"].(string)
	secrets = append(secrets, csrf)
	for _, c := range r.header.Values("Set-Cookie") {
		secrets = append(secrets, strings.SplitN(strings.SplitN(c, ";", 2)[0], "=", 2)[1])
	}
	me := srv.expect(srv.call("GET", "/v1/me", nil), 200)
	if me.body["user"].(map[string]any)["email"] != email {
		t.Fatalf("me: %v", me.body)
	}
	srv.expect(srv.call("DELETE", "/v1/session", nil, "X-CSRF-Token", csrf), 204)
	srv.expect(srv.call("GET", "/v1/me", nil), 401)

	// Token login, refresh, logout.
	r = srv.expect(srv.call("POST", "/v1/token", map[string]string{"grant_type": "password", "email": email, "password": pw}), 200)
	access, refresh := r.body["access_token"].(string), r.body["refresh_token"].(string)
	secrets = append(secrets, access, refresh, r.body["device_token"].(string))
	srv.expect(srv.call("GET", "/v1/me", nil, "Authorization", "Bearer "+access), 200)
	r = srv.expect(srv.call("POST", "/v1/token", map[string]string{"grant_type": "refresh_token", "refresh_token": refresh}), 200)
	access2, refresh2 := r.body["access_token"].(string), r.body["refresh_token"].(string)
	secrets = append(secrets, access2, refresh2)
	srv.expect(srv.call("POST", "/v1/logout", nil, "Authorization", "Bearer "+access2), 204)
	srv.expect(srv.call("GET", "/v1/me", nil, "Authorization", "Bearer "+access2), 401)

	// Reset.
	srv.expect(srv.call("POST", "/v1/password/forgot", map[string]string{"email": email}), 202)
	rt := outboxToken(t, filepath.Join(dir, "outbox"), "Reset")
	newPW := "CANARY-NEW-" + randomHex(t)
	secrets = append(secrets, rt, newPW)
	srv.expect(srv.call("POST", "/v1/password/reset", map[string]string{"token": rt, "new_password": newPW}), 200)
	srv.expect(srv.call("POST", "/v1/session", map[string]string{"email": email, "password": pw}), 401)
	r = srv.expect(srv.call("POST", "/v1/session", map[string]string{"email": email, "password": newPW}), 200)
	srv.expect(srv.call("DELETE", "/v1/session", nil, "X-CSRF-Token", r.body["csrf_token"].(string)), 204)

	// TOTP: enrol, confirm, then the password alone is not enough; a wrong
	// code and a recovery code. The secret, the codes and the mfa_token
	// are canaries too.
	r = srv.expect(srv.call("POST", "/v1/token", map[string]string{"grant_type": "password", "email": email, "password": newPW}), 200)
	access3 := r.body["access_token"].(string)
	secrets = append(secrets, access3)
	r = srv.expect(srv.call("POST", "/v1/mfa/totp/enroll", nil, "Authorization", "Bearer "+access3), 200)
	totpSecret := r.body["secret"].(string)
	if uri := r.body["otpauth_uri"].(string); !strings.Contains(uri, "issuer=Walk+Through") {
		t.Errorf("otpauth_uri %q does not name BULWARK_TOTP_ISSUER", uri)
	}
	code, err := totp.GenerateCode(totpSecret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, totpSecret)
	r = srv.expect(srv.call("POST", "/v1/mfa/totp/confirm", map[string]string{"code": code}, "Authorization", "Bearer "+access3), 200)
	var recovery []string
	for _, c := range r.body["recovery_codes"].([]any) {
		recovery = append(recovery, c.(string))
	}
	secrets = append(secrets, recovery...)
	r = srv.expect(srv.call("POST", "/v1/token", map[string]string{"grant_type": "password", "email": email, "password": newPW}), 200)
	mfaToken, _ := r.body["mfa_token"].(string)
	if mfaToken == "" || r.body["access_token"] != nil || r.body["expires_in"] != float64(120) {
		t.Fatalf("password login of a TOTP account: %v", r.body)
	}
	secrets = append(secrets, mfaToken)
	wrong := "000000"
	if wrong == code {
		wrong = "000001"
	}
	srv.expect(srv.call("POST", "/v1/mfa/challenge", map[string]string{"mfa_token": mfaToken, "code": wrong}), 401)
	r = srv.expect(srv.call("POST", "/v1/mfa/challenge", map[string]string{"mfa_token": mfaToken, "recovery_code": recovery[0]}), 200)
	secrets = append(secrets, r.body["access_token"].(string), r.body["refresh_token"].(string))

	srv.shutdown()
	out := srv.stdout.String() + srv.stderr.String()
	lines := jsonLines(t, out)
	for _, s := range secrets {
		if s == "" {
			t.Fatal("empty secret collected")
		}
		if strings.Contains(out, s) {
			t.Errorf("a secret (%d chars) appears in the server output", len(s))
		}
		// Token hashes are secret too.
		if len(s) >= 43 && strings.Contains(out, hashB64(s)) {
			t.Errorf("a token hash appears in the server output")
		}
	}
	events := map[string]bool{}
	for _, l := range lines {
		if ev, ok := l["event"].(string); ok {
			events[ev] = true
		}
	}
	for _, ev := range []string{"login_succeeded", "login_failed", "logout", "password_reset_requested", "password_reset_completed", "email_verified",
		"mfa_enabled", "mfa_required", "mfa_failed", "recovery_code_used"} {
		if !events[ev] {
			t.Errorf("no %s event in the output", ev)
		}
	}
	if !strings.Contains(out, `"msg":"dev mode`) {
		t.Error("dev mode did not warn")
	}
}

func TestProductionRefusesToStartNamingEachSetting(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"bulwark", "serve"}, envFunc(map[string]string{}), &stdout, &stderr)
	if err == nil {
		t.Fatal("production started without settings")
	}
	for _, name := range []string{"BULWARK_PUBLIC_URL", "BULWARK_DATABASE_URL", "BULWARK_MAIL_URL", "BULWARK_JWT_SECRET"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
	weak := map[string]string{
		"BULWARK_PUBLIC_URL":   "http://auth.example.com",
		"BULWARK_DATABASE_URL": "sqlite://" + filepath.Join(t.TempDir(), "b.db"),
		"BULWARK_MAIL_URL":     "file://" + t.TempDir(),
		"BULWARK_JWT_SECRET":   base64.StdEncoding.EncodeToString([]byte("too short secret")),
	}
	err = run(context.Background(), []string{"bulwark", "serve"}, envFunc(weak), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "BULWARK_PUBLIC_URL") || !strings.Contains(err.Error(), "BULWARK_JWT_SECRET") {
		t.Fatalf("weak settings not refused by name: %v", err)
	}
	if strings.Contains(err.Error(), weak["BULWARK_JWT_SECRET"]) {
		t.Fatal("the refused secret is echoed")
	}
	// A short secret is refused in dev too; so is an out-of-range value.
	for _, env := range []map[string]string{
		{"BULWARK_JWT_SECRET": weak["BULWARK_JWT_SECRET"]},
		{"BULWARK_BCRYPT_COST": "9"},
		{"BULWARK_LOCKOUT_THRESHOLD": "101"},
		{"BULWARK_LOGIN_LIMIT_PER_IP": "0/1m"},
	} {
		env["BULWARK_DATA_DIR"] = t.TempDir()
		if err := run(context.Background(), []string{"bulwark", "serve", "--dev"}, envFunc(env), &stdout, &stderr); err == nil {
			t.Errorf("%v accepted", env)
		}
	}
}

// TestProductionOverTLS starts a production-mode server serving HTTPS itself
// and checks the production-only behaviour: HSTS and __Host- Secure cookies.
func TestProductionOverTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	srv := start(t, map[string]string{
		"BULWARK_PUBLIC_URL":         "https://auth.example.com",
		"BULWARK_DATABASE_URL":       "sqlite://" + filepath.Join(dir, "b.db"),
		"BULWARK_MAIL_URL":           "file://" + filepath.Join(dir, "outbox"),
		"BULWARK_JWT_SECRET":         base64.RawURLEncoding.EncodeToString(secret),
		"BULWARK_KEY_ENCRYPTION_KEY": kek32,
		"BULWARK_TLS_CERT":           certFile,
		"BULWARK_TLS_KEY":            keyFile,
		"BULWARK_EMAIL_VERIFICATION": "off",
	}, "serve")
	// A client that offers only HTTP/1.1 gets it; one that offers h2 by
	// ALPN gets HTTP/2 (see serve.go), and the rest of the test runs on it.
	for _, h2 := range []bool{false, true} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetHTTP1(true)
		tr.Protocols.SetHTTP2(h2)
		srv.client.Transport = tr
		res, err := srv.client.Get(srv.url + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if want := map[bool]int{false: 1, true: 2}[h2]; res.ProtoMajor != want {
			t.Fatalf("client offering h2=%v was served %s, want HTTP/%d", h2, res.Proto, want)
		}
	}
	r := srv.expect(srv.call("GET", "/healthz", nil), 200)
	if r.header.Get("Strict-Transport-Security") != "max-age=63072000; includeSubDomains" {
		t.Fatalf("HSTS %q", r.header.Get("Strict-Transport-Security"))
	}
	srv.expect(srv.call("POST", "/v1/signup", map[string]string{"email": "tls@example.com", "password": "a production passphrase"}), 201)
	r = srv.expect(srv.call("POST", "/v1/session", map[string]string{"email": "tls@example.com", "password": "a production passphrase"}), 200)
	var found bool
	for _, c := range r.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "__Host-bulwark_session=") {
			found = true
			if !strings.Contains(c, "Secure") || !strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Lax") || !strings.Contains(c, "Path=/") {
				t.Fatalf("production cookie %q", strings.SplitN(c, ";", 2)[1])
			}
		}
	}
	if !found {
		t.Fatal("no __Host-bulwark_session cookie in production")
	}
}

// TestRevocationsAndLockoutsSurviveRestart: nothing revoked comes back.
func TestRevocationsAndLockoutsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	env := map[string]string{
		"BULWARK_DATA_DIR":              dir,
		"BULWARK_JWT_SECRET":            base64.StdEncoding.EncodeToString(secret),
		"BULWARK_EMAIL_VERIFICATION":    "off",
		"BULWARK_LOGIN_LIMIT_PER_EMAIL": "100/1m",
		"BULWARK_LOGIN_LIMIT_PER_IP":    "100/1m",
	}
	a := start(t, env, "serve", "--dev")
	a.expect(a.call("POST", "/v1/signup", map[string]string{"email": "keep@example.com", "password": "survives a restart ok"}), 201)
	a.expect(a.call("POST", "/v1/signup", map[string]string{"email": "locked@example.com", "password": "survives a restart ok"}), 201)
	r := a.expect(a.call("POST", "/v1/token", map[string]string{"grant_type": "password", "email": "keep@example.com", "password": "survives a restart ok"}), 200)
	access, refresh := r.body["access_token"].(string), r.body["refresh_token"].(string)
	a.expect(a.call("POST", "/v1/token/revoke", map[string]string{"token": access}), 200)
	for i := 0; i < 10; i++ {
		a.expect(a.call("POST", "/v1/session", map[string]string{"email": "locked@example.com", "password": "wrong wrong wrong"}), 401)
	}
	a.shutdown()

	b := start(t, env, "serve", "--dev")
	b.expect(b.call("GET", "/v1/me", nil, "Authorization", "Bearer "+access), 401)
	b.expect(b.call("POST", "/v1/token", map[string]string{"grant_type": "refresh_token", "refresh_token": refresh}), 200)
	r = b.expect(b.call("POST", "/v1/session", map[string]string{"email": "locked@example.com", "password": "survives a restart ok"}), 429)
	if r.body["code"] != "account_locked" {
		t.Fatalf("after restart: %v", r.body)
	}
}

func TestMigrateThenServeWithoutAutoMigrate(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"BULWARK_DATA_DIR": dir, "BULWARK_AUTO_MIGRATE": "false"}
	var out bytes.Buffer
	err := run(context.Background(), []string{"bulwark", "serve", "--dev"}, envFunc(env), &out, &out)
	if err == nil || !strings.Contains(err.Error(), "pending migrations") {
		t.Fatalf("serve on an unmigrated database: %v", err)
	}
	if err := run(context.Background(), []string{"bulwark", "migrate", "--dev"}, envFunc(env), &out, &out); err != nil {
		t.Fatal(err)
	}
	jsonLines(t, out.String())
	srv := start(t, env, "serve", "--dev")
	srv.expect(srv.call("GET", "/readyz", nil), 200)
}

func TestVersionAndUsage(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"bulwark", "version"}, envFunc(nil), &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "bulwark ") || !strings.Contains(out.String(), "(revision ") {
		t.Fatalf("version output %q", out.String())
	}
	for _, args := range [][]string{{"bulwark", "frobnicate"}, {"bulwark", "serve", "--dev", "--no-such-setting=1"}, {"bulwark", "serve", "stray"},
		{"bulwark", "migrate", "--dev", "extra"}, {"bulwark", "users", "--dev", "--no-such-setting=1", "list"}, {"bulwark", "keys", "--dev"}} {
		err := run(context.Background(), args, envFunc(map[string]string{}), &out, &out)
		var ue *usageError
		if !errors.As(err, &ue) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}

func TestSlowHeadersAreCutOff(t *testing.T) {
	srv := start(t, map[string]string{"BULWARK_DATA_DIR": t.TempDir()}, "serve", "--dev")
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	// Never finish the headers: the server must close the connection after
	// ReadHeaderTimeout (5 s), not wait forever.
	_ = conn.SetReadDeadline(time.Now().Add(readHeaderTimeout + 5*time.Second))
	_, err = io.ReadAll(conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("server kept a slow-header connection open past ReadHeaderTimeout")
	}
}

func randomHex(t *testing.T) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashB64(s string) string {
	h := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestParseFlags(t *testing.T) {
	dev, flags, err := parseFlags([]string{"--dev=false", "--public-url", "https://a.example", "--addr=127.0.0.1:1"})
	if err != nil || dev || flags["public-url"] != "https://a.example" || flags["addr"] != "127.0.0.1:1" {
		t.Fatalf("dev=%v flags=%v err=%v", dev, flags, err)
	}
	if dev, _, _ := parseFlags([]string{"--dev"}); !dev {
		t.Fatal("--dev not set")
	}
	for _, bad := range [][]string{{"--dev=maybe"}, {"--addr"}, {"stray"}} {
		if _, _, err := parseFlags(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// TestSecretsStayOutOfTheRepository: .env files and dev data are ignored by
// git, so secrets kept there are never committed.
func TestSecretsStayOutOfTheRepository(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("SKIPPED LOUDLY: git is not installed; the repository cannot be checked")
	}
	root := "../.."
	if err := exec.Command("git", "-C", root, "rev-parse", "--git-dir").Run(); err != nil {
		t.Skip("SKIPPED LOUDLY: not a git checkout; the repository cannot be checked")
	}
	// What --dev and a local setup write: each must be ignored by git.
	for _, p := range []string{".env", ".env.local", "data/bulwark.db", "data/bulwark.db-wal",
		"data/outbox/1.eml", "data/signing-key.pem", "bulwark.db", "bulwark.db-wal", "bulwark.db-shm"} {
		if err := exec.Command("git", "-C", root, "check-ignore", "--no-index", "-q", p).Run(); err != nil {
			t.Errorf("git does not ignore %s", p)
		}
	}
	// Nothing secret is tracked: no env file, database or data file, and
	// no private key in any tracked file.
	out, err := exec.Command("git", "-C", root, "ls-files", "-z").Output()
	if err != nil {
		t.Fatal(err)
	}
	files := strings.Split(strings.TrimRight(string(out), "\x00"), "\x00")
	if len(files) < 10 {
		t.Fatalf("git ls-files lists only %d files", len(files))
	}
	for _, f := range files {
		base := filepath.Base(f)
		if base == ".env" || (strings.HasPrefix(base, ".env.") && f != ".env.example") || strings.HasPrefix(f, "data/") ||
			strings.Contains(base, ".db") {
			t.Errorf("tracked file %s holds local secrets or data", f)
		}
	}
	if out, err := exec.Command("git", "-C", root, "grep", "-l", "PRIVATE KEY"+"-----").Output(); err == nil {
		t.Errorf("tracked files hold a private key: %s", out)
	}
}

// TestMain lets this test binary be the hash worker process that serve
// starts (os.Executable is the test binary here), as the bulwark binary is
// in production.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "hash-worker" {
		if err := run(context.Background(), os.Args[:2], os.Getenv, os.Stdout, os.Stderr); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if binaryDir != "" {
		os.RemoveAll(binaryDir)
	}
	os.Exit(code)
}

// hashWorkers lists this process's children that run `hash-worker`.
func hashWorkers(t *testing.T) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc here")
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err1 := os.ReadFile("/proc/" + e.Name() + "/stat")
		cmdline, err2 := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err1 != nil || err2 != nil {
			continue // gone meanwhile
		}
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if fields[1] == strconv.Itoa(os.Getpid()) && strings.HasSuffix(string(cmdline), "\x00hash-worker\x00") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// serve hashes in a child process (BULWARK_HASH_WORKER=process, the
// default) that gets none of the server's environment and runs at a lower
// priority, and that ends with the server; inline hashes in the server.
func TestServeHashesInAWorkerProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	if pids := hashWorkers(t); len(pids) != 0 {
		t.Fatalf("hash workers before the server started: %v", pids)
	}
	for _, mode := range []string{"process", "inline"} {
		t.Run(mode, func(t *testing.T) {
			secret := "CANARY-ENV-" + randomHex(t)
			srv := start(t, map[string]string{"BULWARK_DATA_DIR": t.TempDir(), "BULWARK_EMAIL_VERIFICATION": "off",
				"BULWARK_HASH_WORKER": mode, "BULWARK_MAIL_FROM": secret + " <a@example.com>"}, "serve", "--dev")
			pw := "worker-test-" + randomHex(t)
			srv.expect(srv.call("POST", "/v1/signup", map[string]string{"email": "w@example.com", "password": pw}), 201)
			srv.expect(srv.call("POST", "/v1/token", map[string]string{"grant_type": "password", "email": "w@example.com", "password": pw}), 200)
			srv.expect(srv.call("POST", "/v1/token", map[string]string{"grant_type": "password", "email": "w@example.com", "password": pw + "x"}), 401)
			pids := hashWorkers(t)
			if mode == "inline" {
				if len(pids) != 0 {
					t.Fatalf("inline: hash workers %v", pids)
				}
				return
			}
			if len(pids) != 1 {
				t.Fatalf("hash workers = %v, want one", pids)
			}
			pid := strconv.Itoa(pids[0])
			env, err := os.ReadFile("/proc/" + pid + "/environ")
			if err != nil {
				t.Fatal(err)
			}
			if len(env) != 0 || strings.Contains(string(env), secret) {
				t.Fatalf("the worker got an environment: %q", env)
			}
			stat, _ := os.ReadFile("/proc/" + pid + "/stat")
			s := string(stat)
			if nice := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])[16]; nice != "10" {
				t.Fatalf("worker nice = %s, want 10", nice)
			}
			srv.shutdown()
			if pids := hashWorkers(t); len(pids) != 0 {
				t.Fatalf("hash workers after shutdown: %v", pids)
			}
		})
	}
}
