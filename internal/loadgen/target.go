package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrNotLoopback is returned for a target or a connection whose address is
// not a loopback address while remote targets are not allowed.
var ErrNotLoopback = errors.New("not a loopback address")

// IsLoopback reports whether a is in 127.0.0.0/8 or is ::1 (an IPv4-mapped
// 127.x address counts as IPv4).
func IsLoopback(a netip.Addr) bool {
	return a.Unmap().IsLoopback()
}

// CheckTarget parses an http or https base URL and, unless allowRemote is
// set, refuses it when its host is not loopback: an IP literal must be a
// loopback address; "localhost" is accepted by name (RFC 6761 §6.3); any
// other name is resolved and every address it resolves to must be loopback.
// Load aimed elsewhere would be an attack on someone else's server. The
// client of NewClient checks every connection again, so a name that
// resolves differently later is still refused.
func CheckTarget(ctx context.Context, raw string, allowRemote bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("target %q: not an http:// or https:// URL without user info", raw)
	}
	if allowRemote {
		return u, nil
	}
	host := strings.ToLower(u.Hostname())
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" || !IsLoopback(a) {
			return nil, fmt.Errorf("target %s: %w (127.0.0.0/8, ::1 or localhost; --allow-remote lifts this)", host, ErrNotLoopback)
		}
		return u, nil
	}
	if host == "localhost" {
		return u, nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("target %s: resolve: %w", host, err)
	}
	for _, a := range addrs {
		if !IsLoopback(a) {
			return nil, fmt.Errorf("target %s resolves to %s: %w (--allow-remote lifts this)", host, a, ErrNotLoopback)
		}
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("target %s: resolves to no address", host)
	}
	return u, nil
}

// NewClient returns an HTTP client for conns concurrent callers: it keeps
// up to conns idle connections per host, so each closed-loop worker reuses
// its own, never uses a proxy from the environment, and, unless allowRemote
// is set, refuses to connect to any address that is not loopback. It has
// no overall timeout; Run bounds each request through its context. Call
// CloseIdleConnections on its Transport when done.
func NewClient(conns int, allowRemote bool) *http.Client {
	conns = max(conns, 1)
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	if !allowRemote {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !IsLoopback(ap.Addr()) {
				return fmt.Errorf("connect to %s: %w", address, ErrNotLoopback)
			}
			return nil
		}
	}
	return &http.Client{Transport: &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		MaxIdleConns:          conns,
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       time.Minute,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		ForceAttemptHTTP2:     false,
	}}
}
