package storetest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// FeedStore is what RunFeed needs of a backend: the store, its API clients
// and revocation feed, and its Purge.
type FeedStore interface {
	auth.Store
	auth.APIClientStore
	auth.RevocationFeedStore
	Purge(ctx context.Context, now time.Time) (int64, error)
}

// RunFeed runs the conformance cases of API clients and the revocation feed.
// open must return a new, empty, migrated store each time; disable must set
// the user's disabled flag with plain SQL, as an operator would (no store
// method disables an account yet): the feed must see any such write.
func RunFeed(t *testing.T, open func(t *testing.T) FeedStore, disable func(t *testing.T, s FeedStore, userID string)) {
	cases := []struct {
		name string
		fn   func(t *testing.T, s FeedStore)
	}{
		{"Clients", testAPIClients},
		{"DenyWritesEvents", testDenyEvents},
		{"UserChangesWriteEvents", testUserEvents},
		{"Replay", testReplay},
		{"Snapshot", testSnapshot},
		{"PurgeKeepsNewest", testPurgeEvents},
		{"ConcurrentWritersNoGap", testEventsNoGap},
		{"Disable", func(t *testing.T, s FeedStore) {
			u := newUser(t, s)
			before := latest(t, s)
			disable(t, s, u.ID)
			evs := after(t, s, before)
			check(t, "events of disabling", evs, []auth.RevocationEvent{
				{ID: evs[0].ID, Kind: auth.RevokedUser, Subject: u.ID, CredentialVersion: 1, Disabled: true},
			})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, open(t))
		})
	}
}

func latest(t *testing.T, s FeedStore) int64 {
	t.Helper()
	id, err := s.LatestRevocation(ctx(t))
	noErr(t, "LatestRevocation", err)
	return id
}

func after(t *testing.T, s FeedStore, id int64) []auth.RevocationEvent {
	t.Helper()
	evs, _, err := s.RevocationsAfter(ctx(t), id, 100)
	noErr(t, "RevocationsAfter", err)
	if len(evs) == 0 {
		t.Fatalf("no event after %d", id)
	}
	return evs
}

func testAPIClients(t *testing.T, s FeedStore) {
	c, secret, err := auth.NewAPIClient(rand.Reader, "  orders service ", t0)
	noErr(t, "NewAPIClient", err)
	if c.Name != "orders service" || len(secret.Reveal()) < 43 || string(c.SecretHash) == secret.Reveal() {
		t.Fatalf("new client %+v", c)
	}
	noErr(t, "CreateAPIClient", s.CreateAPIClient(ctx(t), c))
	if err := s.CreateAPIClient(ctx(t), c); !errors.Is(err, auth.ErrConflict) {
		t.Errorf("CreateAPIClient twice: %v, want ErrConflict", err)
	}
	got, err := s.APIClientByID(ctx(t), c.ID)
	noErr(t, "APIClientByID", err)
	check(t, "client read back", got, c)
	if _, err := s.APIClientByID(ctx(t), "cli_nope"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("APIClientByID unknown: %v", err)
	}
	c2, _, _ := auth.NewAPIClient(rand.Reader, "second", t0.Add(time.Second))
	noErr(t, "CreateAPIClient", s.CreateAPIClient(ctx(t), c2))
	noErr(t, "RevokeAPIClient", s.RevokeAPIClient(ctx(t), c.ID, t0.Add(time.Minute)))
	if err := s.RevokeAPIClient(ctx(t), c.ID, t0.Add(time.Hour)); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("RevokeAPIClient twice: %v, want ErrNotFound", err)
	}
	if err := s.RevokeAPIClient(ctx(t), "cli_nope", t0); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("RevokeAPIClient unknown: %v, want ErrNotFound", err)
	}
	list, err := s.ListAPIClients(ctx(t))
	noErr(t, "ListAPIClients", err)
	revoked := *c
	revoked.RevokedAt = t0.Add(time.Minute)
	check(t, "list", list, []auth.APIClient{revoked, *c2})
	for _, bad := range []string{"", "   ", "a\nb", string(make([]byte, 101))} {
		if _, _, err := auth.NewAPIClient(rand.Reader, bad, t0); err == nil {
			t.Errorf("NewAPIClient(%q) accepted", bad)
		}
	}
}

