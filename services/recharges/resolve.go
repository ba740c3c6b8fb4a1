package recharges

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"gorm.io/gorm"

	"portal/models"
	"portal/services"
	"portal/services/lifecycle"
	"portal/services/upstream"
)

// A recharge whose outcome is unknown (no answer after sending, a crash
// mid-call, an id 1flow forgot) is never re-sent: it waits in the
// needs-attention queue until a person asks 1flow and records the answer
// here.

// CountUnknown is the size of the needs-attention queue.
func (s *Service) CountUnknown(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&models.Recharge{}).Where("state = ?", models.RechargeUnknown).Count(&n).Error
	return n, err
}

// ResolveWithUpstreamID records the 1flow id of an unknown recharge after
// 1flow confirmed it exists; the reconciler then follows it as usual.
func (s *Service) ResolveWithUpstreamID(ctx context.Context, actor services.Actor, id uint, upstreamID string) (models.Recharge, error) {
	upstreamID = strings.TrimSpace(upstreamID)
	if !upstreamIDPattern.MatchString(upstreamID) {
		return models.Recharge{}, services.FieldErrors{"upstream_id": "Enter the recharge id 1flow gave, like 98466062-2548-4dca-9ef9-f1b4b09c92dc."}
	}
	var other models.Recharge
	err := s.db.WithContext(ctx).Where("upstream_id = ? AND id <> ?", upstreamID, id).Take(&other).Error
	if err == nil {
		return models.Recharge{}, services.FieldErrors{"upstream_id": fmt.Sprintf("Recharge #%d already has this 1flow id.", other.ID)}
	}
	rec, err := s.Get(ctx, id)
	if err != nil {
		return models.Recharge{}, err
	}
	if rec.State != models.RechargeUnknown {
		return rec, ErrNotUnknown
	}
	// Ask 1flow before believing the id: a typo, or someone else's
	// recharge, would otherwise be "tracked" forever or completed as if it
	// were this one.
	answer, err := s.upstream.GetRecharge(ctx, upstreamID)
	if errors.Is(err, upstream.ErrNotFound) {
		return models.Recharge{}, services.FieldErrors{"upstream_id": "1flow has no recharge with this id. Check it with 1flow."}
	}
	if err != nil {
		return models.Recharge{}, plain(err)
	}
	if answer.SerialNumber != "" && answer.SerialNumber != rec.Target() || !answer.Amount.Equal(rec.Amount) {
		return models.Recharge{}, services.FieldErrors{"upstream_id": fmt.Sprintf(
			"That 1flow recharge is for %s and %s, not for %s and %s.", answer.SerialNumber, answer.Amount, rec.Target(), rec.Amount)}
	}
	return s.resolve(ctx, lifecycle.Move[models.RechargeState]{ID: id, To: models.RechargeSubmitted,
		Change: &change{UpstreamID: &upstreamID, NextCheckAt: new(s.now().UTC()), CheckAttempts: new(0), Error: new("")},
		Note:   "1flow id entered by " + actor.Email,
		Audit:  &lifecycle.Audit{Actor: actor, Action: "recharge.resolved_upstream_id", Details: "upstream_id=" + upstreamID}})
}

// MarkNotSent closes an unknown recharge that 1flow confirmed it never
// received.
func (s *Service) MarkNotSent(ctx context.Context, actor services.Actor, id uint, note string) (models.Recharge, error) {
	note = strings.TrimSpace(note)
	if note == "" || len(note) > 500 {
		return models.Recharge{}, services.FieldErrors{"note": "Say how you checked, for example “1flow support confirmed no recharge for this device today”."}
	}
	msg := "Not sent: " + actor.Email + " checked with 1flow: " + note
	return s.resolve(ctx, lifecycle.Move[models.RechargeState]{ID: id, To: models.RechargeFailed,
		Change: &change{Error: &msg, CompletedAt: new(s.now().UTC())}, Note: msg,
		Audit: &lifecycle.Audit{Actor: actor, Action: "recharge.resolved_not_sent", Details: note}})
}

var upstreamIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{7,63}$`)

// resolve makes a person's move out of unknown and returns the recharge as
// it then stands.
func (s *Service) resolve(ctx context.Context, m lifecycle.Move[models.RechargeState]) (models.Recharge, error) {
	err := rechargeLifecycle.Resolve(ctx, s.db, s.now(), models.RechargeUnknown, m)
	switch {
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return models.Recharge{}, services.FieldErrors{"upstream_id": "Another recharge already has this 1flow id."}
	case errors.Is(err, lifecycle.ErrMoved):
		r, _ := s.Get(ctx, m.ID)
		return r, ErrNotUnknown
	case err != nil:
		return models.Recharge{}, err
	}
	return s.Get(ctx, m.ID)
}
