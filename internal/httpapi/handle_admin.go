package httpapi

import (
	"net/http"
	"strconv"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// adminUserJSON is a user as the admin API shows it.
type adminUserJSON struct {
	ID            string  `json:"id"`
	Email         string  `json:"email"`
	EmailVerified bool    `json:"email_verified"`
	Disabled      bool    `json:"disabled"`
	Admin         bool    `json:"admin"`
	CreatedAt     string  `json:"created_at"`
	MFA           mfaJSON `json:"mfa"`
}

type adminSessionJSON struct {
	ID         string `json:"id"`
	Kind       string `json:"kind"`
	CreatedAt  string `json:"created_at"`
	LastSeenAt string `json:"last_seen_at"`
	IP         string `json:"ip"`
	UserAgent  string `json:"user_agent"`
}

type lockoutJSON struct {
	Failures    int     `json:"failures"`
	LockedUntil *string `json:"locked_until"`
}

type adminUserDetailJSON struct {
	adminUserJSON
	Sessions []adminSessionJSON `json:"sessions"`
	Lockout  lockoutJSON        `json:"lockout"`
	// MFALockout is the second factors' lockout, a counter of its own.
	MFALockout lockoutJSON `json:"mfa_lockout"`
}

func lockoutView(l auth.Lockout) lockoutJSON {
	out := lockoutJSON{Failures: l.Failures}
	if !l.LockedUntil.IsZero() {
		t := rfc3339(l.LockedUntil)
		out.LockedUntil = &t
	}
	return out
}

func adminUserView(u auth.UserSummary) adminUserJSON {
	return adminUserJSON{ID: u.ID, Email: u.Email, EmailVerified: u.EmailVerified, Disabled: u.Disabled, Admin: u.Admin, CreatedAt: rfc3339(u.CreatedAt),
		MFA: mfaJSON{TOTP: u.TOTPEnabled, Passkeys: u.Passkeys}}
}

// admin wraps an admin route: authenticated like every signed-in route (a
// bearer token, or a cookie session with its CSRF token for a state change),
// then the admin role, checked on the server for every request (OWASP ASVS
// 5.0 8.2.1); anyone else gets 403 forbidden.
func (s *Server) admin(h func(a *auth.Admin, w http.ResponseWriter, r *http.Request)) http.Handler {
	return s.authenticated(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := s.svc.Admin()
		if err != nil {
			s.writeError(w, r, &auth.Error{Code: auth.CodeNotFound, Message: "The admin API is not available with this store."})
			return
		}
		cur, _ := authOf(r)
		if err := a.RequireAdmin(r.Context(), cur); err != nil {
			s.writeError(w, r, err)
			return
		}
		h(a, w, r)
	}))
}

func (s *Server) handleAdminUsers() http.Handler {
	return s.admin(func(a *auth.Admin, w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit := 0
		if v := q.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				s.writeError(w, r, badRequest("Invalid limit.", map[string]string{"limit": "must be between 1 and 200"}))
				return
			}
			limit = n
		}
		users, next, err := a.ListUsers(r.Context(), q.Get("query"), q.Get("cursor"), limit)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		out := make([]adminUserJSON, len(users))
		for i, u := range users {
			out[i] = adminUserView(u)
		}
		var cursor *string
		if next != "" {
			cursor = &next
		}
		encode(w, http.StatusOK, map[string]any{"users": out, "next_cursor": cursor})
	})
}

func (s *Server) handleAdminUser() http.Handler {
	return s.admin(func(a *auth.Admin, w http.ResponseWriter, r *http.Request) {
		d, err := a.User(r.Context(), r.PathValue("id"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		out := adminUserDetailJSON{adminUserJSON: adminUserView(d.UserSummary), Sessions: make([]adminSessionJSON, len(d.Sessions))}
		for i, v := range d.Sessions {
			out.Sessions[i] = adminSessionJSON{ID: v.ID, Kind: v.Kind, CreatedAt: rfc3339(v.CreatedAt), LastSeenAt: rfc3339(v.LastSeenAt), IP: v.IP, UserAgent: v.UserAgent}
		}
		out.Lockout, out.MFALockout = lockoutView(d.Lockout), lockoutView(d.MFALockout)
		encode(w, http.StatusOK, map[string]any{"user": out})
	})
}

// handleAdminAction applies one action to the user of the path; the answer
// says what the user's state now is.
func (s *Server) handleAdminAction(action, status string) http.Handler {
	return s.admin(func(a *auth.Admin, w http.ResponseWriter, r *http.Request) {
		cur, _ := authOf(r)
		if err := a.Act(r.Context(), clientOf(r), cur.UserID, r.PathValue("id"), action); err != nil {
			s.writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, statusJSON{Status: status})
	})
}
