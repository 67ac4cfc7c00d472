package httpapi

import "net/http"

// handleForgot answers 202 with the same body whether or not the email
// belongs to an account (ASVS 6.3.8).
func (s *Server) handleForgot() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := decode(r, false, "email")
		if err == nil {
			err = require(in, "email")
		}
		if err == nil {
			err = s.svc.ForgotPassword(r.Context(), clientOf(r), in["email"])
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusAccepted, statusJSON{Status: "accepted"})
	})
}

func (s *Server) handleReset() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := decode(r, false, "token", "new_password")
		if err == nil {
			err = require(in, "token", "new_password")
		}
		if err == nil {
			err = s.svc.ResetPassword(r.Context(), clientOf(r), in["token"], in["new_password"])
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, statusJSON{Status: "password_reset"})
	})
}
