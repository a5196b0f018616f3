package app

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/config"
	"github.com/palisade-project/palisade/internal/flows"
	"github.com/palisade-project/palisade/internal/observation"
	"github.com/palisade-project/palisade/internal/safetext"
	"github.com/palisade-project/palisade/internal/state"
	"github.com/palisade-project/palisade/internal/store"
)

// Bounds of the server's used traffic.
const (
	// flowFlushEvery is how often the agents' flows are stored.
	flowFlushEvery = 30 * time.Second
	// flowReloadEvery is how often the window is read again from the
	// store (dropping what aged out, adding other servers' writes) and
	// old traffic pruned.
	flowReloadEvery = time.Hour
	// maxPendingFlows bounds the agents' paths waiting to be stored; more
	// are dropped (and counted in the log) until the store takes them.
	maxPendingFlows = 100_000
	// maxWindowFlows bounds the paths of the window kept in memory and
	// published; over it the most recently seen are kept and the set is
	// marked truncated.
	maxWindowFlows = 500_000
)

// flowKeeper keeps the traffic known to have been used: it merges the
// node agents' flows (every flowFlushEvery) and imported flow logs (at
// once) into the store, and publishes the window as the index's flows
// overlay. A restarted server loads the window from the store.
type flowKeeper struct {
	st        store.Flows
	publish   func(*flows.Set)
	log       *slog.Logger
	window    time.Duration
	retention time.Duration
	now       func() time.Time
	maxPaths  int

	// pendMu guards the agents' flows not yet merged: observe never
	// waits for the store.
	pendMu  sync.Mutex
	pending flows.Aggregator
	dropped int

	// mu orders store writes, reloads and the window in memory.
	mu        sync.Mutex
	paths     map[flows.Key]flows.Record
	sources   []string
	truncated bool
	// unstored are agents' paths merged into the window whose store
	// write failed; they are written again at the next flush.
	unstored []flows.Record
}

func newFlowKeeper(st store.Flows, publish func(*flows.Set), log *slog.Logger, window, retention time.Duration) *flowKeeper {
	return &flowKeeper{st: st, publish: publish, log: log, window: window, retention: retention, now: time.Now,
		maxPaths: maxWindowFlows, paths: map[flows.Key]flows.Record{}}
}

// observe takes the flows of one agent report (activity.Options.Flows).
func (k *flowKeeper) observe(obs []observation.FlowRecord) {
	recs := flows.FromObservations(obs)
	k.pendMu.Lock()
	defer k.pendMu.Unlock()
	if k.pending.Len()+len(recs) > maxPendingFlows {
		k.dropped += len(recs)
		return
	}
	for _, r := range recs {
		k.pending.Add(r)
	}
}

// AddFlows stores imported records under source and publishes them: the
// import endpoint's api.FlowStore.
func (k *flowKeeper) AddFlows(ctx context.Context, source string, recs []flows.Record) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.st.PutFlows(ctx, source, recs); err != nil {
		return err
	}
	k.mergeLocked(source, recs)
	k.publishLocked()
	return nil
}

// run flushes the agents' flows every flowFlushEvery and reloads and
// prunes every flowReloadEvery, until ctx ends; then it flushes once more.
func (k *flowKeeper) run(ctx context.Context) {
	flush := time.NewTicker(flowFlushEvery)
	defer flush.Stop()
	reload := time.NewTicker(flowReloadEvery)
	defer reload.Stop()
	k.prune(ctx)
	for {
		select {
		case <-ctx.Done():
			last, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			k.flush(last)
			cancel()
			return
		case <-flush.C:
			k.flush(ctx)
		case <-reload.C:
			k.flush(ctx)
			k.prune(ctx)
			if err := k.load(ctx); err != nil && ctx.Err() == nil {
				k.log.Warn("used traffic not reloaded from the database; serving it from memory", "err", err)
			}
		}
	}
}

