package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/server"
	"github.com/gatehouse/gatehouse/service"
	"github.com/gatehouse/gatehouse/sqlite"
)

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the Gatehouse server",
		Long: `Run the Gatehouse server.

With no flags and no configuration it listens on 127.0.0.1:8080 and keeps
everything in the embedded SQLite store in ./gatehouse-data. Settings come
from flags, then GATEHOUSE_* environment variables, then the YAML file named
by --config, then the defaults.`,
		Args: cobra.NoArgs,
		RunE: runServe,
	}
	storeFlags(cmd, true)
	return cmd
}

func runServe(cmd *cobra.Command, _ []string) error {
	start := time.Now()
	cfg, err := config.Load(cmd.Flags(), os.Getenv)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if !cfg.UsesPostgres() {
		release, err := sqlite.Lock(cfg.DataDir)
		if err != nil {
			return err
		}
		defer release()
	}
	metrics := server.NewMetrics()
	a, err := openApp(ctx, cfg, metrics.ObserveStore)
	if err != nil {
		return err
	}
	defer a.Close()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", cfg.Listen, err)
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "Gatehouse is listening on http://%s (public URL %s)\n", ln.Addr(), cfg.BaseURL)
	fmt.Fprintf(out, "Operator console: %s/console/system/\n", cfg.BaseURL)
	a.printBootstrap(out)
	store := "sqlite:" + cfg.DataDir
	if cfg.UsesPostgres() {
		store = "postgres"
	}
	go maintainHourly(ctx, a)
	a.svc.Audit = service.NewAuditBatcher(a.store, a.log)
	defer a.svc.Audit.Close()
	a.log.Info("ready", "listen", ln.Addr().String(), "base_url", cfg.BaseURL, "store", store,
		"startup_ms", time.Since(start).Milliseconds())
	handler := server.New(a.svc, a.log, metrics)
	handler.TrustProxies(cfg.TrustedProxies)
	err = server.Serve(ctx, ln, handler, a.log)
	if err == nil {
		a.log.Info("stopped")
	}
	return err
}

// maintainHourly keeps the store's planner statistics fresh, rotates
// signing keys that are due and deletes expired sessions, codes and tokens.
// Several nodes may do it at once: each step is idempotent.
func maintainHourly(ctx context.Context, a *app) {
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		for name, step := range map[string]func() error{
			"refreshing the store's statistics": func() error { return a.store.Optimize(ctx) },
			"rotating signing keys":             func() error { return a.svc.RotateAllSigningKeys(ctx) },
			"deleting expired tokens":           func() error { _, err := a.store.DeleteExpired(ctx, time.Now()); return err },
		} {
			if err := step(); err != nil && ctx.Err() == nil {
				a.log.Warn(name, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
