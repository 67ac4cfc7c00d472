package auth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/email"
	"github.com/bulwarkauth/bulwark/internal/passkey"
	"github.com/bulwarkauth/bulwark/internal/password"
)

const pkOrigin = "https://app.example.test"

// Authenticator data flags (WebAuthn L3 §6.1).
const (
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagBS = 0x10
	flagAT = 0x40
)

// softKey is a software authenticator: an ES256 key that answers the
// options of Bulwark's begin routes with crafted responses, so that each
// check of WebAuthn L3 §7.1 and §7.2 can be made to fail on its own.
type softKey struct {
	priv   *ecdsa.PrivateKey
	id     []byte
	handle []byte
	count  uint32
}

func newSoftKey(t testing.TB, idLen int) *softKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, idLen)
	rand.Read(id)
	return &softKey{priv: priv, id: id}
}

// ceremony is what a crafted response may get wrong.
type ceremony struct {
	origin string // default pkOrigin
	typ    string // default webauthn.create or webauthn.get
	rpID   string // whose hash goes in authData; default the options' RP ID
	flags  byte   // default UP|UV (|AT for a registration)
	noFlag bool   // use flags as given, even 0
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func unb64u(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type optionsJSON struct {
	Challenge string `json:"challenge"`
	RPID      string `json:"rpId"`
	RP        struct {
		ID string `json:"id"`
	} `json:"rp"`
	User struct {
		ID string `json:"id"`
	} `json:"user"`
}

func parseOptions(t testing.TB, opts []byte) optionsJSON {
	t.Helper()
	var o optionsJSON
	if err := json.Unmarshal(opts, &o); err != nil {
		t.Fatal(err)
	}
	return o
}

func (k *softKey) clientData(c ceremony, typ, challenge string) []byte {
	if c.origin == "" {
		c.origin = pkOrigin
	}
	if c.typ != "" {
		typ = c.typ
	}
	cd, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": c.origin, "crossOrigin": false})
	return cd
}

func (k *softKey) authData(c ceremony, rpID string, def byte) []byte {
	if c.rpID != "" {
		rpID = c.rpID
	}
	flags := def
	if c.flags != 0 || c.noFlag {
		flags = c.flags
	}
	h := sha256.Sum256([]byte(rpID))
	ad := append(h[:], flags)
	return binary.BigEndian.AppendUint32(ad, k.count)
}

// register answers creation options with a RegistrationResponseJSON.
func (k *softKey) register(t testing.TB, opts []byte, c ceremony) []byte {
	t.Helper()
	o := parseOptions(t, opts)
	k.handle = unb64u(t, o.User.ID)
	cd := k.clientData(c, "webauthn.create", o.Challenge)
	ad := k.authData(c, o.RP.ID, flagUP|flagUV|flagAT)
	ad = append(ad, make([]byte, 16)...) // AAGUID
	ad = binary.BigEndian.AppendUint16(ad, uint16(len(k.id)))
	ad = append(ad, k.id...)
	x, y := make([]byte, 32), make([]byte, 32)
	k.priv.X.FillBytes(x)
	k.priv.Y.FillBytes(y)
	key, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
		Curve:         int64(webauthncose.P256), XCoord: x, YCoord: y,
	})
	if err != nil {
		t.Fatal(err)
	}
	ad = append(ad, key...)
	att, err := webauthncbor.Marshal(struct {
		Fmt      string         `cbor:"fmt"`
		AttStmt  map[string]any `cbor:"attStmt"`
		AuthData []byte         `cbor:"authData"`
	}{"none", map[string]any{}, ad})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(map[string]any{
		"id": b64u(k.id), "rawId": b64u(k.id), "type": "public-key", "authenticatorAttachment": "platform",
		"response":               map[string]any{"clientDataJSON": b64u(cd), "attestationObject": b64u(att), "transports": []string{"internal"}},
		"clientExtensionResults": map[string]any{},
	})
	return out
}

