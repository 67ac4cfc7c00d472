package auth

import (
	"context"
	"time"
)

// UserSummary is one line of the admin users list.
type UserSummary struct {
	ID            string
	Email         string
	EmailVerified bool
	Disabled      bool
	Admin         bool
	CreatedAt     time.Time
	TOTPEnabled   bool
	Passkeys      int
}

// AdminStore is what the admin API and the users CLI need of a store, beyond
// Store.
type AdminStore interface {
	// ListUsers returns up to limit users whose email starts with prefix
	// (canonical form, so byte-wise) and sorts after after, in email order:
	// keyset pagination, stable under inserts.
	ListUsers(ctx context.Context, prefix, after string, limit int) ([]UserSummary, error)
	// SetAdmin grants or revokes the admin role; ErrNotFound if no such
	// user.
	SetAdmin(ctx context.Context, userID string, admin bool, now time.Time) error
	// IsAdmin reports whether the user has the admin role.
	IsAdmin(ctx context.Context, userID string) (bool, error)
	// SetDisabled disables or enables the user. Disabling also does what
	// RevokeAll does, in the same transaction, so nothing issued before
	// survives even if the flag is cleared later. ErrNotFound if no such
	// user.
	SetDisabled(ctx context.Context, userID string, disabled bool, now time.Time) (revokedFamilies []string, err error)
	// RevokeAll ends everything the user holds, in one transaction: deletes
	// every cookie session, revokes every refresh family (returned), moves
	// the revocation epoch to now and bumps the credential version, which
	// voids every access token and device token issued before, even within
	// the same second (the epoch counts whole seconds in tokens).
	// ErrNotFound if no such user.
	RevokeAll(ctx context.Context, userID string, now time.Time) (revokedFamilies []string, err error)
	// DeleteUser deletes the user and everything that hangs off it
	// (sessions, refresh families, tokens, the admin role). ErrNotFound if
	// no such user.
	DeleteUser(ctx context.Context, userID string) error
}
