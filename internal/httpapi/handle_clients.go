package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/revfeed"
)

// feedPath is the revocation feed's route.
const feedPath = "/v1/token/revocations"

// clientAuth authenticates the API client of a request with HTTP Basic
// (RFC 7617; RFC 6749 §2.3.1 form-encodes the id and secret first, which
// changes nothing for the characters Bulwark's ids and secrets use). Any
// failure is 401 with a Basic challenge (RFC 7662 §2.1), and no hint of
// which part was wrong.
func (s *Server) clientAuth(w http.ResponseWriter, r *http.Request) (*auth.APIClient, bool) {
	var id, secret string
	if h := r.Header.Get("Authorization"); h != "" && len(h) <= maxAuthorization {
		if u, p, ok := r.BasicAuth(); ok {
			var err1, err2 error
			id, err1 = url.QueryUnescape(u)
			secret, err2 = url.QueryUnescape(p)
			if err1 != nil || err2 != nil {
				id, secret = "", ""
			}
		}
	}
	c, err := s.svc.AuthenticateClient(r.Context(), clientOf(r), id, secret)
	if err != nil {
		if auth.ErrorCode(err) == auth.CodeUnauthenticated {
			w.Header().Set("WWW-Authenticate", `Basic realm="bulwark", charset="UTF-8"`)
		}
		s.writeError(w, r, err)
		return nil, false
	}
	return c, true
}

// introspection is the RFC 7662 §2.2 answer. An inactive token gets
// {"active":false} and nothing else.
type introspection struct {
	Active    bool   `json:"active"`
	Subject   string `json:"sub,omitempty"`
	Audience  string `json:"aud,omitempty"`
	Issuer    string `json:"iss,omitempty"`
	ExpiresAt int64  `json:"exp,omitempty"`
	IssuedAt  int64  `json:"iat,omitempty"`
	ID        string `json:"jti,omitempty"`
	SessionID string `json:"sid,omitempty"`
	TokenType string `json:"token_type,omitempty"`
}

// handleIntrospect is RFC 7662 token introspection for API clients. It
// applies the server's own bearer checks (auth.Service.Introspect), changes
// nothing, and is never cached (Cache-Control: no-store, set on every
// response).
func (s *Server) handleIntrospect() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := s.clientAuth(w, r); !ok {
			return
		}
		in, err := decode(r, true, "token", "token_type_hint")
		if err == nil {
			err = require(in, "token")
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		c, active, err := s.svc.Introspect(r.Context(), in["token"])
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if !active {
			encode(w, http.StatusOK, introspection{Active: false})
			return
		}
		encode(w, http.StatusOK, introspection{
			Active: true, Subject: c.Subject, Audience: s.opt.Audience, Issuer: s.opt.Issuer,
			ExpiresAt: c.ExpiresAt.Unix(), IssuedAt: c.IssuedAt.Unix(), ID: c.ID, SessionID: c.SessionID,
			TokenType: "Bearer",
		})
	})
}

// handleRevocationFeed streams the revocation feed (internal/revfeed) to an
// API client. The cursor is Last-Event-ID, or ?cursor= for clients that
// cannot set headers.
func (s *Server) handleRevocationFeed() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The middleware leaves this route without a deadline (it streams);
		// authentication gets the usual one.
		actx, cancel := context.WithTimeout(r.Context(), s.opt.RequestTimeout)
		_, ok := s.clientAuth(w, r.WithContext(actx))
		cancel()
		if !ok {
			return
		}
		if s.opt.Feed == nil {
			s.writeError(w, r, &auth.Error{Code: auth.CodeUnavailable, Message: "The revocation feed is not available."})
			return
		}
		cursor := r.Header.Get("Last-Event-ID")
		if cursor == "" {
			cursor = r.URL.Query().Get("cursor")
		}
		if err := s.opt.Feed.Stream(w, r, cursor); err != nil {
			if r.Context().Err() != nil {
				return // the client went away
			}
			if errors.Is(err, revfeed.ErrUnavailable) {
				s.writeError(w, r, &auth.Error{Code: auth.CodeUnavailable, Message: "The revocation feed is not available.", RetryAfter: 2 * time.Second})
				return
			}
			if errors.Is(err, auth.ErrUnavailable) {
				s.writeError(w, r, &auth.Error{Code: auth.CodeUnavailable, Message: "The service is temporarily unavailable. Try again shortly.", RetryAfter: 2 * time.Second, Err: err})
				return
			}
			s.writeError(w, r, err)
		}
	})
}
