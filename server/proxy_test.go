package server

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientAddr(t *testing.T) {
	s := &Server{trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}}
	for _, tc := range []struct {
		remote, xff, want string
	}{
		{"203.0.113.9:5000", "198.51.100.1", "203.0.113.9:5000"},               // not through a proxy: the header is ignored
		{"10.1.2.3:5000", "198.51.100.1", "198.51.100.1:0"},                    // through a proxy
		{"10.1.2.3:5000", "6.6.6.6, 198.51.100.1, 10.9.9.9", "198.51.100.1:0"}, // nearest untrusted hop; the client's own claim is ignored
		{"10.1.2.3:5000", "", "10.1.2.3:5000"},                                 // no header
		{"10.1.2.3:5000", "not-an-ip", "10.1.2.3:5000"},                        // malformed
		{"127.0.0.1:5000", "10.0.0.5", "127.0.0.1:5000"},                       // all trusted
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := s.clientAddr(r); got != tc.want {
			t.Errorf("%s via %q: %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
}
