package main

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/service"
)

// userMFACmd is `gatehouse user mfa`: an administrator's view and actions
// on a user's second factors.
func userMFACmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mfa",
		Short: "See and manage a user's second factors: devices, bypass, block",
	}
	cmd.AddCommand(
		envObjectCmd("show ID|USERNAME --env ENV", "Show a user's second factors, recovery codes left, block and bypass", "ID or USERNAME",
			func(cmd *cobra.Command, a *app, env, ref string) error {
				u, err := findUser(cmd.Context(), a, env, ref)
				if err != nil {
					return err
				}
				m, err := a.svc.UserMFA(cmd.Context(), env, u.ID)
				if err != nil {
					return err
				}
				return printOut(cmd, m, func(w io.Writer) { printUserMFA(w, m) })
			}),
		userMFARemoveCmd(), userMFABypassCmd(),
		envObjectCmd("unblock ID|USERNAME --env ENV", "End a block that wrong second factors caused", "ID or USERNAME",
			func(cmd *cobra.Command, a *app, env, ref string) error {
				u, err := findUser(cmd.Context(), a, env, ref)
				if err != nil {
					return err
				}
				if err := a.svc.UnblockMFA(cmd.Context(), service.OperatorActor(), env, u.ID); err != nil {
					return err
				}
				return printOut(cmd, map[string]string{"unblocked": u.ID}, func(w io.Writer) { fmt.Fprintf(w, "Unblocked %s's second factor.\n", u.Username) })
			}),
	)
	return cmd
}

func printUserMFA(w io.Writer, m *service.UserMFA) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tTYPE\tNAME\tCREATED\tLAST USED")
	for _, d := range m.Devices {
		used := "never"
		if d.LastUsedOn != nil {
			used = d.LastUsedOn.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.ID, d.Type, d.Name, d.CreatedOn.Format(time.RFC3339), used)
	}
	tw.Flush()
	fmt.Fprintf(w, "Recovery codes left: %d\n", m.RecoveryCodesLeft)
	if m.BlockedUntil != nil {
		fmt.Fprintf(w, "Blocked until: %s (gatehouse user mfa unblock)\n", m.BlockedUntil.Format(time.RFC3339))
	}
	if m.BypassUntil != nil {
		fmt.Fprintf(w, "Bypass until: %s\n", m.BypassUntil.Format(time.RFC3339))
	}
}

func userMFARemoveCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "remove ID|USERNAME DEVICE --env ENV",
		Short: "Remove one of a user's second factors (a lost phone or key)",
		Args:  exactArgs("ID or USERNAME", "DEVICE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withEnv(cmd, func(a *app, env string) error {
				u, err := findUser(cmd.Context(), a, env, args[0])
				if err != nil {
					return err
				}
				if err := a.svc.RemoveMFADevice(cmd.Context(), service.OperatorActor(), env, u.ID, args[1]); err != nil {
					return err
				}
				return printOut(cmd, map[string]string{"removed": args[1]}, func(w io.Writer) {
					fmt.Fprintf(w, "Removed device %s of %s.\n", args[1], u.Username)
				})
			})
		},
	}
	envFlag(cmd)
	storeFlags(cmd, false)
	return cmd
}

func userMFABypassCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bypass ID|USERNAME --env ENV (--for DURATION | --end)",
		Short: "Let a user sign in without a second factor for a while (at most 30 days)",
		Example: `  gatehouse user mfa bypass jane@acme.example --env acme --for 24h
  gatehouse user mfa bypass jane@acme.example --env acme --end`,
		Args: exactArgs("ID or USERNAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, _ := cmd.Flags().GetDuration("for")
			end, _ := cmd.Flags().GetBool("end")
			if (d == 0) == !end {
				return usageError{errors.New("give one of --for DURATION (such as 24h) or --end")}
			}
			return withEnv(cmd, func(a *app, env string) error {
				u, err := findUser(cmd.Context(), a, env, args[0])
				if err != nil {
					return err
				}
				var until *time.Time
				if !end {
					t := time.Now().Add(d)
					until = &t
				}
				if err := a.svc.SetMFABypass(cmd.Context(), service.OperatorActor(), env, u.ID, until); err != nil {
					return err
				}
				m, err := a.svc.UserMFA(cmd.Context(), env, u.ID)
				if err != nil {
					return err
				}
				return printOut(cmd, m, func(w io.Writer) { printUserMFA(w, m) })
			})
		},
	}
	cmd.Flags().Duration("for", 0, "how long the bypass lasts, such as 24h")
	cmd.Flags().Bool("end", false, "end the bypass now")
	envFlag(cmd)
	storeFlags(cmd, false)
	return cmd
}

// userSendResetCmd is `gatehouse user send-reset`: an administrator emails a
// user a code to choose a new password with (needs smtp-url).
func userSendResetCmd() *cobra.Command {
	return envObjectCmd("send-reset ID|USERNAME --env ENV", "Email a user a code to choose a new password (needs smtp-url and smtp-from)", "ID or USERNAME",
		func(cmd *cobra.Command, a *app, env, ref string) error {
			u, err := findUser(cmd.Context(), a, env, ref)
			if err != nil {
				return err
			}
			if err := a.svc.SendPasswordResetFor(cmd.Context(), service.OperatorActor(), env, u.ID); err != nil {
				return err
			}
			return printOut(cmd, map[string]string{"sent": u.PrimaryEmail}, func(w io.Writer) {
				fmt.Fprintf(w, "Sent %s a password reset code at %s.\n", u.Username, u.PrimaryEmail)
			})
		})
}
