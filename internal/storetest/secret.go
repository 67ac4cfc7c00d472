package storetest

import (
	"bytes"
	"sync"
	"testing"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

var secretTests = []testCase{
	{"FirstWins", testSecretFirstWins},
	{"Concurrent", testSecretConcurrent},
}

func testSecretFirstWins(t *testing.T, s auth.Store) {
	first, second := randBytes(t, 32), randBytes(t, 32)
	got, err := s.Secret(ctx(t), "device_cookie_key", first)
	noErr(t, "Secret", err)
	check(t, "Secret of a new name", got, first)
	got, err = s.Secret(ctx(t), "device_cookie_key", second)
	noErr(t, "Secret", err)
	check(t, "Secret of a stored name", got, first)

	got, err = s.Secret(ctx(t), "other_key", second)
	noErr(t, "Secret", err)
	check(t, "Secret of another name", got, second)
}

func testSecretConcurrent(t *testing.T, s auth.Store) {
	const n = 20
	candidates := make([][]byte, n)
	for i := range candidates {
		candidates[i] = randBytes(t, 32)
	}
	results := make([][]byte, n)
	var mu sync.Mutex
	parallel(n, func(i int) {
		v, err := s.Secret(ctx(t), "concurrent_key", candidates[i])
		if err != nil {
			t.Errorf("Secret: %v", err)
			return
		}
		mu.Lock()
		results[i] = v
		mu.Unlock()
	})
	if t.Failed() {
		return
	}
	for i, r := range results {
		if !bytes.Equal(r, results[0]) {
			t.Fatalf("Secret returned %x to caller %d and %x to caller 0", r, i, results[0])
		}
	}
	found := false
	for _, c := range candidates {
		found = found || bytes.Equal(c, results[0])
	}
	if !found {
		t.Errorf("Secret returned %x, which no caller offered", results[0])
	}
	got, err := s.Secret(ctx(t), "concurrent_key", randBytes(t, 32))
	noErr(t, "Secret", err)
	check(t, "Secret after the race", got, results[0])
}
