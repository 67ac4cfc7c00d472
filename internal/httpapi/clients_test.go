package httpapi_test

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/token"
)

// apiClient creates an API client in e's store and returns its Basic
// Authorization header value.
func apiClient(t *testing.T, e *env, name string) (id, authz string) {
	t.Helper()
	c, secret, err := auth.NewAPIClient(rand.Reader, name, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.(auth.APIClientStore).CreateAPIClient(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	return c.ID, basic(c.ID, secret.Reveal())
}

func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
}

// introspect posts token as a form, as RFC 7662 §2.1 has it.
func (e *env) introspect(authz, tok string) *resp {
	e.t.Helper()
	h := map[string]string{}
	if authz != "" {
		h["Authorization"] = authz
	}
	return e.do(req{method: "POST", path: "/v1/token/introspect", body: url.Values{"token": {tok}, "token_type_hint": {"access_token"}}.Encode(),
		ctype: "application/x-www-form-urlencoded", headers: h})
}

// TestIntrospection: an access token the server accepts is active with its
// claims; every token it refuses is {"active":false} and nothing else, and
// introspection agrees with the server's own bearer check (GET /v1/me) in
// every case.
func TestIntrospection(t *testing.T) {
	e := newEnv(t)
	_, authz := apiClient(t, e, "orders")
	e.signup("intro@example.com")

	inactive := func(name, tok string, meStatus int) {
		t.Helper()
		r := e.introspect(authz, tok)
		expectStatus(t, r, 200)
		if string(r.Body) != "{\"active\":false}\n" {
			t.Errorf("%s: introspection %s, want exactly {\"active\":false}", name, r.Body)
		}
		if got := e.me(nil, tok).Status; got != meStatus {
			t.Errorf("%s: GET /v1/me with the token = %d, want %d (introspection and bearer auth disagree)", name, got, meStatus)
		}
	}

	tk := e.tokenLogin("intro@example.com", strongPassword)
	r := e.introspect(authz, tk.access)
	expectStatus(t, r, 200)
	if r.Header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Errorf("headers %v", r.Header)
	}
	u, err := e.db.UserByEmail(t.Context(), "intro@example.com")
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	want := map[string]any{
		"active": true, "sub": u.ID, "aud": e.opts.PublicURL, "iss": e.opts.PublicURL,
		"iat": float64(now.Unix()), "exp": float64(now.Add(e.cfg.AccessTTL).Unix()),
		"jti": r.JSON["jti"], "sid": r.JSON["sid"], "token_type": "Bearer",
	}
	if !reflect.DeepEqual(r.JSON, want) {
		t.Errorf("active introspection\n got %v\nwant %v", r.JSON, want)
	}
	if jti, _ := r.JSON["jti"].(string); len(jti) < 16 {
		t.Errorf("jti %q", jti)
	}
	if sid, _ := r.JSON["sid"].(string); !strings.HasPrefix(sid, "fam_") && len(sid) < 16 {
		t.Errorf("sid %q", sid)
	}
	expectStatus(t, e.me(nil, tk.access), 200)
	// A JSON body is the same question.
	rj := e.do(req{method: "POST", path: "/v1/token/introspect", body: map[string]string{"token": tk.access}, headers: map[string]string{"Authorization": authz}})
	if rj.Status != 200 || !reflect.DeepEqual(rj.JSON, want) {
		t.Errorf("JSON body: %d %s", rj.Status, rj.Body)
	}

	// Revoked by RFC 7009 (jti on the deny list).
	expectStatus(t, e.post("/v1/token/revoke", map[string]string{"token": tk.access}), 200)
	inactive("revoked", tk.access, 401)

	// Logout (the family's sid): a second token of the family is refused.
	tk = e.tokenLogin("intro@example.com", strongPassword)
	r2 := e.refresh(tk.refresh)
	expectStatus(t, r2, 200)
	sibling := r2.str("access_token")
	expectStatus(t, e.do(req{method: "POST", path: "/v1/logout", bearer: tk.access}), 204)
	inactive("logged out (jti)", tk.access, 401)
	inactive("family logged out (sid)", sibling, 401)

	// Expired.
	tk = e.tokenLogin("intro@example.com", strongPassword)
	e.clock.Advance(e.cfg.AccessTTL + 5*time.Minute) // past any leeway
	inactive("expired", tk.access, 401)

	// Signed by another server, malformed, empty-ish, and a refresh token.
	other, _ := token.GenerateSecret()
	foreignIssuer, _ := token.NewHS256(other, e.opts.PublicURL, e.opts.PublicURL, time.Hour)
	foreign, _ := foreignIssuer.Issue(auth.AccessClaims{Subject: u.ID, ID: "x", SessionID: "y", IssuedAt: e.clock.Now(), ExpiresAt: e.clock.Now().Add(time.Hour), CredentialVersion: u.CredentialVersion})
	inactive("foreign", foreign, 401)
	inactive("malformed", "not.a.token", 401)
	tk = e.tokenLogin("intro@example.com", strongPassword)
	inactive("refresh token", tk.refresh, 401)

	// Credential version and epoch: a password change refuses older tokens.
	expectStatus(t, e.introspect(authz, tk.access), 200)
	expectStatus(t, e.do(req{method: "POST", path: "/v1/password/change", bearer: tk.access,
		body: map[string]string{"current_password": strongPassword, "new_password": strongPassword + " 2"}}), 200)
	inactive("after a password change", tk.access, 401)

	// Disabled account.
	tk = e.tokenLogin("intro@example.com", strongPassword+" 2")
	if e.introspect(authz, tk.access).JSON["active"] != true {
		t.Fatal("fresh token not active")
	}
	if err := setDisabled(e, "intro@example.com"); err != nil {
		t.Fatal(err)
	}
	inactive("disabled user", tk.access, 401)

	// Introspection changes nothing: the same question twice, same answer.
	if e.introspect(authz, tk.access).JSON["active"] != false {
		t.Error("second introspection differs")
	}
	// token is required.
	r = e.do(req{method: "POST", path: "/v1/token/introspect", body: "token_type_hint=access_token", ctype: "application/x-www-form-urlencoded",
		headers: map[string]string{"Authorization": authz}})
	expectStatus(t, r, 400)
}

