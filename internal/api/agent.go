package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/palisade-project/palisade/internal/auth"
	"github.com/palisade-project/palisade/internal/observation"
)

// Observations receives node agents' reports. The server's observation
// pipeline implements it.
type Observations interface {
	// Put records a validated report. An error wrapping
	// observation.ErrTooManyNodes refuses it.
	Put(ctx context.Context, r observation.Report) error
}

// maxAgentReports bounds the agent reports decoded at once: each may take
// tens of megabytes.
const maxAgentReports = 4

// maxAgentBodyBytes caps a report as sent (usually gzip-compressed); the
// decompressed JSON is capped at observation.MaxReportSize.
const maxAgentBodyBytes = 16 << 20

type agentReportResponse struct {
	Processes int `json:"processes"`
	Flows     int `json:"flows"`
}

// agentReport accepts one agent report: JSON, optionally gzip-compressed
// (Content-Encoding: gzip), bounded before and after decompression.
func (s *Server) agentReport(w http.ResponseWriter, r *http.Request) error {
	select {
	case s.agentSlots <- struct{}{}:
		defer func() { <-s.agentSlots }()
	default:
		return errorf(http.StatusTooManyRequests, codeTooManyRequests, "the server is busy with other agents' reports: retry later")
	}
	if s.opts.Observations == nil {
		return errorf(http.StatusNotImplemented, codeNotImplemented, "this server does not take agent reports")
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return errorf(http.StatusUnsupportedMediaType, codeUnsupportedMediaType, "send the report as JSON with the header Content-Type: application/json")
	}
	if r.ContentLength > maxAgentBodyBytes {
		return errorf(http.StatusRequestEntityTooLarge, codeBodyTooLarge, "report is larger than %d bytes", maxAgentBodyBytes)
	}
	body, closeBody, err := decodedBody(w, r, maxAgentBodyBytes, "report")
	if err != nil {
		return err
	}
	defer closeBody()
	limited := &io.LimitedReader{R: body, N: observation.MaxReportSize + 1}
	var rep observation.Report
	dec := json.NewDecoder(limited)
	err = dec.Decode(&rep)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return errorf(http.StatusRequestEntityTooLarge, codeBodyTooLarge, "report is larger than %d bytes", maxAgentBodyBytes)
	case limited.N <= 0:
		return errorf(http.StatusRequestEntityTooLarge, codeBodyTooLarge, "report decompresses to more than %d bytes", observation.MaxReportSize)
	case err != nil:
		return errorf(http.StatusBadRequest, codeBadRequest, "invalid report: %s", truncate(err.Error(), 256))
	}
	if err := rep.Validate(); err != nil {
		return errorf(http.StatusBadRequest, codeBadRequest, "%s", truncate(err.Error(), 512))
	}
	// Agent credentials speak for one cluster, and for one node of it (a
	// token named after the node, or a service account token bound to a
	// pod on it), so that stolen credentials cannot erase or forge
	// another node's or another cluster's observations. A token named
	// fleet-… serves a whole DaemonSet (one Secret for every node) and
	// may report for any node of its cluster: simpler, and weaker. Admin
	// tokens are bound to nothing.
	if scope := infoFrom(r.Context()).agent; scope != nil {
		if err := scope.Check(rep.Cluster, rep.Node); err != nil {
			hint := ""
			if errors.Is(err, auth.ErrOtherNode) && !strings.HasPrefix(scope.Name, auth.ServiceAccountPrefix) {
				hint = fmt.Sprintf(" (tokens named %s… may report for any node of their cluster)", auth.FleetTokenPrefix)
			}
			return &apiError{status: http.StatusForbidden, code: codeForbidden, message: err.Error() + hint, cause: err}
		}
	}
	if err := s.opts.Observations.Put(r.Context(), rep); err != nil {
		if errors.Is(err, observation.ErrTooManyNodes) {
			return errorf(http.StatusTooManyRequests, codeTooManyRequests, "%s", truncate(err.Error(), 256))
		}
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	return json.NewEncoder(w).Encode(agentReportResponse{Processes: len(rep.Processes), Flows: len(rep.Flows)})
}
