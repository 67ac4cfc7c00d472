package httpapi

import (
	"io"
	"log/slog"
	"mime"
	"net/http"
	"unicode/utf8"
)

func (s *Server) handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		encode(w, http.StatusOK, statusJSON{Status: "ok"})
	})
}

func (s *Server) handleReadyz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		failing := s.opt.Ready(r.Context())
		if len(failing) > 0 {
			w.Header().Set("Retry-After", "5")
			encode(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "failing": failing})
			return
		}
		encode(w, http.StatusOK, statusJSON{Status: "ready"})
	})
}

// handleCSPReport logs Content-Security-Policy violation reports. Browsers
// send them as application/csp-report or application/reports+json.
func (s *Server) handleCSPReport() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		switch mt {
		case "application/csp-report", "application/reports+json", "application/json":
		default:
			s.writeError(w, r, errUnsupported())
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 4<<10))
		if err != nil || !utf8.Valid(body) {
			s.writeError(w, r, badRequest("The report could not be read.", nil))
			return
		}
		if !s.svc.ReportAllowed(r.Context(), clientOf(r)) {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "audit", slog.String("event", "csp_report"),
			slog.String("request_id", requestID(r.Context())), slog.String("ip", clientOf(r).IP), slog.String("report", string(body)))
		w.WriteHeader(http.StatusNoContent)
	})
}
