package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func loadUses(t *testing.T, m map[string]string, dev bool, need uses) (*Config, []string) {
	t.Helper()
	c, err := loadConfig(env(m), nil, dev, need)
	if err != nil {
		return nil, strings.Split(err.Error(), "\n")
	}
	return c, nil
}

// TestSigningConfig: BULWARK_JWT_SECRET takes precedence over managed keys
// and refuses the managed-key settings beside it; the algorithm, rotation
// period and poll interval are parsed and bounded.
func TestSigningConfig(t *testing.T) {
	noSecret := prodEnv()
	delete(noSecret, "BULWARK_JWT_SECRET")
	c := load(t, noSecret, nil, false)
	if c.SigningAlg != "EdDSA" || c.KeyRotation != 0 || c.KeyPollInterval != 30*time.Second {
		t.Errorf("managed defaults: %q %s %s", c.SigningAlg, c.KeyRotation, c.KeyPollInterval)
	}
	if c := load(t, prodEnv(), nil, false); c.SigningAlg != "" {
		t.Errorf("with BULWARK_JWT_SECRET, SigningAlg = %q", c.SigningAlg)
	}
	for _, tc := range []struct {
		set     map[string]string
		secret  bool
		wantErr string
		check   func(*Config) bool
	}{
		{map[string]string{"BULWARK_SIGNING_ALG": "es256"}, false, "", func(c *Config) bool { return c.SigningAlg == "ES256" }},
		{map[string]string{"BULWARK_SIGNING_ALG": "EdDSA"}, false, "", func(c *Config) bool { return c.SigningAlg == "EdDSA" }},
		{map[string]string{"BULWARK_SIGNING_ALG": "RS256"}, false, "BULWARK_SIGNING_ALG: ", nil},
		{map[string]string{"BULWARK_SIGNING_ALG": "HS256"}, false, "BULWARK_SIGNING_ALG: ", nil},
		{map[string]string{"BULWARK_SIGNING_ALG": "none"}, false, "BULWARK_SIGNING_ALG: ", nil},
		{map[string]string{"BULWARK_KEY_ROTATION": "720h"}, false, "", func(c *Config) bool { return c.KeyRotation == 720*time.Hour }},
		{map[string]string{"BULWARK_KEY_ROTATION": "0"}, false, "", func(c *Config) bool { return c.KeyRotation == 0 }},
		{map[string]string{"BULWARK_KEY_ROTATION": "10m"}, false, "BULWARK_KEY_ROTATION: 10m0s is shorter than 17m30s", nil},
		{map[string]string{"BULWARK_KEY_ROTATION": "20m", "BULWARK_ACCESS_TOKEN_TTL": "1h"}, false, "BULWARK_KEY_ROTATION: 20m0s is shorter than 1h2m30s", nil},
		{map[string]string{"BULWARK_KEY_POLL_INTERVAL": "1s"}, false, "", func(c *Config) bool { return c.KeyPollInterval == time.Second }},
		{map[string]string{"BULWARK_KEY_POLL_INTERVAL": "2m"}, false, "BULWARK_KEY_POLL_INTERVAL: ", nil},
		{map[string]string{"BULWARK_SIGNING_ALG": "ES256"}, true, "BULWARK_SIGNING_ALG: has no effect with BULWARK_JWT_SECRET", nil},
		{map[string]string{"BULWARK_KEY_ROTATION": "720h"}, true, "BULWARK_KEY_ROTATION: has no effect with BULWARK_JWT_SECRET", nil},
	} {
		m := prodEnv()
		if !tc.secret {
			delete(m, "BULWARK_JWT_SECRET")
		}
		for k, v := range tc.set {
			m[k] = v
		}
		c, msgs := loadUses(t, m, false, usesAll)
		switch {
		case tc.wantErr != "" && !hasPrefix(msgs, tc.wantErr):
			t.Errorf("%v: errors %q, want %q", tc.set, msgs, tc.wantErr)
		case tc.wantErr == "" && (c == nil || !tc.check(c)):
			t.Errorf("%v: %v %q", tc.set, c, msgs)
		}
	}
}

