package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/service"
)

func newKeyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Manage an environment's token signing keys",
	}
	rotate := &cobra.Command{
		Use:   "rotate --env ENV",
		Short: "Make the published next key sign from now on (after a suspected leak)",
		Long: `Make the published next key sign from now on, and publish a new next key.

Keys also rotate by themselves every 30 days (the server checks hourly). The
old key keeps verifying the tokens it signed for 8 days, then retires.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withEnv(cmd, func(a *app, env string) error {
				if _, err := a.svc.RotateSigningKeys(cmd.Context(), service.OperatorActor(), env, true); err != nil {
					return err
				}
				keys, err := a.store.ListSigningKeys(cmd.Context(), env)
				if err != nil {
					return err
				}
				type key struct{ KID, State, Algorithm string }
				var out []key
				for _, k := range keys {
					out = append(out, key{k.KID, k.State, k.Algorithm})
				}
				return printOut(cmd, map[string]any{"environment": env, "keys": out}, func(w io.Writer) {
					fmt.Fprintf(w, "Rotated the signing keys of %s:\n", env)
					for _, k := range out {
						fmt.Fprintf(w, "  %-8s %s %s\n", k.State, k.Algorithm, k.KID)
					}
				})
			})
		},
	}
	envFlag(rotate)
	storeFlags(rotate, false)
	cmd.AddCommand(rotate)
	return cmd
}
