package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/palisade-project/palisade/internal/answer"
	"github.com/palisade-project/palisade/internal/config"
	"github.com/palisade-project/palisade/internal/demo"
	"github.com/palisade-project/palisade/internal/environment"
	"github.com/palisade-project/palisade/internal/flows"
	"github.com/palisade-project/palisade/internal/imagescan"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/manifest"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/risk"
	"github.com/palisade-project/palisade/internal/serverclient"
)

type askOptions struct {
	manifests  []string
	server     string
	token      string
	caFile     string
	database   string
	cluster    string
	namespace  string
	cve        string
	env        string
	explain    string
	output     string
	configFile string
	maxFileMB  int64
	analysis   config.Analysis
	// flowLog is a flow log (docs/flows.md) to answer with, offline.
	flowLog string
}

func newAskCmd(e *env) *cobra.Command {
	o := &askOptions{}
	names := make([]string, len(answer.Questions))
	for i, q := range answer.Questions {
		names[i] = fmt.Sprintf("  %-14s %s", q.Name, q.Title)
	}
	cmd := &cobra.Command{
		Use:   "ask QUESTION",
		Short: "Answer one question, offline from manifests, from a server, or from the local database",
		Long: "Questions:\n" + strings.Join(names, "\n") + `

"palisade ask reachable --from A --to B --port PORT" says whether the
NetworkPolicies allow one connection, and which policies decide it.

Where the answer comes from:
  --manifests PATH   offline, from files, directories or - (stdin); repeatable
  --server URL       from a running palisade server (token from --token or PALISADE_TOKEN)
  (neither)          from the local database written by "palisade server"`,
		Example: `  palisade ask privileged --manifests ./deploy/
  kubectl get all,ingress,networkpolicy -A -o yaml | palisade ask exposed --manifests -
  palisade ask image-sources --manifests k8s/ --trusted-registry ghcr.io/acme -o json
  palisade ask owners --server https://palisade.internal:8443`,
		Args: cobra.ExactArgs(1),
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			out := make([]string, len(answer.Questions))
			for i, q := range answer.Questions {
				out[i] = q.Name
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAsk(cmd, e, o, args[0])
		},
	}
	addSourceFlags(cmd, o)
	f := cmd.Flags()
	f.StringVar(&o.cve, "cve", "", "vulnerable: only this flaw, by id or alias (CVE-…, GHSA-…, GO-…)")
	f.StringVar(&o.explain, "explain", "", "priorities: explain one workload's score, named KIND/NAMESPACE/NAME or NAMESPACE/NAME")
	f.StringVarP(&o.output, "output", "o", "table", "output format: table, json or yaml")
	cmd.AddCommand(newReachableCmd(e))
	return cmd
}

// addSourceFlags binds the flags that say where answers come from, what
// they are narrowed to and how the analyses are configured: those of
// "palisade ask" and "palisade report".
func addSourceFlags(cmd *cobra.Command, o *askOptions) {
	f := cmd.Flags()
	f.StringArrayVar(&o.manifests, "manifests", nil, "manifest file, directory, or - for stdin (repeatable)")
	f.StringVar(&o.server, "server", "", "URL of a palisade server to ask")
	f.StringVar(&o.token, "token", "", "API token for --server (default $PALISADE_TOKEN)")
	f.StringVar(&o.caFile, "ca-file", "", "CA certificate to verify an HTTPS --server")
	f.StringVar(&o.database, "database", "", "database to read when neither --manifests nor --server is given (default: the local SQLite file)")
	f.StringVar(&o.cluster, "cluster", "", "only this cluster")
	f.StringVarP(&o.namespace, "namespace", "n", "", "only this namespace")
	f.StringVar(&o.env, "environment", "", "only workloads of this environment (production, or an environment label's value such as staging)")
	f.StringVar(&o.configFile, "config", "", "config file (trustedRegistries, ownerKeys)")
	f.Int64Var(&o.maxFileMB, "max-file-mb", 64, "largest manifest file or stdin to read, in MiB")
	f.StringVar(&o.flowLog, "flows", "", "flow log of the traffic used (docs/flows.md), for unused-paths and policy suggestions; offline only")
	addAnalysisFlags(cmd, &o.analysis)
}

