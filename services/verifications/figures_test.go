package verifications

import (
	"context"
	"testing"
	"time"

	"portal/internal/dbtest"
)

// The dashboard's figures must not read the verifications table: at a
// million rows a scan would make every dashboard load slow. The outcomes
// come from the counts the triggers keep.
func TestFigureQueriesUseIndexes(t *testing.T) {
	db := dbtest.Open(t)
	since := time.Date(2026, 10, 24, 12, 0, 0, 0, time.UTC)
	rec, stmts := dbtest.Record(db)
	if _, err := CountOutcomes(context.Background(), rec, since); err != nil {
		t.Fatal(err)
	}
	dbtest.CheckReadsInstead(t, db, "verification outcomes", stmts.Take(), "verifications", "figure_counts")
}
