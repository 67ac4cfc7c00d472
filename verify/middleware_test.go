package verify

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestMiddleware(t *testing.T) {
	f := newFixture(t)
	var got *Claims
	h := f.v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := ClaimsFrom(r.Context())
		if !ok {
			t.Error("no claims in the context")
		}
		got = c
		w.WriteHeader(http.StatusNoContent)
	}))
	tok := f.token(nil)
	for name, c := range map[string]struct {
		headers   []string
		status    int
		challenge string
	}{
		"valid":              {[]string{"Bearer " + tok}, http.StatusNoContent, ""},
		"lowercase scheme":   {[]string{"bearer " + tok}, http.StatusNoContent, ""},
		"no header":          {nil, http.StatusUnauthorized, `Bearer`},
		"basic scheme":       {[]string{"Basic dXNlcjpwYXNz"}, http.StatusUnauthorized, `Bearer error="invalid_token"`},
		"empty bearer":       {[]string{"Bearer "}, http.StatusUnauthorized, `Bearer error="invalid_token"`},
		"two spaces":         {[]string{"Bearer  " + tok}, http.StatusUnauthorized, `Bearer error="invalid_token"`},
		"invalid token":      {[]string{"Bearer " + tok + "x"}, http.StatusUnauthorized, `Bearer error="invalid_token"`},
		"two headers":        {[]string{"Bearer " + tok, "Bearer " + tok}, http.StatusUnauthorized, `Bearer error="invalid_token"`},
		"token without type": {[]string{tok}, http.StatusUnauthorized, `Bearer error="invalid_token"`},
	} {
		t.Run(name, func(t *testing.T) {
			got = nil
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, v := range c.headers {
				r.Header.Add("Authorization", v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != c.status {
				t.Fatalf("status = %d, want %d", w.Code, c.status)
			}
			if c.status == http.StatusNoContent {
				if got == nil || got.Subject != "user-1" {
					t.Fatalf("claims = %+v", got)
				}
				return
			}
			if got != nil {
				t.Fatal("the handler ran")
			}
			if ch := w.Header().Get("WWW-Authenticate"); ch != c.challenge {
				t.Fatalf("WWW-Authenticate = %q, want %q", ch, c.challenge)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("Content-Type = %q", ct)
			}
			if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
				t.Fatalf("Cache-Control = %q", cc)
			}
			var p struct {
				Status int    `json:"status"`
				Code   string `json:"code"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Status != c.status || p.Code == "" {
				t.Fatalf("body %s: %v", w.Body, err)
			}
		})
	}
}

func TestClaimsFromEmptyContext(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if c, ok := ClaimsFrom(r.Context()); ok || c != nil {
		t.Fatalf("ClaimsFrom = %v, %v", c, ok)
	}
	c := &Claims{Subject: "u"}
	if got, ok := ClaimsFrom(WithClaims(r.Context(), c)); !ok || got != c {
		t.Fatalf("ClaimsFrom(WithClaims) = %v, %v", got, ok)
	}
}
