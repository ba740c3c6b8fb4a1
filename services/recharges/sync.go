package recharges

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"gorm.io/gorm"

	"portal/models"
	"portal/services"
	"portal/services/lifecycle"
	"portal/services/oneflow"
	"portal/services/upstream"
)

// The reconciler follows every recharge 1flow accepted until it is final:
// one background loop polls what is due, with backoff, so status pages only
// read the database. Refresh is the same check on demand.

// ReconcileOnce checks every recharge that is due and returns how many it
// checked.
func (s *Service) ReconcileOnce(ctx context.Context) (int, error) {
	now := s.now().UTC()
	var due []models.Recharge
	if err := s.db.WithContext(ctx).
		Where("state IN ? AND next_check_at <= ?", []models.RechargeState{models.RechargeSubmitted, models.RechargePending}, now).
		Order("next_check_at").Limit(50).Find(&due).Error; err != nil {
		return 0, fmt.Errorf("recharges: due: %w", err)
	}
	checked := 0
	for _, r := range due {
		if ctx.Err() != nil {
			return checked, ctx.Err()
		}
		// Another replica may have taken it since the query.
		mine, err := rechargeLifecycle.ClaimDue(ctx, s.db, now, r.ID, s.opts.Lease)
		if err != nil {
			return checked, err
		}
		if mine {
			s.check(ctx, r)
			checked++
		}
	}
	return checked, nil
}

// check polls one recharge and schedules the next check with backoff.
func (s *Service) check(ctx context.Context, r models.Recharge) {
	if r.UpstreamID == nil {
		return
	}
	answer, err := s.upstream.GetRecharge(ctx, *r.UpstreamID)
	now := s.now().UTC()
	next := now.Add(s.backoff(r.CheckAttempts + 1))
	from := []models.RechargeState{r.State}
	if errors.Is(err, upstream.ErrNotFound) {
		// 1flow says this id does not exist: nobody knows what happened to
		// the money, so a person has to look.
		if _, terr := s.transition(ctx, r.ID, from, models.RechargeUnknown,
			&change{Error: new("1flow no longer knows this recharge id. Check with 1flow what happened to it.")}, "", "1flow answered 404 for the recharge id"); terr != nil {
			s.opts.Logger.Error("recharge update", "recharge_id", r.ID, "err", terr)
		}
		return
	}
	attempts := r.CheckAttempts + 1
	if err != nil {
		s.opts.Logger.Warn("recharge check failed", "recharge_id", r.ID, "err", err)
		// The state stays; only the schedule moves.
		if _, uerr := rechargeLifecycle.Update(ctx, s.db, now, r.ID, from, &change{NextCheckAt: &next, CheckAttempts: &attempts}, nil); uerr != nil {
			s.opts.Logger.Error("recharge reschedule", "recharge_id", r.ID, "err", uerr)
		}
		return
	}
	to := stateFor(answer.Status)
	c := answerChange(answer)
	c.CheckAttempts, c.NextCheckAt = &attempts, &next
	if to == models.RechargeFailed {
		c.Error = new("1flow reported the recharge as failed.")
	}
	if to == r.State {
		// Nothing new: no timeline entry, just the next check.
		if _, uerr := rechargeLifecycle.Update(ctx, s.db, now, r.ID, from, c, nil); uerr != nil {
			s.opts.Logger.Error("recharge reschedule", "recharge_id", r.ID, "err", uerr)
		}
		return
	}
	if _, err := s.transition(ctx, r.ID, from, to, c, answer.Status, "1flow reports "+answer.Status); err != nil {
		s.opts.Logger.Error("recharge update", "recharge_id", r.ID, "err", err)
	}
}

// RunReconciler checks due recharges every tick until ctx ends.
func (s *Service) RunReconciler(ctx context.Context, tick time.Duration) {
	lifecycle.RunReconciler(ctx, tick, nil, s.opts.Logger,
		lifecycle.Step{Name: "recharge recovery", Run: s.RecoverLapsed},
		lifecycle.Step{Name: "recharge reconciler", Run: s.ReconcileOnce})
}

