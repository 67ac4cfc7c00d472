package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// maxAuthorization bounds the Authorization header before any parsing
// (CWE-400).
const maxAuthorization = 8 << 10

type ctxAuth struct{}

type authState struct {
	cur  *auth.Current
	user *auth.User
}

// authenticated resolves the request's credential: a session cookie or a
// bearer token, never both (400 ambiguous_credentials). A cookie-authenticated
// unsafe request must pass Go's cross-origin protection and carry the
// session's CSRF token in X-CSRF-Token (ASVS 3.5.1); a bearer request is exempt
// because a browser never attaches it on its own.
func (s *Server) authenticated(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cookie, _ := r.Cookie(s.sessionCookie)
		authz := r.Header.Get("Authorization")
		if cookie != nil && cookie.Value != "" && authz != "" {
			s.writeError(w, r, &auth.Error{Code: auth.CodeAmbiguousCredentials, Message: "Send either a session cookie or a bearer token, not both."})
			return
		}
		var (
			cur  *auth.Current
			user *auth.User
			err  error
		)
		switch {
		case authz != "":
			tok, ok := bearer(authz)
			if !ok {
				s.writeError(w, r, &auth.Error{Code: auth.CodeUnauthenticated, Message: "Authentication is required."})
				return
			}
			cur, user, err = s.svc.BearerByToken(r.Context(), tok)
		case cookie != nil && cookie.Value != "":
			cur, user, err = s.svc.SessionByToken(r.Context(), cookie.Value)
			if err == nil && !safeMethod(r.Method) {
				if !s.crossOriginOK(r) || !cur.CheckCSRF(r.Header.Get("X-CSRF-Token")) {
					s.writeError(w, r, csrfFailed())
					return
				}
			}
		default:
			err = &auth.Error{Code: auth.CodeUnauthenticated, Message: "Authentication is required."}
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		ctx := context.WithValue(r.Context(), ctxAuth{}, authState{cur: cur, user: user})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func csrfFailed() *auth.Error {
	return &auth.Error{Code: auth.CodeCSRFFailed, Message: "Cross-origin or CSRF token check failed."}
}

// crossOriginOK applies http.CrossOriginProtection (Sec-Fetch-Site, then
// Origin against Host).
func (s *Server) crossOriginOK(r *http.Request) bool {
	return s.cop.Check(r) == nil
}

func bearer(h string) (string, bool) {
	if len(h) > maxAuthorization {
		return "", false
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

func authOf(r *http.Request) (*auth.Current, *auth.User) {
	st, _ := r.Context().Value(ctxAuth{}).(authState)
	return st.cur, st.user
}
