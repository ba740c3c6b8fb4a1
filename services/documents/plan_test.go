package documents

import (
	"reflect"
	"testing"
	"time"

	"gorm.io/gorm"

	"portal/internal/dbtest"
	"portal/models"
	"portal/services"
)

// The lists must stay fast at a million rows. Timing them here would be
// flaky on shared machines, so this checks what makes them fast: every
// filter is an index search, and no query sorts the table or scans it.
func TestListQueriesUseIndexes(t *testing.T) {
	db := dbtest.Open(t)
	cases := []struct {
		name   string
		filter Filter
		before uint
		want   []string // indexes the plan must use
		sorts  bool     // a sort of the matches is acceptable (date searches)
	}{
		{"newest first", Filter{}, 0, nil, false},
		{"deep page", Filter{}, 500000, nil, false},
		{"by state", Filter{State: "in_progress"}, 0, []string{"documents_state"}, false},
		{"by compliance reason", Filter{Reason: "other"}, 0, []string{"documents_compliance_reason"}, false},
		{"by state, deep page", Filter{State: "completed"}, 900000, []string{"documents_state"}, false},
		{"by kind", Filter{Kind: "review"}, 0, []string{"documents_kind"}, false},
		{"not reviewed", Filter{Decision: "none"}, 0, []string{"documents_decision"}, false},
		{"flagged", Filter{Decision: "flagged"}, 0, []string{"documents_decision"}, false},
		{"by title prefix", Filter{Q: "Loan"}, 0, []string{"documents_title", "documents_reference", "documents_upstream"}, false},
		{"by NIN prefix", Filter{Q: "1234567"}, 0, []string{"documents_title", "document_signees_nin"}, false},
		{"by upstream id", Filter{Q: "doc_6f1c"}, 0, []string{"documents_upstream"}, false},
		{"by NIN prefix, completed, deep page", Filter{Q: "1234567", State: "completed"}, 700000, []string{"document_signees_nin"}, false},
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
			var rows []models.Document
			return listQuery(tx, p, c.before, 0, 50).Find(&rows)
		}
		// A prefix search is several statements (services.PrefixIDs), which
		// ones depending on the data: the plans are those of every statement
		// it may run.
		var prefixStmts []string
		if keys := p.prefixKeys(models.DialectOf(db)); keys != nil {
			prefixStmts = services.PrefixStatements(p.apply(db.Model(&models.Document{})), keys, c.before, 0, 50)
		}
		dbtest.CheckListPlan(t, db, dbtest.ListPlan{Name: c.name, Table: "documents", Filtered: !reflect.DeepEqual(c.filter, Filter{}),
			MaySort: c.sorts, Unread: []string{"document_signees"}, Want: c.want}, q, prefixStmts)
	}

	// The background queries read their partial indexes.
	now := time.Now()
	for name, c := range map[string]struct {
		q    func(tx *gorm.DB) *gorm.DB
		want string
	}{
		"reconciler": {func(tx *gorm.DB) *gorm.DB {
			var rows []models.Document
			return dueQuery(tx, now).Find(&rows)
		}, "documents_due"},
		"inbox": {func(tx *gorm.DB) *gorm.DB {
			var rows []models.WebhookInbox
			return tx.Where("provider = ? AND processed_at IS NULL", providerPasby).Order("id").Limit(100).Find(&rows)
		}, "webhook_inbox_pending"},
	} {
		dbtest.CheckReadsInOrder(t, db, name, c.q, c.want)
	}
}
