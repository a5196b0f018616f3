package app

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/answer"
)

func newReportCmd(e *env) *cobra.Command {
	o := &askOptions{}
	cmd := &cobra.Command{
		Use:   "report",
		Short: "All ten questions at once: a terminal summary, Markdown or JSON",
		Long: `Report answers every question for the inventory (or one cluster, namespace or
environment) and prints each in brief: a state, one line, a few highlights and
the notes to read. Questions this build cannot answer yet say so.

Where the report comes from:
  --manifests PATH   offline, from files, directories or - (stdin); repeatable
  --server URL       from a running palisade server (GET /api/v1/report; token from --token or PALISADE_TOKEN)
  (neither)          from the local database written by "palisade server"`,
		Example: `  palisade report --manifests ./deploy/
  palisade report --server https://palisade.internal:8443 --environment production -o markdown > report.md
  palisade report --cluster prod-eu -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runReport(cmd, e, o)
		},
	}
	addSourceFlags(cmd, o)
	cmd.Flags().StringVarP(&o.output, "output", "o", answer.ReportText, "output format: "+strings.Join(answer.ReportFormats, ", "))
	return cmd
}

func runReport(cmd *cobra.Command, e *env, o *askOptions) error {
	ctx := cmd.Context()
	if !slices.Contains(answer.ReportFormats, o.output) {
		return usageError("output format %q: want %s", o.output, strings.Join(answer.ReportFormats, ", "))
	}
	if err := o.prepare(cmd); err != nil {
		return err
	}
	filter := answer.Filter{Cluster: o.cluster, Namespace: o.namespace, Environment: o.env}
	var r *answer.Report
	if o.server != "" {
		if err := clientAnalysis(cmd, e, o); err != nil {
			return err
		}
		body, err := fetchServer(ctx, e, o, filter, "report")
		if err != nil {
			return err
		}
		if r, err = answer.DecodeReport(body); err != nil {
			return err
		}
	} else {
		eng, err := answer.NewEngine(engineConfig(o.analysis))
		if err != nil {
			return usageError("%v", err)
		}
		ix, err := loadLocal(ctx, e, o)
		if err != nil {
			return err
		}
		if r, err = eng.Report(ix, filter); err != nil {
			return err
		}
	}
	return answer.WriteReport(e.stdout, r, o.output)
}
