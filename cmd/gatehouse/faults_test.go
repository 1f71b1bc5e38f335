package main

// Fault-injection tests: the built binary against an unreachable or refusing
// PostgreSQL, a read-only data directory, a full disk, corrupted and
// too-new SQLite files, and SIGKILL in the middle of writes. Each checks what
// an operator sees (exit status, message) and that acknowledged data
// survives.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// faultTimeout bounds every run of the binary in these tests: a command
// still running after it has hung, which is a failure in itself.
const faultTimeout = 2 * time.Minute

// faultSecret is the password put in DSNs: it must never be printed.
const faultSecret = "s3cretpw"

// faultRunner runs the gatehouse binary the way a fault needs it: as another
// user, under a wrapper that execs it (such as prlimit), and always under a
// timeout, so that a hang fails the test instead of stalling it.
type faultRunner struct {
	bin     string              // the binary; "" is the one TestMain built
	cred    *syscall.Credential // run as this user when set
	wrapper []string            // a command that execs the binary with its arguments appended
	timeout time.Duration       // 0 is faultTimeout
}

// run runs the command in dir with env added to a clean environment.
func (f faultRunner) run(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	timeout := f.timeout
	if timeout == 0 {
		timeout = faultTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	bin := f.bin
	if bin == "" {
		bin = binary
	}
	argv := append(append(slices.Clone(f.wrapper), bin), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = cleanEnv(env...)
	cmd.WaitDelay = 5 * time.Second
	if f.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: f.cred}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if ctx.Err() != nil {
		t.Fatalf("gatehouse %s did not finish within %v: it hangs\nstdout: %s\nstderr: %s",
			strings.Join(args, " "), timeout, r.stdout, r.stderr)
	}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode() // -1 when a signal ended it
	case err != nil:
		t.Fatalf("running gatehouse %v: %v", args, err)
	}
	return r
}

// faultCmdName names a subtest after the command's words: "env create".
func faultCmdName(args []string) string {
	var words []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") || len(words) == 2 {
			break
		}
		words = append(words, a)
	}
	return strings.Join(words, " ")
}

// faultNoCrash fails the test when the run ended by a signal or a Go panic
// (which exits 2, like a usage error, so only stderr tells them apart).
func faultNoCrash(t *testing.T, r result) {
	t.Helper()
	if r.code < 0 {
		t.Fatalf("gatehouse was killed by a signal\nstdout: %s\nstderr: %s", r.stdout, r.stderr)
	}
	for _, crash := range []string{"panic:", "goroutine ", "fatal error:", "SIGSEGV"} {
		if strings.Contains(r.stderr, crash) {
			t.Fatalf("gatehouse crashed (stderr has %q) instead of failing cleanly:\n%s", crash, r.stderr)
		}
	}
}

// faultClearFail checks a failure an operator must be able to act on: the
// exit status, no crash, a message with every phrase, and not the bare
// "internal error" that hides the cause. A wrong message is reported and
// the test goes on, so that what follows is checked too.
func faultClearFail(t *testing.T, r result, code int, phrases ...string) {
	t.Helper()
	faultNoCrash(t, r)
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	if strings.TrimSpace(r.stderr) == "gatehouse: internal error" {
		t.Errorf("the message hides the cause: %q (want it to say %q)", strings.TrimSpace(r.stderr), phrases)
		return
	}
	for _, p := range phrases {
		if !strings.Contains(r.stderr, p) {
			t.Errorf("the message does not say %q:\n%s", p, r.stderr)
		}
	}
}

