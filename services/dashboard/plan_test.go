package dashboard

import (
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"portal/internal/dbtest"
)

// The dashboard's range queries must read their indexes, not the tables:
// at a million rows a scan would make every dashboard load slow.
func TestQueriesUseIndexes(t *testing.T) {
	db := openDB(t)
	since := now.AddDate(0, 0, -Days)
	cases := []struct {
		name string
		q    func(tx *gorm.DB) *gorm.DB
		want string
	}{
		{"recharges per day", func(tx *gorm.DB) *gorm.DB {
			var out []map[string]any
			return tx.Table("recharges").Select("date(created_at), state = 'completed', currency, amount, COUNT(*)").
				Where("created_at >= ?", since).Group("1, 2, 3, 4").Find(&out)
		}, "recharges_created"},
		{"document times", func(tx *gorm.DB) *gorm.DB {
			var out []map[string]any
			return tx.Table("documents").Select("completed_at, created_at").Where("completed_at >= ?", since).Find(&out)
		}, "documents_completed"},
		{"verification outcomes", func(tx *gorm.DB) *gorm.DB {
			var out []map[string]any
			return tx.Table("verifications INDEXED BY verifications_created").Select("provider, state, COUNT(*)").
				Where("created_at >= ? AND +state IN ?", since, finalVerificationStates).Group("provider, state").Find(&out)
		}, "verifications_created"},
		{"stalled documents", func(tx *gorm.DB) *gorm.DB {
			var n int64
			return StalledQuery(tx, now).Count(&n)
		}, "documents_state"},
		{"failed today", func(tx *gorm.DB) *gorm.DB {
			var n int64
			return tx.Table("recharges").Where("+state = 'failed' AND created_at >= ?", now.Add(-24*time.Hour)).Count(&n)
		}, "recharges_created"},
	}
	for _, c := range cases {
		text := dbtest.Plan(t, db, c.q)
		if !strings.Contains(text, c.want) {
			t.Errorf("%s: plan does not use %s: %s", c.name, c.want, text)
		}
		t.Logf("%s: %s", c.name, text)
	}
}
