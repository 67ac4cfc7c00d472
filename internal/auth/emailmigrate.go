package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// EmailStore is what CanonicalizeStoredEmails needs of a store.
type EmailStore interface {
	UserEmails(ctx context.Context, afterID string, limit int) ([]UserEmail, error)
	SetUserEmail(ctx context.Context, userID, email string) error
	UserByEmail(ctx context.Context, email string) (*User, error)
}

// EmailReport says what CanonicalizeStoredEmails did.
type EmailReport struct {
	Checked   int // accounts looked at
	Rewritten int // stored emails replaced by their canonical form
	// Collisions are accounts whose canonical email is already another
	// account's: both are left as they are, for an operator to decide.
	Collisions []EmailCollision
	// Invalid are accounts whose stored email the canonical rule refuses
	// (a domain that is not a public DNS name, say): left as they are.
	Invalid []string
}

// EmailCollision is one account whose canonical email another account has.
type EmailCollision struct {
	UserID      string
	OtherUserID string
}

// emailBatch is how many accounts one UserEmails call reads.
const emailBatch = 500

// CanonicalizeStoredEmails rewrites every stored email that is not in the
// canonical form of canon (the rule of the Service's Deps.CanonicalEmail)
// to that form, in batches. It never merges or deletes accounts: when two
// accounts' emails have one canonical form, the one not yet canonical keeps
// its stored email and is reported, and so is an account whose email the
// rule refuses. Each is logged with user ids only. It is idempotent, and
// safe to run from several instances at once: each rewrite is one UPDATE,
// and the unique email index settles a race between two of them.
func CanonicalizeStoredEmails(ctx context.Context, st EmailStore, canon func(string) (string, bool), log *slog.Logger) (EmailReport, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var r EmailReport
	after := ""
	for {
		batch, err := st.UserEmails(ctx, after, emailBatch)
		if err != nil {
			return r, fmt.Errorf("canonicalize emails: %w", err)
		}
		for _, u := range batch {
			r.Checked++
			c, ok := canon(u.Email)
			switch {
			case !ok:
				r.Invalid = append(r.Invalid, u.ID)
				log.WarnContext(ctx, "stored email refused by the canonical rule: left as it is", "user_id", u.ID)
				continue
			case c == u.Email:
				continue
			}
			err := st.SetUserEmail(ctx, u.ID, c)
			switch {
			case err == nil:
				r.Rewritten++
			case errors.Is(err, ErrConflict):
				other := ""
				if o, err := st.UserByEmail(ctx, c); err == nil {
					other = o.ID
				}
				r.Collisions = append(r.Collisions, EmailCollision{UserID: u.ID, OtherUserID: other})
				log.WarnContext(ctx, "stored email collides with another account's once canonical: both left as they are",
					"user_id", u.ID, "other_user_id", other)
			case errors.Is(err, ErrNotFound):
				// Deleted since it was listed.
			default:
				return r, fmt.Errorf("canonicalize emails: %w", err)
			}
		}
		if len(batch) < emailBatch {
			return r, nil
		}
		after = batch[len(batch)-1].ID
	}
}