// addAnalysisFlags binds the flags that configure the analyses.
func addAnalysisFlags(cmd *cobra.Command, a *config.Analysis) {
	f := cmd.Flags()
	f.StringArrayVar(&a.TrustedRegistries, "trusted-registry", nil, "trusted registry host or host/repository prefix, e.g. ghcr.io/acme (repeatable)")
	f.StringArrayVar(&a.OwnerKeys, "owner-key", nil, "label or annotation key naming a workload's team, in resolution order (repeatable; default team, owner, app.kubernetes.io/team)")
}

// mergeAnalysis applies a config file under the flags that were set.
func mergeAnalysis(cmd *cobra.Command, file config.Analysis, flags *config.Analysis) {
	if !cmd.Flags().Changed("trusted-registry") {
		flags.TrustedRegistries = file.TrustedRegistries
	}
	if !cmd.Flags().Changed("owner-key") {
		flags.OwnerKeys = file.OwnerKeys
	}
	flags.Production, flags.Risk, flags.CriticalityKeys = file.Production, file.Risk, file.CriticalityKeys
}

// clientAnalysis refuses analysis flags on a client asking a server, and
// says that the config file's analysis settings do not apply there: the
// server computes the answers with its own.
func clientAnalysis(cmd *cobra.Command, e *env, o *askOptions) error {
	if cmd.Flags().Changed("trusted-registry") || cmd.Flags().Changed("owner-key") {
		return usageError("--trusted-registry and --owner-key configure the server, not a client asking it")
	}
	if o.flowLog != "" {
		return usageError("--flows works offline (with --manifests or the local database): the server answers from its own traffic; import the log into it with \"palisade flows import\"")
	}
	a := o.analysis
	if o.configFile != "" && (a.TrustedRegistries != nil || a.OwnerKeys != nil || !reflect.DeepEqual(a.Production, environment.Definition{}) ||
		!reflect.DeepEqual(a.Risk, risk.Weights{}) || a.CriticalityKeys != nil) {
		fmt.Fprintf(e.stderr, "note: the analysis settings of %s are not used with --server: the server answers with its own configuration\n", o.configFile)
	}
	return nil
}

// engineConfig is the answer engine's configuration from the analysis
// settings.
func engineConfig(a config.Analysis) answer.Config {
	return answer.Config{
		TrustedRegistries: a.TrustedRegistries,
		OwnerKeys:         a.OwnerKeys,
		ClusterNotes:      map[string]string{demo.Cluster: demo.Notice},
		Production:        a.Production,
		Risk:              a.Risk,
		CriticalityKeys:   a.CriticalityKeys,
	}
}

// prepare checks the options every ask, reachable and report share and
// merges the analysis settings of --config into them.
func (o *askOptions) prepare(cmd *cobra.Command) error {
	if o.maxFileMB <= 0 {
		return usageError("--max-file-mb must be positive")
	}
	if len(o.manifests) > 0 && o.server != "" {
		return usageError("--manifests and --server exclude each other")
	}
	if o.configFile != "" {
		var file config.Server
		if err := config.LoadFile(o.configFile, &file); err != nil {
			return err
		}
		mergeAnalysis(cmd, file.Analysis, &o.analysis)
	}
	return nil
}

func runAsk(cmd *cobra.Command, e *env, o *askOptions, question string) error {
	ctx := cmd.Context()
	if _, err := answer.Lookup(question); err != nil {
		return usageError("%v", err)
	}
	switch o.output {
	case "table", "json", "yaml":
	default:
		return usageError("output format %q: want table, json or yaml", o.output)
	}
	if err := o.prepare(cmd); err != nil {
		return err
	}
	if o.cve != "" && question != answer.Vulnerable {
		return usageError("--cve applies to the %s question only", answer.Vulnerable)
	}
	if o.explain != "" && question != answer.Priorities {
		return usageError("--explain applies to the %s question only", answer.Priorities)
	}
	filter := answer.Filter{Cluster: o.cluster, Namespace: o.namespace, CVE: o.cve, Environment: o.env}
	var (
		result any
		err    error
	)
	if o.server != "" {
		if err := clientAnalysis(cmd, e, o); err != nil {
			return err
		}
		result, err = askServer(ctx, e, o, question, filter)
	} else {
		result, err = askLocal(ctx, e, o, question, filter)
	}
	if err != nil {
		return err
	}
	if o.explain != "" {
		a, err := explained(result, o.explain)
		if err != nil {
			return err
		}
		if o.output != "table" {
			return writeOutput(e.stdout, o.output, a)
		}
		return answer.WriteExplanation(e.stdout, a)
	}
	return writeOutput(e.stdout, o.output, result)
}

