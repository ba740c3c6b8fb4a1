package verifications

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"portal/models"
	"portal/services"
)

// MaxReviewNote is the longest review note, in characters.
const MaxReviewNote = 1000

// reviewable are the states compliance reviews: the provider decided, so
// there is identity data and a verdict to check. Expired, aborted and
// failed verifications have nothing to review.
var reviewable = []models.VerificationState{models.VerificationApproved, models.VerificationDeclined}

// Review records compliance's decision ("approved" or "flagged", a note
// required when flagged) on a verification the provider approved or
// declined. One decision per verification.
func (s *Service) Review(ctx context.Context, actor services.Actor, id uint, decision, note string) (models.VerificationReview, error) {
	dec := models.ReviewDecision(strings.TrimSpace(decision))
	note = strings.TrimSpace(note)
	errs := services.FieldErrors{}
	if !dec.Valid() {
		errs["decision"] = "Choose approved or flagged."
	}
	switch n := utf8.RuneCountInString(note); {
	case !utf8.ValidString(note):
		errs["note"] = "The note contains characters that are not text."
	case n == 0 && dec == models.ReviewFlagged:
		errs["note"] = "Say why the verification is flagged."
	case n > MaxReviewNote:
		errs["note"] = fmt.Sprintf("The note is too long: at most %d characters.", MaxReviewNote)
	}
	if len(errs) > 0 {
		return models.VerificationReview{}, errs
	}
	if _, err := s.Get(ctx, id); err != nil {
		return models.VerificationReview{}, err
	}
	now := s.now().UTC()
	rev := models.VerificationReview{VerificationID: id, Decision: dec, Note: note, ReviewerEmail: actor.Email, DecidedAt: now}
	if actor.ID != 0 {
		uid := actor.ID
		rev.ReviewerID = &uid
	}
	err := services.WithTx(ctx, s.db, func(tx *gorm.DB) error {
		res := tx.Model(&models.Verification{}).Where("id = ? AND state IN ? AND review_decision = ''", id, reviewable).
			Select("review_decision", "updated_at").Updates(&models.Verification{ReviewDecision: dec, UpdatedAt: now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			var cur models.Verification
			if err := tx.Select("id", "state").Take(&cur, id).Error; err != nil {
				return err
			}
			if !cur.State.Reviewable() {
				return ErrNotReviewable
			}
			return ErrAlreadyReviewed
		}
		if err := tx.Create(&rev).Error; err != nil {
			return err
		}
		return services.Audit(tx, now, actor, "verification.reviewed", verificationLifecycle.Subject(id), fmt.Sprintf("decision=%s note=%q", dec, note))
	})
	switch {
	case errors.Is(err, ErrNotReviewable), errors.Is(err, ErrAlreadyReviewed):
		return models.VerificationReview{}, err
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return models.VerificationReview{}, ErrAlreadyReviewed
	case err != nil:
		return models.VerificationReview{}, fmt.Errorf("verifications: review %d: %w", id, err)
	}
	return rev, nil
}

// ReviewQueue returns provider-decided verifications without our decision,
// oldest decision first, at most limit. Each state is read in index order
// and the two are merged here: an IN over both would make SQLite sort
// every waiting row.
func (s *Service) ReviewQueue(ctx context.Context, limit int) ([]models.Verification, error) {
	var out []models.Verification
	for _, st := range reviewable {
		var rows []models.Verification
		if err := reviewQueueQuery(s.db.WithContext(ctx), st, limit).Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("verifications: review queue: %w", err)
		}
		out = append(out, rows...)
	}
	slices.SortStableFunc(out, func(a, b models.Verification) int {
		if c := compareTimes(a.CompletedAt, b.CompletedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func compareTimes(a, b *time.Time) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	return a.Compare(*b)
}

func reviewQueueQuery(db *gorm.DB, state models.VerificationState, limit int) *gorm.DB {
	return db.Model(&models.Verification{}).Select(listColumns).Where("review_decision = '' AND state = ?", state).
		Order("completed_at, id").Limit(limit)
}

// Image returns a stored portrait or face image and audits that actor saw
// it. Who may (compliance, admin) is decided in web/.
func (s *Service) Image(ctx context.Context, actor services.Actor, id uint, kind string) (contentType string, data []byte, err error) {
	if kind != "portrait" && kind != "face" {
		return "", nil, ErrNoImage
	}
	var img models.VerificationImage
	err = s.db.WithContext(ctx).Where("verification_id = ? AND kind = ?", id, kind).Take(&img).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return "", nil, ErrNoImage
	}
	if err != nil {
		return "", nil, fmt.Errorf("verifications: image: %w", err)
	}
	if err := services.WithTx(ctx, s.db, func(tx *gorm.DB) error {
		return services.Audit(tx, s.now(), actor, "verification.image_viewed", verificationLifecycle.Subject(id), "kind="+kind)
	}); err != nil {
		return "", nil, err
	}
	return img.ContentType, img.Data, nil
}
