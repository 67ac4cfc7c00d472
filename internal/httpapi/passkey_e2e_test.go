package httpapi_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// pkUser is a signed-in account of the passkey tests (bearer tokens).
type pkUser struct {
	email  string
	access string
}

func (e *env) pkSignedIn(email string) *pkUser {
	e.t.Helper()
	e.signup(email)
	return &pkUser{email: email, access: e.tokenLogin(email, strongPassword).access}
}

func (e *env) pkDo(u *pkUser, method, path string, body any) *resp {
	e.t.Helper()
	r := req{method: method, path: path, body: body}
	if u != nil {
		r.bearer = u.access
	}
	return e.do(r)
}

// pkRegister runs a registration in the browser: begin, create, finish.
// It returns the finish answer.
func (e *env) pkRegister(b *browser, u *pkUser, name string, tamper func(json.RawMessage) json.RawMessage) *resp {
	e.t.Helper()
	begin := e.pkDo(u, "POST", "/v1/webauthn/register/begin", map[string]string{})
	expectStatus(e.t, begin, 200)
	cred, err := b.create(begin.Body)
	if err != nil {
		e.t.Fatalf("navigator.credentials.create: %v", err)
	}
	if tamper != nil {
		cred = tamper(cred)
	}
	return e.pkDo(u, "POST", "/v1/webauthn/register/finish", map[string]any{"name": name, "credential": cred})
}

// pkAssert runs navigator.credentials.get on the answer of login/begin.
func (e *env) pkAssert(b *browser, beginBody any) json.RawMessage {
	e.t.Helper()
	begin := e.post("/v1/webauthn/login/begin", beginBody)
	expectStatus(e.t, begin, 200)
	cred, err := b.get(begin.Body)
	if err != nil {
		e.t.Fatalf("navigator.credentials.get: %v", err)
	}
	return cred
}

