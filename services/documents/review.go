package documents

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"gorm.io/gorm"

	"portal/models"
	"portal/services"
)

// MaxReviewNote is the longest review note, in characters.
const MaxReviewNote = 1000

// Review records a compliance decision ("approved" or "flagged", with a
// note required when flagged) on a completed document. There is one
// decision per document: a second one is ErrAlreadyReviewed. Who may review
// is decided in web/ (compliance and admin).
func (s *Service) Review(ctx context.Context, actor services.Actor, id uint, decision, note string) (models.DocumentReview, error) {
	dec := models.ReviewDecision(strings.TrimSpace(decision))
	note = strings.TrimSpace(note)
	errs := services.FieldErrors{}
	if !dec.Valid() {
		errs["decision"] = "Choose approved or flagged."
	}
	switch n := utf8.RuneCountInString(note); {
	case n == 0 && dec == models.ReviewFlagged:
		errs["note"] = "Say why the document is flagged."
	case n > MaxReviewNote:
		errs["note"] = fmt.Sprintf("The note is too long: at most %d characters.", MaxReviewNote)
	case !utf8.ValidString(note):
		errs["note"] = "The note contains characters that are not text."
	}
	if len(errs) > 0 {
		return models.DocumentReview{}, errs
	}
	if _, err := s.Get(ctx, id); err != nil {
		return models.DocumentReview{}, err
	}
	now := s.now().UTC()
	rev := models.DocumentReview{DocumentID: id, Decision: dec, Note: note, ReviewerEmail: actor.Email, DecidedAt: now}
	if actor.ID != 0 {
		uid := actor.ID
		rev.ReviewerID = &uid
	}
	err := services.WithTx(ctx, s.db, func(tx *gorm.DB) error {
		res := tx.Model(&models.Document{}).Where("id = ? AND state = ? AND review_decision = ''", id, models.DocumentCompleted).
			Select("review_decision", "updated_at").Updates(&models.Document{ReviewDecision: dec, UpdatedAt: now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			var cur models.Document
			if err := tx.Select("id", "state").Take(&cur, id).Error; err != nil {
				return err
			}
			if cur.State != models.DocumentCompleted {
				return ErrNotReviewable
			}
			return ErrAlreadyReviewed
		}
		if err := tx.Create(&rev).Error; err != nil {
			return err
		}
		return services.Audit(tx, now, actor, "document.reviewed", documentLifecycle.Subject(id), fmt.Sprintf("decision=%s note=%q", dec, note))
	})
	switch {
	case errors.Is(err, ErrNotReviewable), errors.Is(err, ErrAlreadyReviewed):
		return models.DocumentReview{}, err
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return models.DocumentReview{}, ErrAlreadyReviewed
	case err != nil:
		return models.DocumentReview{}, fmt.Errorf("documents: review %d: %w", id, err)
	}
	return rev, nil
}

// ReviewQueue returns completed documents without a decision, oldest
// completion first, at most limit.
func (s *Service) ReviewQueue(ctx context.Context, limit int) ([]models.Document, error) {
	var out []models.Document
	err := reviewQueueQuery(s.db.WithContext(ctx), limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("documents: review queue: %w", err)
	}
	return out, nil
}

// reviewQueueQuery is shared with the plan test; it reads the index
// documents_review_queue in order.
func reviewQueueQuery(db *gorm.DB, limit int) *gorm.DB {
	return db.Model(&models.Document{}).Where("review_decision = '' AND state = ?", models.DocumentCompleted).
		Order("completed_at, id").Limit(limit)
}

// MaskNIN shows only the last 4 digits of a NIN unless reveal is true:
// "•••••••8901". Anything shorter than 5 characters is masked entirely.
func MaskNIN(nin string, reveal bool) string {
	if reveal {
		return nin
	}
	n := utf8.RuneCountInString(nin)
	if n < 5 {
		return strings.Repeat("•", n)
	}
	r := []rune(nin)
	return strings.Repeat("•", n-4) + string(r[n-4:])
}

// RevealNIN returns a signee's full NIN and writes an audit event saying
// who saw it. Whether the actor may (compliance, admin) is
// checked in web/, as every role rule is.
func (s *Service) RevealNIN(ctx context.Context, actor services.Actor, docID, signeeID uint) (string, error) {
	var sg models.DocumentSignee
	err := s.db.WithContext(ctx).Where("id = ? AND document_id = ?", signeeID, docID).Take(&sg).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return "", models.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("documents: signee %d: %w", signeeID, err)
	}
	err = services.WithTx(ctx, s.db, func(tx *gorm.DB) error {
		return services.Audit(tx, s.now(), actor, "document.nin_revealed", documentLifecycle.Subject(docID),
			fmt.Sprintf("signee=%d nin=%s", sg.ID, MaskNIN(sg.NIN, false)))
	})
	if err != nil {
		return "", err
	}
	return sg.NIN, nil
}
