package documents

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
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		q    func(tx *gorm.DB) *gorm.DB
		want string
	}{
		{"document times", func(tx *gorm.DB) *gorm.DB {
			var out []map[string]any
			return completionTimesQuery(tx, now.AddDate(0, 0, -30)).Find(&out)
		}, "documents_completed"},
		{"stalled documents", func(tx *gorm.DB) *gorm.DB {
			var n int64
			return stalledQuery(tx, now).Count(&n)
		}, "documents_state"},
	}
	for _, c := range cases {
		text := dbtest.Plan(t, db, c.q)
		if !strings.Contains(text, c.want) {
			t.Errorf("%s: plan does not use %s: %s", c.name, c.want, text)
		}
		t.Logf("%s: %s", c.name, text)
	}
}
