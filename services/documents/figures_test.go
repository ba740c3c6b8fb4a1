package documents

import (
	"context"
	"strings"
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
	if dbtest.OnPostgres() {
		plan := dbtest.PGPlan(t, db, q)
		if !plan.UsesIndex("documents_state") {
			t.Errorf("stalled documents: plan does not use documents_state: %s", plan)
		}
		t.Logf("stalled documents: %s", plan)
	} else {
		text := dbtest.Plan(t, db, q)
		if !strings.Contains(text, "documents_state") {
			t.Errorf("stalled documents: plan does not use documents_state: %s", text)
		}
		t.Logf("stalled documents: %s", text)
	}

	// The completion times come from the per-day times the triggers keep,
	// never from the documents themselves.
	rec, stmts := dbtest.Record(db)
	if _, err := CompletionTimes(context.Background(), rec, now.AddDate(0, 0, -30)); err != nil {
		t.Fatal(err)
	}
	times := stmts.Take()
	if len(times) == 0 {
		t.Fatal("document times: no statement recorded")
	}
	for _, stmt := range times {
		if dbtest.OnPostgres() {
			if plan := dbtest.PGPlanSQL(t, db, stmt); plan.Reads("documents") || !plan.Reads("figure_durations") {
				t.Errorf("document times: %s\nreads the documents: %s", stmt, plan)
			}
		} else if text := dbtest.PlanSQL(t, db, stmt); strings.Contains(text, "documents") || !strings.Contains(text, "figure_durations") {
			t.Errorf("document times: %s\nreads the documents: %s", stmt, text)
		}
	}
}
