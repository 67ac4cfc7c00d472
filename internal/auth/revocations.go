package auth

import (
	"context"
	"time"
)

// The revocation feed (GET /v1/token/revocations) lets a resource server that
// verifies access tokens itself learn of every revocation within a second.
// The database is its source of truth: every revocation a store makes (a
// deny-list entry for a jti or a sid, a move of a user's epoch, credential
// version or disabled flag) appends a RevocationEvent in the same
// transaction, with an id that grows in commit order.

// Kinds of revocation event.
const (
	RevokedJTI  = "jti"  // one access token
	RevokedSID  = "sid"  // every access token of a refresh family
	RevokedUser = "user" // a user's new revocation state
)

// RevocationEvent is one revocation. Exp is set for jti and sid events,
// NotBefore, CredentialVersion and Disabled for user events (the user's whole
// state after the change). Times are Unix seconds.
type RevocationEvent struct {
	ID                int64
	Kind              string
	Subject           string // the jti, the sid or the user id
	Exp               int64
	NotBefore         int64
	CredentialVersion int64
	Disabled          bool
}

// DeniedID is a denied jti or sid and when its tokens expire (Unix seconds).
type DeniedID struct {
	ID  string
	Exp int64
}

// UserRevocation is the revocation state of one user: tokens issued (iat)
// before NotBefore (Unix seconds), or with another credential version, or
// of a disabled user, are refused.
type UserRevocation struct {
	UserID            string
	NotBefore         int64
	CredentialVersion int64
	Disabled          bool
}

// RevocationSnapshot is the whole revocation state at the event id Cursor:
// applying every event after Cursor to it gives the state at any later time.
type RevocationSnapshot struct {
	Cursor int64
	JTIs   []DeniedID
	SIDs   []DeniedID
	// Users lists every disabled user, and every user whose epoch, credential
	// version or disabled flag changed within RevocationRetention before
	// the snapshot (an event of theirs is still kept, or the epoch is that
	// recent). A user not listed refuses nothing a resource server could
	// still be shown: an access token lives at most an hour (the longest
	// BULWARK_ACCESS_TOKEN_TTL), far less than the retention, so every token
	// issued before the user's last change has expired, and every later one
	// carries the current version and an iat at or after the epoch.
	Users []UserRevocation
}

// RevocationFeedStore is what a backend keeps for the feed.
type RevocationFeedStore interface {
	// RevocationsAfter returns up to limit events with an id greater than
	// after, in id order, and whether after can be replayed from: it is an
	// id the store still holds (so no event after it has been purged), up to
	// the newest. A snapshot's Cursor of 0 (no event yet) is never
	// replayable: the events of an empty feed do not describe the state.
	RevocationsAfter(ctx context.Context, after int64, limit int) (events []RevocationEvent, replayable bool, err error)
	// LatestRevocation returns the newest event id, 0 if there is none.
	LatestRevocation(ctx context.Context) (int64, error)
	// RevocationSnapshot reads, in one consistent view, every deny-list
	// entry for a jti or sid that has not expired at now, the users of
	// RevocationSnapshot.Users (changed after now minus
	// RevocationRetention), and the newest event id.
	RevocationSnapshot(ctx context.Context, now time.Time) (*RevocationSnapshot, error)
	// WatchRevocations calls wake (which must not block) soon after events
	// may have been committed, by this process or another, until ctx ends;
	// it then returns ctx's error. wake may be called when nothing is new.
	WatchRevocations(ctx context.Context, wake func()) error
}

// RevocationRetention is how long events are kept for replay: a subscriber
// whose cursor is older gets a snapshot instead. Purge deletes older events
// but always keeps the newest, so an up-to-date cursor stays replayable.
const RevocationRetention = 24 * time.Hour
