package verify

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// refused asserts that token is refused as ErrInvalid for reason.
func refused(t *testing.T, v *Verifier, token string, reason error) {
	t.Helper()
	c, err := v.Verify(context.Background(), token)
	if err == nil {
		t.Fatalf("Verify accepted the token: %+v", c)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	if !errors.Is(err, reason) {
		t.Fatalf("err = %v, want reason %v", err, reason)
	}
}

func accepted(t *testing.T, v *Verifier, token string) *Claims {
	t.Helper()
	c, err := v.Verify(context.Background(), token)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return c
}

func TestVerifyAcceptsBothAlgorithms(t *testing.T) {
	f := newFixture(t)
	now := f.clock.now()
	c := accepted(t, f.v, f.token(func(c map[string]any) {
		c["cv"] = 7
		c["amr"] = []string{"pwd", "otp", "mfa"}
		c["auth_time"] = now.Add(-time.Hour).Unix()
	}))
	want := Claims{
		Issuer: testIssuer, Subject: "user-1", Audience: testAudience, ID: "jti-1", SessionID: "sid-1",
		ExpiresAt: now.Add(900 * time.Second), IssuedAt: now, CredentialVersion: 7,
		AMR: []string{"pwd", "otp", "mfa"}, AuthTime: now.Add(-time.Hour),
	}
	if !reflect.DeepEqual(*c, want) || !c.MultiFactor() {
		t.Fatalf("claims = %+v, want %+v", *c, want)
	}
	// amr of another type is refused, like every claim of the wrong type.
	for _, bad := range []any{"pwd", 1, []any{"pwd", 2}, nil} {
		_, err := f.v.Verify(context.Background(), f.token(func(c map[string]any) { c["amr"] = bad }))
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("amr %v: err = %v, want refused", bad, err)
		}
	}
	if single := accepted(t, f.v, f.token(func(c map[string]any) { c["amr"] = []string{"pwd"} })); single.MultiFactor() {
		t.Error("a password-only token is multi-factor")
	}
	accepted(t, f.v, f.ec.compact(t, f.header(ES256, "ec-1"), f.claims()))
	// The long typ spelling of RFC 9068 §4.
	h := f.header(EdDSA, "ed-1")
	h["typ"] = "application/at+jwt"
	accepted(t, f.v, f.ed.compact(t, h, f.claims()))
}

// RFC 8037 Appendix A.4: the Ed25519 JWS of "Example of Ed25519 signing"
// under the A.1 key verifies at the signature layer (the token has no typ,
// kid or claims, so the full Verify refuses it), and a changed signature
// does not.
func TestRFC8037Vector(t *testing.T) {
	const (
		x     = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
		token = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
	)
	k, err := parseJWK([]byte(`{"kty":"OKP","crv":"Ed25519","x":"`+x+`","kid":"rfc8037","alg":"EdDSA"}`), []string{EdDSA})
	if err != nil {
		t.Fatalf("parseJWK: %v", err)
	}
	parts := strings.Split(token, ".")
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	p := &parsed{alg: EdDSA, kid: "rfc8037", signingInput: parts[0] + "." + parts[1], signature: sig}
	if err := verifySignature(p, k); err != nil {
		t.Fatalf("the RFC 8037 A.4 signature does not verify: %v", err)
	}
	if payload, _ := b64.DecodeString(parts[1]); string(payload) != "Example of Ed25519 signing" {
		t.Fatalf("payload = %q", payload)
	}
	bad := *p
	bad.signature = append([]byte(nil), sig...)
	bad.signature[0] ^= 1
	if err := verifySignature(&bad, k); !errors.Is(err, errSignature) {
		t.Fatalf("changed signature: err = %v, want errSignature", err)
	}
	bad = *p
	bad.signingInput += "x"
	if err := verifySignature(&bad, k); !errors.Is(err, errSignature) {
		t.Fatalf("changed input: err = %v, want errSignature", err)
	}
	// The whole token lacks typ and kid: Verify refuses it.
	if _, err := parse(token, []string{EdDSA}); !errors.Is(err, errType) {
		t.Fatalf("parse: err = %v, want errType", err)
	}
}

