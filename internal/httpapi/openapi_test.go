package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/httpapi"
)

var registerDecoders sync.Once

// loadOpenAPI loads and validates the embedded document. kin-openapi
// v0.153.0 reads OpenAPI 3.1 as it is (JSON Schema 2020-12 for schemas),
// so the document is checked with no rewriting.
func loadOpenAPI(t testing.TB) *openapi3.T {
	t.Helper()
	registerDecoders.Do(func() {
		// The browsers' CSP report types are JSON.
		openapi3filter.RegisterBodyDecoder("application/csp-report", openapi3filter.JSONBodyDecoder)
		openapi3filter.RegisterBodyDecoder("application/reports+json", openapi3filter.JSONBodyDecoder)
	})
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(httpapi.OpenAPIDocument())
	if err != nil {
		t.Fatalf("openapi.json does not load: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI document: %v", err)
	}
	return doc
}

// documentedRoutes returns "METHOD /path" for every operation of doc, in
// the ServeMux pattern syntax (both use {name} for a path segment).
func documentedRoutes(doc *openapi3.T) []string {
	var out []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			out = append(out, method+" "+path)
		}
	}
	sort.Strings(out)
	return out
}

func recordedRoutes(t testing.TB) []string {
	e := newEnv(t)
	routes := e.srv.Config.Handler.(*httpapi.Server).Routes()
	if len(routes) == 0 {
		t.Fatal("Routes() is empty")
	}
	routes = slices.Clone(routes)
	sort.Strings(routes)
	return routes
}

// TestOpenAPIDescribesEveryRoute fails when routes.go serves a route that
// openapi.json does not describe, or openapi.json describes one that is not
// served.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	doc := loadOpenAPI(t)
	served := recordedRoutes(t)
	documented := documentedRoutes(doc)
	for _, r := range served {
		if !slices.Contains(documented, r) {
			t.Errorf("%s is served but not in openapi.json", r)
		}
	}
	for _, r := range documented {
		if !slices.Contains(served, r) {
			t.Errorf("%s is in openapi.json but not served", r)
		}
	}
	for _, name := range []string{"bearer", "session", "csrf"} {
		if doc.Components.SecuritySchemes[name] == nil {
			t.Errorf("security scheme %q missing", name)
		}
	}
}

// TestRoutesAreAllRecorded fails when a route is registered on the public
// mux without going through the recorder of routes.go (and so would escape
// TestOpenAPIDescribesEveryRoute): every Handle/HandleFunc pattern in the
// package's source, the admin listener's aside, must be in Routes().
func TestRoutesAreAllRecorded(t *testing.T) {
	served := recordedRoutes(t)
	re := regexp.MustCompile(`\.Handle(?:Func)?\("([A-Z]+ [^"]+)"`)
	files, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		name := f.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") || name == "admin.go" {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			n++
			if !slices.Contains(served, m[1]) {
				t.Errorf("%s: %s is registered but not recorded by routes()", name, m[1])
			}
		}
	}
	if n != len(served) {
		t.Errorf("found %d patterns in the source, Routes() has %d", n, len(served))
	}
}

// TestDocsDescribeEveryRoute fails when a served route, an error code or a
// security header is missing from docs/api.md.
func TestDocsDescribeEveryRoute(t *testing.T) {
	raw, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	api := string(raw)
	for _, r := range recordedRoutes(t) {
		if !strings.Contains(api, "`"+r+"`") {
			t.Errorf("docs/api.md does not describe `%s`", r)
		}
	}
	doc := loadOpenAPI(t)
	for _, c := range doc.Components.Schemas["Problem"].Value.Properties["code"].Value.Enum {
		if !strings.Contains(api, "`"+c.(string)+"`") {
			t.Errorf("docs/api.md does not list the error code `%s`", c)
		}
	}
	// Production mode, so that HSTS is among the headers.
	e := newEnv(t, withOptions(func(o *httpapi.Options) { o.Dev = false }))
	r := e.do(req{method: "GET", path: "/healthz"})
	if r.Header.Get("Strict-Transport-Security") == "" {
		t.Error("no Strict-Transport-Security in production mode")
	}
	for name := range r.Header {
		switch name {
		case "Date", "Content-Length", "Content-Type":
			continue
		}
		if !strings.Contains(api, "`"+name+"`") {
			t.Errorf("docs/api.md does not name the header `%s`", name)
		}
	}
}