// editJSON decodes a credential JSON, lets f change it, and encodes it.
func editJSON(t *testing.T, raw json.RawMessage, f func(m map[string]any)) json.RawMessage {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// editClientData rewrites one member of the response's clientDataJSON.
func editClientData(t *testing.T, raw json.RawMessage, key string, value any) json.RawMessage {
	t.Helper()
	return editJSON(t, raw, func(m map[string]any) {
		r := m["response"].(map[string]any)
		cd, err := base64.RawURLEncoding.DecodeString(r["clientDataJSON"].(string))
		if err != nil {
			t.Fatal(err)
		}
		var c map[string]any
		if err := json.Unmarshal(cd, &c); err != nil {
			t.Fatal(err)
		}
		c[key] = value
		cd, _ = json.Marshal(c)
		r["clientDataJSON"] = base64.RawURLEncoding.EncodeToString(cd)
	})
}

func b64(s string) []byte {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// TestPasskeyEndToEnd drives Bulwark's passkey routes from headless
// Chromium's virtual authenticator: register while signed in (after a
// refused, tampered attempt on the same challenge), sign in with the
// passkey alone (cookie and token), use it as the second factor after a
// password, a replayed assertion, a counter that goes backwards, the same
// credential id offered by a second user, rename and removal.
func TestPasskeyEndToEnd(t *testing.T) {
	b := newBrowser(t)
	e := newEnv(t, withPasskeys(b.Origin))
	alice := e.pkSignedIn("alice@example.com")

	// The options: discoverable, user-verified, no attestation, ES256,
	// EdDSA and RS256, five minutes, a 32-byte challenge, a random handle.
	begin := e.pkDo(alice, "POST", "/v1/webauthn/register/begin", map[string]string{})
	expectStatus(t, begin, 200)
	var opts struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			RP        struct{ ID, Name string }
			User      struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			}
			PubKeyCredParams []struct {
				Alg int `json:"alg"`
			} `json:"pubKeyCredParams"`
			Timeout                int    `json:"timeout"`
			Attestation            string `json:"attestation"`
			AuthenticatorSelection struct {
				ResidentKey      string `json:"residentKey"`
				UserVerification string `json:"userVerification"`
			} `json:"authenticatorSelection"`
			ExcludeCredentials []struct {
				ID string `json:"id"`
			} `json:"excludeCredentials"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(begin.Body, &opts); err != nil {
		t.Fatal(err)
	}
	pk := opts.PublicKey
	var algs []int
	for _, p := range pk.PubKeyCredParams {
		algs = append(algs, p.Alg)
	}
	if len(b64(pk.Challenge)) != 32 || pk.RP.ID != "localhost" || pk.Timeout != 300000 || pk.Attestation != "none" ||
		pk.AuthenticatorSelection.ResidentKey != "required" || pk.AuthenticatorSelection.UserVerification != "required" ||
		len(b64(pk.User.ID)) != 64 || strings.Contains(string(b64(pk.User.ID)), "alice") || pk.User.Name != "alice@example.com" ||
		len(pk.ExcludeCredentials) != 0 || !equalInts(algs, []int{-7, -8, -257}) {
		t.Fatalf("creation options: %s", begin.Body)
	}

	// A tampered response (origin of another site) is refused and leaves
	// the challenge usable: the good response to the same challenge works.
	good, err := b.create(begin.Body)
	if err != nil {
		t.Fatal(err)
	}
	bad := editClientData(t, good, "origin", "https://evil.example")
	r := e.pkDo(alice, "POST", "/v1/webauthn/register/finish", map[string]any{"name": "Laptop", "credential": bad})
	expectStatus(t, r, 400)
	if r.code() != "passkey_rejected" {
		t.Fatalf("tampered registration: %s", r.Body)
	}
	r = e.pkDo(alice, "POST", "/v1/webauthn/register/finish", map[string]any{"name": "Laptop", "credential": good})
	expectStatus(t, r, 201)
	var added struct {
		Passkey struct {
			ID             string  `json:"id"`
			Name           string  `json:"name"`
			LastUsedAt     *string `json:"last_used_at"`
			BackupEligible bool    `json:"backup_eligible"`
		} `json:"passkey"`
		Tokens struct {
			AccessToken string `json:"access_token"`
		} `json:"tokens"`
	}
	if err := json.Unmarshal(r.Body, &added); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(added.Passkey.ID, "pk_") || added.Passkey.Name != "Laptop" || added.Passkey.LastUsedAt != nil || added.Tokens.AccessToken == "" {
		t.Fatalf("registration answer: %s", r.Body)
	}
	// The step-up replaced the caller's refresh family: the old access
	// token is refused, the new one works.
	expectStatus(t, e.pkDo(alice, "GET", "/v1/webauthn/credentials", nil), 401)
	alice.access = added.Tokens.AccessToken
	// The same response again: its challenge is spent.
	r = e.pkDo(alice, "POST", "/v1/webauthn/register/finish", map[string]any{"name": "Again", "credential": good})
	expectStatus(t, r, 400)
	if n := e.mailCount(alice.email, "passkey_added"); n != 1 {
		t.Fatalf("passkey_added mails: %d", n)
	}
	me := e.me(nil, alice.access)
	expectStatus(t, me, 200)
	if !strings.Contains(string(me.Body), `"passkeys":1`) {
		t.Fatalf("/v1/me after registration: %s", me.Body)
	}
	// The next registration excludes the passkey.
	begin = e.pkDo(alice, "POST", "/v1/webauthn/register/begin", map[string]string{})
	expectStatus(t, begin, 200)
	if err := json.Unmarshal(begin.Body, &opts); err != nil {
		t.Fatal(err)
	}
	if len(opts.PublicKey.ExcludeCredentials) != 1 {
		t.Fatalf("excludeCredentials: %s", begin.Body)
	}
	credID := opts.PublicKey.ExcludeCredentials[0].ID

	// A passkey alone, cookie mode: a session cookie and a device cookie.
	cred := e.pkAssert(b, map[string]string{})
	r = e.post("/v1/webauthn/login/finish", map[string]any{"credential": cred, "mode": "cookie"})
	expectStatus(t, r, 200)
	if r.cookie("bulwark_session") == nil || r.cookie("bulwark_device") == nil || r.str("csrf_token") == "" {
		t.Fatalf("cookie login: %s %v", r.Body, r.Header["Set-Cookie"])
	}
	me = e.me(&session{cookie: r.cookie("bulwark_session")}, "")
	expectStatus(t, me, 200)
	if !strings.Contains(string(me.Body), `"methods":["passkey"]`) || !strings.Contains(string(me.Body), `"level":"aal2"`) {
		t.Fatalf("/v1/me of a passkey session: %s", me.Body)
	}
	// The same assertion again: refused like any bad credential.
	r = e.post("/v1/webauthn/login/finish", map[string]any{"credential": cred, "mode": "token"})
	expectStatus(t, r, 401)
	if r.code() != "invalid_credentials" {
		t.Fatalf("replayed assertion: %s", r.Body)
	}
	// An email given to login/begin is ignored: the same options shape.
	cred = e.pkAssert(b, map[string]string{"email": "nobody@example.com"})
	r = e.post("/v1/webauthn/login/finish", map[string]any{"credential": cred, "mode": "token"})
	expectStatus(t, r, 200)
	if r.str("access_token") == "" || r.str("refresh_token") == "" {
		t.Fatalf("token login: %s", r.Body)
	}
	me = e.me(nil, r.str("access_token"))
	if !strings.Contains(string(me.Body), `"methods":["passkey"]`) {
		t.Fatalf("/v1/me of a passkey token: %s", me.Body)
	}

	// The second factor after a password.
	r = e.post("/v1/token", map[string]string{"grant_type": "password", "email": alice.email, "password": strongPassword})
	expectStatus(t, r, 200)
	mfaToken := r.str("mfa_token")
	if mfaToken == "" || !strings.Contains(string(r.Body), `"passkey"`) {
		t.Fatalf("password login of an account with a passkey: %s", r.Body)
	}
	begin = e.post("/v1/webauthn/login/begin", map[string]string{"mfa_token": mfaToken})
	expectStatus(t, begin, 200)
	var req2 struct {
		PublicKey struct {
			AllowCredentials []struct {
				ID string `json:"id"`
			} `json:"allowCredentials"`
			UserVerification string `json:"userVerification"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(begin.Body, &req2); err != nil {
		t.Fatal(err)
	}
	if len(req2.PublicKey.AllowCredentials) != 1 || req2.PublicKey.AllowCredentials[0].ID != credID || req2.PublicKey.UserVerification != "preferred" {
		t.Fatalf("second-factor options: %s", begin.Body)
	}
	cred, err = b.get(begin.Body)
	if err != nil {
		t.Fatal(err)
	}
	// A second-factor assertion cannot sign in alone.
	r = e.post("/v1/webauthn/login/finish", map[string]any{"credential": cred, "mode": "token"})
	expectStatus(t, r, 401)
	r = e.post("/v1/webauthn/login/finish", map[string]any{"credential": cred, "mfa_token": mfaToken})
	expectStatus(t, r, 200)
	me = e.me(nil, r.str("access_token"))
	if !strings.Contains(string(me.Body), `"methods":["password","passkey"]`) {
		t.Fatalf("/v1/me after password and passkey: %s", me.Body)
	}

	// Rename; another user's passkey is not found.
	r = e.pkDo(alice, "PATCH", "/v1/webauthn/credentials/"+added.Passkey.ID, map[string]string{"name": "Work laptop"})
	expectStatus(t, r, 200)
	list := e.pkDo(alice, "GET", "/v1/webauthn/credentials", nil)
	expectStatus(t, list, 200)
	if !strings.Contains(string(list.Body), `"name":"Work laptop"`) || !strings.Contains(string(list.Body), `"last_used_at":"`) {
		t.Fatalf("list: %s", list.Body)
	}
	bob := e.pkSignedIn("bob@example.com")
	expectStatus(t, e.pkDo(bob, "PATCH", "/v1/webauthn/credentials/"+added.Passkey.ID, map[string]string{"name": "mine"}), 404)
	expectStatus(t, e.pkDo(bob, "DELETE", "/v1/webauthn/credentials/"+added.Passkey.ID, map[string]string{"password": strongPassword}), 404)

	// A counter that goes backwards: a clone. Refused, audited, told.
	vc := b.credentials()
	if len(vc) != 1 {
		t.Fatalf("authenticator credentials: %d", len(vc))
	}
	high := vc[0].SignCount
	b.setSignCount(vc[0], 0)
	cred = e.pkAssert(b, map[string]string{})
	r = e.post("/v1/webauthn/login/finish", map[string]any{"credential": cred, "mode": "token"})
	expectStatus(t, r, 401)
	if r.code() != "invalid_credentials" {
		t.Fatalf("cloned key: %s", r.Body)
	}
	if ev := e.auditEvents("passkey_clone_detected"); len(ev) != 1 || ev[0]["user_id"] == nil {
		t.Fatalf("passkey_clone_detected events: %v", ev)
	}
	if n := e.mailCount(alice.email, "passkey_clone_detected"); n != 1 {
		t.Fatalf("passkey_clone_detected mails: %d", n)
	}
	b.setSignCount(vc[0], high+10)
	cred = e.pkAssert(b, map[string]string{})
	expectStatus(t, e.post("/v1/webauthn/login/finish", map[string]any{"credential": cred, "mode": "token"}), 200)

	// Bob's authenticator answers his registration with Alice's
	// credential id (attestation "none" signs nothing over it): 409.
	r = e.pkRegister(b, bob, "Copied", func(c json.RawMessage) json.RawMessage {
		return swapCredentialID(t, c, b64(credID))
	})
	expectStatus(t, r, 409)
	if r.code() != "passkey_exists" {
		t.Fatalf("same credential id for a second user: %s", r.Body)
	}

	// Removal: Alice's last factor needs her password.
	r = e.pkDo(alice, "DELETE", "/v1/webauthn/credentials/"+added.Passkey.ID, nil)
	expectStatus(t, r, 401)
	if r.code() != "reauth_required" {
		t.Fatalf("removing the last factor without password: %s", r.Body)
	}
	r = e.pkDo(alice, "DELETE", "/v1/webauthn/credentials/"+added.Passkey.ID, map[string]string{"password": "wrong password entirely"})
	expectStatus(t, r, 403)
	r = e.pkDo(alice, "DELETE", "/v1/webauthn/credentials/"+added.Passkey.ID, map[string]string{"password": strongPassword})
	expectStatus(t, r, 204)
	list = e.pkDo(alice, "GET", "/v1/webauthn/credentials", nil)
	expectStatus(t, list, 200)
	if !strings.Contains(string(list.Body), `"passkeys":[]`) {
		t.Fatalf("list after removal: %s", list.Body)
	}
	if n := e.mailCount(alice.email, "passkey_removed"); n != 1 {
		t.Fatalf("passkey_removed mails: %d", n)
	}
	// The removed passkey no longer signs in.
	cred = e.pkAssert(b, map[string]string{})
	expectStatus(t, e.post("/v1/webauthn/login/finish", map[string]any{"credential": cred, "mode": "token"}), 401)
	_ = http.StatusOK
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// swapCredentialID replaces the credential id of a registration response
// (id, rawId and inside authData of the attestation object) with id, which
// must have the same length.
func swapCredentialID(t *testing.T, raw json.RawMessage, id []byte) json.RawMessage {
	t.Helper()
	return editJSON(t, raw, func(m map[string]any) {
		old := b64(m["rawId"].(string))
		if len(old) != len(id) {
			t.Fatalf("credential ids of %d and %d bytes", len(old), len(id))
		}
		r := m["response"].(map[string]any)
		att := b64(r["attestationObject"].(string))
		if bytes.Count(att, old) != 1 {
			t.Fatal("credential id not found once in the attestation object")
		}
		att = bytes.Replace(att, old, id, 1)
		r["attestationObject"] = base64.RawURLEncoding.EncodeToString(att)
		if ad, ok := r["authenticatorData"].(string); ok {
			r["authenticatorData"] = base64.RawURLEncoding.EncodeToString(bytes.Replace(b64(ad), old, id, 1))
		}
		enc := base64.RawURLEncoding.EncodeToString(id)
		m["id"], m["rawId"] = enc, enc
	})
}

// TestPasskeyConditionalUI: the autofill flow. The page starts
// navigator.credentials.get({mediation: "conditional"}) with the options
// of login/begin {} and focuses its username field (autocomplete
// "username webauthn"); the passkey picked there signs in.
func TestPasskeyConditionalUI(t *testing.T) {
	b := newBrowser(t)
	e := newEnv(t, withPasskeys(b.Origin))
	alice := e.pkSignedIn("cond@example.com")
	expectStatus(t, e.pkRegister(b, alice, "Laptop", nil), 201)
	begin := e.post("/v1/webauthn/login/begin", map[string]string{})
	expectStatus(t, begin, 200)
	cred, err := b.conditional(begin.Body)
	if err != nil {
		t.Fatalf("conditional get: %v", err)
	}
	if string(cred) == "unavailable" {
		t.Fatal("this chromium says conditional mediation is unavailable")
	}
	r := e.post("/v1/webauthn/login/finish", map[string]any{"credential": cred, "mode": "cookie"})
	expectStatus(t, r, 200)
	if r.cookie("bulwark_session") == nil {
		t.Fatalf("no session cookie: %s", r.Body)
	}
}
