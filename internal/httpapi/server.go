// Package httpapi is Bulwark's HTTP layer: the routes of docs/api.md on a
// net/http ServeMux, with middleware for request ids, security headers, panics,
// client IPs, body limits, CORS and cross-origin protection. Every policy
// decision is the auth.Service's; this package only translates.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/metrics"
	"github.com/bulwarkauth/bulwark/internal/revfeed"
)

// Options configure the HTTP layer.
type Options struct {
	// Dev selects dev cookie names without Secure and drops HSTS. Production
	// cookies are __Host- prefixed and Secure (ASVS 3.3.1).
	Dev            bool
	PublicURL      string
	TrustedProxies []netip.Prefix
	CORSOrigins    []string
	// Keys are the access-token signing keys as the JWKS and the discovery
	// document describe them (*token.Issuer); nil publishes an empty set.
	Keys SigningKeys
	// Ready reports which dependencies fail; empty means ready.
	Ready func(ctx context.Context) []string
	// RequestTimeout bounds each handler's context (default 10s), except
	// the revocation feed's, which streams until the client goes.
	RequestTimeout time.Duration
	// Metrics counts requests by route and status; nil counts nothing.
	Metrics *metrics.Metrics
	// Feed serves GET /v1/token/revocations; nil answers it 503.
	Feed *revfeed.Hub
	// Issuer and Audience are the iss and aud of access tokens, as
	// introspection reports them (default PublicURL).
	Issuer, Audience string
}

// Server is the HTTP API.
type Server struct {
	svc     *auth.Service
	log     *slog.Logger
	opt     Options
	cop     *http.CrossOriginProtection
	mux     *http.ServeMux
	handler http.Handler
	cors    map[string]bool
	// patterns are the routes registered, in order (see Routes).
	patterns []string

	sessionCookie string
	deviceCookie  string
}

// NewServer returns the API handler.
func NewServer(svc *auth.Service, logger *slog.Logger, opt Options) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opt.RequestTimeout == 0 {
		opt.RequestTimeout = 10 * time.Second
	}
	if opt.Issuer == "" {
		opt.Issuer = opt.PublicURL
	}
	if opt.Audience == "" {
		opt.Audience = opt.PublicURL
	}
	if opt.Ready == nil {
		opt.Ready = func(context.Context) []string { return nil }
	}
	s := &Server{
		svc: svc, log: logger, opt: opt, cop: http.NewCrossOriginProtection(), mux: http.NewServeMux(),
		cors: map[string]bool{}, sessionCookie: "__Host-bulwark_session", deviceCookie: "__Host-bulwark_device",
	}
	if opt.Dev {
		s.sessionCookie, s.deviceCookie = "bulwark_session", "bulwark_device"
	}
	for _, o := range opt.CORSOrigins {
		s.cors[o] = true
		// An origin trusted to read credentialed answers is trusted to send
		// cookie requests too: they still need the session's CSRF token.
		// Browsers send the SameSite=Lax session cookie only to a site's own
		// origins, so this serves sibling subdomains (app.example.com and
		// auth.example.com); cross-site clients use /v1/token.
		if err := s.cop.AddTrustedOrigin(o); err != nil {
			logger.Warn("CORS origin not trusted for cookie requests", "origin", o, "error", err.Error())
		}
	}
	// Cross-origin failures are answered by the handlers as csrf_failed.
	s.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	s.routes()
	s.handler = s.middleware(s.mux)
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }
