package casework

import (
	"testing"
	"time"

	"gorm.io/gorm"

	"portal/internal/dbtest"
	"portal/models"
)

// The queues must stay fast at a million rows: each reads an index in the
// queue's order, oldest or newest first, and stops after the page,
// whatever the filter.
func TestQueueQueriesReadIndexesInOrder(t *testing.T) {
	db := dbtest.Open(t)
	doc, ver := kinds[models.CaseDocument], kinds[models.CaseVerification]
	cutoff := time.Now()
	type check struct {
		q    func(tx *gorm.DB) *gorm.DB
		want string
	}
	checks := map[string]check{
		"late first decisions": {func(tx *gorm.DB) *gorm.DB {
			var rows []record
			return lateQuery(tx, doc, doc.states[0], cutoff).Scan(&rows)
		}, "documents_review_queue"},
	}
	for _, newest := range []bool{false, true} {
		order := "oldest first"
		if newest {
			order = "newest first"
		}
		for _, c := range []struct {
			name  string
			kd    *kind
			state string
			free  bool
			index string
		}{
			{"documents, everyone's", doc, doc.states[0], false, "documents_review_queue"},
			{"documents, unassigned", doc, doc.states[0], true, "documents_review_queue"},
			{"verifications (one state), everyone's", ver, ver.states[0], false, "verifications_review_queue"},
			{"verifications (one state), unassigned", ver, ver.states[1], true, "verifications_review_queue"},
		} {
			checks[c.name+", "+order] = check{func(tx *gorm.DB) *gorm.DB {
				var rows []record
				return waitingQuery(tx, c.kd, c.state, c.free, newest, 50).Scan(&rows)
			}, c.index}
		}
		checks["mine, "+order] = check{func(tx *gorm.DB) *gorm.DB {
			var rows []models.ReviewCase
			return mineQuery(tx, models.CaseDocument, 7, newest, 50).Find(&rows)
		}, "review_cases_mine"}
		checks["awaiting a second review, "+order] = check{func(tx *gorm.DB) *gorm.DB {
			var rows []models.ReviewCase
			return secondQuery(tx, models.CaseVerification, newest, 50).Find(&rows)
		}, "review_cases_stage"}
	}
	for name, c := range checks {
		dbtest.CheckReadsInOrder(t, db, name, c.q, c.want)
	}
}
