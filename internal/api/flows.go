package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/palisade-project/palisade/internal/flows"
)

// FlowStore takes imported traffic. The server's flow keeper implements
// it.
type FlowStore interface {
	// AddFlows stores recs under source, in one transaction, and makes
	// them part of the answers.
	AddFlows(ctx context.Context, source string, recs []flows.Record) error
}

// Bounds of a flow log import. The log is parsed as it arrives and only
// its paths are kept, so memory grows with the paths, not the lines.
const (
	// maxFlowBodyBytes caps the log as sent (usually gzip-compressed).
	maxFlowBodyBytes = 256 << 20
	// maxFlowLogBytes caps it decompressed.
	maxFlowLogBytes = 4 << 30
	// maxFlowLines caps its lines.
	maxFlowLines = 50_000_000
	// maxImportPaths caps the paths one import makes.
	maxImportPaths = 500_000
	// flowReadTime is how long reading one import may take (the server's
	// ReadTimeout is shorter); answering may take a minute more.
	flowReadTime = 10 * time.Minute
	// maxFlowErrorsShown bounds the line errors a response lists.
	maxFlowErrorsShown = 100
	maxFlowSourceName  = 200
)

// flowImportResponse is what POST /api/v1/flows answers.
type flowImportResponse struct {
	Source  string `json:"source"`
	Cluster string `json:"cluster"`
	// Flows counts the log's flows stored; Skipped the malformed lines
	// and the flows naming a workload that is not in the inventory.
	Flows   int `json:"flows"`
	Skipped int `json:"skipped"`
	// Records counts the paths the flows make; Outside the flows' ends
	// that are outside addresses.
	Records int       `json:"records"`
	Outside int       `json:"outside"`
	Since   time.Time `json:"since,omitzero"`
	Until   time.Time `json:"until,omitzero"`
	// Errors are the first skipped lines, with why.
	Errors []flows.LineError `json:"errors,omitempty"`
	Notes  []string          `json:"notes,omitempty"`
}

// importFlows takes a flow log (docs/flows.md): JSON Lines or a JSON
// array, optionally gzip-compressed. Addresses are resolved against the
// current inventory; the records are stored in one transaction, so an
// import is stored whole or not at all.
func (s *Server) importFlows(w http.ResponseWriter, r *http.Request) error {
	select {
	case s.flowSlots <- struct{}{}:
		defer func() { <-s.flowSlots }()
	default:
		return errorf(http.StatusTooManyRequests, codeTooManyRequests, "another flow log is being imported: retry when it is done")
	}
	if s.opts.Flows == nil {
		return errorf(http.StatusNotImplemented, codeNotImplemented, "this server does not import flow logs")
	}
	q := r.URL.Query()
	cluster := q.Get("cluster")
	if cluster == "" {
		cluster = s.opts.Cluster
	}
	name := q.Get("name")
	if name == "" {
		name = "api"
	}
	if len(cluster) > 253 || len(name) > maxFlowSourceName || !utf8.ValidString(name) || strings.ContainsFunc(name, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
		return errorf(http.StatusBadRequest, codeBadRequest, "cluster (at most 253 characters) or name (at most %d printable characters) invalid", maxFlowSourceName)
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !slices.Contains([]string{"application/json", "application/x-ndjson", "application/jsonl", "application/jsonlines"}, mt) {
		return errorf(http.StatusUnsupportedMediaType, codeUnsupportedMediaType, "send the flow log with Content-Type application/x-ndjson (JSON Lines) or application/json")
	}
	if r.ContentLength > maxFlowBodyBytes {
		return errorf(http.StatusRequestEntityTooLarge, codeBodyTooLarge, "flow log is larger than %d bytes: compress it (Content-Encoding: gzip) or split it", maxFlowBodyBytes)
	}
	// A large log takes longer to send and to store than the server's
	// read and write timeouts allow.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(flowReadTime))
	_ = rc.SetWriteDeadline(time.Now().Add(flowReadTime + time.Minute))
	body, closeBody, err := decodedBody(w, r, maxFlowBodyBytes, "flow log")
	if err != nil {
		return err
	}
	defer closeBody()

	ix, _ := s.opts.Inventory.Index()
	res := flows.NewResolver(ix, cluster)
	errTooManyPaths := errors.New("too many paths")
	lineErrs, err := flows.ScanLog(body, flows.Limits{MaxLines: maxFlowLines, MaxBytes: maxFlowLogBytes}, func(f flows.LogFlow) error {
		res.Add(f)
		if res.Paths() > maxImportPaths {
			return errTooManyPaths
		}
		return r.Context().Err()
	})
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return errorf(http.StatusRequestEntityTooLarge, codeBodyTooLarge, "flow log is larger than %d bytes as sent: compress it (Content-Encoding: gzip) or split it", maxFlowBodyBytes)
	case errors.Is(err, flows.ErrTooLarge), errors.Is(err, flows.ErrTooManyLines), errors.Is(err, errTooManyPaths):
		return errorf(http.StatusRequestEntityTooLarge, codeBodyTooLarge, "%s; nothing was stored: split the log (at most %d lines, %d GiB and %d paths per import)",
			truncate(err.Error(), 256), maxFlowLines, maxFlowLogBytes>>30, maxImportPaths)
	case errors.Is(err, flows.ErrTooManyErrors), errors.Is(err, flows.ErrSyntax):
		return errorf(http.StatusBadRequest, codeBadRequest, "%s; nothing was stored; first errors: %s", truncate(err.Error(), 256), firstLineErrors(lineErrs, 5))
	case err != nil && r.Context().Err() != nil:
		return err
	case err != nil:
		return errorf(http.StatusBadRequest, codeBadRequest, "reading the flow log: %s; nothing was stored", truncate(err.Error(), 256))
	}
	set := res.Set()
	source := flows.LogSource(name)
	if len(set.Records) > 0 {
		if err := s.opts.Flows.AddFlows(r.Context(), source, set.Records); err != nil {
			return unavailable("the flow log could not be stored", err)
		}
	}
	resp := flowImportResponse{Source: source, Cluster: cluster, Flows: res.Flows, Skipped: len(lineErrs) + res.Skipped,
		Records: len(set.Records), Outside: res.Outside, Since: set.Since, Until: set.Until}
	all := append(lineErrs, res.Errors...)
	slices.SortFunc(all, func(a, b flows.LineError) int { return a.Line - b.Line })
	resp.Errors = all[:min(len(all), maxFlowErrorsShown)]
	if resp.Skipped > len(resp.Errors) {
		resp.Notes = append(resp.Notes, fmt.Sprintf("%d lines skipped, the first %d listed", resp.Skipped, len(resp.Errors)))
	}
	if !slices.Contains(ix.Clusters(), cluster) {
		resp.Notes = append(resp.Notes, fmt.Sprintf("cluster %q has no inventory on this server: every address is an outside endpoint; pass ?cluster= to name the cluster the log was taken in", cluster))
	}
	if res.Flows == 0 {
		resp.Notes = append(resp.Notes, "no flow was stored")
	}
	s.log.Info("flow log imported", "source", source, "cluster", cluster, "flows", res.Flows, "records", len(set.Records), "skipped", resp.Skipped)
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(resp)
}

func firstLineErrors(errs []flows.LineError, n int) string {
	var parts []string
	for _, e := range errs[:min(len(errs), n)] {
		parts = append(parts, truncate(e.Error(), 160))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}
