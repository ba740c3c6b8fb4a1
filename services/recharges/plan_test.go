package recharges

import (
	"reflect"
	"testing"

	"gorm.io/gorm"

	"portal/internal/dbtest"
	"portal/models"
	"portal/services"
)

// The list must stay fast at a million rows. Timing it here would be flaky on
// shared machines, so this checks what makes it fast: every filter is an
// index search, and no query sorts the table or scans it. `make bench`
// measures the real thing on a seeded database.
func TestListQueriesUseIndexes(t *testing.T) {
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
		{"by short prefix, failed only", Filter{Q: "up-", State: "failed"}, 0, "recharges_device"},
		{"by phone prefix, deep page", Filter{Q: "+2547000"}, 400000, "recharges_phone"},
		{"by date", Filter{From: "2026-01-01", To: "2026-01-31"}, 0, ""},
		// What a bulk export of a selection reads: the primary key only.
		{"selected ids", Filter{IDs: []uint{3, 700000, 12}}, 0, ""},
	}
	for _, c := range cases {
		p, err := c.filter.parse()
		if err != nil {
			t.Fatal(err)
		}
		q := func(tx *gorm.DB) *gorm.DB {
			var rows []models.Recharge
			return listQuery(tx, p, c.before, 0, 50).Find(&rows)
		}
		// A prefix search is several statements (services.PrefixIDs), which
		// ones depending on the data: the plans are those of every statement
		// it may run.
		var prefixStmts []string
		if keys := p.prefixKeys(models.DialectOf(db)); keys != nil {
			prefixStmts = services.PrefixStatements(p.apply(db.Model(&models.Recharge{})), keys, c.before, 0, 50)
		}
		// Date filters read an index range and sort just the matches;
		// searches and the others must read in id order (or index order,
		// ordered in Go) and stop after a page.
		maySort := c.filter.From != ""
		var want []string
		if c.want != "" {
			want = []string{c.want}
		}
		dbtest.CheckListPlan(t, db, dbtest.ListPlan{Name: c.name, Table: "recharges", Filtered: !reflect.DeepEqual(c.filter, Filter{}),
			MaySort: maySort, Want: want}, q, prefixStmts)
	}
}
