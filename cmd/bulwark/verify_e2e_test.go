package main

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/verify"
)

// TestVerifyPackageAgainstARunningServer is the resource server's view: a
// verifier built with the public verify package, pointed at a real dev
// server, accepts a fresh token; keeps accepting the tokens of two key
// rotations made while it runs; refuses a token whose key was retired; and
// refuses a token within a second of its logout, through the revocation
// feed, without asking the server about the token.
func TestVerifyPackageAgainstARunningServer(t *testing.T) {
	env := map[string]string{"BULWARK_DATA_DIR": t.TempDir(), "BULWARK_EMAIL_VERIFICATION": "off", "BULWARK_KEY_POLL_INTERVAL": "1s"}
	in := start(t, env, "serve", "--dev")
	client := createClient(t, env, "orders-service")
	signupOn(t, in, "rs@example.com")
	login := func() string {
		r := in.expect(in.call("POST", "/v1/token", map[string]string{"grant_type": "password", "email": "rs@example.com", "password": strongPW}), 200)
		return r.body["access_token"].(string)
	}

	// The verifier's clock, which the test moves to make the JWKS cache
	// (max-age 300) expire.
	var skew atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const issuer = "http://127.0.0.1:8080" // the dev public URL, whatever port the test server has
	v, err := verify.New(ctx, verify.Config{
		Issuer: issuer, Audience: issuer, JWKSURL: in.url + "/.well-known/jwks.json",
		RefreshInterval: time.Second, Now: now,
		Revocations: &verify.FeedConfig{URL: in.url + "/v1/token/revocations", ClientID: client.ID, ClientSecret: client.Secret},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	accept := func(what, tok string) {
		t.Helper()
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatalf("%s refused: %v", what, err)
		}
	}

	tok0 := login()
	accept("a fresh token", tok0)
	kid0 := headerOf(t, tok0)["kid"]

	rotate := func() string {
		t.Helper()
		out, err := runOut(t, env, "keys", "rotate", "--force", "--dev")
		if err != nil {
			t.Fatal(err)
		}
		kid := lastJSON(t, out)["current"].(string)
		waitFor(t, func() bool { return currentKid(t, in) == kid })
		return kid
	}
	kid1 := rotate()
	tok1 := login()
	if headerOf(t, tok1)["kid"] != kid1 {
		t.Fatal("not signing with the rotated key")
	}
	accept("a token of the first rotation", tok1)
	accept("a token from before the first rotation", tok0)
	kid2 := rotate()
	tok2 := login()
	if headerOf(t, tok2)["kid"] != kid2 {
		t.Fatal("not signing with the key of the second rotation")
	}
	accept("a token of the second rotation", tok2)
	accept("a token of the first rotation, after the second", tok1)

	// Two rotations later the first key is retired: once the verifier's
	// cached key set has expired, its tokens are refused.
	skew.Store(int64(301 * time.Second))
	if _, err := v.Verify(ctx, tok0); !errors.Is(err, verify.ErrInvalid) {
		t.Fatalf("token signed by the retired key %s: %v, want ErrInvalid", kid0, err)
	}
	accept("a live token after the key set was fetched again", tok2)

	// Logout reaches the verifier through the feed within a second.
	in.expect(in.call("POST", "/v1/logout", nil, "Authorization", "Bearer "+tok2), 204)
	start := time.Now()
	for {
		_, err := v.Verify(ctx, tok2)
		if errors.Is(err, verify.ErrRevoked) {
			break
		}
		if time.Since(start) > time.Second {
			t.Fatalf("token still accepted %v after its logout: %v", time.Since(start), err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("logout reached the verifier in %v", time.Since(start))
	accept("another session's token after the logout", tok1)
}

// TestInstances_VerifySubscriberOfOneInstanceSeesLogoutOnAnother: two
// instances on PostgreSQL; a resource server's verifier follows A's feed; a
// logout made on B refuses the token at the verifier within a second.
func TestInstances_VerifySubscriberOfOneInstanceSeesLogoutOnAnother(t *testing.T) {
	env := deployment(t, false, map[string]string{"BULWARK_KEY_POLL_INTERVAL": "1s"})
	delete(env, "BULWARK_JWT_SECRET") // managed keys, published in the JWKS
	a, b := startPair(t, env)
	out, err := cli(t, env, "clients", "create", "feed-reader")
	if err != nil {
		t.Fatal(err)
	}
	c := lastJSON(t, out)
	signupOn(t, a, "two@example.com")
	r := b.expect(b.call("POST", "/v1/token", map[string]string{"grant_type": "password", "email": "two@example.com", "password": strongPW}), 200)
	tok := r.body["access_token"].(string)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const issuer = "http://127.0.0.1:8080"
	v, err := verify.New(ctx, verify.Config{
		Issuer: issuer, Audience: issuer, JWKSURL: a.url + "/.well-known/jwks.json",
		Revocations: &verify.FeedConfig{URL: a.url + "/v1/token/revocations", ClientID: c["client_id"].(string), ClientSecret: c["client_secret"].(string)},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("fresh token from B refused by A's verifier: %v", err)
	}
	b.expect(b.call("POST", "/v1/logout", nil, "Authorization", "Bearer "+tok), 204)
	start := time.Now()
	for {
		if _, err := v.Verify(ctx, tok); errors.Is(err, verify.ErrRevoked) {
			break
		}
		if time.Since(start) > time.Second {
			t.Fatal("logout on B not seen by A's verifier within a second")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("logout on B reached A's subscriber in %v", time.Since(start))
}