// flush merges the agents' pending flows into the window and stores them.
func (k *flowKeeper) flush(ctx context.Context) {
	k.pendMu.Lock()
	recs, dropped := k.pending.Records(), k.dropped
	k.pending, k.dropped = flows.Aggregator{}, 0
	k.pendMu.Unlock()
	if dropped > 0 {
		k.log.Warn("agents' flows dropped: too many paths waiting for the database", "flows", dropped, "limit", maxPendingFlows)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(recs) > 0 {
		k.mergeLocked(flows.SourceAgents, recs)
		k.publishLocked()
		k.unstored = flows.Aggregate(append(k.unstored, recs...))
	}
	if len(k.unstored) == 0 {
		return
	}
	if err := k.st.PutFlows(ctx, flows.SourceAgents, k.unstored); err != nil {
		if len(k.unstored) > maxPendingFlows {
			// Keep the most recently seen.
			slices.SortFunc(k.unstored, func(a, b flows.Record) int { return b.LastSeen.Compare(a.LastSeen) })
			k.log.Warn("agents' flows dropped: the database is unavailable", "flows", len(k.unstored)-maxPendingFlows)
			k.unstored = k.unstored[:maxPendingFlows]
		}
		k.log.Warn("agents' flows not stored; retrying", "paths", len(k.unstored), "err", err)
		return
	}
	k.unstored = nil
}

// prune deletes traffic older than the retention.
func (k *flowKeeper) prune(ctx context.Context) {
	n, err := k.st.PruneFlows(ctx, k.now().Add(-k.retention))
	switch {
	case err != nil:
		k.log.Warn("old traffic not pruned", "err", err)
	case n > 0:
		k.log.Info("old traffic pruned", "rows", n, "retention", k.retention)
	}
}

// load reads the window from the store and publishes it. While agents'
// flows wait to be stored, memory holds more than the store and is kept.
func (k *flowKeeper) load(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.unstored) > 0 {
		return nil
	}
	set, err := k.st.FlowRecords(ctx, store.FlowQuery{Since: k.now().Add(-k.window), Limit: k.maxPaths})
	if err != nil {
		return err
	}
	k.paths = make(map[flows.Key]flows.Record, len(set.Records))
	for _, r := range set.Records {
		k.paths[r.Key()] = r
	}
	k.sources, k.truncated = set.Sources, set.Truncated
	k.publishLocked()
	return nil
}

func (k *flowKeeper) mergeLocked(source string, recs []flows.Record) {
	if !slices.Contains(k.sources, source) {
		k.sources = append(k.sources, source)
		slices.Sort(k.sources)
	}
	for _, r := range recs {
		key := r.Key()
		if p, ok := k.paths[key]; ok {
			p.Merge(r)
			k.paths[key] = p
			continue
		}
		if len(k.paths) >= k.maxPaths {
			k.truncated = true
			continue
		}
		k.paths[key] = r
	}
}

func (k *flowKeeper) publishLocked() {
	recs := make([]flows.Record, 0, len(k.paths))
	for _, r := range k.paths {
		recs = append(recs, r)
	}
	k.publish(windowSet(recs, k.sources, k.truncated, k.now(), k.window))
}

// windowSet is the used traffic of the window ending at now, nil when
// none is known: the records last seen in it, sorted, with the window
// starting at the earliest sighting when that is later (a server that has
// watched for an hour does not claim a week).
func windowSet(recs []flows.Record, sources []string, truncated bool, now time.Time, window time.Duration) *flows.Set {
	since := now.Add(-window)
	set := &flows.Set{Until: now, Sources: slices.Clone(sources), Truncated: truncated, Since: now}
	for _, r := range recs {
		if r.LastSeen.Before(since) {
			continue
		}
		set.Records = append(set.Records, r)
		if r.FirstSeen.Before(set.Since) {
			set.Since = r.FirstSeen
		}
	}
	if len(set.Records) == 0 {
		return nil
	}
	if set.Since.Before(since) {
		set.Since = since
	}
	slices.SortFunc(set.Records, flows.CompareRecords)
	return set
}

