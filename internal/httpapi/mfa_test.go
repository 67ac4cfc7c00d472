package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

func totpCode(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// nextStep moves the clock to the start of the next 30-second TOTP step.
func (e *env) nextStep() {
	now := e.clock.Now()
	e.clock.Advance(now.Truncate(30 * time.Second).Add(30 * time.Second).Sub(now))
}

func (e *env) cookieReq(s *session, method, path string, body any) *resp {
	e.t.Helper()
	return e.do(req{method: method, path: path, body: body, cookies: []*http.Cookie{s.cookie}, headers: map[string]string{"X-CSRF-Token": s.csrf}})
}

// TestMFA_OverHTTP walks TOTP through the API as the docs' walk-through
// does: enrol, confirm, sign in on both login routes, challenge, recovery
// code, disable. A user with TOTP is signed in by the password alone on no
// route: cookie login, token login, refresh of a pre-MFA family, device-token
// login. It runs on SQLite and, with BULWARK_TEST_BACKEND=postgres, on
// PostgreSQL.
func TestMFA_OverHTTP(t *testing.T) {
	e := newEnv(t, withConfig(func(c *auth.Config) { c.LoginPerEmail = auth.Limit{N: 100, Per: time.Minute} }))
	const email = "totp.walk@example.com"
	e.signup(email)
	s1 := e.login(email, strongPassword)
	s2 := e.login(email, strongPassword)
	pre := e.tokenLogin(email, strongPassword)

	// Enrol.
	r := e.cookieReq(s1, "POST", "/v1/mfa/totp/enroll", nil)
	expectStatus(t, r, 200)
	secret := r.str("secret")
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil || len(raw) < 20 {
		t.Fatalf("secret %q decodes to %d bytes (%v); want at least 20 (RFC 4226 §4)", secret, len(raw), err)
	}
	u, err := url.Parse(r.str("otpauth_uri"))
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" || u.Query().Get("secret") != secret || u.Query().Get("issuer") != "Bulwark" ||
		!strings.HasSuffix(u.Path, ":"+email) {
		t.Fatalf("otpauth_uri %q", r.str("otpauth_uri"))
	}
	png, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(r.str("qr_code"), "data:image/png;base64,"))
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("qr_code is not a PNG data URL (%v)", err)
	}
	if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("the secret's answer has Cache-Control %q, want no-store", cc)
	}
	// Not active before the confirmation.
	expectStatus(t, e.post("/v1/session", map[string]string{"email": email, "password": strongPassword}), 200)

	// Confirm: a wrong code does nothing, the right one turns TOTP on.
	wrong := "000000"
	if totpCode(t, secret, e.clock.Now()) == wrong {
		wrong = "000001"
	}
	r = e.cookieReq(s1, "POST", "/v1/mfa/totp/confirm", map[string]string{"code": wrong})
	expectStatus(t, r, 401)
	if r.code() != "invalid_code" {
		t.Fatalf("wrong confirmation code: %s", r.Body)
	}
	r = e.cookieReq(s1, "POST", "/v1/mfa/totp/confirm", map[string]string{"code": totpCode(t, secret, e.clock.Now())})
	expectStatus(t, r, 200)
	codes, _ := r.JSON["recovery_codes"].([]any)
	if len(codes) != 10 {
		t.Fatalf("recovery_codes %v", r.JSON["recovery_codes"])
	}
	stepped := &session{cookie: r.cookie("bulwark_session"), csrf: r.str("csrf_token"), device: s1.device}
	if stepped.cookie == nil || stepped.cookie.Value == s1.cookie.Value || stepped.csrf == "" {
		t.Fatal("the confirmation did not re-establish the caller's session")
	}
	me := e.me(stepped, "")
	expectStatus(t, me, 200)
	authn, _ := me.JSON["authentication"].(map[string]any)
	user, _ := me.JSON["user"].(map[string]any)
	mfa, _ := user["mfa"].(map[string]any)
	if authn["level"] != "aal2" || mfa["totp"] != true {
		t.Fatalf("/v1/me after the step-up: %s", me.Body)
	}
	// Everything established with the password alone is gone.
	expectStatus(t, e.me(s1, ""), 401)
	expectStatus(t, e.me(s2, ""), 401)
	expectStatus(t, e.me(nil, pre.access), 401)
	expectStatus(t, e.refresh(pre.refresh), 401)

	// The password alone signs in nowhere, device token or not.
	for name, rq := range map[string]req{
		"cookie login":       {method: "POST", path: "/v1/session", body: map[string]string{"email": email, "password": strongPassword}},
		"token login":        {method: "POST", path: "/v1/token", body: map[string]string{"grant_type": "password", "email": email, "password": strongPassword}},
		"device cookie":      {method: "POST", path: "/v1/session", body: map[string]string{"email": email, "password": strongPassword}, cookies: []*http.Cookie{s1.device}},
		"device token":       {method: "POST", path: "/v1/token", body: map[string]string{"grant_type": "password", "email": email, "password": strongPassword}, headers: map[string]string{"X-Device-Token": pre.device}},
		"form token request": {method: "POST", path: "/v1/token", body: "grant_type=password&email=" + url.QueryEscape(email) + "&password=" + url.QueryEscape(strongPassword), ctype: "application/x-www-form-urlencoded"},
	} {
		r := e.do(rq)
		expectStatus(t, r, 200)
		if r.JSON["mfa_required"] != true || r.str("mfa_token") == "" || r.str("access_token") != "" || len(r.Header.Values("Set-Cookie")) != 0 {
			t.Fatalf("%s of a TOTP account: %s (Set-Cookie %v)", name, r.Body, r.Header.Values("Set-Cookie"))
		}
	}

	// The challenge answers as the login asked: cookie, then token.
	e.nextStep()
	r = e.post("/v1/session", map[string]string{"email": email, "password": strongPassword})
	tok := r.str("mfa_token")
	// A cookie challenge is cross-origin protected (login CSRF).
	cross := e.do(req{method: "POST", path: "/v1/mfa/challenge", body: map[string]string{"mfa_token": tok, "code": totpCode(t, secret, e.clock.Now())},
		headers: map[string]string{"Sec-Fetch-Site": "cross-site"}})
	expectStatus(t, cross, 403)
	// The cross-site attempt spent the step's code; use the next step.
	e.nextStep()
	r = e.post("/v1/session", map[string]string{"email": email, "password": strongPassword})
	tok = r.str("mfa_token")
	r = e.post("/v1/mfa/challenge", map[string]string{"mfa_token": tok, "code": wrong})
	expectStatus(t, r, 401)
	if r.code() != "invalid_code" {
		t.Fatalf("wrong code: %s", r.Body)
	}
	r = e.post("/v1/mfa/challenge", map[string]string{"mfa_token": tok, "code": totpCode(t, secret, e.clock.Now())})
	expectStatus(t, r, 200)
	if r.cookie("bulwark_session") == nil || r.str("csrf_token") == "" || r.cookie("bulwark_device") == nil {
		t.Fatalf("cookie challenge: %s", r.Body)
	}
	// The mfa_token is spent.
	expectStatus(t, e.post("/v1/mfa/challenge", map[string]string{"mfa_token": tok, "code": totpCode(t, secret, e.clock.Now())}), 401)

	r = e.post("/v1/token", map[string]string{"grant_type": "password", "email": email, "password": strongPassword})
	r = e.post("/v1/mfa/challenge", map[string]string{"mfa_token": r.str("mfa_token"), "recovery_code": codes[0].(string)})
	expectStatus(t, r, 200)
	if r.str("access_token") == "" || r.str("device_token") == "" || r.cookie("bulwark_session") != nil {
		t.Fatalf("token challenge: %s", r.Body)
	}
	bearer := r.str("access_token")
	me = e.me(nil, bearer)
	authn, _ = me.JSON["authentication"].(map[string]any)
	if methods, _ := authn["methods"].([]any); len(methods) != 2 || methods[1] != "recovery_code" {
		t.Fatalf("/v1/me after a recovery code: %s", me.Body)
	}
	// The sessions list says how each was established.
	list := e.do(req{method: "GET", path: "/v1/sessions", bearer: bearer})
	expectStatus(t, list, 200)
	levels := map[string]string{}
	for _, it := range list.JSON["sessions"].([]any) {
		m := it.(map[string]any)
		ms, _ := m["methods"].([]any)
		var names []string
		for _, x := range ms {
			names = append(names, x.(string))
		}
		levels[strings.Join(names, " ")] = m["level"].(string)
		if m["current"] == true && strings.Join(names, " ") != "password recovery_code" {
			t.Errorf("current session listed with methods %v", names)
		}
	}
	if levels["password totp"] != "aal2" || levels["password recovery_code"] != "aal2" {
		t.Errorf("sessions list methods and levels: %v", levels)
	}
	// A recovery code works once.
	r = e.post("/v1/token", map[string]string{"grant_type": "password", "email": email, "password": strongPassword})
	r = e.post("/v1/mfa/challenge", map[string]string{"mfa_token": r.str("mfa_token"), "recovery_code": codes[0].(string)})
	expectStatus(t, r, 401)

	// The owner was told of each step, by mails that carry no token.
	for _, tmpl := range []string{"mfa_enabled", "new_sign_in", "second_factor_failed", "recovery_code_used"} {
		if e.mailCount(email, tmpl) == 0 {
			t.Errorf("no %s mail", tmpl)
		}
	}
	mails, err := e.db.PendingMail(context.Background(), e.clock.Now().Add(24*time.Hour), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mails {
		for k, v := range m.Data {
			for _, secretValue := range []string{tok, bearer, secret, codes[1].(string), stepped.cookie.Value} {
				if strings.Contains(v, secretValue) {
					t.Errorf("%s mail field %s carries a secret", m.Template, k)
				}
			}
		}
	}

	// The TOTP secret is not readable at rest.
	if e.be.sqlitePath != "" {
		dir := filepath.Dir(e.be.sqlitePath)
		entries, _ := os.ReadDir(dir)
		for _, ent := range entries {
			b, _ := os.ReadFile(filepath.Join(dir, ent.Name()))
			if bytes.Contains(b, raw) || bytes.Contains(b, []byte(secret)) {
				t.Errorf("the TOTP secret is readable in %s", ent.Name())
			}
		}
	}
	if e.be.pgURL != "" && (e.be.pgContains(t, hex.EncodeToString(raw)) || e.be.pgContains(t, secret)) {
		t.Error("the TOTP secret is readable in a PostgreSQL row")
	}

	// Disable: the password is needed; then the password alone signs in.
	r = e.do(req{method: "DELETE", path: "/v1/mfa/totp", body: map[string]string{"password": "not the password at all!"}, bearer: bearer})
	expectStatus(t, r, 403)
	r = e.do(req{method: "DELETE", path: "/v1/mfa/totp", body: map[string]string{"password": strongPassword}, bearer: bearer})
	expectStatus(t, r, 204)
	expectStatus(t, e.me(stepped, ""), 401) // other sessions end
	expectStatus(t, e.me(nil, bearer), 200) // the caller's stays
	r = e.post("/v1/session", map[string]string{"email": email, "password": strongPassword})
	expectStatus(t, r, 200)
	if r.JSON["mfa_required"] != nil || r.cookie("bulwark_session") == nil {
		t.Fatalf("login after disabling TOTP: %s", r.Body)
	}
	if e.mailCount(email, "mfa_disabled") != 1 {
		t.Error("no mfa_disabled mail")
	}
}

