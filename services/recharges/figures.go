package recharges

import (
	"portal/models"

	"context"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
	"gorm.io/gorm"
)

// Figures over the recharges table for the operations dashboard. They take
// the database rather than hang off Service, so the dashboard can compose
// them with only the *gorm.DB it has (no 1flow client); each is one
// indexed query.

// CountByState counts every recharge by state, from the counts the
// database keeps (models.SumFigures): a few rows per day, however many
// recharges there are.
func CountByState(ctx context.Context, db *gorm.DB) (map[string]int64, error) {
	sums, err := models.SumFigures(ctx, db, "recharge", time.Time{}, nil, "state")
	if err != nil {
		return nil, fmt.Errorf("recharges: by state: %w", err)
	}
	out := map[string]int64{}
	for _, s := range sums {
		if s.N != 0 {
			out[s.State] = s.N
		}
	}
	return out, nil
}

// CountFailedSince counts the failed recharges created at or after since.
func CountFailedSince(ctx context.Context, db *gorm.DB, since time.Time) (int64, error) {
	var n int64
	if err := failedSinceQuery(db.WithContext(ctx), since).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("recharges: failed: %w", err)
	}
	return n, nil
}

// failedSinceQuery reads the recharges_created range: "+state" keeps
// SQLite off the state index, as the last day's rows by created_at are far
// fewer than all the failed ones.
func failedSinceQuery(db *gorm.DB, since time.Time) *gorm.DB {
	return db.Table("recharges").Where(models.DialectOf(db).Unindexed("state")+" = 'failed' AND created_at >= ?", since)
}

// Day is one UTC day of recharges.
type Day struct {
	Day       time.Time                  // 00:00 UTC
	Count     int64                      // recharges created that day
	Completed int64                      // of which completed
	Amounts   map[string]decimal.Decimal // completed amount per currency
}

// Daily returns days days of recharges starting with the UTC day first
// (00:00 UTC), oldest first, and how many of them completed in each
// currency, from the per-day counts the database keeps. Amounts are summed
// in minor units by the database and become decimals here, so no amount is
// ever a float.
func Daily(ctx context.Context, db *gorm.DB, first time.Time, days int) ([]Day, map[string]int64, error) {
	out := make([]Day, days)
	for i := range out {
		out[i] = Day{Day: first.AddDate(0, 0, i), Amounts: map[string]decimal.Decimal{}}
	}
	sums, err := models.SumFigures(ctx, db, "recharge", first, nil, "day", "state", "sub")
	if err != nil {
		return nil, nil, fmt.Errorf("recharges: per day: %w", err)
	}
	perCurrency := map[string]int64{}
	for _, r := range sums {
		day, err := time.Parse("2006-01-02", r.Day)
		if err != nil {
			continue
		}
		i := int(day.Sub(first) / (24 * time.Hour))
		if i < 0 || i >= days || r.N == 0 {
			continue
		}
		d := &out[i]
		d.Count += r.N
		if r.State != string(models.RechargeCompleted) {
			continue
		}
		d.Completed += r.N
		d.Amounts[r.Sub] = d.Amounts[r.Sub].Add(decimal.New(r.AmountMinor, -2))
		perCurrency[r.Sub] += r.N
	}
	return out, perCurrency, nil
}
