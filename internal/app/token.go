package app

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/auth"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

func newTokenCmd(e *env) *cobra.Command {
	var database string
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage API tokens in the server's database",
	}
	cmd.PersistentFlags().StringVar(&database, "database", "", "SQLite file or postgres:// URL (default: the local SQLite file)")

	var role, cluster string
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a token and print its secret once",
		Long: `Create a token and print its secret once.

An agent token (--role agent) reports for one cluster, --cluster, which must
be the name the server gives the cluster (its --cluster, "default" unless
set). Named after a node, it reports for that node only; named fleet-…, for
any node of the cluster (one Secret for a whole DaemonSet: simpler, and
weaker). Agents in a cluster the server watches can instead use their pods'
service account tokens (see palisade agent --service-account-token).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := auth.ParseRole(role)
			if err != nil {
				return usageError("%v", err)
			}
			if err := auth.ValidateName(args[0]); err != nil {
				return usageError("%v", err)
			}
			if r != auth.RoleAgent && cmd.Flags().Changed("cluster") {
				return usageError("--cluster applies only to agent tokens (--role agent)")
			}
			tokenCluster := ""
			if r == auth.RoleAgent {
				if err := auth.ValidateCluster(cluster); err != nil {
					return usageError("--cluster: %v", err)
				}
				tokenCluster = cluster
			}
			st, err := openStore(cmd.Context(), e, database, false)
			if err != nil {
				return err
			}
			defer st.Close()
			if exists, err := tokenExists(cmd.Context(), st, args[0]); err != nil {
				return err
			} else if exists {
				return usageError("a token named %q exists; delete it first (palisade token delete %s)", args[0], args[0])
			}
			secret, hash, err := auth.Generate()
			if err != nil {
				return err
			}
			if err := st.PutToken(cmd.Context(), store.Token{Name: args[0], Role: string(r), Hash: hash, CreatedAt: time.Now().UTC(), Cluster: tokenCluster}); err != nil {
				return err
			}
			if tokenCluster != "" {
				warnUnknownCluster(cmd.Context(), e, st, tokenCluster)
			}
			_, err = fmt.Fprintln(e.stdout, secret)
			return err
		},
	}
	create.Flags().StringVar(&role, "role", "viewer", "admin, analyst, viewer, or agent (node agents: sends observations, reads nothing)")
	create.Flags().StringVar(&cluster, "cluster", model.DefaultCluster, "agent tokens: the cluster the token may report for, as the server names it (its --cluster)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List token names, roles, creation times and agent tokens' clusters",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openStore(cmd.Context(), e, database, true)
			if err != nil {
				return err
			}
			defer st.Close()
			ts, err := st.Tokens(cmd.Context())
			if err != nil {
				return err
			}
			for _, t := range ts {
				cluster := "-"
				switch {
				case t.Role != string(auth.RoleAgent):
				case t.Cluster != "":
					cluster = t.Cluster
				default:
					// Stored before tokens had a cluster.
					cluster = "(the server's cluster)"
				}
				fmt.Fprintf(e.stdout, "%s\t%s\t%s\t%s\n", t.Name, t.Role, t.CreatedAt.Format(time.RFC3339), cluster)
			}
			return nil
		},
	}
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a token",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := openStore(cmd.Context(), e, database, true)
			if err != nil {
				return err
			}
			defer st.Close()
			if exists, err := tokenExists(cmd.Context(), st, args[0]); err != nil {
				return err
			} else if !exists {
				return fmt.Errorf("no token named %q (palisade token list shows them)", args[0])
			}
			return st.DeleteToken(cmd.Context(), args[0])
		},
	}
	hash := &cobra.Command{
		Use:   "hash",
		Short: "Read a token secret on stdin and print its sha256 for the config file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var secret string
			if _, err := fmt.Fscanln(e.stdin, &secret); err != nil {
				return fmt.Errorf("reading the secret from stdin: %w", err)
			}
			_, err := fmt.Fprintln(e.stdout, auth.Hash(secret))
			return err
		},
	}
	cmd.AddCommand(create, list, del, hash)
	return cmd
}

// warnUnknownCluster warns when the database holds an inventory but none
// of cluster: an agent token for it is likely a typo of the server's
// cluster name.
func warnUnknownCluster(ctx context.Context, e *env, st store.Store, cluster string) {
	clusters, err := st.Clusters(ctx)
	if err != nil || len(clusters) == 0 || slices.Contains(clusters, cluster) {
		return
	}
	fmt.Fprintf(e.stderr, "warning: the database holds no inventory of cluster %q (it holds %s); the agent's reports must name the cluster as the server does (its --cluster)\n",
		cluster, strings.Join(clusters, ", "))
}

func tokenExists(ctx context.Context, st store.Store, name string) (bool, error) {
	ts, err := st.Tokens(ctx)
	if err != nil {
		return false, fmt.Errorf("reading API tokens: %w", err)
	}
	return slices.ContainsFunc(ts, func(t store.Token) bool { return t.Name == name }), nil
}
