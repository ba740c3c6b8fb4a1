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

// CountByState counts every verification by state.
func CountByState(ctx context.Context, db *gorm.DB) (map[string]int64, error) {
	var rows []struct {
		State string
		N     int64
	}
	if err := db.WithContext(ctx).Table("verifications").Select("state, COUNT(*) AS n").Group("state").Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("verifications: by state: %w", err)
	}
	out := map[string]int64{}
	for _, r := range rows {
		out[r.State] = r.N
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
// for a review decision and when the one waiting longest completed (nil for
// none), reading one index range per state.
func CountReviewQueue(ctx context.Context, db *gorm.DB) (n int64, oldest *time.Time, err error) {
	db = db.WithContext(ctx)
	for _, st := range []string{"approved", "declined"} {
		var c int64
		if err := db.Table("verifications").Where("review_decision = '' AND state = ?", st).Count(&c).Error; err != nil {
			return 0, nil, fmt.Errorf("verifications: review queue: %w", err)
		}
		n += c
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

// CountOutcomes counts the verifications created at or after since that
// reached a final state (approved, declined, expired, aborted or failed),
// by provider and state. Every provider has a map, empty when it had none.
func CountOutcomes(ctx context.Context, db *gorm.DB, since time.Time) (map[models.VerificationProvider]map[string]int64, error) {
	var rows []struct {
		Provider string
		State    string
		N        int64
	}
	if err := outcomesQuery(db.WithContext(ctx), since).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("verifications: outcomes: %w", err)
	}
	out := map[models.VerificationProvider]map[string]int64{
		models.ProviderPawaPass: {}, models.ProviderPassportReader: {},
	}
	for _, r := range rows {
		p := models.VerificationProvider(r.Provider)
		if out[p] == nil {
			out[p] = map[string]int64{}
		}
		out[p][r.State] = r.N
	}
	return out, nil
}

// outcomesQuery: without INDEXED BY SQLite walks the provider index to save
// the GROUP BY sort, reading every verification ever made; the created_at
// range is the few days asked for.
func outcomesQuery(db *gorm.DB, since time.Time) *gorm.DB {
	d := models.DialectOf(db)
	return db.Table(d.TableUsing("verifications", "verifications_created")).Select("provider, state, COUNT(*) AS n").
		Where("created_at >= ? AND "+d.Unindexed("state")+" IN ?", since, finalStates).Group("provider, state")
}
