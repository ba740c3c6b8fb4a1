package recharges

import (
	"context"
	"testing"
	"time"

	"gorm.io/gorm"

	"portal/internal/dbtest"
)

// The dashboard's range queries must read their indexes, not the table: at
// a million rows a scan would make every dashboard load slow.
func TestFigureQueriesUseIndexes(t *testing.T) {
	db := dbtest.Open(t)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	if dbtest.OnPostgres() {
		// Which is narrower, the failed recharges or the last day's, only
		// statistics tell (PostgreSQL has no "+state" hint, and its guess
		// without them favours the equality): 20,000 recharges, one every
		// 10 minutes back from now, a tenth failed, so the last day is
		// 144 of them and the failed 2,000.
		if err := db.Exec(`INSERT INTO recharges (idempotency_key, device_id, amount, currency, state, created_at, updated_at)
			SELECT 'k' || i, '68750000000001', 100.50, 'KES', CASE WHEN i % 10 = 0 THEN 'failed' ELSE 'completed' END,
				CAST(? AS timestamptz) - i * interval '10 minutes', CAST(? AS timestamptz) - i * interval '10 minutes'
			FROM generate_series(1, 20000) AS i`, now, now).Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Exec("ANALYZE recharges").Error; err != nil {
			t.Fatal(err)
		}
	}
	q := func(tx *gorm.DB) *gorm.DB {
		var n int64
		return failedSinceQuery(tx, now.Add(-24*time.Hour)).Count(&n)
	}
	dbtest.CheckUsesIndex(t, db, "failed today", q, "recharges_created")

	// The chart per day reads the counts the triggers keep, never the
	// recharges themselves.
	rec, stmts := dbtest.Record(db)
	if _, _, err := Daily(context.Background(), rec, now.AddDate(0, 0, -30), 30); err != nil {
		t.Fatal(err)
	}
	dbtest.CheckReadsInstead(t, db, "recharges per day", stmts.Take(), "recharges", "figure_counts")
}
