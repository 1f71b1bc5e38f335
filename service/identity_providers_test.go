package service

import (
	"fmt"
	"strings"
	"testing"
)

// TestIdPClientRefusesLinkLocal: the client that fetches administrator-
// chosen IdP URLs never reaches the cloud's instance-metadata address.
func TestIdPClientRefusesLinkLocal(t *testing.T) {
	for _, target := range []string{"http://169.254.169.254/latest/meta-data/", "http://[fe80::1%25lo]:80/", "http://0.0.0.0:1/",
		"http://[::ffff:169.254.169.254]/"} {
		_, err := idpClient.Get(target)
		if err == nil || !strings.Contains(err.Error(), "not reached at link-local") {
			t.Errorf("GET %s: %v", target, err)
		}
	}
	// Loopback and private addresses stay reachable: on-premises IdPs live there.
	if err := refuseLinkLocal("tcp", "127.0.0.1:443", nil); err != nil {
		t.Errorf("loopback refused: %v", err)
	}
	if err := refuseLinkLocal("tcp", "10.1.2.3:443", nil); err != nil {
		t.Errorf("a private address refused: %v", err)
	}
}

// TestNetworkProblemHidesServerDetails: a failed connection test names
// the IdP's host, never this server's DNS resolver.
func TestNetworkProblemHidesServerDetails(t *testing.T) {
	_, err := idpClient.Get("http://no-such-host.invalid/.well-known/openid-configuration")
	if err == nil {
		t.Fatal("a .invalid name resolved (RFC 6761 reserves it)")
	}
	got := networkProblem(fmt.Errorf("fetching the discovery document: %w", err))
	if !strings.Contains(got, "no-such-host.invalid could not be found") || strings.Contains(got, ":53") || !strings.Contains(got, "discovery document") {
		t.Fatalf("networkProblem = %q", got)
	}
}
