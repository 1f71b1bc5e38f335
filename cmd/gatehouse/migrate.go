package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

func newMigrateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending schema migrations to the store and exit",
		Long: `Apply pending schema migrations to the store and exit.

The server and every command migrate on start too; run this on its own to
upgrade a PostgreSQL store before rolling out new nodes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withApp(cmd, func(a *app) error {
				v, err := a.store.SchemaVersion(cmd.Context())
				if err != nil {
					return err
				}
				return printOut(cmd, map[string]any{"schemaVersion": v}, func(w io.Writer) {
					fmt.Fprintf(w, "The store's schema is at version %d.\n", v)
				})
			})
		},
	}
	storeFlags(cmd, false)
	return cmd
}