// assert answers request options with an AuthenticationResponseJSON,
// counting one use.
func (k *softKey) assert(t testing.TB, opts []byte, c ceremony) []byte {
	t.Helper()
	o := parseOptions(t, opts)
	k.count++
	cd := k.clientData(c, "webauthn.get", o.Challenge)
	ad := k.authData(c, o.RPID, flagUP|flagUV)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(map[string]any{
		"id": b64u(k.id), "rawId": b64u(k.id), "type": "public-key", "authenticatorAttachment": "platform",
		"response":               map[string]any{"clientDataJSON": b64u(cd), "authenticatorData": b64u(ad), "signature": b64u(sig), "userHandle": b64u(k.handle)},
		"clientExtensionResults": map[string]any{},
	})
	return out
}

// pkEnv is the unit-test env with passkeys on: the real SQLite store (it is
// the PasskeyStore) and the go-webauthn relying party for
// app.example.test.
type pkEnv struct {
	*env
	svc  *auth.Service
	user *auth.User
	cur  *auth.Current
}

func newPKEnv(t testing.TB) *pkEnv {
	t.Helper()
	cfg := testConfig()
	// The benchmark begins a sign-in per iteration: no limit in the way.
	cfg.TokenPerIP = auth.Limit{N: 1 << 30, Per: time.Minute}
	e := newEnv(t, cfg)
	rp, err := passkey.New("app.example.test", "Bulwark test", []string{pkOrigin})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc, err := auth.NewService(e.ctx, e.cfg, auth.Deps{
		Store: e.db, Limiter: e.limiter, Hasher: e.hasher, Policy: e.policy,
		Normalize: password.Normalize, CanonicalEmail: email.Canonical, Tokens: e.tokens, Logger: logger, Now: e.clock.Now,
		Passkeys: rp,
	})
	if err != nil {
		t.Fatal(err)
	}
	u := e.signup("pk@example.com", "correct horse battery staple", true)
	return &pkEnv{env: e, svc: svc, user: u,
		cur: &auth.Current{UserID: u.ID, Methods: auth.Methods{auth.MethodPassword}, AuthTime: e.clock.Now()}}
}

func (p *pkEnv) beginRegistration(t testing.TB) []byte {
	t.Helper()
	p.cur.AuthTime = p.clock.Now()
	opts, err := p.svc.BeginPasskeyRegistration(p.ctx, p.cl, p.cur, "")
	if err != nil {
		t.Fatalf("BeginPasskeyRegistration: %v", err)
	}
	return opts
}

// registered makes k a registered passkey of the user.
func (p *pkEnv) registered(t testing.TB, k *softKey) *auth.Passkey {
	t.Helper()
	np, err := p.svc.FinishPasskeyRegistration(p.ctx, p.cl, p.cur, "key", k.register(t, p.beginRegistration(t), ceremony{}))
	if err != nil {
		t.Fatalf("FinishPasskeyRegistration: %v", err)
	}
	return np.Passkey
}

func (p *pkEnv) beginLogin(t testing.TB) []byte {
	t.Helper()
	opts, err := p.svc.BeginPasskeyLogin(p.ctx, p.cl, "")
	if err != nil {
		t.Fatalf("BeginPasskeyLogin: %v", err)
	}
	return opts
}

func wantPKCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := auth.ErrorCode(err); got != code {
		t.Fatalf("%s: error %v (code %q), want %q", what, err, got, code)
	}
}

// TestPasskeyRegistrationChecks: each crafted flaw of a registration
// response is refused with passkey_rejected, and none of them spends the
// challenge: the good response to the same options is accepted after.
func TestPasskeyRegistrationChecks(t *testing.T) {
	p := newPKEnv(t)
	for _, tc := range []struct {
		name string
		c    ceremony
		idN  int
	}{
		{"origin of another site", ceremony{origin: "https://evil.example"}, 32},
		{"type webauthn.get", ceremony{typ: "webauthn.get"}, 32},
		{"rpIdHash of another RP", ceremony{rpID: "evil.example"}, 32},
		{"UP=0", ceremony{flags: flagUV | flagAT}, 32},
		{"UV=0 when required", ceremony{flags: flagUP | flagAT}, 32},
		{"BE=0 BS=1", ceremony{flags: flagUP | flagUV | flagAT | flagBS}, 32},
		{"credential id of 1024 bytes", ceremony{}, 1024},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := p.beginRegistration(t)
			k := newSoftKey(t, tc.idN)
			_, err := p.svc.FinishPasskeyRegistration(p.ctx, p.cl, p.cur, "bad", k.register(t, opts, tc.c))
			wantPKCode(t, "flawed response", err, auth.CodePasskeyRejected)
			good := newSoftKey(t, 32)
			np, err := p.svc.FinishPasskeyRegistration(p.ctx, p.cl, p.cur, "good", good.register(t, opts, ceremony{}))
			if err != nil {
				t.Fatalf("good response after a refused one: %v", err)
			}
			if np.Passkey.Name != "good" || len(np.Passkey.CredentialID) != 32 {
				t.Fatalf("registered %+v", np.Passkey)
			}
		})
	}
	// 1023 bytes is the most a credential id may have.
	k := newSoftKey(t, 1023)
	if _, err := p.svc.FinishPasskeyRegistration(p.ctx, p.cl, p.cur, "long", k.register(t, p.beginRegistration(t), ceremony{})); err != nil {
		t.Fatalf("credential id of 1023 bytes: %v", err)
	}
}

