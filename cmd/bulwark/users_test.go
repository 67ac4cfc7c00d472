package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/bulwarkauth/bulwark/internal/sqlite"
)

func jsonLinesOf(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		lines = append(lines, m)
	}
	return lines
}

// storedHash reads a user's stored hash straight from the dev database.
func storedHash(t *testing.T, dataDir, email string) string {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(dataDir, "bulwark.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u, err := db.UserByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return u.PasswordHash
}

// TestUsersImport: a team moving over from another system imports its users
// with their bcrypt or argon2id hashes; bad lines are refused one by one
// with the reason, a dry run writes nothing, and each imported user signs
// in with their old password, their hash upgraded to argon2id at once.
func TestUsersImport(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"BULWARK_DATA_DIR": dir, "BULWARK_EMAIL_VERIFICATION": "off"}
	bc, err := bcrypt.GenerateFromPassword([]byte(strongPW), 10)
	if err != nil {
		t.Fatal(err)
	}
	lines := []string{
		fmt.Sprintf(`{"email":"Moved@Example.com","password_hash":%q,"email_verified":true}`, bc),
		fmt.Sprintf(`{"email":"second@example.com","password_hash":%q,"email_verified":true}`, bc),
		`{"email":"bad-hash@example.com","password_hash":"$1$md5crypt$not.accepted","email_verified":true}`,
		fmt.Sprintf(`{"email":"moved@example.com","password_hash":%q}`, bc), // same address again
		fmt.Sprintf(`{"email":"not an address","password_hash":%q}`, bc),
		`{"email":"x@example.com","password_hash":"` + string(bc) + `","role":"admin"}`, // unknown field
		`not json`,
		``,
	}
	file := filepath.Join(dir, "users.jsonl")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}

	out, err := cli(t, env, "users", "import", "--dev", "--dry-run", file)
	if err == nil || !strings.Contains(err.Error(), "5 of 7 lines refused") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	got := jsonLinesOf(t, out)
	var refused []string
	for _, l := range got[:len(got)-1] {
		r := l["refused"].(map[string]any)
		refused = append(refused, fmt.Sprintf("%v:%v", r["line"], r["reason"]))
	}
	want := []string{
		"3:password_hash is not a bcrypt or argon2id hash Bulwark accepts",
		"4:the address appears on an earlier line",
		"5:invalid email address",
		"6:not one JSON object with email, password_hash and email_verified",
		"7:not one JSON object with email, password_hash and email_verified",
	}
	if fmt.Sprint(refused) != fmt.Sprint(want) {
		t.Fatalf("refused %v\nwant %v", refused, want)
	}
	if strings.Contains(out, string(bc)) {
		t.Fatal("the report repeats a password hash")
	}
	if sum := got[len(got)-1]; sum["imported"] != float64(2) || sum["dry_run"] != true {
		t.Fatalf("summary %v", sum)
	}
	if out, _ := cli(t, env, "users", "list", "--dev"); strings.TrimSpace(out) != "" {
		t.Fatalf("a dry run wrote users: %s", out)
	}

	if _, err := cli(t, env, "users", "import", "--dev", file); err == nil {
		t.Fatal("import with refused lines exited 0")
	}
	out, err = cli(t, env, "users", "list", "--dev")
	if err != nil {
		t.Fatal(err)
	}
	if l := jsonLinesOf(t, out); len(l) != 2 || l[0]["email"] != "moved@example.com" || l[1]["email"] != "second@example.com" {
		t.Fatalf("after import: %s", out)
	}
	// Importing again refuses what exists, and creates nothing twice.
	if out, err := cli(t, env, "users", "import", "--dev", file); err == nil || !strings.Contains(out, "an account with this address exists") {
		t.Fatalf("second import: %v %s", err, out)
	}

	in := start(t, env, "serve", "--dev")
	in.expect(in.call("POST", "/v1/session", loginBody("moved@example.com", "not the old password")), 401)
	in.expect(in.call("POST", "/v1/session", loginBody("MOVED@example.com", strongPW)), 200)
	if h := storedHash(t, dir, "moved@example.com"); !strings.HasPrefix(h, "$argon2id$") {
		t.Fatalf("hash after first login %q, want upgraded to argon2id", h[:10])
	}
	in.expect(in.call("POST", "/v1/session", loginBody("moved@example.com", strongPW)), 200)
}

