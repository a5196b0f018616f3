package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/flows"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/manifest"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/netpol"
	"github.com/palisade-project/palisade/internal/netpolgen"
	"github.com/palisade-project/palisade/internal/safetext"
)

// netpolOptions are the flags of `palisade netpol suggest` and
// `palisade netpol simulate`.
type netpolOptions struct {
	source   askOptions // --manifests, --database, --cluster, --max-file-mb
	flows    string
	policies string
	mode     string
	output   string
	workload string
	maxAddr  int
}

func newNetpolCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "netpol",
		Short: "Suggest least-privilege NetworkPolicies from observed flows, and simulate proposed policies",
		Long: `netpol works offline on an inventory (--manifests, or the local database) and a
flow log (--flows, the JSON Lines format of docs/flows.md):

  suggest    one least-privilege NetworkPolicy per workload, allowing exactly
             the observed traffic, as YAML for kubectl apply
  simulate   which used flows a set of policies would break

See docs/netpol-suggestions.md.`,
	}
	cmd.AddCommand(newNetpolSuggestCmd(e), newNetpolSimulateCmd(e))
	return cmd
}

// addNetpolFlags binds the flags both subcommands share.
func addNetpolFlags(cmd *cobra.Command, o *netpolOptions) {
	f := cmd.Flags()
	f.StringArrayVar(&o.source.manifests, "manifests", nil, "manifest file, directory, or - for stdin (repeatable); without it, the local database")
	f.StringVar(&o.source.database, "database", "", "database to read when --manifests is not given (default: the local SQLite file)")
	f.StringVar(&o.source.cluster, "cluster", "", "the cluster (default: the inventory's only cluster)")
	f.Int64Var(&o.source.maxFileMB, "max-file-mb", 64, "largest manifest file or stdin to read, in MiB")
	f.StringVar(&o.flows, "flows", "", "flow log (JSON Lines or a JSON array, docs/flows.md), or - for stdin")
	f.StringVar(&o.mode, "mode", string(netpolgen.ModeAdd), "how proposed policies meet the cluster's: add (next to them, as kubectl apply; same names replace) or replace (the complete set)")
}

func newNetpolSuggestCmd(e *env) *cobra.Command {
	o := &netpolOptions{}
	cmd := &cobra.Command{
		Use:   "suggest",
		Short: "Print a least-privilege NetworkPolicy per workload, generated from observed flows",
		Long: `suggest generates, for each workload in scope, a NetworkPolicy that isolates its
pods for ingress and egress and allows exactly the traffic of the flow log:
each peer workload on the ports it used, outside addresses as /32 or /128
ipBlocks. The YAML is ready for kubectl apply; comments above each policy say
what it selects and warn about what it would block (DNS not captured,
workloads its selector cannot tell apart, a short window).

It then simulates the policies against the same flows (--mode) and reports on
stderr, or in the "simulation" field of -o json, that they break none.`,
		Example: `  palisade netpol suggest --manifests k8s/ --flows flows.jsonl > policies.yaml
  palisade netpol suggest --manifests k8s/ --flows flows.jsonl -n shop -o json
  palisade netpol suggest --manifests k8s/ --flows flows.jsonl --workload shop/frontend`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runNetpolSuggest(cmd.Context(), e, o)
		},
	}
	addNetpolFlags(cmd, o)
	f := cmd.Flags()
	f.StringVarP(&o.source.namespace, "namespace", "n", "", "only the workloads of this namespace")
	f.StringVar(&o.workload, "workload", "", "only this workload, NAMESPACE/NAME or NAMESPACE/KIND/NAME")
	f.IntVar(&o.maxAddr, "max-addresses", netpolgen.DefaultMaxAddresses, "outside addresses listed one by one per policy direction before they are grouped into one prefix (-1: never group)")
	f.StringVarP(&o.output, "output", "o", "yaml", "output format: yaml (policies for kubectl apply) or json (policies, warnings and simulation)")
	return cmd
}

