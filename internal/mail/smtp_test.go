package mail_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/mail"
	"github.com/bulwarkauth/bulwark/internal/testutil"
)

// The SMTP tests run against a real server, mailpit, which each test starts
// on loopback with its own ports and database. Install it with
//
//	go install github.com/axllent/mailpit@v1.33.1
//
// (.ci/run does); without it these tests skip, loudly.

const (
	smtpFrom  = "Bulwark <no-reply@auth.example.com>"
	smtpTo    = "jane.doe@example.com"
	smtpToken = "SMTPtoken_0123456789-abcdefghijklmnopqrstuvwxyz"
	smtpUser  = "bulwark"
	smtpPass  = "s3cret/Pw" // a "/" so the URL form must escape it
)

var smtpLink = "https://auth.example.com/reset-password#token=" + smtpToken

var (
	mailpitOnce sync.Once
	mailpitPath string
)

// findMailpit returns the mailpit binary from PATH or $(go env GOPATH)/bin,
// or "".
func findMailpit() string {
	mailpitOnce.Do(func() {
		if p, err := exec.LookPath("mailpit"); err == nil {
			mailpitPath = p
			return
		}
		out, err := exec.Command("go", "env", "GOPATH").Output()
		if err != nil {
			return
		}
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			p := filepath.Join(dir, "bin", "mailpit")
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
				mailpitPath = p
				return
			}
		}
	})
	return mailpitPath
}

