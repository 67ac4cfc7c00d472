package httpapi

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// FuzzDecode: whatever the body, decode never panics, answers only with
// client error codes, and what it accepts holds only the named fields, each
// once, as valid UTF-8.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"email":"a@example.com","password":"x"}`,
		`{"email":"a","Email":"b"}`,
		`{"email":"a","email":"b"}`,
		`{"email":["a"]}`,
		`{"email":{"a":[1,{"b":null}]}}`,
		`{}{}`,
		"{\"email\":\"\xff\"}",
		`[`, `null`, `"x"`, ``,
	} {
		f.Add(seed, true)
		f.Add(seed, false)
	}
	f.Fuzz(func(t *testing.T, body string, form bool) {
		ct := "application/json"
		if form {
			ct = "application/x-www-form-urlencoded"
		}
		r := httptest.NewRequest("POST", "/v1/token", strings.NewReader(body))
		r.Header.Set("Content-Type", ct)
		out, err := decode(r, true, "email", "password")
		if err != nil {
			var e *auth.Error
			if !errors.As(err, &e) || (e.Code != auth.CodeInvalidRequest && e.Code != codePayloadTooLarge && e.Code != codeUnsupportedMediaType) {
				t.Fatalf("decode error %v is not a client error", err)
			}
			return
		}
		for k, v := range out {
			if k != "email" && k != "password" {
				t.Fatalf("accepted unknown field %q", k)
			}
			if !utf8.ValidString(v) {
				t.Fatalf("accepted invalid UTF-8 in %s", k)
			}
		}
	})
}
