package sqlite_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/sqlite"
)

// writeLoopDirEnv names the data directory of the child process that
// TestDurableAfterSIGKILL starts; without it TestWriteLoopHelper skips.
const writeLoopDirEnv = "GATEHOUSE_WRITE_LOOP_DIR"

// Bounds of the SIGKILL test.
const (
	// killAfter is how many acknowledged writes the parent waits for before
	// it kills the child.
	killAfter = 200
	// maxLoopWrites bounds the child's loop should the parent never kill it.
	maxLoopWrites = 20000
	// childDeadline bounds the whole run of the child: past it the parent
	// kills it and fails.
	childDeadline = 3 * time.Minute
)

// loopID is the id of the child's i-th environment: a valid slug.
func loopID(i int) string { return fmt.Sprintf("w%06d", i) }

var loopIDPattern = regexp.MustCompile(`^w[0-9]{6}$`)

// TestWriteLoopHelper is not a test: it is the child process of
// TestDurableAfterSIGKILL. It opens the store in $GATEHOUSE_WRITE_LOOP_DIR
// and creates environments one after another; once CreateEnvironment has
// returned nil it writes the id, unbuffered, on a line of stdout. That line
// is the acknowledgement the parent relies on. Should the parent go away,
// the next write to the closed pipe ends this process with SIGPIPE.
func TestWriteLoopHelper(t *testing.T) {
	dir := os.Getenv(writeLoopDirEnv)
	if dir == "" {
		t.Skip("helper process of TestDurableAfterSIGKILL; runs only when " + writeLoopDirEnv + " is set")
	}
	ctx := context.Background()
	store, err := sqlite.Open(ctx, dir, true, nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "opening the store: %v\n", err)
		os.Exit(3)
	}
	for i := range maxLoopWrites {
		now := time.Now().UTC()
		id := loopID(i)
		env := &gatehouse.Environment{ID: id, DisplayName: "Loop " + id, Status: gatehouse.EnvironmentActive, CreatedOn: now, UpdatedOn: now}
		if err := store.CreateEnvironment(ctx, env); err != nil {
			fmt.Fprintf(os.Stderr, "creating %s: %v\n", id, err)
			os.Exit(3)
		}
		if _, err := os.Stdout.Write([]byte(id + "\n")); err != nil {
			os.Exit(4)
		}
	}
	// Only reached when nobody killed the loop: the parent reports it.
	os.Exit(5)
}

// TestDurableAfterSIGKILL kills a process with SIGKILL while it writes to
// the store in a tight loop, then checks that every write the process had
// acknowledged survived, that at most the one write in flight was added
// besides, and that SQLite finds the file intact.
func TestDurableAfterSIGKILL(t *testing.T) {
	dir := t.TempDir()
	child := exec.Command(os.Args[0], "-test.run=^TestWriteLoopHelper$", "-test.count=1")
	child.Env = append(os.Environ(), writeLoopDirEnv+"="+dir)
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	child.Stderr = &stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	// A child that stops writing must not hang the test: kill it, and the
	// reads below end.
	watchdog := time.AfterFunc(childDeadline, func() { child.Process.Kill() })
	defer watchdog.Stop()

	var acked []string
	lines := bufio.NewScanner(stdout)
	ack := func() {
		id := lines.Text()
		if !loopIDPattern.MatchString(id) {
			t.Errorf("the child printed %q, not an environment id", id)
			return
		}
		acked = append(acked, id)
	}
	for len(acked) < killAfter && lines.Scan() {
		ack()
	}
	// Vary where in its write cycle (encoding, commit, fsync,
	// acknowledgement) the signal lands.
	time.Sleep(rand.N(3 * time.Millisecond))
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("killing the child after %d writes: %v\nstderr: %s", len(acked), err, stderr.String())
	}
	// Lines written before the signal landed are acknowledgements too.
	for lines.Scan() {
		ack()
	}
	waitErr := child.Wait()
	var exit *exec.ExitError
	if !errors.As(waitErr, &exit) {
		t.Fatalf("child ended with %v, want death by SIGKILL\nstderr: %s", waitErr, stderr.String())
	}
	if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want death by SIGKILL (after %d acknowledged writes; watchdog fires after %v)\nstderr: %s",
			waitErr, len(acked), childDeadline, stderr.String())
	}
	if len(acked) < killAfter {
		t.Fatalf("only %d writes were acknowledged before the kill, want at least %d", len(acked), killAfter)
	}
	for i, id := range acked {
		if id != loopID(i) {
			t.Fatalf("acknowledgement %d is %s, want %s: the child writes in order", i, id, loopID(i))
		}
	}
	t.Logf("%d writes acknowledged before SIGKILL", len(acked))

	ctx := context.Background()
	store, err := sqlite.Open(ctx, dir, true, nil)
	if err != nil {
		t.Fatalf("reopening the store after SIGKILL: %v", err)
	}
	defer store.Close()
	var lost []string
	for _, id := range acked {
		env, err := store.GetEnvironment(ctx, id)
		switch {
		case err != nil:
			lost = append(lost, fmt.Sprintf("%s (%v)", id, err))
		case env.DisplayName != "Loop "+id || env.Status != gatehouse.EnvironmentActive:
			lost = append(lost, fmt.Sprintf("%s (reads back as %+v)", id, env))
		}
	}
	if len(lost) > 0 {
		t.Errorf("%d of %d acknowledged environments are lost after SIGKILL, first: %v", len(lost), len(acked), lost[:min(len(lost), 5)])
	}

	// The loop is sequential: besides the acknowledged writes, only the one
	// in flight at the kill may have committed.
	var stored []string
	for after := ""; ; {
		page, err := store.ListEnvironments(ctx, after, 500)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			stored = append(stored, e.ID)
		}
		if len(page) < 500 {
			break
		}
		after = page[len(page)-1].ID
	}
	inFlight := append(slices.Clone(acked), loopID(len(acked)))
	if !slices.Equal(stored, acked) && !slices.Equal(stored, inFlight) {
		t.Errorf("the store holds %d environments %v..., want the %d acknowledged ones, plus at most %s",
			len(stored), stored[:min(len(stored), 3)], len(acked), loopID(len(acked)))
	}

	t.Logf("%d environments stored after reopening", len(stored))

	if got := integrityCheck(t, store.DB()); !slices.Equal(got, []string{"ok"}) {
		t.Errorf("PRAGMA integrity_check after SIGKILL = %q, want [ok]", got)
	}
}

// integrityCheck returns every row of PRAGMA integrity_check: ["ok"] for
// an intact file.
func integrityCheck(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), "PRAGMA integrity_check")
	if err != nil {
		t.Fatalf("PRAGMA integrity_check: %v", err)
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
		t.Fatalf("PRAGMA integrity_check: %v", err)
	}
	return got
}
