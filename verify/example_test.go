package verify_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/bulwarkauth/bulwark/verify"
)

// A resource server protects its API with Middleware. Here a test server
// stands in for Bulwark's /.well-known/jwks.json, and the example signs a
// token the way Bulwark does.
func Example() {
	pub, priv, _ := ed25519.GenerateKey(nil)
	jwks := publishKey(pub, "key-1")
	defer jwks.Close()

	v, err := verify.New(context.Background(), verify.Config{
		Issuer:   "https://auth.example.com",
		Audience: "https://api.example.com",
		JWKSURL:  jwks.URL, // default: Issuer + "/.well-known/jwks.json"
	})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	api := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := verify.ClaimsFrom(r.Context())
		fmt.Fprintf(w, "hello %s", c.Subject)
	}))

	for _, token := range []string{signToken(priv, "key-1"), "not-a-token"} {
		r := httptest.NewRequest(http.MethodGet, "/api/me", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		api.ServeHTTP(w, r)
		if w.Code == http.StatusOK {
			fmt.Println(w.Code, w.Body.String())
		} else {
			fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))
		}
	}
	// Output:
	// 200 hello user-123
	// 401 Bearer error="invalid_token"
}

// Verify can be called directly, for a protocol other than HTTP. Every
// refused token is ErrInvalid; ErrUnavailable means the keys (or the
// revocation state) are too old to decide, and deserves a retry, not a
// "logged out".
func ExampleVerifier_Verify() {
	pub, priv, _ := ed25519.GenerateKey(nil)
	jwks := publishKey(pub, "key-1")
	defer jwks.Close()
	v, err := verify.New(context.Background(), verify.Config{
		Issuer: "https://auth.example.com", Audience: "https://api.example.com", JWKSURL: jwks.URL,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	c, err := v.Verify(context.Background(), signToken(priv, "key-1"))
	fmt.Println(c.Subject, c.SessionID, err)

	_, err = v.Verify(context.Background(), signToken(priv, "key-2"))
	fmt.Println(errors.Is(err, verify.ErrInvalid), errors.Is(err, verify.ErrUnavailable))
	// Output:
	// user-123 sid-9 <nil>
	// true false
}

// publishKey serves pub as a one-key JWK Set (RFC 7517), as Bulwark does.
func publishKey(pub ed25519.PublicKey, kid string) *httptest.Server {
	set, _ := json.Marshal(map[string]any{"keys": []any{map[string]string{
		"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(pub),
		"kid": kid, "alg": "EdDSA", "use": "sig",
	}}})
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(set)
	}))
}

// signToken makes an access token as Bulwark does (RFC 9068, EdDSA).
func signToken(priv ed25519.PrivateKey, kid string) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	now := time.Now().Unix()
	input := enc(map[string]string{"alg": "EdDSA", "kid": kid, "typ": "at+jwt"}) + "." + enc(map[string]any{
		"iss": "https://auth.example.com", "sub": "user-123", "aud": "https://api.example.com",
		"exp": now + 900, "iat": now, "jti": "jti-1", "sid": "sid-9", "cv": 0,
	})
	return input + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(priv, []byte(input)))
}
