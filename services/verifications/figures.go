package verifications

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"portal/models"
)

// Figures over the verifications table for the operations dashboard. They
// take the database rather than hang off Service, so the dashboard can
// compose them with only the *gorm.DB it has (no provider clients); each is
// one indexed query, or one per state.

// CountByState counts every verification by state, from the counts the
// database keeps (models.SumFigures): a few rows per day, however many
// verifications there are.
func CountByState(ctx context.Context, db *gorm.DB) (map[string]int64, error) {
	sums, err := models.SumFigures(ctx, db, "verification", time.Time{}, nil, "state")
	if err != nil {
		return nil, fmt.Errorf("verifications: by state: %w", err)
	}
	out := map[string]int64{}
	for _, s := range sums {
		if s.N != 0 {
			out[s.State] = s.N
		}
	}
	return out, nil
}

// CountFailedSince counts the failed verifications created at or after
// since.
func CountFailedSince(ctx context.Context, db *gorm.DB, since time.Time) (int64, error) {
	var n int64
	// "+state" keeps SQLite off the state index: the rows since a recent
	// time by created_at are far fewer than all the failed ones.
	if err := db.WithContext(ctx).Table("verifications").Where(models.DialectOf(db).Unindexed("state")+" = 'failed' AND created_at >= ?", since).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("verifications: failed: %w", err)
	}
	return n, nil
}

// CountInReview counts the verifications pawaPass holds in REVIEW.
func CountInReview(ctx context.Context, db *gorm.DB) (int64, error) {
	var n int64
	if err := db.WithContext(ctx).Table("verifications").Where("provider_status = 'REVIEW'").Count(&n).Error; err != nil {
		return 0, fmt.Errorf("verifications: in review: %w", err)
	}
	return n, nil
}

// CountReviewQueue returns how many approved or declined verifications wait
// for a review decision (from the kept counts) and when the one waiting
// longest completed (nil for none: the first entry of the review queue
// index for each state).
func CountReviewQueue(ctx context.Context, db *gorm.DB) (n int64, oldest *time.Time, err error) {
	db = db.WithContext(ctx)
	queued := []string{"approved", "declined"}
	sums, err := models.SumFigures(ctx, db, "verification", time.Time{}, queued, "decision")
	if err != nil {
		return 0, nil, fmt.Errorf("verifications: review queue: %w", err)
	}
	for _, s := range sums {
		if s.Decision == "" {
			n += s.N
		}
	}
	for _, st := range queued {
		var first []time.Time
		if err := db.Table("verifications").Where("review_decision = '' AND state = ? AND completed_at IS NOT NULL", st).
			Order("completed_at").Limit(1).Pluck("completed_at", &first).Error; err != nil {
			return 0, nil, fmt.Errorf("verifications: review queue age: %w", err)
		}
		if len(first) == 1 && (oldest == nil || first[0].Before(*oldest)) {
			t := first[0]
			oldest = &t
		}
	}
	return n, oldest, nil
}

// finalStates are the outcomes CountOutcomes counts.
var finalStates = []string{"approved", "declined", "expired", "aborted", "failed"}

// CountOutcomes counts the verifications created at or after the UTC day
// of since that reached a final state (approved, declined, expired, aborted
// or failed), by provider and state, from the kept counts. Every provider
// has a map, empty when it had none.
func CountOutcomes(ctx context.Context, db *gorm.DB, since time.Time) (map[models.VerificationProvider]map[string]int64, error) {
	sums, err := models.SumFigures(ctx, db, "verification", since, finalStates, "state", "sub")
	if err != nil {
		return nil, fmt.Errorf("verifications: outcomes: %w", err)
	}
	out := map[models.VerificationProvider]map[string]int64{
		models.ProviderPawaPass: {}, models.ProviderPassportReader: {},
	}
	for _, r := range sums {
		if r.N == 0 {
			continue
		}
		p := models.VerificationProvider(r.Sub)
		if out[p] == nil {
			out[p] = map[string]int64{}
		}
		out[p][r.State] = r.N
	}
	return out, nil
}
