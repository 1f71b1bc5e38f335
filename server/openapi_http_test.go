package server_test

import (
	"net/http"
	"os"
	"testing"
)

func TestOpenAPIDocumentServed(t *testing.T) {
	ts, _, _ := newServer(t)
	want, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	resp, body := fetch(t, ts.URL+"/api/v1/openapi.json") // no token: the document is public
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /api/v1/openapi.json: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if got := resp.Header.Get("Cache-Control"); got != "public, max-age=300" {
		t.Errorf("Cache-Control = %q, want public, max-age=300", got)
	}
	if body != string(want) {
		t.Errorf("the served document (%d bytes) differs from openapi.json (%d bytes)", len(body), len(want))
	}
}
