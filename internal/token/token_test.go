package token

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

const (
	testIssuer   = "https://auth.example.com"
	testAudience = "https://api.example.com"
	testTTL      = 15 * time.Minute
)

var (
	testSecret = bytes.Repeat([]byte("0123456789abcdef"), 2) // 32 bytes
	testNow    = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	b64        = base64.RawURLEncoding
)

func newTestIssuer(t testing.TB) *Issuer {
	t.Helper()
	iss, err := NewHS256(testSecret, testIssuer, testAudience, testTTL)
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

func testClaims() auth.AccessClaims {
	return auth.AccessClaims{
		Subject:   "user-1",
		SessionID: "family-1",
		ID:        "jti-1",
		IssuedAt:  testNow,
		ExpiresAt: testNow.Add(testTTL),
		Methods:   auth.Methods{auth.MethodPassword, auth.MethodTOTP},
		AuthTime:  testNow.Add(-time.Hour),
	}
}

// validHeader and validClaims are what Issue writes, as maps that a test can
// change one member of before signing them with craft.
func validHeader(iss *Issuer) map[string]any {
	return map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": iss.KeyID()}
}

func validClaims() map[string]any {
	return map[string]any{
		"iss": testIssuer,
		"sub": "user-1",
		"aud": testAudience,
		"exp": testNow.Add(testTTL).Unix(),
		"iat": testNow.Unix(),
		"jti": "jti-1",
		"sid": "family-1",
	}
}

// with returns a copy of m with k set to v, or deleted when v is nil.
func with(m map[string]any, k string, v any) map[string]any {
	m = maps.Clone(m)
	if v == nil {
		delete(m, k)
	} else {
		m[k] = v
	}
	return m
}

func encodeJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b64.EncodeToString(b)
}

func hs256(key []byte, signingInput string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(signingInput))
	return b64.EncodeToString(m.Sum(nil))
}

// craft builds a compact JWS from header and claims, HMAC-SHA-256-signed
// under key, or with an empty signature when key is nil.
func craft(t testing.TB, header, claims map[string]any, key []byte) string {
	t.Helper()
	in := encodeJSON(t, header) + "." + encodeJSON(t, claims)
	if key == nil {
		return in + "."
	}
	return in + "." + hs256(key, in)
}

// segments splits a compact token into its three segments.
func segments(t testing.TB, tok string) (h, p, s string) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d segments", len(parts))
	}
	return parts[0], parts[1], parts[2]
}

func TestRoundTrip(t *testing.T) {
	iss := newTestIssuer(t)
	want := testClaims()
	tok, err := iss.Issue(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := iss.Verify(tok, testNow.Add(time.Minute))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}

	// The header and the claims set are exactly what the package doc says.
	h, p, _ := segments(t, tok)
	var header, payload map[string]any
	for seg, v := range map[string]*map[string]any{h: &header, p: &payload} {
		b, err := b64.DecodeString(seg)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	}
	wantHeader := map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": iss.KeyID()}
	if !maps.Equal(header, wantHeader) {
		t.Errorf("header %v, want %v", header, wantHeader)
	}
	wantPayload := map[string]any{
		"iss": testIssuer, "sub": "user-1", "aud": testAudience,
		"exp": float64(testNow.Add(testTTL).Unix()), "iat": float64(testNow.Unix()),
		"jti": "jti-1", "sid": "family-1",
		"amr": []any{"pwd", "otp", "mfa"}, "auth_time": float64(testNow.Add(-time.Hour).Unix()),
	}
	if !reflect.DeepEqual(payload, wantPayload) {
		t.Errorf("claims %v, want %v", payload, wantPayload)
	}
}