// TestPasskeyRegistrationCeremonyBounds: an expired registration (six
// minutes on the injected clock), a sign-in challenge, another user's
// registration and a spent one are all refused.
func TestPasskeyRegistrationCeremonyBounds(t *testing.T) {
	p := newPKEnv(t)
	opts := p.beginRegistration(t)
	p.clock.Advance(6 * time.Minute)
	p.cur.AuthTime = p.clock.Now()
	_, err := p.svc.FinishPasskeyRegistration(p.ctx, p.cl, p.cur, "late", newSoftKey(t, 32).register(t, opts, ceremony{}))
	wantPKCode(t, "expired registration", err, auth.CodePasskeyRejected)

	// A sign-in challenge cannot finish a registration.
	login := p.beginLogin(t)
	var reg map[string]any
	_ = json.Unmarshal(p.beginRegistration(t), &reg)
	var lo map[string]any
	_ = json.Unmarshal(login, &lo)
	reg["challenge"] = lo["challenge"]
	swapped, _ := json.Marshal(reg)
	_, err = p.svc.FinishPasskeyRegistration(p.ctx, p.cl, p.cur, "x", newSoftKey(t, 32).register(t, swapped, ceremony{}))
	wantPKCode(t, "sign-in challenge for a registration", err, auth.CodePasskeyRejected)

	// Another user cannot finish this user's registration.
	opts = p.beginRegistration(t)
	other := p.signup("other@example.com", "correct horse battery staple", true)
	otherCur := &auth.Current{UserID: other.ID, Methods: auth.Methods{auth.MethodPassword}, AuthTime: p.clock.Now()}
	resp := newSoftKey(t, 32).register(t, opts, ceremony{})
	_, err = p.svc.FinishPasskeyRegistration(p.ctx, p.cl, otherCur, "x", resp)
	wantPKCode(t, "another user's registration", err, auth.CodePasskeyRejected)
	if _, err := p.svc.FinishPasskeyRegistration(p.ctx, p.cl, p.cur, "mine", resp); err != nil {
		t.Fatalf("the owner after another user tried: %v", err)
	}
	// Spent.
	_, err = p.svc.FinishPasskeyRegistration(p.ctx, p.cl, p.cur, "again", resp)
	wantPKCode(t, "spent registration", err, auth.CodePasskeyRejected)

	// A session older than five minutes needs the password.
	p.clock.Advance(6 * time.Minute)
	_, err = p.svc.BeginPasskeyRegistration(p.ctx, p.cl, p.cur, "")
	wantPKCode(t, "stale session", err, auth.CodeReauthRequired)
	if _, err := p.svc.BeginPasskeyRegistration(p.ctx, p.cl, p.cur, "correct horse battery staple"); err != nil {
		t.Fatalf("stale session with the password: %v", err)
	}
}

