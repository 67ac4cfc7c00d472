package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// nodeDir holds the Node interop script and its jose dependency, installed
// by .ci/run with `npm ci --prefix verify/testdata/node`.
const nodeDir = "testdata/node"

// node runs the interop script in mode with input as JSON on stdin. It
// skips the test, loudly, when node or the jose module is missing.
func node(t *testing.T, mode string, input any) ([]byte, error) {
	t.Helper()
	bin, err := exec.LookPath("node")
	if err != nil {
		t.Skip("!!! node is not installed: the Node jose interop test did NOT run")
	}
	if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", "jose", "package.json")); err != nil {
		t.Skip("!!! the jose module is missing (npm ci --prefix verify/testdata/node): the Node jose interop test did NOT run")
	}
	in, err := json.Marshal(input)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "interop.mjs", mode)
	cmd.Dir = nodeDir
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Logf("node %s: %s", mode, stderr.String())
	}
	return out, err
}

// Tokens signed by Node's jose, with keys it generated and exported as
// JWKs, verify with this package.
func TestInteropNodeSigns(t *testing.T) {
	f := newFixture(t)
	var keys []map[string]any
	tokens := map[string]string{}
	for _, alg := range []string{EdDSA, ES256} {
		out, err := node(t, "sign", map[string]any{"alg": alg, "kid": "node-" + alg, "claims": f.claims()})
		if err != nil {
			t.Fatalf("node sign %s: %v", alg, err)
		}
		var r struct {
			Token string         `json:"token"`
			JWK   map[string]any `json:"jwk"`
		}
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("node sign %s: %v (%s)", alg, err, out)
		}
		keys = append(keys, r.JWK)
		tokens[alg] = r.Token
	}
	f.jwks.setKeys(keys...)
	f.clock.advance(DefaultRefreshInterval)
	for alg, tok := range tokens {
		t.Run(alg, func(t *testing.T) {
			c := accepted(t, f.v, tok)
			if c.Subject != "user-1" || c.SessionID != "sid-1" {
				t.Fatalf("claims = %+v", c)
			}
			refused(t, f.v, changeSignature(tok), errSignature)
		})
	}
}

// Tokens this package's tests sign with crypto/ed25519 and crypto/ecdsa
// verify with Node's jose, fetching the key set from the same JWKS server
// (createRemoteJWKSet); a changed signature does not.
func TestInteropNodeVerifies(t *testing.T) {
	f := newFixture(t)
	for name, tok := range map[string]string{
		"EdDSA": f.token(nil),
		"ES256": f.ec.compact(t, f.header(ES256, "ec-1"), f.claims()),
	} {
		t.Run(name, func(t *testing.T) {
			in := map[string]any{
				"token": tok, "jwks_url": f.jwks.URL + "/.well-known/jwks.json",
				"issuer": testIssuer, "audience": testAudience, "now": f.clock.now().Unix(),
			}
			out, err := node(t, "verify", in)
			if err != nil {
				t.Fatalf("node jose refused the token: %v", err)
			}
			var claims map[string]any
			if err := json.Unmarshal(out, &claims); err != nil || claims["sub"] != "user-1" {
				t.Fatalf("node verify: %s, %v", out, err)
			}
			in["token"] = changeSignature(tok)
			if _, err := node(t, "verify", in); err == nil {
				t.Fatal("node jose accepted a changed signature")
			}
		})
	}
}
