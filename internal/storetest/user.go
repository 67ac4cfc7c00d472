package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

var userTests = []testCase{
	{"CreateAndGet", testUserCreateAndGet},
	{"DuplicateEmail", testUserDuplicateEmail},
	{"NotFound", testUserNotFound},
	{"SetPasswordHash", testUserSetPasswordHash},
	{"MarkEmailVerified", testUserMarkEmailVerified},
	{"SetTokensValidAfter", testUserSetTokensValidAfter},
}

func testUserCreateAndGet(t *testing.T, s auth.Store) {
	want := &auth.User{
		ID:           randID(t),
		Email:        "alice@example.com",
		PasswordHash: "$2a$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
		Disabled:     true,
		CreatedAt:    t0,
	}
	noErr(t, "CreateUser", s.CreateUser(ctx(t), want))
	got, err := s.UserByID(ctx(t), want.ID)
	noErr(t, "UserByID", err)
	check(t, "UserByID", got, want)
	got, err = s.UserByEmail(ctx(t), want.Email)
	noErr(t, "UserByEmail", err)
	check(t, "UserByEmail", got, want)
	if !got.TokensValidAfter.IsZero() {
		t.Errorf("TokensValidAfter = %v, want zero", got.TokensValidAfter)
	}

	other := &auth.User{ID: randID(t), Email: "bob@example.com", EmailVerified: true, CreatedAt: t0, TokensValidAfter: t0.Add(time.Minute)}
	noErr(t, "CreateUser", s.CreateUser(ctx(t), other))
	got, err = s.UserByID(ctx(t), other.ID)
	noErr(t, "UserByID", err)
	check(t, "UserByID other", got, other)
}

func testUserDuplicateEmail(t *testing.T, s auth.Store) {
	first := newUser(t, s)
	dup := &auth.User{ID: randID(t), Email: first.Email, PasswordHash: "x", CreatedAt: t0}
	wantErr(t, "CreateUser with an existing email", s.CreateUser(ctx(t), dup), auth.ErrConflict)
	_, err := s.UserByID(ctx(t), dup.ID)
	wantErr(t, "UserByID of the refused user", err, auth.ErrNotFound)
	got, err := s.UserByEmail(ctx(t), first.Email)
	noErr(t, "UserByEmail", err)
	check(t, "UserByEmail", got, first)
}

func testUserNotFound(t *testing.T, s auth.Store) {
	newUser(t, s)
	_, err := s.UserByID(ctx(t), "no-such-id")
	wantErr(t, "UserByID", err, auth.ErrNotFound)
	_, err = s.UserByEmail(ctx(t), "nobody@example.com")
	wantErr(t, "UserByEmail", err, auth.ErrNotFound)
}

func testUserSetPasswordHash(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	other := newUser(t, s)
	noErr(t, "SetPasswordHash", s.SetPasswordHash(ctx(t), u.ID, "new-hash"))
	got, err := s.UserByID(ctx(t), u.ID)
	noErr(t, "UserByID", err)
	u.PasswordHash = "new-hash"
	check(t, "user after SetPasswordHash", got, u)
	got, err = s.UserByID(ctx(t), other.ID)
	noErr(t, "UserByID", err)
	check(t, "other user", got, other)
	wantErr(t, "SetPasswordHash of an unknown user", s.SetPasswordHash(ctx(t), "no-such-id", "h"), auth.ErrNotFound)
}

func testUserMarkEmailVerified(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	other := newUser(t, s)
	noErr(t, "MarkEmailVerified", s.MarkEmailVerified(ctx(t), u.ID))
	noErr(t, "MarkEmailVerified again", s.MarkEmailVerified(ctx(t), u.ID))
	got, err := s.UserByID(ctx(t), u.ID)
	noErr(t, "UserByID", err)
	u.EmailVerified = true
	check(t, "user after MarkEmailVerified", got, u)
	got, err = s.UserByID(ctx(t), other.ID)
	noErr(t, "UserByID", err)
	check(t, "other user", got, other)
	wantErr(t, "MarkEmailVerified of an unknown user", s.MarkEmailVerified(ctx(t), "no-such-id"), auth.ErrNotFound)
}

func testUserSetTokensValidAfter(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	get := func() time.Time {
		t.Helper()
		got, err := s.UserByID(ctx(t), u.ID)
		noErr(t, "UserByID", err)
		return got.TokensValidAfter
	}
	steps := []struct {
		set, want time.Time
	}{
		{t0, t0},
		{t0.Add(-time.Hour), t0}, // never backwards
		{time.Time{}, t0},        // the zero time is before anything
		{t0.Add(time.Second), t0.Add(time.Second)},
		{t0.Add(time.Second), t0.Add(time.Second)},
		{t0.Add(time.Millisecond), t0.Add(time.Second)},
	}
	for i, st := range steps {
		noErr(t, "SetTokensValidAfter", s.SetTokensValidAfter(ctx(t), u.ID, st.set))
		check(t, fmt.Sprintf("TokensValidAfter after step %d", i+1), get(), st.want)
	}
	wantErr(t, "SetTokensValidAfter of an unknown user",
		s.SetTokensValidAfter(ctx(t), "no-such-id", t0), auth.ErrNotFound)
}
