package api

import (
	"context"
	"net/http"
)

type statusBody struct {
	Status string `json:"status"`
}

// healthz answers while the process runs: it checks nothing else, so that
// an orchestrator restarts the server only when it is wedged.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, statusBody{Status: "ok"})
	return nil
}

// readyz reports whether the server should receive traffic.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := s.opts.Ready(ctx); err != nil {
			return errorf(http.StatusServiceUnavailable, codeNotReady, "not ready: %v", err)
		}
	}
	writeJSON(w, http.StatusOK, statusBody{Status: "ready"})
	return nil
}
