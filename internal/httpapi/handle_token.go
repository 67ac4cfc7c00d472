package httpapi

import (
	"net/http"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

type tokenJSON struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	DeviceToken  string `json:"device_token,omitempty"`
}

func tokenView(p *auth.TokenPair, device auth.Secret) tokenJSON {
	return tokenJSON{
		AccessToken: p.AccessToken.Reveal(), TokenType: "Bearer", ExpiresIn: int64(p.ExpiresIn.Seconds()),
		RefreshToken: p.RefreshToken.Reveal(), DeviceToken: device.Reveal(),
	}
}

// handleToken is the token endpoint: the password and refresh_token grants,
// in JSON or as a form (RFC 6749 §4.3, §6). It sets no cookie.
func (s *Server) handleToken() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := decode(r, true, "grant_type", "email", "password", "refresh_token")
		if err == nil {
			err = require(in, "grant_type")
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		cl := clientOf(r)
		switch in["grant_type"] {
		case "password":
			if err := require(in, "email", "password"); err != nil {
				s.writeError(w, r, err)
				return
			}
			cl.DeviceToken = r.Header.Get("X-Device-Token")
			login, err := s.svc.Authenticate(r.Context(), cl, in["email"], in["password"], auth.ModeToken)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			s.establish(w, r, cl, login, auth.ModeToken)
		case "refresh_token":
			if err := require(in, "refresh_token"); err != nil {
				s.writeError(w, r, err)
				return
			}
			pair, err := s.svc.Refresh(r.Context(), cl, in["refresh_token"])
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			encode(w, http.StatusOK, tokenView(pair, ""))
		default:
			s.writeError(w, r, badRequest("Unsupported grant type.", map[string]string{"grant_type": "must be password or refresh_token"}))
		}
	})
}

// handleRevoke implements RFC 7009: 200 whatever the token.
func (s *Server) handleRevoke() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := decode(r, true, "token", "token_type_hint")
		if err == nil {
			err = require(in, "token")
		}
		if err == nil {
			err = s.svc.Revoke(r.Context(), clientOf(r), in["token"])
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, struct{}{})
	})
}

func (s *Server) handleLogout() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur, _ := authOf(r)
		if cur.Claims == nil {
			s.writeError(w, r, &auth.Error{Code: auth.CodeInvalidRequest, Message: "This route ends a bearer session; cookie clients use DELETE /v1/session."})
			return
		}
		if err := s.svc.LogoutBearer(r.Context(), clientOf(r), cur); err != nil {
			s.writeError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
