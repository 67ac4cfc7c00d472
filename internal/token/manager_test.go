package token

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/kek"
	"github.com/bulwarkauth/bulwark/internal/postgres"
	"github.com/bulwarkauth/bulwark/internal/sqlite"
	"github.com/bulwarkauth/bulwark/internal/testutil"
)

func newKEK(t testing.TB) *kek.Keys {
	t.Helper()
	raw, err := kek.Generate()
	if err != nil {
		t.Fatal(err)
	}
	k, err := kek.New(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func openSQLite(t testing.TB, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path, sqlite.AutoMigrate(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

type managerEnv struct {
	store  auth.SigningKeyStore
	sealer auth.Sealer
	clock  *testutil.Clock
}

func (e managerEnv) manager(t testing.TB, alg string, rotation time.Duration) *Manager {
	t.Helper()
	m, err := NewManager(ManagerConfig{Store: e.store, Sealer: e.sealer, Alg: alg, Rotation: rotation, AccessTTL: testTTL, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newManagerEnv(t testing.TB) managerEnv {
	return managerEnv{
		store:  openSQLite(t, filepath.Join(t.TempDir(), "keys.db")),
		sealer: newKEK(t),
		clock:  testutil.NewClock(testNow),
	}
}

func mustLoad(t testing.TB, m *Manager) *Issuer {
	t.Helper()
	iss, err := m.Load(context.Background(), testIssuer, testAudience, testTTL)
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

func issueAt(t testing.TB, iss *Issuer, now time.Time) string {
	t.Helper()
	c := testClaims()
	c.IssuedAt, c.ExpiresAt = now, now.Add(testTTL)
	tok, err := iss.Issue(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestManager_RotationSignsNobodyOut: the first Load makes a current and a
// next key. A token signed by the current key still verifies after one
// rotation (its key is previous) and is refused after the second (retired),
// even from the verified-token cache; a rotation sooner than
// MinRotationInterval is refused unless forced.
func TestManager_RotationSignsNobodyOut(t *testing.T) {
	for _, alg := range []string{EdDSA, ES256} {
		t.Run(alg, func(t *testing.T) {
			e := newManagerEnv(t)
			ctx := context.Background()
			m := e.manager(t, alg, 0)
			iss := mustLoad(t, m)
			stored, _ := e.store.SigningKeys(ctx, true)
			first := byState(stored)
			if len(stored) != 2 || first[auth.KeyCurrent].Alg != alg || first[auth.KeyNext].Alg != alg {
				t.Fatalf("first keys: %+v", stored)
			}
			k1 := iss.KeyID()
			if k1 != first[auth.KeyCurrent].KID {
				t.Fatalf("signing with %s, not the current key", k1)
			}
			if _, err := m.Rotate(ctx, false); !errors.Is(err, ErrTooSoon) {
				t.Fatalf("rotation right after the keys were made: %v", err)
			}

			e.clock.Advance(MinRotationInterval(testTTL))
			t1at := e.clock.Now()
			t1 := issueAt(t, iss, t1at)
			if _, err := iss.Verify(t1, t1at); err != nil { // cached from here on
				t.Fatal(err)
			}
			r, err := m.Rotate(ctx, false)
			if err != nil {
				t.Fatal(err)
			}
			if r.Current != first[auth.KeyNext].KID || r.Retired != "" || r.Next == "" {
				t.Fatalf("first rotation: %+v", r)
			}
			if iss.KeyID() != k1 {
				t.Fatal("the issuer changed keys before Refresh")
			}
			if err := m.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			if iss.KeyID() != r.Current {
				t.Fatalf("signing with %s after rotation, want %s", iss.KeyID(), r.Current)
			}
			t2 := issueAt(t, iss, t1at)
			for _, tok := range []string{t1, t2} {
				if _, err := iss.Verify(tok, t1at.Add(time.Second)); err != nil {
					t.Fatalf("after one rotation: %v", err)
				}
			}

			e.clock.Advance(MinRotationInterval(testTTL))
			t3at := e.clock.Now()
			t3 := issueAt(t, iss, t3at)
			r2, err := m.Rotate(ctx, false)
			if err != nil {
				t.Fatal(err)
			}
			if r2.Retired != k1 || r2.Current != r.Next {
				t.Fatalf("second rotation: %+v", r2)
			}
			if err := m.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := iss.Verify(t3, t3at.Add(time.Second)); err != nil {
				t.Fatalf("token of the previous key after two rotations: %v", err)
			}
			if _, err := iss.Verify(t1, t1at.Add(time.Second)); !errors.Is(err, errKeyID) {
				t.Fatalf("token of the retired key: %v", err)
			}
			all, _ := e.store.SigningKeys(ctx, true)
			for _, k := range all {
				if k.KID == k1 && (k.State != auth.KeyRetired || k.Sealed != nil || k.RetiredAt.IsZero()) {
					t.Fatalf("retired key as stored: %+v", k)
				}
			}
			if _, err := m.Rotate(ctx, true); err != nil {
				t.Fatalf("forced rotation: %v", err)
			}
		})
	}
}

// TestManager_Retire: retiring the previous key stops its tokens at the next
// Refresh; retiring the current key promotes the next one at once and
// makes a new next; an unknown or retired kid is ErrNotFound.
func TestManager_Retire(t *testing.T) {
	e := newManagerEnv(t)
	ctx := context.Background()
	m := e.manager(t, EdDSA, 0)
	iss := mustLoad(t, m)
	k1 := iss.KeyID()
	tok := issueAt(t, iss, e.clock.Now())
	r, err := m.Retire(ctx, k1)
	if err != nil {
		t.Fatal(err)
	}
	if r.Current == "" || r.Next == "" || r.Current == k1 {
		t.Fatalf("retire current: %+v", r)
	}
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if iss.KeyID() != r.Current {
		t.Fatalf("signing with %s, want %s", iss.KeyID(), r.Current)
	}
	if _, err := iss.Verify(tok, e.clock.Now()); !errors.Is(err, errKeyID) {
		t.Fatalf("token of the retired current key: %v", err)
	}
	if _, err := m.Retire(ctx, k1); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("retire a retired key: %v", err)
	}
	if _, err := m.Retire(ctx, "no-such-kid"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("retire an unknown key: %v", err)
	}
	nextBefore := r.Next
	r, err = m.Retire(ctx, nextBefore)
	if err != nil || r.Next == "" || r.Next == nextBefore || r.Current != "" {
		t.Fatalf("retire next: %+v %v", r, err)
	}
	keys, _ := e.store.SigningKeys(ctx, false)
	if len(keys) != 2 {
		t.Fatalf("keys after retiring next: %+v", keys)
	}
}

// TestManager_KeysSealedAtRest: a copy of the database without the
// key-encryption key reveals no private key: the stored column is neither
// the raw key nor PKCS #8 of it, nor does the key appear anywhere in the
// file; the kid and alg are bound to the sealed key, so a row altered in
// the database (its public key, alg or sealed value swapped) is refused.
func TestManager_KeysSealedAtRest(t *testing.T) {
	for _, alg := range []string{EdDSA, ES256} {
		t.Run(alg, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keys.db")
			e := managerEnv{store: openSQLite(t, path), sealer: newKEK(t), clock: testutil.NewClock(testNow)}
			ctx := context.Background()
			mustLoad(t, e.manager(t, alg, 0))
			stored, err := e.store.SigningKeys(ctx, false)
			if err != nil || len(stored) != 2 {
				t.Fatal(stored, err)
			}
			file, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			wal, _ := os.ReadFile(path + "-wal")
			file = append(file, wal...)
			for _, sk := range stored {
				k, err := OpenKey(e.sealer, sk)
				if err != nil {
					t.Fatal(err)
				}
				der, _ := x509.MarshalPKCS8PrivateKey(k.priv)
				var secret []byte
				switch p := k.priv.(type) {
				case ed25519.PrivateKey:
					secret = p.Seed()
				case *ecdsa.PrivateKey:
					secret, _ = p.Bytes()
				}
				if len(secret) != 32 {
					t.Fatalf("private scalar of %d bytes", len(secret))
				}
				if bytes.Contains(sk.Sealed, secret) || bytes.Contains(sk.Sealed, der) {
					t.Fatal("the stored column holds the private key")
				}
				if _, err := x509.ParsePKCS8PrivateKey(sk.Sealed); err == nil {
					t.Fatal("the stored column parses as a PKCS #8 private key")
				}
				if _, err := x509.ParseECPrivateKey(sk.Sealed); err == nil {
					t.Fatal("the stored column parses as an EC private key")
				}
				if bytes.Contains(file, secret) || bytes.Contains(file, der) {
					t.Fatal("the database file holds the private key")
				}
				if _, err := OpenKey(newKEK(t), sk); err == nil {
					t.Fatal("another key-encryption key opened the key")
				}
			}
			a, b := stored[0], stored[1]
			swapped := a
			swapped.Sealed = b.Sealed
			wrongAlg := a
			wrongAlg.Alg = map[string]string{EdDSA: ES256, ES256: EdDSA}[alg]
			otherPublic := a
			otherPublic.Public = b.Public
			for name, sk := range map[string]auth.SigningKey{"sealed value of another row": swapped, "alg changed": wrongAlg, "public key changed": otherPublic} {
				if _, err := OpenKey(e.sealer, sk); err == nil {
					t.Errorf("%s: opened", name)
				}
			}
		})
	}
}

// TestManager_AlgorithmChange: with the setting changed to ES256, the next
// rotation makes an ES256 next key; the EdDSA keys keep verifying until
// retired, and the issuer then signs ES256.
func TestManager_AlgorithmChange(t *testing.T) {
	e := newManagerEnv(t)
	ctx := context.Background()
	m0 := e.manager(t, EdDSA, 0)
	iss := mustLoad(t, m0)
	m := e.manager(t, ES256, 0)
	algs := func() map[string]string {
		keys, _ := e.store.SigningKeys(ctx, false)
		algs := map[string]string{}
		for _, k := range keys {
			algs[k.State] = k.Alg
		}
		return algs
	}
	e.clock.Advance(MinRotationInterval(testTTL))
	if _, err := m.Rotate(ctx, false); err != nil {
		t.Fatal(err)
	}
	if a := algs(); a[auth.KeyPrevious] != EdDSA || a[auth.KeyCurrent] != EdDSA || a[auth.KeyNext] != ES256 {
		t.Fatalf("algorithms by state after one rotation: %v", a)
	}
	if err := m0.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	tokAt := e.clock.Now()
	tok := issueAt(t, iss, tokAt) // EdDSA, by the current key
	e.clock.Advance(MinRotationInterval(testTTL))
	if _, err := m.Rotate(ctx, false); err != nil {
		t.Fatal(err)
	}
	if a := algs(); a[auth.KeyPrevious] != EdDSA || a[auth.KeyCurrent] != ES256 || a[auth.KeyNext] != ES256 {
		t.Fatalf("algorithms by state after two rotations: %v", a)
	}
	if err := m0.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if h, _, _ := jwsParts(t, issueAt(t, iss, e.clock.Now())); h["alg"] != ES256 {
		t.Fatalf("signing with %v after the switch", h["alg"])
	}
	if _, err := iss.Verify(tok, tokAt.Add(time.Second)); err != nil {
		t.Fatalf("EdDSA token of the previous key: %v", err)
	}
	if got := iss.Algorithms(); len(got) != 2 || got[0] != ES256 {
		t.Fatalf("Algorithms %v", got)
	}
}

// TestManager_ConcurrentAutoRotation: several managers (instances) find
// the rotation due at the same moment; exactly one rotates, and the store
// ends with exactly one current, one previous and one next key. On SQLite
// and, when available, PostgreSQL.
func TestManager_ConcurrentAutoRotation(t *testing.T) {
	stores := map[string]func(t *testing.T) auth.SigningKeyStore{
		"sqlite": func(t *testing.T) auth.SigningKeyStore { return openSQLite(t, filepath.Join(t.TempDir(), "keys.db")) },
		"postgres": func(t *testing.T) auth.SigningKeyStore {
			u := os.Getenv("BULWARK_TEST_POSTGRES_URL")
			if u == "" {
				t.Skip("!!! BULWARK_TEST_POSTGRES_URL not set: concurrent rotation on PostgreSQL SKIPPED")
			}
			db, err := postgres.Open(context.Background(), testutil.FreshSchema(t, u, "k_"), postgres.AutoMigrate(true))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			const period = 24 * time.Hour
			e := managerEnv{store: open(t), sealer: newKEK(t), clock: testutil.NewClock(testNow)}
			ctx := context.Background()
			mustLoad(t, e.manager(t, EdDSA, period))
			e.clock.Advance(period - time.Second)
			if err := e.manager(t, EdDSA, period).rotateIfDue(ctx); err != nil {
				t.Fatal(err)
			}
			if keys, _ := e.store.SigningKeys(ctx, true); len(keys) != 2 {
				t.Fatalf("rotated before the period: %d keys", len(keys))
			}
			e.clock.Advance(time.Second)
			const n = 8
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				m := e.manager(t, EdDSA, period)
				wg.Go(func() { errs[i] = m.rotateIfDue(ctx) })
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			keys, _ := e.store.SigningKeys(ctx, true)
			states := map[string]int{}
			for _, k := range keys {
				states[k.State]++
			}
			if len(keys) != 3 || states[auth.KeyCurrent] != 1 || states[auth.KeyPrevious] != 1 || states[auth.KeyNext] != 1 {
				t.Fatalf("after %d concurrent rotations: %v", n, states)
			}
		})
	}
}

// TestManager_Run: Run picks up a rotation made by another manager (the
// CLI, another instance) within its poll interval.
func TestManager_Run(t *testing.T) {
	e := newManagerEnv(t)
	e.clock = testutil.NewClock(time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := e.manager(t, EdDSA, 0)
	iss := mustLoad(t, m)
	go m.Run(ctx, 20*time.Millisecond)
	r, err := e.manager(t, EdDSA, 0).Rotate(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for iss.KeyID() != r.Current {
		if time.Now().After(deadline) {
			t.Fatal("Run did not pick up the rotation")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestManager_ResealsUnderANewKEK: after the key-encryption key rotates
// (the old one among the previous keys), loading the keys seals them again
// under the new one, so they open once the old key is dropped.
func TestManager_ResealsUnderANewKEK(t *testing.T) {
	ctx := context.Background()
	oldRaw, _ := kek.Generate()
	newRaw, _ := kek.Generate()
	oldKEK, _ := kek.New(oldRaw)
	both, _ := kek.New(newRaw, oldRaw)
	onlyNew, _ := kek.New(newRaw)
	e := managerEnv{store: openSQLite(t, filepath.Join(t.TempDir(), "keys.db")), sealer: oldKEK, clock: testutil.NewClock(testNow)}
	kid := mustLoad(t, e.manager(t, EdDSA, 0)).KeyID()

	e.sealer = onlyNew
	if _, err := e.manager(t, EdDSA, 0).Load(ctx, testIssuer, testAudience, testTTL); err == nil {
		t.Fatal("keys sealed under the old key opened without it")
	}
	e.sealer = both
	if got := mustLoad(t, e.manager(t, EdDSA, 0)).KeyID(); got != kid {
		t.Fatalf("kid %s after the KEK rotation, want %s", got, kid)
	}
	e.sealer = onlyNew
	if got := mustLoad(t, e.manager(t, EdDSA, 0)).KeyID(); got != kid {
		t.Fatalf("kid %s with the new KEK alone, want %s", got, kid)
	}
}