// TestPasskeyAssertionChecks: each crafted flaw of an assertion is the one
// invalid_credentials, the challenge stays usable, and the good assertion
// then signs in with the method passkey.
func TestPasskeyAssertionChecks(t *testing.T) {
	p := newPKEnv(t)
	k := newSoftKey(t, 32)
	p.registered(t, k)
	for _, tc := range []struct {
		name string
		c    ceremony
	}{
		{"origin of another site", ceremony{origin: "https://evil.example"}},
		{"type webauthn.create", ceremony{typ: "webauthn.create"}},
		{"rpIdHash of another RP", ceremony{rpID: "evil.example"}},
		{"UP=0", ceremony{flags: flagUV}},
		{"UV=0 for a passkey alone", ceremony{flags: flagUP}},
		{"BE=0 BS=1", ceremony{flags: flagUP | flagUV | flagBS}},
		{"BE changed", ceremony{flags: flagUP | flagUV | flagBE}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := p.beginLogin(t)
			_, err := p.svc.PasskeyLogin(p.ctx, p.cl, k.assert(t, opts, tc.c))
			wantPKCode(t, "flawed assertion", err, auth.CodeInvalidCredentials)
			l, err := p.svc.PasskeyLogin(p.ctx, p.cl, k.assert(t, opts, ceremony{}))
			if err != nil {
				t.Fatalf("good assertion after a refused one: %v", err)
			}
			if l.User.ID != p.user.ID || len(l.Methods) != 1 || l.Methods[0] != auth.MethodPasskey {
				t.Fatalf("login %+v", l)
			}
		})
	}
	// A bad signature, a wrong user handle, an unknown credential.
	opts := p.beginLogin(t)
	bad := k.assert(t, opts, ceremony{})
	var m map[string]any
	_ = json.Unmarshal(bad, &m)
	r := m["response"].(map[string]any)
	sig := unb64u(t, r["signature"].(string))
	sig[len(sig)-1] ^= 1
	r["signature"] = b64u(sig)
	badSig, _ := json.Marshal(m)
	_, err := p.svc.PasskeyLogin(p.ctx, p.cl, badSig)
	wantPKCode(t, "bad signature", err, auth.CodeInvalidCredentials)
	r["signature"] = b64u(sig[:len(sig)-1])
	other := p.signup("handle@example.com", "correct horse battery staple", true)
	otherKey := newSoftKey(t, 32)
	otherEnv := &pkEnv{env: p.env, svc: p.svc, user: other, cur: &auth.Current{UserID: other.ID, AuthTime: p.clock.Now()}}
	otherEnv.registered(t, otherKey)
	wrongHandle := *k
	wrongHandle.handle = otherKey.handle
	_, err = p.svc.PasskeyLogin(p.ctx, p.cl, wrongHandle.assert(t, opts, ceremony{}))
	wantPKCode(t, "another user's handle", err, auth.CodeInvalidCredentials)
	_, err = p.svc.PasskeyLogin(p.ctx, p.cl, newSoftKey(t, 32).assert(t, opts, ceremony{}))
	wantPKCode(t, "unknown credential", err, auth.CodeInvalidCredentials)
	if _, err := p.svc.PasskeyLogin(p.ctx, p.cl, k.assert(t, opts, ceremony{})); err != nil {
		t.Fatalf("good assertion: %v", err)
	}
}

// TestPasskeyAssertionReplayAndCeremonies: a replayed assertion, an expired
// challenge and a registration challenge used to sign in are refused.
func TestPasskeyAssertionReplayAndCeremonies(t *testing.T) {
	p := newPKEnv(t)
	k := newSoftKey(t, 32)
	p.registered(t, k)
	a := k.assert(t, p.beginLogin(t), ceremony{})
	if _, err := p.svc.PasskeyLogin(p.ctx, p.cl, a); err != nil {
		t.Fatal(err)
	}
	_, err := p.svc.PasskeyLogin(p.ctx, p.cl, a)
	wantPKCode(t, "replayed assertion", err, auth.CodeInvalidCredentials)

	opts := p.beginLogin(t)
	p.clock.Advance(6 * time.Minute)
	_, err = p.svc.PasskeyLogin(p.ctx, p.cl, k.assert(t, opts, ceremony{}))
	wantPKCode(t, "expired challenge", err, auth.CodeInvalidCredentials)

	// A registration's challenge, answered as a sign-in.
	reg := p.beginRegistration(t)
	var o map[string]any
	_ = json.Unmarshal(reg, &o)
	o["rpId"] = "app.example.test"
	asLogin, _ := json.Marshal(o)
	_, err = p.svc.PasskeyLogin(p.ctx, p.cl, k.assert(t, asLogin, ceremony{}))
	wantPKCode(t, "registration challenge for a sign-in", err, auth.CodeInvalidCredentials)
	if !strings.Contains(p.logs.String(), `"reason":"passkey_registration_challenge"`) {
		t.Fatal("the refusal of a registration challenge is not logged as such")
	}
}

