package httpapi

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")}
	for _, c := range []struct {
		name    string
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{"untrusted peer ignores XFF", "198.51.100.7:1234", []string{"1.2.3.4"}, trusted, "198.51.100.7"},
		{"no trusted proxies", "127.0.0.1:1", []string{"1.2.3.4"}, nil, "127.0.0.1"},
		{"rightmost untrusted", "127.0.0.1:1", []string{"6.6.6.6, 203.0.113.7"}, trusted, "203.0.113.7"},
		{"skips trusted hops", "127.0.0.1:1", []string{"6.6.6.6, 203.0.113.7, 10.1.2.3"}, trusted, "203.0.113.7"},
		{"several header lines are one list", "127.0.0.1:1", []string{"6.6.6.6", "203.0.113.9"}, trusted, "203.0.113.9"},
		{"unparsable entry falls back to peer", "127.0.0.1:1", []string{"6.6.6.6, not-an-ip"}, trusted, "127.0.0.1"},
		{"all trusted gives peer", "127.0.0.1:1", []string{"10.0.0.1"}, trusted, "127.0.0.1"},
		{"ipv4-mapped ipv6 peer", "[::ffff:198.51.100.7]:1", nil, trusted, "198.51.100.7"},
		{"ipv6 client", "127.0.0.1:1", []string{"2001:db8::1"}, trusted, "2001:db8::1"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.remote
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := clientIP(r, c.trusted).String(); got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}
}

func TestIPKey(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7":             "203.0.113.7",
		"2001:db8:1:2:3:4:5:6":    "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::9999": "2001:db8:1:2::/64",
	} {
		if got := ipKey(netip.MustParseAddr(in)); got != want {
			t.Errorf("ipKey(%s) = %s, want %s", in, got, want)
		}
	}
	if ipKey(netip.Addr{}) != "unknown" {
		t.Error("invalid address key")
	}
}
