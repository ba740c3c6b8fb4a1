package verifications

import (
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"portal/internal/dbtest"
)

// The dashboard's range queries must read their indexes, not the table: at
// a million rows a scan would make every dashboard load slow.
func TestFigureQueriesUseIndexes(t *testing.T) {
	dbtest.SQLiteOnly(t, "the plans read are SQLite's EXPLAIN QUERY PLAN")
	db := dbtest.Open(t)
	since := time.Date(2026, 10, 24, 12, 0, 0, 0, time.UTC)
	text := dbtest.Plan(t, db, func(tx *gorm.DB) *gorm.DB {
		var out []map[string]any
		return outcomesQuery(tx, since).Find(&out)
	})
	if !strings.Contains(text, "verifications_created") {
		t.Errorf("verification outcomes: plan does not use verifications_created: %s", text)
	}
	t.Logf("verification outcomes: %s", text)
}
