package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// Codes that only the HTTP layer produces.
const (
	codePayloadTooLarge      = "payload_too_large"
	codeUnsupportedMediaType = "unsupported_media_type"
	codeMethodNotAllowed     = "method_not_allowed"
)

// statusOf maps a stable error code to its HTTP status (docs/api.md, "Errors").
func statusOf(code string) int {
	switch code {
	case auth.CodeInvalidRequest, auth.CodeWeakPassword, auth.CodeAmbiguousCredentials, auth.CodePasskeyRejected:
		return http.StatusBadRequest
	case auth.CodeUnauthenticated, auth.CodeInvalidCredentials, auth.CodeInvalidToken, auth.CodeRefreshTokenReused,
		auth.CodeInvalidCode, auth.CodeReauthRequired:
		return http.StatusUnauthorized
	case auth.CodeCSRFFailed, auth.CodeEmailNotVerified, auth.CodeForbidden:
		return http.StatusForbidden
	case auth.CodeNotFound:
		return http.StatusNotFound
	case codeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case auth.CodeEmailTaken, auth.CodePasskeyExists, auth.CodeMFAAlreadyEnabled:
		return http.StatusConflict
	case codePayloadTooLarge:
		return http.StatusRequestEntityTooLarge
	case codeUnsupportedMediaType:
		return http.StatusUnsupportedMediaType
	case auth.CodeRateLimited, auth.CodeAccountLocked:
		return http.StatusTooManyRequests
	case auth.CodeUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// problem is an RFC 9457 problem document with Bulwark's extension members.
type problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Code      string       `json:"code"`
	Detail    string       `json:"detail"`
	RequestID string       `json:"request_id"`
	Reason    string       `json:"reason,omitempty"`
	Errors    []fieldError `json:"errors,omitempty"`
}

type fieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// writeError answers err as problem+json. Only an *auth.Error's code and
// client message reach the response; the wrapped cause of a 5xx is logged
// with the request id and nothing of it is sent (tsweb's rule: a message for
// the client, an error for the log).
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *auth.Error
	if !errors.As(err, &e) {
		e = &auth.Error{Code: auth.CodeInternal, Message: "Internal error.", Err: err}
	}
	s.writeProblem(w, r, statusOf(e.Code), e)
}

func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, status int, e *auth.Error) {
	ctx := r.Context()
	if status >= 500 {
		msg := "request failed"
		if e.Err != nil {
			msg = e.Err.Error()
		}
		level := slog.LevelError
		if status == http.StatusServiceUnavailable {
			level = slog.LevelWarn
		}
		s.log.LogAttrs(ctx, level, "request_failed", slog.String("request_id", requestID(ctx)), slog.String("code", e.Code), slog.String("error", msg))
	}
	p := problem{
		Type: "about:blank", Title: http.StatusText(status), Status: status, Code: e.Code,
		Detail: e.Message, RequestID: requestID(ctx), Reason: e.Reason,
	}
	if status == http.StatusInternalServerError {
		p.Detail = "An internal error occurred. Quote the request id when reporting it."
	}
	if len(e.Fields) > 0 {
		names := make([]string, 0, len(e.Fields))
		for n := range e.Fields {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			p.Errors = append(p.Errors, fieldError{Field: n, Reason: e.Fields[n]})
		}
	}
	h := w.Header()
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		h.Set("Retry-After", retryAfter(e.RetryAfter))
	}
	if status == http.StatusUnauthorized && e.Code == auth.CodeUnauthenticated && h.Get("WWW-Authenticate") == "" {
		// A route that takes client credentials has set its Basic challenge.
		h.Set("WWW-Authenticate", `Bearer realm="bulwark"`)
	}
	h.Set("Content-Type", "application/problem+json")
	h.Del("Content-Length")
	w.WriteHeader(status)
	_ = jsonEncode(w, p)
}

// retryAfter renders a duration as whole seconds, at least 1 (RFC 9110 §10.2.3).
func retryAfter(d time.Duration) string {
	secs := int64((d + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	return strconv.FormatInt(secs, 10)
}

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyClient
)

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(keyRequestID).(string)
	return id
}

func errUnsupported() *auth.Error {
	return &auth.Error{Code: codeUnsupportedMediaType, Message: "The request body must be application/json."}
}
