package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"time"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// createMigrationsTable records which migrations ran. It is not itself a
// migration: Pending needs it before any migration has run.
const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	name       TEXT    PRIMARY KEY,
	applied_at INTEGER NOT NULL
) STRICT`

// Migrate applies, in order of file name, every embedded migration that has
// not run yet, each in its own write transaction together with its row in
// schema_migrations. BEGIN IMMEDIATE serialises concurrent migrators, even in
// other processes, and each re-checks inside its transaction whether another
// applied the migration first, so several instances may start at once.
// Running Migrate on an up-to-date database does nothing.
func (db *DB) Migrate(ctx context.Context) error {
	return db.migrate(ctx, migrationsFS, "migrations")
}

// Pending returns the names of the embedded migrations not yet applied, in
// the order Migrate would apply them. serve refuses to start when it is not
// empty and auto-migration is off.
func (db *DB) Pending(ctx context.Context) ([]string, error) {
	return db.pending(ctx, migrationsFS, "migrations")
}

// migrationNames lists dir/*.sql of fsys in lexical order.
func migrationNames(fsys fs.FS, dir string) ([]string, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.sql")) // sorted
	if err != nil {
		return nil, err
	}
	for i, n := range names {
		names[i] = path.Base(n)
	}
	return names, nil
}

func (db *DB) migrate(ctx context.Context, fsys fs.FS, dir string) error {
	names, err := migrationNames(fsys, dir)
	if err != nil {
		return fmt.Errorf("list migrations: %w", err)
	}
	if err := db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, createMigrationsTable)
		return err
	}); err != nil {
		return wrapErr("create schema_migrations", err)
	}
	for _, name := range names {
		body, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return fmt.Errorf("read migration %s: %w", name, err)
		}
		if err := db.writeTx(ctx, func(tx *sql.Tx) error {
			return db.applyMigration(ctx, tx, name, string(body))
		}); err != nil {
			return wrapErr("apply migration "+name, err)
		}
	}
	return nil
}

// applyMigration runs one migration unless it is recorded already.
func (db *DB) applyMigration(ctx context.Context, tx *sql.Tx, name, body string) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE name = ?`, name).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, body); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)`,
		name, time.Now().UnixMicro())
	return err
}

func (db *DB) pending(ctx context.Context, fsys fs.FS, dir string) ([]string, error) {
	names, err := migrationNames(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	applied := map[string]bool{}
	err = db.readTx(ctx, func(tx *sql.Tx) error {
		var exists int
		if err := tx.QueryRowContext(ctx,
			`SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&exists); err != nil {
			return err
		}
		if exists == 0 {
			return nil
		}
		rows, err := tx.QueryContext(ctx, `SELECT name FROM schema_migrations`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				return err
			}
			applied[n] = true
		}
		return rows.Err()
	})
	if err != nil {
		return nil, wrapErr("list pending migrations", err)
	}
	var pending []string
	for _, n := range names {
		if !applied[n] {
			pending = append(pending, n)
		}
	}
	return pending, nil
}
