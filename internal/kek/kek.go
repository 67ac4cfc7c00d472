// Package kek seals secrets kept at rest under the key-encryption key:
// AES-256-GCM (NIST SP 800-38D) from the standard library, with a format
// version and a key id in every ciphertext so the key can rotate. One current
// key seals; previous keys still open what they sealed.
//
// Sealed format (OWASP ASVS 5.0 V11.3, V13.3):
//
//	version (1 byte, 1) | key id (8 bytes) | nonce (12 bytes) | GCM ciphertext and tag
//
// The version and the key id are part of the GCM associated data together
// with the caller's aad, so neither can be altered, and a ciphertext sealed
// for one purpose (aad) does not open for another.
package kek

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the size of a key-encryption key: AES-256.
const KeySize = 32

const (
	version   = 1
	idSize    = 8
	nonceSize = 12
	// Overhead is what Seal adds to the plaintext.
	Overhead = 1 + idSize + nonceSize + 16
)

// ErrOpen is returned by Open for anything it cannot open: unknown version,
// unknown key, truncated or altered ciphertext, wrong associated data. It
// says nothing more, on purpose.
var ErrOpen = errors.New("kek: cannot open sealed value")

// Keys is a current key and the previous ones. Its zero value is not usable;
// build it with New. It never prints its keys.
type Keys struct {
	current key
	all     map[[idSize]byte]cipher.AEAD
}

type key struct {
	id   [idSize]byte
	aead cipher.AEAD
}

// New returns Keys that seal under current and open under current and every
// previous key. Each key is exactly KeySize bytes.
func New(current []byte, previous ...[]byte) (*Keys, error) {
	k := &Keys{all: map[[idSize]byte]cipher.AEAD{}}
	for i, raw := range append([][]byte{current}, previous...) {
		kk, err := newKey(raw)
		if err != nil {
			if i == 0 {
				return nil, err
			}
			return nil, fmt.Errorf("previous key %d: %w", i, err)
		}
		if i == 0 {
			k.current = kk
		}
		if _, dup := k.all[kk.id]; !dup {
			k.all[kk.id] = kk.aead
		}
	}
	return k, nil
}

// Parse decodes a base64 key (standard or URL alphabet, padded or not) that
// must be exactly KeySize bytes. Its errors never contain the value.
func Parse(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("must be exactly %d bytes, base64 (got %d bytes)", KeySize, len(b))
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("not base64: must be exactly %d random bytes, base64", KeySize)
}

// Generate returns a new random key.
func Generate() ([]byte, error) {
	b := make([]byte, KeySize)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return b, nil
}

func newKey(raw []byte) (key, error) {
	if len(raw) != KeySize {
		return key{}, fmt.Errorf("key-encryption key must be exactly %d bytes, got %d", KeySize, len(raw))
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return key{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return key{}, err
	}
	return key{id: KeyID(raw), aead: aead}, nil
}

// KeyID is the public id of a key: the first 8 bytes of
// HMAC-SHA-256(key, "bulwark kek id v1"). It names the key without
// revealing it.
func KeyID(raw []byte) [idSize]byte {
	m := hmac.New(sha256.New, raw)
	m.Write([]byte("bulwark kek id v1"))
	var id [idSize]byte
	copy(id[:], m.Sum(nil))
	return id
}

// ID returns the id of the current key.
func (k *Keys) ID() [idSize]byte { return k.current.id }

// Seal encrypts plaintext under the current key, bound to aad (say what the
// value is and where it lives, e.g. "mail_outbox.payload"). Every call uses a
// fresh random nonce: at 2^32 seals per key the collision risk stays within
// NIST SP 800-38D §8.3.
func (k *Keys) Seal(plaintext, aad []byte) ([]byte, error) {
	out := make([]byte, 1+idSize+nonceSize, Overhead+len(plaintext))
	out[0] = version
	copy(out[1:], k.current.id[:])
	if _, err := rand.Read(out[1+idSize:]); err != nil {
		return nil, err
	}
	nonce := out[1+idSize:]
	return k.current.aead.Seal(out, nonce, plaintext, fullAAD(out[:1+idSize], aad)), nil
}

// Open decrypts a value made by Seal with any of the keys and the same aad.
func (k *Keys) Open(sealed, aad []byte) ([]byte, error) {
	v, id, nonce, ct, err := parse(sealed)
	if err != nil {
		return nil, err
	}
	aead, ok := k.all[id]
	if !ok {
		return nil, ErrOpen
	}
	hdr := append([]byte{v}, id[:]...)
	pt, err := aead.Open(nil, nonce, ct, fullAAD(hdr, aad))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// NeedsReseal reports whether sealed was made under a key other than the
// current one (or is not a sealed value at all): a rotation job reseals it.
func (k *Keys) NeedsReseal(sealed []byte) bool {
	_, id, _, _, err := parse(sealed)
	return err != nil || id != k.current.id
}

// parse splits a sealed value; it checks lengths and the version only.
func parse(sealed []byte) (v byte, id [idSize]byte, nonce, ct []byte, err error) {
	if len(sealed) < Overhead || sealed[0] != version {
		return 0, id, nil, nil, ErrOpen
	}
	copy(id[:], sealed[1:1+idSize])
	return sealed[0], id, sealed[1+idSize : 1+idSize+nonceSize], sealed[1+idSize+nonceSize:], nil
}

// fullAAD is header || len(aad) (4 bytes) || aad: unambiguous.
func fullAAD(hdr, aad []byte) []byte {
	b := make([]byte, 0, len(hdr)+4+len(aad))
	b = append(b, hdr...)
	n := len(aad)
	b = append(b, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	return append(b, aad...)
}

// String never shows a key.
func (k *Keys) String() string { return "kek.Keys{redacted}" }

// GoString never shows a key.
func (k *Keys) GoString() string { return k.String() }
