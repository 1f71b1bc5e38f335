package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/keyring"
	"github.com/gatehouse/gatehouse/server"
	"github.com/gatehouse/gatehouse/service"
	"github.com/gatehouse/gatehouse/sqlite"
)

func newServer(t *testing.T) (*httptest.Server, *service.Service, *server.Metrics) {
	t.Helper()
	metrics := server.NewMetrics()
	store, err := sqlite.Open(context.Background(), t.TempDir(), true, metrics.ObserveStore)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	kr, _ := keyring.New(keyring.Generate())
	svc := &service.Service{Store: store, Keyring: kr}
	if _, err := svc.CreateEnvironment(context.Background(), service.OperatorActor(), service.NewEnvironment{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(server.New(svc, slog.New(slog.DiscardHandler), metrics))
	t.Cleanup(ts.Close)
	return ts, svc, metrics
}

func fetch(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestOperationsEndpoints(t *testing.T) {
	ts, _, _ := newServer(t)
	cases := []struct {
		path, contentType, body string
		status                  int
	}{
		{"/healthz", "application/json", `"ok"`, 200},
		{"/readyz", "application/json", `"ready"`, 200},
		{"/acme/oauth2/jwks", "application/jwk-set+json", `"kty":"EC"`, 200},
		{"/nope/oauth2/jwks", "application/problem+json", `environment \"nope\" not found`, 404},
		{"/ACME/oauth2/jwks", "application/problem+json", `not found`, 404},
		{"/acme%2F..%2Fsystem/oauth2/jwks", "application/problem+json", `not found`, 404},
		{"/" + strings.Repeat("a", 5000) + "/oauth2/jwks", "application/problem+json", `not found`, 404},
		{"/no/such/endpoint/at/all", "application/problem+json", `"status":404`, 404},
	}
	for _, tc := range cases {
		resp, body := fetch(t, ts.URL+tc.path)
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != tc.contentType || !strings.Contains(body, tc.body) {
			t.Errorf("GET %.60s: %d %s %s", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %.60s: no nosniff header", tc.path)
		}
	}
	resp, err := http.Post(ts.URL+"/healthz", "text/plain", nil)
	if err != nil || resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /healthz: %v %v", resp.StatusCode, err)
	}
}

func TestReadyzFailsWhenTheStoreIsGone(t *testing.T) {
	ts, svc, _ := newServer(t)
	svc.Store.Close()
	resp, body := fetch(t, ts.URL+"/readyz")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "store unreachable") {
		t.Fatalf("readyz with a closed store: %d %s", resp.StatusCode, body)
	}
	if resp, _ := fetch(t, ts.URL+"/healthz"); resp.StatusCode != 200 {
		t.Fatal("healthz depends on the store")
	}
}

func TestMetricsByRouteAndStore(t *testing.T) {
	ts, _, _ := newServer(t)
	fetch(t, ts.URL+"/acme/oauth2/jwks")
	fetch(t, ts.URL+"/other/oauth2/jwks")
	fetch(t, ts.URL+"/random/path/x")
	_, body := fetch(t, ts.URL+"/metrics")
	for _, want := range []string{
		`gatehouse_http_requests_total{method="GET",route="GET /{env}/oauth2/jwks",status="200"} 1`,
		`gatehouse_http_requests_total{method="GET",route="GET /{env}/oauth2/jwks",status="404"} 1`,
		`gatehouse_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`gatehouse_http_request_duration_seconds_bucket{method="GET",route="GET /{env}/oauth2/jwks"`,
		`gatehouse_store_operation_duration_seconds_count{operation="ListSigningKeys",outcome="ok"}`,
		`gatehouse_store_operation_duration_seconds_count{operation="GetEnvironment",outcome="not_found"} 1`,
		`gatehouse_password_hash_slots_in_use`,
		`go_goroutines`,
		`process_resident_memory_bytes`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestShutdownFinishesInFlightRequests stops the server while a request is
// being served: the request completes, new connections are refused.
func TestShutdownFinishesInFlightRequests(t *testing.T) {
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		io.WriteString(w, "finished")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- server.Serve(ctx, ln, h, slog.New(slog.DiscardHandler)) }()

	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/slow")
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(body)
	}()
	<-started
	stop()
	if body := <-got; body != "finished" {
		t.Fatalf("in-flight request got %q", body)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve returned %v", err)
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/"); err == nil {
		t.Fatal("the server still accepts connections after shutdown")
	}
}

func TestJWKSDocument(t *testing.T) {
	ts, _, _ := newServer(t)
	_, body := fetch(t, ts.URL+"/acme/oauth2/jwks")
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal([]byte(body), &set); err != nil || len(set.Keys) != 2 { // current and next
		t.Fatalf("JWKS %s: %v", body, err)
	}
	for _, private := range []string{"d", "p", "q"} {
		if _, ok := set.Keys[0][private]; ok {
			t.Fatalf("JWKS carries private member %q", private)
		}
	}
}