func TestIssueTruncatesToSeconds(t *testing.T) {
	iss := newTestIssuer(t)
	c := testClaims()
	c.IssuedAt = testNow.Add(900 * time.Millisecond)
	c.ExpiresAt = c.IssuedAt.Add(testTTL)
	tok, err := iss.Issue(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := iss.Verify(tok, testNow.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if !got.IssuedAt.Equal(testNow) || !got.ExpiresAt.Equal(testNow.Add(testTTL)) {
		t.Errorf("got iat %v exp %v, want %v and %v", got.IssuedAt, got.ExpiresAt, testNow, testNow.Add(testTTL))
	}
}

func TestIssueDefaultExpiry(t *testing.T) {
	iss := newTestIssuer(t)
	c := testClaims()
	c.ExpiresAt = time.Time{}
	tok, err := iss.Issue(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := iss.Verify(tok, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if want := testNow.Add(testTTL); !got.ExpiresAt.Equal(want) {
		t.Errorf("exp %v, want %v", got.ExpiresAt, want)
	}
}

func TestIssueRefuses(t *testing.T) {
	iss := newTestIssuer(t)
	tests := []struct {
		name   string
		change func(*auth.AccessClaims)
	}{
		{"empty subject", func(c *auth.AccessClaims) { c.Subject = "" }},
		{"empty session id", func(c *auth.AccessClaims) { c.SessionID = "" }},
		{"empty jti", func(c *auth.AccessClaims) { c.ID = "" }},
		{"zero iat", func(c *auth.AccessClaims) { c.IssuedAt = time.Time{} }},
		{"exp equal to iat", func(c *auth.AccessClaims) { c.ExpiresAt = c.IssuedAt }},
		{"exp before iat", func(c *auth.AccessClaims) { c.ExpiresAt = c.IssuedAt.Add(-time.Second) }},
		{"lifetime over ttl", func(c *auth.AccessClaims) { c.ExpiresAt = c.IssuedAt.Add(testTTL + time.Second) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testClaims()
			tt.change(&c)
			if tok, err := iss.Issue(c); err == nil {
				t.Errorf("Issue succeeded: %q", tok)
			}
		})
	}
}

// TestVerifyRejects covers RFC 8725 §3.1–§3.12 and the format rules of 8725bis. Unless a case is
// about the key or the signature, its token is signed with the server's
// secret, so that only the check under test can refuse it; want names the
// reason Verify must give, so a case fails if the token is refused for
// another reason than the one it tests.
func TestVerifyRejects(t *testing.T) {
	iss := newTestIssuer(t)
	h, c := validHeader(iss), validClaims()
	good := craft(t, h, c, testSecret)
	if _, err := iss.Verify(good, testNow); err != nil {
		t.Fatalf("control token refused: %v", err)
	}
	gh, gp, gs := segments(t, good)

	other := craft(t, h, with(c, "jti", "jti-2"), testSecret)
	_, _, otherSig := segments(t, other)

	attacker := bytes.Repeat([]byte{0xA5}, 32)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	es256 := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims(c))
	es256.Header = with(h, "alg", "ES256")
	es256Tok, err := es256.SignedString(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	signedWith := func(alg string, sign func(string) string) string {
		in := encodeJSON(t, with(h, "alg", alg)) + "." + gp
		return in + "." + sign(in)
	}

	// Flip the lowest bit of one byte of the sub value inside the JSON.
	payload, _ := b64.DecodeString(gp)
	i := bytes.Index(payload, []byte(`"user-1"`)) + 6
	payload[i] ^= 1
	flipped := gh + "." + b64.EncodeToString(payload) + "." + gs

	// The last character of a 32-byte signature carries 4 bits and 2 unused
	// bits: flipping the lowest unused bit keeps the decoded bytes the same
	// for a lenient decoder.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, gs[len(gs)-1])
	nonCanonical := gh + "." + gp + "." + gs[:len(gs)-1] + string(alphabet[last^1])

	jwk := map[string]any{"kty": "oct", "k": b64.EncodeToString(attacker)}

	tests := []struct {
		name  string
		token string
		want  error
	}{
		// Item 39: algorithm allowlist.
		{"alg none", craft(t, with(h, "alg", "none"), c, nil), jwt.ErrTokenSignatureInvalid},
		{"alg None", craft(t, with(h, "alg", "None"), c, nil), jwt.ErrTokenUnverifiable},
		{"alg NONE", craft(t, with(h, "alg", "NONE"), c, nil), jwt.ErrTokenUnverifiable},
		{"alg nOnE", craft(t, with(h, "alg", "nOnE"), c, nil), jwt.ErrTokenUnverifiable},
		{"alg none with a valid hmac", signedWith("none", func(in string) string { return hs256(testSecret, in) }), jwt.ErrTokenSignatureInvalid},
		{"alg missing", craft(t, with(h, "alg", nil), c, testSecret), jwt.ErrTokenUnverifiable},
		{"alg hs256 lower case", craft(t, with(h, "alg", "hs256"), c, testSecret), jwt.ErrTokenUnverifiable},
		{"RS256 label, hmac with the secret", signedWith("RS256", func(in string) string { return hs256(testSecret, in) }), jwt.ErrTokenSignatureInvalid},
		{"ES256 label, hmac with the secret", signedWith("ES256", func(in string) string { return hs256(testSecret, in) }), jwt.ErrTokenSignatureInvalid},
		{"ES256 signed by an attacker key", es256Tok, jwt.ErrTokenSignatureInvalid},
		{"HS384 with the secret", craftHS(t, jwt.SigningMethodHS384, h, c), jwt.ErrTokenSignatureInvalid},
		{"HS512 with the secret", craftHS(t, jwt.SigningMethodHS512, h, c), jwt.ErrTokenSignatureInvalid},
		{"RFC 7515 A.5 unsecured JWS", rfc7515A5, jwt.ErrTokenSignatureInvalid},

		// Item 40: signature before claims.
		{"other secret", craft(t, h, c, attacker), jwt.ErrTokenSignatureInvalid},
		{"flipped payload bit", flipped, jwt.ErrTokenSignatureInvalid},
		{"missing signature", gh + "." + gp + ".", jwt.ErrTokenSignatureInvalid},
		{"missing signature segment", gh + "." + gp, errSegments},
		{"signature of another token", gh + "." + gp + "." + otherSig, jwt.ErrTokenSignatureInvalid},
		{"truncated signature", gh + "." + gp + "." + gs[:40], jwt.ErrTokenSignatureInvalid},

		// Item 41: keys only from configuration; header members are input.
		{"jwk header, attacker key", craft(t, with(h, "jwk", jwk), c, attacker), errHeaderMember},
		{"jwk header, server key", craft(t, with(h, "jwk", jwk), c, testSecret), errHeaderMember},
		{"jku header", craft(t, with(h, "jku", "https://evil.example/jwks"), c, testSecret), errHeaderMember},
		{"x5u header", craft(t, with(h, "x5u", "https://evil.example/cert"), c, testSecret), errHeaderMember},
		{"x5c header", craft(t, with(h, "x5c", []string{"MIIB"}), c, testSecret), errHeaderMember},
		{"crit header", craft(t, with(h, "crit", []string{"exp"}), c, testSecret), errHeaderMember},
		{"b64 header", craft(t, with(h, "b64", false), c, testSecret), errHeaderMember},
		{"kid path traversal", craft(t, with(h, "kid", "../../../../dev/null"), c, testSecret), errKeyID},
		{"kid sql injection", craft(t, with(h, "kid", "' OR 1=1--"), c, testSecret), errKeyID},
		{"kid 10 KB", craft(t, with(h, "kid", strings.Repeat("A", 10<<10)), c, testSecret), errTooLarge},
		{"kid 5 KB", craft(t, with(h, "kid", strings.Repeat("A", 5<<10)), c, testSecret), errKeyID},
		{"kid empty", craft(t, with(h, "kid", ""), c, testSecret), errKeyID},
		{"kid number", craft(t, with(h, "kid", 1), c, testSecret), errKeyID},
		{"kid of another secret", craft(t, with(h, "kid", keyID(attacker)), c, testSecret), errKeyID},

		// Item 42: exp required, nbf and iat checked.
		{"exp missing", craft(t, h, with(c, "exp", nil), testSecret), jwt.ErrTokenRequiredClaimMissing},
		{"exp 120s ago", craft(t, h, with(with(c, "iat", testNow.Add(-5*time.Minute).Unix()), "exp", testNow.Add(-120*time.Second).Unix()), testSecret), jwt.ErrTokenExpired},
		{"exp a string", craft(t, h, with(c, "exp", "2099-01-01"), testSecret), jwt.ErrTokenMalformed},
		{"nbf in 120s", craft(t, h, with(c, "nbf", testNow.Add(120*time.Second).Unix()), testSecret), jwt.ErrTokenNotValidYet},
		{"iat in 120s", craft(t, h, with(c, "iat", testNow.Add(120*time.Second).Unix()), testSecret), jwt.ErrTokenUsedBeforeIssued},
		{"iat missing", craft(t, h, with(c, "iat", nil), testSecret), errMissingClaim},

		// Item 43: iss and aud.
		{"wrong iss", craft(t, h, with(c, "iss", "https://evil.example"), testSecret), jwt.ErrTokenInvalidIssuer},
		{"iss with trailing slash", craft(t, h, with(c, "iss", testIssuer+"/"), testSecret), jwt.ErrTokenInvalidIssuer},
		{"iss missing", craft(t, h, with(c, "iss", nil), testSecret), jwt.ErrTokenRequiredClaimMissing},
		{"wrong aud", craft(t, h, with(c, "aud", "https://other.example"), testSecret), jwt.ErrTokenInvalidAudience},
		{"aud missing", craft(t, h, with(c, "aud", nil), testSecret), jwt.ErrTokenRequiredClaimMissing},
		{"aud empty", craft(t, h, with(c, "aud", ""), testSecret), jwt.ErrTokenRequiredClaimMissing},
		{"aud array", craft(t, h, with(c, "aud", []string{testAudience}), testSecret), jwt.ErrTokenMalformed},

		// Item 44: token type.
		{"typ missing", craft(t, with(h, "typ", nil), c, testSecret), errType},
		{"typ JWT", craft(t, with(h, "typ", "JWT"), c, testSecret), errType},
		{"typ AT+JWT", craft(t, with(h, "typ", "AT+JWT"), c, testSecret), errType},
		{"typ mfa+jwt", craft(t, with(h, "typ", "mfa+jwt"), c, testSecret), errType},
		{"typ number", craft(t, with(h, "typ", 1), c, testSecret), errType},

		// Item 46: strict compact format and encoding.
		{"padding", good + "=", errCharset},
		{"padding in payload", gh + "." + gp + "=." + gs, errCharset},
		{"embedded newline", gh + "." + gp[:10] + "\n" + gp[10:] + "." + gs, errCharset},
		{"trailing CRLF", good + "\r\n", errCharset},
		{"space", " " + good, errCharset},
		{"standard base64 alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(good) + "+", errCharset},
		{"JSON serialization", `{"payload":"` + gp + `","signatures":[{"protected":"` + gh + `","signature":"` + gs + `"}]}`, errCharset},
		{"flattened JSON serialization", `{"payload":"` + gp + `","protected":"` + gh + `","signature":"` + gs + `"}`, errCharset},
		{"five-segment JWE", encodeJSON(t, map[string]any{"alg": "dir", "enc": "A256GCM"}) + "..48V1_ALb6US04U3b.5eym8TW_c8SuK0ltJ3rpYIzOeDQz7TALvtu6UG9oMo4vpzs9tX_EFShS8iB7j6ji.XFBoMYUZodetZdvTiFvSkQ", errSegments},
		{"four segments", good + ".", errSegments},
		{"empty", "", errSegments},
		{"dots only", "..", jwt.ErrTokenMalformed},
		{"non-canonical signature", nonCanonical, jwt.ErrTokenMalformed},
		{"header not JSON", b64.EncodeToString([]byte("not json")) + "." + gp + "." + gs, jwt.ErrTokenMalformed},
		{"payload not an object", craftRaw(t, h, "[1,2,3]"), jwt.ErrTokenMalformed},

		// Item 47: claims the deny list and revocation depend on.
		{"sub missing", craft(t, h, with(c, "sub", nil), testSecret), errMissingClaim},
		{"jti missing", craft(t, h, with(c, "jti", nil), testSecret), errMissingClaim},
		{"sid missing", craft(t, h, with(c, "sid", nil), testSecret), errMissingClaim},
		{"sid empty", craft(t, h, with(c, "sid", ""), testSecret), errMissingClaim},
		{"lifetime over ttl", craft(t, h, with(c, "exp", testNow.Add(testTTL+time.Second).Unix()), testSecret), errLifetime},
		{"exp before iat", craft(t, h, with(with(c, "iat", testNow.Add(20*time.Second).Unix()), "exp", testNow.Add(10*time.Second).Unix()), testSecret), errLifetime},
		{"exp equal to iat", craft(t, h, with(c, "exp", testNow.Unix()), testSecret), errLifetime},

		// Item 50: bounded parse cost.
		{"100 KB token", strings.Repeat("A", 100<<10) + "." + gp + "." + gs, errTooLarge},
		{"8 KiB + 1", good + "." + strings.Repeat("A", MaxTokenLen-len(good)), errTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := iss.Verify(tt.token, testNow)
			if err == nil {
				t.Fatalf("accepted: %+v", got)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v is not ErrInvalid", err)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("error %q, want reason %q", err, tt.want)
			}
			if !reflect.DeepEqual(got, auth.AccessClaims{}) {
				t.Errorf("claims %+v returned with an error", got)
			}
		})
	}
}

// TestVerifyAccepts checks the edges of what must still pass, so that the
// rejections above are not the result of a verifier that refuses too much.
func TestVerifyAccepts(t *testing.T) {
	iss := newTestIssuer(t)
	h, c := validHeader(iss), validClaims()
	tests := []struct {
		name  string
		token string
		now   time.Time
	}{
		{"issued token", craft(t, h, c, testSecret), testNow},
		{"typ application/at+jwt", craft(t, with(h, "typ", "application/at+jwt"), c, testSecret), testNow},
		{"no kid", craft(t, with(h, "kid", nil), c, testSecret), testNow},
		{"expired within leeway", craft(t, h, c, testSecret), testNow.Add(testTTL + Leeway - time.Second)},
		{"iat within leeway", craft(t, h, c, testSecret), testNow.Add(-Leeway)},
		{"nbf within leeway", craft(t, h, with(c, "nbf", testNow.Add(Leeway).Unix()), testSecret), testNow},
		{"unknown claim", craft(t, h, with(c, "amr", []string{"pwd"}), testSecret), testNow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.token) > MaxTokenLen {
				t.Fatalf("test token is %d bytes", len(tt.token))
			}
			if _, err := iss.Verify(tt.token, tt.now); err != nil {
				t.Errorf("refused: %v", err)
			}
		})
	}
	// Just past each edge.
	for name, now := range map[string]time.Time{
		"expired past leeway":    testNow.Add(testTTL + Leeway),
		"issued past leeway ago": testNow.Add(-Leeway - time.Second),
		"zero time":              {},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := iss.Verify(craft(t, h, c, testSecret), now); !errors.Is(err, ErrInvalid) {
				t.Errorf("got %v, want ErrInvalid", err)
			}
		})
	}
}

