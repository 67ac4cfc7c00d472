package httpapi

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// decode refuses what it would otherwise silently misread: a \u escape of a
// lone UTF-16 surrogate (encoding/json makes it U+FFFD) and a charset other
// than UTF-8 (the body would be parsed as UTF-8 anyway).
func TestDecode_RefusesLoneSurrogatesAndOtherCharsets(t *testing.T) {
	for _, c := range []struct {
		name, ct, body string
		code           string // "" means accepted
		want           string // the password decode returns when accepted
	}{
		{"lone high surrogate", "application/json", `{"password":"ab\ud800cd"}`, auth.CodeInvalidRequest, ""},
		{"lone high surrogate at end", "application/json", `{"password":"\uD800"}`, auth.CodeInvalidRequest, ""},
		{"lone low surrogate", "application/json", `{"password":"\udc00"}`, auth.CodeInvalidRequest, ""},
		{"high then non-surrogate escape", "application/json", `{"password":"\ud800\u0041"}`, auth.CodeInvalidRequest, ""},
		{"reversed pair", "application/json", `{"password":"\udc00\ud800"}`, auth.CodeInvalidRequest, ""},
		{"surrogate in an unknown field name", "application/json", `{"password":"x","\ud800":"y"}`, auth.CodeInvalidRequest, ""},
		{"valid pair", "application/json", `{"password":"\ud83d\ude00"}`, "", "\U0001F600"},
		{"escaped backslash then u", "application/json", `{"password":"\\ud800"}`, "", `\ud800`},
		{"literal U+FFFD", "application/json", `{"password":"\ufffd"}`, "", "\uFFFD"},
		{"charset utf-16", "application/json; charset=utf-16", `{"password":"x"}`, codeUnsupportedMediaType, ""},
		{"charset latin1", "application/json; charset=ISO-8859-1", `{"password":"x"}`, codeUnsupportedMediaType, ""},
		{"form charset utf-16", "application/x-www-form-urlencoded; charset=utf-16", `password=x`, codeUnsupportedMediaType, ""},
		{"charset UTF-8", "application/json; charset=UTF-8", `{"password":"x"}`, "", "x"},
		{"charset utf-8", "application/json;charset=utf-8", `{"password":"x"}`, "", "x"},
		{"no charset", "application/json", `{"password":"x"}`, "", "x"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/v1/auth/login", strings.NewReader(c.body))
			r.Header.Set("Content-Type", c.ct)
			out, err := decode(r, true, "password")
			if c.code == "" {
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				if out["password"] != c.want {
					t.Fatalf("password = %q, want %q", out["password"], c.want)
				}
				return
			}
			if got := auth.ErrorCode(err); got != c.code {
				t.Fatalf("decode error code = %q (%v), want %q", got, err, c.code)
			}
		})
	}
}

// A wrong current password is recognised through wrapping: a type
// assertion on the bare error would panic the handler.
func TestChangePassword_WrappedInvalidCredentials(t *testing.T) {
	inner := &auth.Error{Code: auth.CodeInvalidCredentials, Message: "wrong"}
	for _, c := range []struct {
		name string
		err  error
		ok   bool
	}{
		{"bare", inner, true},
		{"wrapped", fmt.Errorf("change password: %w", inner), true},
		{"joined", errors.Join(errors.New("x"), inner), true},
		{"other code", fmt.Errorf("x: %w", &auth.Error{Code: auth.CodeInvalidRequest}), false},
		{"not an auth.Error", errors.New("boom"), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, ok := wrongCurrentPassword(c.err)
			if ok != c.ok || (ok && e != inner) {
				t.Fatalf("wrongCurrentPassword = %v, %v; want ok=%v", e, ok, c.ok)
			}
		})
	}
}
