package httpapi_test

import (
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/bulwarkauth/bulwark/internal/token"
)

// TestSigningKeys_JWKSAndDiscovery: with managed keys, the JWKS lists them
// (cacheable for less than a key spends as next) and the discovery document
// names the JWKS and the algorithms; a token login gets an EdDSA token with
// a published kid that /v1/me accepts, and "none" or an unknown kid is 401.
func TestSigningKeys_JWKSAndDiscovery(t *testing.T) {
	e := newEnv(t, withManagedKeys(token.EdDSA, token.ES256))
	r := e.do(req{method: "GET", path: "/.well-known/jwks.json"})
	expectStatus(t, r, 200)
	if cc := r.Header.Get("Cache-Control"); cc != "public, max-age=300" {
		t.Fatalf("JWKS Cache-Control %q", cc)
	}
	if token.JWKSMaxAge >= token.MinRotationInterval(0) {
		t.Fatalf("JWKS max-age %s is not shorter than the time a key is next (%s)", token.JWKSMaxAge, token.MinRotationInterval(0))
	}
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(r.Body, &set); err != nil || len(set.Keys) != 2 {
		t.Fatalf("JWKS %s (%v)", r.Body, err)
	}
	kids := map[string]string{}
	for _, k := range set.Keys {
		if k["use"] != "sig" || k["d"] != "" {
			t.Fatalf("JWK %v", k)
		}
		kids[k["kid"]] = k["alg"]
	}

	r = e.do(req{method: "GET", path: "/.well-known/openid-configuration"})
	expectStatus(t, r, 200)
	base := e.cfg.PublicURL
	for member, want := range map[string]string{
		"issuer": base, "jwks_uri": base + "/.well-known/jwks.json", "token_endpoint": base + "/v1/token",
		"revocation_endpoint": base + "/v1/token/revoke", "introspection_endpoint": base + "/v1/token/introspect",
	} {
		if got := r.str(member); got != want {
			t.Errorf("discovery %s = %q, want %q", member, got, want)
		}
	}
	if got := fmt.Sprint(r.JSON["id_token_signing_alg_values_supported"]); got != "[EdDSA ES256]" {
		t.Errorf("discovery algorithms %s", got)
	}

	e.signup("keys@example.com")
	access := e.tokenLogin("keys@example.com", strongPassword).access
	header := jwtHeader(t, access)
	if header["alg"] != "EdDSA" || header["typ"] != "at+jwt" || kids[header["kid"]] != "EdDSA" {
		t.Fatalf("access token header %v; published %v", header, kids)
	}
	expectStatus(t, e.me(nil, access), 200)
	parts := strings.Split(access, ".")
	for name, h := range map[string]string{
		"none":        `{"alg":"none","typ":"at+jwt","kid":"` + header["kid"] + `"}`,
		"unknown kid": `{"alg":"EdDSA","typ":"at+jwt","kid":"not-a-published-key"}`,
	} {
		forged := base64.RawURLEncoding.EncodeToString([]byte(h)) + "." + parts[1] + "." + parts[2]
		if name == "none" {
			forged = base64.RawURLEncoding.EncodeToString([]byte(h)) + "." + parts[1] + "."
		}
		if got := e.me(nil, forged); got.Status != 401 {
			t.Errorf("%s: %d", name, got.Status)
		}
	}
}

// TestSigningKeys_HS256PublishesNothing: with an HS256 secret the JWKS is
// empty by design and the discovery document has no jwks_uri and no
// algorithms, so no resource server tries to verify offline.
func TestSigningKeys_HS256PublishesNothing(t *testing.T) {
	e := newEnv(t)
	r := e.do(req{method: "GET", path: "/.well-known/jwks.json"})
	if r.Status != 200 || string(r.Body) != `{"keys":[]}` || r.Header.Get("Cache-Control") != "public, max-age=300" {
		t.Fatalf("JWKS %d %s %q", r.Status, r.Body, r.Header.Get("Cache-Control"))
	}
	r = e.do(req{method: "GET", path: "/.well-known/openid-configuration"})
	if _, ok := r.JSON["jwks_uri"]; ok {
		t.Errorf("discovery has a jwks_uri with HS256: %s", r.Body)
	}
	if _, ok := r.JSON["id_token_signing_alg_values_supported"]; ok {
		t.Errorf("discovery has signing algorithms with HS256: %s", r.Body)
	}
	if r.str("introspection_endpoint") != e.cfg.PublicURL+"/v1/token/introspect" {
		t.Errorf("discovery %s", r.Body)
	}
}

func jwtHeader(t *testing.T, tok string) map[string]string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]string
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestSigningKeys_ES256MalleatedCopyIsRevokedToo: an ES256 signature has a
// twin (s replaced by n − s) that verifies too, so a second token string
// carries the same claims. Revocation keys on jti, never on the string: once
// the token is revoked, the twin is refused as well (ASVS 7.4.1).
func TestSigningKeys_ES256MalleatedCopyIsRevokedToo(t *testing.T) {
	e := newEnv(t, withManagedKeys(token.ES256))
	e.signup("twin@example.com")
	access := e.tokenLogin("twin@example.com", strongPassword).access
	parts := strings.Split(access, ".")
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		t.Fatalf("signature of %d bytes: %v", len(sig), err)
	}
	s := new(big.Int).SetBytes(sig[32:])
	s.Sub(elliptic.P256().Params().N, s)
	twinSig := append(sig[:32:32], s.FillBytes(make([]byte, 32))...)
	twin := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(twinSig)
	if twin == access {
		t.Fatal("the twin is the same string")
	}
	expectStatus(t, e.me(nil, twin), 200) // the twin verifies: ECDSA is malleable
	expectStatus(t, e.post("/v1/token/revoke", map[string]string{"token": access}), 200)
	expectStatus(t, e.me(nil, access), 401)
	expectStatus(t, e.me(nil, twin), 401)
}