// faultEnvIDs decodes `env list --output json` into its ids.
func faultEnvIDs(t *testing.T, r result) []string {
	t.Helper()
	var page struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
		NextCursor string `json:"nextCursor"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &page); err != nil {
		t.Fatalf("env list --output json printed no JSON page: %v\n%s", err, r.stdout)
	}
	if page.NextCursor != "" {
		t.Fatalf("env list has more than one page (next %q): raise --limit", page.NextCursor)
	}
	ids := make([]string, 0, len(page.Items))
	for _, it := range page.Items {
		ids = append(ids, it.ID)
	}
	return ids
}

// faultMissing returns the ids in want that are not in have.
func faultMissing(want, have []string) []string {
	var missing []string
	for _, id := range want {
		if !slices.Contains(have, id) {
			missing = append(missing, id)
		}
	}
	return missing
}

// faultCreatedID decodes `env create --output json` into the created id.
func faultCreatedID(stdout string) string {
	var created struct {
		Environment struct {
			ID string `json:"id"`
		} `json:"environment"`
	}
	if json.Unmarshal([]byte(stdout), &created) != nil {
		return ""
	}
	return created.Environment.ID
}

// faultIntegrity opens an SQLite file read-only (no gatehouse process may be
// running on it) and returns the rows of PRAGMA integrity_check: ["ok"]
// when the file is intact.
func faultIntegrity(t *testing.T, path string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("PRAGMA integrity_check")
	if err != nil {
		t.Fatalf("PRAGMA integrity_check on %s: %v", path, err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		got = append(got, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("PRAGMA integrity_check on %s: %v", path, err)
	}
	return got
}

// faultKEK is a valid key-encryption key, made by the binary.
func faultKEK(t *testing.T) string {
	t.Helper()
	return strings.TrimSpace(mustGH(t, t.TempDir(), nil, "kek", "generate").stdout)
}

// TestFaultDatabase points every store-opening command at PostgreSQL servers
// that cannot be used: one that does not listen, a role and a database the
// test server does not have, and a DSN without a key-encryption key. Each
// must exit with the right status and a message naming the cause, never
// showing the DSN's password. Cases marked server need
// GATEHOUSE_TEST_POSTGRES_DSN (required under CI).
func TestFaultDatabase(t *testing.T) {
	kek := faultKEK(t)
	// withServer rewrites the test server's DSN.
	withServer := func(edit func(u *url.URL)) func(*url.URL) string {
		return func(server *url.URL) string {
			u := *server
			edit(&u)
			return u.String()
		}
	}
	fixed := func(dsn string) func(*url.URL) string { return func(*url.URL) string { return dsn } }
	tests := []struct {
		name    string
		server  bool                  // needs the test server
		dsn     func(*url.URL) string // from the test server's DSN, when server
		kek     string                // "flag", "env" or "none"
		code    int
		phrases []string
	}{
		{"nothing listens", false, fixed("postgres://postgres@127.0.0.1:1/test?sslmode=disable"), "flag", 1,
			[]string{"cannot connect to PostgreSQL at 127.0.0.1:1"}},
		{"nothing listens, password in DSN, KEK from environment", false, fixed("postgres://u:" + faultSecret + "@127.0.0.1:1/x"), "env", 1,
			[]string{"cannot connect to PostgreSQL at 127.0.0.1:1"}},
		{"no KEK", false, fixed("postgres://u:" + faultSecret + "@127.0.0.1:1/x"), "none", 2,
			[]string{"kek"}},
		{"role does not exist", true, withServer(func(u *url.URL) { u.User = url.UserPassword("nobody_gh_test", faultSecret) }), "flag", 1,
			[]string{"cannot connect to PostgreSQL", `role "nobody_gh_test" does not exist`}},
		{"database does not exist", true, withServer(func(u *url.URL) {
			name := "postgres"
			if u.User != nil {
				name = u.User.Username()
			}
			u.User = url.UserPassword(name, faultSecret)
			u.Path = "/gh_no_such_db_test"
		}), "flag", 1,
			[]string{"cannot connect to PostgreSQL", `database "gh_no_such_db_test" does not exist`}},
	}
	commands := [][]string{{"migrate"}, {"env", "create", "acme"}, {"env", "list"}, {"serve", "--listen", "127.0.0.1:0"}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var server *url.URL
			if tt.server {
				server = faultPostgres(t)
			}
			dsn := tt.dsn(server)
			var env []string
			flags := []string{"--database", dsn}
			switch tt.kek {
			case "flag":
				flags = append(flags, "--kek", kek)
			case "env":
				env = append(env, "GATEHOUSE_KEK="+kek)
			}
			for _, cmd := range commands {
				t.Run(faultCmdName(cmd), func(t *testing.T) {
					dir := t.TempDir()
					r := faultRunner{timeout: 30 * time.Second}.run(t, dir, env, append(slices.Clone(cmd), flags...)...)
					faultClearFail(t, r, tt.code, tt.phrases...)
					if strings.Contains(r.stdout+r.stderr, faultSecret) {
						t.Fatalf("the DSN's password is printed:\nstdout: %s\nstderr: %s", r.stdout, r.stderr)
					}
					if _, err := os.Stat(filepath.Join(dir, "gatehouse-data")); err == nil {
						t.Errorf("a command given --database created the embedded data directory")
					}
				})
			}
		})
	}
}

// faultPostgres returns the test server's DSN, skipping the test when none
// is configured (failing under CI, which must run it).
func faultPostgres(t *testing.T) *url.URL {
	t.Helper()
	const envVar = "GATEHOUSE_TEST_POSTGRES_DSN"
	dsn := os.Getenv(envVar)
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: CI must run the PostgreSQL fault tests", envVar)
		}
		t.Skipf("%s is not set", envVar)
	}
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("%s must be a postgres:// URL for these tests, not %q", envVar, dsn)
	}
	return u
}

// faultSandbox returns a directory for a data directory and a runner for the
// binary. Root ignores file modes, so as root the runner runs the binary as
// user nobody, from a copy in a directory that user can traverse, and the data
// directory (dir/data, created) is nobody's.
func faultSandbox(t *testing.T) (dir, data string, run faultRunner) {
	t.Helper()
	if os.Geteuid() != 0 {
		dir = t.TempDir()
		data = filepath.Join(dir, "data")
		if err := os.Mkdir(data, 0o700); err != nil {
			t.Fatal(err)
		}
		return dir, data, faultRunner{}
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("running as root and there is no user nobody to drop to: %v", err)
	}
	uid, err1 := strconv.ParseUint(nobody.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(nobody.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		t.Fatalf("user nobody has uid %q, gid %q", nobody.Uid, nobody.Gid)
	}
	// Owned by root, traversable by all; removed when the test ends.
	dir, err = os.MkdirTemp("", "gatehouse-fault-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "gatehouse")
	src, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, src, 0o755); err != nil {
		t.Fatal(err)
	}
	data = filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(data, int(uid), int(gid)); err != nil {
		t.Fatal(err)
	}
	return dir, data, faultRunner{bin: bin, cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
}

// TestFaultReadOnly takes write permission away from a working store, checks
// that a write is refused with a message naming the problem and that the
// refused write left nothing behind, then gives the permission back and
// checks that the store reads and writes again.
func TestFaultReadOnly(t *testing.T) {
	tests := []struct {
		name    string
		target  string      // made read-only, relative to the data directory
		mode    os.FileMode // its read-only mode
		phrases func(data string) []string
	}{
		{"data directory", ".", 0o555, func(data string) []string {
			return []string{"the data directory " + data + " is not writable"}
		}},
		{"database file", "gatehouse.db", 0o444, func(data string) []string {
			return []string{filepath.Join(data, "gatehouse.db")}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, data, run := faultSandbox(t)
			if r := run.run(t, dir, nil, "--data-dir", data, "env", "create", "acme"); r.code != 0 {
				t.Fatalf("creating the store: exit %d\nstderr: %s", r.code, r.stderr)
			}
			target := filepath.Join(data, tt.target)
			info, err := os.Stat(target)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(target, tt.mode); err != nil {
				t.Fatal(err)
			}
			r := run.run(t, dir, nil, "--data-dir", data, "env", "create", "beta")
			if err := os.Chmod(target, info.Mode().Perm()); err != nil {
				t.Fatal(err)
			}
			faultClearFail(t, r, 1, tt.phrases(data)...)

			r = run.run(t, dir, nil, "--data-dir", data, "env", "show", "acme", "--output", "json")
			if r.code != 0 || !strings.Contains(r.stdout, `"id": "acme"`) {
				t.Fatalf("after restoring the permissions, env show acme: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			r = run.run(t, dir, nil, "--data-dir", data, "env", "list", "--output", "json")
			if ids := faultEnvIDs(t, r); !slices.Equal(ids, []string{"acme", "system"}) {
				t.Fatalf("after the refused write the store holds %v, want [acme system]", ids)
			}
			r = run.run(t, dir, nil, "--data-dir", data, "env", "create", "beta", "--output", "json")
			if r.code != 0 || faultCreatedID(r.stdout) != "beta" {
				t.Fatalf("after restoring the permissions of %s, env create beta: exit %d\nstdout: %s\nstderr: %s\ndata directory: %s",
					tt.target, r.code, r.stdout, r.stderr, faultListDir(t, data))
			}
		})
	}
}

// faultListDir describes a directory's entries and modes, for failure
// messages.
func faultListDir(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, e := range entries {
		if info, err := e.Info(); err == nil {
			fmt.Fprintf(&b, "%s %s %d; ", info.Mode(), e.Name(), info.Size())
		}
	}
	return b.String()
}

// faultFileSizeLimit returns a command prefix that runs a program with the
// size of every file it writes limited to limit bytes (RLIMIT_FSIZE). A
// write past the limit fails with EFBIG: the Go runtime ignores SIGXFSZ.
func faultFileSizeLimit(t *testing.T, limit int64) []string {
	t.Helper()
	if p, err := exec.LookPath("prlimit"); err == nil {
		return []string{p, "--fsize=" + strconv.FormatInt(limit, 10), "--"}
	}
	// sh's ulimit -f counts blocks of a size that depends on the shell (512
	// bytes in dash, 1024 in bash): ask the kernel what 8 blocks are.
	out, err := exec.Command("/bin/sh", "-c", "ulimit -f 8 && exec cat /proc/self/limits").Output()
	if err != nil {
		t.Skipf("neither prlimit nor sh's ulimit -f with /proc/self/limits: %v", err)
	}
	var unit int64
	for line := range strings.Lines(string(out)) {
		// Max file size            4096                 4096                 bytes
		rest, ok := strings.CutPrefix(line, "Max file size")
		if f := strings.Fields(rest); ok && len(f) > 0 {
			if v, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				unit = v / 8
			}
		}
	}
	if unit <= 0 {
		t.Skipf("cannot tell the block size of sh's ulimit -f from:\n%s", out)
	}
	return []string{"/bin/sh", "-c", `ulimit -f "$0" && exec "$@"`, strconv.FormatInt(limit/unit, 10)}
}

// TestFaultFullDisk creates environments with the store's files limited to
// just above their current size, as on a disk that fills up, until a create
// fails. The failure must be a clean exit 1 that says what is wrong; once
// the limit is lifted every acknowledged environment must be there, the
// store must open and migrate cleanly and take writes again, and SQLite
// must find the file intact.
func TestFaultFullDisk(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	mustGH(t, dir, nil, "--data-dir", data, "env", "create", "acme")
	var size int64
	for _, name := range []string{"gatehouse.db", "gatehouse.db-wal"} {
		if info, err := os.Stat(filepath.Join(data, name)); err == nil {
			size = max(size, info.Size())
		}
	}
	limit := size + 2*4096
	limited := faultRunner{wrapper: faultFileSizeLimit(t, limit)}

	// The wrapper really limits: a create that would need more space fails.
	const maxCreates = 100
	var acked []string
	var failed *result
	for i := range maxCreates {
		id := fmt.Sprintf("zz%03d", i)
		r := limited.run(t, dir, nil, "--data-dir", data, "env", "create", id, "--output", "json")
		if r.code != 0 {
			failed = &r
			t.Logf("%s failed after %d acknowledged creates under a %d-byte limit (store files: %s)", id, len(acked), limit, faultListDir(t, data))
			break
		}
		if got := faultCreatedID(r.stdout); got != id {
			t.Fatalf("env create %s exited 0 but printed %q", id, r.stdout)
		}
		acked = append(acked, id)
	}
	if failed == nil {
		t.Fatalf("%d creates under a file size limit of %d bytes all succeeded: the limit was not applied (store files: %s)",
			maxCreates, limit, faultListDir(t, data))
	}
	faultNoCrash(t, *failed)
	if failed.code != 1 {
		t.Fatalf("the create that hit the limit exited %d, want 1\nstderr: %s", failed.code, failed.stderr)
	}
	msg := strings.ToLower(failed.stderr)
	if !strings.Contains(msg, "disk") && !strings.Contains(msg, "full") && !strings.Contains(msg, "space") && !strings.Contains(msg, "file size") {
		t.Errorf("the create that hit the limit does not say the disk is full or failing:\n%s", failed.stderr)
	}

	ids := faultEnvIDs(t, mustGH(t, dir, nil, "--data-dir", data, "env", "list", "--output", "json", "--limit", "999"))
	if lost := faultMissing(acked, ids); len(lost) > 0 {
		t.Errorf("%d of %d acknowledged environments are missing after the disk filled up: %v; the store holds %v", len(lost), len(acked), lost, ids)
	}
	if r := gh(t, dir, nil, "--data-dir", data, "migrate", "--output", "json"); r.code != 0 || !strings.Contains(r.stdout, `"schemaVersion"`) {
		t.Fatalf("migrate after the disk filled up: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if r := mustGH(t, dir, nil, "--data-dir", data, "env", "create", "after-full", "--output", "json"); faultCreatedID(r.stdout) != "after-full" {
		t.Fatalf("env create after the limit was lifted printed %q", r.stdout)
	}
	if got := faultIntegrity(t, filepath.Join(data, "gatehouse.db")); !slices.Equal(got, []string{"ok"}) {
		t.Errorf("PRAGMA integrity_check after the disk filled up = %q, want [ok]", got)
	}
}

// TestFaultCorruptRandomFile puts 8 KiB of random bytes where gatehouse.db
// should be. Every command must refuse it with exit 1 and a message saying
// the file is not a Gatehouse database, and leave it as it was: same bytes,
// no journal, no key file generated for it.
func TestFaultCorruptRandomFile(t *testing.T) {
	junk := make([]byte, 8192)
	rand.NewChaCha8([32]byte{'g', 'h'}).Read(junk) // a fixed seed: the same junk every run
	commands := [][]string{
		{"migrate"},
		{"env", "list"},
		{"env", "create", "beta"},
		{"serve", "--listen", "127.0.0.1:0"},
	}
	for _, cmd := range commands {
		t.Run(faultCmdName(cmd), func(t *testing.T) {
			dir := t.TempDir()
			data := filepath.Join(dir, "data")
			if err := os.Mkdir(data, 0o700); err != nil {
				t.Fatal(err)
			}
			db := filepath.Join(data, "gatehouse.db")
			if err := os.WriteFile(db, junk, 0o600); err != nil {
				t.Fatal(err)
			}
			r := faultRunner{timeout: 30 * time.Second}.run(t, dir, nil, append([]string{"--data-dir", data}, cmd...)...)
			faultClearFail(t, r, 1, db+" is not a valid Gatehouse database")
			after, err := os.ReadFile(db)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(after, junk) {
				t.Errorf("the command changed the file it refused")
			}
			for _, name := range []string{"gatehouse.db-wal", "gatehouse.db-journal", "kek"} {
				if _, err := os.Stat(filepath.Join(data, name)); err == nil {
					t.Errorf("the command left %s next to the file it refused", name)
				}
			}
		})
	}
}

// TestFaultCorruptPage overwrites one page in the middle of a real store
// with garbage. A command may still succeed if it does not touch that page
// (then its output must be whole), or fail; failing, it must exit 1 with a
// message that says the store is corrupted. It must never crash or hang.
func TestFaultCorruptPage(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	for i := range 50 {
		mustGH(t, dir, nil, "--data-dir", data, "env", "create", fmt.Sprintf("env-%02d", i))
	}
	db := filepath.Join(data, "gatehouse.db")
	image, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(db + "-wal"); err == nil {
		t.Fatalf("the store has a WAL after every command ended: the corruption below would not be seen")
	}
	const pageSize, page = 4096, 3
	if len(image) < (page+2)*pageSize {
		t.Fatalf("gatehouse.db is %d bytes: too small to corrupt page %d of", len(image), page)
	}
	kek, err := os.ReadFile(filepath.Join(data, "kek"))
	if err != nil {
		t.Fatal(err)
	}
	rand.NewChaCha8([32]byte{'p', 'a', 'g', 'e'}).Read(image[page*pageSize : (page+1)*pageSize]) // a fixed seed

	commands := [][]string{
		{"env", "list", "--limit", "999"},
		{"env", "show", "env-25"},
		{"env", "create", "fresh"},
		{"migrate"},
	}
	for _, cmd := range commands {
		t.Run(faultCmdName(cmd), func(t *testing.T) {
			// Each command gets its own copy of the corrupted store.
			data := filepath.Join(t.TempDir(), "data")
			if err := os.Mkdir(data, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(data, "gatehouse.db"), image, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(data, "kek"), kek, 0o600); err != nil {
				t.Fatal(err)
			}
			r := faultRunner{timeout: 30 * time.Second}.run(t, dir, nil, append([]string{"--data-dir", data, "--output", "json"}, cmd...)...)
			faultNoCrash(t, r)
			switch r.code {
			case 0:
				if !json.Valid([]byte(r.stdout)) || strings.TrimSpace(r.stdout) == "" {
					t.Errorf("succeeded on a corrupted store but printed no whole JSON:\n%s", r.stdout)
				}
				t.Logf("succeeded: the command does not read page %d", page)
			case 1:
				msg := strings.ToLower(r.stderr)
				if !strings.Contains(msg, "corrupt") && !strings.Contains(msg, "malformed") {
					t.Errorf("failed on a corrupted store without saying so:\n%s", r.stderr)
				}
				t.Logf("refused: %s", strings.TrimSpace(r.stderr))
			default:
				t.Errorf("exit %d on a corrupted store, want 0 or 1\nstderr: %s", r.code, r.stderr)
			}
		})
	}
}

// TestFaultSchemaNewer marks a store as migrated to version 9999, as a newer
// gatehouse would leave it. This binary must refuse it in every command,
// naming the version, and must not touch it: the version stays, and a
// refused create writes nothing.
func TestFaultSchemaNewer(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	mustGH(t, dir, nil, "--data-dir", data, "env", "create", "acme")
	path := filepath.Join(data, "gatehouse.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	columns := map[string]bool{}
	rows, err := db.Query("PRAGMA table_info(goose_db_version)")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var cid, notNull, pk int
		var name, typ string
		var def sql.NullString
		if err := rows.Scan(&cid, &name, &typ, &notNull, &def, &pk); err != nil {
			t.Fatal(err)
		}
		columns[name] = true
	}
	rows.Close()
	for _, c := range []string{"version_id", "is_applied", "tstamp"} {
		if !columns[c] {
			t.Fatalf("goose_db_version has no column %s: %v", c, columns)
		}
	}
	if _, err := db.Exec("INSERT INTO goose_db_version (version_id, is_applied, tstamp) VALUES (?, ?, CURRENT_TIMESTAMP)", 9999, true); err != nil {
		t.Fatal(err)
	}
	db.Close()

	const want = "is at version 9999, newer than this gatehouse binary"
	for _, cmd := range [][]string{{"migrate"}, {"env", "list"}, {"env", "create", "beta"}} {
		r := faultRunner{}.run(t, dir, nil, append([]string{"--data-dir", data}, cmd...)...)
		faultClearFail(t, r, 1, want)
	}
	s := startServe(t, dir, nil, "serve", "--listen", freeAddr(t), "--data-dir", data)
	if code := s.wait(t); code != 1 || !strings.Contains(s.stderr.String(), want) {
		t.Fatalf("serve on a newer schema: exit %d, want 1 saying %q\nstderr: %s", code, want, s.stderr)
	}

	db, err = sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var version, beta int
	if err := db.QueryRow("SELECT max(version_id) FROM goose_db_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("SELECT count(*) FROM environments WHERE id = 'beta'").Scan(&beta); err != nil {
		t.Fatal(err)
	}
	if version != 9999 || beta != 0 {
		t.Errorf("after the refusals the schema version is %d (want 9999) and beta exists %d times (want 0)", version, beta)
	}
}

// faultCreate is one `env create` run of the SIGKILL test's writer.
type faultCreate struct {
	id     string
	cmd    *exec.Cmd
	done   chan struct{} // closed when the run has ended and the fields below are set
	code   int
	killed bool // ended by SIGKILL
	stderr string
}

// TestFaultKillDuringWrites runs `env create` after `env create` while
// `gatehouse serve` serves the same data directory and is read from, then
// SIGKILLs a create in flight and the server. The server must start again
// (the killed server's lock is not left behind), every acknowledged
// environment must be listed and serve its JWKS, no half-created
// environment may be visible, and SQLite must find the file intact.
func TestFaultKillDuringWrites(t *testing.T) {
	const (
		ackedBeforeKill = 15
		maxCreates      = 300 // bounds the writer
		maxKillAttempts = 20  // creates to try killing until one dies in flight
	)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	srv := serve(t, dir, freeAddr(t), nil, "--data-dir", data)

	var (
		mu      sync.Mutex
		acked   []string
		current *faultCreate // the create running now
		started []string     // every id the writer started, in order
		failure string       // a create that failed without being killed
	)
	stop := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for i := range maxCreates {
			select {
			case <-stop:
				return
			default:
			}
			c := &faultCreate{id: fmt.Sprintf("k%03d", i), done: make(chan struct{})}
			ctx, cancel := context.WithTimeout(context.Background(), faultTimeout)
			c.cmd = exec.CommandContext(ctx, binary, "--data-dir", data, "env", "create", c.id, "--output", "json")
			c.cmd.Dir, c.cmd.Env = dir, cleanEnv()
			var stdout, stderr bytes.Buffer
			c.cmd.Stdout, c.cmd.Stderr = &stdout, &stderr
			mu.Lock()
			err := c.cmd.Start()
			if err == nil {
				current = c
				started = append(started, c.id)
			}
			mu.Unlock()
			if err != nil {
				cancel()
				mu.Lock()
				failure = fmt.Sprintf("starting env create %s: %v", c.id, err)
				mu.Unlock()
				return
			}
			err = c.cmd.Wait()
			cancel()
			c.code, c.stderr = c.cmd.ProcessState.ExitCode(), stderr.String()
			if ws, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
				c.killed = true
			}
			mu.Lock()
			current = nil
			switch {
			case c.code == 0 && faultCreatedID(stdout.String()) == c.id:
				acked = append(acked, c.id)
			case !c.killed:
				failure = fmt.Sprintf("env create %s, not killed, failed: %v\nstdout: %s\nstderr: %s", c.id, err, stdout.String(), c.stderr)
			}
			// After a create dies in flight, nothing writes any more: the
			// restarted server is the first to open what the kills left.
			stopNow := failure != "" || c.killed
			mu.Unlock()
			close(c.done)
			if stopNow {
				return
			}
		}
	}()
	stopWriter := sync.OnceFunc(func() { close(stop) })
	defer func() {
		stopWriter()
		<-writerDone
	}()
	ackedCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		if failure != "" {
			t.Fatal(failure)
		}
		return len(acked)
	}

	// Read each newest environment's JWKS from the server while the writer
	// writes, until the server is killed mid-read: an acknowledged
	// environment is visible to the server at once.
	var serverKilled atomic.Bool
	readerStop := make(chan struct{})
	readerDone := make(chan []string, 1)
	stopReader := sync.OnceFunc(func() { close(readerStop) })
	defer stopReader()
	go func() {
		var problems []string
		client := &http.Client{Timeout: 10 * time.Second}
		for {
			select {
			case <-readerStop:
				readerDone <- problems
				return
			default:
			}
			mu.Lock()
			var id string
			if len(acked) > 0 {
				id = acked[len(acked)-1]
			}
			mu.Unlock()
			if id == "" {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			resp, err := client.Get(srv.url + "/" + id + "/oauth2/jwks")
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			switch {
			case serverKilled.Load():
				// Failures from here on are the kill's.
				time.Sleep(5 * time.Millisecond)
			case err != nil:
				problems = append(problems, fmt.Sprintf("GET /%s/oauth2/jwks during the writes: %v", id, err))
			case resp.StatusCode != http.StatusOK:
				problems = append(problems, fmt.Sprintf("GET /%s/oauth2/jwks during the writes: %s", id, resp.Status))
			}
		}
	}()

	// Wait (bounded) for the first acknowledged creates.
	deadline := time.Now().Add(faultTimeout)
	for ackedCount() < ackedBeforeKill {
		if time.Now().After(deadline) {
			t.Fatalf("only %d creates acknowledged within %v", ackedCount(), faultTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// SIGKILL the running create after a random moment into it, and the
	// server with it; if the create had already finished, try the next.
	var victim *faultCreate
	for attempt := 0; attempt < maxKillAttempts && victim == nil; attempt++ {
		var c *faultCreate
		for c == nil {
			ackedCount() // fails the test if the writer failed
			select {
			case <-writerDone:
				t.Fatalf("the writer ran out of creates before one could be killed in flight")
			default:
			}
			mu.Lock()
			c = current
			mu.Unlock()
			if c == nil {
				time.Sleep(time.Millisecond)
			}
		}
		time.Sleep(rand.N(80 * time.Millisecond)) // a create takes tens of milliseconds
		c.cmd.Process.Signal(syscall.SIGKILL)
		if attempt == 0 {
			serverKilled.Store(true)
			srv.cmd.Process.Signal(syscall.SIGKILL)
			<-srv.done
			stopReader()
			if problems := <-readerDone; len(problems) > 0 {
				t.Errorf("the server did not serve acknowledged environments during the writes: %v", problems[:min(len(problems), 5)])
			}
		}
		<-c.done
		if c.killed {
			victim = c
		}
	}
	stopWriter()
	<-writerDone
	ackedCount()
	if victim == nil {
		t.Fatalf("no create was still running when SIGKILL came, in %d attempts", maxKillAttempts)
	}
	mu.Lock()
	ackedIDs, startedIDs := slices.Clone(acked), slices.Clone(started)
	mu.Unlock()
	t.Logf("killed env create %s and the server after %d acknowledged creates", victim.id, len(ackedIDs))

	srv2 := serve(t, dir, freeAddr(t), nil, "--data-dir", data)
	ids := faultEnvIDs(t, mustGH(t, dir, nil, "--data-dir", data, "env", "list", "--output", "json", "--limit", "999"))
	if lost := faultMissing(ackedIDs, ids); len(lost) > 0 {
		t.Errorf("%d of %d acknowledged environments are missing after SIGKILL: %v; the store holds %v", len(lost), len(ackedIDs), lost, ids)
	}
	t.Logf("the killed create of %s committed before the kill: %v", victim.id, slices.Contains(ids, victim.id))
	for _, id := range ids {
		if id != "system" && !slices.Contains(startedIDs, id) {
			t.Errorf("the store holds %s, which nobody created", id)
		}
		// An environment is created in one transaction with its signing
		// key: one that is listed has its JWKS, or it is half-created.
		status, body := get(t, srv2.url+"/"+id+"/oauth2/jwks")
		if status != 200 || !strings.Contains(body, `"keys"`) {
			t.Errorf("GET /%s/oauth2/jwks after the restart: %d %s", id, status, body)
		}
	}
	if code := srv2.stop(t); code != 0 {
		t.Fatalf("the restarted server exited %d after SIGTERM\nstderr: %s", code, srv2.stderr)
	}
	if got := faultIntegrity(t, filepath.Join(data, "gatehouse.db")); !slices.Equal(got, []string{"ok"}) {
		t.Errorf("PRAGMA integrity_check after SIGKILL = %q, want [ok]", got)
	}
}
