package app

import (
	"encoding/json"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/bench"
	"github.com/palisade-project/palisade/internal/synth"
)

func newBenchCmd(e *env) *cobra.Command {
	spec := synth.Default10k()
	var (
		database, output string
		memoryLimit      string
		requests         int
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure Palisade on a synthetic cluster (default: the 10,000-workload target)",
		Long: `bench generates a synthetic cluster as YAML manifests, loads them, stores them,
answers the four questions, serves them over the HTTP API on loopback and
reports the time of each stage, the API latency per question and the peak
memory, with a PASS/FAIL verdict against the documented targets. It runs
with the memory limit a 10k-workload server is given (--memory-limit 280Mi)
(docs/benchmarks.md). A missed target is reported, not an error, unless
--fail-on-miss is set.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := setMemoryLimit(e, memoryLimit); err != nil {
				return err
			}
			r, err := bench.Run(cmd.Context(), bench.Options{Spec: spec, Database: database, Requests: requests, Out: e.stderr})
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(r); err != nil {
					return err
				}
			} else if err := r.WriteText(e.stdout); err != nil {
				return err
			}
			if failOnMiss, _ := cmd.Flags().GetBool("fail-on-miss"); failOnMiss && !r.Pass {
				return &exitError{code: ExitFinding, err: errTargetsMissed}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&spec.Workloads, "workloads", spec.Workloads, "workloads")
	f.IntVar(&spec.ContainersPerWorkload, "containers", spec.ContainersPerWorkload, "containers per workload")
	f.IntVar(&spec.Services, "services", spec.Services, "Services")
	f.IntVar(&spec.Ingresses, "ingresses", spec.Ingresses, "Ingresses")
	f.IntVar(&spec.NetworkPolicies, "network-policies", spec.NetworkPolicies, "NetworkPolicies")
	f.IntVar(&spec.Namespaces, "namespaces", spec.Namespaces, "namespaces")
	f.Int64Var(&spec.Seed, "seed", spec.Seed, "generator seed")
	f.StringVar(&database, "database", "", "SQLite file to use (default: a temporary file)")
	f.IntVar(&requests, "requests", 200, "API requests per question")
	f.StringVarP(&output, "output", "o", "table", "table or json")
	f.Bool("fail-on-miss", false, "exit 3 when a target is missed")
	f.StringVar(&memoryLimit, "memory-limit", "280Mi", "soft memory limit, as palisade server --memory-limit (\"\" for none)")
	return cmd
}
