package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// createMigrationsTable records which migrations ran. It is not itself a
// migration: Pending needs it before any migration has run.
const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	name       text        PRIMARY KEY,
	applied_at timestamptz NOT NULL DEFAULT now()
)`

// migrationLockKey is the advisory lock that serialises migration runs on
// one schema: two instances migrating the same schema wait for each other,
// two schemas of one database (as in tests) do not.
const migrationLockKey = `hashtextextended('bulwark.migrate.' || coalesce(current_schema(), ''), 0)`

// Migrate applies, in order of file name, every embedded migration that has
// not run yet, each in its own transaction together with its row in
// schema_migrations. The whole run holds a session advisory lock, so several
// instances may start at once: each migration is applied exactly once, and
// the others wait for it. Running Migrate on an up-to-date database does
// nothing.
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
	if db.closed.Load() {
		return wrapErr("migrate database", errClosed)
	}
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return wrapErr("migrate database", err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+migrationLockKey+`)`); err != nil {
		// The lock may have been granted just as ctx ended: close the
		// session, which releases it, rather than return it to the pool.
		discard(conn)
		return wrapErr("lock migrations", err)
	}
	defer unlock(conn)

	if _, err := conn.Exec(ctx, createMigrationsTable); err != nil {
		return wrapErr("create schema_migrations", err)
	}
	for _, name := range names {
		body, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return fmt.Errorf("read migration %s: %w", name, err)
		}
		if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			return applyMigration(ctx, tx, name, string(body))
		}); err != nil {
			return wrapErr("apply migration "+name, err)
		}
	}
	return nil
}

// unlock releases the migration lock and the connection. A connection whose
// unlock failed (a cancelled context, a lost server) may still hold the lock,
// so it is closed rather than returned to the pool: closing the session
// releases the lock.
func unlock(conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock(`+migrationLockKey+`)`); err != nil {
		discard(conn)
		return
	}
	conn.Release()
}

// discard closes the session of conn and gives it back to the pool, which
// drops it.
func discard(conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	conn.Conn().Close(ctx)
	conn.Release()
}

// applyMigration runs one migration unless it is recorded already.
func applyMigration(ctx context.Context, tx pgx.Tx, name, body string) error {
	var done bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE name = $1)`, name).Scan(&done); err != nil {
		return err
	}
	if done {
		return nil
	}
	// Without arguments pgx sends the body with the simple protocol, which
	// runs several statements.
	if _, err := tx.Exec(ctx, body); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (name) VALUES ($1)`, name)
	return err
}

func (db *DB) pending(ctx context.Context, fsys fs.FS, dir string) ([]string, error) {
	names, err := migrationNames(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	applied := map[string]bool{}
	err = db.tx(ctx, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return nil
		}
		rows, err := tx.Query(ctx, `SELECT name FROM schema_migrations`)
		if err != nil {
			return err
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		for _, n := range got {
			applied[n] = true
		}
		return err
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
