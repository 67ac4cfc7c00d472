package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// adminEnv signs up an admin and returns their access token.
func adminToken(t *testing.T, e *env, email string) (token, id string) {
	t.Helper()
	e.signup(email)
	u, err := e.db.UserByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.(auth.AdminStore).SetAdmin(context.Background(), u.ID, true, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	return e.tokenLogin(email, strongPassword).access, u.ID
}

func userID(t *testing.T, e *env, email string) string {
	t.Helper()
	u, err := e.db.UserByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

func TestAdmin_RoleRequired(t *testing.T) {
	e := newEnv(t)
	e.signup("plain@example.com")
	tok := e.tokenLogin("plain@example.com", strongPassword).access
	id := userID(t, e, "plain@example.com")
	for _, r := range []req{
		{method: "GET", path: "/v1/admin/users"},
		{method: "GET", path: "/v1/admin/users/" + id},
		{method: "POST", path: "/v1/admin/users/" + id + "/disable"},
		{method: "DELETE", path: "/v1/admin/users/" + id},
	} {
		if got := e.do(r); got.Status != 401 {
			t.Errorf("%s %s without credentials: %d", r.method, r.path, got.Status)
		}
		r.bearer = tok
		if got := e.do(r); got.Status != 403 || got.code() != "forbidden" {
			t.Errorf("%s %s as a user without the role: %d %s", r.method, r.path, got.Status, got.Body)
		}
	}
	// Nothing happened to the account.
	expectStatus(t, e.do(req{method: "GET", path: "/v1/me", bearer: tok}), 200)
}

// TestAdmin_DisableEndsEverythingAtOnce: after an admin disables a user, the
// user's cookie session, access token and refresh token all stop working
// at the same instant, and so does signing in; enabling lets them sign in
// again, with nothing of the old sessions back.
func TestAdmin_DisableEndsEverythingAtOnce(t *testing.T) {
	e := newEnv(t)
	admin, adminID := adminToken(t, e, "root@example.com")
	e.signup("victim@example.com")
	s := e.login("victim@example.com", strongPassword)
	toks := e.tokenLogin("victim@example.com", strongPassword)
	id := userID(t, e, "victim@example.com")

	r := e.do(req{method: "POST", path: "/v1/admin/users/" + id + "/disable", bearer: admin})
	expectStatus(t, r, 200)
	if r.str("status") != "disabled" {
		t.Fatalf("disable answered %s", r.Body)
	}
	expectStatus(t, e.do(req{method: "GET", path: "/v1/me", cookies: []*http.Cookie{s.cookie}}), 401)
	expectStatus(t, e.do(req{method: "GET", path: "/v1/me", bearer: toks.access}), 401)
	expectStatus(t, e.refresh(toks.refresh), 401)
	expectStatus(t, e.post("/v1/session", map[string]string{"email": "victim@example.com", "password": strongPassword}), 401)

	ev := e.auditEvents("admin_action")
	if len(ev) != 1 || ev[0]["user_id"] != adminID || ev[0]["target_user_id"] != id || ev[0]["action"] != "disable" {
		t.Fatalf("admin_action events %v", ev)
	}

	expectStatus(t, e.do(req{method: "POST", path: "/v1/admin/users/" + id + "/enable", bearer: admin}), 200)
	expectStatus(t, e.do(req{method: "GET", path: "/v1/me", cookies: []*http.Cookie{s.cookie}}), 401)
	expectStatus(t, e.do(req{method: "GET", path: "/v1/me", bearer: toks.access}), 401)
	e.clock.Advance(time.Second) // the epoch has whole-second tokens behind it
	fresh := e.tokenLogin("victim@example.com", strongPassword)
	expectStatus(t, e.do(req{method: "GET", path: "/v1/me", bearer: fresh.access}), 200)
}

func TestAdmin_ListSearchAndPaginate(t *testing.T) {
	e := newEnv(t)
	admin, _ := adminToken(t, e, "root@example.com")
	for i := range 5 {
		e.signup(fmt.Sprintf("page%d@example.com", i))
	}
	var seen []string
	cursor := ""
	for range 4 {
		path := "/v1/admin/users?query=PAGE&limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r := e.do(req{method: "GET", path: path, bearer: admin})
		expectStatus(t, r, 200)
		for _, u := range r.JSON["users"].([]any) {
			seen = append(seen, u.(map[string]any)["email"].(string))
		}
		next, _ := r.JSON["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	if fmt.Sprint(seen) != "[page0@example.com page1@example.com page2@example.com page3@example.com page4@example.com]" {
		t.Fatalf("pages gave %v", seen)
	}
	for _, bad := range []string{"limit=0", "limit=201", "limit=x", "cursor=***", "cursor=" + "!!"} {
		r := e.do(req{method: "GET", path: "/v1/admin/users?" + bad, bearer: admin})
		if r.Status != 400 || r.code() != "invalid_request" {
			t.Errorf("%s: %d %s", bad, r.Status, r.Body)
		}
	}
}

func TestAdmin_UserDetailUnlockRevokeDelete(t *testing.T) {
	e := newEnv(t, trusted())
	admin, adminID := adminToken(t, e, "root@example.com")
	e.signup("locked@example.com")
	id := userID(t, e, "locked@example.com")
	failTimes(t, e, "locked@example.com", 10)
	expectStatus(t, loginFrom(e, "192.0.2.250", "locked@example.com", strongPassword), 429)
	toks := e.tokenLogin("root@example.com", strongPassword) // another session of the admin

	r := e.do(req{method: "GET", path: "/v1/admin/users/" + id, bearer: admin})
	expectStatus(t, r, 200)
	u := r.JSON["user"].(map[string]any)
	lock := u["lockout"].(map[string]any)
	if u["email"] != "locked@example.com" || u["admin"] != false || lock["failures"] != float64(10) || lock["locked_until"] == nil {
		t.Fatalf("detail %s", r.Body)
	}
	expectStatus(t, e.do(req{method: "POST", path: "/v1/admin/users/" + id + "/unlock", bearer: admin}), 200)
	expectStatus(t, loginFrom(e, "192.0.2.251", "locked@example.com", strongPassword), 200)

	// An admin cannot disable or delete themselves.
	for _, path := range []string{"/v1/admin/users/" + adminID + "/disable"} {
		if r := e.do(req{method: "POST", path: path, bearer: admin}); r.Status != 400 {
			t.Fatalf("self-disable: %d %s", r.Status, r.Body)
		}
	}
	if r := e.do(req{method: "DELETE", path: "/v1/admin/users/" + adminID, bearer: admin}); r.Status != 400 {
		t.Fatalf("self-delete: %d %s", r.Status, r.Body)
	}

	victim := e.tokenLogin("locked@example.com", strongPassword)
	expectStatus(t, e.do(req{method: "POST", path: "/v1/admin/users/" + id + "/revoke-sessions", bearer: admin}), 200)
	expectStatus(t, e.do(req{method: "GET", path: "/v1/me", bearer: victim.access}), 401)
	expectStatus(t, e.refresh(victim.refresh), 401)

	expectStatus(t, e.do(req{method: "DELETE", path: "/v1/admin/users/" + id, bearer: admin}), 200)
	expectStatus(t, e.do(req{method: "GET", path: "/v1/admin/users/" + id, bearer: admin}), 404)
	expectStatus(t, e.do(req{method: "POST", path: "/v1/admin/users/usr_nobody/disable", bearer: admin}), 404)
	expectStatus(t, e.do(req{method: "GET", path: "/v1/me", bearer: toks.access}), 200)
	var actions []any
	for _, ev := range e.auditEvents("admin_action") {
		actions = append(actions, ev["action"])
	}
	if fmt.Sprint(actions) != "[unlock revoke_sessions delete]" {
		t.Fatalf("admin actions audited: %v", actions)
	}
}

// TestAdmin_CookieSessionNeedsCSRF: an admin signed in with a cookie uses
// the API with the CSRF token on state changes, as every cookie request.
func TestAdmin_CookieSessionNeedsCSRF(t *testing.T) {
	e := newEnv(t)
	adminToken(t, e, "root@example.com")
	s := e.login("root@example.com", strongPassword)
	e.signup("target@example.com")
	id := userID(t, e, "target@example.com")
	expectStatus(t, e.do(req{method: "GET", path: "/v1/admin/users", cookies: []*http.Cookie{s.cookie}}), 200)
	r := e.do(req{method: "POST", path: "/v1/admin/users/" + id + "/disable", cookies: []*http.Cookie{s.cookie}})
	if r.Status != 403 || r.code() != "csrf_failed" {
		t.Fatalf("cookie disable without CSRF token: %d %s", r.Status, r.Body)
	}
	expectStatus(t, e.do(req{method: "POST", path: "/v1/admin/users/" + id + "/disable", cookies: []*http.Cookie{s.cookie},
		headers: map[string]string{"X-CSRF-Token": s.csrf, "Sec-Fetch-Site": "same-origin"}}), 200)
}
