package verifications

import (
	"context"
	"strings"
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
	outcomes := stmts.Take()
	if len(outcomes) == 0 {
		t.Fatal("verification outcomes: no statement recorded")
	}
	for _, stmt := range outcomes {
		if dbtest.OnPostgres() {
			plan := dbtest.PGPlanSQL(t, db, stmt)
			if plan.Reads("verifications") || !plan.Reads("figure_counts") {
				t.Errorf("verification outcomes: %s\nreads the verifications: %s", stmt, plan)
			}
			t.Logf("verification outcomes: %s", plan)
			continue
		}
		text := dbtest.PlanSQL(t, db, stmt)
		if strings.Contains(text, "verifications") || !strings.Contains(text, "figure_counts") {
			t.Errorf("verification outcomes: %s\nreads the verifications: %s", stmt, text)
		}
		t.Logf("verification outcomes: %s", text)
	}
}