// TestUsersCommand: the CLI does what the admin API does, by email or id.
func TestUsersCommand(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"BULWARK_DATA_DIR": dir, "BULWARK_EMAIL_VERIFICATION": "off"}
	in := start(t, env, "serve", "--dev")
	signupOn(t, in, "ops@example.com")
	signupOn(t, in, "user@example.com")
	r := in.expect(in.call("POST", "/v1/token", map[string]string{"grant_type": "password", "email": "user@example.com", "password": strongPW}), 200)
	access, refresh := r.body["access_token"].(string), r.body["refresh_token"].(string)
	adminTok := in.expect(in.call("POST", "/v1/token", map[string]string{"grant_type": "password", "email": "ops@example.com", "password": strongPW}), 200).body["access_token"].(string)

	in.expect(in.call("GET", "/v1/admin/users", nil, "Authorization", "Bearer "+adminTok), 403)
	if _, err := cli(t, env, "users", "grant-admin", "--dev", "ops@example.com"); err != nil {
		t.Fatal(err)
	}
	in.expect(in.call("GET", "/v1/admin/users", nil, "Authorization", "Bearer "+adminTok), 200)

	out, err := cli(t, env, "users", "show", "--dev", "user@example.com")
	if err != nil {
		t.Fatal(err)
	}
	show := jsonLinesOf(t, out)[0]
	if show["email"] != "user@example.com" || len(show["sessions"].([]any)) != 1 || show["failed_second_factors"] != float64(0) {
		t.Fatalf("show: %s", out)
	}
	id := show["id"].(string)
	out, err = cli(t, env, "users", "disable", "--dev", id)
	if err != nil {
		t.Fatal(err)
	}
	audit := jsonLinesOf(t, out)
	if len(audit) != 2 || audit[0]["event"] != "admin_action" || audit[0]["user_id"] != "cli" || audit[0]["target_user_id"] != id {
		t.Fatalf("disable printed %s", out)
	}
	// The running server refuses the user's tokens within the second.
	deadline := time.Now().Add(time.Second)
	for in.call("GET", "/v1/me", nil, "Authorization", "Bearer "+access).status != 401 {
		if time.Now().After(deadline) {
			t.Fatal("access token still accepted a second after the CLI disabled the user")
		}
		time.Sleep(10 * time.Millisecond)
	}
	in.expect(in.call("POST", "/v1/token", map[string]string{"grant_type": "refresh_token", "refresh_token": refresh}), 401)

	out, err = cli(t, env, "users", "export", "--dev", "--with-hashes")
	if err != nil {
		t.Fatal(err)
	}
	exp := jsonLinesOf(t, out)
	if len(exp) != 2 || exp[1]["disabled"] != true || !strings.HasPrefix(exp[0]["password_hash"].(string), "$argon2id$") {
		t.Fatalf("export: %s", out)
	}
	if out, _ := cli(t, env, "users", "export", "--dev"); strings.Contains(out, "password_hash") {
		t.Fatal("export without --with-hashes printed hashes")
	}
	for _, bad := range [][]string{{"users"}, {"users", "frobnicate", "--dev"}, {"users", "show", "--dev"}, {"users", "list", "--dev", "--dry-run"}} {
		if _, err := cli(t, env, bad...); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
	if _, err := cli(t, env, "users", "delete", "--dev", "nobody@example.com"); err == nil || !strings.Contains(err.Error(), "no user") {
		t.Fatalf("delete of nobody: %v", err)
	}
}
