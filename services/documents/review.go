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
