package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// EnqueueMail stores m, due at once (its first attempt is due at
// m.CreatedAt), and sets m.ID. Data is stored as a JSON object.
func (db *DB) EnqueueMail(ctx context.Context, m *auth.Mail) error {
	data := m.Data
	if data == nil {
		data = map[string]string{}
	}
	body, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("enqueue mail: %w", err)
	}
	to, template, sealed := m.To, m.Template, []byte(nil)
	if db.sealer != nil {
		// The whole content in one ciphertext; the plain columns stay empty.
		if sealed, err = auth.SealMail(db.sealer, m); err != nil {
			return fmt.Errorf("enqueue mail: %w", err)
		}
		to, template, body = "", "", []byte("{}")
	}
	var id int64
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		return db.txQueryRow(ctx, tx, `
			INSERT INTO mail_outbox (recipient, template, data, created_at, attempts, next_attempt_at, sealed)
			VALUES (?1, ?2, ?3, ?4, ?5, ?4, ?6) RETURNING id`,
			to, template, string(body), timeArg(m.CreatedAt), m.Attempts, sealed,
		).Scan(&id)
	})
	if err != nil {
		return wrapErr("enqueue mail", err)
	}
	m.ID = id
	return nil
}

// PendingMail claims up to limit messages whose next attempt is due at now,
// oldest (by CreatedAt, then ID) first, by moving their next attempt to
// now+lease, in one write transaction: writers are serialised, so two
// claimers (even in two processes on one file) never get the same message
// within its lease. A lease of zero or less claims nothing and only lists the
// due messages, on the read pool.
func (db *DB) PendingMail(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]auth.Mail, error) {
	if limit <= 0 {
		return nil, nil
	}
	if lease <= 0 {
		rows, err := db.query(ctx, `
			SELECT id, recipient, template, data, created_at, attempts, sealed FROM mail_outbox
			WHERE next_attempt_at <= ?
			ORDER BY created_at, id
			LIMIT ?`,
			now.UnixMicro(), limit)
		if err != nil {
			return nil, wrapErr("list pending mail", err)
		}
		defer rows.Close()
		list, err := db.scanMail(rows)
		if err != nil {
			return nil, wrapErr("list pending mail", err)
		}
		return list, nil
	}
	var list []auth.Mail
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		rows, err := db.txQuery(ctx, tx, `
			UPDATE mail_outbox SET next_attempt_at = ?2
			WHERE id IN (
				SELECT id FROM mail_outbox
				WHERE next_attempt_at <= ?1
				ORDER BY created_at, id
				LIMIT ?3
			)
			RETURNING id, recipient, template, data, created_at, attempts, sealed`,
			now.UnixMicro(), now.Add(lease).UnixMicro(), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		list, err = db.scanMail(rows)
		return err
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

// scanMail reads the rows of a PendingMail query, opening sealed content.
// A row written before sealing (sealed NULL) is read from its plain columns.
func (db *DB) scanMail(rows *sql.Rows) ([]auth.Mail, error) {
	var list []auth.Mail
	for rows.Next() {
		var m auth.Mail
		var data string
		var sealed []byte
		if err := rows.Scan(&m.ID, &m.To, &m.Template, &data, timeCol{&m.CreatedAt}, &m.Attempts, &sealed); err != nil {
			return nil, err
		}
		if sealed != nil {
			if db.sealer == nil {
				return nil, fmt.Errorf("mail %d is sealed and no key-encryption key is configured", m.ID)
			}
			if err := auth.OpenMail(db.sealer, sealed, &m); err != nil {
				return nil, err
			}
			list = append(list, m)
			continue
		}
		if err := json.Unmarshal([]byte(data), &m.Data); err != nil {
			return nil, fmt.Errorf("decode data of mail %d: %w", m.ID, err)
		}
		list = append(list, m)
	}
	return list, rows.Err()
}

// MarkMailSent deletes the message: it has been delivered.
func (db *DB) MarkMailSent(ctx context.Context, id int64) error {
	return wrapErr("mark mail sent", db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := db.txExec(ctx, tx, `DELETE FROM mail_outbox WHERE id = ?`, id)
		if err != nil {
			return err
		}
		return rowsAffected(res)
	}))
}

// RetryMailAt records a failed attempt and when to try again.
func (db *DB) RetryMailAt(ctx context.Context, id int64, next time.Time) error {
	return wrapErr("retry mail", db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := db.txExec(ctx, tx, `UPDATE mail_outbox SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?`,
			next.UnixMicro(), id)
		if err != nil {
			return err
		}
		return rowsAffected(res)
	}))
}

// MailBacklog returns how many messages wait in the outbox (due or not) and
// when the oldest of them was accepted, the zero time if none: what an
// operator alerts on when mail stops going out.
func (db *DB) MailBacklog(ctx context.Context) (n int, oldest time.Time, err error) {
	var first sql.NullInt64
	if err := db.queryRow(ctx, `SELECT count(*), min(created_at) FROM mail_outbox`).Scan(&n, &first); err != nil {
		return 0, time.Time{}, wrapErr("mail backlog", err)
	}
	if first.Valid {
		oldest = time.UnixMicro(first.Int64).UTC()
	}
	return n, oldest, nil
}
