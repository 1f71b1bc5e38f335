package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/config"
	"github.com/gatehouse/gatehouse/keyring"
	"github.com/gatehouse/gatehouse/service"
)

func newKEKCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kek",
		Short: "Manage the key-encryption key that protects secrets at rest",
	}
	generate := &cobra.Command{
		Use:   "generate",
		Short: "Print a new random key-encryption key (base64), for GATEHOUSE_KEK",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), base64.StdEncoding.EncodeToString(keyring.Generate()))
			return nil
		},
	}
	cmd.AddCommand(generate, kekRotateCmd())
	return cmd
}

func kekRotateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Re-encrypt every secret under a new key-encryption key",
		Long: `Re-encrypt every secret under a new key-encryption key, in one transaction.

Embedded store: a new key is generated and the key file in the data
directory is replaced; the old key is kept in the file until the
re-encryption has committed, so an interruption loses nothing.

Configured keys (--kek / GATEHOUSE_KEK): give the new key with --new-kek;
afterwards set GATEHOUSE_KEK to the new key on every node. Nodes that list
both keys ("new,old") keep working throughout.`,
		Args: cobra.NoArgs,
		RunE: runKEKRotate,
	}
	cmd.Flags().String("new-kek", "", "the new key (base64, 32 bytes), when keys are configured")
	storeFlags(cmd, false)
	return cmd
}

func runKEKRotate(cmd *cobra.Command, _ []string) error {
	cfg, err := config.Load(cmd.Flags(), os.Getenv)
	if err != nil {
		return err
	}
	newKEK := keyring.Generate()
	if v, _ := cmd.Flags().GetString("new-kek"); v != "" {
		if newKEK, err = base64.StdEncoding.DecodeString(v); err != nil || len(newKEK) != keyring.KeySize {
			return usageError{fmt.Errorf("--new-kek must be %d bytes of standard base64", keyring.KeySize)}
		}
	} else if len(cfg.KEKs) > 0 {
		return usageError{fmt.Errorf("keys are configured: give the new one with --new-kek (make one with `gatehouse kek generate`)")}
	}
	a, err := openApp(cmd.Context(), cfg, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	a.printBootstrap(cmd.ErrOrStderr())
	old := a.svc.Keyring
	// The new keyring decrypts with the old keys too, so that a file written
	// before the re-encryption commits serves both states.
	next, err := keyring.New(append([][]byte{newKEK}, old.Keys()...)...)
	if err != nil {
		return err
	}
	path := filepath.Join(cfg.DataDir, kekFileName)
	embedded := len(cfg.KEKs) == 0
	if embedded {
		if err := keyring.WriteFile(path, next.Keys()...); err != nil {
			return err
		}
	}
	n, err := service.ReencryptSecrets(cmd.Context(), a.store, old, next)
	if err != nil {
		return err
	}
	if embedded {
		if err := keyring.WriteFile(path, newKEK); err != nil {
			return err
		}
	}
	result := map[string]any{"reencrypted": n, "keyId": keyring.KeyID(newKEK)}
	return printOut(cmd, result, func(w io.Writer) {
		fmt.Fprintf(w, "Re-encrypted %d secrets under key-encryption key %s.\n", n, keyring.KeyID(newKEK))
		if embedded {
			fmt.Fprintf(w, "The key file %s now holds only the new key.\n", path)
		} else {
			fmt.Fprintln(w, "Now set GATEHOUSE_KEK to the new key on every node.")
		}
	})
}
