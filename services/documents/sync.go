package documents

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"

	"portal/models"
	"portal/services/lifecycle"
	"portal/services/pasby"
)

// check refreshes one document from pasby and records what pasby says.
// The error is pasby's when it could not tell (the document keeps its state
// and the next check is scheduled with backoff).
func (s *Service) check(ctx context.Context, d models.Document) error {
	if d.UpstreamID == nil {
		return nil
	}
	answer, err := s.upstream.Refresh(ctx, *d.UpstreamID)
	return s.record(ctx, d, answer, err)
}

// record applies the answer (or error) of a refresh of d.
func (s *Service) record(ctx context.Context, d models.Document, answer pasby.DocumentResponse, err error) error {
	now := s.now().UTC()
	from := []models.DocumentState{d.State}
	open := d.State.Open()
	switch {
	case err == nil:
	case errors.Is(err, pasby.ErrExpired) && open:
		_, terr := s.transition(ctx, d.ID, from, models.DocumentExpired, nil, "pasby reports the document expired before everyone signed", nil)
		return terr
	case errors.Is(err, pasby.ErrCancelled) && open:
		_, terr := s.transition(ctx, d.ID, from, models.DocumentCancelled, nil, "pasby reports the document was cancelled", nil)
		return terr
	default:
		s.opts.Logger.Warn("document check failed", "document_id", d.ID, "err", err)
		if open {
			// The state stays; only the schedule moves.
			if uerr := s.update(ctx, d.ID, from, &change{
				NextCheckAt: new(now.Add(s.backoff(d.CheckAttempts + 1))), CheckAttempts: new(d.CheckAttempts + 1),
			}, nil); uerr != nil {
				return errors.Join(err, uerr)
			}
		}
		return err
	}
	c := documentChange(answer)
	exp := d.Exp
	if t := unixTime(answer.Document.Exp); t != nil {
		exp = t
	}
	to := stateAfter(d.State, answer.Document, exp, now)
	apply := func(tx *gorm.DB) error { return s.applySignees(tx, d.ID, answer.Document, now) }
	if to != d.State && CanTransition(d.State, to) {
		// Progress: look again soon.
		c.CheckAttempts, c.NextCheckAt = new(0), new(now.Add(s.opts.FirstCheck))
		_, terr := s.transition(ctx, d.ID, from, to, c, noteFor(to), apply)
		return terr
	}
	if open {
		c.CheckAttempts, c.NextCheckAt = new(d.CheckAttempts+1), new(now.Add(s.backoff(d.CheckAttempts+1)))
	} else if d.State != models.DocumentCompleted {
		return nil // final: nothing pasby says changes it
	}
	return s.update(ctx, d.ID, from, c, apply)
}

// stateAfter is where a document in state cur goes given pasby's view:
// completed once stamped (or everyone signed), expired once exp has passed
// unfinished, in progress once someone opened or signed it.
func stateAfter(cur models.DocumentState, doc pasby.Document, exp *time.Time, now time.Time) models.DocumentState {
	if cur.Final() {
		return cur
	}
	if doc.Completed() {
		return models.DocumentCompleted
	}
	if exp != nil && !now.Before(*exp) {
		return models.DocumentExpired
	}
	started := false
	for _, e := range doc.StatusLog {
		started = started || e.Status == pasby.StatusViewing || e.Status == pasby.StatusSigned
	}
	for _, sg := range doc.Signees {
		started = started || sg.SignedAt > 0
	}
	if started || cur == models.DocumentInProgress {
		return models.DocumentInProgress
	}
	return models.DocumentSubmitted
}

func noteFor(to models.DocumentState) string {
	switch to {
	case models.DocumentInProgress:
		return "a signee opened the document"
	case models.DocumentCompleted:
		return "everyone signed; pasby stamped the document"
	case models.DocumentExpired:
		return "the document expired before everyone signed"
	}
	return "pasby reports " + string(to)
}

// ReconcileOnce checks every open document that is due and returns how
// many it checked.
func (s *Service) ReconcileOnce(ctx context.Context) (int, error) {
	now := s.now().UTC()
	var due []models.Document
	if err := dueQuery(s.db.WithContext(ctx), now).Find(&due).Error; err != nil {
		return 0, err
	}
	checked := 0
	for _, d := range due {
		if ctx.Err() != nil {
			return checked, ctx.Err()
		}
		if !d.State.Open() {
			// Not expected (transition clears the schedule), but never
			// poll a closed document for ever.
			if err := s.db.WithContext(ctx).Model(&models.Document{}).Where("id = ? AND state = ?", d.ID, d.State).
				Update("next_check_at", nil).Error; err != nil {
				return checked, err
			}
			continue
		}
		// Another replica may have taken it since the query.
		mine, err := documentLifecycle.ClaimDue(ctx, s.db, now, d.ID, s.opts.Lease)
		if err != nil {
			return checked, err
		}
		if mine {
			_ = s.check(ctx, d) // logged and rescheduled inside
			checked++
		}
	}
	return checked, nil
}

// dueQuery is the reconciler's query, shared with the plan test.
// next_check_at is only ever set on open documents (transition clears it on
// every other state), so the partial index documents_due holds exactly
// them; naming the states here would make SQLite prefer documents_state
// and sort.
func dueQuery(db *gorm.DB, now time.Time) *gorm.DB {
	return db.Model(&models.Document{}).Where("next_check_at <= ?", now).Order("next_check_at").Limit(50)
}

// RunReconciler processes the webhook inbox and checks due documents every
// tick, and at once when a webhook arrives, until ctx ends.
func (s *Service) RunReconciler(ctx context.Context, tick time.Duration) {
	lifecycle.RunReconciler(ctx, tick, s.wake, s.opts.Logger,
		lifecycle.Step{Name: "document recovery", Run: s.RecoverLapsed},
		lifecycle.Step{Name: "document webhook inbox", Run: s.ProcessInbox},
		lifecycle.Step{Name: "document reconciler", Run: s.ReconcileOnce})
}