func newNetpolSimulateCmd(e *env) *cobra.Command {
	o := &netpolOptions{}
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Show which observed flows a set of NetworkPolicies would break",
		Long: `simulate evaluates the NetworkPolicies of --policies against the flows of the
flow log: the flows the cluster's policies allow today and the proposal would
deny (broken), those denied either way, and how many allowed paths between
workloads and to and from outside addresses the proposal closes or opens.

--mode add (the default) applies the proposal next to the cluster's policies,
as kubectl apply would: a proposed policy replaces the cluster's policy of the
same namespace and name. --mode replace takes the proposal as the complete set.

The exit code is 3 when some used flow would be broken, so a pipeline can stop
a policy change that cuts traffic.`,
		Example: `  palisade netpol simulate --manifests k8s/ --flows flows.jsonl --policies new-policies.yaml
  palisade netpol simulate --manifests k8s/ --flows flows.jsonl --policies all.yaml --mode replace -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runNetpolSimulate(cmd.Context(), e, o)
		},
	}
	addNetpolFlags(cmd, o)
	f := cmd.Flags()
	f.StringVar(&o.policies, "policies", "", "the proposed NetworkPolicies: a YAML or JSON file or directory (objects without a namespace are in \"default\")")
	f.StringVarP(&o.source.namespace, "namespace", "n", "", "count only the paths from or to this namespace (flows are checked everywhere)")
	f.StringVarP(&o.output, "output", "o", "table", "output format: table or json")
	return cmd
}

// netpolInputs checks the flags and loads the inventory and the flows.
func netpolInputs(ctx context.Context, e *env, o *netpolOptions) (*inventory.Index, string, *flows.Set, error) {
	switch netpolgen.Mode(o.mode) {
	case netpolgen.ModeAdd, netpolgen.ModeReplace:
	default:
		return nil, "", nil, usageError("--mode %q: want add or replace", o.mode)
	}
	if o.source.maxFileMB <= 0 {
		return nil, "", nil, usageError("--max-file-mb must be positive")
	}
	if o.flows == "-" && (o.policies == "-" || slicesContain(o.source.manifests, "-")) {
		return nil, "", nil, usageError("only one of --flows, --policies and --manifests can read stdin")
	}
	ix, err := loadLocal(ctx, e, &o.source)
	if err != nil {
		return nil, "", nil, err
	}
	cluster, err := netpol.ResolveCluster(ix, o.source.cluster)
	if err != nil {
		return nil, "", nil, usageError("%v (--cluster)", err)
	}
	set, err := netpolFlows(e, o, ix, cluster)
	if err != nil {
		return nil, "", nil, err
	}
	return ix, cluster, set, nil
}

func slicesContain(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// maxShownFlowErrors bounds the flow log problems printed one by one.
const maxShownFlowErrors = 10

// netpolFlows reads --flows and resolves it against the inventory, or
// takes the flows the index carries.
func netpolFlows(e *env, o *netpolOptions, ix *inventory.Index, cluster string) (*flows.Set, error) {
	if o.flows == "" {
		if s := ix.Flows(); s != nil && len(s.Records) > 0 {
			return s, nil
		}
		return nil, usageError("--flows FILE is required: a flow log in the format of docs/flows.md (the inventory carries no observed flows)")
	}
	var r io.Reader = e.stdin
	name := "stdin"
	if o.flows != "-" {
		f, err := os.Open(o.flows)
		if err != nil {
			return nil, fmt.Errorf("reading --flows: %w", err)
		}
		defer f.Close()
		r, name = f, filepath.Base(o.flows)
	}
	log, lineErrs, err := flows.ReadLog(r, flows.Limits{})
	if err != nil {
		return nil, fmt.Errorf("reading the flow log %s: %w", o.flows, err)
	}
	set, skipped := flows.Resolve(ix, cluster, log)
	warnFlowErrors(e, o.flows, "malformed line", lineErrs)
	warnFlowErrors(e, o.flows, "flow naming a workload not in the inventory", skipped)
	if len(log) == 0 {
		return nil, fmt.Errorf("the flow log %s holds no flows", o.flows)
	}
	set.Sources = []string{flows.LogSource(name)}
	return set, nil
}

func warnFlowErrors(e *env, file, what string, errs []flows.LineError) {
	for i, le := range errs {
		if i == maxShownFlowErrors {
			fmt.Fprintf(e.stderr, "warning: %s: %d more of %d skipped\n", file, len(errs)-i, len(errs))
			return
		}
		fmt.Fprintf(e.stderr, "warning: %s: %s skipped: %s\n", file, what, safetext.OneLine(le.Error()))
	}
}

func runNetpolSuggest(ctx context.Context, e *env, o *netpolOptions) error {
	if o.output != "yaml" && o.output != "json" {
		return usageError("output format %q: want yaml or json", o.output)
	}
	if o.workload != "" && o.source.namespace != "" {
		return usageError("--workload and --namespace exclude each other")
	}
	ix, cluster, set, err := netpolInputs(ctx, e, o)
	if err != nil {
		return err
	}
	opts := netpolgen.Options{Cluster: cluster, Namespace: o.source.namespace, MaxAddresses: o.maxAddr}
	if o.maxAddr < 0 {
		opts.MaxAddresses = -1
	} else if o.maxAddr == 0 {
		return usageError("--max-addresses must be positive, or -1 to never group")
	}
	if o.workload != "" {
		eng, err := netpol.New(ctx, ix, netpol.Options{Cluster: cluster, Policies: []*model.NetworkPolicy{}})
		if err != nil {
			return err
		}
		ref, err := eng.FindWorkload(o.workload)
		if err != nil {
			return usageError("--workload: %v", err)
		}
		opts.Workload = &ref
	}
	res, err := netpolgen.Generate(ctx, ix, set, opts)
	if err != nil {
		return err
	}
	sim, err := netpolgen.Simulate(ctx, ix, res.Policies(), set, netpolgen.SimOptions{Cluster: cluster, Mode: netpolgen.Mode(o.mode), Namespace: o.source.namespace})
	if err != nil {
		return fmt.Errorf("simulating the suggestions: %w", err)
	}
	if o.output == "json" {
		return writeOutput(e.stdout, "json", netpolgen.Output{Result: res, Simulation: sim})
	}
	if err := res.WriteYAML(e.stdout); err != nil {
		return err
	}
	warnings := 0
	for _, s := range res.Suggestions {
		warnings += len(s.Warnings)
	}
	fmt.Fprintf(e.stderr, "%d policies from %d flow records (window %s); warnings in the comments: %d\n", len(res.Suggestions), res.Flows, res.Window, warnings)
	fmt.Fprintf(e.stderr, "simulated (%s): %d of %d used flows broken; workload paths %d -> %d, outside paths %d -> %d\n",
		sim.Mode, sim.Flows.Broken, sim.Flows.Checked, sim.Paths.Workloads.Before, sim.Paths.Workloads.After, sim.Paths.Outside.Before, sim.Paths.Outside.After)
	if other := countPolicies(ix, cluster) - len(sim.Replaced); sim.Mode == netpolgen.ModeAdd && other > 0 {
		fmt.Fprintf(e.stderr, "note: the cluster's %d other NetworkPolicies stay and still allow what they allow today (policies add to each other); --mode replace simulates the suggestions as the complete set\n", other)
	}
	return nil
}

func countPolicies(ix *inventory.Index, cluster string) int {
	n := 0
	for _, p := range ix.Snapshot().NetworkPolicies {
		if p.Cluster == cluster {
			n++
		}
	}
	return n
}

// errFlowsBroken is the exit-3 error of simulate.
var errFlowsBroken = errors.New("the proposed policies break used flows")

func runNetpolSimulate(ctx context.Context, e *env, o *netpolOptions) error {
	if o.output != "table" && o.output != "json" {
		return usageError("output format %q: want table or json", o.output)
	}
	if o.policies == "" {
		return usageError("--policies FILE is required: the NetworkPolicies to simulate")
	}
	ix, cluster, set, err := netpolInputs(ctx, e, o)
	if err != nil {
		return err
	}
	proposed, err := netpolProposal(ctx, e, o)
	if err != nil {
		return err
	}
	rep, err := netpolgen.Simulate(ctx, ix, proposed, set, netpolgen.SimOptions{Cluster: cluster, Mode: netpolgen.Mode(o.mode), Namespace: o.source.namespace})
	if err != nil {
		return err
	}
	if o.output == "json" {
		err = writeOutput(e.stdout, "json", rep)
	} else {
		err = writeSimulation(e.stdout, rep, o.policies)
	}
	if err != nil {
		return err
	}
	if rep.Flows.Broken > 0 {
		return &exitError{code: ExitFinding, err: errFlowsBroken}
	}
	return nil
}

// netpolProposal reads the NetworkPolicies of --policies.
func netpolProposal(ctx context.Context, e *env, o *netpolOptions) ([]*model.NetworkPolicy, error) {
	res, err := manifest.Load(ctx, []string{o.policies}, manifest.Options{Cluster: firstNonEmpty(o.source.cluster, model.DefaultCluster), Stdin: e.stdin, MaxFileBytes: o.source.maxFileMB << 20})
	if err != nil {
		return nil, fmt.Errorf("reading --policies: %w", err)
	}
	for _, de := range res.Errors {
		fmt.Fprintf(e.stderr, "warning: %v\n", de)
	}
	if n := res.Snapshot.Len() - len(res.Snapshot.NetworkPolicies); n > 0 {
		fmt.Fprintf(e.stderr, "note: %s: %d objects that are not NetworkPolicies ignored\n", o.policies, n)
	}
	if len(res.Snapshot.NetworkPolicies) == 0 {
		return nil, fmt.Errorf("%s holds no NetworkPolicy (%d errors above)", o.policies, len(res.Errors))
	}
	return res.Snapshot.NetworkPolicies, nil
}

// writeSimulation prints a report for a terminal.
func writeSimulation(w io.Writer, rep *netpolgen.Report, file string) error {
	var b strings.Builder
	how := "added to the cluster's policies (same names replaced)"
	if rep.Mode == netpolgen.ModeReplace {
		how = "replacing all the cluster's policies"
	}
	fmt.Fprintf(&b, "Simulation of %d policies from %s, %s, cluster %s\n", rep.Proposed, safetext.OneLine(file), how, safetext.OneLine(rep.Cluster))
	if len(rep.Replaced) > 0 {
		var names []string
		for _, r := range rep.Replaced {
			names = append(names, r.String())
		}
		fmt.Fprintf(&b, "Replaced: %s\n", safetext.OneLine(strings.Join(names, ", ")))
	}
	f := rep.Flows
	fmt.Fprintf(&b, "Used flows: %d checked: %d allowed, %d broken, %d denied now and after, %d newly allowed\n", f.Checked, f.Allowed, f.Broken, f.Denied, f.Fixed)
	for _, s := range rep.Skipped {
		fmt.Fprintf(&b, "  %d not checked: %s (e.g. %s)\n", s.Count, s.Reason, safetext.OneLine(s.Example))
	}
	if rep.Truncated {
		b.WriteString("  the flows were truncated: a flow missing from them may be broken too\n")
	}
	scope := "in the cluster"
	if rep.Paths.Namespace != "" {
		scope = "from or to namespace " + safetext.OneLine(rep.Paths.Namespace)
	}
	for _, x := range []struct {
		what string
		c    netpolgen.PathCounts
	}{{"Paths between workloads", rep.Paths.Workloads}, {"Paths to and from outside addresses", rep.Paths.Outside}} {
		fmt.Fprintf(&b, "%s %s: %d allowed now, %d after: %d closed, %d narrowed, %d opened, %d widened\n", x.what, scope, x.c.Before, x.c.After, x.c.Closed, x.c.Narrowed, x.c.Opened, x.c.Widened)
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(&b, "Problem: %s\n", safetext.OneLine(p.String()))
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	for _, list := range []struct {
		title string
		flows []netpolgen.FlowResult
	}{{"BROKEN FLOW", rep.Broken}, {"DENIED NOW AND AFTER", rep.Denied}} {
		if len(list.flows) == 0 {
			continue
		}
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "%s\tCOUNT\tWHY\n", list.title)
		for _, fr := range list.flows {
			r := fr.Record
			fmt.Fprintf(tw, "%s\t%d\t%s\n", safetext.OneLine(fmt.Sprintf("%s -> %s %d/%s", r.From, r.To, r.Port, r.Protocol)), r.Count, safetext.OneLine(why(fr.Verdict)))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// why says which side of a verdict denies it.
func why(v netpol.Verdict) string {
	var parts []string
	for _, s := range []netpol.Side{v.Egress, v.Ingress} {
		if !s.Allowed {
			parts = append(parts, s.Reason)
		}
	}
	return strings.Join(parts, "; ")
}