// Refresh asks 1flow about an open recharge now (the "refresh now" button
// support uses with a customer on the phone) and audits that staff asked;
// the answer is recorded as the reconciler would.
func (s *Service) Refresh(ctx context.Context, actor services.Actor, id uint) (models.Recharge, error) {
	r, err := s.Get(ctx, id)
	if err != nil {
		return models.Recharge{}, err
	}
	if r.UpstreamID == nil || (r.State != models.RechargeSubmitted && r.State != models.RechargePending) {
		return r, ErrNotOpen
	}
	s.check(context.WithoutCancel(ctx), r)
	if err := services.WithTx(ctx, s.db, func(tx *gorm.DB) error {
		return services.Audit(tx, s.now(), actor, "recharge.refreshed", rechargeLifecycle.Subject(id), "")
	}); err != nil {
		return r, err
	}
	return s.Get(ctx, id)
}

// RecoverLapsed settles what a process that died mid-way left behind, once
// its claim has run out (a live replica's never is taken): a recharge still
// "submitting" may have reached 1flow, so it becomes unknown; one still
// "queued" was never sent, and fails with a note. It returns how many it
// settled.
func (s *Service) RecoverLapsed(ctx context.Context) (int, error) {
	var stuck []models.Recharge
	if err := s.db.WithContext(ctx).Where("state IN ?", []models.RechargeState{models.RechargeSubmitting, models.RechargeQueued}).
		Scopes(lifecycle.Lapsed(s.now())).Order("id").Limit(100).Find(&stuck).Error; err != nil {
		return 0, fmt.Errorf("recharges: recover: %w", err)
	}
	for _, r := range stuck {
		var err error
		if r.State == models.RechargeSubmitting {
			_, err = s.transition(ctx, r.ID, []models.RechargeState{models.RechargeSubmitting}, models.RechargeUnknown,
				&change{Error: new("The portal stopped while sending this recharge to 1flow, so it may or may not have gone through. It will not be sent again; check with 1flow.")},
				"", "the portal process sending it stopped during the call")
		} else {
			_, err = s.transition(ctx, r.ID, []models.RechargeState{models.RechargeQueued}, models.RechargeFailed,
				&change{Error: new("Not sent: the portal stopped before sending it. Start a new recharge if it is still needed."), CompletedAt: new(s.now().UTC())},
				"", "the portal process sending it stopped before sending")
		}
		if err != nil {
			return 0, err
		}
		s.opts.Logger.Warn("recovered recharge whose claim lapsed", "recharge_id", r.ID, "was", r.State, "claimed_by", r.ClaimedBy)
	}
	return len(stuck), nil
}

func stateFor(upstreamStatus string) models.RechargeState {
	switch strings.ToUpper(upstreamStatus) {
	case "COMPLETED":
		return models.RechargeCompleted
	case "FAILED":
		return models.RechargeFailed
	}
	return models.RechargePending
}

func nullDecimal(d decimal.NullDecimal) string {
	if !d.Valid {
		return ""
	}
	return d.Decimal.String()
}

// answerChange is what an upstream answer fills.
func answerChange(a oneflow.Recharge) *change {
	c := &change{UpstreamStatus: &a.Status, LastUpstreamJSON: new(string(a.Raw))}
	for field, v := range map[**string]string{&c.CustomerName: a.Customer.Name, &c.CustomerPhone: a.Customer.PhoneNumber,
		&c.Currency: a.Currency, &c.Litres: nullDecimal(a.Litres), &c.PricePerLitre: nullDecimal(a.PricePerLitre),
		&c.BalanceAfter: nullDecimal(a.Balance)} {
		if v != "" {
			*field = new(v)
		}
	}
	if a.CompletedAt != nil {
		c.CompletedAt = new(a.CompletedAt.UTC())
	}
	return c
}
