package token

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"reflect"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// testKey returns a new key of alg in state.
func testKey(t testing.TB, alg, state string) *Key {
	t.Helper()
	k, err := GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	k.State = state
	return k
}

func newManaged(t testing.TB, keys ...*Key) *Issuer {
	t.Helper()
	iss, err := NewManaged(keys, testIssuer, testAudience, testTTL)
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

func jwsParts(t testing.TB, tok string) (header map[string]any, input string, sig []byte) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("%d segments", len(parts))
	}
	hb, err := b64.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(hb, &header); err != nil {
		t.Fatal(err)
	}
	sig, err = b64.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	return header, parts[0] + "." + parts[1], sig
}

// TestManaged_SignVerify: with each algorithm, Issue writes the header
// {alg, kid, typ} and a signature the standard library verifies with the
// public key (Ed25519 RFC 8032; ES256 as R || S, 64 bytes, RFC 7518 §3.4),
// and Verify returns the claims.
func TestManaged_SignVerify(t *testing.T) {
	for _, alg := range []string{EdDSA, ES256} {
		t.Run(alg, func(t *testing.T) {
			k := testKey(t, alg, auth.KeyCurrent)
			iss := newManaged(t, k)
			c := testClaims()
			c.CredentialVersion = 7
			tok, err := iss.Issue(c)
			if err != nil {
				t.Fatal(err)
			}
			header, input, sig := jwsParts(t, tok)
			want := map[string]any{"alg": alg, "kid": k.KID, "typ": "at+jwt"}
			if len(header) != 3 || header["alg"] != want["alg"] || header["kid"] != want["kid"] || header["typ"] != want["typ"] {
				t.Fatalf("header %v, want %v", header, want)
			}
			switch alg {
			case EdDSA:
				if !ed25519.Verify(k.priv.Public().(ed25519.PublicKey), []byte(input), sig) {
					t.Fatal("ed25519.Verify refuses the signature")
				}
			case ES256:
				if len(sig) != 64 {
					t.Fatalf("ES256 signature of %d bytes, want 64 (R || S)", len(sig))
				}
				h := sha256.Sum256([]byte(input))
				r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
				if !ecdsa.Verify(k.priv.Public().(*ecdsa.PublicKey), h[:], r, s) {
					t.Fatal("ecdsa.Verify refuses the signature")
				}
			}
			got, err := iss.Verify(tok, testNow)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c) {
				t.Fatalf("claims %+v, want %+v", got, c)
			}
			if iss.KeyID() != k.KID || !iss.Published() || len(iss.Algorithms()) != 1 || iss.Algorithms()[0] != alg {
				t.Fatalf("KeyID %q Published %v Algorithms %v", iss.KeyID(), iss.Published(), iss.Algorithms())
			}
		})
	}
}

// TestThumbprint_RFC8037: the kid of the RFC 8037 Appendix A.1 key is the
// thumbprint given in A.3.
func TestThumbprint_RFC8037(t *testing.T) {
	got := thumbprint(jwk{Kty: "OKP", Crv: "Ed25519", X: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})
	if want := "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; got != want {
		t.Fatalf("thumbprint %q, want %q", got, want)
	}
}

