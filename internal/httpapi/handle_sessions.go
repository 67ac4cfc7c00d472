package httpapi

import "net/http"

type sessionJSON struct {
	ID         string `json:"id"`
	Kind       string `json:"kind"`
	CreatedAt  string `json:"created_at"`
	LastSeenAt string `json:"last_seen_at"`
	IP         string `json:"ip"`
	UserAgent  string `json:"user_agent"`
	Current    bool   `json:"current"`
	// Methods and Level say how the session or family was established
	// (as GET /v1/me's authentication).
	Methods []string `json:"methods"`
	Level   string   `json:"level"`
}

func (s *Server) handleSessionsList() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur, _ := authOf(r)
		list, err := s.svc.ListSessions(r.Context(), cur)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		out := make([]sessionJSON, len(list))
		for i, v := range list {
			out[i] = sessionJSON{ID: v.ID, Kind: v.Kind, CreatedAt: rfc3339(v.CreatedAt), LastSeenAt: rfc3339(v.LastSeenAt),
				IP: v.IP, UserAgent: v.UserAgent, Current: v.Current, Methods: methodNames(v.Methods), Level: v.Methods.Level()}
		}
		encode(w, http.StatusOK, map[string]any{"sessions": out})
	})
}

func (s *Server) handleSessionRevoke() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur, _ := authOf(r)
		if err := s.svc.RevokeSession(r.Context(), clientOf(r), cur, r.PathValue("id")); err != nil {
			s.writeError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

func (s *Server) handleSessionsRevokeOthers() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur, _ := authOf(r)
		if err := s.svc.RevokeOtherSessions(r.Context(), clientOf(r), cur); err != nil {
			s.writeError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
