package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// middleware wraps the mux, outermost first: security headers and request id
// (so every answer, a panic's included, has them), panic recovery, client IP,
// access log, CORS, body limit and handler deadline, and the rewriting of the
// mux's own 404 and 405 answers into problem+json.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = newRequestID()
		}
		s.securityHeaders(w.Header())
		w.Header().Set("X-Request-Id", id)
		ctx := context.WithValue(r.Context(), keyRequestID, id)
		ip := clientIP(r, s.opt.TrustedProxies)
		ctx = context.WithValue(ctx, keyClient, auth.Client{
			IP: ip.String(), IPKey: ipKey(ip), UserAgent: r.UserAgent(), RequestID: id,
		})
		cancel := context.CancelFunc(func() {})
		if r.URL.Path != feedPath {
			// The feed streams until its client goes, the server shuts
			// down or a write stalls (revfeed.Hub.Stream).
			ctx, cancel = context.WithTimeout(ctx, s.opt.RequestTimeout)
		}
		defer cancel()
		r = r.WithContext(ctx)
		rw := &responseWriter{ResponseWriter: w, s: s, r: r}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				// The stack goes to the log, never to the client (ASVS 16.5.4).
				s.log.LogAttrs(ctx, slog.LevelError, "panic", slog.String("request_id", id),
					slog.String("error", fmt.Sprint(v)), slog.String("stack", string(debug.Stack())))
				if !rw.wroteHeader {
					s.writeError(rw, r, &auth.Error{Code: auth.CodeInternal, Message: "Internal error."})
				}
			}
			elapsed := time.Since(start)
			s.log.LogAttrs(ctx, slog.LevelInfo, "request", slog.String("request_id", id), slog.String("method", r.Method),
				slog.String("path", r.URL.Path), slog.Int("status", rw.status), slog.String("ip", ip.String()),
				slog.Duration("duration", elapsed))
			// The mux sets r.Pattern in place when a route matched; the
			// pattern, not the path, keeps the label set bounded.
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			s.opt.Metrics.Request(route, rw.status, elapsed)
		}()
		if s.handleCORS(rw, r) {
			return
		}
		r.Body = http.MaxBytesReader(rw, r.Body, maxBody)
		if !bodyTypeAllowed(r) {
			s.writeError(rw, r, errUnsupported())
			return
		}
		next.ServeHTTP(rw, r)
	})
}

// securityHeaders sets the headers of docs/api.md on every response (ASVS 3.4).
// Cache-Control: no-store is on every response too: most carry or concern a
// credential, and none is worth caching (ASVS 14.3.2).
func (s *Server) securityHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	h.Set("Cache-Control", "no-store")
	if !s.opt.Dev {
		h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
	}
}

// handleCORS adds CORS headers for allow-listed origins only (ASVS 3.4.2) and
// answers preflights. It reports whether the request was fully answered.
func (s *Server) handleCORS(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	w.Header().Add("Vary", "Origin")
	allowed := s.cors[origin]
	if allowed {
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Access-Control-Allow-Credentials", "true")
		w.Header().Set("Access-Control-Expose-Headers", "X-Request-Id, Retry-After")
	}
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		if allowed {
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
			w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-CSRF-Token, X-Device-Token, X-Request-Id")
			w.Header().Set("Access-Control-Max-Age", "600")
		}
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	return false
}

// bodyTypeAllowed applies docs/api.md's rule to every /v1 route, including those
// that read no body: a body that is not JSON gets 415. The token endpoints
// also take OAuth's form encoding, and the CSP report endpoint the browsers'
// report types; it checks those itself.
func bodyTypeAllowed(r *http.Request) bool {
	if !strings.HasPrefix(r.URL.Path, "/v1/") || (r.ContentLength == 0 && len(r.TransferEncoding) == 0) || r.URL.Path == "/v1/csp-report" {
		return true
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return false
	}
	switch {
	case mt == "application/json":
		return true
	case mt == "application/x-www-form-urlencoded":
		return r.URL.Path == "/v1/token" || r.URL.Path == "/v1/token/revoke" || r.URL.Path == "/v1/token/introspect"
	}
	return false
}

func validRequestID(id string) bool {
	if len(id) < 1 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// responseWriter records the status and turns the mux's plain-text 404 and
// 405 answers into problem+json.
type responseWriter struct {
	http.ResponseWriter
	s           *Server
	r           *http.Request
	status      int
	wroteHeader bool
	swallow     bool
}

func (w *responseWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	if (code == http.StatusNotFound || code == http.StatusMethodNotAllowed) &&
		strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		w.swallow = true
		e := &auth.Error{Code: auth.CodeNotFound, Message: "No such route."}
		if code == http.StatusMethodNotAllowed {
			e = &auth.Error{Code: codeMethodNotAllowed, Message: "This route does not take that method."}
		}
		w.Header().Del("X-Content-Type-Options")
		w.s.securityHeaders(w.Header())
		w.s.writeProblem(&passthrough{w}, w.r, code, e)
		return
	}
	w.status, w.wroteHeader = code, true
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if w.swallow {
		return len(b), nil
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// passthrough writes to the underlying writer while recording the status.
type passthrough struct{ w *responseWriter }

func (p *passthrough) Header() http.Header { return p.w.Header() }
func (p *passthrough) Write(b []byte) (int, error) {
	return p.w.ResponseWriter.Write(b)
}
func (p *passthrough) WriteHeader(code int) {
	p.w.status, p.w.wroteHeader = code, true
	p.w.ResponseWriter.WriteHeader(code)
}

func clientOf(r *http.Request) auth.Client {
	c, _ := r.Context().Value(keyClient).(auth.Client)
	return c
}