// TestPasskeyCloneDetection: a counter that does not grow is refused,
// audited and told; counters that stay 0 are fine.
func TestPasskeyCloneDetection(t *testing.T) {
	p := newPKEnv(t)
	k := newSoftKey(t, 32)
	k.count = 4
	p.registered(t, k) // stored 4
	if _, err := p.svc.PasskeyLogin(p.ctx, p.cl, k.assert(t, p.beginLogin(t), ceremony{})); err != nil {
		t.Fatal(err) // 5
	}
	k.count = 4 // the clone answers 5 again
	_, err := p.svc.PasskeyLogin(p.ctx, p.cl, k.assert(t, p.beginLogin(t), ceremony{}))
	wantPKCode(t, "counter not grown", err, auth.CodeInvalidCredentials)
	if n := strings.Count(p.logs.String(), `"event":"passkey_clone_detected"`); n != 1 {
		t.Fatalf("%d passkey_clone_detected events", n)
	}
	found := false
	for _, m := range p.mails() {
		if m.Template == string(auth.NoticePasskeyCloned) && m.To == p.user.Email {
			found = true
		}
	}
	if !found {
		t.Fatal("no passkey_clone_detected mail")
	}
	// A greater counter passes again.
	k.count = 10
	if _, err := p.svc.PasskeyLogin(p.ctx, p.cl, k.assert(t, p.beginLogin(t), ceremony{})); err != nil {
		t.Fatalf("counter 11 after 5: %v", err)
	}

	// A synced passkey whose counter is always 0.
	z := newSoftKey(t, 32)
	zp := &pkEnv{env: p.env, svc: p.svc, user: p.user, cur: p.cur}
	zp.registered(t, z)
	for range 3 {
		z.count = 0
		// assert adds one; a counter-less key reports 0: undo it.
		opts := p.beginLogin(t)
		z.count = ^uint32(0)
		if _, err := p.svc.PasskeyLogin(p.ctx, p.cl, z.assert(t, opts, ceremony{})); err != nil {
			t.Fatalf("counter always 0: %v", err)
		}
	}
}

// BenchmarkPasskeyAssertion measures the server side of a passkey sign-in:
// "verify" is the WebAuthn verification alone (parse, ES256 signature,
// client data and authenticator data checks), "login" the whole
// PasskeyLogin with its SQLite reads and writes (the challenge is made and
// the assertion signed outside the timer). Compare with
// internal/password's BenchmarkHash*/BenchmarkVerify* on the same machine.
func BenchmarkPasskeyAssertion(b *testing.B) {
	p := newPKEnv(b)
	k := newSoftKey(b, 32)
	p.registered(b, k)

	b.Run("verify", func(b *testing.B) {
		rp, err := passkey.New("app.example.test", "Bulwark test", []string{pkOrigin})
		if err != nil {
			b.Fatal(err)
		}
		opts, err := rp.BeginLogin(nil, "required")
		if err != nil {
			b.Fatal(err)
		}
		stored, err := p.db.PasskeyByCredentialID(p.ctx, k.id)
		if err != nil {
			b.Fatal(err)
		}
		resp := k.assert(b, opts.Options, ceremony{})
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			a, err := rp.ParseAssertion(resp)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := rp.VerifyAssertion(a, opts.Session, k.handle, stored); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "assertions/s")
	})
	b.Run("login", func(b *testing.B) {
		b.ReportAllocs()
		n := 0
		var busy time.Duration
		for b.Loop() {
			b.StopTimer()
			a := k.assert(b, p.beginLogin(b), ceremony{})
			b.StartTimer()
			start := time.Now()
			if _, err := p.svc.PasskeyLogin(p.ctx, p.cl, a); err != nil {
				b.Fatal(err)
			}
			busy += time.Since(start)
			n++
		}
		b.ReportMetric(float64(n)/busy.Seconds(), "logins/s")
	})
}
