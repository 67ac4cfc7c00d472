package httpapi

import (
	"encoding/base64"
	"net/http"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// handleMFAChallenge redeems the mfa_token of a password login with a TOTP
// code or a recovery code and answers as that login would have: a cookie
// session or tokens. A cookie answer is cross-origin protected like the
// cookie login (login CSRF).
func (s *Server) handleMFAChallenge() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := decode(r, false, "mfa_token", "code", "recovery_code")
		if err == nil {
			err = require(in, "mfa_token")
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		cl := clientOf(r)
		crossOK := s.crossOriginOK(r)
		login, mode, err := s.svc.Challenge(r.Context(), cl, in["mfa_token"], in["code"], in["recovery_code"])
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if mode == auth.ModeCookie && !crossOK {
			s.writeError(w, r, csrfFailed())
			return
		}
		s.establish(w, r, cl, login, mode)
	})
}

type totpEnrolJSON struct {
	Secret     string `json:"secret"`
	OTPAuthURI string `json:"otpauth_uri"`
	QRCode     string `json:"qr_code"`
}

func (s *Server) handleTOTPEnroll() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := decode(r, false, "password")
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		cur, _ := authOf(r)
		e, err := s.svc.EnrollTOTP(r.Context(), clientOf(r), cur, in["password"])
		if err != nil {
			s.writeSignedInError(w, r, err)
			return
		}
		encode(w, http.StatusOK, totpEnrolJSON{
			Secret: e.Secret.Reveal(), OTPAuthURI: e.URI.Reveal(),
			QRCode: "data:image/png;base64," + base64.StdEncoding.EncodeToString(e.QRCode),
		})
	})
}

// factorChangeJSON answers a factor added: the recovery codes when new ones
// were made, and the caller's new session (its cookie is set, the CSRF token
// is here) or new tokens.
type factorChangeJSON struct {
	RecoveryCodes []string   `json:"recovery_codes,omitempty"`
	CSRFToken     string     `json:"csrf_token,omitempty"`
	ExpiresAt     string     `json:"expires_at,omitempty"`
	Tokens        *tokenJSON `json:"tokens,omitempty"`
}

// writeFactorChange writes fc as the 200 or 201 answer of a factor added,
// setting the cookie of a re-established cookie session. Any other fields of
// the answer come in extra.
func (s *Server) factorChangeView(w http.ResponseWriter, fc *auth.FactorChange) factorChangeJSON {
	out := factorChangeJSON{}
	for _, c := range fc.RecoveryCodes {
		out.RecoveryCodes = append(out.RecoveryCodes, c.Reveal())
	}
	if fc.Session != nil {
		s.setSession(w, fc.Session)
		out.CSRFToken = fc.Session.CSRFToken.Reveal()
		out.ExpiresAt = rfc3339(fc.Session.ExpiresAt)
	}
	if fc.Tokens != nil {
		t := tokenView(fc.Tokens, "")
		out.Tokens = &t
	}
	return out
}

func (s *Server) handleTOTPConfirm() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := decode(r, false, "code")
		if err == nil {
			err = require(in, "code")
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		cur, _ := authOf(r)
		fc, err := s.svc.ConfirmTOTP(r.Context(), clientOf(r), cur, in["code"])
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, s.factorChangeView(w, fc))
	})
}

func (s *Server) handleTOTPDisable() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := decode(r, false, "password")
		if err == nil {
			err = require(in, "password")
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		cur, _ := authOf(r)
		if err := s.svc.DisableTOTP(r.Context(), clientOf(r), cur, in["password"]); err != nil {
			s.writeSignedInError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

type recoveryCodesJSON struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

func (s *Server) handleRecoveryCodes() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := decode(r, false, "password")
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		cur, _ := authOf(r)
		codes, err := s.svc.RegenerateRecoveryCodes(r.Context(), clientOf(r), cur, in["password"])
		if err != nil {
			s.writeSignedInError(w, r, err)
			return
		}
		out := recoveryCodesJSON{RecoveryCodes: make([]string, len(codes))}
		for i, c := range codes {
			out.RecoveryCodes[i] = c.Reveal()
		}
		encode(w, http.StatusOK, out)
	})
}

// writeSignedInError writes err for a signed-in caller: a wrong password is
// 403, not 401 (the caller is authenticated; docs/api.md, "Errors").
func (s *Server) writeSignedInError(w http.ResponseWriter, r *http.Request, err error) {
	if e, ok := wrongCurrentPassword(err); ok {
		s.writeProblem(w, r, http.StatusForbidden, e)
		return
	}
	s.writeError(w, r, err)
}