// openAPIValidator is a RoundTripper that checks every answer of the test
// server against openapi.json: the status must be documented for the
// operation, and the headers and body must match its schemas. A request
// answered with 2xx must itself match the request schema. Answers to
// paths or methods that no operation has (404, 405) must be problem
// documents.
type openAPIValidator struct {
	t    testing.TB
	doc  *openapi3.T
	base http.RoundTripper

	mu      sync.Mutex
	seen    map[string]bool // "POST /v1/session OK"
	checked int             // answers validated
}

// validateAgainstOpenAPI makes e's client validate every answer; newEnv
// calls it for every test. It returns the validator already installed when
// called again.
func validateAgainstOpenAPI(t testing.TB, e *env) *openAPIValidator {
	c := e.srv.Client()
	if v, ok := c.Transport.(*openAPIValidator); ok {
		return v
	}
	v := &openAPIValidator{t: t, doc: loadOpenAPI(t), base: c.Transport, seen: map[string]bool{}}
	c.Transport = v
	t.Cleanup(func() { c.Transport = v.base })
	return v
}

func (v *openAPIValidator) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		var err error
		if reqBody, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	res, err := v.base.RoundTrip(req)
	if err != nil {
		return res, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	res.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return res, err
	}
	v.check(req, reqBody, res, body)
	return res, nil
}

// route finds the operation of the request by its path template.
func (v *openAPIValidator) route(method, path string) (*routers.Route, map[string]string) {
	for tmpl, item := range v.doc.Paths.Map() {
		params, ok := matchTemplate(tmpl, path)
		if !ok {
			continue
		}
		op := item.GetOperation(method)
		if op == nil {
			return nil, nil
		}
		return &routers.Route{Spec: v.doc, Path: tmpl, PathItem: item, Method: method, Operation: op}, params
	}
	return nil, nil
}

func matchTemplate(tmpl, path string) (map[string]string, bool) {
	ts, ps := strings.Split(tmpl, "/"), strings.Split(path, "/")
	if len(ts) != len(ps) {
		return nil, false
	}
	params := map[string]string{}
	for i := range ts {
		if strings.HasPrefix(ts[i], "{") && strings.HasSuffix(ts[i], "}") && ps[i] != "" {
			params[ts[i][1:len(ts[i])-1]] = ps[i]
			continue
		}
		if ts[i] != ps[i] {
			return nil, false
		}
	}
	return params, true
}

func (v *openAPIValidator) check(req *http.Request, reqBody []byte, res *http.Response, body []byte) {
	t := v.t
	t.Helper()
	route, params := v.route(req.Method, req.URL.Path)
	if res.Header.Get("X-Request-Id") == "" {
		t.Errorf("%s %s: no X-Request-Id", req.Method, req.URL.Path)
	}
	if req.Method == http.MethodOptions && req.Header.Get("Origin") != "" && req.Header.Get("Access-Control-Request-Method") != "" {
		// A CORS preflight, answered before routing on every path
		// (docs/api.md, "CSRF and cross-origin requests").
		if res.StatusCode != http.StatusNoContent || len(body) != 0 {
			t.Errorf("preflight %s: %d %q, want 204 and no body", req.URL.Path, res.StatusCode, body)
		}
		v.record("OPTIONS "+req.URL.Path, res.StatusCode)
		return
	}
	if route == nil {
		// No operation: the mux's own 404 or 405, rewritten as a problem.
		if res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: %d from a route openapi.json does not describe", req.Method, req.URL.Path, res.StatusCode)
			return
		}
		var p any
		if err := json.Unmarshal(body, &p); err != nil || res.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %s: %d is not a problem document: %q", req.Method, req.URL.Path, res.StatusCode, body)
			return
		}
		if err := v.doc.Components.Schemas["Problem"].Value.VisitJSON(p, openapi3.EnableJSONSchema2020()); err != nil {
			t.Errorf("%s %s: %d does not match Problem: %v", req.Method, req.URL.Path, res.StatusCode, err)
		}
		v.record(req.Method+" "+req.URL.Path, res.StatusCode)
		return
	}
	clone := req.Clone(context.Background())
	clone.Body = io.NopCloser(bytes.NewReader(reqBody))
	in := &openapi3filter.RequestValidationInput{
		Request: clone, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	}
	if res.StatusCode < 300 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Errorf("%s %s answered %d, but the request does not match openapi.json: %v", req.Method, req.URL.Path, res.StatusCode, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: res.StatusCode, Header: res.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("%s %s: %d does not match openapi.json: %v\nbody: %s", req.Method, req.URL.Path, res.StatusCode, err, body)
	}
	v.record(req.Method+" "+route.Path, res.StatusCode)
}

