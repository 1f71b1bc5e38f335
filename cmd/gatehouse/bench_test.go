package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/keyring"
	"github.com/gatehouse/gatehouse/service"
	"github.com/gatehouse/gatehouse/sqlite"
)

// BenchmarkServeStartToReady starts `gatehouse serve` on an existing SQLite
// store of 1,000 environments and reports the time from exec to the first
// 200 from /readyz, and the resident memory of the server idle after it.
// Budgets (DESIGN.md §7): start to ready ≤ 1 s, idle RSS ≤ 60 MB.
func BenchmarkServeStartToReady(b *testing.B) {
	dir := b.TempDir()
	seedEnvironments(b, filepath.Join(dir, "gatehouse-data"), 1000)
	var toReady time.Duration
	var rss float64
	n := 0
	for b.Loop() {
		addr := freeAddr(b)
		start := time.Now()
		s := startServe(b, dir, nil, "serve", "--listen", addr)
		for {
			resp, err := http.Get("http://" + addr + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
		toReady += time.Since(start)
		time.Sleep(time.Second)
		rss += rssMB(b, s.cmd.Process.Pid)
		n++
		s.stop(b)
	}
	b.ReportMetric(float64(toReady.Microseconds())/1000/float64(n), "ms-to-ready")
	b.ReportMetric(rss/float64(n), "MB-idle-RSS")
	b.ReportMetric(0, "ns/op")
}

// seedEnvironments fills the embedded store in dataDir as the CLI would.
func seedEnvironments(b *testing.B, dataDir string, n int) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, dataDir, true, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	kr, _, err := keyring.LoadOrCreateFile(filepath.Join(dataDir, kekFileName))
	if err != nil {
		b.Fatal(err)
	}
	svc := &service.Service{Store: store, Keyring: kr}
	if _, err := svc.Bootstrap(ctx); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 2 {
				if _, err := svc.CreateEnvironment(ctx, service.OperatorActor(), service.NewEnvironment{ID: fmt.Sprintf("env-%04d", i)}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func rssMB(b *testing.B, pid int) float64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.Atoi(strings.Fields(line)[1])
			return float64(kb) / 1024
		}
	}
	b.Fatal("no VmRSS in /proc status")
	return 0
}

// TestLoadCountsShedApart: a 503 with Retry-After is the server shedding
// load as designed and is counted apart; any other failure is an error.
func TestLoadCountsShedApart(t *testing.T) {
	var n atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) % 3 {
		case 1:
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2:
			w.WriteHeader(http.StatusServiceUnavailable) // no Retry-After: a failure
		}
	}))
	defer ts.Close()
	res := load(context.Background(), ts.URL, 1, time.Minute, 30, func() (*http.Request, error) {
		return http.NewRequest("GET", ts.URL, nil)
	})
	if res.Requests != 10 || res.Shed != 10 || res.Errors != 10 || res.FirstError != "status 503" {
		t.Fatalf("30 requests, a third each answered, shed and failed: %+v", res)
	}
}
