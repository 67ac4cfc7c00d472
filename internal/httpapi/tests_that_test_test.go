package httpapi_test

import (
	"context"
	"database/sql"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// count runs a one-number query on the backend's database.
func (b *backend) count(query string, args ...any) (int, error) {
	var n int
	if b.sqlitePath != "" {
		db, err := sql.Open("sqlite", b.sqlitePath)
		if err != nil {
			return 0, err
		}
		defer db.Close()
		err = db.QueryRow(query, args...).Scan(&n)
		return n, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, b.pgURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	err = conn.QueryRow(ctx, query, args...).Scan(&n)
	return n, err
}

// servedRoutes returns the method and path of every route registered in
// routes.go, read from its source so that a new route is never missed.
func servedRoutes(t *testing.T) [][2]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "routes.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out [][2]string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || (sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc") {
			return true
		}
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok {
			t.Fatalf("route pattern is not a literal: %T", call.Args[0])
		}
		pattern, err := strconv.Unquote(lit.Value)
		if err != nil {
			t.Fatal(err)
		}
		method, path, ok := strings.Cut(pattern, " ")
		if !ok {
			t.Fatalf("route %q has no method: it would serve GET", pattern)
		}
		out = append(out, [2]string{method, path})
		return true
	})
	if len(out) < 10 {
		t.Fatalf("found only %d routes in routes.go", len(out))
	}
	return out
}

// checkGETsChangeNothing calls every served GET route with a cookie session
// and with a bearer token and checks that no account, session, refresh
// family, mail or deny-list entry appeared or went, and that both
// credentials still work (ASVS 3.5.3).
func checkGETsChangeNothing(t *testing.T, e *env) {
	e.signup("getstate@example.com")
	s := e.login("getstate@example.com", strongPassword)
	tok := e.tokenLogin("getstate@example.com", strongPassword)
	counts := func() map[string]int {
		m := map[string]int{}
		for _, q := range []string{
			`SELECT count(*) FROM users`,
			`SELECT count(*) FROM sessions`,
			`SELECT count(*) FROM refresh_families WHERE revoked_at IS NULL`,
			`SELECT count(*) FROM refresh_tokens`,
			`SELECT count(*) FROM mail_outbox`,
			`SELECT count(*) FROM one_time_tokens`,
		} {
			n, err := e.be.count(q)
			if err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			m[q] = n
		}
		return m
	}
	before := counts()
	gets := 0
	for _, r := range servedRoutes(t) {
		if r[0] != "GET" && r[0] != "HEAD" {
			continue
		}
		gets++
		path := strings.ReplaceAll(strings.ReplaceAll(r[1], "{id}", "x"), "{$}", "")
		e.do(req{method: "GET", path: path, cookies: []*http.Cookie{s.cookie}})
		e.do(req{method: "GET", path: path, bearer: tok.access})
		if after := counts(); !maps.Equal(before, after) {
			t.Errorf("GET %s changed state: %v -> %v", r[1], before, after)
			before = after
		}
		expectStatus(t, e.me(s, ""), 200)
		expectStatus(t, e.me(nil, tok.access), 200)
	}
	if gets == 0 {
		t.Fatal("routes.go serves no GET route")
	}
}
