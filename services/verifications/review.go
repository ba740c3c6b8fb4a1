package verifications

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"

	"portal/models"
	"portal/services"
)

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
