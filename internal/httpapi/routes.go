package httpapi

// routes lists the whole API surface (docs/api.md, "Routes"). No GET route
// changes state (ASVS 3.5.3): Go's cross-origin protection lets every GET
// through. Every pattern registered through m is recorded (see
// Routes): a test fails when one is missing from openapi.json or docs/api.md.
func (s *Server) routes() {
	m := routeRecorder{s}
	// Accounts.
	m.Handle("POST /v1/signup", s.handleSignup())
	m.Handle("POST /v1/email/verify", s.handleVerifyEmail())
	m.Handle("POST /v1/email/verify/resend", s.handleResendVerification())
	m.Handle("GET /v1/me", s.authenticated(s.handleMe()))
	m.Handle("POST /v1/password/change", s.authenticated(s.handlePasswordChange()))
	// Signing in and out.
	m.Handle("POST /v1/session", s.handleSessionCreate())
	m.Handle("DELETE /v1/session", s.authenticated(s.handleSessionDelete()))
	m.Handle("GET /v1/session/csrf", s.authenticated(s.handleCSRF()))
	m.Handle("POST /v1/token", s.handleToken())
	m.Handle("POST /v1/token/revoke", s.handleRevoke())
	m.Handle("POST /v1/logout", s.authenticated(s.handleLogout()))
	// Sessions.
	m.Handle("GET /v1/sessions", s.authenticated(s.handleSessionsList()))
	m.Handle("DELETE /v1/sessions/{id}", s.authenticated(s.handleSessionRevoke()))
	m.Handle("DELETE /v1/sessions", s.authenticated(s.handleSessionsRevokeOthers()))
	// Password reset.
	m.Handle("POST /v1/password/forgot", s.handleForgot())
	m.Handle("POST /v1/password/reset", s.handleReset())
	// Keys and discovery.
	m.Handle("GET /.well-known/jwks.json", s.handleJWKS())
	m.Handle("GET /.well-known/openid-configuration", s.handleDiscovery())
	// Operations.
	m.Handle("GET /healthz", s.handleHealthz())
	m.Handle("GET /readyz", s.handleReadyz())
	m.Handle("POST /v1/csp-report", s.handleCSPReport())
	m.Handle("GET /v1/openapi.json", s.handleOpenAPI())
	// Unknown routes and methods get the mux's 404 and 405 (with Allow),
	// which the middleware rewrites as problem+json.
}
