package verify

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
)

type claimsKey struct{}

// ClaimsFrom returns the claims Middleware put in ctx.
func ClaimsFrom(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok
}

// WithClaims returns a copy of ctx carrying c, as Middleware does; for tests
// of handlers that read ClaimsFrom.
func WithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// Middleware verifies the request's "Authorization: Bearer" access token
// (RFC 6750 §2.1) and calls next with the claims in the request context
// (ClaimsFrom). Otherwise it answers, as RFC 6750 §3 says:
//
//   - no Authorization header: 401 with WWW-Authenticate: Bearer (no error
//     code, §3.1);
//   - another scheme, several Authorization headers, or a token Verify
//     refuses: 401 with WWW-Authenticate: Bearer error="invalid_token";
//   - ErrUnavailable (keys or revocation state too old to decide): 503.
//
// Each answer is a problem+json body (RFC 9457) with a stable code and
// Cache-Control: no-store. The reason for a refusal goes to the Logger at
// debug level, never to the client.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		values := r.Header.Values("Authorization")
		if len(values) == 0 {
			writeProblem(w, http.StatusUnauthorized, "unauthenticated", "An access token is required.", `Bearer`)
			return
		}
		token, ok := bearerToken(values[0])
		if len(values) > 1 || !ok {
			writeProblem(w, http.StatusUnauthorized, "invalid_token", "The access token is invalid.", `Bearer error="invalid_token"`)
			return
		}
		c, err := v.Verify(r.Context(), token)
		if err != nil {
			v.log.LogAttrs(r.Context(), slog.LevelDebug, "access_token_refused", slog.String("error", err.Error()))
			if errors.Is(err, ErrUnavailable) {
				writeProblem(w, http.StatusServiceUnavailable, "unavailable", "The access token cannot be checked now.", "")
				return
			}
			writeProblem(w, http.StatusUnauthorized, "invalid_token", "The access token is invalid.", `Bearer error="invalid_token"`)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithClaims(r.Context(), c)))
	})
}

// writeProblem answers a fixed problem+json body. The bodies are constants,
// so they are written without an encoder.
func writeProblem(w http.ResponseWriter, status int, code, detail, challenge string) {
	h := w.Header()
	if challenge != "" {
		h.Set("WWW-Authenticate", challenge)
	}
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "5")
	}
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"type":"about:blank","title":"` + http.StatusText(status) + `","status":` + strconv.Itoa(status) + `,"code":"` + code + `","detail":"` + detail + `"}` + "\n"))
}