func TestMaxTokenLenBoundary(t *testing.T) {
	iss := newTestIssuer(t)
	h, c := validHeader(iss), validClaims()
	// Pad the claims so the token is as long as base64 allows without going
	// over MaxTokenLen, then make it one byte too long.
	pad := func(n int) string { return craft(t, h, with(c, "pad", strings.Repeat("x", n)), testSecret) }
	n := (MaxTokenLen-len(pad(0)))*3/4 - 8
	for len(pad(n+1)) <= MaxTokenLen {
		n++
	}
	tok := pad(n)
	if len(tok) < MaxTokenLen-2 {
		t.Fatalf("padded token is only %d bytes", len(tok))
	}
	if _, err := iss.Verify(tok, testNow); err != nil {
		t.Errorf("%d-byte token refused: %v", len(tok), err)
	}
	long := tok + strings.Repeat("A", MaxTokenLen+1-len(tok))
	if _, err := iss.Verify(long, testNow); !errors.Is(err, errTooLarge) {
		t.Errorf("%d-byte token: got %v, want errTooLarge", len(long), err)
	}
}

// rfc7515A1 is the HS256 example of RFC 7515 Appendix A.1: a valid
// signature over a token Bulwark must refuse (typ JWT, no aud, alien iss).
const (
	rfc7515A1Key   = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
	rfc7515A1Token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	rfc7515A5      = "eyJhbGciOiJub25lIn0.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
)

