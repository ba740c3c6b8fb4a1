package services

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"portal/models"
)

// MaxInboxAttempts is how often a stored webhook whose record could not be
// fetched is tried before it is given up; the reconciler still follows the
// record, so giving up loses no state.
const MaxInboxAttempts = 5

// inboxBatch bounds one pass so a backlog cannot hold the caller for long.
const inboxBatch = 100

// InboxHandler processes one stored webhook. It returns the error to record
// ("" when fine) and whether trying again later could help.
type InboxHandler func(ctx context.Context, row models.WebhookInbox) (msg string, retry bool)

// DrainInbox processes the unprocessed webhooks of the given providers,
// oldest first, and returns how many it finished. A webhook is finished when
// it succeeded, failed for good, or ran out of attempts. Each webhook is
// leased to this process while it handles it, so replicas draining the same
// inbox never handle one twice at once, and one a dead process held is
// taken again once its lease ran out.
func DrainInbox(ctx context.Context, db *gorm.DB, now func() time.Time, lease time.Duration, providers []string, handle InboxHandler) (int, error) {
	lapsed := "lease_until IS NULL OR lease_until < ?"
	var rows []models.WebhookInbox
	if err := db.WithContext(ctx).Where("provider IN ? AND processed_at IS NULL", providers).Where(lapsed, now().UTC()).
		Order("id").Limit(inboxBatch).Find(&rows).Error; err != nil {
		return 0, fmt.Errorf("inbox: %w", err)
	}
	done := 0
	for _, row := range rows {
		if ctx.Err() != nil {
			return done, ctx.Err()
		}
		at := now().UTC()
		claim := db.WithContext(ctx).Model(&models.WebhookInbox{}).Where("id = ? AND processed_at IS NULL", row.ID).
			Where(lapsed, at).Update("lease_until", at.Add(lease))
		if claim.Error != nil {
			return done, fmt.Errorf("inbox %d: claim: %w", row.ID, claim.Error)
		}
		if claim.RowsAffected == 0 {
			continue // another replica has it
		}
		msg, retry := handle(ctx, row)
		upd := models.WebhookInbox{Attempts: row.Attempts + 1, Error: msg}
		if !retry || upd.Attempts >= MaxInboxAttempts {
			t := now().UTC()
			upd.ProcessedAt = &t
			done++
		}
		// Select writes the empty error too, so a retry that then succeeds
		// clears the message of the attempt before.
		if err := db.WithContext(ctx).Model(&models.WebhookInbox{}).Where("id = ?", row.ID).
			Select("attempts", "error", "processed_at", "lease_until").Updates(&upd).Error; err != nil {
			return done, fmt.Errorf("inbox %d: %w", row.ID, err)
		}
	}
	return done, nil
}
