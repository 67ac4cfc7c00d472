package password

import (
	"context"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/bulwarkauth/bulwark/internal/testutil"
)

// charge returns what f is charged on m: its hashing time plus its padding.
func charge(m *testutil.VirtualMeter, f func()) time.Duration {
	start := m.Now()
	f()
	return m.Now().Sub(start)
}

// A verification costs at least the own cost (the cheapest recent
// verification) of the dearest class of hash of the recent past, whatever
// the class of the hash it checks: an unknown email (the
// dummy, configured argon2id) and a not-yet-upgraded bcrypt account are
// charged alike, and so is a correct password.
func TestVerifyCostDoesNotDependOnTheStoredHash(t *testing.T) {
	m := &testutil.VirtualMeter{}
	h, err := New(Config{Argon2: Argon2Params{Memory: 64, Time: 1, Threads: 1}, Slots: 1}, AllowWeakParameters(), WithMeter(m))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	b, err := bcrypt.GenerateFromPassword([]byte("imported password"), 10)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	bcryptCost := time.Hour
	for range 3 {
		bcryptCost = min(bcryptCost, charge(m, func() {
			if ok, _, err := h.Verify(ctx, "wrong", string(b)); ok || err != nil {
				t.Fatalf("bcrypt verify: %v %v", ok, err)
			}
		}))
	}
	// argon2id at m=64 takes well under a millisecond; bcrypt cost 10
	// tens of milliseconds.
	for name, f := range map[string]func(){
		"unknown email":    func() { _ = h.VerifyDummy(ctx, "whatever") },
		"argon2id account": nil,
	} {
		if name == "argon2id account" {
			enc, err := h.Hash(ctx, "pw")
			if err != nil {
				t.Fatal(err)
			}
			f = func() { _, _, _ = h.Verify(ctx, "nope", enc) }
		}
		if c := charge(m, f); c < bcryptCost*9/10 {
			t.Errorf("%s charged %v, the bcrypt account %v", name, c, bcryptCost)
		}
	}
}

// The floor keeps a class's cost for one to two windows, the configured
// class's for ever.
func TestCostFloorWindows(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := newCostFloor("base")
	if got := f.observe(t0, "base", 20*time.Millisecond); got != 20*time.Millisecond {
		t.Fatalf("floor %v", got)
	}
	if got := f.observe(t0.Add(time.Second), "cheap", 2*time.Millisecond); got != 20*time.Millisecond {
		t.Fatalf("cheap class lowered the floor to %v", got)
	}
	if got := f.observe(t0.Add(2*time.Second), "dear", 200*time.Millisecond); got != 200*time.Millisecond {
		t.Fatalf("dear class: floor %v", got)
	}
	// Next window: the dear cost still counts.
	if got := f.observe(t0.Add(floorWindow+time.Second), "cheap", time.Millisecond); got != 200*time.Millisecond {
		t.Fatalf("one window later: floor %v", got)
	}
	// Two windows with no dear verification: back to the configured cost,
	// which never expires.
	if got := f.observe(t0.Add(4*floorWindow), "cheap", time.Millisecond); got != 20*time.Millisecond {
		t.Fatalf("after expiry: floor %v, want the configured class's 20ms", got)
	}
}

// A verification slowed by a busy CPU does not raise the floor: the floor
// is each class's own cost (its cheapest recent verification), and the
// highest of those.
func TestCostFloorIgnoresContention(t *testing.T) {
	f := newCostFloor("argon2id")
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	steps := []struct {
		class string
		d     time.Duration
		want  time.Duration
	}{
		{"argon2id", 30 * time.Millisecond, 30 * time.Millisecond},
		{"argon2id", 300 * time.Millisecond, 30 * time.Millisecond}, // contention
		{"bcrypt", 60 * time.Millisecond, 60 * time.Millisecond},    // a dearer class
		{"bcrypt", 500 * time.Millisecond, 60 * time.Millisecond},   // contention
		{"argon2id", 25 * time.Millisecond, 60 * time.Millisecond},
	}
	for i, s := range steps {
		if got := f.observe(now.Add(time.Duration(i)*time.Second), s.class, s.d); got != s.want {
			t.Errorf("step %d (%s %v): floor %v, want %v", i, s.class, s.d, got, s.want)
		}
	}
}
