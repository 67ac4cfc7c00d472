package httpapi

import "net/http"

// routeRecorder registers a route on the server's mux and records its
// pattern.
type routeRecorder struct{ s *Server }

func (m routeRecorder) Handle(pattern string, h http.Handler) {
	m.s.patterns = append(m.s.patterns, pattern)
	m.s.mux.Handle(pattern, h)
}

// Routes returns the pattern of every route the public listener serves, in
// the order registered ("POST /v1/session", "DELETE /v1/sessions/{id}").
func (s *Server) Routes() []string { return append([]string(nil), s.patterns...) }