func (v *openAPIValidator) record(route string, status int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.seen[route+" "+http.StatusText(status)] = true
	v.checked++
}

// requireSeen fails unless each "METHOD /path Status Text" was validated.
func (v *openAPIValidator) requireSeen(want ...string) {
	v.t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, w := range want {
		if !v.seen[w] {
			v.t.Errorf("no answer validated for %s", w)
		}
	}
	v.t.Logf("%d answers validated against openapi.json: %d route and status pairs", v.checked, len(v.seen))
}

// TestOpenAPIResponsesMatch drives the checklist's flows through a client
// whose every answer is validated against openapi.json.
func TestOpenAPIResponsesMatch(t *testing.T) {
	e := newEnv(t)
	v := validateAgainstOpenAPI(t, e)

	// Accounts.
	const addr = "ada@example.com"
	e.signup(addr)
	expectStatus(t, e.post("/v1/email/verify/resend", map[string]string{"email": "nobody@example.com"}), 202)
	expectStatus(t, e.post("/v1/email/verify", map[string]string{"token": "no-such-token"}), 401)
	r := e.post("/v1/signup", map[string]string{"email": "weak@example.com", "password": "password"})
	expectStatus(t, r, 400)
	if r.str("reason") == "" {
		t.Errorf("weak_password without a reason: %s", r.Body)
	}

	// Cookie session.
	s := e.login(addr, strongPassword)
	expectStatus(t, e.me(s, ""), 200)
	expectStatus(t, e.do(req{method: "GET", path: "/v1/session/csrf", cookies: []*http.Cookie{s.cookie}}), 200)
	expectStatus(t, e.do(req{method: "GET", path: "/v1/sessions", cookies: []*http.Cookie{s.cookie}}), 200)
	expectStatus(t, e.do(req{method: "DELETE", path: "/v1/session", cookies: []*http.Cookie{s.cookie}}), 403)

	// Tokens, in JSON and as a form.
	tk := e.tokenLogin(addr, strongPassword)
	expectStatus(t, e.me(nil, tk.access), 200)
	expectStatus(t, e.me(s, tk.access), 400)
	expectStatus(t, e.do(req{method: "GET", path: "/v1/session/csrf", bearer: tk.access}), 400)
	expectStatus(t, e.do(req{method: "POST", path: "/v1/token", ctype: "application/x-www-form-urlencoded",
		body: "grant_type=password&email=ada%40example.com&password=correct+horse+battery+staple"}), 200)
	r = e.refresh(tk.refresh)
	expectStatus(t, r, 200)
	tk.access, tk.refresh = r.str("access_token"), r.str("refresh_token")
	expectStatus(t, e.refresh("not-a-refresh-token"), 401)

	// Sessions: end another one, then an unknown one, then all others.
	r = e.do(req{method: "GET", path: "/v1/sessions", bearer: tk.access})
	expectStatus(t, r, 200)
	var other string
	for _, x := range r.JSON["sessions"].([]any) {
		if m := x.(map[string]any); m["current"] == false {
			other = m["id"].(string)
		}
	}
	if other == "" {
		t.Fatalf("no other session in %s", r.Body)
	}
	expectStatus(t, e.do(req{method: "DELETE", path: "/v1/sessions/" + other, bearer: tk.access}), 204)
	expectStatus(t, e.do(req{method: "DELETE", path: "/v1/sessions/no-such-session", bearer: tk.access}), 404)
	expectStatus(t, e.do(req{method: "DELETE", path: "/v1/sessions", bearer: tk.access}), 204)
	expectStatus(t, e.me(s, ""), 401)

	// Logout, revocation, password change (which ends the bearer's access
	// token too: it carries the credential version).
	e.clock.Advance(time.Minute) // out of the per-email login limit's interval
	tk2 := e.tokenLogin(addr, strongPassword)
	expectStatus(t, e.do(req{method: "POST", path: "/v1/logout", bearer: tk2.access}), 204)
	expectStatus(t, e.post("/v1/token/revoke", map[string]string{"token": tk2.refresh}), 200)
	expectStatus(t, e.me(nil, tk2.access), 401)
	expectStatus(t, e.do(req{method: "POST", path: "/v1/password/change", bearer: tk.access,
		body: map[string]string{"current_password": "not the password at all", "new_password": "another long passphrase"}}), 403)
	expectStatus(t, e.do(req{method: "POST", path: "/v1/password/change", bearer: tk.access,
		body: map[string]string{"current_password": strongPassword, "new_password": "another long passphrase"}}), 200)
	expectStatus(t, e.me(nil, tk.access), 401)

	// Password reset.
	expectStatus(t, e.post("/v1/password/forgot", map[string]string{"email": addr}), 202)
	tok := e.mailToken(addr, "password_reset")
	expectStatus(t, e.post("/v1/password/reset", map[string]string{"token": tok, "new_password": "a whole new passphrase here"}), 200)
	expectStatus(t, e.post("/v1/password/reset", map[string]string{"token": tok, "new_password": "a whole new passphrase here"}), 401)

	// Cookie logout.
	e.clock.Advance(time.Minute)
	s = e.login(addr, "a whole new passphrase here")
	expectStatus(t, e.do(req{method: "DELETE", path: "/v1/session", cookies: []*http.Cookie{s.cookie},
		headers: map[string]string{"X-CSRF-Token": s.csrf}}), 204)

	// The error conventions.
	expectStatus(t, e.post("/v1/session", `{"email":`), 400)
	expectStatus(t, e.post("/v1/session", map[string]string{"email": addr, "password": "wrong password, long enough"}), 401)
	expectStatus(t, e.do(req{method: "GET", path: "/v1/me"}), 401)
	expectStatus(t, e.do(req{method: "GET", path: "/v1/nothing-here"}), 404)
	expectStatus(t, e.do(req{method: "GET", path: "/v1/signup"}), 405)
	expectStatus(t, e.post("/v1/signup", `{"email":"`+strings.Repeat("a", 70<<10)+`"}`), 413)
	expectStatus(t, e.do(req{method: "POST", path: "/v1/signup", body: "email=a", ctype: "text/plain"}), 415)
	for i := 0; i < 5; i++ {
		e.post("/v1/session", map[string]string{"email": "limited@example.com", "password": "wrong password, long enough"})
	}
	expectStatus(t, e.post("/v1/session", map[string]string{"email": "limited@example.com", "password": "wrong password, long enough"}), 429)

	// Refusals that need some set-up: an unverified address, a cross-site
	// cookie login, a body on a GET, a reused refresh token, a lockout.
	expectStatus(t, e.post("/v1/signup", map[string]string{"email": "unverified@example.com", "password": strongPassword}), 202)
	expectStatus(t, e.post("/v1/session", map[string]string{"email": "unverified@example.com", "password": strongPassword}), 403)
	expectStatus(t, e.do(req{method: "POST", path: "/v1/session", headers: map[string]string{"Sec-Fetch-Site": "cross-site"},
		body: map[string]string{"email": addr, "password": "a whole new passphrase here"}}), 403)
	expectStatus(t, e.do(req{method: "GET", path: "/v1/me", body: "x", ctype: "text/plain"}), 415)
	e.clock.Advance(time.Minute)
	tk = e.tokenLogin(addr, "a whole new passphrase here")
	expectStatus(t, e.refresh(tk.refresh), 200)
	e.clock.Advance(time.Minute) // past the grace window
	r = e.refresh(tk.refresh)
	expectStatus(t, r, 401)
	if r.code() != "refresh_token_reused" {
		t.Errorf("code = %q, want refresh_token_reused", r.code())
	}
	for i := 0; i < 10; i++ {
		if i%5 == 0 {
			e.clock.Advance(time.Minute) // out of the per-email limit's interval
		}
		expectStatus(t, e.post("/v1/session", map[string]string{"email": "locked@example.com", "password": "wrong password, long enough"}), 401)
	}
	e.clock.Advance(time.Minute)
	r = e.post("/v1/token", map[string]string{"grant_type": "password", "email": "locked@example.com", "password": "wrong password, long enough"})
	expectStatus(t, r, 429)
	if r.code() != "account_locked" {
		t.Errorf("code = %q, want account_locked", r.code())
	}

	// Discovery and operations.
	for _, p := range []string{"/healthz", "/readyz", "/.well-known/jwks.json", "/.well-known/openid-configuration", "/v1/openapi.json"} {
		expectStatus(t, e.do(req{method: "GET", path: p}), 200)
	}
	expectStatus(t, e.do(req{method: "POST", path: "/v1/csp-report", ctype: "application/csp-report", body: `{"csp-report":{}}`}), 204)

	v.requireSeen(
		"POST /v1/signup Accepted", "POST /v1/signup Bad Request", "POST /v1/signup Request Entity Too Large",
		"POST /v1/signup Unsupported Media Type", "GET /v1/signup Method Not Allowed", "GET /v1/nothing-here Not Found",
		"POST /v1/email/verify OK", "POST /v1/email/verify Unauthorized", "POST /v1/email/verify/resend Accepted",
		"POST /v1/session OK", "POST /v1/session Bad Request", "POST /v1/session Forbidden", "GET /v1/me Unsupported Media Type",
		"POST /v1/token Too Many Requests", "POST /v1/session Unauthorized", "POST /v1/session Too Many Requests",
		"GET /v1/me OK", "GET /v1/me Unauthorized", "GET /v1/me Bad Request",
		"GET /v1/session/csrf OK", "GET /v1/session/csrf Bad Request",
		"GET /v1/sessions OK", "DELETE /v1/sessions/{id} No Content", "DELETE /v1/sessions/{id} Not Found", "DELETE /v1/sessions No Content",
		"DELETE /v1/session Forbidden", "DELETE /v1/session No Content",
		"POST /v1/token OK", "POST /v1/token Unauthorized", "POST /v1/token/revoke OK", "POST /v1/logout No Content",
		"POST /v1/password/change OK", "POST /v1/password/change Forbidden",
		"POST /v1/password/forgot Accepted", "POST /v1/password/reset OK", "POST /v1/password/reset Unauthorized",
		"GET /healthz OK", "GET /readyz OK", "GET /.well-known/jwks.json OK", "GET /.well-known/openid-configuration OK",
		"GET /v1/openapi.json OK", "POST /v1/csp-report No Content",
	)
}