// TestSubcommandsRequireWhatTheyUse: without --dev, migrate needs only the
// database URL and keys the database URL and the key-encryption key (from
// the environment or its file); serve needs everything.
func TestSubcommandsRequireWhatTheyUse(t *testing.T) {
	db := map[string]string{"BULWARK_DATABASE_URL": "postgres://db.internal/bulwark"}
	if _, msgs := loadUses(t, db, false, usesDatabase); msgs != nil {
		t.Errorf("migrate with only the database URL: %q", msgs)
	}
	if _, msgs := loadUses(t, nil, false, usesDatabase); !hasPrefix(msgs, "BULWARK_DATABASE_URL: required") || len(msgs) != 1 {
		t.Errorf("migrate without a database URL: %q", msgs)
	}
	_, msgs := loadUses(t, db, false, usesDatabase|usesKEK)
	if !hasPrefix(msgs, "BULWARK_KEY_ENCRYPTION_KEY: required") || hasPrefix(msgs, "BULWARK_MAIL_URL") || hasPrefix(msgs, "BULWARK_PUBLIC_URL") {
		t.Errorf("keys without a key-encryption key: %q", msgs)
	}
	file := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(file, []byte(kek32), 0o600); err != nil {
		t.Fatal(err)
	}
	withFile := map[string]string{"BULWARK_DATABASE_URL": db["BULWARK_DATABASE_URL"], "BULWARK_KEY_ENCRYPTION_KEY_FILE": file}
	if _, msgs := loadUses(t, withFile, false, usesDatabase|usesKEK); msgs != nil {
		t.Errorf("keys with the key-encryption key in a file: %q", msgs)
	}
	for k, v := range map[string]string{"BULWARK_PUBLIC_URL": "https://auth.example.com", "BULWARK_MAIL_URL": "smtps://smtp.example.com"} {
		withFile[k] = v
	}
	if _, msgs := loadUses(t, withFile, false, usesAll); msgs != nil {
		t.Errorf("serve with managed keys and the key-encryption key in a file: %q", msgs)
	}
	if _, msgs := loadUses(t, map[string]string{"BULWARK_MAIL_URL": "ftp://x"}, false, usesDatabase); !hasPrefix(msgs, "BULWARK_MAIL_URL: ") {
		t.Errorf("a bad setting the subcommand does not use is still refused: %q", msgs)
	}
}

func runOut(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), append([]string{"bulwark"}, args...), envFunc(env), &out, &out)
	return out.String(), err
}

// lastJSON decodes the last output line.
func lastJSON(t *testing.T, out string) map[string]any {
	t.Helper()
	lines := jsonLines(t, out)
	if len(lines) == 0 {
		t.Fatalf("no output")
	}
	return lines[len(lines)-1]
}

func listStates(t *testing.T, env map[string]string) map[string]string {
	t.Helper()
	out, err := runOut(t, env, "keys", "list", "--dev")
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, k := range lastJSON(t, out)["keys"].([]any) {
		k := k.(map[string]any)
		states[k["kid"].(string)] = k["state"].(string)
	}
	return states
}

