package main

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

func newEnvCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "env",
		Short: "Create and manage environments (one per customer account)",
	}
	cmd.AddCommand(envCreateCmd(), envListCmd(), envShowCmd(), envUpdateCmd(),
		envStatusCmd("disable", gatehouse.EnvironmentDisabled, "Disable an environment: nobody signs in, its endpoints answer 404"),
		envStatusCmd("enable", gatehouse.EnvironmentActive, "Enable a disabled environment"),
		envDeleteCmd())
	return cmd
}

func envCreateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create ID",
		Short: "Create an environment with its first administrator",
		Long: `Create an environment with its first administrator, the BASIC password
policy and a signing key. ID is a lowercase slug (letters, digits, single
hyphens; 2 to 40 characters). The administrator's temporary password is
printed once and must be changed at first sign-in.`,
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, _ := cmd.Flags().GetString("display-name")
			admin, _ := cmd.Flags().GetString("admin-username")
			return withApp(cmd, func(a *app) error {
				created, err := a.svc.CreateEnvironment(cmd.Context(), service.OperatorActor(), service.NewEnvironment{ID: args[0], DisplayName: name, AdminUsername: admin})
				if err != nil {
					return err
				}
				return printOut(cmd, created, func(w io.Writer) {
					fmt.Fprintf(w, "Created environment %s (%s).\n", created.Environment.ID, created.Environment.DisplayName)
					fmt.Fprintf(w, "Administrator: username %q, temporary password %q (must be changed at first sign-in; not shown again).\n",
						created.Admin.Username, created.Admin.TemporaryPassword)
				})
			})
		},
	}
	cmd.Flags().String("display-name", "", "human-readable name (default: the id)")
	cmd.Flags().String("admin-username", service.DefaultAdminUsername, "username of the first administrator")
	storeFlags(cmd, false)
	return cmd
}

func envListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List environments by id",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			limit, _ := cmd.Flags().GetInt("limit")
			after, _ := cmd.Flags().GetString("after")
			if limit < 1 || limit > service.MaxPageSize {
				return usageError{fmt.Errorf("--limit must be between 1 and %d", service.MaxPageSize)}
			}
			return withApp(cmd, func(a *app) error {
				page, err := a.svc.ListEnvironments(cmd.Context(), after, limit)
				if err != nil {
					return err
				}
				return printOut(cmd, page, func(w io.Writer) {
					printEnvironments(w, page.Items...)
					if page.NextCursor != "" {
						fmt.Fprintf(w, "More: --after %s\n", page.NextCursor)
					}
				})
			})
		},
	}
	cmd.Flags().Int("limit", 100, "most environments to list")
	cmd.Flags().String("after", "", "list environments whose id sorts after this one (the nextCursor of a previous page)")
	storeFlags(cmd, false)
	return cmd
}

func printEnvironments(w io.Writer, envs ...*gatehouse.Environment) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tDISPLAY NAME\tSTATUS\tCREATED")
	for _, e := range envs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.ID, e.DisplayName, e.Status, e.CreatedOn.Format(time.RFC3339))
	}
	tw.Flush()
}

func envShowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one environment",
		Args:  exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withApp(cmd, func(a *app) error {
				env, err := a.svc.GetEnvironment(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				return printOut(cmd, env, func(w io.Writer) { printEnvironments(w, env) })
			})
		},
	}
	storeFlags(cmd, false)
	return cmd
}

func envUpdateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "update ID --display-name NAME",
		Short: "Change an environment's display name",
		Args:  exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("display-name") {
				return usageError{errors.New("nothing to change: give --display-name")}
			}
			name, _ := cmd.Flags().GetString("display-name")
			return withApp(cmd, func(a *app) error {
				env, err := a.svc.UpdateEnvironment(cmd.Context(), service.OperatorActor(), args[0], service.EnvironmentChange{DisplayName: &name})
				if err != nil {
					return err
				}
				return printOut(cmd, env, func(w io.Writer) { printEnvironments(w, env) })
			})
		},
	}
	cmd.Flags().String("display-name", "", "new human-readable name")
	storeFlags(cmd, false)
	return cmd
}

func envStatusCmd(verb, status, short string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   verb + " ID",
		Short: short,
		Args:  exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withApp(cmd, func(a *app) error {
				env, err := a.svc.UpdateEnvironment(cmd.Context(), service.OperatorActor(), args[0], service.EnvironmentChange{Status: &status})
				if err != nil {
					return err
				}
				return printOut(cmd, env, func(w io.Writer) { printEnvironments(w, env) })
			})
		},
	}
	storeFlags(cmd, false)
	return cmd
}

func envDeleteCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete ID --yes",
		Short: "Delete an environment and everything in it, for good",
		Args:  exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if yes, _ := cmd.Flags().GetBool("yes"); !yes {
				return usageError{fmt.Errorf("deleting %s removes all its users, applications and keys for good: add --yes to confirm", args[0])}
			}
			return withApp(cmd, func(a *app) error {
				if err := a.svc.DeleteEnvironment(cmd.Context(), service.OperatorActor(), args[0]); err != nil {
					return err
				}
				return printOut(cmd, map[string]any{"id": args[0], "deleted": true}, func(w io.Writer) {
					fmt.Fprintf(w, "Deleted environment %s.\n", args[0])
				})
			})
		},
	}
	cmd.Flags().Bool("yes", false, "confirm the deletion")
	storeFlags(cmd, false)
	return cmd
}
