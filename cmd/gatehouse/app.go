package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/connector"
	oidcconnector "github.com/gatehouse/gatehouse/connector/oidc"
	samlconnector "github.com/gatehouse/gatehouse/connector/saml"
	"github.com/gatehouse/gatehouse/keyring"
	"github.com/gatehouse/gatehouse/mail"
	"github.com/gatehouse/gatehouse/postgres"
	"github.com/gatehouse/gatehouse/service"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/sqlstore"
)

// kekFileName holds the generated key-encryption key of the embedded store.
const kekFileName = "kek"

// app is an opened store with its keyring and the service over them.
type app struct {
	cfg   *config.Config
	log   *slog.Logger
	store *sqlstore.Store
	svc   *service.Service
	// bootstrapped is the system environment's first operator, when this
	// process created it.
	bootstrapped *service.CreatedEnvironment
}

// storeFlags registers what every store-touching command takes.
func storeFlags(cmd *cobra.Command, serve bool) {
	config.Bind(cmd.Flags(), serve)
	if !serve {
		addOutputFlag(cmd.Flags())
	}
}

// withApp loads the configuration, opens the app for one CLI command, tells
// of a bootstrap on stderr (stdout stays clean for --output json) and closes
// it after fn.
func withApp(cmd *cobra.Command, fn func(a *app) error) error {
	cfg, err := config.Load(cmd.Flags(), os.Getenv)
	if err != nil {
		return err
	}
	a, err := openApp(cmd.Context(), cfg, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	a.printBootstrap(cmd.ErrOrStderr())
	return fn(a)
}

// openApp opens and migrates the store, loads the
// keyring and bootstraps the system environment on a new store.
func openApp(ctx context.Context, cfg *config.Config, observe sqlstore.Observer) (*app, error) {
	log := newLogger(cfg.LogLevel, os.Stderr)
	var store *sqlstore.Store
	var err error
	if cfg.UsesPostgres() {
		if len(cfg.KEKs) == 0 {
			return nil, usageError{errors.New("a key-encryption key is required with --database: make one with `gatehouse kek generate` and set GATEHOUSE_KEK (or --kek)")}
		}
		store, err = postgres.Open(ctx, cfg.Database, true, observe)
	} else {
		store, err = sqlite.Open(ctx, cfg.DataDir, true, observe)
	}
	if err != nil {
		return nil, err
	}
	kr, err := openKeyring(ctx, cfg, store)
	if err != nil {
		store.Close()
		return nil, err
	}
	a := &app{cfg: cfg, log: log, store: store, svc: &service.Service{Store: store, Keyring: kr, BaseURL: cfg.BaseURL,
		Connectors: connectors()}}
	if cfg.SMTPURL != "" {
		sender, err := mail.NewSMTP(cfg.SMTPURL, cfg.SMTPFrom)
		if err != nil {
			store.Close()
			return nil, usageError{fmt.Errorf("invalid smtp-url or smtp-from: %v", err)}
		}
		a.svc.Mail = sender
	}
	if a.bootstrapped, err = a.svc.Bootstrap(ctx); err != nil {
		store.Close()
		return nil, fmt.Errorf("checking the system environment: %w", err)
	}
	return a, nil
}

// openKeyring takes the configured keys, or the embedded store's key file,
// and checks that every secret in the store was encrypted under one of them,
// so that a missing key is named at start and not at the first sign-in.
func openKeyring(ctx context.Context, cfg *config.Config, store gatehouse.Store) (*keyring.Keyring, error) {
	var kr *keyring.Keyring
	var err error
	created := false
	path := filepath.Join(cfg.DataDir, kekFileName)
	if len(cfg.KEKs) > 0 {
		kr, err = keyring.New(cfg.KEKs...)
	} else {
		kr, created, err = keyring.LoadOrCreateFile(path)
	}
	if err != nil {
		return nil, gatehouse.Errorf(gatehouse.EINVALID, "key-encryption key: %v", err)
	}
	secrets, err := store.ListSecrets(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range secrets {
		id, err := kr.KeyIDOf(s.Ciphertext)
		if err != nil || !kr.Has(id) {
			if created {
				os.Remove(path)
				return nil, gatehouse.Errorf(gatehouse.EINVALID, "the key-encryption key file %s is missing, but the store holds secrets encrypted under key %s: restore the file from a backup", path, id)
			}
			return nil, gatehouse.Errorf(gatehouse.EINVALID, "the store holds secrets encrypted under key-encryption key %s, which is not configured", id)
		}
	}
	return kr, nil
}

func (a *app) Close() error { return a.store.Close() }

// printBootstrap tells the operator, once, how to sign in for the first time.
func (a *app) printBootstrap(w io.Writer) {
	if a.bootstrapped == nil {
		return
	}
	fmt.Fprintf(w, "Created the system environment. First operator: username %q, temporary password %q (change it at first sign-in; it is not shown again).\n",
		a.bootstrapped.Admin.Username, a.bootstrapped.Admin.TemporaryPassword)
}

// newLogger logs JSON, or text when w is a terminal.
func newLogger(level string, w *os.File) *slog.Logger {
	var l slog.Level
	l.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: l}
	if info, err := w.Stat(); err == nil && info.Mode()&os.ModeCharDevice != 0 {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// Output formats.
const (
	outputText = "text"
	outputJSON = "json"
)

func addOutputFlag(fs *pflag.FlagSet) {
	fs.StringP("output", "o", outputText, "output format: text or json")
}

func outputFormat(cmd *cobra.Command) (string, error) {
	f, _ := cmd.Flags().GetString("output")
	if f != outputText && f != outputJSON {
		return "", usageError{fmt.Errorf("--output must be %s or %s, not %q", outputText, outputJSON, f)}
	}
	return f, nil
}

// printOut writes v as JSON, or as text by the text function.
func printOut(cmd *cobra.Command, v any, text func(w io.Writer)) error {
	f, err := outputFormat(cmd)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if f == outputJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text(w)
	return nil
}

// exactArgs names the missing argument instead of cobra's count.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != len(names) {
			return usageError{errors.New("usage: " + cmd.UseLine() + " (expects " + strings.Join(names, ", ") + ")")}
		}
		return nil
	}
}

// connectors are the kinds of corporate identity provider Gatehouse
// speaks to: one package each, added here.
func connectors() map[string]connector.Kind {
	return map[string]connector.Kind{
		gatehouse.IdentityProviderOIDC: oidcconnector.Kind,
		gatehouse.IdentityProviderSAML: samlconnector.Kind,
	}
}
