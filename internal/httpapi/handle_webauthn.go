package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// Passkeys (WebAuthn Level 3): docs/api.md, "Passkeys".

// stringMember reads an optional string member of decodeObject's result.
func stringMember(in map[string]json.RawMessage, name string, fields map[string]string) string {
	raw, ok := in[name]
	if !ok {
		return ""
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		fields[name] = "must be a string"
	}
	return v
}

// objectMember reads a required object member.
func objectMember(in map[string]json.RawMessage, name string, fields map[string]string) []byte {
	raw, ok := in[name]
	if !ok {
		fields[name] = "is required"
		return nil
	}
	if len(raw) == 0 || raw[0] != '{' {
		fields[name] = "must be an object"
		return nil
	}
	return raw
}

func fieldsErr(fields map[string]string) error {
	if len(fields) == 0 {
		return nil
	}
	return badRequest("The request body has invalid fields.", fields)
}

type passkeyJSON struct {
	ID             string  `json:"id"`
	Name           string  `json:"name"`
	CreatedAt      string  `json:"created_at"`
	LastUsedAt     *string `json:"last_used_at"`
	BackupEligible bool    `json:"backup_eligible"`
	BackedUp       bool    `json:"backed_up"`
}

func passkeyView(p *auth.Passkey) passkeyJSON {
	v := passkeyJSON{ID: p.ID, Name: p.Name, CreatedAt: rfc3339(p.CreatedAt), BackupEligible: p.BackupEligible, BackedUp: p.BackupState}
	if !p.LastUsedAt.IsZero() {
		t := rfc3339(p.LastUsedAt)
		v.LastUsedAt = &t
	}
	return v
}

// writeOptions answers a begin route: {"publicKey": options}.
func writeOptions(w http.ResponseWriter, opts auth.PasskeyOptionsJSON) {
	encode(w, http.StatusOK, map[string]json.RawMessage{"publicKey": json.RawMessage(opts)})
}

func (s *Server) handleWebAuthnRegisterBegin() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := decode(r, false, "password")
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		cur, _ := authOf(r)
		opts, err := s.svc.BeginPasskeyRegistration(r.Context(), clientOf(r), cur, in["password"])
		if err != nil {
			s.writeSignedInError(w, r, err)
			return
		}
		writeOptions(w, opts)
	})
}

// passkeyAddedJSON is the 201 of a registration: the passkey and the
// caller's re-established session or tokens (factorChangeView).
type passkeyAddedJSON struct {
	Passkey passkeyJSON `json:"passkey"`
	factorChangeJSON
}

func (s *Server) handleWebAuthnRegisterFinish() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := decodeObject(r, "name", "credential")
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		fields := map[string]string{}
		name := stringMember(in, "name", fields)
		cred := objectMember(in, "credential", fields)
		if err := fieldsErr(fields); err != nil {
			s.writeError(w, r, err)
			return
		}
		cur, _ := authOf(r)
		np, err := s.svc.FinishPasskeyRegistration(r.Context(), clientOf(r), cur, name, cred)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusCreated, passkeyAddedJSON{Passkey: passkeyView(np.Passkey), factorChangeJSON: s.factorChangeView(w, np.Change)})
	})
}

func (s *Server) handleWebAuthnCredentials() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur, _ := authOf(r)
		list, err := s.svc.Passkeys(r.Context(), cur)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		out := make([]passkeyJSON, len(list))
		for i := range list {
			out[i] = passkeyView(&list[i])
		}
		encode(w, http.StatusOK, map[string][]passkeyJSON{"passkeys": out})
	})
}

func (s *Server) handleWebAuthnRename() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := decode(r, false, "name")
		if err == nil {
			err = require(in, "name")
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		cur, _ := authOf(r)
		p, err := s.svc.RenamePasskey(r.Context(), cur, r.PathValue("id"), in["name"])
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, map[string]passkeyJSON{"passkey": passkeyView(p)})
	})
}

func (s *Server) handleWebAuthnDelete() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := decode(r, false, "password")
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		cur, _ := authOf(r)
		if err := s.svc.DeletePasskey(r.Context(), clientOf(r), cur, r.PathValue("id"), in["password"]); err != nil {
			s.writeSignedInError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// handleWebAuthnLoginBegin takes {} (a passkey alone) or {"mfa_token"} (the
// second factor). An "email" member is accepted and ignored: the options of
// a passkey alone never depend on who asks (WebAuthn L3 §14.6.2).
func (s *Server) handleWebAuthnLoginBegin() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := decode(r, false, "mfa_token", "email")
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		opts, err := s.svc.BeginPasskeyLogin(r.Context(), clientOf(r), in["mfa_token"])
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeOptions(w, opts)
	})
}

// handleWebAuthnLoginFinish signs in with a passkey alone ({"credential",
// "mode"}: a cookie session, cross-origin protected like POST /v1/session,
// or tokens) or completes a password login ({"mfa_token", "credential"}:
// answered as that login asked).
func (s *Server) handleWebAuthnLoginFinish() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := decodeObject(r, "credential", "mode", "mfa_token")
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		fields := map[string]string{}
		cred := objectMember(in, "credential", fields)
		mode := stringMember(in, "mode", fields)
		mfaToken := stringMember(in, "mfa_token", fields)
		switch {
		case mfaToken != "" && mode != "":
			fields["mode"] = "not with mfa_token: the password login chose the mode"
		case mfaToken == "" && mode != string(auth.ModeCookie) && mode != string(auth.ModeToken):
			fields["mode"] = "must be cookie or token"
		}
		if err := fieldsErr(fields); err != nil {
			s.writeError(w, r, err)
			return
		}
		cl := clientOf(r)
		crossOK := s.crossOriginOK(r)
		if mfaToken != "" {
			login, lmode, err := s.svc.PasskeySecondFactor(r.Context(), cl, mfaToken, cred)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			if lmode == auth.ModeCookie && !crossOK {
				s.writeError(w, r, csrfFailed())
				return
			}
			s.establish(w, r, cl, login, lmode)
			return
		}
		lmode := auth.LoginMode(mode)
		if lmode == auth.ModeCookie {
			if !crossOK {
				s.writeError(w, r, csrfFailed())
				return
			}
			if c, err := r.Cookie(s.deviceCookie); err == nil {
				cl.DeviceToken = c.Value
			}
		}
		login, err := s.svc.PasskeyLogin(r.Context(), cl, cred)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.establish(w, r, cl, login, lmode)
	})
}
