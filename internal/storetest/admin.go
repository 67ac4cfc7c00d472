package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

var adminTests = []testCase{
	{"ListUsers", testListUsers},
	{"Role", testAdminRole},
	{"DisableEndsEverything", testDisableEndsEverything},
	{"DeleteCascades", testDeleteUserCascades},
}

func adminStore(t *testing.T, s auth.Store) auth.AdminStore {
	t.Helper()
	as, ok := s.(auth.AdminStore)
	if !ok {
		t.Fatal("the store does not implement auth.AdminStore")
	}
	return as
}

func userWithEmail(t *testing.T, s auth.Store, email string) *auth.User {
	t.Helper()
	u := &auth.User{ID: randID(t), Email: email, PasswordHash: "x", CreatedAt: t0}
	noErr(t, "CreateUser", s.CreateUser(ctx(t), u))
	return u
}

func emails(us []auth.UserSummary) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.Email
	}
	return out
}

// testListUsers: prefix search and keyset pagination in byte order.
func testListUsers(t *testing.T, s auth.Store) {
	as := adminStore(t, s)
	for _, e := range []string{"bob@b.example", "alice@a.example", "al@a.example", "alan@a.example", "zoë@z.example", "al_x@a.example", "al%y@a.example"} {
		userWithEmail(t, s, e)
	}
	got, err := as.ListUsers(ctx(t), "al", "", 10)
	noErr(t, "ListUsers", err)
	// '%' and '_' are not wildcards; byte order: '%' < '@' < '_' < 'a'.
	check(t, "prefix al", emails(got), []string{"al%y@a.example", "al@a.example", "al_x@a.example", "alan@a.example", "alice@a.example"})
	page1, err := as.ListUsers(ctx(t), "", "", 3)
	noErr(t, "ListUsers", err)
	page2, err := as.ListUsers(ctx(t), "", page1[2].Email, 3)
	noErr(t, "ListUsers", err)
	page3, err := as.ListUsers(ctx(t), "", page2[2].Email, 3)
	noErr(t, "ListUsers", err)
	all := append(append(emails(page1), emails(page2)...), emails(page3)...)
	check(t, "pages", all, []string{"al%y@a.example", "al@a.example", "al_x@a.example", "alan@a.example", "alice@a.example", "bob@b.example", "zoë@z.example"})
	got, err = as.ListUsers(ctx(t), "zoë", "", 10)
	noErr(t, "ListUsers", err)
	if len(got) != 1 || got[0].Admin || got[0].Disabled || !got[0].CreatedAt.Equal(t0) {
		t.Fatalf("zoë: %+v", got)
	}
}

func testAdminRole(t *testing.T, s auth.Store) {
	as := adminStore(t, s)
	u := newUser(t, s)
	if ok, err := as.IsAdmin(ctx(t), u.ID); err != nil || ok {
		t.Fatalf("new user is admin: %v %v", ok, err)
	}
	noErr(t, "SetAdmin", as.SetAdmin(ctx(t), u.ID, true, t0))
	noErr(t, "SetAdmin again", as.SetAdmin(ctx(t), u.ID, true, t0))
	if ok, err := as.IsAdmin(ctx(t), u.ID); err != nil || !ok {
		t.Fatalf("granted user not admin: %v %v", ok, err)
	}
	got, err := as.ListUsers(ctx(t), u.Email, "", 1)
	noErr(t, "ListUsers", err)
	if len(got) != 1 || !got[0].Admin {
		t.Fatalf("list does not show the role: %+v", got)
	}
	noErr(t, "SetAdmin false", as.SetAdmin(ctx(t), u.ID, false, t0))
	if ok, _ := as.IsAdmin(ctx(t), u.ID); ok {
		t.Fatal("revoked user still admin")
	}
	if err := as.SetAdmin(ctx(t), "usr_nobody", true, t0); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("SetAdmin of no user: %v", err)
	}
}

