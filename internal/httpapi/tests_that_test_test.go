package httpapi_test

import (
	"context"
	"database/sql"
	"time"

	"github.com/jackc/pgx/v5"
)

// count runs a one-number query on the backend's database.
func (b *backend) count(query string, args ...any) (int, error) {
	var n int
	if b.sqlitePath != "" {
		db, err := sql.Open("sqlite", b.sqlitePath)
		if err != nil {
			return 0, err
		}
		defer db.Close()
		err = db.QueryRow(query, args...).Scan(&n)
		return n, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, b.pgURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	err = conn.QueryRow(ctx, query, args...).Scan(&n)
	return n, err
}
