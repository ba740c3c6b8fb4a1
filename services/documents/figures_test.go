package documents

import (
	"context"
	"testing"
	"time"

	"gorm.io/gorm"

	"portal/internal/dbtest"
)

// The dashboard's range queries must read their indexes, not the table: at
// a million rows a scan would make every dashboard load slow.
func TestFigureQueriesUseIndexes(t *testing.T) {
	db := dbtest.Open(t)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	q := func(tx *gorm.DB) *gorm.DB {
		var n int64
		return stalledQuery(tx, now).Count(&n)
	}
	// Either index led by the state reads just the two open states. On
	// the tests' empty tables PostgreSQL's guesses cannot tell the narrower
	// documents_state from documents_state_updated (the list's order by
	// last change); with a million rows' statistics it reads
	// documents_state.
	if dbtest.OnPostgres() {
		plan := dbtest.PGPlan(t, db, q)
		if !plan.UsesIndex("documents_state") && !plan.UsesIndex("documents_state_updated") {
			t.Errorf("stalled documents: plan does not read an index led by the state: %s", plan)
		}
		t.Logf("stalled documents: %s", plan)
	} else {
		dbtest.CheckUsesIndex(t, db, "stalled documents", q, "documents_state")
	}

	// The completion times come from the per-day times the triggers keep,
	// never from the documents themselves.
	rec, stmts := dbtest.Record(db)
	if _, err := CompletionTimes(context.Background(), rec, now.AddDate(0, 0, -30)); err != nil {
		t.Fatal(err)
	}
	dbtest.CheckReadsInstead(t, db, "document times", stmts.Take(), "documents", "figure_durations")
}