// TestKeysCommand: `bulwark keys` lists, rotates (refusing a rotation sooner
// than the minimum unless --force) and retires keys, with --dev anywhere on
// the command line, and refuses to run with an HS256 secret.
func TestKeysCommand(t *testing.T) {
	env := map[string]string{"BULWARK_DATA_DIR": t.TempDir()}
	if out, err := runOut(t, env, "keys", "--dev", "list"); err != nil || fmt.Sprint(lastJSON(t, out)["keys"]) != "[]" {
		t.Fatalf("list of a new database: %v %s", err, out)
	}
	out, err := runOut(t, env, "keys", "--dev", "rotate")
	if err != nil {
		t.Fatal(err)
	}
	first := lastJSON(t, out)
	if first["created"] != true || first["current"] == nil || first["next"] == nil {
		t.Fatalf("first rotate: %s", out)
	}
	states := listStates(t, env)
	if len(states) != 2 || states[first["current"].(string)] != "current" || states[first["next"].(string)] != "next" {
		t.Fatalf("after the first rotate: %v", states)
	}
	if _, err := runOut(t, env, "keys", "rotate", "--dev"); err == nil || !strings.Contains(err.Error(), "not been published long enough") {
		t.Fatalf("rotate too soon: %v", err)
	}
	out, err = runOut(t, env, "keys", "rotate", "--dev", "--force")
	if err != nil {
		t.Fatal(err)
	}
	second := lastJSON(t, out)
	if second["current"] != first["next"] || second["retired"] != nil {
		t.Fatalf("forced rotate: %s", out)
	}
	states = listStates(t, env)
	if states[first["current"].(string)] != "previous" || states[first["next"].(string)] != "current" || states[second["next"].(string)] != "next" {
		t.Fatalf("after rotate: %v", states)
	}
	if out, err := runOut(t, env, "keys", "retire", first["current"].(string), "--dev"); err != nil || lastJSON(t, out)["retired"] != first["current"] {
		t.Fatalf("retire previous: %v %s", err, out)
	}
	if states = listStates(t, env); states[first["current"].(string)] != "retired" {
		t.Fatalf("after retire: %v", states)
	}
	if _, err := runOut(t, env, "keys", "retire", "no-such-kid", "--dev"); err == nil || !strings.Contains(err.Error(), "no such key") {
		t.Fatalf("retire an unknown kid: %v", err)
	}
	for _, args := range [][]string{{"keys", "--dev"}, {"keys", "list", "extra", "--dev"}, {"keys", "retire", "--dev"}, {"keys", "burn", "--dev"}, {"keys", "list", "--force", "--dev"}} {
		if _, err := runOut(t, env, args...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	hs := map[string]string{"BULWARK_DATA_DIR": env["BULWARK_DATA_DIR"], "BULWARK_JWT_SECRET": base64.StdEncoding.EncodeToString(secret)}
	if _, err := runOut(t, hs, "keys", "list", "--dev"); err == nil || !strings.Contains(err.Error(), "BULWARK_JWT_SECRET is set") {
		t.Fatalf("keys with an HS256 secret: %v", err)
	}
	if _, err := runOut(t, map[string]string{"BULWARK_DATABASE_URL": "sqlite://" + filepath.Join(env["BULWARK_DATA_DIR"], "bulwark.db")}, "keys", "list"); err == nil || !strings.Contains(err.Error(), "BULWARK_KEY_ENCRYPTION_KEY: required") {
		t.Fatalf("keys in production without a key-encryption key: %v", err)
	}
}

// TestServeManagedKeys: a fresh `serve --dev` publishes its keys and
// signs EdDSA tokens with the current one; a rotation by `bulwark keys` is
// picked up without restart within the poll interval, and the token signed
// before it still works; with BULWARK_JWT_SECRET nothing is published.
func TestServeManagedKeys(t *testing.T) {
	env := map[string]string{"BULWARK_DATA_DIR": t.TempDir(), "BULWARK_EMAIL_VERIFICATION": "off", "BULWARK_KEY_POLL_INTERVAL": "1s"}
	in := start(t, env, "serve", "--dev")
	jwks := in.expect(in.call("GET", "/.well-known/jwks.json", nil), 200)
	if cc := jwks.header.Get("Cache-Control"); cc != "public, max-age=300" {
		t.Fatalf("JWKS Cache-Control %q", cc)
	}
	if n := len(jwks.body["keys"].([]any)); n != 2 {
		t.Fatalf("a fresh dev server publishes %d keys", n)
	}
	disc := in.expect(in.call("GET", "/.well-known/openid-configuration", nil), 200)
	if disc.body["jwks_uri"] != in.url+"/.well-known/jwks.json" && !strings.HasSuffix(fmt.Sprint(disc.body["jwks_uri"]), "/.well-known/jwks.json") {
		t.Fatalf("discovery %v", disc.body)
	}
	signupOn(t, in, "keys@example.com")
	login := func() string {
		r := in.expect(in.call("POST", "/v1/token", map[string]string{"grant_type": "password", "email": "keys@example.com", "password": strongPW}), 200)
		return r.body["access_token"].(string)
	}
	before := login()
	h := headerOf(t, before)
	if h["alg"] != "EdDSA" {
		t.Fatalf("header %v", h)
	}
	out, err := runOut(t, env, "keys", "rotate", "--force", "--dev")
	if err != nil {
		t.Fatal(err)
	}
	newKid := lastJSON(t, out)["current"].(string)
	waitFor(t, func() bool { return currentKid(t, in) == newKid })
	if kid := headerOf(t, login())["kid"]; kid != newKid {
		t.Fatalf("signing with %s after the rotation, want %s", kid, newKid)
	}
	in.expect(in.call("GET", "/v1/me", nil, "Authorization", "Bearer "+before), 200)
	if n := len(in.expect(in.call("GET", "/.well-known/jwks.json", nil), 200).body["keys"].([]any)); n != 3 {
		t.Fatalf("after a rotation the JWKS has %d keys, want next, current and previous", n)
	}
	// Retiring the key that signed `before` refuses it.
	if _, err := runOut(t, env, "keys", "retire", h["kid"], "--dev"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return in.call("GET", "/v1/me", nil, "Authorization", "Bearer "+before).status == 401 })

	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	hs := start(t, map[string]string{"BULWARK_DATA_DIR": t.TempDir(), "BULWARK_JWT_SECRET": base64.StdEncoding.EncodeToString(secret)}, "serve", "--dev")
	jwks = hs.expect(hs.call("GET", "/.well-known/jwks.json", nil), 200)
	if n := len(jwks.body["keys"].([]any)); n != 0 {
		t.Fatalf("HS256 server publishes %d keys", n)
	}
	if _, ok := hs.expect(hs.call("GET", "/.well-known/openid-configuration", nil), 200).body["jwks_uri"]; ok {
		t.Fatal("HS256 server advertises a jwks_uri")
	}
}

// currentKid is the first key of the instance's JWKS, the current one.
func currentKid(t *testing.T, in *instance) string {
	t.Helper()
	keys := in.expect(in.call("GET", "/.well-known/jwks.json", nil), 200).body["keys"].([]any)
	return keys[0].(map[string]any)["kid"].(string)
}

func headerOf(t *testing.T, tok string) map[string]string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]string
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestInstances_KeyRotationReachesEveryInstance: two instances on one
// PostgreSQL with managed keys; a token of A works on B; after a rotation
// both sign with the new key within the poll interval (seconds here, a
// minute at most in production), and tokens from before and after the
// rotation work on both.
func TestInstances_KeyRotationReachesEveryInstance(t *testing.T) {
	kek := make([]byte, 32)
	_, _ = rand.Read(kek)
	env := deployment(t, false, map[string]string{
		"BULWARK_KEY_ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(kek),
		"BULWARK_KEY_POLL_INTERVAL":  "1s",
	})
	delete(env, "BULWARK_JWT_SECRET")
	a, b := startPair(t, env)
	signupOn(t, a, "multi-keys@example.com")
	login := func(in *instance) string {
		r := in.expect(in.call("POST", "/v1/token", map[string]string{"grant_type": "password", "email": "multi-keys@example.com", "password": strongPW}), 200)
		return r.body["access_token"].(string)
	}
	before := login(a)
	if headerOf(t, before)["kid"] != headerOf(t, login(b))["kid"] {
		t.Fatal("the two instances sign with different keys")
	}
	b.expect(b.call("GET", "/v1/me", nil, "Authorization", "Bearer "+before), 200)

	out, err := runOut(t, env, "keys", "rotate", "--force", "--dev")
	if err != nil {
		t.Fatal(err)
	}
	newKid := lastJSON(t, out)["current"].(string)
	start := time.Now()
	for _, in := range []*instance{a, b} {
		waitFor(t, func() bool { return currentKid(t, in) == newKid })
		if kid := headerOf(t, login(in))["kid"]; kid != newKid {
			t.Fatalf("signing with %s after the rotation, want %s", kid, newKid)
		}
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("instances took %s to pick up the rotation", d)
	}
	after := login(a)
	for _, in := range []*instance{a, b} {
		in.expect(in.call("GET", "/v1/me", nil, "Authorization", "Bearer "+before), 200)
		in.expect(in.call("GET", "/v1/me", nil, "Authorization", "Bearer "+after), 200)
	}
}

