package customers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"gorm.io/gorm"

	"portal/internal/dbtest"
	"portal/models"
	"portal/services"
)

// Search must stay an index lookup at a million rows per table: every
// query it runs (exact ids and references, then prefixes) is checked here
// for a full table scan and for a sort. Timing it would be flaky on shared
// machines. A few matching rows and a one-id walk window make a prefix
// search run every statement it has: the walk, the probes, the index
// reads and the filter check.
func TestSearchQueriesUseIndexes(t *testing.T) {
	db := dbtest.Open(t)
	window := services.PrefixWindow
	services.PrefixWindow = 1
	t.Cleanup(func() { services.PrefixWindow = window })
	seedSearchRows(t, db)
	rec, stmts := dbtest.Record(db)
	s := New(rec, nil, time.Now)
	check := func(what string) {
		t.Helper()
		taken := stmts.Take()
		if len(taken) == 0 {
			t.Fatalf("%s: no query planned", what)
		}
		for _, stmt := range taken {
			if dbtest.OnPostgres() {
				plan := dbtest.PGPlanSQL(t, db, stmt)
				if plan.FullScans("") {
					t.Errorf("%s: %s\nfull scan: %s", what, stmt, plan)
				}
				if plan.Sorts() {
					t.Errorf("%s: %s\nsorts: %s", what, stmt, plan)
				}
				continue
			}
			plan := dbtest.PlanSQL(t, db, stmt)
			// "SCAN x" without an index is a full table scan; a covering
			// index scan is named "USING ... INDEX", and a scan of a
			// subquery's rows (a co-routine) reads no table.
			parts := strings.Split(plan, " | ")
			subqueries := map[string]bool{"CONSTANT ROW": true}
			for _, part := range parts {
				if name, ok := strings.CutPrefix(part, "CO-ROUTINE "); ok {
					subqueries[name] = true
				}
			}
			for _, part := range parts {
				if scanned, ok := strings.CutPrefix(part, "SCAN "); ok && !strings.Contains(part, "INDEX") && !subqueries[scanned] {
					t.Errorf("%s: %s\nfull scan: %s", what, stmt, plan)
				}
			}
			if strings.Contains(plan, "TEMP B-TREE FOR ORDER BY") {
				t.Errorf("%s: %s\nsorts: %s", what, stmt, plan)
			}
		}
		t.Logf("%s: %d statements", what, len(taken))
	}
	for _, q := range []string{"+254712345678", "12345678901", "68753500140920", "doc_0b6b2a8e", "cust-0042", "aB1cD2eF",
		"8652967066355586001", "98466062-2548-4dca-9ef9-f1b4b09c92dc", "nothing-matches-this",
		"6875", "cust-", "doc_", "+2547123", "0712 34", "Loan"} {
		if _, err := s.Search(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		check(q)
	}
	for _, key := range []Key{{KeyPhone, "+254712345678"}, {KeyNIN, "12345678901"}, {KeyDevice, "68753500140920"}} {
		if _, err := s.Records(context.Background(), key); err != nil {
			t.Fatal(err)
		}
		check("records of " + key.String())
	}
}

// seedSearchRows adds records that the prefixes searched above match.
func seedSearchRows(t *testing.T, db *gorm.DB) {
	t.Helper()
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	for i := range 4 {
		upstream := fmt.Sprintf("doc_0b6b2a8e%d", i)
		doc := models.Document{Kind: models.DocumentKindSimple, Title: fmt.Sprintf("Loan agreement %d", i), Reference: fmt.Sprintf("cust-00%d", i),
			UpstreamID: &upstream, State: models.DocumentCompleted, CreatedAt: at, UpdatedAt: at}
		if err := db.Create(&doc).Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Create(&models.Recharge{IdempotencyKey: fmt.Sprint("k", i), DeviceID: fmt.Sprintf("6875350014092%d", i), CustomerPhone: fmt.Sprintf("+25471234567%d", i),
			Amount: decimal.RequireFromString("10"), Currency: "KES", State: models.RechargeCompleted, CreatedAt: at, UpdatedAt: at}).Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Create(&models.Verification{Provider: models.ProviderPawaPass, Reference: fmt.Sprint("ref", i), ExternalID: fmt.Sprintf("cust-004%d", i),
			CustomerPhone: fmt.Sprintf("+25471234567%d", i), State: models.VerificationSubmitted, CreatedAt: at, UpdatedAt: at}).Error; err != nil {
			t.Fatal(err)
		}
	}
}