// TestOpenAPIResponsesMatchWithoutVerification covers what only a server
// without email verification answers: 201 and 409 from signup, 503 from
// readyz.
func TestOpenAPIResponsesMatchWithoutVerification(t *testing.T) {
	e := newEnv(t, withConfig(func(c *auth.Config) { c.RequireVerification = false }),
		withOptions(func(o *httpapi.Options) {
			o.Ready = func(context.Context) []string { return []string{"database"} }
		}))
	v := validateAgainstOpenAPI(t, e)
	body := map[string]string{"email": "bob@example.com", "password": strongPassword}
	expectStatus(t, e.post("/v1/signup", body), 201)
	expectStatus(t, e.post("/v1/signup", body), 409)
	expectStatus(t, e.do(req{method: "GET", path: "/readyz"}), 503)
	v.requireSeen("POST /v1/signup Created", "POST /v1/signup Conflict", "GET /readyz Service Unavailable")
}

// TestOpenAPIValidatorCatchesDrift proves the validator is not blind: an
// answer that leaves the documented shape fails it.
func TestOpenAPIValidatorCatchesDrift(t *testing.T) {
	doc := loadOpenAPI(t)
	v := &openAPIValidator{doc: doc, seen: map[string]bool{}}
	for name, tc := range map[string]struct {
		method, path string
		status       int
		ctype, body  string
	}{
		"extra member":        {"GET", "/healthz", 200, "application/json", `{"status":"ok","debug":"x"}`},
		"wrong value":         {"GET", "/healthz", 200, "application/json", `{"status":"fine"}`},
		"undocumented status": {"GET", "/healthz", 418, "application/json", `{"status":"ok"}`},
		"unknown error code":  {"POST", "/v1/signup", 400, "application/problem+json", `{"type":"about:blank","title":"Bad Request","status":400,"code":"oops","detail":"x","request_id":"r"}`},
		"problem not JSON":    {"GET", "/nowhere", 404, "text/plain", `404 page not found`},
	} {
		t.Run(name, func(t *testing.T) {
			rec := &recordingT{TB: t}
			v.t = rec
			req, _ := http.NewRequest(tc.method, "http://127.0.0.1"+tc.path, nil)
			res := &http.Response{StatusCode: tc.status, Header: http.Header{"Content-Type": {tc.ctype}, "X-Request-Id": {"r"}}}
			v.check(req, nil, res, []byte(tc.body))
			if !rec.failed {
				t.Errorf("the validator accepted %s", tc.body)
			}
		})
	}
}

