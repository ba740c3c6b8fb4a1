package documents

import (
	"portal/models"

	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Figures over the documents table for the operations dashboard. They take
// the database rather than hang off Service, so the dashboard can compose
// them with only the *gorm.DB it has (no pasby client); each is one
// indexed query, or one per state.

// CountByState counts every document by state, from the counts the
// database keeps (models.SumFigures): a few rows per day, however many
// documents there are.
func CountByState(ctx context.Context, db *gorm.DB) (map[string]int64, error) {
	sums, err := models.SumFigures(ctx, db, "document", time.Time{}, nil, "state")
	if err != nil {
		return nil, fmt.Errorf("documents: by state: %w", err)
	}
	out := map[string]int64{}
	for _, s := range sums {
		if s.N != 0 {
			out[s.State] = s.N
		}
	}
	return out, nil
}

// CountFailedSince counts the failed documents created at or after since.
func CountFailedSince(ctx context.Context, db *gorm.DB, since time.Time) (int64, error) {
	var n int64
	// "+state" keeps SQLite off the state index: the rows since a recent
	// time by created_at are far fewer than all the failed ones.
	if err := db.WithContext(ctx).Table("documents").Where(models.DialectOf(db).Unindexed("state")+" = 'failed' AND created_at >= ?", since).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("documents: failed: %w", err)
	}
	return n, nil
}

// CountStalled counts the open documents nobody acted on for StalledAfter
// before now, as the list's "stalled" filter selects them.
func CountStalled(ctx context.Context, db *gorm.DB, now time.Time) (int64, error) {
	var n int64
	if err := stalledQuery(db.WithContext(ctx), now).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("documents: stalled: %w", err)
	}
	return n, nil
}

func stalledQuery(db *gorm.DB, now time.Time) *gorm.DB {
	return db.Table("documents").Where(StalledSQL, now.Add(-StalledAfter))
}

// CountReviewQueue returns how many completed documents wait for a review
// decision (from the kept counts) and when the one waiting longest
// completed (nil for none: the first entry of the review queue index).
func CountReviewQueue(ctx context.Context, db *gorm.DB) (int64, *time.Time, error) {
	db = db.WithContext(ctx)
	const st = "completed"
	sums, err := models.SumFigures(ctx, db, "document", time.Time{}, []string{st}, "decision")
	if err != nil {
		return 0, nil, fmt.Errorf("documents: review queue: %w", err)
	}
	var n int64
	for _, s := range sums {
		if s.Decision == "" {
			n = s.N
		}
	}
	var oldest []time.Time
	if err := db.Table("documents").Where("review_decision = '' AND state = ? AND completed_at IS NOT NULL", st).
		Order("completed_at").Limit(1).Pluck("completed_at", &oldest).Error; err != nil {
		return 0, nil, fmt.Errorf("documents: review queue age: %w", err)
	}
	if len(oldest) == 1 {
		return n, &oldest[0], nil
	}
	return n, nil, nil
}

// CompletionTime is how many documents took Took from creation to
// completion and completed in the Week-th week after the since of
// CompletionTimes (0 for the first seven days).
type CompletionTime struct {
	Took time.Duration
	Week int
	N    int64
}

// CompletionTimes reads how long the documents completed on or after the
// UTC day of since took, to the minute (to the hour beyond 48 hours), from
// the times the database keeps per day of completion (models.SumDurations):
// a few rows per day, however many documents there are. Documents whose
// completion precedes their creation are not kept.
func CompletionTimes(ctx context.Context, db *gorm.DB, since time.Time) ([]CompletionTime, error) {
	sums, err := models.SumDurations(ctx, db, "document", since)
	if err != nil {
		return nil, fmt.Errorf("documents: completion times: %w", err)
	}
	first := since.UTC().Truncate(24 * time.Hour)
	out := make([]CompletionTime, 0, len(sums))
	for _, r := range sums {
		day, err := time.Parse("2006-01-02", r.Day)
		if err != nil || r.N <= 0 {
			continue
		}
		out = append(out, CompletionTime{Took: time.Duration(r.Minutes) * time.Minute, Week: int(day.Sub(first) / (7 * 24 * time.Hour)), N: r.N})
	}
	return out, nil
}