func TestRFC7515A1(t *testing.T) {
	key, err := b64.DecodeString(rfc7515A1Key)
	if err != nil {
		t.Fatal(err)
	}
	// Positive control: the signature is valid under the RFC's key.
	in := rfc7515A1Token[:strings.LastIndexByte(rfc7515A1Token, '.')]
	if got := in + "." + hs256(key, in); got != rfc7515A1Token {
		t.Fatalf("RFC 7515 A.1 signature does not verify")
	}
	before := time.Unix(1300819380, 0).Add(-time.Minute) // not yet expired

	// With the RFC's own key, issuer and time, only typ and aud can refuse it.
	joe, err := NewHS256(key, "joe", testAudience, testTTL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := joe.Verify(rfc7515A1Token, before); !errors.Is(err, errType) {
		t.Errorf("issuer joe: got %v, want errType", err)
	}
	if _, err := newTestIssuer(t).Verify(rfc7515A1Token, testNow); !errors.Is(err, ErrInvalid) {
		t.Errorf("server issuer: got %v, want ErrInvalid", err)
	}
}

func TestNewHS256(t *testing.T) {
	tests := []struct {
		name     string
		secret   []byte
		issuer   string
		audience string
		ttl      time.Duration
		ok       bool
	}{
		{"32 bytes", make([]byte, 32), testIssuer, testAudience, testTTL, true},
		{"64 bytes", make([]byte, 64), testIssuer, testAudience, testTTL, true},
		{"31 bytes", make([]byte, 31), testIssuer, testAudience, testTTL, false},
		{"empty secret", nil, testIssuer, testAudience, testTTL, false},
		{"empty issuer", make([]byte, 32), "", testAudience, testTTL, false},
		{"empty audience", make([]byte, 32), testIssuer, "", testTTL, false},
		{"zero ttl", make([]byte, 32), testIssuer, testAudience, 0, false},
		{"negative ttl", make([]byte, 32), testIssuer, testAudience, -time.Minute, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewHS256(tt.secret, tt.issuer, tt.audience, tt.ttl)
			if (err == nil) != tt.ok {
				t.Errorf("err = %v, want ok = %v", err, tt.ok)
			}
		})
	}
	if _, err := NewHS256(make([]byte, 31), testIssuer, testAudience, testTTL); !errors.Is(err, ErrSecretTooShort) {
		t.Errorf("31-byte secret: got %v, want ErrSecretTooShort", err)
	}
}

