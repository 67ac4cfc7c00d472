package main

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var kek32 = base64.StdEncoding.EncodeToString([]byte("kekkekkekkekkekkekkekkekkekkek32"))

func TestLoadConfigKeyEncryptionKey(t *testing.T) {
	const canary = "Q0FOQVJZQ0FOQVJZQ0FOQVJZQ0FOQVJZQ0FOQVJZQ0FOQVJZ" // 36 bytes
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "kek")
	if err := os.WriteFile(keyFile, []byte(kek32+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badFile := filepath.Join(dir, "bad")
	if err := os.WriteFile(badFile, []byte(canary), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		set  map[string]string
		want string // prefix of the one error; "" for none
	}{
		{"missing", map[string]string{"BULWARK_KEY_ENCRYPTION_KEY": ""}, "BULWARK_KEY_ENCRYPTION_KEY: required in production: 32 random bytes, base64: make one with `openssl rand -base64 32` (or run with --dev"},
		{"too long", map[string]string{"BULWARK_KEY_ENCRYPTION_KEY": canary}, "BULWARK_KEY_ENCRYPTION_KEY: too long"},
		{"too short", map[string]string{"BULWARK_KEY_ENCRYPTION_KEY": "Q0FOQVJZ"}, "BULWARK_KEY_ENCRYPTION_KEY: too short"},
		{"not base64", map[string]string{"BULWARK_KEY_ENCRYPTION_KEY": "CANARY!!"}, "BULWARK_KEY_ENCRYPTION_KEY: not base64"},
		{"file", map[string]string{"BULWARK_KEY_ENCRYPTION_KEY": "", "BULWARK_KEY_ENCRYPTION_KEY_FILE": keyFile}, ""},
		{"file and value", map[string]string{"BULWARK_KEY_ENCRYPTION_KEY_FILE": keyFile}, "BULWARK_KEY_ENCRYPTION_KEY_FILE: set only one"},
		{"bad file", map[string]string{"BULWARK_KEY_ENCRYPTION_KEY": "", "BULWARK_KEY_ENCRYPTION_KEY_FILE": badFile}, "BULWARK_KEY_ENCRYPTION_KEY_FILE: the file must hold"},
		{"no file", map[string]string{"BULWARK_KEY_ENCRYPTION_KEY": "", "BULWARK_KEY_ENCRYPTION_KEY_FILE": filepath.Join(dir, "none")}, "BULWARK_KEY_ENCRYPTION_KEY_FILE: cannot read"},
		{"previous", map[string]string{"BULWARK_KEY_ENCRYPTION_KEYS_PREVIOUS": secret32 + ", " + kek32}, ""},
		{"bad previous", map[string]string{"BULWARK_KEY_ENCRYPTION_KEYS_PREVIOUS": secret32 + "," + canary}, "BULWARK_KEY_ENCRYPTION_KEYS_PREVIOUS: key 2: must be exactly 32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := prodEnv()
			for k, v := range tc.set {
				m[k] = v
			}
			if tc.want == "" {
				c := load(t, m, nil, false)
				if string(c.KeyEncryptionKey) != "kekkekkekkekkekkekkekkekkekkek32" {
					t.Errorf("key not read")
				}
				if tc.name == "previous" && len(c.KeyEncryptionKeysPrevious) != 2 {
					t.Errorf("previous keys = %d", len(c.KeyEncryptionKeysPrevious))
				}
				return
			}
			msgs := loadErr(t, m, nil, false)
			if len(msgs) != 1 || !strings.HasPrefix(msgs[0], tc.want) {
				t.Errorf("got %q, want one error starting %q", msgs, tc.want)
			}
			if strings.Contains(strings.Join(msgs, "\n"), canary) || strings.Contains(strings.Join(msgs, "\n"), "CANARY") {
				t.Errorf("error shows the key")
			}
		})
	}
	// Dev starts without one.
	m := prodEnv()
	delete(m, "BULWARK_KEY_ENCRYPTION_KEY")
	if c := load(t, m, nil, true); c.KeyEncryptionKey != nil {
		t.Error("dev invented a key in the config")
	}
}

func TestDevGeneratesKeyEncryptionKeyOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	cfg := &Config{Dev: true, DataDir: dir}
	k1, err := keyEncryptionKeys(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, devKEKFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	raw, _ := os.ReadFile(path)
	if !strings.Contains(logs.String(), "generated a key-encryption key") || !strings.Contains(logs.String(), path) {
		t.Errorf("generation not logged: %s", logs.String())
	}
	if strings.Contains(logs.String(), strings.TrimSpace(string(raw))) {
		t.Error("log shows the key")
	}
	logs.Reset()
	k2, err := keyEncryptionKeys(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if k1.ID() != k2.ID() {
		t.Error("second start generated another key instead of reusing the file")
	}
	if logs.Len() != 0 {
		t.Errorf("reuse logged a generation: %s", logs.String())
	}
	// A value sealed on the first start opens on the second.
	s, _ := k1.Seal([]byte("x"), []byte("a"))
	if _, err := k2.Open(s, []byte("a")); err != nil {
		t.Error(err)
	}
	// Production never generates.
	if _, err := keyEncryptionKeys(&Config{DataDir: t.TempDir()}, log); err == nil || !strings.Contains(err.Error(), "BULWARK_KEY_ENCRYPTION_KEY") {
		t.Errorf("production without a key: %v", err)
	}
}
