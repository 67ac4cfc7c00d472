package verify

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// goJoseJWK renders a public key as go-jose writes a JWK, so that the key
// set parser is checked against another implementation's output too.
func goJoseJWK(t *testing.T, pub any, kid, alg string) map[string]any {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: alg, Use: "sig"})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// goJoseSign signs claims with go-jose, the way a Go issuer other than
// this package's tests would.
func goJoseSign(t *testing.T, alg jose.SignatureAlgorithm, priv any, kid string, claims map[string]any, typ string) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader("kid", kid)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Tokens and JWKs produced by go-jose verify with this package.
func TestInteropGoJose(t *testing.T) {
	f := newFixture(t)
	f.jwks.setKeys(
		goJoseJWK(t, f.ed.ed.Public(), "ed-1", "EdDSA"),
		goJoseJWK(t, &f.ec.ec.PublicKey, "ec-1", "ES256"),
	)
	f.clock.advance(DefaultRefreshInterval + 300*time.Second) // load the go-jose key set
	for name, tok := range map[string]string{
		"EdDSA": goJoseSign(t, jose.EdDSA, f.ed.ed, "ed-1", f.claims(), "at+jwt"),
		"ES256": goJoseSign(t, jose.ES256, f.ec.ec, "ec-1", f.claims(), "at+jwt"),
	} {
		t.Run(name, func(t *testing.T) {
			c := accepted(t, f.v, tok)
			if c.Subject != "user-1" || c.ID != "jti-1" {
				t.Fatalf("claims = %+v", c)
			}
			// And the signature is checked.
			_, err := f.v.Verify(context.Background(), changeSignature(tok))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("changed signature: err = %v", err)
			}
		})
	}
	// go-jose's default typ "JWT" is not an access token.
	refused(t, f.v, goJoseSign(t, jose.EdDSA, f.ed.ed, "ed-1", f.claims(), "JWT"), errType)
	// A key go-jose made for ES256 verifies nothing signed with EdDSA.
	other := newEdSigner(t)
	refused(t, f.v, goJoseSign(t, jose.EdDSA, other.ed, "ec-1", f.claims(), "at+jwt"), errKeyAlgorithm)
}

// go-jose accepts the tokens this package's tests sign by hand, so the
// hand-made tokens the other tests use are real JWS.
func TestInteropGoJoseVerifiesTestTokens(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		tok string
		alg jose.SignatureAlgorithm
		key any
	}{
		{f.token(nil), jose.EdDSA, f.ed.ed.Public().(ed25519.PublicKey)},
		{f.ec.compact(t, f.header(ES256, "ec-1"), f.claims()), jose.ES256, &f.ec.ec.PublicKey},
	} {
		jws, err := jose.ParseSignedCompact(c.tok, []jose.SignatureAlgorithm{c.alg})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := jws.Verify(c.key); err != nil {
			t.Fatalf("go-jose refuses a %s test token: %v", c.alg, err)
		}
	}
}
