package httpapi

import (
	"net/http"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// deviceMaxAge is one year (docs/api.md, "Cookies").
const deviceMaxAge = 365 * 24 * 60 * 60

func (s *Server) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: !s.opt.Dev, SameSite: http.SameSiteLaxMode,
	})
}

// handleSessionCreate is the cookie login. It is cross-origin protected like
// every cookie-authenticated request, against login CSRF.
func (s *Server) handleSessionCreate() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.crossOriginOK(r) {
			s.writeError(w, r, csrfFailed())
			return
		}
		in, err := decode(r, false, "email", "password")
		if err == nil {
			err = require(in, "email", "password")
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		cl := clientOf(r)
		if c, err := r.Cookie(s.deviceCookie); err == nil {
			cl.DeviceToken = c.Value
		}
		login, err := s.svc.Authenticate(r.Context(), cl, in["email"], in["password"], auth.ModeCookie)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.establish(w, r, cl, login, auth.ModeCookie)
	})
}

// establish answers a login: the second-factor challenge when one is
// needed, otherwise a cookie session (Set-Cookie with the session and the
// device cookie) or tokens, as mode says.
func (s *Server) establish(w http.ResponseWriter, r *http.Request, cl auth.Client, login *auth.Login, mode auth.LoginMode) {
	if login.MFA != nil {
		encode(w, http.StatusOK, mfaRequiredJSON{
			MFARequired: true, MFAToken: login.MFA.Token.Reveal(), Methods: login.MFA.Methods,
			ExpiresIn: int64(s.svc.Config().MFATokenTTL.Seconds()),
		})
		return
	}
	if mode == auth.ModeToken {
		pair, err := s.svc.IssueTokens(r.Context(), cl, login)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, tokenView(pair, login.DeviceToken))
		return
	}
	ns, err := s.svc.CreateSession(r.Context(), cl, login)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.setSession(w, ns)
	s.setCookie(w, s.deviceCookie, login.DeviceToken.Reveal(), deviceMaxAge)
	encode(w, http.StatusOK, map[string]any{
		"user": userView(login.User), "csrf_token": ns.CSRFToken.Reveal(), "expires_at": rfc3339(ns.ExpiresAt),
	})
}

// setSession sets the session cookie of ns.
func (s *Server) setSession(w http.ResponseWriter, ns *auth.NewSession) {
	s.setCookie(w, s.sessionCookie, ns.Token.Reveal(), int(s.svc.Config().SessionTTL.Seconds()))
}

// mfaRequiredJSON is a login's answer when a second factor is needed.
type mfaRequiredJSON struct {
	MFARequired bool     `json:"mfa_required"`
	MFAToken    string   `json:"mfa_token"`
	Methods     []string `json:"methods"`
	ExpiresIn   int64    `json:"expires_in"`
}

func (s *Server) handleSessionDelete() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur, _ := authOf(r)
		if cur.SessionID == "" {
			s.writeError(w, r, &auth.Error{Code: auth.CodeInvalidRequest, Message: "This route ends a cookie session; bearer clients use POST /v1/logout."})
			return
		}
		if err := s.svc.DeleteSession(r.Context(), clientOf(r), cur); err != nil {
			s.writeError(w, r, err)
			return
		}
		s.setCookie(w, s.sessionCookie, "", -1)
		w.WriteHeader(http.StatusNoContent)
	})
}

func (s *Server) handleCSRF() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur, _ := authOf(r)
		tok := cur.CSRFToken()
		if tok == "" {
			s.writeError(w, r, &auth.Error{Code: auth.CodeInvalidRequest, Message: "CSRF tokens belong to cookie sessions; bearer requests need none."})
			return
		}
		encode(w, http.StatusOK, map[string]string{"csrf_token": tok.Reveal()})
	})
}