// TestMFA_ReauthAndBearerStepUp: enrolment from an old session needs the
// password; a bearer caller's confirmation answers new tokens and its old
// refresh token is dead.
func TestMFA_ReauthAndBearerStepUp(t *testing.T) {
	e := newEnv(t)
	const email = "totp.bearer@example.com"
	e.signup(email)
	tk := e.tokenLogin(email, strongPassword)
	e.clock.Advance(6 * time.Minute)
	tk2 := e.refresh(tk.refresh) // still the same sign-in time
	expectStatus(t, tk2, 200)
	access := tk2.str("access_token")
	r := e.do(req{method: "POST", path: "/v1/mfa/totp/enroll", bearer: access})
	expectStatus(t, r, 401)
	if r.code() != "reauth_required" {
		t.Fatalf("enrol from an old sign-in: %s", r.Body)
	}
	r = e.do(req{method: "POST", path: "/v1/mfa/totp/enroll", bearer: access, body: map[string]string{"password": strongPassword}})
	expectStatus(t, r, 200)
	secret := r.str("secret")
	r = e.do(req{method: "POST", path: "/v1/mfa/totp/confirm", bearer: access, body: map[string]string{"code": totpCode(t, secret, e.clock.Now())}})
	expectStatus(t, r, 200)
	tokensJSON, _ := r.JSON["tokens"].(map[string]any)
	newAccess, _ := tokensJSON["access_token"].(string)
	newRefresh, _ := tokensJSON["refresh_token"].(string)
	if newAccess == "" || newRefresh == "" || r.cookie("bulwark_session") != nil {
		t.Fatalf("bearer confirmation: %s", r.Body)
	}
	expectStatus(t, e.me(nil, access), 401)
	expectStatus(t, e.refresh(tk2.str("refresh_token")), 401)
	expectStatus(t, e.me(nil, newAccess), 200)
	expectStatus(t, e.refresh(newRefresh), 200)
	// Enrolling again while on is a conflict.
	r = e.do(req{method: "POST", path: "/v1/mfa/totp/enroll", bearer: newAccess})
	expectStatus(t, r, 409)
	// New recovery codes need a fresh sign-in or the password.
	r = e.do(req{method: "POST", path: "/v1/mfa/recovery-codes", bearer: newAccess})
	expectStatus(t, r, 200)
	if c, _ := r.JSON["recovery_codes"].([]any); len(c) != 10 {
		t.Fatalf("recovery codes: %s", r.Body)
	}
}