// recordingT records Errorf instead of failing the test.
type recordingT struct {
	testing.TB
	failed bool
}

func (r *recordingT) Errorf(string, ...any) { r.failed = true }
func (r *recordingT) Helper()               {}

// TestOpenAPIServedWithSecurityHeaders: GET /v1/openapi.json answers the
// file in the repository, cacheable, with every other security header.
func TestOpenAPIServedWithSecurityHeaders(t *testing.T) {
	e := newEnv(t)
	r := e.do(req{method: "GET", path: "/v1/openapi.json"})
	expectStatus(t, r, 200)
	file, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.Body, file) {
		t.Error("the served document is not openapi.json")
	}
	for h, want := range map[string]string{
		"Content-Type":            "application/json",
		"Cache-Control":           "public, max-age=300",
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
	} {
		if got := r.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
}

// TestOpenAPIListsEveryErrorCode fails when an error code (a Code…
// constant of internal/auth or of this package) is missing from the code
// enum of the Problem schema, and so from docs/api.md, which
// TestDocsDescribeEveryRoute checks against that enum.
func TestOpenAPIListsEveryErrorCode(t *testing.T) {
	doc := loadOpenAPI(t)
	enum := doc.Components.Schemas["Problem"].Value.Properties["code"].Value.Enum
	re := regexp.MustCompile(`(?m)^\s+[cC]ode[A-Za-z]+\s+= "([a-z_]+)"`)
	n := 0
	for _, file := range []string{"../auth/auth.go", "errors.go"} {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			n++
			if !slices.Contains(enum, any(m[1])) {
				t.Errorf("%s: error code %q is not in the Problem schema's code enum", file, m[1])
			}
		}
	}
	if n < 15 {
		t.Fatalf("found only %d error codes: the pattern is stale", n)
	}
	if len(enum) != n {
		t.Errorf("the code enum has %d entries, the source %d codes", len(enum), n)
	}
}