// TestIntrospectionClientAuth: missing, malformed or wrong credentials, an
// unknown or revoked client, are 401 with a Basic challenge, whatever the
// token; past the failure limit they are 429; a good client still works.
func TestIntrospectionClientAuth(t *testing.T) {
	e := newEnv(t)
	id, authz := apiClient(t, e, "billing")
	revokedID, revokedAuthz := apiClient(t, e, "old")
	if err := e.db.(auth.APIClientStore).RevokeAPIClient(t.Context(), revokedID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	e.signup("ca@example.com")
	tk := e.tokenLogin("ca@example.com", strongPassword)

	_, otherAuthz := apiClient(t, e, "other")
	otherSecret := strings.SplitN(mustDecodeBasic(t, otherAuthz), ":", 2)[1]
	cases := map[string]string{
		"none":             "",
		"bearer":           "Bearer " + tk.access,
		"not base64":       "Basic !!!",
		"no colon":         "Basic " + base64.StdEncoding.EncodeToString([]byte(id)),
		"wrong secret":     basic(id, "wrong"),
		"empty secret":     basic(id, ""),
		"other's secret":   basic(id, otherSecret),
		"unknown client":   basic("cli_unknown", otherSecret),
		"revoked client":   revokedAuthz,
		"bad escape":       basic("%zz", "x"),
		"oversized header": "Basic " + strings.Repeat("A", 9000),
	}
	for name, h := range cases {
		r := e.introspect(h, tk.access)
		if r.Status != 401 || r.Header.Get("WWW-Authenticate") != `Basic realm="bulwark", charset="UTF-8"` || r.code() != "unauthenticated" {
			t.Errorf("%s: %d %q %s", name, r.Status, r.Header.Get("WWW-Authenticate"), r.Body)
		}
		if strings.Contains(string(r.Body), "active") {
			t.Errorf("%s: a refused client learned about the token: %s", name, r.Body)
		}
	}
	if n := len(e.auditEvents(auth.EventClientAuthFailed)); n != len(cases) {
		t.Errorf("%d client_auth_failed audit lines, want %d", n, len(cases))
	}
	// 11 failures so far; the limit is 20 a minute per address.
	for i := len(cases); i < auth.ClientAuthFailures.N; i++ {
		expectStatus(t, e.introspect(basic(id, "wrong"), tk.access), 401)
	}
	r := e.introspect(basic(id, "wrong"), tk.access)
	if r.Status != 429 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("failure %d: %d %s, want 429", auth.ClientAuthFailures.N+1, r.Status, r.Body)
	}
	// The right secret is still accepted from the same address.
	if got := e.introspect(authz, tk.access); got.Status != 200 || got.JSON["active"] != true {
		t.Fatalf("good client after a flood: %d %s", got.Status, got.Body)
	}
}

func mustDecodeBasic(t *testing.T, h string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(h, "Basic "))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestClientSecretStoredHashed: the database keeps the SHA-256 of the
// secret, never the secret or anything that contains it.
func TestClientSecretStoredHashed(t *testing.T) {
	e := newEnv(t)
	id, authz := apiClient(t, e, "hashed")
	secret := strings.SplitN(mustDecodeBasic(t, authz), ":", 2)[1]
	c, err := e.db.(auth.APIClientStore).APIClientByID(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if string(c.SecretHash) != string(auth.HashToken(secret)) {
		t.Fatal("stored hash is not SHA-256 of the secret")
	}
	raw, _ := base64.RawURLEncoding.DecodeString(secret)
	if len(raw) < 16 {
		t.Fatalf("secret has %d random bytes, want at least 16 (128 bits)", len(raw))
	}
	_ = http.StatusOK
}