func testDenyEvents(t *testing.T, s FeedStore) {
	before := latest(t, s)
	exp := t0.Add(15*time.Minute + 300*time.Millisecond)
	noErr(t, "Deny", s.Deny(ctx(t), "jti:abc", exp))
	noErr(t, "Deny", s.Deny(ctx(t), "sid:fam", exp))
	noErr(t, "Deny earlier", s.Deny(ctx(t), "jti:abc", exp.Add(-time.Minute))) // no change, no event
	noErr(t, "Deny later", s.Deny(ctx(t), "jti:abc", exp.Add(time.Minute)))
	noErr(t, "Deny other key", s.Deny(ctx(t), "other:x", exp))
	evs := after(t, s, before)
	want := []auth.RevocationEvent{
		{Kind: auth.RevokedJTI, Subject: "abc", Exp: exp.Unix() + 1},
		{Kind: auth.RevokedSID, Subject: "fam", Exp: exp.Unix() + 1},
		{Kind: auth.RevokedJTI, Subject: "abc", Exp: exp.Add(time.Minute).Unix() + 1},
	}
	if len(evs) != len(want) {
		t.Fatalf("events %+v, want %+v", evs, want)
	}
	for i := range want {
		want[i].ID = evs[i].ID
		if i > 0 && evs[i].ID <= evs[i-1].ID {
			t.Errorf("ids not increasing: %+v", evs)
		}
	}
	check(t, "deny events", evs, want)
}

func testUserEvents(t *testing.T, s FeedStore) {
	u := newUser(t, s)
	before := latest(t, s)
	_, v, err := s.ReplacePassword(ctx(t), u.ID, "new-hash", "", "", t0)
	noErr(t, "ReplacePassword", err)
	noErr(t, "SetTokensValidAfter earlier", s.SetTokensValidAfter(ctx(t), u.ID, t0.Add(-time.Hour))) // no move, no event
	noErr(t, "SetTokensValidAfter", s.SetTokensValidAfter(ctx(t), u.ID, t0.Add(90*time.Second)))
	noErr(t, "SetPasswordHash", s.SetPasswordHash(ctx(t), u.ID, "rehash")) // a rehash revokes nothing
	evs := after(t, s, before)
	want := []auth.RevocationEvent{
		{Kind: auth.RevokedUser, Subject: u.ID, NotBefore: t0.Unix(), CredentialVersion: v},
		{Kind: auth.RevokedUser, Subject: u.ID, NotBefore: t0.Add(90 * time.Second).Unix(), CredentialVersion: v},
	}
	if len(evs) == 2 {
		want[0].ID, want[1].ID = evs[0].ID, evs[1].ID
	}
	check(t, "user events", evs, want)
	if v != 2 {
		t.Errorf("credential version %d, want 2", v)
	}
}

func testReplay(t *testing.T, s FeedStore) {
	if evs, ok, err := s.RevocationsAfter(ctx(t), 0, 10); err != nil || ok || len(evs) != 0 {
		t.Fatalf("empty feed: %v %v %v, want nothing and not replayable", evs, ok, err)
	}
	for _, k := range []string{"jti:1", "jti:2", "jti:3", "jti:4"} {
		noErr(t, "Deny", s.Deny(ctx(t), k, t0.Add(time.Hour)))
	}
	all, ok, err := s.RevocationsAfter(ctx(t), 0, 10)
	noErr(t, "RevocationsAfter", err)
	if ok || len(all) != 4 {
		t.Fatalf("after 0: %d events, replayable %v; want 4, not replayable (0 is no cursor)", len(all), ok)
	}
	evs, ok, err := s.RevocationsAfter(ctx(t), all[1].ID, 10)
	noErr(t, "RevocationsAfter", err)
	if !ok || len(evs) != 2 || evs[0].Subject != "3" || evs[1].Subject != "4" {
		t.Errorf("after the 2nd: %+v replayable %v, want 3 and 4", evs, ok)
	}
	evs, _, _ = s.RevocationsAfter(ctx(t), all[0].ID, 2)
	if len(evs) != 2 || evs[0].Subject != "2" {
		t.Errorf("limit 2: %+v", evs)
	}
	if evs, ok, _ := s.RevocationsAfter(ctx(t), all[3].ID, 10); !ok || len(evs) != 0 {
		t.Errorf("after the newest: %+v replayable %v, want nothing, replayable", evs, ok)
	}
	if _, ok, _ := s.RevocationsAfter(ctx(t), all[3].ID+1, 10); ok {
		t.Error("a cursor beyond the newest event is replayable")
	}
	if got := latest(t, s); got != all[3].ID {
		t.Errorf("LatestRevocation %d, want %d", got, all[3].ID)
	}
}