func TestNewHS256CopiesSecret(t *testing.T) {
	secret := bytes.Clone(testSecret)
	iss, err := NewHS256(secret, testIssuer, testAudience, testTTL)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.Issue(testClaims())
	if err != nil {
		t.Fatal(err)
	}
	clear(secret)
	if _, err := iss.Verify(tok, testNow); err != nil {
		t.Errorf("Verify after the caller cleared its secret: %v", err)
	}
}

func TestKeyID(t *testing.T) {
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(i)
	}
	a, _ := NewHS256(secret, testIssuer, testAudience, testTTL)
	b, _ := NewHS256(bytes.Clone(secret), "https://other.example", "other", time.Minute)
	other, _ := NewHS256(append(bytes.Clone(secret[:31]), 0xff), testIssuer, testAudience, testTTL)

	// Known answer: base64url(SHA-256("bulwark-kid" || 00 01 … 1f)[:16]).
	if got, want := a.KeyID(), "pO0rkLE7rExwK5sAL-bN7Q"; got != want {
		t.Errorf("KeyID = %q, want %q", got, want)
	}
	if a.KeyID() != b.KeyID() {
		t.Errorf("same secret, kids %q and %q", a.KeyID(), b.KeyID())
	}
	if a.KeyID() == other.KeyID() {
		t.Errorf("different secrets, same kid %q", a.KeyID())
	}
	// A token of the old secret is refused after rotation.
	tok, err := a.Issue(testClaims())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Verify(tok, testNow); !errors.Is(err, errKeyID) {
		t.Errorf("token of a rotated-out secret: got %v, want errKeyID", err)
	}
}