// explained picks the assessment of the workload named by ref
// (KIND/NAMESPACE/NAME or NAMESPACE/NAME) from a priorities answer.
func explained(result any, ref string) (risk.Assessment, error) {
	a, ok := result.(*answer.Answer[risk.Assessment])
	if !ok {
		return risk.Assessment{}, fmt.Errorf("--explain: unexpected answer %T", result)
	}
	parts := strings.Split(ref, "/")
	if len(parts) < 2 || len(parts) > 3 {
		return risk.Assessment{}, usageError("--explain %q: want KIND/NAMESPACE/NAME or NAMESPACE/NAME", ref)
	}
	var found []risk.Assessment
	for _, it := range a.Items {
		w := it.Workload
		n := len(parts)
		if w.Namespace == parts[n-2] && w.Name == parts[n-1] && (n == 2 || strings.EqualFold(string(w.Kind), parts[0])) {
			found = append(found, it)
		}
	}
	switch len(found) {
	case 0:
		return risk.Assessment{}, fmt.Errorf("%s is not ranked: no such workload, or it runs no image with known vulnerabilities (see the scan-age and vulnerable answers)", ref)
	case 1:
		return found[0], nil
	}
	names := make([]string, len(found))
	for i, f := range found {
		names[i] = f.Workload.Cluster + ":" + f.Workload.String()
	}
	return risk.Assessment{}, usageError("--explain %q names %d workloads (%s): add the kind, or --cluster", ref, len(found), strings.Join(names, ", "))
}

func askLocal(ctx context.Context, e *env, o *askOptions, question string, filter answer.Filter) (any, error) {
	eng, err := answer.NewEngine(engineConfig(o.analysis))
	if err != nil {
		return nil, usageError("%v", err)
	}
	ix, err := loadLocal(ctx, e, o)
	if err != nil {
		return nil, err
	}
	return eng.Ask(ix, question, filter)
}

// loadLocal reads the inventory of --manifests, or else of the local
// database with its scan results and KEV catalog, and indexes it.
func loadLocal(ctx context.Context, e *env, o *askOptions) (*inventory.Index, error) {
	var snap *model.Snapshot
	var images *imagescan.View
	var stored *flows.Set
	if len(o.manifests) > 0 {
		res, err := manifest.Load(ctx, o.manifests, manifest.Options{Cluster: firstNonEmpty(o.cluster, model.DefaultCluster), Stdin: e.stdin, MaxFileBytes: o.maxFileMB << 20})
		if err != nil {
			return nil, err
		}
		for _, de := range res.Errors {
			fmt.Fprintf(e.stderr, "warning: %v\n", de)
		}
		for _, d := range res.Duplicates {
			fmt.Fprintf(e.stderr, "note: %s\n", d)
		}
		if len(res.Ignored) > 0 {
			fmt.Fprintf(e.stderr, "note: kinds not analysed: %s\n", countList(res.Ignored))
		}
		if res.Snapshot.Len() == 0 {
			if len(res.Errors) > 0 {
				return nil, fmt.Errorf("no Kubernetes objects could be loaded from %s (%d errors above)", strings.Join(o.manifests, ", "), len(res.Errors))
			}
			fmt.Fprintf(e.stderr, "note: %s holds no Kubernetes objects that Palisade analyses (%d files, %d documents read)\n", strings.Join(o.manifests, ", "), res.Files, res.Documents)
		}
		snap = &res.Snapshot
	} else {
		st, err := openStore(ctx, e, o.database, true)
		if err != nil {
			return nil, err
		}
		defer st.Close()
		snap, err = st.Snapshot(ctx, o.cluster)
		if err != nil {
			return nil, fmt.Errorf("reading the inventory: %w", err)
		}
		if snap.Len() == 0 {
			fmt.Fprintln(e.stderr, "note: the database holds no inventory yet; run \"palisade server\" (or \"palisade demo\"), or ask with --manifests or --server")
		}
		if sc, ok := st.(imagescan.Store); ok {
			list, err := imagescan.Load(ctx, sc, func(err error) { fmt.Fprintf(e.stderr, "warning: %v\n", err) })
			if err != nil {
				return nil, err
			}
			var sched imagescan.Scheduler
			if sched.KEV, _, err = storedKEV(ctx, kevStoreOf(st)); err != nil {
				return nil, fmt.Errorf("reading the KEV catalog: %w", err)
			}
			images = imagescan.NewView(list, sched)
		}
		if o.flowLog == "" {
			if stored, err = storedFlows(ctx, st, o.cluster); err != nil {
				return nil, err
			}
		}
	}
	ix := inventory.New(snap).WithImages(images)
	if o.flowLog != "" {
		used, err := readFlowLog(ctx, e, ix, o.flowLog, firstNonEmpty(o.cluster, model.DefaultCluster))
		if err != nil {
			return nil, err
		}
		return ix.WithFlows(used), nil
	}
	return ix.WithFlows(stored), nil
}

