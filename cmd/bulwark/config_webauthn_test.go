package main

import (
	"reflect"
	"strings"
	"testing"
)

func TestLoadConfigWebAuthnDefaults(t *testing.T) {
	c := load(t, prodEnv(), nil, false)
	if c.WebAuthnRPID != "auth.example.com" || c.WebAuthnRPName != "Bulwark" {
		t.Errorf("RP = %q %q", c.WebAuthnRPID, c.WebAuthnRPName)
	}
	if want := []string{"https://auth.example.com"}; !reflect.DeepEqual(c.WebAuthnOrigins, want) {
		t.Errorf("origins = %q, want %q", c.WebAuthnOrigins, want)
	}

	m := prodEnv()
	m["BULWARK_APP_URL"] = "https://App.Example.com:443/account/"
	m["BULWARK_WEBAUTHN_RP_ID"] = "Example.com"
	m["BULWARK_WEBAUTHN_RP_NAME"] = "Example"
	c = load(t, m, nil, false)
	if want := []string{"https://app.example.com", "https://auth.example.com"}; !reflect.DeepEqual(c.WebAuthnOrigins, want) {
		t.Errorf("origins with app URL = %q, want %q", c.WebAuthnOrigins, want)
	}
	if c.WebAuthnRPID != "example.com" || c.WebAuthnRPName != "Example" {
		t.Errorf("RP = %q %q", c.WebAuthnRPID, c.WebAuthnRPName)
	}
	if a := authConfig(c); a.WebAuthnRPID != "example.com" || !reflect.DeepEqual(a.WebAuthnOrigins, c.WebAuthnOrigins) || a.WebAuthnRPName != "Example" {
		t.Errorf("authConfig: %q %q %q", a.WebAuthnRPID, a.WebAuthnOrigins, a.WebAuthnRPName)
	}

	// An app on another site than the public URL: its origin is left out
	// of the default, which the default RP ID could not cover; a start
	// that never set the WebAuthn settings is not refused.
	m = prodEnv()
	m["BULWARK_APP_URL"] = "https://app.example.org"
	c = load(t, m, nil, false)
	if want := []string{"https://auth.example.com"}; !reflect.DeepEqual(c.WebAuthnOrigins, want) || c.WebAuthnRPID != "auth.example.com" {
		t.Errorf("app on another site: %q %q", c.WebAuthnOrigins, c.WebAuthnRPID)
	}
	// ... but a configured RP ID makes the default origins strict.
	m["BULWARK_WEBAUTHN_RP_ID"] = "example.com"
	if msgs := loadErr(t, m, nil, false); !hasPrefix(msgs, "BULWARK_WEBAUTHN_RP_ID: \"example.com\" is neither the host of origin https://app.example.org") {
		t.Errorf("configured RP ID, uncovered default origin: %q", msgs)
	}
	// Dev with an http public URL that is not local: no default origin.
	c = load(t, map[string]string{"BULWARK_PUBLIC_URL": "http://auth.example.com"}, nil, true)
	if len(c.WebAuthnOrigins) != 0 {
		t.Errorf("dev http public URL: origins %q", c.WebAuthnOrigins)
	}

	// Dev: the page on localhost, the RP ID localhost.
	c = load(t, map[string]string{
		"BULWARK_WEBAUTHN_ORIGINS": "http://localhost:5173, http://LOCALHOST:5173/",
		"BULWARK_WEBAUTHN_RP_ID":   "localhost",
	}, nil, true)
	if want := []string{"http://localhost:5173"}; !reflect.DeepEqual(c.WebAuthnOrigins, want) || c.WebAuthnRPID != "localhost" {
		t.Errorf("dev: %q %q", c.WebAuthnOrigins, c.WebAuthnRPID)
	}
	// Dev default: the public URL http://127.0.0.1:8080.
	c = load(t, map[string]string{}, nil, true)
	if want := []string{"http://127.0.0.1:8080"}; !reflect.DeepEqual(c.WebAuthnOrigins, want) || c.WebAuthnRPID != "127.0.0.1" {
		t.Errorf("dev default: %q %q", c.WebAuthnOrigins, c.WebAuthnRPID)
	}
}

