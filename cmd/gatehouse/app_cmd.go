package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

func newAppCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "app",
		Short: "Register and manage applications (OAuth clients) of an environment",
	}
	cmd.AddCommand(appCreateCmd(), appListCmd(), appGetCmd(), appDeleteCmd(), appRotateSecretCmd())
	return cmd
}

func appCreateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create --env ENV --name NAME --type TYPE",
		Short: "Register an application; a confidential one's secret is printed once",
		Long: `Register an application (an OAuth client) of an environment.

Types: web, spa, native (users sign in through them), service (a machine
client using client_credentials) and api-user (a client of the password
grant). Confidential types (web, service, api-user) get a client secret,
printed once: store it now, it cannot be shown again (see rotate-secret).

Each type has default grant types; --grant-type replaces them. --role gives
an application with the client_credentials grant an administrator role in
its environment (ENVIRONMENT_ADMIN, USER_ADMIN or READ_ONLY), for the
management API.`,
		Example: `  gatehouse app create --env acme --name "Acme shop" --type web --redirect-uri https://shop.acme.example/callback
  gatehouse app create --env acme --name provisioning --type service --role USER_ADMIN --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fs := cmd.Flags()
			var in gatehouse.Application
			in.Name, _ = fs.GetString("name")
			in.Type, _ = fs.GetString("type")
			in.Description, _ = fs.GetString("description")
			in.RedirectURIs, _ = fs.GetStringArray("redirect-uri")
			in.PostLogoutRedirectURIs, _ = fs.GetStringArray("post-logout-redirect-uri")
			in.RefreshTokens, _ = fs.GetBool("refresh-tokens")
			in.AccessTokenSeconds, _ = fs.GetInt("access-token-seconds")
			in.SigningAlgorithm, _ = fs.GetString("signing-algorithm")
			in.Roles, _ = fs.GetStringArray("role")
			if fs.Changed("grant-type") {
				in.GrantTypes, _ = fs.GetStringArray("grant-type")
			}
			switch {
			case in.Name == "":
				return usageError{errors.New("--name is required")}
			case in.Type == "":
				return usageError{errors.New("--type is required: web, spa, native, service or api-user")}
			}
			return withEnv(cmd, func(a *app, env string) error {
				created, err := a.svc.CreateApplication(cmd.Context(), service.OperatorActor(), env, in)
				if err != nil {
					return err
				}
				return printOut(cmd, created, func(w io.Writer) {
					fmt.Fprintf(w, "Created application %s.\n", created.Name)
					printApplication(w, created.Application)
					printSecret(w, created.ClientSecret)
				})
			})
		},
	}
	cmd.Flags().String("name", "", "name shown to users and administrators (required)")
	cmd.Flags().String("type", "", "web, spa, native, service or api-user (required)")
	cmd.Flags().String("description", "", "description")
	cmd.Flags().StringArray("redirect-uri", nil, "a redirect URI allowed after sign-in; repeatable")
	cmd.Flags().StringArray("post-logout-redirect-uri", nil, "an address allowed after sign-out; repeatable")
	cmd.Flags().String("signing-algorithm", "", "ES256 (default) or RS256 for old clients")
	cmd.Flags().Bool("refresh-tokens", false, "issue refresh tokens (single-use, rotating) to this application")
	cmd.Flags().Int("access-token-seconds", 0, "access-token lifetime (default: 1 hour, 24 hours for api-user applications)")
	cmd.Flags().StringArray("grant-type", nil, "a grant type (authorization_code, refresh_token, client_credentials, password); repeatable; default by type")
	cmd.Flags().StringArray("role", nil, "an administrator role of the application (ENVIRONMENT_ADMIN, USER_ADMIN, READ_ONLY); repeatable")
	envFlag(cmd)
	storeFlags(cmd, false)
	return cmd
}

func printSecret(w io.Writer, secret string) {
	if secret != "" {
		fmt.Fprintf(w, "Client secret: %s\n(shown once: store it now; it cannot be shown again)\n", secret)
	}
}

func printApplication(w io.Writer, ap *gatehouse.Application) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	line := func(name, value string) {
		if value != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", name, value)
		}
	}
	line("ID", ap.ID)
	line("Client ID", ap.ClientID)
	line("Name", ap.Name)
	line("Type", ap.Type)
	line("Description", ap.Description)
	line("Redirect URIs", strings.Join(ap.RedirectURIs, " "))
	line("Grant types", strings.Join(ap.GrantTypes, ", "))
	line("Roles", strings.Join(ap.Roles, ", "))
	line("Created", ap.CreatedOn.Format(time.RFC3339))
	line("Updated", ap.UpdatedOn.Format(time.RFC3339))
	tw.Flush()
}

func appListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list --env ENV",
		Short: "List the applications of an environment",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withEnv(cmd, func(a *app, env string) error {
				apps, err := a.svc.ListApplications(cmd.Context(), env)
				if err != nil {
					return err
				}
				return printOut(cmd, apps, func(w io.Writer) {
					tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "ID\tCLIENT ID\tNAME\tTYPE\tGRANT TYPES\tROLES")
					for _, ap := range apps {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", ap.ID, ap.ClientID, ap.Name, ap.Type,
							strings.Join(ap.GrantTypes, ","), strings.Join(ap.Roles, ","))
					}
					tw.Flush()
				})
			})
		},
	}
	envFlag(cmd)
	storeFlags(cmd, false)
	return cmd
}

// findApplication returns the application whose id, or else whose client
// id, is ref.
func findApplication(ctx context.Context, a *app, env, ref string) (*gatehouse.Application, error) {
	ap, err := a.svc.GetApplication(ctx, env, ref)
	if gatehouse.ErrorCode(err) != gatehouse.ENOTFOUND {
		return ap, err
	}
	ap, err = a.store.GetApplicationByClientID(ctx, env, ref)
	if gatehouse.ErrorCode(err) == gatehouse.ENOTFOUND {
		return nil, gatehouse.Errorf(gatehouse.ENOTFOUND, "application %q not found in environment %s (give an id or a client id)", ref, env)
	}
	return ap, err
}

func appGetCmd() *cobra.Command {
	return envObjectCmd("get ID|CLIENT_ID --env ENV", "Show one application, by id or client id", "ID or CLIENT_ID",
		func(cmd *cobra.Command, a *app, env, ref string) error {
			ap, err := findApplication(cmd.Context(), a, env, ref)
			if err != nil {
				return err
			}
			return printOut(cmd, ap, func(w io.Writer) { printApplication(w, ap) })
		})
}

// envObjectCmd is a command on one object of an environment, named by its
// argument.
func envObjectCmd(use, short, argName string, run func(cmd *cobra.Command, a *app, env, ref string) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  exactArgs(argName),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withEnv(cmd, func(a *app, env string) error { return run(cmd, a, env, args[0]) })
		},
	}
	envFlag(cmd)
	storeFlags(cmd, false)
	return cmd
}

func appDeleteCmd() *cobra.Command {
	return deleteInEnvCmd("delete ID|CLIENT_ID --env ENV --yes", "Delete an application: its clients can no longer get tokens",
		"ID or CLIENT_ID", "deleting application %s cannot be undone and stops its clients: add --yes to confirm",
		func(cmd *cobra.Command, a *app, env, ref string) (map[string]any, string, error) {
			ap, err := findApplication(cmd.Context(), a, env, ref)
			if err != nil {
				return nil, "", err
			}
			if err := a.svc.DeleteApplication(cmd.Context(), service.OperatorActor(), env, ap.ID); err != nil {
				return nil, "", err
			}
			return map[string]any{"id": ap.ID, "clientId": ap.ClientID, "deleted": true}, fmt.Sprintf("Deleted application %s (id %s).", ap.Name, ap.ID), nil
		})
}

// deleteInEnvCmd is a delete command of an environment's objects: it
// insists on --yes, then deletes and says what it deleted.
func deleteInEnvCmd(use, short, argName, confirm string, del func(cmd *cobra.Command, a *app, env, ref string) (map[string]any, string, error)) *cobra.Command {
	cmd := envObjectCmd(use, short, argName, func(cmd *cobra.Command, a *app, env, ref string) error {
		out, text, err := del(cmd, a, env, ref)
		if err != nil {
			return err
		}
		return printOut(cmd, out, func(w io.Writer) { fmt.Fprintln(w, text) })
	})
	run := cmd.RunE
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if yes, _ := cmd.Flags().GetBool("yes"); !yes {
			return usageError{fmt.Errorf(confirm, args[0])}
		}
		return run(cmd, args)
	}
	cmd.Flags().Bool("yes", false, "confirm the deletion")
	return cmd
}

func appRotateSecretCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rotate-secret ID|CLIENT_ID --env ENV",
		Short: "Replace a confidential application's secret; the old one stops working at once",
		Args:  exactArgs("ID or CLIENT_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withEnv(cmd, func(a *app, env string) error {
				ap, err := findApplication(cmd.Context(), a, env, args[0])
				if err != nil {
					return err
				}
				rotated, err := a.svc.RotateSecret(cmd.Context(), service.OperatorActor(), env, ap.ID)
				if err != nil {
					return err
				}
				return printOut(cmd, rotated, func(w io.Writer) {
					fmt.Fprintf(w, "Rotated the secret of %s (client id %s); the old secret no longer works.\n", rotated.Name, rotated.ClientID)
					printSecret(w, rotated.ClientSecret)
				})
			})
		},
	}
	envFlag(cmd)
	storeFlags(cmd, false)
	return cmd
}
