package httpapi

import (
	"context"
	"net/http"
)

// AdminHandler serves the admin listener: GET /metrics (the Prometheus
// exposition from metrics), /healthz and /readyz, nothing else. It is meant
// for a loopback or private address (BULWARK_ADMIN_ADDR); the public
// listener answers 404 for /metrics (OWASP ASVS 5.0 13.4.5).
func AdminHandler(metrics http.Handler, ready func(context.Context) []string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		encode(w, http.StatusOK, statusJSON{Status: "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if failing := ready(r.Context()); len(failing) > 0 {
			w.Header().Set("Retry-After", "5")
			encode(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "failing": failing})
			return
		}
		encode(w, http.StatusOK, statusJSON{Status: "ready"})
	})
	return mux
}
