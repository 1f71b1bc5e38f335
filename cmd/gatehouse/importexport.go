package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/service"
)

// userRecord is one line of an export: every field of the user, with its
// password hash and the time the password was set.
type userRecord struct {
	gatehouse.User
	PasswordHash      string     `json:"passwordHash,omitempty"`
	PasswordChangedOn *time.Time `json:"passwordChangedOn,omitempty"`
}

// maxImportLine bounds one line of an import (a user has at most 100
// attributes of 4 KiB each).
const maxImportLine = 4 << 20

func newExportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export --env ENV [--file FILE]",
		Short: "Write every user of an environment, WITH PASSWORD HASHES, as JSON Lines",
		Long: `Write every user of an environment as JSON Lines: one JSON object per line
with every field of the user, its role assignments and attributes.

THE EXPORT HOLDS THE USERS' PASSWORD HASHES ("passwordHash"), so that it can
be imported into another installation and the users keep their passwords.
Treat the file as a secret: anyone who holds it can try to guess passwords
offline. --file is written with permissions 0600, and replaced only once the
export is complete.

Without --file the users are written to standard output. Read the file back
with ` + "`gatehouse import`" + `.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			file, _ := cmd.Flags().GetString("file")
			return withEnv(cmd, func(a *app, env string) error {
				if file == "" || file == "-" {
					w := bufio.NewWriter(cmd.OutOrStdout())
					n, err := exportUsers(cmd, a, env, w)
					if err != nil {
						return err
					}
					if err := w.Flush(); err != nil {
						return err
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "Exported %d users of %s (with password hashes).\n", n, env)
					return nil
				}
				n, err := exportToFile(cmd, a, env, file)
				if err != nil {
					return err
				}
				return printOut(cmd, map[string]any{"environment": env, "exported": n, "file": file}, func(w io.Writer) {
					fmt.Fprintf(w, "Exported %d users of %s to %s. The file holds password hashes: keep it secret.\n", n, env, file)
				})
			})
		},
	}
	cmd.Flags().String("file", "", "write to this file (mode 0600) instead of standard output")
	envFlag(cmd)
	storeFlags(cmd, false)
	return cmd
}

// exportToFile writes the export beside the file and renames it into
// place, so that a failed export leaves no partial file.
func exportToFile(cmd *cobra.Command, a *app, env, file string) (int, error) {
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*.tmp") // mode 0600
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	w := bufio.NewWriter(tmp)
	n, err := exportUsers(cmd, a, env, w)
	if err != nil {
		return 0, err
	}
	if err := w.Flush(); err != nil {
		return 0, err
	}
	if err := tmp.Sync(); err != nil {
		return 0, err
	}
	if err := tmp.Close(); err != nil {
		return 0, err
	}
	return n, os.Rename(tmp.Name(), file)
}

func exportUsers(cmd *cobra.Command, a *app, env string, w io.Writer) (int, error) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	n := 0
	err := a.svc.ExportUsers(cmd.Context(), env, func(u *gatehouse.User) error {
		n++
		return enc.Encode(userRecord{User: *u, PasswordHash: u.PasswordHash, PasswordChangedOn: u.PasswordChangedOn})
	})
	return n, err
}

// importFailure is one line that was not imported.
type importFailure struct {
	Line  int    `json:"line"`
	Error string `json:"error"`
}

// importSummary is what import prints.
type importSummary struct {
	Imported int             `json:"imported"`
	Failed   int             `json:"failed"`
	Errors   []importFailure `json:"errors"`
}

func newImportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import --env ENV FILE.jsonl|-",
		Short: "Create users from JSON Lines, as export writes them",
		Long: `Create users from a JSON Lines file (- for standard input), one user per line
as ` + "`gatehouse export`" + ` writes them.

Each user gets a new id; everything else is kept: username, ref, the other
fields, roles, attributes, status, createdOn and updatedOn (now when absent),
and the password hash ("passwordHash", optional: argon2id, argon2i, bcrypt,
passlib pbkdf2-sha256/sha512 or Django pbkdf2_sha256), with which the user
signs in with their old password; it is rehashed at the first sign-in.
"passwordState" is kept when it is OK or MUST_CHANGE_PASSWORD. Plain-text
passwords ("password") are not accepted; corporate users (identityProvider
other than local) never have a hash. A lockout is not imported.