// TestManaged_JWKS: the set publishes next, current and previous keys (the
// current first) as RFC 7517 JWKs with kid, alg and use, never a private
// member or a retired key.
func TestManaged_JWKS(t *testing.T) {
	cur := testKey(t, EdDSA, auth.KeyCurrent)
	next := testKey(t, ES256, auth.KeyNext)
	prev := testKey(t, EdDSA, auth.KeyPrevious)
	retired := testKey(t, EdDSA, auth.KeyRetired)
	iss := newManaged(t, prev, next, cur, retired)
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(iss.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 3 {
		t.Fatalf("%d keys: %s", len(set.Keys), iss.JWKS())
	}
	enc := b64
	edJWK := func(k *Key) map[string]string {
		return map[string]string{"kty": "OKP", "crv": "Ed25519", "x": enc.EncodeToString(k.priv.Public().(ed25519.PublicKey)), "kid": k.KID, "alg": "EdDSA", "use": "sig"}
	}
	pt, _ := next.priv.Public().(*ecdsa.PublicKey).Bytes()
	want := []map[string]string{
		edJWK(cur),
		edJWK(prev),
		{"kty": "EC", "crv": "P-256", "x": enc.EncodeToString(pt[1:33]), "y": enc.EncodeToString(pt[33:]), "kid": next.KID, "alg": "ES256", "use": "sig"},
	}
	byKid := map[string]map[string]string{}
	for _, k := range set.Keys {
		byKid[k["kid"]] = k
	}
	if set.Keys[0]["kid"] != cur.KID {
		t.Errorf("first key %s, want the current one", set.Keys[0]["kid"])
	}
	for _, w := range want {
		got := byKid[w["kid"]]
		if len(got) != len(w) {
			t.Errorf("key %s: %v, want %v", w["kid"], got, w)
		}
		for m, v := range w {
			if got[m] != v {
				t.Errorf("key %s member %s: %q, want %q", w["kid"], m, got[m], v)
			}
		}
		if thumbprint(jwk{Kty: got["kty"], Crv: got["crv"], X: got["x"], Y: got["y"]}) != w["kid"] {
			t.Errorf("kid %s is not the RFC 7638 thumbprint", w["kid"])
		}
	}
	if byKid[retired.KID] != nil {
		t.Error("a retired key is published")
	}
	if algs := iss.Algorithms(); len(algs) != 2 || algs[0] != EdDSA || algs[1] != ES256 {
		t.Errorf("Algorithms %v", algs)
	}
	if hs := newTestIssuer(t); string(hs.JWKS()) != `{"keys":[]}` || hs.Published() || hs.Algorithms() != nil {
		t.Errorf("HS256: JWKS %s, Published %v, Algorithms %v", hs.JWKS(), hs.Published(), hs.Algorithms())
	}
}

// TestManaged_VerifiesPublishedKeysOnly: tokens of next, current and
// previous keys verify; of a retired or foreign key, with an unknown or
// missing kid, or with another key's kid, they do not.
func TestManaged_VerifiesPublishedKeysOnly(t *testing.T) {
	cur := testKey(t, EdDSA, auth.KeyCurrent)
	next := testKey(t, ES256, auth.KeyNext)
	prev := testKey(t, EdDSA, auth.KeyPrevious)
	retired := testKey(t, EdDSA, auth.KeyRetired)
	foreign := testKey(t, EdDSA, auth.KeyCurrent)
	iss := newManaged(t, cur, next, prev, retired)
	sign := func(k *Key, header map[string]any) string {
		tok := &jwt.Token{Header: header, Method: jwt.GetSigningMethod(k.Alg), Claims: jwt.MapClaims(validClaims())}
		s, err := tok.SignedString(k.priv)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	hdr := func(k *Key) map[string]any { return map[string]any{"alg": k.Alg, "kid": k.KID, "typ": Type} }
	for _, k := range []*Key{cur, next, prev} {
		if _, err := iss.Verify(sign(k, hdr(k)), testNow); err != nil {
			t.Errorf("%s key: %v", k.State, err)
		}
	}
	cases := []struct {
		name  string
		token string
		why   error
	}{
		{"retired key", sign(retired, hdr(retired)), errKeyID},
		{"foreign key", sign(foreign, hdr(foreign)), errKeyID},
		{"no kid", sign(cur, map[string]any{"alg": EdDSA, "typ": Type}), errKeyID},
		{"kid of another key", sign(foreign, map[string]any{"alg": EdDSA, "typ": Type, "kid": cur.KID}), jwt.ErrTokenSignatureInvalid},
		{"numeric kid", sign(cur, map[string]any{"alg": EdDSA, "typ": Type, "kid": 1}), errKeyID},
		{"path kid", sign(cur, map[string]any{"alg": EdDSA, "typ": Type, "kid": "../../../../dev/null"}), errKeyID},
		{"sql kid", sign(cur, map[string]any{"alg": EdDSA, "typ": Type, "kid": "' OR 1=1--"}), errKeyID},
		{"long kid", sign(cur, map[string]any{"alg": EdDSA, "typ": Type, "kid": strings.Repeat("k", 5000)}), errKeyID},
		// The ES256 key signs, but the header names the EdDSA key's kid.
		{"alg of another key", sign(next, map[string]any{"alg": ES256, "typ": Type, "kid": cur.KID}), errKeyAlg},
		{"EdDSA alg on the ES256 kid", sign(cur, map[string]any{"alg": EdDSA, "typ": Type, "kid": next.KID}), errKeyAlg},
		{"jwk header", sign(foreign, map[string]any{"alg": EdDSA, "typ": Type, "kid": foreign.KID, "jwk": map[string]string{"kty": "OKP"}}), errHeaderMember},
	}
	for _, c := range cases {
		_, err := iss.Verify(c.token, testNow)
		if !errors.Is(err, ErrInvalid) || !errors.Is(err, c.why) {
			t.Errorf("%s: %v, want %v", c.name, err, c.why)
		}
	}
	// With managed keys kid is required even when there is one key (an
	// HS256 token may omit it).
	only := newManaged(t, cur)
	if _, err := only.Verify(sign(cur, map[string]any{"alg": EdDSA, "typ": Type}), testNow); !errors.Is(err, errKeyID) {
		t.Errorf("no kid, one managed key: %v", err)
	}
}

// TestManaged_AlgorithmConfusion: "none" in any letter case, HS256 keyed
// with the public key (raw, base64url as in the JWK, PEM) and the RFC 7515
// A.1 HS256 vector are refused by the algorithm allowlist.
func TestManaged_AlgorithmConfusion(t *testing.T) {
	cur := testKey(t, EdDSA, auth.KeyCurrent)
	ec := testKey(t, ES256, auth.KeyNext)
	iss := newManaged(t, cur, ec)
	claims := mustJSON(t, validClaims())
	var tokens []string
	for _, none := range []string{"none", "None", "NONE", "nOnE"} {
		for _, kid := range []string{cur.KID, ec.KID} {
			h := mustJSON(t, map[string]any{"alg": none, "typ": Type, "kid": kid})
			tokens = append(tokens, b64.EncodeToString(h)+"."+b64.EncodeToString(claims)+".")
		}
	}
	for _, k := range []*Key{cur, ec} {
		der, _ := x509.MarshalPKIXPublicKey(k.priv.Public())
		pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		raw := k.PublicBytes()
		for _, secret := range [][]byte{raw, []byte(b64.EncodeToString(raw)), pemKey, der} {
			h := b64.EncodeToString(mustJSON(t, map[string]any{"alg": "HS256", "typ": Type, "kid": k.KID}))
			input := h + "." + b64.EncodeToString(claims)
			m := hmac.New(sha256.New, secret)
			m.Write([]byte(input))
			tokens = append(tokens, input+"."+b64.EncodeToString(m.Sum(nil)))
		}
	}
	tokens = append(tokens, "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
	for _, tok := range tokens {
		_, err := iss.Verify(tok, testNow)
		if !errors.Is(err, ErrInvalid) || !(errors.Is(err, jwt.ErrTokenSignatureInvalid) || errors.Is(err, jwt.ErrTokenUnverifiable)) {
			// golang-jwt refuses an algorithm outside WithValidMethods
			// (ErrTokenSignatureInvalid) or unknown to it ("None":
			// ErrTokenUnverifiable) before any key is chosen.
			t.Errorf("%.60s…: %v", tok, err)
		}
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestManaged_SetKeysNeedsOneCurrent: a set with no current key or two is
// refused and the issuer keeps its keys; an HS256 issuer takes no managed
// keys.
func TestManaged_SetKeysNeedsOneCurrent(t *testing.T) {
	cur := testKey(t, EdDSA, auth.KeyCurrent)
	iss := newManaged(t, cur)
	if err := iss.SetKeys([]*Key{testKey(t, EdDSA, auth.KeyNext)}); !errors.Is(err, ErrNoCurrentKey) {
		t.Errorf("no current: %v", err)
	}
	if err := iss.SetKeys([]*Key{testKey(t, EdDSA, auth.KeyCurrent), testKey(t, ES256, auth.KeyCurrent)}); !errors.Is(err, ErrNoCurrentKey) {
		t.Errorf("two current: %v", err)
	}
	if iss.KeyID() != cur.KID {
		t.Error("a refused set replaced the keys")
	}
	if err := newTestIssuer(t).SetKeys([]*Key{cur}); err == nil {
		t.Error("an HS256 issuer took managed keys")
	}
}

// TestManaged_CacheForgetsRetiredKeys: a token verified (and cached) under
// one key set is refused once its key is retired, even though the cache
// holds it.
func TestManaged_CacheForgetsRetiredKeys(t *testing.T) {
	cur := testKey(t, EdDSA, auth.KeyCurrent)
	next := testKey(t, EdDSA, auth.KeyNext)
	iss := newManaged(t, cur, next)
	tok, err := iss.Issue(testClaims())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iss.Verify(tok, testNow); err != nil {
		t.Fatal(err)
	}
	if iss.cache.len() != 1 {
		t.Fatal("not cached")
	}
	cur.State, next.State = auth.KeyRetired, auth.KeyCurrent
	if err := iss.SetKeys([]*Key{cur, next}); err != nil {
		t.Fatal(err)
	}
	if _, err := iss.Verify(tok, testNow); !errors.Is(err, errKeyID) {
		t.Fatalf("token of a retired key, cached before: %v", err)
	}
}
