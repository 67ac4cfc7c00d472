package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/sqlite"
)

// TestMigrateCanonicalizesStoredEmails puts accounts made before the
// canonical email rule in a database and runs `bulwark migrate`: a
// non-canonical address is rewritten, two spellings of one mailbox are both
// left as they are and reported, never merged.
func TestMigrateCanonicalizesStoredEmails(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"BULWARK_DATA_DIR": dir}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"bulwark", "migrate", "--dev"}, envFunc(env), &out, &out); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "bulwark.db"))
	if err != nil {
		t.Fatal(err)
	}
	old := map[string]string{
		"usr_bob":     "Bob@EXÄMPLE.com",
		"usr_ada_u":   "ada@exämple.com",
		"usr_ada_a":   "ada@xn--exmple-cua.com",
		"usr_already": "eve@example.com",
	}
	for id, email := range old {
		if err := db.CreateUser(ctx, &auth.User{ID: id, Email: email, PasswordHash: "x", CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	out.Reset()
	if err := run(context.Background(), []string{"bulwark", "migrate", "--dev"}, envFunc(env), &out, &out); err != nil {
		t.Fatal(err)
	}
	db, err = sqlite.Open(ctx, filepath.Join(dir, "bulwark.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	want := map[string]string{
		"usr_bob":     "bob@xn--exmple-cua.com",
		"usr_ada_u":   "ada@exämple.com", // collides: left as it is
		"usr_ada_a":   "ada@xn--exmple-cua.com",
		"usr_already": "eve@example.com",
	}
	for id, w := range want {
		u, err := db.UserByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if u.Email != w {
			t.Errorf("%s: email %q after migrate, want %q", id, u.Email, w)
		}
	}
	log := out.String()
	for _, s := range []string{`"user_id":"usr_ada_u"`, `"other_user_id":"usr_ada_a"`, `"rewritten":1`, `"collisions":1`} {
		if !strings.Contains(log, s) {
			t.Errorf("migrate output lacks %s:\n%s", s, log)
		}
	}
}
