package customers

import (
	"context"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"portal/internal/dbtest"
)

// Search must stay an index lookup at a million rows per table: every
// query it runs (exact ids and references, then prefixes) is checked here
// for a full table scan. Timing it would be flaky on shared machines.
func TestSearchQueriesUseIndexes(t *testing.T) {
	db := dbtest.Open(t)
	var plans []string
	// On PostgreSQL, the plans that read a whole table.
	var scans []string
	// After the query ran, its SQL is built: explain it on the side.
	if err := db.Callback().Query().After("gorm:query").Register("plan", func(tx *gorm.DB) {
		if tx.Statement.SQL.Len() == 0 {
			return
		}
		if dbtest.OnPostgres() {
			plan := dbtest.PGPlanSQL(t, db, tx.Statement.SQL.String(), tx.Statement.Vars...)
			text := tx.Statement.Table + ": " + plan.String()
			plans = append(plans, text)
			if plan.FullScans("") {
				scans = append(scans, text)
			}
			return
		}
		plans = append(plans, tx.Statement.Table+": "+dbtest.PlanSQL(t, db, tx.Statement.SQL.String(), tx.Statement.Vars...))
	}); err != nil {
		t.Fatal(err)
	}
	s := New(db, nil, time.Now)
	for _, q := range []string{"+254712345678", "12345678901", "68753500140920", "doc_0b6b2a8e", "cust-0042", "aB1cD2eF",
		"8652967066355586001", "98466062-2548-4dca-9ef9-f1b4b09c92dc", "nothing-matches-this"} {
		plans, scans = plans[:0], scans[:0]
		if _, err := s.Search(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if len(plans) == 0 {
			t.Fatalf("%s: no query planned", q)
		}
		t.Logf("%s: %s", q, strings.Join(plans, " || "))
		for _, p := range scans {
			t.Errorf("%s: full scan: %s", q, p)
		}
		for _, p := range plans {
			// "SCAN x" without an index is a full table scan; a covering
			// index scan is named "USING ... INDEX".
			for _, part := range strings.Split(p, " | ") {
				if strings.Contains(part, "SCAN ") && !strings.Contains(part, "INDEX") {
					t.Errorf("%s: full scan: %s", q, p)
				}
			}
		}
	}
	for _, key := range []Key{{KeyPhone, "+254712345678"}, {KeyNIN, "12345678901"}, {KeyDevice, "68753500140920"}} {
		plans, scans = plans[:0], scans[:0]
		if _, err := s.Records(context.Background(), key); err != nil {
			t.Fatal(err)
		}
		for _, p := range scans {
			t.Errorf("records of %s: full scan: %s", key, p)
		}
		for _, p := range plans {
			for _, part := range strings.Split(p, " | ") {
				if strings.Contains(part, "SCAN ") && !strings.Contains(part, "INDEX") {
					t.Errorf("records of %s: full scan: %s", key, p)
				}
			}
		}
	}
}
