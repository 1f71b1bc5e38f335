// Package mailpittest runs a real SMTP server, mailpit, for tests that send
// email, and reads back what it received through mailpit's HTTP API.
//
// mailpit must be installed: scripts/ensure-mailpit.sh installs the pinned
// version into $(go env GOBIN) or $(go env GOPATH)/bin, where Start looks
// first, before $PATH. A test that needs mailpit fails when it is missing,
// never skips, so that a machine without it cannot pass by testing less.
package mailpittest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a running mailpit, stopped when the test ends.
type Server struct {
	// SMTPURL is the smtp:// URL that mail.NewSMTP takes.
	SMTPURL string
	// APIURL is the base URL of mailpit's web UI and HTTP API.
	APIURL string

	cmd *exec.Cmd
	out *lockedBuffer
}

// Message is a message mailpit received.
type Message struct {
	ID      string // mailpit's id, for Raw
	From    string // the From address, without display name
	To      []string
	Subject string // decoded
	// Text is the decoded plain-text body, with the CRLF line endings it
	// was sent with.
	Text string
}

// Start runs mailpit on free loopback ports, keeping mail in a temporary
// database, with args added to its command line (e.g. "--smtp-auth-file",
// path). It fails the test when mailpit is not installed or does not start.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatalf("mailpittest: %v", err)
	}
	var lastErr error
	// A free port found here may be taken before mailpit binds it: try
	// again with others.
	for range 3 {
		s, err := start(t, bin, args)
		if err == nil {
			return s
		}
		lastErr = err
	}
	t.Fatalf("mailpittest: %v", lastErr)
	return nil
}

// binary finds mailpit where scripts/ensure-mailpit.sh puts it, else on
// $PATH.
func binary() (string, error) {
	var dirs []string
	if out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output(); err == nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) > 0 && strings.TrimSpace(lines[0]) != "" {
			dirs = append(dirs, strings.TrimSpace(lines[0]))
		}
		if len(lines) > 1 {
			for _, p := range filepath.SplitList(strings.TrimSpace(lines[1])) {
				dirs = append(dirs, filepath.Join(p, "bin"))
			}
		}
	}
	for _, dir := range dirs {
		p := filepath.Join(dir, "mailpit")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p, nil
	}
	return "", errors.New("mailpit is not installed: run scripts/ensure-mailpit.sh (it installs mailpit v1.33.1 with go install)")
}

func start(t testing.TB, bin string, extra []string) (*Server, error) {
	smtpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	httpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := append([]string{
		"--disable-version-check",
		"--smtp", smtpAddr,
		"--listen", httpAddr,
		"--database", filepath.Join(t.TempDir(), "mailpit.db"),
		"--quiet",
	}, extra...)
	s := &Server{SMTPURL: "smtp://" + smtpAddr, APIURL: "http://" + httpAddr, out: &lockedBuffer{}}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() { s.cmd.Wait(); close(exited) }()
	stop := func() {
		s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			s.cmd.Process.Kill()
			<-exited
		}
	}
	if err := s.waitReady(smtpAddr, exited); err != nil {
		stop()
		return nil, fmt.Errorf("%w; mailpit said: %s", err, s.out.String())
	}
	t.Cleanup(stop)
	return s, nil
}

// freeAddr is a loopback address with a port that was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitReady waits until mailpit answers on both its HTTP API and its SMTP
// port, or has exited.
func (s *Server) waitReady(smtpAddr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("mailpit exited at start")
		case <-time.After(50 * time.Millisecond):
		}
		resp, err := http.Get(s.APIURL + "/readyz")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			continue
		}
		if c, err := net.DialTimeout("tcp", smtpAddr, time.Second); err == nil {
			c.Close()
			return nil
		}
	}
	return errors.New("mailpit did not get ready within 15 s")
}

// WaitFor waits up to timeout for a message to the address to (compared
// without regard to case) and returns the newest one. It fails the test,
// listing what mailpit did receive, when none comes.
func (s *Server) WaitFor(t testing.TB, to string, timeout time.Duration) Message {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		id, err := s.newestTo(to)
		if err != nil {
			t.Fatalf("mailpittest: %v", err)
		}
		if id != "" {
			return s.message(t, id)
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailpittest: no message to %s within %v; mailpit has: %s", to, timeout, s.summary())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// summary is the newest few messages mailpit holds, for failure messages.
func (s *Server) summary() string {
	var list messageList
	if err := s.getJSON("/api/v1/messages?limit=20", &list); err != nil {
		return err.Error()
	}
	if len(list.Messages) == 0 {
		return "no messages"
	}
	var parts []string
	for _, m := range list.Messages {
		parts = append(parts, fmt.Sprintf("to %v %q", addresses(m.To), m.Subject))
	}
	return strings.Join(parts, "; ")
}

type address struct{ Name, Address string }

type messageList struct {
	Messages []struct {
		ID      string
		To      []address
		Subject string
	} `json:"messages"`
}

// newestTo is the id of the newest message to the address, or "".
func (s *Server) newestTo(to string) (string, error) {
	var list messageList
	// mailpit's to: search matches substrings; the exact check is below.
	q := url.Values{"query": {`to:"` + to + `"`}, "limit": {"50"}}
	if err := s.getJSON("/api/v1/search?"+q.Encode(), &list); err != nil {
		return "", err
	}
	for _, m := range list.Messages { // newest first
		for _, a := range m.To {
			if strings.EqualFold(a.Address, to) {
				return m.ID, nil
			}
		}
	}
	return "", nil
}

func (s *Server) message(t testing.TB, id string) Message {
	t.Helper()
	var m struct {
		ID      string
		From    address
		To      []address
		Subject string
		Text    string
	}
	if err := s.getJSON("/api/v1/message/"+url.PathEscape(id), &m); err != nil {
		t.Fatalf("mailpittest: %v", err)
	}
	return Message{ID: m.ID, From: m.From.Address, To: addresses(m.To), Subject: m.Subject, Text: m.Text}
}

func addresses(as []address) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Address
	}
	return out
}

// Raw returns a message exactly as mailpit received it, headers included
// (mailpit adds a Received and a Return-Path header at the top).
func (s *Server) Raw(t testing.TB, id string) []byte {
	t.Helper()
	body, err := s.get("/api/v1/message/" + url.PathEscape(id) + "/raw")
	if err != nil {
		t.Fatalf("mailpittest: %v", err)
	}
	return body
}

// Clear deletes every message, for a test that must not see older ones.
func (s *Server) Clear(t testing.TB) {
	t.Helper()
	req, err := http.NewRequest(http.MethodDelete, s.APIURL+"/api/v1/messages", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("mailpittest: delete messages: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("mailpittest: delete messages: %s", resp.Status)
	}
}

func (s *Server) getJSON(path string, v any) error {
	body, err := s.get(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

func (s *Server) get(path string) ([]byte, error) {
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(s.APIURL + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
	}
	return body, nil
}

// lockedBuffer collects mailpit's output, written and read from different
// goroutines.
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
