package postgres_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/kek"
	"github.com/bulwarkauth/bulwark/internal/postgres"
)

// A PostgreSQL backup of the outbox must not give a live reset token or the
// address it was sent to; rows queued before sealing are still delivered.
func TestOutboxSealedAtRest(t *testing.T) {
	keys, err := kek.New(bytes.Repeat([]byte{5}, kek.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, dbURL := newSchema(t)
	plain := openOn(t, dbURL)
	legacy := &auth.Mail{To: "old@example.com", Template: "verify", Data: map[string]string{"link": "x"}, CreatedAt: time.Now().Add(-time.Minute)}
	if err := plain.EnqueueMail(ctx, legacy); err != nil {
		t.Fatal(err)
	}
	db := openOn(t, dbURL, postgres.WithSealer(keys))
	const token, email = "rst_7hJx2QkVbN9pLmW4sZtY8uR3", "ada.lovelace@example.com"
	m := &auth.Mail{To: email, Template: "reset", Data: map[string]string{"link": "https://a.example/reset#token=" + token}, CreatedAt: time.Now()}
	if err := db.EnqueueMail(ctx, m); err != nil {
		t.Fatal(err)
	}

	// What pg_dump would write: every column of every row, as text.
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT o::text FROM mail_outbox o WHERE id = $1`, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	dump, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(dump) != 1 {
		t.Fatalf("dump: %v %v", dump, err)
	}
	for _, s := range []string{token, email} {
		if strings.Contains(dump[0], s) {
			t.Errorf("%q readable in the outbox row: %s", s, dump[0])
		}
	}

	got, err := db.PendingMail(ctx, time.Now().Add(time.Second), time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("PendingMail = %d mails, want 2", len(got))
	}
	if got[0].ID != legacy.ID || got[0].To != legacy.To || got[0].Data["link"] != "x" {
		t.Errorf("legacy mail = %+v", got[0])
	}
	if g := got[1]; g.ID != m.ID || g.To != email || g.Template != "reset" || g.Data["link"] != m.Data["link"] {
		t.Errorf("sealed mail = %+v", g)
	}
	other, _ := kek.New(bytes.Repeat([]byte{6}, kek.KeySize))
	if _, err := openOn(t, dbURL, postgres.WithSealer(other)).PendingMail(ctx, time.Now().Add(time.Hour), 0, 10); err == nil {
		t.Error("a sealed mail opened under another key")
	}
}

// The device-cookie signing key is sealed at rest; a plain value stored
// before sealing is still used, and sealed on its first read.
func TestServerSecretSealedAtRest(t *testing.T) {
	keys, _ := kek.New(bytes.Repeat([]byte{5}, kek.KeySize))
	ctx := context.Background()
	_, dbURL := newSchema(t)
	plain := openOn(t, dbURL)
	db := openOn(t, dbURL, postgres.WithSealer(keys))
	candidate := []byte("DEVICEKEY-0123456789abcdef-32byt")
	if got, err := db.Secret(ctx, "device_cookie_key", candidate); err != nil || !bytes.Equal(got, candidate) {
		t.Fatalf("Secret = %q, %v", got, err)
	}
	if got, err := db.Secret(ctx, "device_cookie_key", []byte("another")); err != nil || !bytes.Equal(got, candidate) {
		t.Fatalf("second Secret = %q, %v", got, err)
	}
	if stored, err := plain.Secret(ctx, "device_cookie_key", []byte{}); err != nil || bytes.Contains(stored, candidate) {
		t.Errorf("stored in plain text: %q, %v", stored, err)
	}
	legacy := []byte("LEGACYKEY-0123456789abcdef-32byt")
	if _, err := plain.Secret(ctx, "legacy_key", legacy); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Secret(ctx, "legacy_key", []byte("x")); err != nil || !bytes.Equal(got, legacy) {
		t.Fatalf("legacy Secret = %q, %v", got, err)
	}
	if stored, err := plain.Secret(ctx, "legacy_key", []byte{}); err != nil || bytes.Contains(stored, legacy) || !bytes.HasPrefix(stored, []byte("bulwark-sealed:")) {
		t.Errorf("legacy value not sealed in place: %q, %v", stored, err)
	}
	if got, err := db.Secret(ctx, "legacy_key", nil); err != nil || !bytes.Equal(got, legacy) {
		t.Fatalf("resealed Secret = %q, %v", got, err)
	}
	other, _ := kek.New(bytes.Repeat([]byte{6}, kek.KeySize))
	if _, err := openOn(t, dbURL, postgres.WithSealer(other)).Secret(ctx, "device_cookie_key", nil); err == nil {
		t.Error("opened under another key")
	}
}
