// Command gatehouse is the whole product: the server, the operator CLI and
// the load generator. This package wires the adapters together and nothing
// else does.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/config"
)

// Exit statuses.
const (
	exitError = 1 // the command failed
	exitUsage = 2 // bad flags, bad configuration
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	root := newRoot()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	// The operator runs the command on their own machine: every error is
	// shown in full (connection strings are redacted where they are made).
	fmt.Fprintln(os.Stderr, "gatehouse:", err)
	var cfgErr *config.Error
	var usage usageError
	switch {
	case errors.As(err, &cfgErr), errors.As(err, &usage):
		return exitUsage
	default:
		return exitError
	}
}

// usageError is a mistake in how a command was called.
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "gatehouse",
		Short:         "Single sign-on and user management for multi-tenant platforms",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newServeCmd(), newMigrateCmd(), newEnvCmd(), newKEKCmd())
	root.AddCommand(newUserCmd(), newAppCmd(), newImportCmd(), newExportCmd(), newAuditCmd(), newBenchCmd(), newKeyCmd())
	root.AddCommand(newIdPCmd(), newRuleCmd())
	return root
}
