package storetest

import (
	"slices"
	"testing"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

var userEmailTests = []testCase{
	{"ListAndSet", testUserEmailsListAndSet},
	{"Canonicalize", testCanonicalizeStoredEmails},
}

func testUserEmailsListAndSet(t *testing.T, s auth.Store) {
	a, b := newUser(t, s), newUser(t, s)
	var seen []auth.UserEmail
	after := ""
	for {
		page, err := s.UserEmails(ctx(t), after, 1)
		noErr(t, "UserEmails", err)
		if len(page) == 0 {
			break
		}
		if len(page) != 1 {
			t.Fatalf("UserEmails with limit 1 returned %d", len(page))
		}
		seen = append(seen, page[0])
		after = page[0].ID
	}
	for _, u := range []*auth.User{a, b} {
		if !slices.Contains(seen, auth.UserEmail{ID: u.ID, Email: u.Email}) {
			t.Errorf("UserEmails pages lack %s %s: %v", u.ID, u.Email, seen)
		}
	}
	if !slices.IsSortedFunc(seen, func(x, y auth.UserEmail) int {
		if x.ID < y.ID {
			return -1
		}
		return 1
	}) {
		t.Errorf("UserEmails not in id order: %v", seen)
	}

	noErr(t, "SetUserEmail", s.SetUserEmail(ctx(t), a.ID, "renamed-"+a.Email))
	got, err := s.UserByEmail(ctx(t), "renamed-"+a.Email)
	noErr(t, "UserByEmail", err)
	if got.ID != a.ID {
		t.Errorf("renamed email belongs to %s, want %s", got.ID, a.ID)
	}
	wantErr(t, "SetUserEmail to another user's email", s.SetUserEmail(ctx(t), b.ID, "renamed-"+a.Email), auth.ErrConflict)
	got, err = s.UserByID(ctx(t), b.ID)
	noErr(t, "UserByID", err)
	if got.Email != b.Email {
		t.Errorf("a refused SetUserEmail changed the email to %q", got.Email)
	}
	wantErr(t, "SetUserEmail of no user", s.SetUserEmail(ctx(t), "usr_nobody", "x@example.com"), auth.ErrNotFound)
}

// testCanonicalizeStoredEmails runs the domain's migration of stored
// addresses on the backend, with a rule that lower-cases and refuses
// "bad" domains: a collision is reported, not merged.
func testCanonicalizeStoredEmails(t *testing.T, s auth.Store) {
	mk := func(email string) *auth.User {
		u := newUser(t, s)
		noErr(t, "SetUserEmail", s.SetUserEmail(ctx(t), u.ID, email))
		return u
	}
	tag := randID(t)
	lower := mk("lower-" + tag + "@example.com")
	upperTwin := mk("LOWER-" + tag + "@example.com")
	alone := mk("Alone-" + tag + "@example.com")
	bad := mk("x-" + tag + "@bad.invalid")
	canon := func(e string) (string, bool) {
		if len(e) > 12 && e[len(e)-12:] == "@bad.invalid" {
			return "", false
		}
		out := []byte(e)
		for i, c := range out {
			if 'A' <= c && c <= 'Z' {
				out[i] = c + 'a' - 'A'
			}
		}
		return string(out), true
	}
	r, err := auth.CanonicalizeStoredEmails(ctx(t), s, canon, nil)
	noErr(t, "CanonicalizeStoredEmails", err)
	email := func(u *auth.User) string {
		got, err := s.UserByID(ctx(t), u.ID)
		noErr(t, "UserByID", err)
		return got.Email
	}
	if got := email(alone); got != "alone-"+tag+"@example.com" {
		t.Errorf("non-canonical email left as %q", got)
	}
	if got := email(upperTwin); got != "LOWER-"+tag+"@example.com" {
		t.Errorf("colliding email changed to %q, want it left as it is", got)
	}
	if got := email(lower); got != "lower-"+tag+"@example.com" {
		t.Errorf("the other account of a collision changed to %q", got)
	}
	if got := email(bad); got != "x-"+tag+"@bad.invalid" {
		t.Errorf("refused email changed to %q", got)
	}
	if !slices.Contains(r.Collisions, auth.EmailCollision{UserID: upperTwin.ID, OtherUserID: lower.ID}) {
		t.Errorf("collisions %v lack %s vs %s", r.Collisions, upperTwin.ID, lower.ID)
	}
	if !slices.Contains(r.Invalid, bad.ID) {
		t.Errorf("invalid %v lack %s", r.Invalid, bad.ID)
	}
	if r.Rewritten < 1 {
		t.Errorf("rewritten %d, want at least the one non-canonical email", r.Rewritten)
	}
	// A second run changes nothing more.
	r2, err := auth.CanonicalizeStoredEmails(ctx(t), s, canon, nil)
	noErr(t, "CanonicalizeStoredEmails again", err)
	if r2.Rewritten != 0 {
		t.Errorf("second run rewrote %d, want 0", r2.Rewritten)
	}
}
