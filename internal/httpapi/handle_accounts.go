package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

type userJSON struct {
	ID            string  `json:"id"`
	Email         string  `json:"email"`
	EmailVerified bool    `json:"email_verified"`
	CreatedAt     string  `json:"created_at"`
	MFA           mfaJSON `json:"mfa"`
}

type mfaJSON struct {
	TOTP     bool `json:"totp"`
	Passkeys int  `json:"passkeys"`
}

// userResponse is {"user": {...}}, as signup, verify and /v1/me answer.
type userResponse struct {
	User userJSON `json:"user"`
}

func userView(u *auth.User) userJSON {
	return userJSON{ID: u.ID, Email: u.Email, EmailVerified: u.EmailVerified, CreatedAt: rfc3339(u.CreatedAt),
		MFA: mfaJSON{TOTP: u.TOTPEnabled, Passkeys: u.Passkeys}}
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

type statusJSON struct {
	Status string `json:"status"`
}

func (s *Server) handleSignup() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := decode(r, false, "email", "password")
		if err == nil {
			err = require(in, "email", "password")
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		res, err := s.svc.Signup(r.Context(), clientOf(r), in["email"], in["password"])
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if res.User != nil {
			encode(w, http.StatusCreated, userResponse{User: userView(res.User)})
			return
		}
		encode(w, http.StatusAccepted, statusJSON{Status: "verification_sent"})
	})
}

func (s *Server) handleVerifyEmail() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := decode(r, false, "token")
		if err == nil {
			err = require(in, "token")
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		u, err := s.svc.VerifyEmail(r.Context(), clientOf(r), in["token"])
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, userResponse{User: userView(u)})
	})
}

func (s *Server) handleResendVerification() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := decode(r, false, "email")
		if err == nil {
			err = require(in, "email")
		}
		if err == nil {
			err = s.svc.ResendVerification(r.Context(), clientOf(r), in["email"])
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusAccepted, statusJSON{Status: "accepted"})
	})
}

// authenticationJSON is how the request's session or token was
// established: its methods, the assurance level they reach (computed from
// them, never stored) and when.
type authenticationJSON struct {
	Methods         []string `json:"methods"`
	Level           string   `json:"level"`
	AuthenticatedAt string   `json:"authenticated_at"`
}

type meResponse struct {
	User           userJSON           `json:"user"`
	Authentication authenticationJSON `json:"authentication"`
}

func authenticationView(cur *auth.Current) authenticationJSON {
	return authenticationJSON{Methods: methodNames(cur.Methods), Level: cur.Methods.Level(), AuthenticatedAt: rfc3339(cur.AuthTime)}
}

// methodNames lists methods as strings; none is the password alone.
func methodNames(m auth.Methods) []string {
	if len(m) == 0 {
		m = auth.Methods{auth.MethodPassword}
	}
	out := make([]string, len(m))
	for i, x := range m {
		out[i] = string(x)
	}
	return out
}

func (s *Server) handleMe() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur, u := authOf(r)
		encode(w, http.StatusOK, meResponse{User: userView(u), Authentication: authenticationView(cur)})
	})
}

func (s *Server) handlePasswordChange() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := decode(r, false, "current_password", "new_password")
		if err == nil {
			err = require(in, "current_password", "new_password")
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		cur, _ := authOf(r)
		if err := s.svc.ChangePassword(r.Context(), clientOf(r), *cur, in["current_password"], in["new_password"]); err != nil {
			s.writeSignedInError(w, r, err)
			return
		}
		encode(w, http.StatusOK, statusJSON{Status: "password_changed"})
	})
}

// wrongCurrentPassword returns the *auth.Error in err's chain when it says
// the current password was wrong. errors.As, not a type assertion: a
// wrapped error must not panic the handler.
func wrongCurrentPassword(err error) (*auth.Error, bool) {
	var e *auth.Error
	if errors.As(err, &e) && e.Code == auth.CodeInvalidCredentials {
		return e, true
	}
	return nil, false
}
