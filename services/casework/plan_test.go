package casework

import (
	"testing"
	"time"

	"gorm.io/gorm"

	"portal/internal/dbtest"
	"portal/models"
)

// The queues must stay fast at a million rows: each reads an index in the
// queue's order and stops after the page, whatever the filter.
func TestQueueQueriesReadIndexesInOrder(t *testing.T) {
	db := dbtest.Open(t)
	doc, ver := kinds[models.CaseDocument], kinds[models.CaseVerification]
	cutoff := time.Now()
	for name, c := range map[string]struct {
		q    func(tx *gorm.DB) *gorm.DB
		want string
	}{
		"documents, everyone's": {func(tx *gorm.DB) *gorm.DB {
			var rows []record
			return waitingQuery(tx, doc, doc.states[0], false, 50).Scan(&rows)
		}, "documents_review_queue"},
		"documents, unassigned": {func(tx *gorm.DB) *gorm.DB {
			var rows []record
			return waitingQuery(tx, doc, doc.states[0], true, 50).Scan(&rows)
		}, "documents_review_queue"},
		"verifications (one state), unassigned": {func(tx *gorm.DB) *gorm.DB {
			var rows []record
			return waitingQuery(tx, ver, ver.states[1], true, 50).Scan(&rows)
		}, "verifications_review_queue"},
		"mine": {func(tx *gorm.DB) *gorm.DB {
			var rows []models.ReviewCase
			return mineQuery(tx, models.CaseDocument, 7, 50).Find(&rows)
		}, "review_cases_mine"},
		"awaiting a second review": {func(tx *gorm.DB) *gorm.DB {
			var rows []models.ReviewCase
			return secondQuery(tx, models.CaseVerification, 50).Find(&rows)
		}, "review_cases_stage"},
		"late first decisions": {func(tx *gorm.DB) *gorm.DB {
			var rows []record
			return tx.Table("documents").Select("1").Where("review_decision = '' AND state = ? AND completed_at < ?", doc.states[0], cutoff).Limit(LateCap).Scan(&rows)
		}, "documents_review_queue"},
	} {
		dbtest.CheckReadsInOrder(t, db, name, c.q, c.want)
	}
}
