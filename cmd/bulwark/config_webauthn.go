package main

import (
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// webauthn reads BULWARK_WEBAUTHN_RP_ID, BULWARK_WEBAUTHN_ORIGINS and
// BULWARK_WEBAUTHN_RP_NAME into c. It runs after the public and app URLs
// are parsed: they give the defaults.
//
// It refuses an origin that is not https (http://localhost and
// http://127.0.0.1 are allowed in dev: browsers treat them as secure
// contexts), that has a path, query or fragment, and an RP ID that is not,
// for every origin, the origin's host or a registrable domain suffix of it
// (WebAuthn L3 §5.1.4.1 and §13.4.9; HTML "is a registrable domain suffix of
// or is equal to"): a browser would refuse every ceremony on that origin.
func (l *configLoader) webauthn(c *Config, dev bool) {
	c.WebAuthnRPName = l.valueOr("WEBAUTHN_RP_NAME", "Bulwark")
	if len(c.WebAuthnRPName) > 64 || strings.ContainsAny(c.WebAuthnRPName, "\x00\r\n") {
		l.errorf("WEBAUTHN_RP_NAME", "must be one line of at most 64 bytes")
	}

	c.WebAuthnRPID = strings.ToLower(strings.TrimSuffix(l.value("WEBAUTHN_RP_ID"), "."))
	rpIDSet := c.WebAuthnRPID != ""
	if !rpIDSet && c.PublicURL != nil {
		c.WebAuthnRPID = strings.ToLower(c.PublicURL.Hostname())
	}
	if strings.ContainsAny(c.WebAuthnRPID, ":/[] ") {
		l.errorf("WEBAUTHN_RP_ID", "%q is not a domain: give a host name without scheme, port or path", c.WebAuthnRPID)
		return
	}

	if v := l.value("WEBAUTHN_ORIGINS"); v != "" {
		seen := map[string]bool{}
		for _, item := range splitList(v) {
			origin, ok := l.webauthnOrigin(item, dev, true)
			if ok && !seen[origin] {
				seen[origin] = true
				c.WebAuthnOrigins = append(c.WebAuthnOrigins, origin)
			}
		}
	} else {
		// The app's origin first (its pages run the ceremonies), then the
		// public URL's (APP_URL was checked by mailLinks). A default
		// origin where no ceremony could run (http outside the dev
		// exception) is left out rather than refused, and so is one the
		// default RP ID does not cover (an app on another site than the
		// public URL): a deployment that never set these settings starts
		// as before; setting BULWARK_WEBAUTHN_RP_ID or _ORIGINS makes the
		// check strict.
		var bases []*url.URL
		if v := l.value("APP_URL"); v != "" {
			if u, err := url.Parse(v); err == nil && u.Host != "" {
				bases = append(bases, u)
			}
		}
		if c.PublicURL != nil {
			bases = append(bases, c.PublicURL)
		}
		for _, u := range bases {
			origin, ok := l.webauthnOrigin(u.Scheme+"://"+u.Host, dev, false)
			if !ok || slices.Contains(c.WebAuthnOrigins, origin) {
				continue
			}
			if !rpIDSet && !rpIDCovers(c.WebAuthnRPID, strings.ToLower(u.Hostname())) {
				continue
			}
			c.WebAuthnOrigins = append(c.WebAuthnOrigins, origin)
		}
	}

	if c.WebAuthnRPID == "" {
		return // an operator subcommand without a public URL: no ceremonies
	}
	for _, origin := range c.WebAuthnOrigins {
		u, _ := url.Parse(origin)
		if !rpIDCovers(c.WebAuthnRPID, strings.ToLower(u.Hostname())) {
			l.errorf("WEBAUTHN_RP_ID", "%q is neither the host of origin %s nor a registrable domain suffix of it (WebAuthn L3 §5.1.4.1): browsers would refuse every passkey ceremony there", c.WebAuthnRPID, origin)
		}
	}
}

// webauthnOrigin checks and canonicalises one origin of
// BULWARK_WEBAUTHN_ORIGINS (or of a default): scheme://host[:port], lower
// case, default port dropped. Unless report, a refusal is not an error.
func (l *configLoader) webauthnOrigin(item string, dev, report bool) (string, bool) {
	const setting = "WEBAUTHN_ORIGINS"
	errorf := l.errorf
	if !report {
		errorf = func(string, string, ...any) {}
	}
	if strings.Contains(item, "*") {
		errorf(setting, "wildcards are never allowed: list each origin")
		return "", false
	}
	u, err := url.Parse(item)
	if err != nil || u.Opaque != "" || u.Hostname() == "" || (u.Scheme != "http" && u.Scheme != "https") ||
		u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		errorf(setting, "%q is not an origin scheme://host[:port]", item)
		return "", false
	}
	if u.Path != "" && u.Path != "/" {
		errorf(setting, "%q has a path: an origin is scheme://host[:port] only", item)
		return "", false
	}
	host := strings.ToLower(u.Hostname())
	if u.Scheme == "http" && !(dev && (host == "localhost" || host == "127.0.0.1")) {
		errorf(setting, "%q is not https (http is allowed only for localhost and 127.0.0.1 with --dev)", item)
		return "", false
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			errorf(setting, "%q has an invalid port", item)
			return "", false
		}
		if !(u.Scheme == "https" && n == 443) && !(u.Scheme == "http" && n == 80) {
			host += ":" + strconv.FormatUint(n, 10)
		}
	}
	return u.Scheme + "://" + host, true
}

// rpIDCovers reports whether rpID "is a registrable domain suffix of or is
// equal to" host (HTML Standard §7.2.1.1, as WebAuthn L3 §5.1.4.1 step 8
// uses it): equal, or host is a domain (not an IP address) ending in "." +
// rpID, where rpID is not a public suffix and is at least the registrable
// domain of host.
func rpIDCovers(rpID, host string) bool {
	if rpID == host {
		return true
	}
	if net.ParseIP(strings.Trim(host, "[]")) != nil || net.ParseIP(rpID) != nil {
		return false
	}
	if !strings.HasSuffix(host, "."+rpID) {
		return false
	}
	if ps, _ := publicsuffix.PublicSuffix(rpID); ps == rpID {
		return false
	}
	reg, err := publicsuffix.EffectiveTLDPlusOne(host)
	if err != nil {
		return false
	}
	return rpID == reg || strings.HasSuffix(rpID, "."+reg)
}