func TestAlgNoneRefusedInAnyCase(t *testing.T) {
	f := newFixture(t)
	claims := segment(t, f.claims())
	for _, alg := range []string{"none", "None", "NONE", "nOnE", "noNE"} {
		t.Run(alg, func(t *testing.T) {
			h := segment(t, f.header(alg, "ed-1"))
			refused(t, f.v, h+"."+claims+".", errAlgorithm)
			// With a valid EdDSA signature attached, too.
			input := h + "." + claims
			refused(t, f.v, input+"."+b64.EncodeToString(f.ed.sign(t, input)), errAlgorithm)
		})
	}
	// RFC 7515 A.5, the unsecured JWS.
	refused(t, f.v, "eyJhbGciOiJub25lIn0.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.", errAlgorithm)
}

// The key-confusion attack: HS256 with the public key as the HMAC secret,
// raw and PEM (RFC 8725 §2.1, ASVS 9.1.2).
func TestHS256WithPublicKeyRefused(t *testing.T) {
	f := newFixture(t)
	pub := f.ed.ed.Public().(ed25519.PublicKey)
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	for name, secret := range map[string][]byte{"raw": pub, "pem": pemKey, "jwk x": []byte(b64.EncodeToString(pub))} {
		t.Run(name, func(t *testing.T) {
			input := segment(t, f.header("HS256", "ed-1")) + "." + segment(t, f.claims())
			m := hmac.New(sha256.New, secret)
			m.Write([]byte(input))
			refused(t, f.v, input+"."+b64.EncodeToString(m.Sum(nil)), errAlgorithm)
		})
	}
	// Even when the caller pinned only EdDSA, ES256 is refused.
	g := newFixture(t, func(c *Config) { c.Algorithms = []string{EdDSA} })
	refused(t, g.v, g.ec.compact(t, g.header(ES256, "ec-1"), g.claims()), errAlgorithm)
}

// A token whose header alg differs from the alg its kid's key is pinned to
// is refused, even if it is an allowed algorithm (RFC 8725 §3.1).
func TestKeyPinnedToItsAlgorithm(t *testing.T) {
	f := newFixture(t)
	refused(t, f.v, f.ed.compact(t, f.header(EdDSA, "ec-1"), f.claims()), errKeyAlgorithm)
	refused(t, f.v, f.ec.compact(t, f.header(ES256, "ed-1"), f.claims()), errKeyAlgorithm)
}

func TestUnknownKidRefused(t *testing.T) {
	f := newFixture(t)
	other := newEdSigner(t)
	f.clock.advance(time.Hour + time.Minute) // past the key set's max-age: a fetch happens
	refused(t, f.v, other.compact(t, f.header(EdDSA, "ed-2"), f.claims()), errUnknownKey)
	// A known kid with a signature by another key.
	refused(t, f.v, other.compact(t, f.header(EdDSA, "ed-1"), f.claims()), errSignature)
	// Untrusted kid values (RFC 8725 §3.10).
	for _, kid := range []string{"../../../../dev/null", "' OR 1=1--", strings.Repeat("k", 256)} {
		refused(t, f.v, other.compact(t, f.header(EdDSA, kid), f.claims()), errUnknownKey)
	}
	refused(t, f.v, other.compact(t, f.header(EdDSA, strings.Repeat("k", 257)), f.claims()), errKeyIDHeader)
	refused(t, f.v, other.compact(t, `{"alg":"EdDSA","typ":"at+jwt"}`, f.claims()), errKeyIDHeader)
	refused(t, f.v, other.compact(t, `{"alg":"EdDSA","typ":"at+jwt","kid":7}`, f.claims()), errKeyIDHeader)
}

func TestDroppedKidRefusedAfterRefresh(t *testing.T) {
	f := newFixture(t)
	tok := f.token(nil)
	accepted(t, f.v, tok)
	// The issuer retires ed-1 and publishes ed-2.
	next := newEdSigner(t)
	f.jwks.setKeys(edJWK("ed-2", next.ed.Public().(ed25519.PublicKey)), ecJWK("ec-1", &f.ec.ec.PublicKey))
	// Until the set's max-age (300 s) runs out, the cached set still has it.
	f.clock.advance(299 * time.Second)
	tok = f.token(nil)
	accepted(t, f.v, tok)
	f.clock.advance(2 * time.Second)
	refused(t, f.v, tok, errUnknownKey)
	accepted(t, f.v, next.compact(t, f.header(EdDSA, "ed-2"), f.claims()))
}