// TestMFA_AdminSeesSecondFactors: the admin API's list and detail show which
// second factors a user has (never the factors themselves).
func TestMFA_AdminSeesSecondFactors(t *testing.T) {
	e := newEnv(t, withConfig(func(c *auth.Config) { c.LoginPerEmail = auth.Limit{N: 100, Per: time.Minute} }))
	admin, _ := adminToken(t, e, "root.mfa@example.com")
	const email = "admin.sees@example.com"
	e.signup(email)
	tk := e.tokenLogin(email, strongPassword)
	r := e.do(req{method: "POST", path: "/v1/mfa/totp/enroll", bearer: tk.access})
	expectStatus(t, r, 200)
	expectStatus(t, e.do(req{method: "POST", path: "/v1/mfa/totp/confirm", bearer: tk.access,
		body: map[string]string{"code": totpCode(t, r.str("secret"), e.clock.Now())}}), 200)
	id := userID(t, e, email)
	for _, path := range []string{"/v1/admin/users/" + id, "/v1/admin/users?q=admin.sees"} {
		r := e.do(req{method: "GET", path: path, bearer: admin})
		expectStatus(t, r, 200)
		if !bytes.Contains(r.Body, []byte(`"mfa":{"totp":true,"passkeys":0}`)) {
			t.Errorf("GET %s: %s", path, r.Body)
		}
	}
	// An admin's unlock clears the second factor's lockout too.
	login := func() *resp {
		return e.post("/v1/token", map[string]string{"grant_type": "password", "email": email, "password": strongPassword})
	}
	for range e.cfg.LockoutThreshold {
		r := e.post("/v1/mfa/challenge", map[string]string{"mfa_token": login().str("mfa_token"), "recovery_code": "aaaaa-aaaaa"})
		expectStatus(t, r, 401)
	}
	if r := login(); r.Status != 429 || r.code() != "account_locked" {
		t.Fatalf("after %d wrong codes: %d %s", e.cfg.LockoutThreshold, r.Status, r.Body)
	}
	detail := e.do(req{method: "GET", path: "/v1/admin/users/" + id, bearer: admin})
	expectStatus(t, detail, 200)
	mfaLock, _ := detail.JSON["user"].(map[string]any)["mfa_lockout"].(map[string]any)
	if mfaLock["failures"] != float64(e.cfg.LockoutThreshold) || mfaLock["locked_until"] == nil {
		t.Errorf("admin detail mfa_lockout = %v", mfaLock)
	}
	expectStatus(t, e.do(req{method: "POST", path: "/v1/admin/users/" + id + "/unlock", bearer: admin}), 200)
	if r := login(); r.Status != 200 || r.str("mfa_token") == "" {
		t.Fatalf("after the admin's unlock: %d %s", r.Status, r.Body)
	}
}
