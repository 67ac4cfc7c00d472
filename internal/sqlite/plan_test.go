package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestRotatePlanUsesIndexes: rotation looks up one token and one family by
// key; a plan that scans a table grows with the number of sessions.
func TestRotatePlanUsesIndexes(t *testing.T) {
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "plan.db"), AutoMigrate(true))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.write.Query(`EXPLAIN QUERY PLAN `+rotateSQL, 1, nil, nil, []byte{0})
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	for _, step := range plan {
		if strings.HasPrefix(step, "SCAN") {
			t.Fatalf("rotation plan scans a table: %q", plan)
		}
	}
}
