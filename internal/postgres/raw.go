package postgres

import "github.com/jackc/pgx/v5/pgxpool"

// Pool returns the store's connection pool, for tools such as the bench
// seeder only (internal/bench/seed): what is written through it bypasses
// every check the store makes, so it must be written exactly as the store's
// methods write it. The pool is closed by Close.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }
