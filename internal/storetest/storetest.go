// Package storetest is the conformance suite of auth.Store. Every storage
// backend (internal/sqlite, internal/postgres) runs it from its own tests:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) auth.Store { return openFresh(t) })
//	}
//
// The suite checks each method against the doc comments of internal/auth's
// store interfaces, including their edge cases and the atomicity they promise
// under concurrent calls. It uses a fixed clock, so what it checks does not
// depend on when it runs.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// t0 is the suite's "now". It has millisecond precision, which every backend
// must keep exactly.
var t0 = time.Date(2026, 3, 14, 9, 26, 53, 589_000_000, time.UTC)

// Run runs the suite. open must return a new, empty, migrated store each time
// it is called, and arrange (t.Cleanup) for it to be closed and removed; the
// subtests run in parallel, each on its own store. The suite closes one store
// itself (subtest Close), so Close must tolerate a second call.
func Run(t *testing.T, open func(t *testing.T) auth.Store) {
	groups := []struct {
		name  string
		cases []testCase
	}{
		{"User", userTests},
		{"UserEmail", userEmailTests},
		{"OneTimeToken", oneTimeTokenTests},
		{"Verification", verificationTests},
		{"Session", sessionTests},
		{"Refresh", refreshTests},
		{"UserSessions", userSessionTests},
		{"DenyList", denyListTests},
		{"Access", accessTests},
		{"Purge", purgeTests},
		{"Lockout", lockoutTests},
		{"Credential", credentialTests},
		{"Outbox", outboxTests},
		{"Secret", secretTests},
		{"Store", storeTests},
		{"Admin", adminTests},
		{"MFA", mfaTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range g.cases {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.fn(t, open(t))
				})
			}
		})
	}
}

type testCase struct {
	name string
	fn   func(t *testing.T, s auth.Store)
}

// randID returns a random hex id.
func randID(t *testing.T) string {
	t.Helper()
	return hex.EncodeToString(randBytes(t, 12))
}

// randHash returns a random 32-byte value, the size of the SHA-256 hashes the
// stores keep.
func randHash(t *testing.T) []byte {
	t.Helper()
	return randBytes(t, 32)
}

func randBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// newUser creates and returns a user with a random id and email.
func newUser(t *testing.T, s auth.Store) *auth.User {
	t.Helper()
	id := randID(t)
	u := &auth.User{
		ID:           id,
		Email:        id + "@example.com",
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
		CreatedAt:    t0.Add(-24 * time.Hour),
	}
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	return u
}

// check fails the test unless got and want are equal, comparing times with
// time.Time.Equal and treating nil and empty slices and maps alike.
func check(t *testing.T, what string, got, want any) {
	t.Helper()
	if !equal(reflect.ValueOf(got), reflect.ValueOf(want)) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, show(got), show(want))
	}
}

// show dereferences pointers so that %+v prints the value.
func show(v any) any {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() {
		return rv.Elem().Interface()
	}
	return v
}

var timeType = reflect.TypeFor[time.Time]()

func equal(a, b reflect.Value) bool {
	if !a.IsValid() || !b.IsValid() {
		return a.IsValid() == b.IsValid()
	}
	if a.Type() != b.Type() {
		return false
	}
	if a.Type() == timeType {
		return a.Interface().(time.Time).Equal(b.Interface().(time.Time))
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return equal(a.Elem(), b.Elem())
	case reflect.Struct:
		for i := range a.NumField() {
			if !a.Type().Field(i).IsExported() {
				return reflect.DeepEqual(a.Interface(), b.Interface())
			}
			if !equal(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice:
		if a.Type().Elem().Kind() == reflect.Uint8 {
			return bytes.Equal(a.Bytes(), b.Bytes())
		}
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !equal(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.Len() != b.Len() {
			return false
		}
		for _, k := range a.MapKeys() {
			bv := b.MapIndex(k)
			if !bv.IsValid() || !equal(a.MapIndex(k), bv) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(a.Interface(), b.Interface())
	}
}

// wantErr fails the test unless errors.Is(err, target).
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

// noErr stops the test on an unexpected error.
func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// parallel runs fn(i) for i in [0, n) in n goroutines released at once.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

// ctx is shorthand for the test's context.
func ctx(t *testing.T) context.Context { return t.Context() }

// sortedStrings returns a sorted copy.
func sortedStrings(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
