package app

import (
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/config"
)

func newDemoCmd(e *env) *cobra.Command {
	o := &serverOptions{demo: true}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the server on the built-in EXAMPLE environment (no cluster needed)",
		Long: `demo starts "palisade server --demo" on its own SQLite database (demo.db): it loads
an example environment written by the Palisade project (a made-up company,
clearly labelled as example data in every answer), prints an API token and
where the answers are, and keeps serving until Ctrl-C.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.cfg.Database == "" {
				// The example lives in its own database, never mixed with
				// a real inventory.
				dir, err := config.DataDir()
				if err != nil {
					return err
				}
				o.cfg.Database = filepath.Join(dir, "demo.db")
			}
			return runServer(cmd.Context(), e, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.cfg.Listen, "listen", "", "address of the HTTP API (default 127.0.0.1:8080)")
	f.StringVar(&o.cfg.Database, "database", "", "SQLite file or postgres:// URL (default: demo.db in the user's data directory)")
	addAnalysisFlags(cmd, &o.cfg.Analysis)
	return cmd
}
