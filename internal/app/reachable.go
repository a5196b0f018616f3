package app

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/answer"
)

func newReachableCmd(e *env) *cobra.Command {
	o := &askOptions{}
	q := &answer.ReachableQuery{}
	cmd := &cobra.Command{
		Use:   "reachable --from FROM --to TO --port PORT[/PROTOCOL]",
		Short: "Say whether the NetworkPolicies allow one connection, and which policies and rules decide it",
		Long: `Evaluates the NetworkPolicies of a cluster (Kubernetes semantics: isolation per
direction, pod and namespace selectors, ipBlocks with excepts, named ports,
endPort ranges) for one connection.

FROM and TO are a workload, NAMESPACE/NAME or NAMESPACE/KIND/NAME (NAME alone
with --namespace), an IP address or a CIDR; at least one must be a workload.
An address that a pod holds is that pod's workload. PORT is a number or a
container port name of the destination, with /TCP, /UDP or /SCTP (TCP when
left out).

-o json prints the verdict: "allowed", and per side ("egress" of the source,
"ingress" of the destination) the policies selecting it, the rules that
allow the connection and the reason (docs/output.md).`,
		Example: `  palisade ask reachable --manifests deploy/ --from shop/frontend --to shop/api --port 8080
  palisade ask reachable --manifests deploy/ --from shop/api --to 0.0.0.0/0 --port 443 -o json
  palisade ask reachable --server https://palisade.internal:8443 --cluster prod --from ops/debug --to data/StatefulSet/db --port pg`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runReachable(cmd, e, o, *q)
		},
	}
	addSourceFlags(cmd, o)
	f := cmd.Flags()
	f.StringVar(&q.From, "from", "", "the end that opens the connection: NAMESPACE/NAME, NAMESPACE/KIND/NAME, IP or CIDR")
	f.StringVar(&q.To, "to", "", "the end that accepts it: NAMESPACE/NAME, NAMESPACE/KIND/NAME, IP or CIDR")
	f.StringVar(&q.Port, "port", "", "destination port or container port name, with /TCP, /UDP or /SCTP (default TCP)")
	f.StringVarP(&o.output, "output", "o", "table", "output format: table, json or yaml")
	for _, name := range []string{"from", "to", "port"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

func runReachable(cmd *cobra.Command, e *env, o *askOptions, q answer.ReachableQuery) error {
	ctx := cmd.Context()
	switch o.output {
	case "table", "json", "yaml":
	default:
		return usageError("output format %q: want table, json or yaml", o.output)
	}
	if o.env != "" {
		return usageError("--environment does not apply to reachable: name the two ends with --from and --to")
	}
	if err := o.prepare(cmd); err != nil {
		return err
	}
	q.Cluster = o.cluster
	q.From, q.To = inNamespace(q.From, o.namespace), inNamespace(q.To, o.namespace)
	var (
		r   *answer.Reachability
		err error
	)
	if o.server != "" {
		if err := clientAnalysis(cmd, e, o); err != nil {
			return err
		}
		v := url.Values{"from": {q.From}, "to": {q.To}, "port": {q.Port}}
		if q.Cluster != "" {
			v.Set("cluster", q.Cluster)
		}
		body, ferr := fetchServerQuery(ctx, e, o, v, "reachable")
		var se *serverError
		if errors.As(ferr, &se) && se.status == http.StatusBadRequest {
			return &exitError{code: ExitUsage, err: ferr}
		}
		if ferr != nil {
			return ferr
		}
		r, err = answer.DecodeReachability(body)
	} else {
		var eng *answer.Engine
		eng, err = answer.NewEngine(engineConfig(o.analysis))
		if err != nil {
			return usageError("%v", err)
		}
		ix, lerr := loadLocal(ctx, e, o)
		if lerr != nil {
			return lerr
		}
		r, err = eng.Reachable(ctx, ix, q)
		if errors.Is(err, answer.ErrBadQuery) {
			return usageError("%v", err)
		}
	}
	if err != nil {
		return err
	}
	return writeOutput(e.stdout, o.output, r)
}

// inNamespace qualifies a bare workload name with --namespace; addresses,
// ranges and qualified names are left as they are.
func inNamespace(end, namespace string) string {
	if namespace == "" || end == "" || strings.Contains(end, "/") {
		return end
	}
	if _, err := netip.ParseAddr(end); err == nil {
		return end
	}
	return namespace + "/" + end
}
