package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the gatehouse command built once for the end-to-end tests, as
// users run it (no race detector, so hashing runs at real speed).
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gatehouse-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "gatehouse")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building gatehouse: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is what one command run printed and how it ended.
type result struct {
	stdout, stderr string
	code           int
}

// cleanEnv is the environment without any GATEHOUSE_ setting of the
// developer's, plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEHOUSE_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// gh runs the gatehouse command in dir with env added to a clean
// environment.
func gh(t testing.TB, dir string, env []string, args ...string) result {
	t.Helper()
	return runGH(t, dir, env, "", args...)
}

// runGH runs the gatehouse command with stdin as its standard input.
func runGH(t testing.TB, dir string, env []string, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = cleanEnv(env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("running gatehouse %v: %v", args, err)
	}
	return r
}

// mustGH runs a command that must succeed.
func mustGH(t testing.TB, dir string, env []string, args ...string) result {
	t.Helper()
	r := gh(t, dir, env, args...)
	if r.code != 0 {
		t.Fatalf("gatehouse %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// wantFail checks a failed run: its exit status and a message that contains
// every one of the phrases.
func wantFail(t testing.TB, r result, code int, phrases ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	for _, p := range phrases {
		if !strings.Contains(r.stderr, p) {
			t.Fatalf("stderr does not say %q:\n%s", p, r.stderr)
		}
	}
}

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// lockedBuffer is an output buffer the test reads while the process writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serverProc is a running `gatehouse serve`.
type serverProc struct {
	cmd            *exec.Cmd
	url            string
	stdout, stderr *lockedBuffer
	done           chan struct{}
	exitCode       int
}

// serve starts `gatehouse serve` in dir on addr (flags and env added) and
// waits until /readyz answers 200. The server is killed when the test ends.
func serve(t testing.TB, dir, addr string, env []string, args ...string) *serverProc {
	t.Helper()
	s := startServe(t, dir, env, append([]string{"serve", "--listen", addr}, args...)...)
	s.url = "http://" + addr
	if err := s.waitReady(20 * time.Second); err != nil {
		t.Fatalf("%v\nstdout: %s\nstderr: %s", err, s.stdout, s.stderr)
	}
	return s
}

// startServe starts the command without waiting for it to be ready.
func startServe(t testing.TB, dir string, env []string, args ...string) *serverProc {
	t.Helper()
	s := &serverProc{stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(binary, args...)
	s.cmd.Dir = dir
	s.cmd.Env = cleanEnv(env...)
	s.cmd.Stdout, s.cmd.Stderr = s.stdout, s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.cmd.Wait()
		s.exitCode = s.cmd.ProcessState.ExitCode()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.done
	})
	return s
}

func (s *serverProc) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("gatehouse serve exited with status %d before it was ready", s.exitCode)
		default:
		}
		if resp, err := http.Get(s.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("gatehouse serve was not ready within %v", limit)
}

// stop sends SIGTERM and waits for the exit status.
func (s *serverProc) stop(t testing.TB) int {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(40 * time.Second):
		t.Fatal("gatehouse serve did not stop after SIGTERM")
	}
	return s.exitCode
}

// wait waits for a server that is expected to exit on its own.
func (s *serverProc) wait(t testing.TB) int {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		t.Fatal("gatehouse serve did not exit")
	}
	return s.exitCode
}

// get fetches a path and returns the status and body.
func get(t testing.TB, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
