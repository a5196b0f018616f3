package app

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/auth"
	"github.com/palisade-project/palisade/internal/store"
)

func newTokenCmd(e *env) *cobra.Command {
	var database string
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage API tokens in the server's database",
	}
	cmd.PersistentFlags().StringVar(&database, "database", "", "SQLite file or postgres:// URL (default: the local SQLite file)")

	var role string
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a token and print its secret once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := auth.ParseRole(role)
			if err != nil {
				return usageError("%v", err)
			}
			if err := auth.ValidateName(args[0]); err != nil {
				return usageError("%v", err)
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
			if err := st.PutToken(cmd.Context(), store.Token{Name: args[0], Role: string(r), Hash: hash, CreatedAt: time.Now().UTC()}); err != nil {
				return err
			}
			_, err = fmt.Fprintln(e.stdout, secret)
			return err
		},
	}
	create.Flags().StringVar(&role, "role", "viewer", "admin, analyst, viewer, or agent (node agents: sends observations, reads nothing)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List token names and roles",
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
				fmt.Fprintf(e.stdout, "%s\t%s\t%s\n", t.Name, t.Role, t.CreatedAt.Format(time.RFC3339))
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

func tokenExists(ctx context.Context, st store.Store, name string) (bool, error) {
	ts, err := st.Tokens(ctx)
	if err != nil {
		return false, fmt.Errorf("reading API tokens: %w", err)
	}
	return slices.ContainsFunc(ts, func(t store.Token) bool { return t.Name == name }), nil
}
