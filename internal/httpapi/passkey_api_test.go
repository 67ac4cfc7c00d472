package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestPasskeyFinishBodiesAreStrict: the nested bodies of the finish routes
// refuse a member name given twice at any depth, unknown members, invalid
// UTF-8, a non-object credential and a body over 64 KiB.
func TestPasskeyFinishBodiesAreStrict(t *testing.T) {
	e := newEnv(t, withPasskeys("http://localhost:1"))
	u := e.pkSignedIn("strict@example.com")
	for _, tc := range []struct {
		name, body, field string
		status            int
	}{
		{"duplicate top-level name", `{"name":"a","name":"b","credential":{}}`, "name", 400},
		{"duplicate name inside the credential", `{"credential":{"response":{"clientDataJSON":"a","clientDataJSON":"b"}}}`, "credential", 400},
		{"duplicate name inside an array", `{"credential":{"x":[{"a":1,"a":2}]}}`, "credential", 400},
		{"unknown member", `{"credential":{},"extra":1}`, "extra", 400},
		{"credential not an object", `{"credential":"abc"}`, "credential", 400},
		{"credential missing", `{"name":"a"}`, "credential", 400},
		{"name not a string", `{"name":1,"credential":{}}`, "name", 400},
		{"invalid UTF-8", "{\"name\":\"\xff\",\"credential\":{}}", "", 400},
		{"trailing value", `{"credential":{}} {}`, "", 400},
		{"over 64 KiB", `{"credential":{"x":"` + strings.Repeat("a", 65<<10) + `"}}`, "", 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(req{method: "POST", path: "/v1/webauthn/register/finish", body: tc.body, bearer: u.access})
			expectStatus(t, r, tc.status)
			if tc.field != "" && !strings.Contains(string(r.Body), `"field":"`+tc.field+`"`) {
				t.Fatalf("errors do not name %s: %s", tc.field, r.Body)
			}
		})
	}
	// A well-formed body reaches the service: a challenge it does not know.
	r := e.do(req{method: "POST", path: "/v1/webauthn/register/finish", bearer: u.access,
		body: `{"credential":{"response":{"clientDataJSON":"eyJjaGFsbGVuZ2UiOiJBQUFBIn0"}}}`})
	expectStatus(t, r, 400)
	if r.code() != "passkey_rejected" {
		t.Fatalf("unknown challenge: %s", r.Body)
	}
	// login/finish: mode is cookie or token, and not with mfa_token.
	for _, body := range []string{`{"credential":{}}`, `{"credential":{},"mode":"both"}`, `{"credential":{},"mode":"token","mfa_token":"x"}`} {
		r := e.do(req{method: "POST", path: "/v1/webauthn/login/finish", body: body})
		expectStatus(t, r, 400)
		if !strings.Contains(string(r.Body), `"field":"mode"`) {
			t.Fatalf("%s: %s", body, r.Body)
		}
	}
	// A well-formed assertion of nothing known: the one 401.
	r = e.do(req{method: "POST", path: "/v1/webauthn/login/finish", body: `{"credential":{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{}},"mode":"token"}`})
	expectStatus(t, r, 401)
	if r.code() != "invalid_credentials" {
		t.Fatalf("garbage assertion: %s", r.Body)
	}
}

// TestPasskeyLoginBeginNamesNoAccount: the options of a passkey alone are
// the same whether an email is given (known, unknown) or not: only the
// challenge differs (WebAuthn L3 §14.6.2).
func TestPasskeyLoginBeginNamesNoAccount(t *testing.T) {
	e := newEnv(t, withPasskeys("http://localhost:1"))
	e.signup("known@example.com")
	shape := func(body any) string {
		r := e.post("/v1/webauthn/login/begin", body)
		expectStatus(t, r, 200)
		var m map[string]map[string]any
		if err := json.Unmarshal(r.Body, &m); err != nil {
			t.Fatal(err)
		}
		pk := m["publicKey"]
		if len(pk["challenge"].(string)) != 43 {
			t.Fatalf("challenge %v", pk["challenge"])
		}
		delete(pk, "challenge")
		if _, ok := pk["allowCredentials"]; ok {
			t.Fatalf("allowCredentials in a passkey-alone sign-in: %s", r.Body)
		}
		out, _ := json.Marshal(pk)
		return string(out)
	}
	a := shape(map[string]string{})
	b := shape(map[string]string{"email": "known@example.com"})
	c := shape(map[string]string{"email": "unknown@example.com"})
	if a != b || b != c || !strings.Contains(a, `"userVerification":"required"`) {
		t.Fatalf("options differ:\n%s\n%s\n%s", a, b, c)
	}
	// An mfa_token that is not a live pending login.
	r := e.post("/v1/webauthn/login/begin", map[string]string{"mfa_token": "nope"})
	expectStatus(t, r, 401)
	if r.code() != "invalid_token" {
		t.Fatalf("dead mfa_token: %s", r.Body)
	}
}

// TestPasskeysOff: without a relying party the passkey routes answer 404.
func TestPasskeysOff(t *testing.T) {
	e := newEnv(t)
	u := e.pkSignedIn("off@example.com")
	for _, r := range []*resp{
		e.post("/v1/webauthn/login/begin", map[string]string{}),
		e.pkDo(u, "POST", "/v1/webauthn/register/begin", map[string]string{}),
		e.pkDo(u, "GET", "/v1/webauthn/credentials", nil),
	} {
		expectStatus(t, r, 404)
		if r.code() != "not_found" {
			t.Fatalf("passkeys off: %s", r.Body)
		}
	}
}