func testSnapshot(t *testing.T, s FeedStore) {
	plain := newUser(t, s) // never revoked: not listed
	_ = plain
	changed := newUser(t, s)
	_, v, err := s.ReplacePassword(ctx(t), changed.ID, "h", "", "", t0)
	noErr(t, "ReplacePassword", err)
	noErr(t, "Deny", s.Deny(ctx(t), "jti:live", t0.Add(time.Hour)))
	noErr(t, "Deny", s.Deny(ctx(t), "jti:gone", t0.Add(-time.Second)))
	noErr(t, "Deny", s.Deny(ctx(t), "sid:fam", t0.Add(2*time.Hour)))
	snap, err := s.RevocationSnapshot(ctx(t), t0)
	noErr(t, "RevocationSnapshot", err)
	check(t, "snapshot", snap, &auth.RevocationSnapshot{
		Cursor: latest(t, s),
		JTIs:   []auth.DeniedID{{ID: "live", Exp: t0.Add(time.Hour).Unix() + 1}},
		SIDs:   []auth.DeniedID{{ID: "fam", Exp: t0.Add(2*time.Hour).Unix() + 1}},
		Users:  []auth.UserRevocation{{UserID: changed.ID, NotBefore: t0.Unix(), CredentialVersion: v}},
	})

	// Long after: the change is older than the retention (its tokens have
	// all expired), so the user is no longer listed; a disabled user is
	// listed whenever.
	disabled := newUser(t, s)
	disabled.Disabled = true
	disabled.ID, disabled.Email = randID(t), randID(t)+"@example.com"
	noErr(t, "CreateUser disabled", s.CreateUser(ctx(t), disabled))
	later := time.Now().Add(auth.RevocationRetention + time.Hour)
	snap, err = s.RevocationSnapshot(ctx(t), later)
	noErr(t, "RevocationSnapshot later", err)
	check(t, "snapshot later", snap, &auth.RevocationSnapshot{
		Cursor: latest(t, s), JTIs: []auth.DeniedID{}, SIDs: []auth.DeniedID{},
		Users: []auth.UserRevocation{{UserID: disabled.ID, CredentialVersion: 1, Disabled: true}},
	})
}

func testPurgeEvents(t *testing.T, s FeedStore) {
	for _, k := range []string{"jti:1", "jti:2", "jti:3"} {
		noErr(t, "Deny", s.Deny(ctx(t), k, t0.Add(time.Hour)))
	}
	all, _, _ := s.RevocationsAfter(ctx(t), 0, 10)
	// The events were created now (by the database's clock): a purge now
	// keeps them all.
	_, err := s.Purge(ctx(t), time.Now())
	noErr(t, "Purge", err)
	if evs, ok, _ := s.RevocationsAfter(ctx(t), all[0].ID, 10); !ok || len(evs) != 2 {
		t.Fatalf("after a purge within the retention: %d events, replayable %v", len(evs), ok)
	}
	_, err = s.Purge(ctx(t), time.Now().Add(auth.RevocationRetention+time.Hour))
	noErr(t, "Purge", err)
	if _, ok, _ := s.RevocationsAfter(ctx(t), all[0].ID, 10); ok {
		t.Error("a purged cursor is still replayable")
	}
	if evs, ok, _ := s.RevocationsAfter(ctx(t), all[2].ID, 10); !ok || len(evs) != 0 {
		t.Errorf("the newest event was purged: replayable %v", ok)
	}
	if got := latest(t, s); got != all[2].ID {
		t.Errorf("LatestRevocation after purge %d, want %d", got, all[2].ID)
	}
}

// testEventsNoGap: a reader that follows the feed by "events after the last
// id I saw", as the hub does, while many transactions write events at once,
// sees every event: ids become visible in increasing order, never an id
// before a smaller one that commits later.
func testEventsNoGap(t *testing.T, s FeedStore) {
	const writers, each = 8, 25
	var wg sync.WaitGroup
	done := make(chan struct{})
	seen := map[string]bool{}
	var readErr error
	go func() {
		defer close(done)
		var last int64
		for {
			evs, _, err := s.RevocationsAfter(context.Background(), last, 1000)
			if err != nil {
				readErr = err
				return
			}
			for _, e := range evs {
				seen[e.Subject] = true
				last = e.ID
			}
			if len(seen) == writers*each {
				return
			}
		}
	}()
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				noErr(t, "Deny", s.Deny(context.Background(), fmt.Sprintf("jti:%d-%d", w, i), t0.Add(time.Hour)))
			}
		})
	}
	wg.Wait()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("a reader following the ids saw %d of %d events: some became visible behind a larger id", len(seen), writers*each)
	}
	noErr(t, "RevocationsAfter", readErr)
}