// startFlows makes the server's flow keeper and loads the stored window.
// It returns the agents' flows' sink, the import endpoint's store and
// the keeper's loop; a store without flows (none today) gives nothing to
// do.
func startFlows(ctx context.Context, e *env, st store.Store, live *state.State, cfg config.Flows) (func([]observation.FlowRecord), api.FlowStore, func(context.Context)) {
	fst, ok := st.(store.Flows)
	if !ok {
		e.log.Warn("this database keeps no traffic: question 9 sees no agent flows and the server imports no flow logs")
		return nil, nil, func(context.Context) {}
	}
	window, retention, _ := cfg.Durations() // validated with the configuration
	k := newFlowKeeper(fst, live.SetFlows, e.log.With("component", "flows"), window, retention)
	if err := k.load(ctx); err != nil {
		k.log.Error("stored traffic not loaded; answers see only new traffic until the next reload", "err", err)
	}
	return k.observe, k, k.run
}

// maxLineErrorsShown bounds the line errors a command prints.
const maxLineErrorsShown = 20

// readFlowLog reads a flow log for one offline answer: resolved against
// ix, its window the span of its times. Line errors are printed as
// warnings.
func readFlowLog(ctx context.Context, e *env, ix flows.Inventory, path, cluster string) (*flows.Set, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading --flows: %w", err)
	}
	defer f.Close()
	res := flows.NewResolver(ix, cluster)
	lineErrs, err := flows.ScanLog(f, flows.Limits{}, func(lf flows.LogFlow) error {
		res.Add(lf)
		return ctx.Err()
	})
	printLineErrors(e, path, append(lineErrs, res.Errors...), len(lineErrs)+res.Skipped)
	if err != nil {
		return nil, fmt.Errorf("reading the flow log %s: %w", path, err)
	}
	set := res.Set()
	set.Sources = []string{flows.LogSource(filepath.Base(path))}
	if res.Flows == 0 {
		fmt.Fprintf(e.stderr, "note: %s holds no flow: the traffic used is unknown\n", path)
		return nil, nil
	}
	return set, nil
}

func printLineErrors(e *env, path string, errs []flows.LineError, total int) {
	slices.SortFunc(errs, func(a, b flows.LineError) int { return a.Line - b.Line })
	for _, le := range errs[:min(len(errs), maxLineErrorsShown)] {
		fmt.Fprintf(e.stderr, "warning: %s: %s\n", path, safetext.OneLine(le.Error()))
	}
	if total > maxLineErrorsShown {
		fmt.Fprintf(e.stderr, "warning: %s: %d lines skipped in all\n", path, total)
	}
}

// storedFlows reads the traffic of the default window from the local
// database, nil when it keeps none.
func storedFlows(ctx context.Context, st store.Store, cluster string) (*flows.Set, error) {
	fs, ok := st.(store.Flows)
	if !ok {
		return nil, nil
	}
	now := time.Now()
	set, err := fs.FlowRecords(ctx, store.FlowQuery{Cluster: cluster, Since: now.Add(-config.DefaultFlowWindow), Limit: maxWindowFlows})
	if err != nil {
		return nil, fmt.Errorf("reading the stored traffic: %w", err)
	}
	return windowSet(set.Records, set.Sources, set.Truncated, now, config.DefaultFlowWindow), nil
}

type flowsImportOptions struct {
	server, token, caFile, cluster, name string
}

func newFlowsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "flows",
		Short: "Manage the traffic used, which question 9 compares with what NetworkPolicies allow",
		Long: `The traffic used comes from node agents and from flow logs (docs/flows.md).
"palisade flows import" stores a flow log in a server; "palisade ask ... --flows FILE"
uses one offline for one answer.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	o := &flowsImportOptions{}
	imp := &cobra.Command{
		Use:   "import FILE",
		Short: "Import a flow log (JSON Lines or a JSON array, docs/flows.md) into a server",
		Long: `Import sends a flow log to a server (POST /api/v1/flows, gzip-compressed), which
