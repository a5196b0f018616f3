package app

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/lab"
)

func newLabCmd(e *env) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "A local Kubernetes control plane with simulated nodes, for trying Palisade without a cluster",
		Long: `lab runs etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
kwok (simulated nodes that "run" pods) in the background on loopback, built
from the Go module proxy (the first "up" builds them, about 10 minutes; they
are cached under ~/.cache/palisade). No Docker needed.`,
	}
	cmd.PersistentFlags().StringVar(&dir, "dir", "", "lab directory (default ~/.cache/palisade/lab)")

	var nodes int
	up := &cobra.Command{
		Use:   "up [ENVIRONMENT_DIR | -]",
		Short: "Start the lab and apply an environment (default: the built-in example; - for none)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env := ""
			if len(args) == 1 {
				env = args[0]
			}
			info, err := lab.Up(cmd.Context(), lab.Options{Dir: dir, Environment: env, Nodes: nodes, Logger: e.log})
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(e.stdout, "\n"+info.Instructions())
			return err
		},
	}
	up.Flags().IntVar(&nodes, "nodes", 3, "simulated nodes to create")

	var purge bool
	down := &cobra.Command{
		Use:   "down",
		Short: "Stop the lab (keeps its data unless --purge)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if purge {
				return lab.Purge(cmd.Context(), dir)
			}
			return lab.Down(cmd.Context(), dir)
		},
	}
	down.Flags().BoolVar(&purge, "purge", false, "also delete the lab's data")

	status := &cobra.Command{
		Use:   "status",
		Short: "Show what runs in the lab",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := lab.Status(cmd.Context(), dir)
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(e.stdout, st.String())
			return err
		},
	}
	cmd.AddCommand(up, down, status)
	return cmd
}
