package server

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// TrustProxies makes requests that come through one of these reverse
// proxies name their client by X-Forwarded-For, for the audit log; from
// anywhere else the header is ignored, so nobody can claim another address.
func (s *Server) TrustProxies(prefixes []netip.Prefix) { s.trusted = prefixes }

func (s *Server) isTrusted(a netip.Addr) bool {
	for _, p := range s.trusted {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// clientAddr is the request's client: the nearest address in
// X-Forwarded-For that is not a trusted proxy, when the request came from
// one.
func (s *Server) clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !s.isTrusted(peer) {
		return r.RemoteAddr
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return r.RemoteAddr // a malformed chain names nobody
		}
		if !s.isTrusted(a) {
			return net.JoinHostPort(a.Unmap().String(), "0")
		}
	}
	return r.RemoteAddr
}
