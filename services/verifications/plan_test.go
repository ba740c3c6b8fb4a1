package verifications

import (
	"reflect"
	"testing"
	"time"

	"gorm.io/gorm"

	"portal/internal/dbtest"
	"portal/models"
	"portal/services"
)

// Timing lists here would be flaky on shared machines, so this checks what
// makes them fast at a million rows: every filter is an index search, and
// no query sorts the table.
func TestListQueriesUseIndexes(t *testing.T) {
	db := dbtest.Open(t)
	cases := []struct {
		name   string
		filter Filter
		before uint
		want   []string
		sorts  bool
	}{
		{"newest first", Filter{}, 0, nil, false},
		{"deep page", Filter{}, 500000, nil, false},
		{"by state", Filter{State: "in_progress"}, 0, []string{"verifications_state"}, false},
		{"by compliance reason", Filter{Reason: "face_mismatch"}, 0, []string{"verifications_compliance_reason"}, false},
		{"by provider", Filter{Provider: "pawapass"}, 0, []string{"verifications_provider"}, false},
		{"by provider status", Filter{Status: "REVIEW"}, 0, []string{"verifications_provider_status"}, false},
		{"not reviewed", Filter{Decision: "none"}, 0, []string{"verifications_decision"}, false},
		{"by phone", Filter{Q: "0712345678"}, 0, []string{"verifications_phone"}, false},
		{"by prefix", Filter{Q: "cust-00"}, 0, []string{"verifications_phone", "verifications_external", "verifications_document_number", "verifications_upstream_prefix", "verifications_reference"}, false},
		{"by prefix, not reviewed", Filter{Q: "cust-00", Decision: "none"}, 0, []string{"verifications_external"}, false},
		{"by number", Filter{Q: "#42"}, 0, nil, false},
		// What a bulk export of a selection reads: the primary key only.
		{"selected ids", Filter{IDs: []uint{3, 700000, 12}}, 0, nil, false},
		{"by date", Filter{From: "2026-01-01", To: "2026-01-31"}, 0, nil, true},
	}
	for _, c := range cases {
		p, err := c.filter.parse()
		if err != nil {
			t.Fatal(err)
		}
		q := func(tx *gorm.DB) *gorm.DB {
			var rows []models.Verification
			return listQuery(tx, p, c.before, 0, 50).Find(&rows)
		}
		// A prefix search is several statements (services.PrefixIDs), which
		// ones depending on the data: the plans are those of every statement
		// it may run.
		var prefixStmts []string
		if keys := p.prefixKeys(models.DialectOf(db)); keys != nil {
			prefixStmts = services.PrefixStatements(p.apply(db.Model(&models.Verification{})), keys, c.before, 0, 50)
		}
		dbtest.CheckListPlan(t, db, dbtest.ListPlan{Name: c.name, Table: "verifications", Filtered: !reflect.DeepEqual(c.filter, Filter{}),
			MaySort: c.sorts, Want: c.want}, q, prefixStmts)
	}
	// The export reads batches by the same indexes.
	p, _ := Filter{State: "in_progress"}.parse()
	batch := func(tx *gorm.DB) *gorm.DB {
		var rows []models.Verification
		return services.KeysetBatch(p.apply(tx.Model(&models.Verification{}).Select(listColumns)), 1000, 1000).Find(&rows)
	}
	dbtest.CheckReadsInOrder(t, db, "export batch", batch, "verifications_state")
	now := time.Now()
	for name, c := range map[string]struct {
		q    func(tx *gorm.DB) *gorm.DB
		want string
	}{
		"reconciler": {func(tx *gorm.DB) *gorm.DB {
			var rows []models.Verification
			return dueQuery(tx, now).Find(&rows)
		}, "verifications_due"},
	} {
		dbtest.CheckReadsInOrder(t, db, name, c.q, c.want)
	}
}