// TestLoadCommandArguments: flags anywhere, "--" and single-dash words that
// are no boolean flag (a kid may begin with "-") are positional.
func TestLoadCommandArguments(t *testing.T) {
	dir := t.TempDir()
	env := envFunc(map[string]string{"BULWARK_DATA_DIR": dir})
	for _, tc := range []struct {
		args  []string
		want  string
		force bool
	}{
		{[]string{"retire", "-abc", "--dev"}, "[retire -abc]", false},
		{[]string{"--dev", "retire", "--", "--abc"}, "[retire --abc]", false},
		{[]string{"-dev", "rotate", "-force"}, "[rotate]", true},
		{[]string{"rotate", "--force=true", "--log-level", "warn", "-dev"}, "[rotate]", true},
	} {
		cmd, err := loadCommand("keys", tc.args, env, io.Discard, usesDatabase|usesKEK, "force")
		if err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		if got := fmt.Sprint(cmd.args); got != tc.want || cmd.bools["force"] != tc.force || !cmd.cfg.Dev {
			t.Errorf("%v: args %s force %v dev %v", tc.args, got, cmd.bools["force"], cmd.cfg.Dev)
		}
	}
	if cmd, err := loadCommand("keys", []string{"list", "--log-level", "warn", "--dev"}, env, io.Discard, usesDatabase); err != nil || cmd.cfg.LogLevel.String() != "WARN" {
		t.Errorf("a setting flag: %v", err)
	}
	if _, err := loadCommand("keys", []string{"list", "--no-such-setting=1", "--dev"}, env, io.Discard, usesDatabase); err == nil {
		t.Error("an unknown setting flag was accepted")
	}
}
