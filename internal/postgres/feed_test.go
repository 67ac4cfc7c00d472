package postgres_test

import (
	"sync"
	"testing"

	"github.com/bulwarkauth/bulwark/internal/postgres"
	"github.com/bulwarkauth/bulwark/internal/storetest"
	"github.com/bulwarkauth/bulwark/internal/testutil"
)

func TestFeedStore(t *testing.T) {
	testURL(t)
	var urls sync.Map // *postgres.DB → its URL
	storetest.RunFeed(t, func(t *testing.T) storetest.FeedStore {
		_, dbURL := newSchema(t)
		db := openOn(t, dbURL)
		urls.Store(db, dbURL)
		return db
	}, func(t *testing.T, s storetest.FeedStore, userID string) {
		u, _ := urls.Load(s.(*postgres.DB))
		testutil.PgExec(t, u.(string), `UPDATE users SET disabled = true WHERE id = $1`, userID)
	})
}
