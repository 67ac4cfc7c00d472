package verify

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	testIssuer   = "https://auth.example.test"
	testAudience = "https://api.example.test"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_800_000_000, 0).UTC()} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// jwksServer serves a key set that a test can change, and counts fetches.
type jwksServer struct {
	*httptest.Server
	mu           sync.Mutex
	keys         []map[string]any
	cacheControl string
	status       int
	fetches      atomic.Int64
}

func newJWKSServer(t testing.TB, keys ...map[string]any) *jwksServer {
	t.Helper()
	if keys == nil {
		keys = []map[string]any{}
	}
	s := &jwksServer{keys: keys, cacheControl: "public, max-age=300", status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		body, _ := json.Marshal(map[string]any{"keys": s.keys})
		cc, status := s.cacheControl, s.status
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", cc)
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) setKeys(keys ...map[string]any) {
	s.mu.Lock()
	s.keys = keys
	s.mu.Unlock()
}

func (s *jwksServer) setCacheControl(cc string) {
	s.mu.Lock()
	s.cacheControl = cc
	s.mu.Unlock()
}

func (s *jwksServer) setStatus(code int) {
	s.mu.Lock()
	s.status = code
	s.mu.Unlock()
}

func edJWK(kid string, pub ed25519.PublicKey) map[string]any {
	return map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64.EncodeToString(pub), "kid": kid, "alg": EdDSA, "use": "sig"}
}

func ecJWK(kid string, pub *ecdsa.PublicKey) map[string]any {
	raw, _ := pub.Bytes() // 0x04 || X || Y
	return map[string]any{
		"kty": "EC", "crv": "P-256", "x": b64.EncodeToString(raw[1:33]), "y": b64.EncodeToString(raw[33:]),
		"kid": kid, "alg": ES256, "use": "sig",
	}
}

// signer signs test tokens with this package's own view of the JWS rules
// (the interop tests use other implementations).
type signer struct {
	alg string
	ed  ed25519.PrivateKey
	ec  *ecdsa.PrivateKey
}

func newEdSigner(t testing.TB) signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signer{alg: EdDSA, ed: priv}
}

func newECSigner(t testing.TB) signer {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signer{alg: ES256, ec: priv}
}

func (s signer) sign(t testing.TB, input string) []byte {
	t.Helper()
	switch s.alg {
	case EdDSA:
		return ed25519.Sign(s.ed, []byte(input))
	case ES256:
		d := sha256.Sum256([]byte(input))
		r, ss, err := ecdsa.Sign(rand.Reader, s.ec, d[:])
		if err != nil {
			t.Fatal(err)
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		ss.FillBytes(sig[32:])
		return sig
	}
	t.Fatalf("no signer for %s", s.alg)
	return nil
}

// compact signs header and claims, given as JSON text or as values to
// marshal.
func (s signer) compact(t testing.TB, header, claims any) string {
	t.Helper()
	input := segment(t, header) + "." + segment(t, claims)
	return input + "." + b64.EncodeToString(s.sign(t, input))
}

func segment(t testing.TB, v any) string {
	t.Helper()
	switch v := v.(type) {
	case string:
		return base64.RawURLEncoding.EncodeToString([]byte(v))
	case []byte:
		return base64.RawURLEncoding.EncodeToString(v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// fixture is a verifier over a JWKS server publishing one Ed25519 key
// ("ed-1") and one P-256 key ("ec-1"), with a test clock.
type fixture struct {
	t      testing.TB
	clock  *clock
	jwks   *jwksServer
	ed, ec signer
	v      *Verifier
}

func newFixture(t testing.TB, edit ...func(*Config)) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: newClock(), ed: newEdSigner(t), ec: newECSigner(t)}
	f.jwks = newJWKSServer(t, edJWK("ed-1", f.ed.ed.Public().(ed25519.PublicKey)), ecJWK("ec-1", &f.ec.ec.PublicKey))
	cfg := Config{
		Issuer:   testIssuer,
		Audience: testAudience,
		JWKSURL:  f.jwks.URL + "/.well-known/jwks.json",
		Now:      f.clock.now,
	}
	for _, e := range edit {
		e(&cfg)
	}
	v, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(v.Close)
	f.v = v
	return f
}

func (f *fixture) header(alg, kid string) map[string]any {
	return map[string]any{"alg": alg, "kid": kid, "typ": "at+jwt"}
}

// claims returns a valid claims set at the clock's time.
func (f *fixture) claims() map[string]any {
	now := f.clock.now().Unix()
	return map[string]any{
		"iss": testIssuer, "sub": "user-1", "aud": testAudience,
		"exp": now + 900, "iat": now, "jti": "jti-1", "sid": "sid-1", "cv": 0,
	}
}

// token returns a valid EdDSA token whose claims edit has changed.
func (f *fixture) token(edit func(map[string]any)) string {
	c := f.claims()
	if edit != nil {
		edit(c)
	}
	return f.ed.compact(f.t, f.header(EdDSA, "ed-1"), c)
}

// changeSignature changes one character inside tok's signature (not the
// last ones, whose bits may be unused or always zero in an Ed25519 S).
func changeSignature(tok string) string {
	i := len(tok) - 10
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}
