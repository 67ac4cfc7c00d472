package sqlite_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/kek"
	"github.com/bulwarkauth/bulwark/internal/sqlite"
)

const (
	sealedToken = "rst_7hJx2QkVbN9pLmW4sZtY8uR3"
	sealedEmail = "ada.lovelace@example.com"
)

func resetMail() *auth.Mail {
	return &auth.Mail{To: sealedEmail, Template: "reset",
		Data:      map[string]string{"link": "https://auth.example.com/reset#token=" + sealedToken},
		CreatedAt: time.Now()}
}

// rawFiles returns the bytes of every file of the database (db, -wal, -shm).
func rawFiles(t *testing.T, dir string) []byte {
	t.Helper()
	var all []byte
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

// A copy of the SQLite files (the -wal too) must not give a live reset token
// or the address it was sent to.
func TestOutboxSealedAtRest(t *testing.T) {
	keys, err := kek.New(bytes.Repeat([]byte{5}, kek.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "bulwark.db")

	// A row queued before the upgrade, in plain text: still delivered.
	plain, err := sqlite.Open(ctx, path, sqlite.AutoMigrate(true))
	if err != nil {
		t.Fatal(err)
	}
	legacy := &auth.Mail{To: "old@example.com", Template: "verify", Data: map[string]string{"link": "x"}, CreatedAt: time.Now().Add(-time.Minute)}
	if err := plain.EnqueueMail(ctx, legacy); err != nil {
		t.Fatal(err)
	}
	if err := plain.Close(); err != nil {
		t.Fatal(err)
	}

	db, err := sqlite.Open(ctx, path, sqlite.AutoMigrate(true), sqlite.WithSealer(keys))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := resetMail()
	if err := db.EnqueueMail(ctx, m); err != nil {
		t.Fatal(err)
	}
	raw := rawFiles(t, dir)
	for _, s := range []string{sealedToken, sealedEmail} {
		if bytes.Contains(raw, []byte(s)) {
			t.Errorf("%q readable in the raw database files", s)
		}
	}

	got, err := db.PendingMail(ctx, time.Now().Add(time.Second), time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("PendingMail = %d mails, want 2 (the plain one and the sealed one)", len(got))
	}
	if got[0].ID != legacy.ID || got[0].To != legacy.To || got[0].Data["link"] != "x" {
		t.Errorf("legacy mail = %+v", got[0])
	}
	if g := got[1]; g.ID != m.ID || g.To != sealedEmail || g.Template != "reset" || g.Data["link"] != m.Data["link"] || g.CreatedAt.IsZero() {
		t.Errorf("sealed mail = %+v", g)
	}
	for _, g := range got {
		if err := db.MarkMailSent(ctx, g.ID); err != nil {
			t.Fatal(err)
		}
	}

	// Without the key a sealed row does not open.
	if err := db.EnqueueMail(ctx, resetMail()); err != nil {
		t.Fatal(err)
	}
	other, _ := kek.New(bytes.Repeat([]byte{6}, kek.KeySize))
	wrong, err := sqlite.Open(ctx, path, sqlite.WithSealer(other))
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	if _, err := wrong.PendingMail(ctx, time.Now().Add(time.Second), 0, 10); err == nil {
		t.Error("a sealed mail opened under another key")
	}
}

// The device-cookie signing key is sealed at rest; a plain value stored
// before sealing is still used, and sealed on its first read.
func TestServerSecretSealedAtRest(t *testing.T) {
	keys, _ := kek.New(bytes.Repeat([]byte{5}, kek.KeySize))
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "bulwark.db")
	candidate := []byte("DEVICEKEY-0123456789abcdef-32byt")

	db, err := sqlite.Open(ctx, path, sqlite.AutoMigrate(true), sqlite.WithSealer(keys))
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.Secret(ctx, "device_cookie_key", candidate)
	if err != nil || !bytes.Equal(got, candidate) {
		t.Fatalf("Secret = %q, %v", got, err)
	}
	if got, err := db.Secret(ctx, "device_cookie_key", []byte("another")); err != nil || !bytes.Equal(got, candidate) {
		t.Fatalf("second Secret = %q, %v", got, err)
	}
	if bytes.Contains(rawFiles(t, dir), candidate) {
		t.Error("the secret is readable in the raw database files")
	}

	// A plain value from before the upgrade.
	legacy := []byte("LEGACYKEY-0123456789abcdef-32byt")
	plain, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := plain.Secret(ctx, "legacy_key", legacy); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Secret(ctx, "legacy_key", []byte("x")); err != nil || !bytes.Equal(got, legacy) {
		t.Fatalf("legacy Secret = %q, %v", got, err)
	}
	stored, err := plain.Secret(ctx, "legacy_key", nil) // no sealer: the stored bytes
	if err != nil || bytes.Contains(stored, legacy) || !bytes.HasPrefix(stored, []byte("bulwark-sealed:")) {
		t.Errorf("legacy value not sealed in place: %q, %v", stored, err)
	}
	if got, err := db.Secret(ctx, "legacy_key", nil); err != nil || !bytes.Equal(got, legacy) {
		t.Fatalf("resealed Secret = %q, %v", got, err)
	}
	db.Close()

	// A value sealed under another key does not open: an error, never a
	// silently different key.
	other, _ := kek.New(bytes.Repeat([]byte{6}, kek.KeySize))
	wrong, err := sqlite.Open(ctx, path, sqlite.WithSealer(other))
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	if _, err := wrong.Secret(ctx, "device_cookie_key", nil); err == nil {
		t.Error("opened under another key")
	}
}

// After a rotation a secret sealed under the previous key opens, and is
// sealed again under the new one.
func TestServerSecretResealedAfterRotation(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "bulwark.db")
	oldKey, newKey := bytes.Repeat([]byte{5}, kek.KeySize), bytes.Repeat([]byte{6}, kek.KeySize)
	before, _ := kek.New(oldKey)
	after, _ := kek.New(newKey, oldKey)
	onlyNew, _ := kek.New(newKey)
	secret := []byte("DEVICEKEY-0123456789abcdef-32byt")
	for _, k := range []*kek.Keys{before, after, onlyNew} {
		db, err := sqlite.Open(ctx, path, sqlite.AutoMigrate(true), sqlite.WithSealer(k))
		if err != nil {
			t.Fatal(err)
		}
		got, err := db.Secret(ctx, "device_cookie_key", secret)
		db.Close()
		if err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("Secret = %q, %v", got, err)
		}
	}
}