func TestLoadConfigWebAuthnRefusals(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		dev     bool
		setting string
		want    string
	}{
		{"http origin in production", map[string]string{"BULWARK_WEBAUTHN_ORIGINS": "http://auth.example.com"}, false, "BULWARK_WEBAUTHN_ORIGINS", "not https"},
		{"http localhost in production", map[string]string{"BULWARK_WEBAUTHN_ORIGINS": "http://localhost:3000", "BULWARK_WEBAUTHN_RP_ID": "localhost"}, false, "BULWARK_WEBAUTHN_ORIGINS", "not https"},
		{"http other host in dev", map[string]string{"BULWARK_WEBAUTHN_ORIGINS": "http://auth.example.com"}, true, "BULWARK_WEBAUTHN_ORIGINS", "not https"},
		{"origin with a path", map[string]string{"BULWARK_WEBAUTHN_ORIGINS": "https://auth.example.com/login"}, false, "BULWARK_WEBAUTHN_ORIGINS", "has a path"},
		{"origin with a query", map[string]string{"BULWARK_WEBAUTHN_ORIGINS": "https://auth.example.com?x=1"}, false, "BULWARK_WEBAUTHN_ORIGINS", "not an origin"},
		{"wildcard", map[string]string{"BULWARK_WEBAUTHN_ORIGINS": "https://*.example.com"}, false, "BULWARK_WEBAUTHN_ORIGINS", "wildcards"},
		{"RP ID of another site", map[string]string{"BULWARK_WEBAUTHN_RP_ID": "example.org"}, false, "BULWARK_WEBAUTHN_RP_ID", "registrable domain suffix"},
		{"RP ID a child of the origin host", map[string]string{"BULWARK_WEBAUTHN_RP_ID": "x.auth.example.com"}, false, "BULWARK_WEBAUTHN_RP_ID", "registrable domain suffix"},
		{"RP ID a public suffix", map[string]string{"BULWARK_WEBAUTHN_RP_ID": "com"}, false, "BULWARK_WEBAUTHN_RP_ID", "registrable domain suffix"},
		{"RP ID a multi-label public suffix", map[string]string{"BULWARK_PUBLIC_URL": "https://auth.example.co.uk", "BULWARK_WEBAUTHN_RP_ID": "co.uk"}, false, "BULWARK_WEBAUTHN_RP_ID", "registrable domain suffix"},
		{"RP ID a text suffix only", map[string]string{"BULWARK_WEBAUTHN_RP_ID": "ample.com"}, false, "BULWARK_WEBAUTHN_RP_ID", "registrable domain suffix"},
		{"RP ID with a scheme", map[string]string{"BULWARK_WEBAUTHN_RP_ID": "https://auth.example.com"}, false, "BULWARK_WEBAUTHN_RP_ID", "not a domain"},
		{"RP ID not covering a second origin", map[string]string{"BULWARK_WEBAUTHN_ORIGINS": "https://auth.example.com,https://app.example.org"}, false, "BULWARK_WEBAUTHN_RP_ID", "https://app.example.org"},
		{"RP name on two lines", map[string]string{"BULWARK_WEBAUTHN_RP_NAME": "a\nb"}, false, "BULWARK_WEBAUTHN_RP_NAME", "one line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := prodEnv()
			if tc.dev {
				m = map[string]string{}
			}
			for k, v := range tc.env {
				m[k] = v
			}
			msgs := loadErr(t, m, nil, tc.dev)
			found := false
			for _, msg := range msgs {
				if strings.HasPrefix(msg, tc.setting+": ") && strings.Contains(msg, tc.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("errors %q, want one from %s containing %q", msgs, tc.setting, tc.want)
			}
		})
	}
}

func TestRPIDCovers(t *testing.T) {
	for _, tc := range []struct {
		rpID, host string
		want       bool
	}{
		{"example.com", "example.com", true},
		{"example.com", "login.example.com", true},
		{"example.com", "a.b.example.com", true},
		{"b.example.com", "a.b.example.com", true},
		{"example.com", "badexample.com", false},
		{"com", "example.com", false},
		{"co.uk", "example.co.uk", false},
		{"example.co.uk", "auth.example.co.uk", true},
		{"github.io", "me.github.io", false}, // private public suffix
		{"localhost", "localhost", true},
		{"127.0.0.1", "127.0.0.1", true},
		{"0.0.1", "127.0.0.1", false},
		{"example.com", "example.org", false},
	} {
		if got := rpIDCovers(tc.rpID, tc.host); got != tc.want {
			t.Errorf("rpIDCovers(%q, %q) = %v, want %v", tc.rpID, tc.host, got, tc.want)
		}
	}
}
