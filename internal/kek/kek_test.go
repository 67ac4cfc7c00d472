package kek

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"fmt"
	"testing"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func TestSealOpenRoundTripAndRotation(t *testing.T) {
	old, _ := New(testKey(1))
	cur, err := New(testKey(2), testKey(1))
	if err != nil {
		t.Fatal(err)
	}
	aad := []byte("mail_outbox.payload")
	s1, _ := old.Seal([]byte("reset token"), aad)
	s2, _ := cur.Seal([]byte("reset token"), aad)
	for _, s := range [][]byte{s1, s2} {
		pt, err := cur.Open(s, aad)
		if err != nil || string(pt) != "reset token" {
			t.Fatalf("Open = %q, %v", pt, err)
		}
	}
	if _, err := old.Open(s2, aad); err != ErrOpen {
		t.Errorf("old keys opened a value of the new key: %v", err)
	}
	if !cur.NeedsReseal(s1) || cur.NeedsReseal(s2) {
		t.Error("NeedsReseal wrong")
	}
	if bytes.Contains(s2, []byte("reset token")) {
		t.Error("plaintext in sealed value")
	}
	s3, _ := cur.Seal([]byte("reset token"), aad)
	if bytes.Equal(s2, s3) {
		t.Error("two seals are equal: nonce reused")
	}
}

// Known answer: the key id and the layout are fixed, so a value sealed by
// this version opens in every later one. AES-GCM itself is checked against
// an independent construction with the same nonce.
func TestKnownAnswer(t *testing.T) {
	id := KeyID(testKey(0x42))
	if got := hex.EncodeToString(id[:]); got != knownID {
		t.Fatalf("KeyID = %s, want %s", got, knownID)
	}
	k, _ := New(testKey(0x42))
	s, _ := k.Seal([]byte("hello"), []byte("ad"))
	if s[0] != 1 || !bytes.Equal(s[1:9], id[:]) || len(s) != Overhead+5 {
		t.Fatalf("layout: % x", s)
	}
	block, _ := aes.NewCipher(testKey(0x42))
	g, _ := cipher.NewGCM(block)
	aad := append(append([]byte{1}, id[:]...), 0, 0, 0, 2, 'a', 'd')
	want := g.Seal(nil, s[9:21], []byte("hello"), aad)
	if !bytes.Equal(s[21:], want) {
		t.Fatalf("ciphertext differs from AES-256-GCM")
	}
}

const knownID = "d005f07113554172"

func TestTamperAndWrongAAD(t *testing.T) {
	k, _ := New(testKey(7))
	s, _ := k.Seal([]byte("secret"), []byte("a"))
	if _, err := k.Open(s, []byte("b")); err != ErrOpen {
		t.Errorf("wrong aad: %v", err)
	}
	if _, err := k.Open(s, nil); err != ErrOpen {
		t.Errorf("no aad: %v", err)
	}
	for i := range s {
		c := bytes.Clone(s)
		c[i] ^= 0x01
		if _, err := k.Open(c, []byte("a")); err != ErrOpen {
			t.Errorf("bit flip at %d opened: %v", i, err)
		}
	}
	for n := range len(s) {
		if _, err := k.Open(s[:n], []byte("a")); err != ErrOpen {
			t.Errorf("truncated to %d opened", n)
		}
	}
}

func TestNewAndParseRefuseBadKeys(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := New(make([]byte, n)); err == nil {
			t.Errorf("New accepted %d bytes", n)
		}
	}
	if _, err := New(testKey(1), testKey(2)[:5]); err == nil {
		t.Error("New accepted a short previous key")
	}
	for _, s := range []string{"", "not base64!", "AAAA", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gIQ=="} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) accepted", s)
		}
	}
	if b, err := Parse("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="); err != nil || len(b) != 32 || b[31] != 31 {
		t.Errorf("Parse good key: %v", err)
	}
	k, _ := New(testKey(9))
	if s := fmt.Sprintf("%v %+v %#v %s", k, k, k, k); bytes.Contains([]byte(s), testKey(9)) || bytes.Contains([]byte(s), []byte("0909")) {
		t.Errorf("key printed: %s", s)
	}
}

func FuzzOpen(f *testing.F) {
	k, _ := New(testKey(3), testKey(4))
	s, _ := k.Seal([]byte("x"), []byte("aad"))
	f.Add(s, []byte("aad"))
	f.Add([]byte{1}, []byte{})
	f.Add(make([]byte, Overhead), []byte("aad"))
	f.Fuzz(func(t *testing.T, sealed, aad []byte) {
		pt, err := k.Open(sealed, aad)
		if err != nil {
			if err != ErrOpen {
				t.Fatalf("error other than ErrOpen: %v", err)
			}
			return
		}
		// Anything that opens must be a genuine seal: reseal and reopen.
		s2, err := k.Seal(pt, aad)
		if err != nil {
			t.Fatal(err)
		}
		if pt2, err := k.Open(s2, aad); err != nil || !bytes.Equal(pt, pt2) {
			t.Fatal("reseal does not round-trip")
		}
	})
}
