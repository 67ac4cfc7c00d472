package httpapi

import "github.com/bulwarkauth/bulwark/internal/auth"

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
	// Resource servers (API clients, HTTP Basic).
	m.Handle("POST /v1/token/introspect", s.handleIntrospect())
	m.Handle("GET /v1/token/revocations", s.handleRevocationFeed()) // feedPath
	// Second factors.
	m.Handle("POST /v1/mfa/challenge", s.handleMFAChallenge())
	m.Handle("POST /v1/mfa/totp/enroll", s.authenticated(s.handleTOTPEnroll()))
	m.Handle("POST /v1/mfa/totp/confirm", s.authenticated(s.handleTOTPConfirm()))
	m.Handle("DELETE /v1/mfa/totp", s.authenticated(s.handleTOTPDisable()))
	m.Handle("POST /v1/mfa/recovery-codes", s.authenticated(s.handleRecoveryCodes()))
	// Passkeys (WebAuthn).
	m.Handle("POST /v1/webauthn/register/begin", s.authenticated(s.handleWebAuthnRegisterBegin()))
	m.Handle("POST /v1/webauthn/register/finish", s.authenticated(s.handleWebAuthnRegisterFinish()))
	m.Handle("GET /v1/webauthn/credentials", s.authenticated(s.handleWebAuthnCredentials()))
	m.Handle("PATCH /v1/webauthn/credentials/{id}", s.authenticated(s.handleWebAuthnRename()))
	m.Handle("DELETE /v1/webauthn/credentials/{id}", s.authenticated(s.handleWebAuthnDelete()))
	m.Handle("POST /v1/webauthn/login/begin", s.handleWebAuthnLoginBegin())
	m.Handle("POST /v1/webauthn/login/finish", s.handleWebAuthnLoginFinish())
	// Sessions.
	m.Handle("GET /v1/sessions", s.authenticated(s.handleSessionsList()))
	m.Handle("DELETE /v1/sessions/{id}", s.authenticated(s.handleSessionRevoke()))
	m.Handle("DELETE /v1/sessions", s.authenticated(s.handleSessionsRevokeOthers()))
	// Password reset.
	m.Handle("POST /v1/password/forgot", s.handleForgot())
	m.Handle("POST /v1/password/reset", s.handleReset())
	// Admin (the admin role, checked on every request).
	m.Handle("GET /v1/admin/users", s.handleAdminUsers())
	m.Handle("GET /v1/admin/users/{id}", s.handleAdminUser())
	m.Handle("POST /v1/admin/users/{id}/disable", s.handleAdminAction(auth.AdminDisable, "disabled"))
	m.Handle("POST /v1/admin/users/{id}/enable", s.handleAdminAction(auth.AdminEnable, "enabled"))
	m.Handle("POST /v1/admin/users/{id}/unlock", s.handleAdminAction(auth.AdminUnlock, "unlocked"))
	m.Handle("POST /v1/admin/users/{id}/revoke-sessions", s.handleAdminAction(auth.AdminRevokeSessions, "sessions_revoked"))
	m.Handle("DELETE /v1/admin/users/{id}", s.handleAdminAction(auth.AdminDelete, "deleted"))
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