func TestNewKidFetchedOnDemand(t *testing.T) {
	f := newFixture(t)
	next := newEdSigner(t)
	f.jwks.setKeys(edJWK("ed-1", f.ed.ed.Public().(ed25519.PublicKey)), edJWK("ed-2", next.ed.Public().(ed25519.PublicKey)))
	tok := next.compact(t, f.header(EdDSA, "ed-2"), f.claims())
	// Within RefreshInterval of the start-up fetch, no new fetch.
	refused(t, f.v, tok, errUnknownKey)
	if n := f.jwks.fetches.Load(); n != 1 {
		t.Fatalf("fetches = %d, want 1", n)
	}
	f.clock.advance(DefaultRefreshInterval)
	accepted(t, f.v, tok)
	if n := f.jwks.fetches.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2", n)
	}
}

func TestWrongTypRefused(t *testing.T) {
	f := newFixture(t)
	for _, h := range []string{
		`{"alg":"EdDSA","kid":"ed-1","typ":"JWT"}`,
		`{"alg":"EdDSA","kid":"ed-1","typ":"AT+JWT"}`,
		`{"alg":"EdDSA","kid":"ed-1","typ":"application/jwt"}`,
		`{"alg":"EdDSA","kid":"ed-1","typ":"mfa+jwt"}`,
		`{"alg":"EdDSA","kid":"ed-1","typ":null}`,
		`{"alg":"EdDSA","kid":"ed-1"}`,
	} {
		refused(t, f.v, f.ed.compact(t, h, f.claims()), errType)
	}
}

func TestMissingExpRefused(t *testing.T) {
	f := newFixture(t)
	refused(t, f.v, f.token(func(c map[string]any) { delete(c, "exp") }), errMissingClaim)
	refused(t, f.v, f.token(func(c map[string]any) { c["exp"] = nil }), errClaimType)
	refused(t, f.v, f.token(func(c map[string]any) { c["exp"] = "1800000900" }), errClaimType)
}

func TestExpiredRefused(t *testing.T) {
	f := newFixture(t)
	now := f.clock.now().Unix()
	// exp 29 s ago is inside the 30 s leeway; 30 s ago is not (now < exp + leeway).
	accepted(t, f.v, f.token(func(c map[string]any) { c["exp"], c["iat"] = now-29, now-600 }))
	refused(t, f.v, f.token(func(c map[string]any) { c["exp"], c["iat"] = now-30, now-600 }), errExpired)
	refused(t, f.v, f.token(func(c map[string]any) { c["exp"], c["iat"] = now-120, now-600 }), errExpired)
	// A token expires by the clock passing, too.
	tok := f.token(nil)
	f.clock.advance(930 * time.Second)
	refused(t, f.v, tok, errExpired)
}

func TestFutureNbfRefused(t *testing.T) {
	f := newFixture(t)
	now := f.clock.now().Unix()
	accepted(t, f.v, f.token(func(c map[string]any) { c["nbf"] = now + 30 }))
	refused(t, f.v, f.token(func(c map[string]any) { c["nbf"] = now + 31 }), errNotYetValid)
	refused(t, f.v, f.token(func(c map[string]any) { c["nbf"] = now + 120 }), errNotYetValid)
	refused(t, f.v, f.token(func(c map[string]any) { c["nbf"] = "soon" }), errClaimType)
}

func TestFutureIatRefused(t *testing.T) {
	f := newFixture(t)
	now := f.clock.now().Unix()
	accepted(t, f.v, f.token(func(c map[string]any) { c["iat"] = now + 30 }))
	refused(t, f.v, f.token(func(c map[string]any) { c["iat"] = now + 31 }), errIssuedFuture)
	refused(t, f.v, f.token(func(c map[string]any) { delete(c, "iat") }), errMissingClaim)
}

