package httpapi

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientIP derives the client address (ASVS 4.1.3, 15.3.4; Pritchard, "The
// perils of the 'real' client IP"). The TCP peer is the client unless it is a
// trusted proxy; only then is X-Forwarded-For read, every header line joined in
// order, right to left, skipping trusted proxies, and the first other address
// is the client. An unparsable entry stops the walk and the peer is used: the
// leftmost entries are whatever the client wrote.
func clientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer := peerAddr(r.RemoteAddr)
	if !peer.IsValid() || !isTrusted(peer, trusted) {
		return peer
	}
	var hops []string
	for _, line := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(line, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return peer
		}
		a = a.Unmap().WithZone("")
		if !isTrusted(a, trusted) {
			return a
		}
	}
	return peer
}

func peerAddr(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ipKey is the rate-limit key of an address: an IPv4 address as is, an IPv6
// address by its /64, since one host commonly holds a whole /64 (RFC 4291
// §2.5.4: interface ids are 64 bits).
func ipKey(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	if a.Is4() {
		return a.String()
	}
	p, err := a.Prefix(64)
	if err != nil {
		return a.String()
	}
	return p.String()
}
