package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// Error codes, the stable part of an error response: clients branch on the
// code, people read the message.
const (
	codeBadRequest           = "bad_request"
	codeMissingToken         = "missing_token"
	codeInvalidToken         = "invalid_token"
	codeForbidden            = "forbidden"
	codeNotFound             = "not_found"
	codeUnknownQuestion      = "unknown_question"
	codeMethodNotAllowed     = "method_not_allowed"
	codeConflict             = "conflict"
	codeBodyTooLarge         = "body_too_large"
	codeUnsupportedMediaType = "unsupported_media_type"
	codeNotImplemented       = "not_implemented"
	codeTooManyRequests      = "too_many_requests"
	codeNotReady             = "not_ready"
	codeUnavailable          = "unavailable"
	codeInternal             = "internal"
)

// apiError is an error with the response it maps to. cause, when set, is
// logged and never sent. retryAfter, when set, is sent as Retry-After.
type apiError struct {
	status     int
	code       string
	message    string
	cause      error
	retryAfter time.Duration
}

func (e *apiError) Error() string {
	if e.cause != nil {
		return e.message + ": " + e.cause.Error()
	}
	return e.message
}

func (e *apiError) Unwrap() error { return e.cause }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// unavailable reports a failing dependency (the token store) without
// showing its error to the caller.
func unavailable(what string, cause error) *apiError {
	return &apiError{status: http.StatusServiceUnavailable, code: codeUnavailable, message: what + "; retry later", cause: cause}
}

// errorBody is the JSON form of every error.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeError sends err as a JSON error response. Errors that are not
// *apiError become a 500 whose cause is only logged.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		switch {
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			ae = &apiError{status: http.StatusServiceUnavailable, code: codeUnavailable, message: "request canceled or timed out", cause: err}
		default:
			ae = &apiError{status: http.StatusInternalServerError, code: codeInternal, message: "internal error; the server log has details", cause: err}
		}
	}
	if ae.cause != nil {
		level := slog.LevelWarn
		if ae.status >= http.StatusInternalServerError && ae.status != http.StatusServiceUnavailable {
			level = slog.LevelError
		}
		s.log.LogAttrs(r.Context(), level, "request failed", slog.String("method", r.Method), slog.String("route", r.Pattern),
			slog.Int("status", ae.status), slog.String("err", ae.cause.Error()))
	}
	if rw, ok := w.(*responseWriter); ok && rw.wroteHeader {
		// Part of a response is out; the error can only be logged.
		return
	}
	if ae.status == http.StatusUnauthorized {
		challenge := `Bearer realm="palisade"`
		if ae.code == codeInvalidToken {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
	}
	if ae.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((ae.retryAfter+time.Second-1)/time.Second)))
	}
	writeErrorBody(w, ae.status, ae.code, ae.message)
}

func writeErrorBody(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, errorBody{Error: errorDetail{Code: code, Message: message}})
}

// writeJSON encodes v and sends it with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own response types reach here; they always encode.
		status = http.StatusInternalServerError
		b, _ = json.Marshal(errorBody{Error: errorDetail{Code: codeInternal, Message: "encoding the response failed"}})
	}
	writeRaw(w, status, append(b, '\n'))
}

// writeRaw sends an encoded JSON body.
func writeRaw(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