func TestLifetimeBounded(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxLifetime = 15 * time.Minute })
	now := f.clock.now().Unix()
	accepted(t, f.v, f.token(func(c map[string]any) { c["exp"] = now + 900 }))
	refused(t, f.v, f.token(func(c map[string]any) { c["exp"] = now + 901 }), errLifetime)
	refused(t, f.v, f.token(func(c map[string]any) { c["exp"], c["iat"] = now+10, now+10 }), errLifetime)
}

func TestWrongAudRefused(t *testing.T) {
	f := newFixture(t)
	refused(t, f.v, f.token(func(c map[string]any) { c["aud"] = "https://other.example.test" }), errAudience)
	refused(t, f.v, f.token(func(c map[string]any) { delete(c, "aud") }), errAudience)
	// An array is refused even when it holds the audience.
	refused(t, f.v, f.token(func(c map[string]any) { c["aud"] = []string{testAudience} }), errClaimType)
}

func TestWrongIssRefused(t *testing.T) {
	f := newFixture(t)
	refused(t, f.v, f.token(func(c map[string]any) { c["iss"] = "https://evil.example.test" }), errIssuer)
	refused(t, f.v, f.token(func(c map[string]any) { c["iss"] = testIssuer + "/" }), errIssuer)
	refused(t, f.v, f.token(func(c map[string]any) { delete(c, "iss") }), errIssuer)
}

func TestMissingSubjectIDOrSessionRefused(t *testing.T) {
	f := newFixture(t)
	for _, name := range []string{"sub", "jti", "sid"} {
		refused(t, f.v, f.token(func(c map[string]any) { delete(c, name) }), errMissingClaim)
		refused(t, f.v, f.token(func(c map[string]any) { c[name] = "" }), errMissingClaim)
		refused(t, f.v, f.token(func(c map[string]any) { c[name] = 1 }), errClaimType)
	}
	refused(t, f.v, f.token(func(c map[string]any) { c["cv"] = 1.5 }), errClaimType)
	refused(t, f.v, f.token(func(c map[string]any) { c["cv"] = "1" }), errClaimType)
}

// nonCanonical changes the last character of a segment to one that decodes
// to the same bytes under a lenient decoder (its unused low bits set).
func nonCanonical(t *testing.T, seg string) string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	unused := map[int]int{2: 4, 3: 2}[len(seg)%4] // bits of the last char that carry nothing
	if unused == 0 {
		t.Fatalf("segment of length %d has no unused bits", len(seg))
	}
	last := strings.IndexByte(alphabet, seg[len(seg)-1])
	changed := seg[:len(seg)-1] + string(alphabet[last|1])
	if last&1 == 1 {
		changed = seg[:len(seg)-1] + string(alphabet[last&^1])
	}
	lenient, err1 := base64.RawURLEncoding.DecodeString(changed)
	orig, err2 := base64.RawURLEncoding.DecodeString(seg)
	if err1 != nil || err2 != nil || string(lenient) != string(orig) {
		t.Fatalf("not a same-bytes variant: %v %v", err1, err2)
	}
	return changed
}

func TestNonCanonicalBase64Refused(t *testing.T) {
	f := newFixture(t)
	tok := f.token(nil)
	parts := strings.Split(tok, ".")
	// An Ed25519 signature is 64 bytes: 86 characters, the last with 4
	// unused bits.
	refused(t, f.v, parts[0]+"."+parts[1]+"."+nonCanonical(t, parts[2]), errEncoding)
	// The header and payload, padded by a space where needed so that their
	// length leaves unused bits.
	h := `{"alg":"EdDSA","kid":"ed-1","typ":"at+jwt"}`
	for len(h)%3 == 0 {
		h += " "
	}
	c := segment(t, f.claims())
	for len(c)%4 == 0 {
		m := f.claims()
		m["sub"] = m["sub"].(string) + "x"
		c = segment(t, m)
	}
	hs := segment(t, h)
	sig := func(input string) string { return input + "." + b64.EncodeToString(f.ed.sign(t, input)) }
	accepted(t, f.v, sig(hs+"."+c))
	refused(t, f.v, sig(nonCanonical(t, hs)+"."+c), errEncoding)
	refused(t, f.v, sig(hs+"."+nonCanonical(t, c)), errEncoding)
}

