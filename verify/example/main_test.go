package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/verify"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfig(t *testing.T) {
	if _, _, err := config(env(nil), nil); err == nil {
		t.Fatal("config without BULWARK_ISSUER succeeded")
	}
	cfg, addr, err := config(env(map[string]string{
		"BULWARK_ISSUER": "https://auth.example.com", "BULWARK_FEED_CLIENT_ID": "c", "BULWARK_FEED_CLIENT_SECRET": "s",
	}), nil)
	if err != nil || cfg.Audience != "https://auth.example.com" || addr != "127.0.0.1:8081" || cfg.Revocations == nil || cfg.Revocations.ClientSecret != "s" {
		t.Fatalf("config = %+v, %q, %v", cfg, addr, err)
	}
	if err := run(context.Background(), env(nil), io.Discard); err == nil {
		t.Fatal("run without configuration succeeded")
	}
}

func TestWhoami(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	set, _ := json.Marshal(map[string]any{"keys": []any{map[string]string{
		"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(pub), "kid": "k", "alg": "EdDSA",
	}}})
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(set)
	}))
	defer jwks.Close()
	cfg, _, err := config(env(map[string]string{"BULWARK_ISSUER": "https://auth.example.com", "BULWARK_JWKS_URL": jwks.URL}), nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	h := routes(v)

	enc := func(x any) string { b, _ := json.Marshal(x); return base64.RawURLEncoding.EncodeToString(b) }
	now := time.Now().Unix()
	input := enc(map[string]string{"alg": "EdDSA", "kid": "k", "typ": "at+jwt"}) + "." + enc(map[string]any{
		"iss": "https://auth.example.com", "aud": "https://auth.example.com", "sub": "u1",
		"exp": now + 60, "iat": now, "jti": "j", "sid": "s",
	})
	tok := input + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(priv, []byte(input)))

	r := httptest.NewRequest(http.MethodGet, "/whoami", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"sub":"u1"`) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	r = httptest.NewRequest(http.MethodGet, "/whoami", nil)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("without a token: %d", w.Code)
	}
}