// testDisableEndsEverything: disabling deletes the cookie sessions, revokes
// the refresh families and moves the epoch, in one step; enabling clears
// only the flag.
func testDisableEndsEverything(t *testing.T, s auth.Store) {
	as := adminStore(t, s)
	u, other := newUser(t, s), newUser(t, s)
	day := 24 * time.Hour
	sess := newSession(t, s, u.ID, t0.Add(-time.Hour), t0.Add(day))
	fam, _ := newFamily(t, s, u.ID, t0.Add(-time.Hour), t0.Add(day))
	otherSess := newSession(t, s, other.ID, t0.Add(-time.Hour), t0.Add(day))
	revoked, err := as.SetDisabled(ctx(t), u.ID, true, t0)
	noErr(t, "SetDisabled", err)
	check(t, "revoked families", revoked, []string{fam.ID})
	got, err := s.UserByID(ctx(t), u.ID)
	noErr(t, "UserByID", err)
	if !got.Disabled || !got.TokensValidAfter.Equal(t0) || got.CredentialVersion != u.CredentialVersion+1 {
		t.Fatalf("after disable: disabled=%v epoch=%v version=%d, want true, %v, %d", got.Disabled, got.TokensValidAfter, got.CredentialVersion, t0, u.CredentialVersion+1)
	}
	if _, err := s.SessionByTokenHash(ctx(t), sess.TokenHash); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("cookie session survived the disable: %v", err)
	}
	if list, err := s.ListSessions(ctx(t), u.ID, t0); err != nil || len(list) != 0 {
		t.Fatalf("sessions after disable: %v %v", list, err)
	}
	if _, err := s.SessionByTokenHash(ctx(t), otherSess.TokenHash); err != nil {
		t.Fatalf("another user's session ended: %v", err)
	}
	_, err = as.SetDisabled(ctx(t), u.ID, false, t0.Add(time.Minute))
	noErr(t, "SetDisabled false", err)
	got, err = s.UserByID(ctx(t), u.ID)
	noErr(t, "UserByID", err)
	if got.Disabled || !got.TokensValidAfter.Equal(t0) || got.CredentialVersion != u.CredentialVersion+1 {
		t.Fatalf("after enable: disabled=%v epoch=%v version=%d", got.Disabled, got.TokensValidAfter, got.CredentialVersion)
	}
	revoked, err = as.RevokeAll(ctx(t), u.ID, t0.Add(2*time.Minute))
	noErr(t, "RevokeAll", err)
	got, err = s.UserByID(ctx(t), u.ID)
	noErr(t, "UserByID", err)
	if len(revoked) != 0 || !got.TokensValidAfter.Equal(t0.Add(2*time.Minute)) || got.CredentialVersion != u.CredentialVersion+2 {
		t.Fatalf("after RevokeAll: %v epoch=%v version=%d", revoked, got.TokensValidAfter, got.CredentialVersion)
	}
	if _, err := as.RevokeAll(ctx(t), "usr_nobody", t0); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("RevokeAll of no user: %v", err)
	}
	if _, err := as.SetDisabled(ctx(t), "usr_nobody", true, t0); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("SetDisabled of no user: %v", err)
	}
}

func testDeleteUserCascades(t *testing.T, s auth.Store) {
	as := adminStore(t, s)
	u := newUser(t, s)
	sess := newSession(t, s, u.ID, t0.Add(-time.Hour), t0.Add(time.Hour))
	newFamily(t, s, u.ID, t0.Add(-time.Hour), t0.Add(time.Hour))
	noErr(t, "SetAdmin", as.SetAdmin(ctx(t), u.ID, true, t0))
	noErr(t, "DeleteUser", as.DeleteUser(ctx(t), u.ID))
	if _, err := s.UserByID(ctx(t), u.ID); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("user after delete: %v", err)
	}
	if _, err := s.SessionByTokenHash(ctx(t), sess.TokenHash); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("session after delete: %v", err)
	}
	if ok, _ := as.IsAdmin(ctx(t), u.ID); ok {
		t.Fatal("admin role outlived the user")
	}
	if err := as.DeleteUser(ctx(t), u.ID); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}