func TestExtraHeaderMembersRefused(t *testing.T) {
	f := newFixture(t)
	attacker := newEdSigner(t)
	attackerJWK := edJWK("ed-1", attacker.ed.Public().(ed25519.PublicKey))
	for name, value := range map[string]any{
		"jwk":  attackerJWK,
		"jku":  "https://evil.example.test/jwks.json",
		"x5u":  "https://evil.example.test/cert.pem",
		"x5c":  []string{"MIIB"},
		"crit": []string{"exp"},
		"cty":  "JWT",
		"zip":  "DEF",
		"b64":  false,
	} {
		t.Run(name, func(t *testing.T) {
			h := f.header(EdDSA, "ed-1")
			h[name] = value
			// Signed both by the attacker (whose key the header carries)
			// and by the real key: both refused.
			refused(t, f.v, attacker.compact(t, h, f.claims()), errHeaderMember)
			refused(t, f.v, f.ed.compact(t, h, f.claims()), errHeaderMember)
		})
	}
}

func TestMalformedHeaderRefused(t *testing.T) {
	f := newFixture(t)
	for name, c := range map[string]struct {
		header string
		reason error
	}{
		"duplicate alg":   {`{"alg":"EdDSA","alg":"none","kid":"ed-1","typ":"at+jwt"}`, errHeaderJSON},
		"same alg twice":  {`{"alg":"EdDSA","alg":"EdDSA","kid":"ed-1","typ":"at+jwt"}`, errHeaderJSON},
		"duplicate kid":   {`{"alg":"EdDSA","kid":"ed-1","kid":"ec-1","typ":"at+jwt"}`, errHeaderJSON},
		"array":           {`[{"alg":"EdDSA","kid":"ed-1","typ":"at+jwt"}]`, errHeaderJSON},
		"trailing data":   {`{"alg":"EdDSA","kid":"ed-1","typ":"at+jwt"}{}`, errHeaderJSON},
		"invalid utf-8":   {"{\"alg\":\"EdDSA\",\"kid\":\"ed-1\",\"typ\":\"at+jwt\",\"\xff\":1}", errHeaderJSON},
		"not json":        {`alg=EdDSA`, errHeaderJSON},
		"empty":           {``, errHeaderJSON},
		"alg not string":  {`{"alg":["EdDSA"],"kid":"ed-1","typ":"at+jwt"}`, errAlgorithm},
		"alg lowercase":   {`{"alg":"eddsa","kid":"ed-1","typ":"at+jwt"}`, errAlgorithm},
		"alg Ed25519":     {`{"alg":"Ed25519","kid":"ed-1","typ":"at+jwt"}`, errAlgorithm},
		"alg with spaces": {`{"alg":"EdDSA ","kid":"ed-1","typ":"at+jwt"}`, errAlgorithm},
		"no alg":          {`{"kid":"ed-1","typ":"at+jwt"}`, errAlgorithm},
	} {
		t.Run(name, func(t *testing.T) { refused(t, f.v, f.ed.compact(t, c.header, f.claims()), c.reason) })
	}
	refused(t, f.v, f.ed.compact(t, f.header(EdDSA, "ed-1"), `{"iss":"a","iss":"`+testIssuer+`"}`), errClaimsJSON)
	refused(t, f.v, f.ed.compact(t, f.header(EdDSA, "ed-1"), "{\"iss\":\""+testIssuer+"\",\"x\":\"\xff\"}"), errClaimsJSON)
	refused(t, f.v, f.ed.compact(t, f.header(EdDSA, "ed-1"), `[]`), errClaimsJSON)
}

// draft-ietf-oauth-rfc8725bis "Check JWT Format Type" and RFC 8725 §3.3: the compact format only, and the signature
// covers every byte.
func TestFormatRefused(t *testing.T) {
	f := newFixture(t)
	tok := f.token(nil)
	parts := strings.Split(tok, ".")
	cases := map[string]struct {
		token  string
		reason error
	}{
		"padding":            {tok + "==", errCharset},
		"newline":            {parts[0] + ".\n" + parts[1] + "." + parts[2], errCharset},
		"space":              {tok + " ", errCharset},
		"json serialization": {`{"payload":"` + parts[1] + `","signatures":[]}`, errCharset},
		"jwe":                {tok + ".a.b", errSegments},
		"two segments":       {parts[0] + "." + parts[1], errSegments},
		"too large":          {parts[0] + "." + strings.Repeat("A", MaxTokenLen) + "." + parts[2], errTooLarge},
		"empty":              {"", errSegments},
		"no signature":       {parts[0] + "." + parts[1] + ".", errSignature},
		"payload bit flip":   {parts[0] + "." + flip(parts[1]) + "." + parts[2], errSignature},
		"signature swapped":  {parts[0] + "." + parts[1] + "." + strings.Split(f.token(func(c map[string]any) { c["jti"] = "jti-2" }), ".")[2], errSignature},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) { refused(t, f.v, c.token, c.reason) })
	}
}