func askServer(ctx context.Context, e *env, o *askOptions, question string, filter answer.Filter) (any, error) {
	body, err := fetchServer(ctx, e, o, filter, "questions", question)
	if err != nil {
		return nil, err
	}
	return answer.Decode(question, body)
}

// serverURL parses a --server URL and warns when a token would cross the
// network in plain HTTP.
func serverURL(e *env, server string) (*url.URL, error) {
	base, err := serverclient.ParseURL(server, e.stderr)
	if err != nil {
		return nil, usageError("%v", err)
	}
	return base, nil
}

// serverClient is an HTTP client for a palisade server, trusting caFile's
// certificates when given.
func serverClient(caFile string, timeout time.Duration) (*http.Client, error) {
	return serverclient.New(caFile, timeout)
}

// fetchServer GETs /api/v1/ELEM... with filter from --server and returns
// the body of a 200 response; other responses become errors that show
// the server's message.
func fetchServer(ctx context.Context, e *env, o *askOptions, filter answer.Filter, elem ...string) ([]byte, error) {
	return fetchServerQuery(ctx, e, o, filterQuery(filter), elem...)
}

// filterQuery is a filter as query parameters.
func filterQuery(filter answer.Filter) url.Values {
	q := url.Values{}
	if filter.Cluster != "" {
		q.Set("cluster", filter.Cluster)
	}
	if filter.Namespace != "" {
		q.Set("namespace", filter.Namespace)
	}
	if filter.CVE != "" {
		q.Set("cve", filter.CVE)
	}
	if filter.Environment != "" {
		q.Set("environment", filter.Environment)
	}
	return q
}

// serverError is a response of the server other than 200.
type serverError struct {
	status int
	err    error
}

func (e *serverError) Error() string { return e.err.Error() }
func (e *serverError) Unwrap() error { return e.err }

// fetchServerQuery GETs /api/v1/ELEM...?QUERY from --server, as
// fetchServer does; a response other than 200 is a *serverError.
func fetchServerQuery(ctx context.Context, e *env, o *askOptions, q url.Values, elem ...string) ([]byte, error) {
	token := firstNonEmpty(o.token, e.getenv("PALISADE_TOKEN"))
	if token == "" {
		return nil, usageError("asking a server needs an API token: pass --token or set PALISADE_TOKEN")
	}
	base, err := serverURL(e, o.server)
	if err != nil {
		return nil, err
	}
	u := base.JoinPath(append([]string{"api", "v1"}, elem...)...)
	u.RawQuery = q.Encode()
	client, err := serverClient(o.caFile, 60*time.Second)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("asking %s: %w", base.Redacted(), err)
	}
	defer resp.Body.Close()
	const maxAnswer = 512 << 20
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("reading the answer from %s: %w", base.Redacted(), err)
	}
	if len(body) > maxAnswer {
		return nil, fmt.Errorf("answer from %s is larger than %d bytes", base.Redacted(), maxAnswer)
	}
	if resp.StatusCode != http.StatusOK {
		var apiErr struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		var msg string
		if json.Unmarshal(body, &apiErr) == nil && apiErr.Error.Message != "" {
			msg = apiErr.Error.Message
		} else {
			// Not Palisade's error shape (a proxy, a wrong URL): show a
			// quoted start of it, not megabytes of whatever it is.
			const show = 300
			msg = strings.TrimSpace(string(body[:min(len(body), show)]))
			msg = strconv.Quote(msg)
			if len(body) > show {
				msg += "…"
			}
		}
		if resp.StatusCode == http.StatusUnauthorized {
			msg += " (check --token or PALISADE_TOKEN)"
		}
		return nil, &serverError{status: resp.StatusCode, err: fmt.Errorf("server %s answered %s: %s", base.Redacted(), resp.Status, msg)}
	}
	return body, nil
}

func writeOutput(w io.Writer, format string, v any) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return answer.WriteTable(w, v)
}

// countList renders counts by name, sorted: "ConfigMap=2, Secret=1".
func countList(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
