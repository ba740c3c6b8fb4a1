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

// CountByState counts every recharge by state.
func CountByState(ctx context.Context, db *gorm.DB) (map[string]int64, error) {
	var rows []struct {
		State string
		N     int64
	}
	if err := db.WithContext(ctx).Table("recharges").Select("state, COUNT(*) AS n").Group("state").Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("recharges: by state: %w", err)
	}
	out := map[string]int64{}
	for _, r := range rows {
		out[r.State] = r.N
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
// currency. It groups by day, state, currency and amount in SQL (the
// recharges_created index range); the amounts are multiplied out and summed
// here as decimals, so no amount is ever a float and no row's timestamp is
// parsed in Go.
func Daily(ctx context.Context, db *gorm.DB, first time.Time, days int) ([]Day, map[string]int64, error) {
	out := make([]Day, days)
	for i := range out {
		out[i] = Day{Day: first.AddDate(0, 0, i), Amounts: map[string]decimal.Decimal{}}
	}
	var rows []struct {
		Day       string
		Completed bool
		Currency  string
		Amount    string
		N         int64
	}
	if err := dailyQuery(db.WithContext(ctx), first).Scan(&rows).Error; err != nil {
		return nil, nil, fmt.Errorf("recharges: per day: %w", err)
	}
	perCurrency := map[string]int64{}
	for _, r := range rows {
		day, err := time.Parse("2006-01-02", r.Day)
		if err != nil {
			continue
		}
		i := int(day.Sub(first) / (24 * time.Hour))
		if i < 0 || i >= days {
			continue
		}
		d := &out[i]
		d.Count += r.N
		if !r.Completed {
			continue
		}
		amt, err := decimal.NewFromString(r.Amount)
		if err != nil {
			continue
		}
		d.Completed += r.N
		d.Amounts[r.Currency] = d.Amounts[r.Currency].Add(amt.Mul(decimal.NewFromInt(r.N)))
		perCurrency[r.Currency] += r.N
	}
	return out, perCurrency, nil
}

func dailyQuery(db *gorm.DB, first time.Time) *gorm.DB {
	return db.Table("recharges").
		Select(models.DialectOf(db).Day("created_at")+" AS day, state = 'completed' AS completed, currency, amount, COUNT(*) AS n").
		Where("created_at >= ?", first).Group("1, 2, 3, 4")
}