// flip changes the first character of s to another valid one.
func flip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

func TestConfigRefused(t *testing.T) {
	ok := Config{Issuer: testIssuer, Audience: testAudience}
	for name, edit := range map[string]func(*Config){
		"no issuer":          func(c *Config) { c.Issuer = "" },
		"no audience":        func(c *Config) { c.Audience = "" },
		"alg none":           func(c *Config) { c.Algorithms = []string{"none"} },
		"alg HS256":          func(c *Config) { c.Algorithms = []string{"HS256"} },
		"alg eddsa":          func(c *Config) { c.Algorithms = []string{"eddsa"} },
		"negative leeway":    func(c *Config) { c.Leeway = -time.Second },
		"leeway too large":   func(c *Config) { c.Leeway = MaxLeeway + time.Second },
		"interval too short": func(c *Config) { c.RefreshInterval = time.Millisecond },
		"interval too long":  func(c *Config) { c.RefreshInterval = time.Hour + time.Second },
		"http jwks":          func(c *Config) { c.JWKSURL = "http://auth.example.test/jwks.json" },
		"ftp jwks":           func(c *Config) { c.JWKSURL = "ftp://auth.example.test/jwks.json" },
		"http issuer":        func(c *Config) { c.Issuer = "http://auth.example.test" },
	} {
		t.Run(name, func(t *testing.T) {
			c := ok
			edit(&c)
			if _, err := newVerifier(c); err == nil {
				t.Fatal("newVerifier accepted the config")
			}
		})
	}
	for name, edit := range map[string]func(*Config){
		"defaults":          func(*Config) {},
		"loopback http":     func(c *Config) { c.JWKSURL = "http://127.0.0.1:1/jwks.json" },
		"localhost http":    func(c *Config) { c.JWKSURL = "http://localhost:1/jwks.json" },
		"insecure http":     func(c *Config) { c.JWKSURL = "http://auth/jwks.json"; c.InsecureHTTP = true },
		"max leeway":        func(c *Config) { c.Leeway = MaxLeeway },
		"one algorithm":     func(c *Config) { c.Algorithms = []string{ES256} },
		"shortest interval": func(c *Config) { c.RefreshInterval = MinRefreshInterval },
		"longest interval":  func(c *Config) { c.RefreshInterval = time.Hour },
	} {
		t.Run(name, func(t *testing.T) {
			c := ok
			edit(&c)
			if _, err := newVerifier(c); err != nil {
				t.Fatalf("newVerifier: %v", err)
			}
		})
	}
	v, _ := newVerifier(ok)
	if v.keys.url != testIssuer+"/.well-known/jwks.json" || v.leeway != DefaultLeeway || v.keys.interval != DefaultRefreshInterval || v.maxLifetime != DefaultMaxLifetime {
		t.Fatalf("defaults: url %s leeway %v interval %v lifetime %v", v.keys.url, v.leeway, v.keys.interval, v.maxLifetime)
	}
	if len(v.algorithms) != 2 {
		t.Fatalf("default algorithms = %v", v.algorithms)
	}
}

func TestNewFailsWithoutKeys(t *testing.T) {
	s := newJWKSServer(t)
	s.setStatus(500)
	_, err := New(context.Background(), Config{Issuer: testIssuer, Audience: testAudience, JWKSURL: s.URL})
	if err == nil {
		t.Fatal("New succeeded without a key set")
	}
}

func TestNoClock(t *testing.T) {
	f := newFixture(t)
	f.v.now = func() time.Time { return time.Time{} }
	refused(t, f.v, f.token(nil), errNoVerifyClock)
}
