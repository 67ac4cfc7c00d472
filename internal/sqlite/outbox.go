package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
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
	var id int64
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		return db.txQueryRow(ctx, tx, `
			INSERT INTO mail_outbox (recipient, template, data, created_at, attempts, next_attempt_at)
			VALUES (?1, ?2, ?3, ?4, ?5, ?4) RETURNING id`,
			m.To, m.Template, string(body), timeArg(m.CreatedAt), m.Attempts,
		).Scan(&id)
	})
	if err != nil {
		return wrapErr("enqueue mail", err)
	}
	m.ID = id
	return nil
}

// PendingMail returns up to limit messages whose next attempt is due at now,
// oldest (by CreatedAt, then ID) first.
func (db *DB) PendingMail(ctx context.Context, now time.Time, limit int) ([]auth.Mail, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := db.query(ctx, `
		SELECT id, recipient, template, data, created_at, attempts FROM mail_outbox
		WHERE next_attempt_at <= ?
		ORDER BY created_at, id
		LIMIT ?`,
		now.UnixMicro(), limit)
	if err != nil {
		return nil, wrapErr("list pending mail", err)
	}
	defer rows.Close()
	var list []auth.Mail
	for rows.Next() {
		var m auth.Mail
		var data string
		if err := rows.Scan(&m.ID, &m.To, &m.Template, &data, timeCol{&m.CreatedAt}, &m.Attempts); err != nil {
			return nil, wrapErr("list pending mail", err)
		}
		if err := json.Unmarshal([]byte(data), &m.Data); err != nil {
			return nil, fmt.Errorf("list pending mail: decode data of mail %d: %w", m.ID, err)
		}
		list = append(list, m)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapErr("list pending mail", err)
	}
	return list, nil
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