// mailpit is a running mailpit server.
type mailpit struct {
	smtpAddr string // host:port
	api      string // http://host:port
	port     int    // SMTP port
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// requireMailpit skips t, loudly, when mailpit is not installed.
func requireMailpit(t *testing.T) string {
	t.Helper()
	bin := findMailpit()
	if bin == "" {
		t.Skip("!!!!!!!! SKIPPED: mailpit not found in PATH nor in $(go env GOPATH)/bin, so SMTP delivery is NOT tested; " +
			"install it with `go install github.com/axllent/mailpit@v1.33.1` !!!!!!!!")
	}
	return bin
}

// startMailpit starts mailpit with SMTP on smtpPort (0: a free one) and the
// extra flags, waits until it answers and stops it when t ends.
func startMailpit(t *testing.T, smtpPort int, flags ...string) *mailpit {
	t.Helper()
	bin := requireMailpit(t)
	if smtpPort == 0 {
		smtpPort = freePort(t)
	}
	mp := &mailpit{
		smtpAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(smtpPort)),
		api:      "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t))),
		port:     smtpPort,
	}
	args := append([]string{
		"--smtp", mp.smtpAddr,
		"--listen", strings.TrimPrefix(mp.api, "http://"),
		"--database", filepath.Join(t.TempDir(), "mp.db"),
		"--disable-version-check", // no call to api.github.com
		"--smtp-disable-rdns",
	}, flags...)
	cmd := exec.Command(bin, args...)
	var logs testutil.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mailpit: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("mailpit log:\n%s", logs.String())
		}
	})

	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("mailpit exited at start:\n%s", logs.String())
		default:
		}
		if mp.ready() {
			return mp
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailpit did not answer within 15s:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (mp *mailpit) ready() bool {
	resp, err := http.Get(mp.api + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	c, err := net.DialTimeout("tcp", mp.smtpAddr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func (mp *mailpit) get(t *testing.T, path string) []byte {
	t.Helper()
	resp, err := http.Get(mp.api + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v\n%s", path, resp.StatusCode, err, body)
	}
	return body
}

// mailpitMessage is the part of mailpit's message JSON the tests read.
type mailpitMessage struct {
	ID        string
	MessageID string
	From      struct{ Name, Address string }
	To        []struct{ Name, Address string }
	Subject   string
	Username  string // the SMTP AUTH user
	Text      string
	HTML      string
}

// messages returns the summaries of every message mailpit holds.
func (mp *mailpit) messages(t *testing.T) []mailpitMessage {
	t.Helper()
	var list struct{ Messages []mailpitMessage }
	if err := json.Unmarshal(mp.get(t, "/api/v1/messages"), &list); err != nil {
		t.Fatalf("decode messages: %v", err)
	}
	return list.Messages
}

// only waits for mailpit to hold exactly one message and returns it in full
// with its raw form.
func (mp *mailpit) only(t *testing.T) (mailpitMessage, []byte) {
	t.Helper()
	var list []mailpitMessage
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if list = mp.messages(t); len(list) > 0 {
			break
		}
	}
	if len(list) != 1 {
		t.Fatalf("mailpit holds %d messages, want 1", len(list))
	}
	var m mailpitMessage
	if err := json.Unmarshal(mp.get(t, "/api/v1/message/"+list[0].ID), &m); err != nil {
		t.Fatalf("decode message: %v", err)
	}
	return m, mp.get(t, "/api/v1/message/"+list[0].ID+"/raw")
}

// none checks that mailpit received nothing.
func (mp *mailpit) none(t *testing.T) {
	t.Helper()
	time.Sleep(100 * time.Millisecond) // let a stray delivery land
	if list := mp.messages(t); len(list) != 0 {
		t.Errorf("mailpit holds %d messages, want none", len(list))
	}
}

// resetMessage renders the password reset mail with smtpLink.
func resetMessage(t *testing.T) *auth.Message {
	t.Helper()
	m, err := mail.Render(mail.TemplatePasswordReset, smtpTo, map[string]string{"link": smtpLink})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// checkDelivered checks the message mailpit received against want.
func checkDelivered(t *testing.T, mp *mailpit, want *auth.Message) mailpitMessage {
	t.Helper()
	got, raw := mp.only(t)
	if len(got.To) != 1 || got.To[0].Address != want.To {
		t.Errorf("To = %+v, want %s", got.To, want.To)
	}
	if got.From.Address != "no-reply@auth.example.com" || got.From.Name != "Bulwark" {
		t.Errorf("From = %+v", got.From)
	}
	if got.Subject != want.Subject {
		t.Errorf("Subject = %q, want %q", got.Subject, want.Subject)
	}
	if !strings.HasSuffix(got.MessageID, "@auth.example.com") {
		t.Errorf("MessageID = %q, want one @auth.example.com", got.MessageID)
	}
	if !strings.Contains(strings.ReplaceAll(got.Text, "\r\n", "\n"), "\n"+smtpLink+"\n") {
		t.Errorf("text part lacks the whole link on a line of its own:\n%s", got.Text)
	}
	if !strings.Contains(got.HTML, smtpLink) {
		t.Errorf("HTML part lacks the link:\n%s", got.HTML)
	}

	// The raw message as stored: our parts, byte for byte, and the token
	// only in the body.
	p := parseBuilt(t, raw)
	if p.text != want.Text || p.html != want.HTML {
		t.Errorf("raw parts differ from the rendered message:\ntext %q\nhtml %q", p.text, p.html)
	}
	if id := p.header.Get("Message-ID"); id != "<"+got.MessageID+">" {
		t.Errorf("Message-ID header = %q, want <%s>", id, got.MessageID)
	}
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	if bytes.Contains(head, []byte(smtpToken)) {
		t.Errorf("token in headers:\n%s", head)
	}
	if bytes.Contains(raw, []byte("?token=")) {
		t.Errorf("token in a query string:\n%s", raw)
	}
	return got
}

// checkSafeError checks that err is an *mail.SMTPError for op that holds
// neither the password nor the full recipient.
func checkSafeError(t *testing.T, err error, op string) *mail.SMTPError {
	t.Helper()
	var serr *mail.SMTPError
	if !errors.As(err, &serr) {
		t.Fatalf("error = %v (%T), want *mail.SMTPError", err, err)
	}
	if serr.Op != op {
		t.Errorf("error = %v, want one in step %q", err, op)
	}
	for _, secret := range []string{smtpPass, "s3cret", smtpTo, "jane.doe", smtpToken} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q leaks %q", err, secret)
		}
	}
	return serr
}

// newSMTPSender returns the sender for mailURL, trusting roots when given.
func newSMTPSender(t *testing.T, mailURL string, roots *x509.CertPool) *mail.SMTPSender {
	t.Helper()
	s, err := mail.NewSMTPSender(mailURL, smtpFrom)
	if err != nil {
		t.Fatalf("NewSMTPSender: %v", err)
	}
	s.RootCAs = roots
	s.Timeout = 10 * time.Second
	return s
}

// testCert writes a self-signed certificate for 127.0.0.1 and localhost and
// its key into a temporary directory, and returns their paths and a pool
// that trusts it.
func testCert(t *testing.T) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "bulwark test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}

func TestSMTPSenderPlainDelivery(t *testing.T) {
	mp := startMailpit(t, 0)
	s := newSMTPSender(t, "smtp://"+mp.smtpAddr+"?tls=none", nil)
	m := resetMessage(t)
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	checkDelivered(t, mp, m)
}

func TestSMTPSenderRequiresSTARTTLS(t *testing.T) {
	mp := startMailpit(t, 0) // no certificate: no STARTTLS offered
	for _, u := range []string{"smtp://" + mp.smtpAddr, "smtp://" + mp.smtpAddr + "?tls=required"} {
		s := newSMTPSender(t, u, nil)
		err := s.Send(context.Background(), resetMessage(t))
		if err == nil {
			t.Fatalf("Send over %s without STARTTLS succeeded", u)
		}
		checkSafeError(t, err, "connect")
		if !strings.Contains(err.Error(), "STARTTLS") {
			t.Errorf("error = %v, want it to name STARTTLS", err)
		}
	}
	mp.none(t)
}

func TestSMTPSenderSTARTTLS(t *testing.T) {
	cert, key, roots := testCert(t)
	mp := startMailpit(t, 0, "--smtp-tls-cert", cert, "--smtp-tls-key", key, "--smtp-require-starttls")

	t.Run("untrusted certificate", func(t *testing.T) {
		s := newSMTPSender(t, "smtp://"+mp.smtpAddr, nil) // system roots
		err := s.Send(context.Background(), resetMessage(t))
		if err == nil {
			t.Fatal("Send trusted a self-signed certificate")
		}
		checkSafeError(t, err, "connect")
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Errorf("error = %v, want x509.UnknownAuthorityError", err)
		}
		mp.none(t)
	})
	t.Run("trusted certificate", func(t *testing.T) {
		s := newSMTPSender(t, "smtp://"+mp.smtpAddr, roots)
		m := resetMessage(t)
		if err := s.Send(context.Background(), m); err != nil {
			t.Fatalf("Send: %v", err)
		}
		checkDelivered(t, mp, m)
	})
}

func TestSMTPSenderOpportunisticUsesSTARTTLS(t *testing.T) {
	cert, key, roots := testCert(t)
	// The server refuses mail without STARTTLS, so delivery proves it was used.
	mp := startMailpit(t, 0, "--smtp-tls-cert", cert, "--smtp-tls-key", key, "--smtp-require-starttls")
	s := newSMTPSender(t, "smtp://"+mp.smtpAddr+"?tls=opportunistic", roots)
	m := resetMessage(t)
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	checkDelivered(t, mp, m)
}

func TestSMTPSenderImplicitTLS(t *testing.T) {
	cert, key, roots := testCert(t)
	mp := startMailpit(t, 0, "--smtp-tls-cert", cert, "--smtp-tls-key", key, "--smtp-require-tls")
	s := newSMTPSender(t, "smtps://"+mp.smtpAddr, roots)
	m := resetMessage(t)
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	checkDelivered(t, mp, m)
}

func TestSMTPSenderAuth(t *testing.T) {
	cert, key, roots := testCert(t)
	authFile := filepath.Join(t.TempDir(), "smtp-users")
	if err := os.WriteFile(authFile, []byte(smtpUser+":"+smtpPass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tlsFlags := []string{"--smtp-tls-cert", cert, "--smtp-tls-key", key, "--smtp-auth-file", authFile}
	userinfo := "://" + smtpUser + ":" + strings.ReplaceAll(smtpPass, "/", "%2F") + "@"

	t.Run("STARTTLS", func(t *testing.T) {
		mp := startMailpit(t, 0, append(tlsFlags, "--smtp-require-starttls")...)
		s := newSMTPSender(t, "smtp"+userinfo+mp.smtpAddr, roots)
		m := resetMessage(t)
		if err := s.Send(context.Background(), m); err != nil {
			t.Fatalf("Send: %v", err)
		}
		if got := checkDelivered(t, mp, m); got.Username != smtpUser {
			t.Errorf("authenticated as %q, want %q", got.Username, smtpUser)
		}
	})
	t.Run("implicit TLS", func(t *testing.T) {
		mp := startMailpit(t, 0, append(tlsFlags, "--smtp-require-tls")...)
		s := newSMTPSender(t, "smtps"+userinfo+mp.smtpAddr, roots)
		m := resetMessage(t)
		if err := s.Send(context.Background(), m); err != nil {
			t.Fatalf("Send: %v", err)
		}
		if got := checkDelivered(t, mp, m); got.Username != smtpUser {
			t.Errorf("authenticated as %q, want %q", got.Username, smtpUser)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		mp := startMailpit(t, 0, append(tlsFlags, "--smtp-require-starttls")...)
		s := newSMTPSender(t, "smtp://"+smtpUser+":s3cret-wrong@"+mp.smtpAddr, roots)
		err := s.Send(context.Background(), resetMessage(t))
		if err == nil {
			t.Fatal("Send with a wrong password succeeded")
		}
		if serr := checkSafeError(t, err, "auth"); serr.Code != 535 {
			t.Errorf("error = %v, want reply code 535", err)
		}
		mp.none(t)
	})
	t.Run("no credentials over plain SMTP", func(t *testing.T) {
		mp := startMailpit(t, 0, "--smtp-auth-accept-any", "--smtp-auth-allow-insecure")
		s := newSMTPSender(t, "smtp"+userinfo+mp.smtpAddr+"?tls=none", nil)
		err := s.Send(context.Background(), resetMessage(t))
		if err == nil {
			t.Fatal("Send sent credentials without TLS")
		}
		checkSafeError(t, err, "auth")
		mp.none(t)
	})
}

func TestSMTPSenderErrorHidesReply(t *testing.T) {
	// mailpit rejects other recipients with a reply that names them.
	mp := startMailpit(t, 0, "--smtp-allowed-recipients", `^someone-else@example\.com$`)
	s := newSMTPSender(t, "smtp://"+mp.smtpAddr+"?tls=none", nil)
	err := s.Send(context.Background(), resetMessage(t))
	if err == nil {
		t.Fatal("Send to a refused recipient succeeded")
	}
	if serr := checkSafeError(t, err, "rcpt to"); serr.Code < 500 || serr.Code > 599 {
		t.Errorf("error = %v, want a 5xx reply code", err)
	}
	mp.none(t)
}

func TestSMTPSenderServerDown(t *testing.T) {
	s := newSMTPSender(t, "smtp://127.0.0.1:"+strconv.Itoa(freePort(t))+"?tls=none", nil)
	start := time.Now()
	err := s.Send(context.Background(), resetMessage(t))
	if err == nil {
		t.Fatal("Send to a closed port succeeded")
	}
	checkSafeError(t, err, "connect")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Send took %v, want a quick failure", d)
	}
}

func TestSMTPSenderHungServer(t *testing.T) {
	addr := testutil.SilentServer(t)
	for _, u := range []string{"smtp://" + addr + "?tls=none", "smtps://" + addr} {
		t.Run("timeout "+u[:strings.Index(u, ":")], func(t *testing.T) {
			s := newSMTPSender(t, u, nil)
			s.Timeout = 200 * time.Millisecond
			start := time.Now()
			err := s.Send(context.Background(), resetMessage(t))
			if err == nil {
				t.Fatal("Send to a silent server succeeded")
			}
			checkSafeError(t, err, "connect")
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("Send took %v, want about 200ms", d)
			}
		})
		t.Run("cancel "+u[:strings.Index(u, ":")], func(t *testing.T) {
			s := newSMTPSender(t, u, nil)
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(200*time.Millisecond, cancel)
			start := time.Now()
			err := s.Send(ctx, resetMessage(t))
			if !errors.Is(err, context.Canceled) {
				t.Errorf("error = %v, want context.Canceled", err)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("Send took %v after a cancel at 200ms", d)
			}
		})
	}
}

func TestWorkerDeliversThroughSMTPOnceServerIsBack(t *testing.T) {
	requireMailpit(t)
	ctx := context.Background()
	port := freePort(t) // nothing listens there yet
	s := newSMTPSender(t, fmt.Sprintf("smtp://127.0.0.1:%d?tls=none", port), nil)
	outbox := newMemOutbox()
	now := testNow
	var logs testutil.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w := mail.NewWorker(outbox, s, logger, func() time.Time { return now })

	m := &auth.Mail{To: smtpTo, Template: mail.TemplatePasswordReset,
		Data: map[string]string{"link": smtpLink}, CreatedAt: now}
	if err := outbox.EnqueueMail(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if pending, sent, retries := outbox.state(); pending != 1 || len(sent) != 0 || len(retries) != 1 {
		t.Fatalf("after a failed attempt: pending %d, sent %v, retries %v; want kept for a retry", pending, sent, retries)
	}

	mp := startMailpit(t, port)
	now = now.Add(mail.Backoff(0))
	if err := w.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if pending, sent, _ := outbox.state(); pending != 0 || sent[m.ID] != 1 {
		t.Fatalf("after the server came back: pending %d, sent %v; want delivered once", pending, sent)
	}
	want, err := mail.Render(m.Template, m.To, m.Data)
	if err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, mp, want)
	if out := logs.String(); strings.Contains(out, smtpTo) || strings.Contains(out, smtpToken) {
		t.Errorf("log holds the recipient or the token:\n%s", out)
	}
}

func TestNewSMTPSender(t *testing.T) {
	tests := []struct {
		url     string
		want    string // String() of the sender, "" when an error is expected
		wantErr string
	}{
		{"smtp://mail.example.com", "smtp://mail.example.com:587 (STARTTLS required)", ""},
		{"smtp://u:s3cret@mail.example.com:2525/", "smtp://mail.example.com:2525 (STARTTLS required)", ""},
		{"smtp://mail.example.com:25?tls=required", "smtp://mail.example.com:25 (STARTTLS required)", ""},
		{"smtp://mail.example.com:25?tls=opportunistic", "smtp://mail.example.com:25 (STARTTLS if offered)", ""},
		{"smtp://127.0.0.1:1025?tls=none", "smtp://127.0.0.1:1025 (no TLS)", ""},
		{"smtps://u:s3cret@mail.example.com", "smtps://mail.example.com:465", ""},
		{"smtps://[::1]:4465", "smtps://[::1]:4465", ""},
		{"smtp://mail.example.com?tls=off", "", "tls must be"},
		{"smtp://mail.example.com?tls=none&tls=none", "", "more than once"},
		{"smtp://u:s3cret@mail.example.com?password=s3cret", "", `unknown query parameter "password"`},
		{"smtps://mail.example.com?tls=none", "", "smtps:// always uses TLS"},
		{"smtp://mail.example.com/path", "", "no path"},
		{"smtp://mail.example.com#x", "", "no path or fragment"},
		{"smtp://mail.example.com:0", "", "invalid port"},
		{"smtp://mail.example.com:70000", "", "invalid port"},
		{"smtp://:s3cret@mail.example.com", "", "without a user name"},
		{"smtp://u:s3cret@", "", "missing host"},
		{"smtp://u:s3cret@mail.example.com?%zz", "", "invalid query"},
		{"file:///tmp", "", "want smtp://"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			s, err := mail.NewSMTPSender(tt.url, smtpFrom)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("NewSMTPSender error = %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error %q leaks the password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewSMTPSender: %v", err)
			}
			if got := s.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			if got := fmt.Sprintf("%v %+v", s, s); strings.Contains(got, "s3cret") {
				t.Errorf("formatted sender %q leaks the password", got)
			}
		})
	}
	if _, err := mail.NewSMTPSender("smtp://mail.example.com", "nobody"); !errors.Is(err, mail.ErrInvalidAddress) {
		t.Errorf("bad from: error = %v, want ErrInvalidAddress", err)
	}
}
