package recharges

import (
	"strings"
	"testing"

	"gorm.io/gorm"

	"portal/internal/dbtest"
	"portal/models"
)

// The list must stay fast at a million rows. Timing it here would be flaky on
// shared machines, so this checks what makes it fast: every filter is an
// index search, and no query sorts the table or scans it. `make bench`
// measures the real thing on a seeded database.
func TestListQueriesUseIndexes(t *testing.T) {
	dbtest.SQLiteOnly(t, "the plans read are SQLite's EXPLAIN QUERY PLAN")
	db := dbtest.Open(t)
	// ANALYZE data is not needed: with no statistics SQLite still prefers an
	// index for equality and range constraints.
	cases := []struct {
		name   string
		filter Filter
		before uint
		want   string // an index the plan must use
	}{
		{"newest first", Filter{}, 0, ""},
		{"deep page", Filter{}, 500000, ""},
		{"by state", Filter{State: "unknown"}, 0, "recharges_state"},
		{"by state, deep page", Filter{State: "completed"}, 900000, "recharges_state"},
		{"by device prefix", Filter{Q: "687535"}, 0, "recharges_device"},
		{"by phone", Filter{Q: "0712345678"}, 0, "recharges_phone"},
		{"by date", Filter{From: "2026-01-01", To: "2026-01-31"}, 0, ""},
	}
	for _, c := range cases {
		p, err := c.filter.parse()
		if err != nil {
			t.Fatal(err)
		}
		text := dbtest.Plan(t, db, func(tx *gorm.DB) *gorm.DB {
			var rows []models.Recharge
			return listQuery(tx, p, c.before, 0, 50).Find(&rows)
		})
		// With no filter, a backwards rowid scan that stops after one page
		// is exactly right.
		if strings.Contains(text, "SCAN recharges") && !strings.Contains(text, "USING") && c.filter != (Filter{}) {
			t.Errorf("%s: full table scan: %s", c.name, text)
		}
		// Prefix and date filters read an index range and sort just the
		// matches; the others must read in id order and stop after a page.
		if strings.Contains(text, "TEMP B-TREE") && c.filter.Q == "" && c.filter.From == "" {
			t.Errorf("%s: sorts instead of reading in index order: %s", c.name, text)
		}
		if c.want != "" && !strings.Contains(text, c.want) {
			t.Errorf("%s: plan does not use %s: %s", c.name, c.want, text)
		}
		t.Logf("%s: %s", c.name, text)
	}
}
