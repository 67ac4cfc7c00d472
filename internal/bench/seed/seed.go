// Package seed fills an empty Bulwark database in bulk, for `bulwark bench
// --scenario scale` only: a million users cannot go through the API (which
// hashes every password), nor through CreateUser one transaction at a time,
// in a reasonable time. It writes, through the raw access the stores give
// such tools, the columns and stored forms CreateUser and CreateSession
// write; its tests check that what it writes reads back the same.
//
// It refuses, with auth.ErrConflict and before writing anything, a database
// that already holds a user: bench data must never land in somebody's real
// database.
package seed

import (
	"context"
	"fmt"
	"iter"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// DB is a store that can be seeded and measured.
type DB interface {
	auth.Store
	// Seed inserts every user of users and then every session of
	// sessions. It reads each value before asking for the next, so a
	// sequence may yield the same pointer every time.
	Seed(ctx context.Context, users iter.Seq[*auth.User], sessions iter.Seq[*auth.Session]) error
	// Size is the database's size in bytes.
	Size(ctx context.Context) (int64, error)
}

// errNotEmpty is Seed's refusal.
var errNotEmpty = fmt.Errorf("%w: the database already holds users; bench seeds only an empty one", auth.ErrConflict)