Lines are independent: a line that cannot be imported (malformed, an unknown
or invalid field, a username that exists, an unsupported hash, …) is
reported on standard error as "line N: reason" and skipped, and the others
are imported. The exit status is 1 when any line failed.`,
		Args: exactArgs("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var in io.Reader = cmd.InOrStdin()
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			return withEnv(cmd, func(a *app, env string) error { return importUsers(cmd, a, env, in) })
		},
	}
	envFlag(cmd)
	storeFlags(cmd, false)
	return cmd
}

func importUsers(cmd *cobra.Command, a *app, env string, in io.Reader) error {
	sum := importSummary{Errors: []importFailure{}}
	stderr := cmd.ErrOrStderr()
	fail := func(line int, msg string) {
		sum.Failed++
		sum.Errors = append(sum.Errors, importFailure{Line: line, Error: msg})
		fmt.Fprintf(stderr, "line %d: %s\n", line, msg)
	}
	r := bufio.NewReaderSize(in, 64<<10)
	for n := 1; ; n++ {
		line, tooLong, err := readLine(r, maxImportLine)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading line %d: %w", n, err)
		}
		if n == 1 {
			line = bytes.TrimPrefix(line, []byte("\uFEFF"))
		}
		if tooLong {
			fail(n, fmt.Sprintf("longer than %d MiB", maxImportLine>>20))
			continue
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		rec, err := decodeRecord(line)
		if err != nil {
			fail(n, err.Error())
			continue
		}
		u := rec.User
		u.PasswordChangedOn = rec.PasswordChangedOn
		if _, err := a.svc.ImportUser(cmd.Context(), service.OperatorActor(), env, u, rec.PasswordHash); err != nil {
			if code := gatehouse.ErrorCode(err); code == gatehouse.EINTERNAL || code == gatehouse.EUNAVAILABLE {
				// The store failed, not the line: stop rather than
				// report every following line.
				return fmt.Errorf("line %d: %w (%d users were imported before it; the lines after it were not read)", n, err, sum.Imported)
			}
			fail(n, err.Error())
			continue
		}
		sum.Imported++
	}
	if err := printOut(cmd, sum, func(w io.Writer) { fmt.Fprintf(w, "imported %d, failed %d\n", sum.Imported, sum.Failed) }); err != nil {
		return err
	}
	if sum.Failed > 0 {
		return fmt.Errorf("%d lines were not imported (see above)", sum.Failed)
	}
	return nil
}

// readLine reads one line without its end; a line longer than limit is
// consumed and reported as tooLong. It returns io.EOF only when no line
// is left.
func readLine(r *bufio.Reader, limit int) (line []byte, tooLong bool, err error) {
	for {
		frag, isPrefix, err := r.ReadLine()
		if err != nil {
			return line, tooLong, err
		}
		if !tooLong {
			if len(line)+len(frag) > limit {
				tooLong, line = true, nil
			} else {
				line = append(line, frag...)
			}
		}
		if !isPrefix {
			return line, tooLong, nil
		}
	}
}

// decodeRecord reads one user, strictly: one JSON object, known fields only.
func decodeRecord(line []byte) (*userRecord, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(line, &fields); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return nil, fmt.Errorf("malformed JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
		}
		return nil, errors.New("not a JSON object: each line holds one user")
	}
	if fields == nil {
		return nil, errors.New("not a JSON object: each line holds one user")
	}
	for name := range fields {
		if strings.EqualFold(name, "password") {
			return nil, errors.New(`"password" is not accepted: import a password hash ("passwordHash"), or set the password after the import with gatehouse user set-password`)
		}
	}
	var rec userRecord
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return nil, fmt.Errorf("field %s: expected a %s, not a JSON %s", strings.TrimPrefix(typeErr.Field, "User."), typeErr.Type, typeErr.Value)
		}
		return nil, errors.New(strings.TrimPrefix(err.Error(), "json: "))
	}
	return &rec, nil
}
