package sqlite_test

import (
	"database/sql"
	"testing"

	"github.com/bulwarkauth/bulwark/internal/sqlite"
	"github.com/bulwarkauth/bulwark/internal/storetest"
)

func TestFeedStore(t *testing.T) {
	storetest.RunFeed(t, func(t *testing.T) storetest.FeedStore { return openTemp(t) },
		func(t *testing.T, s storetest.FeedStore, userID string) {
			raw, err := sql.Open("sqlite", s.(*sqlite.DB).Path())
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			if _, err := raw.ExecContext(t.Context(), `UPDATE users SET disabled = 1 WHERE id = ?`, userID); err != nil {
				t.Fatal(err)
			}
		})
}
