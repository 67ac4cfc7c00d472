package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/bulwarkauth/bulwark/internal/kek"
)

// kekHelp says how to make a key-encryption key.
const kekHelp = "32 random bytes, base64: make one with `openssl rand -base64 32` (or run with --dev for local use, which generates one into the data directory)"

// kek reads the key-encryption key settings: the key itself from
// BULWARK_KEY_ENCRYPTION_KEY or from the file named by
// BULWARK_KEY_ENCRYPTION_KEY_FILE (so it need not sit in the environment),
// exactly 32 bytes (AES-256); and the previous keys. Production refuses to
// start without a key; dev generates one at start-up (devKEK). No error
// shows a key.
func (l *configLoader) kek(c *Config, dev, required bool) {
	const name, fileName = "KEY_ENCRYPTION_KEY", "KEY_ENCRYPTION_KEY_FILE"
	if path := l.value(fileName); path != "" {
		if l.value(name) != "" {
			l.errorf(fileName, "set only one of BULWARK_KEY_ENCRYPTION_KEY and BULWARK_KEY_ENCRYPTION_KEY_FILE")
			return
		}
		b, err := os.ReadFile(path)
		if err != nil {
			l.errorf(fileName, "cannot read the key file: %v", errors.Unwrap(err))
			return
		}
		k, err := kek.Parse(string(b))
		if err != nil {
			l.errorf(fileName, "the file must hold %s", kekHelp)
			return
		}
		c.KeyEncryptionKey = Secret(k)
	}
	switch n := len(c.KeyEncryptionKey); {
	case n == 0 && l.value(name) == "" && !dev && required:
		l.errorf(name, "required in production: %s", kekHelp)
	case n > kek.KeySize:
		l.errorf(name, "too long: %d bytes decoded, must be exactly %s", n, kekHelp)
		c.KeyEncryptionKey = nil
	}
	if v := l.value("KEY_ENCRYPTION_KEYS_PREVIOUS"); v != "" {
		for i, s := range strings.Split(v, ",") {
			b, err := decodeBase64(strings.TrimSpace(s))
			if err != nil || len(b) != kek.KeySize {
				l.errorf("KEY_ENCRYPTION_KEYS_PREVIOUS", "key %d: must be exactly %s", i+1, kekHelp)
				continue
			}
			c.KeyEncryptionKeysPrevious = append(c.KeyEncryptionKeysPrevious, Secret(b))
		}
	}
}

// devKEKFile is where --dev keeps the key-encryption key it generates.
const devKEKFile = "key-encryption-key"

// keyEncryptionKeys returns the sealer of the configured key-encryption key.
// In dev without a key it reuses the one in the data directory, or
// generates one there (mode 0600) and says so, never showing the key.
func keyEncryptionKeys(cfg *Config, log *slog.Logger) (*kek.Keys, error) {
	current := []byte(cfg.KeyEncryptionKey)
	if len(current) == 0 {
		if !cfg.Dev {
			return nil, errors.New("BULWARK_KEY_ENCRYPTION_KEY: required in production: " + kekHelp)
		}
		var err error
		if current, err = devKEK(cfg.DataDir, log); err != nil {
			return nil, err
		}
	}
	prev := make([][]byte, len(cfg.KeyEncryptionKeysPrevious))
	for i, p := range cfg.KeyEncryptionKeysPrevious {
		prev[i] = p
	}
	return kek.New(current, prev...)
}

// devKEK reads or creates the dev key file in dir.
func devKEK(dir string, log *slog.Logger) ([]byte, error) {
	path := filepath.Join(dir, devKEKFile)
	b, err := os.ReadFile(path)
	if err == nil {
		k, err := kek.Parse(string(b))
		if err != nil {
			return nil, fmt.Errorf("dev key-encryption key %s: %w (delete the file to generate a new one; mail queued under it is lost)", path, err)
		}
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("dev key-encryption key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	k, err := kek.Generate()
	if err != nil {
		return nil, err
	}
	// Written whole to a temporary file, then linked into place: two
	// instances starting at once on one data directory get the same key.
	tmp, err := os.CreateTemp(dir, devKEKFile+".*") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("dev key-encryption key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(encodeKey(k) + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp.Name(), path)
	}
	if errors.Is(err, fs.ErrExist) {
		return devKEK(dir, log) // another instance made it first
	}
	if err != nil {
		return nil, fmt.Errorf("dev key-encryption key: %w", err)
	}
	log.Warn("dev mode: generated a key-encryption key; set BULWARK_KEY_ENCRYPTION_KEY in production", "file", path)
	return k, nil
}

func encodeKey(k []byte) string { return base64.StdEncoding.EncodeToString(k) }
