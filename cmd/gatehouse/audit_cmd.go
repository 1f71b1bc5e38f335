package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read and verify an environment's audit log",
	}
	cmd.AddCommand(auditVerifyCmd(), auditListCmd())
	return cmd
}

// chainVerdict is what `audit verify` prints.
type chainVerdict struct {
	Environment string `json:"environment"`
	*service.ChainReport
}

func (v chainVerdict) String() string {
	if v.Valid {
		return fmt.Sprintf("audit chain of %s: %d events, intact", v.Environment, v.Events)
	}
	return fmt.Sprintf("audit chain of %s: %d events, BROKEN at event %d: %s", v.Environment, v.Events, v.Broken, v.Reason)
}

func auditVerifyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify --env ENV",
		Short: "Check that no audit event was altered or removed (exit status 1 if so)",
		Long: `Recompute the hash chain of an environment's audit log: every event's hash
covers its content and the previous event's hash, so an altered event, a
removed one and a removed tail are each found. The exit status is 1 when the
chain is broken.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withEnv(cmd, func(a *app, env string) error {
				report, err := a.svc.VerifyAuditChain(cmd.Context(), env)
				if err != nil {
					return err
				}
				v := chainVerdict{Environment: env, ChainReport: report}
				if err := printOut(cmd, v, func(w io.Writer) { fmt.Fprintln(w, v) }); err != nil {
					return err
				}
				if !report.Valid {
					return fmt.Errorf("the audit chain of %s is BROKEN at event %d: %s", env, report.Broken, report.Reason)
				}
				return nil
			})
		},
	}
	envFlag(cmd)
	storeFlags(cmd, false)
	return cmd
}

func auditListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list --env ENV",
		Short: "List audit events, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fs := cmd.Flags()
			get := func(name string) string { v, _ := fs.GetString(name); return v }
			f := gatehouse.AuditFilter{Action: get("action"), ActorID: get("actor"), TargetID: get("target"), Outcome: get("outcome")}
			f.Limit, _ = fs.GetInt("limit")
			if f.Limit < 1 || f.Limit > service.MaxPageSize {
				return usageError{fmt.Errorf("--limit must be between 1 and %d", service.MaxPageSize)}
			}
			if before := get("before"); before != "" {
				seq, err := strconv.ParseInt(before, 10, 64)
				if err != nil || seq < 1 {
					return usageError{fmt.Errorf("--before must be an event's sequence number (the nextCursor of a previous page)")}
				}
				f.Before = seq
			}
			return withEnv(cmd, func(a *app, env string) error {
				page, err := a.svc.ListAuditEvents(cmd.Context(), env, f)
				if err != nil {
					return err
				}
				return printOut(cmd, page, func(w io.Writer) {
					printAuditEvents(w, page.Items)
					if page.NextCursor != "" {
						fmt.Fprintf(w, "More: --before %s\n", page.NextCursor)
					}
				})
			})
		},
	}
	cmd.Flags().String("action", "", "only events of this action (USER_CREATED, AUTHENTICATION_FAILED, …)")
	cmd.Flags().String("actor", "", "only events by this actor id")
	cmd.Flags().String("target", "", "only events on this target id")
	cmd.Flags().String("outcome", "", "only events of this outcome: SUCCESS or FAILURE")
	cmd.Flags().String("before", "", "only events before this sequence number (the nextCursor of a previous page)")
	cmd.Flags().Int("limit", 50, "most events to list")
	envFlag(cmd)
	storeFlags(cmd, false)
	return cmd
}

func printAuditEvents(w io.Writer, events []*gatehouse.AuditEvent) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tACTOR\tACTION\tTARGET\tOUTCOME\tDETAILS")
	for _, e := range events {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.Time.Format(time.RFC3339), e.ActorType+":"+e.ActorID,
			e.Action, strings.TrimPrefix(e.TargetType+":"+e.TargetID, ":"), e.Outcome, sortedDetails(e.Details))
	}
	tw.Flush()
}

// sortedDetails writes audit details as k=v, by key.
func sortedDetails(d map[string]string) string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.Quote(d[k])
	}
	return strings.Join(parts, " ")
}