resolves its addresses against its inventory and stores it in one transaction:
whole or not at all. Importing a log twice counts its traffic twice. Malformed
lines and flows naming unknown workloads are skipped and listed. FILE - reads
standard input. Needs an analyst or admin token.`,
		Example: `  palisade flows import calls.jsonl --server https://palisade.internal:8443 --cluster prod-eu`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runFlowsImport(cmd.Context(), e, o, args[0])
		},
	}
	f := imp.Flags()
	f.StringVar(&o.server, "server", "", "URL of the palisade server (required)")
	f.StringVar(&o.token, "token", "", "API token, analyst or admin (default $PALISADE_TOKEN)")
	f.StringVar(&o.caFile, "ca-file", "", "CA certificate to verify an HTTPS --server")
	f.StringVar(&o.cluster, "cluster", "", "cluster of the flows that name none (default: the server's)")
	f.StringVar(&o.name, "name", "", "name of the import, its records' source log:NAME (default: the file's name)")
	cmd.AddCommand(imp)
	return cmd
}

// importResponse is the part of POST /api/v1/flows's answer printed.
type importResponse struct {
	Source  string            `json:"source"`
	Cluster string            `json:"cluster"`
	Flows   int               `json:"flows"`
	Skipped int               `json:"skipped"`
	Records int               `json:"records"`
	Outside int               `json:"outside"`
	Errors  []flows.LineError `json:"errors"`
	Notes   []string          `json:"notes"`
}

func runFlowsImport(ctx context.Context, e *env, o *flowsImportOptions, path string) error {
	if o.server == "" {
		return usageError("--server is required: flow logs are imported into a server (offline, use palisade ask --flows)")
	}
	token := firstNonEmpty(o.token, e.getenv("PALISADE_TOKEN"))
	if token == "" {
		return usageError("importing needs an analyst or admin API token: pass --token or set PALISADE_TOKEN")
	}
	base, err := serverURL(e, o.server)
	if err != nil {
		return err
	}
	var in io.Reader = e.stdin
	name := firstNonEmpty(o.name, "stdin")
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("reading the flow log: %w", err)
		}
		defer f.Close()
		in, name = f, firstNonEmpty(o.name, filepath.Base(path))
	}
	u := base.JoinPath("api", "v1", "flows")
	q := url.Values{"name": {name}}
	if o.cluster != "" {
		q.Set("cluster", o.cluster)
	}
	u.RawQuery = q.Encode()
	// The log is compressed as it is sent.
	pr, pw := io.Pipe()
	go func() {
		zw := gzip.NewWriter(pw)
		_, err := io.Copy(zw, in)
		if err == nil {
			err = zw.Close()
		}
		pw.CloseWithError(err)
	}()
	defer pr.Close()
	client, err := serverClient(o.caFile, 30*time.Minute)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), pr)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("importing into %s: %w", base.Redacted(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("reading the answer of %s: %w", base.Redacted(), err)
	}
	if resp.StatusCode != http.StatusOK {
		var apiErr struct {
			Error struct{ Message string } `json:"error"`
		}
		msg := strconv.Quote(string(body[:min(len(body), 300)]))
		if json.Unmarshal(body, &apiErr) == nil && apiErr.Error.Message != "" {
			msg = apiErr.Error.Message
		}
		return fmt.Errorf("server %s answered %s: %s", base.Redacted(), resp.Status, safetext.OneLine(msg))
	}
	var r importResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("reading the answer of %s: %w", base.Redacted(), err)
	}
	printLineErrors(e, name, r.Errors, r.Skipped)
	for _, n := range r.Notes {
		fmt.Fprintf(e.stderr, "note: %s\n", safetext.OneLine(n))
	}
	fmt.Fprintf(e.stdout, "imported %s into cluster %s: %d flows, %d paths (%d outside ends), %d lines skipped; source %s\n",
		safetext.OneLine(name), safetext.OneLine(r.Cluster), r.Flows, r.Records, r.Outside, r.Skipped, safetext.OneLine(r.Source))
	return nil
}