func TestJWKS(t *testing.T) {
	iss := newTestIssuer(t)
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(iss.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	if set.Keys == nil || len(set.Keys) != 0 {
		t.Errorf("JWKS = %s, want an empty keys array", iss.JWKS())
	}
	if bytes.Contains(iss.JWKS(), []byte(b64.EncodeToString(testSecret))) {
		t.Error("JWKS publishes the secret")
	}
}

func TestConcurrent(t *testing.T) {
	iss := newTestIssuer(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				c := testClaims()
				c.ID = NewJTI()
				tok, err := iss.Issue(c)
				if err != nil {
					t.Error(err)
					return
				}
				if got, err := iss.Verify(tok, testNow); err != nil || !reflect.DeepEqual(got, c) {
					t.Errorf("Verify = %+v, %v", got, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// FuzzVerify checks that Verify never panics and that the only strings it
// accepts are byte for byte the tokens Issue writes: no malleated copy of a
// token verifies (ASVS 7.4.1: revocation by jti).
func FuzzVerify(f *testing.F) {
	iss := newTestIssuer(f)
	tok, err := iss.Issue(testClaims())
	if err != nil {
		f.Fatal(err)
	}
	h, p, s := segments(f, tok)
	for _, seed := range []string{
		tok, tok + "=", h + "." + p + ".", h + "." + p, rfc7515A1Token, rfc7515A5,
		h + "." + p + "." + s[:len(s)-1] + "B", "..", "", "a.b.c.d.e",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, err := iss.Verify(in, testNow)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		again, err := iss.Issue(c)
		if err != nil {
			t.Fatalf("accepted claims do not reissue: %v", err)
		}
		if again != in {
			t.Fatalf("accepted %q, but its claims issue %q", in, again)
		}
	})
}

func BenchmarkIssue(b *testing.B) {
	iss := newTestIssuer(b)
	c := testClaims()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := iss.Issue(c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	iss := newTestIssuer(b)
	tok, err := iss.Issue(testClaims())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := iss.Verify(tok, testNow); err != nil {
			b.Fatal(err)
		}
	}
}

// craftHS signs header and claims with another HMAC algorithm under the
// server's secret.
func craftHS(t testing.TB, m *jwt.SigningMethodHMAC, header, claims map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, jwt.MapClaims(claims))
	tok.Header = with(header, "alg", m.Alg())
	s, err := tok.SignedString(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// craftRaw signs header and a raw payload under the server's secret.
func craftRaw(t testing.TB, header map[string]any, payload string) string {
	t.Helper()
	in := encodeJSON(t, header) + "." + b64.EncodeToString([]byte(payload))
	return in + "." + hs256(testSecret, in)
}
