package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

const mailColumns = `id, recipient, template, data, created_at, attempts, sealed`

// EnqueueMail stores m, due at once (its first attempt is due at
// m.CreatedAt), and sets m.ID. Data is stored as a JSON object.
func (db *DB) EnqueueMail(ctx context.Context, m *auth.Mail) error {
	data := make(map[string]string, len(m.Data))
	for k, v := range m.Data {
		data[text(k)] = text(v) // jsonb refuses \u0000
	}
	to, template, sealed := text(m.To), text(m.Template), []byte(nil)
	if db.sealer != nil {
		// The whole content in one ciphertext; the plain columns stay empty.
		var err error
		if sealed, err = auth.SealMail(db.sealer, m); err != nil {
			return fmt.Errorf("enqueue mail: %w", err)
		}
		to, template, data = "", "", map[string]string{}
	}
	var id int64
	err := db.queryRow(ctx, `
		INSERT INTO mail_outbox (recipient, template, data, created_at, attempts, next_attempt_at, sealed)
		VALUES ($1, $2, $3, $4, $5, $4, $6) RETURNING id`,
		to, template, data, m.CreatedAt, m.Attempts, sealed,
	).Scan(&id)
	if err != nil {
		return wrapErr("enqueue mail", err)
	}
	m.ID = id
	return nil
}

// PendingMail claims up to limit messages due at now (next attempt at or
// before now), oldest (by CreatedAt, then ID) first, by moving their next
// attempt to now+lease, in one statement. FOR UPDATE SKIP LOCKED (in a CTE,
// which PostgreSQL evaluates once) makes
// concurrent claimers, in this process or another, pass over the rows one of
// them is claiming instead of waiting for them, and a row claimed and
// committed meanwhile is no longer due: no message is handed to two workers
// within its lease. A lease of zero or less claims nothing and only lists the
// due messages.
func (db *DB) PendingMail(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]auth.Mail, error) {
	if limit <= 0 {
		return nil, nil
	}
	var rows pgx.Rows
	var err error
	if lease <= 0 {
		rows, err = db.query(ctx, `
			SELECT `+mailColumns+` FROM mail_outbox
			WHERE next_attempt_at <= $1
			ORDER BY created_at, id
			LIMIT $2`,
			now, limit)
	} else {
		rows, err = db.query(ctx, `
			WITH due AS (
				SELECT id FROM mail_outbox
				WHERE next_attempt_at <= $1
				ORDER BY created_at, id
				LIMIT $3
				FOR UPDATE SKIP LOCKED
			)
			UPDATE mail_outbox m SET next_attempt_at = $2
			FROM due WHERE m.id = due.id
			RETURNING m.id, m.recipient, m.template, m.data, m.created_at, m.attempts, m.sealed`,
			now, now.Add(lease), limit)
	}
	if err != nil {
		return nil, wrapErr("claim pending mail", err)
	}
	var list []auth.Mail
	var m auth.Mail
	var sealed []byte
	_, err = pgx.ForEachRow(rows, []any{&m.ID, &m.To, &m.Template, &m.Data, timeCol{&m.CreatedAt}, &m.Attempts, &sealed},
		func() error {
			// A row written before sealing (sealed NULL) is read from its
			// plain columns.
			if sealed != nil {
				if db.sealer == nil {
					return fmt.Errorf("mail %d is sealed and no key-encryption key is configured", m.ID)
				}
				if err := auth.OpenMail(db.sealer, sealed, &m); err != nil {
					return err
				}
			}
			list = append(list, m)
			m.Data = nil // the next row gets a map of its own
			return nil
		})
	if err != nil {
		return nil, wrapErr("claim pending mail", err)
	}
	// RETURNING has no order.
	slices.SortFunc(list, func(a, b auth.Mail) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return list, nil
}

// MarkMailSent deletes the message: it has been delivered.
func (db *DB) MarkMailSent(ctx context.Context, id int64) error {
	return wrapErr("mark mail sent", notFoundIfNone(db.exec(ctx, `DELETE FROM mail_outbox WHERE id = $1`, id)))
}

// RetryMailAt records a failed attempt and when to try again.
func (db *DB) RetryMailAt(ctx context.Context, id int64, next time.Time) error {
	return wrapErr("retry mail", notFoundIfNone(db.exec(ctx,
		`UPDATE mail_outbox SET attempts = attempts + 1, next_attempt_at = $1 WHERE id = $2`, next, id)))
}

// MailBacklog returns how many messages wait in the outbox (due or not) and
// when the oldest of them was accepted, the zero time if none: what an
// operator alerts on when mail stops going out.
func (db *DB) MailBacklog(ctx context.Context) (n int, oldest time.Time, err error) {
	var first *time.Time
	if err := db.queryRow(ctx, `SELECT count(*), min(created_at) FROM mail_outbox`).Scan(&n, &first); err != nil {
		return 0, time.Time{}, wrapErr("mail backlog", err)
	}
	if first != nil {
		oldest = first.UTC()
	}
	return n, oldest, nil
}
