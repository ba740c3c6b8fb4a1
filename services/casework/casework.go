// Package casework is how compliance officers work the review queues
// together, for documents and verifications alike: a case is taken by one
// officer at a time ("take next" never gives two officers the same one), a
// decision carries a reason, a flagged or high-risk decision waits for a
// second officer (four eyes), and every case's time in the queue is
// measured against a target.
//
// Every step is a conditional write, so replicas and double clicks are
// safe, and writes its timeline event and audit entry in the same
// transaction. Who may do what by role (compliance and admin review; only
// admins give a case to someone else) is decided in web/.
package casework

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"portal/models"
	"portal/services"
)

// MaxNote is the longest note, in characters.
const MaxNote = 1000

// DefaultSLA is how long a case may wait before it is marked late.
const DefaultSLA = 24 * time.Hour

var (
	// ErrNotReviewable: the record is not (or no longer) in a state
	// compliance reviews.
	ErrNotReviewable = errors.New("casework: the record is not ready for review")
	// ErrAlreadyDecided: the record has its first decision already.
	ErrAlreadyDecided = errors.New("casework: the record already has a decision")
	// ErrNothingToTake: no unassigned case is waiting.
	ErrNothingToTake = errors.New("casework: no unassigned case is waiting")
	// ErrNotAwaitingSecond: the case has no decision waiting for a second
	// officer (none yet, or it was confirmed meanwhile).
	ErrNotAwaitingSecond = errors.New("casework: the case is not waiting for a second review")
	// ErrUnknownKind: a kind casework does not know.
	ErrUnknownKind = errors.New("casework: unknown record kind")
)

// AssignedError: the case is someone else's.
type AssignedError struct {
	Email string
	Since time.Time
}

func (e *AssignedError) Error() string { return "casework: the case is assigned to " + e.Email }

// Service runs the review casework.
type Service struct {
	db  *gorm.DB
	now services.Clock
	sla time.Duration
}

// New returns the casework service; sla is the queue-time target
// (DefaultSLA when zero).
func New(db *gorm.DB, now services.Clock, sla time.Duration) *Service {
	if sla <= 0 {
		sla = DefaultSLA
	}
	return &Service{db: db, now: now, sla: sla}
}

// SLA is the queue-time target.
func (s *Service) SLA() time.Duration { return s.sla }

// Now is the service's clock, for ages shown next to what it returned.
func (s *Service) Now() time.Time { return s.now().UTC() }

type actor services.Actor

func (a actor) idPtr() *uint {
	if a.ID == 0 {
		return nil
	}
	id := a.ID
	return &id
}

func kindOf(k models.CaseKind) (*kind, error) {
	kd, ok := kinds[k]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownKind, k)
	}
	return kd, nil
}

func subject(k models.CaseKind, id uint) string {
	return string(k) + ":" + strconv.FormatUint(uint64(id), 10)
}

// Case returns the case of a record, and false when nobody has taken or
// decided it yet.
func (s *Service) Case(ctx context.Context, k models.CaseKind, id uint) (models.ReviewCase, bool, error) {
	var c models.ReviewCase
	err := s.db.WithContext(ctx).Where("kind = ? AND record_id = ?", k, id).Take(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return models.ReviewCase{}, false, nil
	}
	if err != nil {
		return models.ReviewCase{}, false, fmt.Errorf("casework: case of %s: %w", subject(k, id), err)
	}
	return c, true, nil
}

// record is what casework reads of a record.
type record struct {
	ID             uint
	State          string
	ReviewDecision models.ReviewDecision
	CompletedAt    *time.Time
	UpdatedAt      time.Time
	HighRisk       bool
}

func (k *kind) load(tx *gorm.DB, id uint) (record, error) {
	var r record
	err := tx.Table(k.table).Select("id, state, review_decision, completed_at, updated_at, ("+k.highRiskSQL+") AS high_risk").
		Where("id = ?", id).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return record{}, models.ErrNotFound
	}
	return r, err
}

// loadUndecided loads record id for a first decision: it must be in a
// reviewable state and have none yet.
func (k *kind) loadUndecided(tx *gorm.DB, id uint) (record, error) {
	r, err := k.load(tx, id)
	switch {
	case err != nil:
		return record{}, err
	case !k.reviewable(r.State):
		return record{}, ErrNotReviewable
	case r.ReviewDecision != models.ReviewNone:
		return record{}, ErrAlreadyDecided
	}
	return r, nil
}

func (k *kind) reviewable(state string) bool {
	for _, s := range k.states {
		if s == state {
			return true
		}
	}
	return false
}

// queuedAt is when a record started waiting for review: when the provider
// finished with it.
func (r record) queuedAt() time.Time {
	if r.CompletedAt != nil {
		return r.CompletedAt.UTC()
	}
	return r.UpdatedAt.UTC()
}

// ensureCase makes the record's case if there is none; a concurrent maker
// wins quietly.
func ensureCase(tx *gorm.DB, k models.CaseKind, r record, now time.Time) error {
	return tx.Exec(`INSERT INTO review_cases (kind, record_id, queued_at, stage, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (kind, record_id) DO NOTHING`, k, r.ID, r.queuedAt(), models.CaseOpen, now).Error
}

// step writes a casework step's timeline event and audit entry.
func (k *kind) step(tx *gorm.DB, now time.Time, a services.Actor, r record, action, note, details string) error {
	if err := tx.Create(k.event(r.ID, r.State, now, note)).Error; err != nil {
		return err
	}
	return services.Audit(tx, now, a, action, subject(k.name, r.ID), details)
}

// TakeNext gives a the oldest waiting case nobody has, and returns its
// record id. Officers pressing at once each get a different case: the
// assignment is a conditional update that only one of them can make.
func (s *Service) TakeNext(ctx context.Context, k models.CaseKind, a services.Actor) (uint, error) {
	kd, err := kindOf(k)
	if err != nil {
		return 0, err
	}
	for range 5 {
		candidates, err := s.waiting(ctx, kd, true, false, 20)
		if err != nil {
			return 0, err
		}
		if len(candidates) == 0 {
			return 0, ErrNothingToTake
		}
		for _, cand := range candidates {
			ok, err := s.assign(ctx, kd, a, cand.RecordID, a.ID, a.Email, true, "case.taken", "took the case")
			if err != nil {
				return 0, err
			}
			if ok {
				return cand.RecordID, nil
			}
		}
		// Every candidate went to someone else meanwhile: read again.
	}
	return 0, ErrNothingToTake
}

// assign gives the case of record id to user (to, email). onlyIfFree
// takes it only when nobody has it. It reports whether it did.
func (s *Service) assign(ctx context.Context, kd *kind, a services.Actor, id, to uint, email string, onlyIfFree bool, action, note string) (bool, error) {
	done := false
	err := services.WithTx(ctx, s.db, func(tx *gorm.DB) error {
		r, err := kd.loadUndecided(tx, id)
		if err != nil {
			return err
		}
		now := s.now().UTC()
		if err := ensureCase(tx, kd.name, r, now); err != nil {
			return err
		}
		q := tx.Model(&models.ReviewCase{}).Where("kind = ? AND record_id = ? AND stage = ?", kd.name, id, models.CaseOpen)
		if onlyIfFree {
			q = q.Where("assignee_id IS NULL")
		}
		res := q.Updates(map[string]any{"assignee_id": to, "assignee_email": email, "assigned_at": now, "updated_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return nil
		}
		done = true
		return kd.step(tx, now, a, r, action, note+": "+email, "assignee="+email)
	})
	switch {
	case err == nil:
		return done, nil
	case errors.Is(err, ErrAlreadyDecided), errors.Is(err, ErrNotReviewable):
		if onlyIfFree {
			return false, nil // decided while "take next" read the queue
		}
		return false, err
	case errors.Is(err, models.ErrNotFound):
		return false, err
	}
	return false, fmt.Errorf("casework: assign %s: %w", subject(kd.name, id), err)
}

// Assign gives a case to another reviewer (an admin's step; the role check
// is in web/). The new assignee must be an active compliance officer or
// admin.
func (s *Service) Assign(ctx context.Context, k models.CaseKind, a services.Actor, id, to uint) error {
	kd, err := kindOf(k)
	if err != nil {
		return err
	}
	u, err := s.Reviewer(ctx, to)
	if err != nil {
		return err
	}
	_, err = s.assign(ctx, kd, a, id, u.ID, u.Email, false, "case.assigned", "assigned")
	return err
}

// Reviewer is the staff member with id if cases may be given to them: an
// active compliance officer or admin; otherwise a message on assignee_id.
func (s *Service) Reviewer(ctx context.Context, id uint) (models.User, error) {
	var u models.User
	err := s.db.WithContext(ctx).Take(&u, id).Error
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		return models.User{}, fmt.Errorf("casework: reviewer %d: %w", id, err)
	}
	if err != nil || u.Disabled || (u.Role != models.RoleCompliance && u.Role != models.RoleAdmin) {
		return models.User{}, services.FieldErrors{"assignee_id": "Choose an active compliance officer or admin."}
	}
	return u, nil
}

// Release puts a case back in the queue. Only its assignee may, unless
// anyone is set (admins).
func (s *Service) Release(ctx context.Context, k models.CaseKind, a services.Actor, id uint, anyone bool) error {
	kd, err := kindOf(k)
	if err != nil {
		return err
	}
	return services.WithTx(ctx, s.db, func(tx *gorm.DB) error {
		r, err := kd.load(tx, id)
		if err != nil {
			return err
		}
		var c models.ReviewCase
		if err := tx.Where("kind = ? AND record_id = ?", k, id).Take(&c).Error; errors.Is(err, gorm.ErrRecordNotFound) {
			return nil // nobody has it: nothing to release
		} else if err != nil {
			return err
		}
		if c.AssigneeID == nil || c.Stage != models.CaseOpen {
			return nil
		}
		if *c.AssigneeID != a.ID && !anyone {
			return &services.ErrForbidden{Reason: "This case is " + c.AssigneeEmail + "'s: they or an admin can release it."}
		}
		now := s.now().UTC()
		res := tx.Model(&models.ReviewCase{}).Where("id = ? AND assignee_id = ? AND stage = ?", c.ID, *c.AssigneeID, models.CaseOpen).
			Updates(map[string]any{"assignee_id": nil, "assignee_email": "", "assigned_at": nil, "updated_at": now})
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		return kd.step(tx, now, a, r, "case.released", "released by "+a.Email+" (was "+c.AssigneeEmail+")", "was="+c.AssigneeEmail)
	})
}

// decision is a validated decision.
type decision struct {
	actor    actor
	decision models.ReviewDecision
	reason   string
	note     string
}

// validate checks a decision's fields: a flagged decision needs a reason
// from the kind's list, "other" needs a note.
func (k *kind) validate(dec, reason, note string) (models.ReviewDecision, string, string, services.FieldErrors) {
	d := models.ReviewDecision(strings.TrimSpace(dec))
	reason, note = strings.TrimSpace(reason), strings.TrimSpace(note)
	errs := services.FieldErrors{}
	if !d.Valid() {
		errs["decision"] = "Choose approved or flagged."
	}
	if d == models.ReviewApproved {
		reason = "" // approving needs no reason: the checks passed
	}
	switch {
	case d == models.ReviewFlagged && reason == "":
		errs["reason"] = "Choose why it is flagged."
	case reason != "" && !ValidReason(k.name, reason):
		errs["reason"] = "Choose one of the listed reasons."
	}
	if msg := checkNote(note, reason == ReasonOther, "Say what the reason is: \"other\" needs a note."); msg != "" {
		errs["note"] = msg
	}
	return d, reason, note, errs
}

// checkNote is the message for a note that cannot be kept, "" when it can;
// required says it must not be empty, and why.
func checkNote(note string, required bool, why string) string {
	switch n := utf8.RuneCountInString(note); {
	case !utf8.ValidString(note):
		return "The note contains characters that are not text."
	case n > MaxNote:
		return fmt.Sprintf("The note is too long: at most %d characters.", MaxNote)
	case n == 0 && required:
		return why
	}
	return ""
}

// Outcome is what a decision led to.
type Outcome struct {
	// SecondReview: the decision waits for another officer before it is
	// final.
	SecondReview bool
}

// Decide records a's first decision on a record. Nobody else may have the
// case; an unassigned case becomes a's. A flagged decision, or any on a
// high-risk record, waits for a second officer.
func (s *Service) Decide(ctx context.Context, k models.CaseKind, a services.Actor, id uint, dec, reason, note string) (Outcome, error) {
	kd, err := kindOf(k)
	if err != nil {
		return Outcome{}, err
	}
	d, reason, note, errs := kd.validate(dec, reason, note)
	if len(errs) > 0 {
		return Outcome{}, errs
	}
	var out Outcome
	err = services.WithTx(ctx, s.db, func(tx *gorm.DB) error {
		r, err := kd.loadUndecided(tx, id)
		if err != nil {
			return err
		}
		now := s.now().UTC()
		stage := models.CaseClosed
		if d == models.ReviewFlagged || r.HighRisk {
			stage, out.SecondReview = models.CaseSecondReview, true
		}
		if err := ensureCase(tx, k, r, now); err != nil {
			return err
		}
		// The case first: whoever has it decides, and the row lock this
		// takes orders concurrent deciders.
		res := tx.Model(&models.ReviewCase{}).
			Where("kind = ? AND record_id = ? AND stage = ? AND (assignee_id IS NULL OR assignee_id = ?)", k, id, models.CaseOpen, a.ID).
			Updates(map[string]any{"stage": stage, "assignee_id": actor(a).idPtr(), "assignee_email": a.Email,
				"assigned_at": gorm.Expr("COALESCE(assigned_at, ?)", now), "decision": d, "reason": reason, "note": note,
				"decided_by_id": actor(a).idPtr(), "decided_by_email": a.Email, "decided_at": now, "updated_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			var c models.ReviewCase
			if err := tx.Where("kind = ? AND record_id = ?", k, id).Take(&c).Error; err != nil {
				return err
			}
			if c.Stage != models.CaseOpen {
				return ErrAlreadyDecided
			}
			since := time.Time{}
			if c.AssignedAt != nil {
				since = *c.AssignedAt
			}
			return &AssignedError{Email: c.AssigneeEmail, Since: since}
		}
		moved := tx.Table(kd.table).Where("id = ? AND review_decision = '' AND state = ?", id, r.State).
			Updates(map[string]any{"review_decision": d, "compliance_reason": reason, "updated_at": now})
		if moved.Error != nil {
			return moved.Error
		}
		if moved.RowsAffected == 0 {
			return ErrAlreadyDecided
		}
		if err := tx.Create(kd.review(id, decision{actor(a), d, reason, note}, now)).Error; err != nil {
			return err
		}
		line := "decision: " + string(d)
		if reason != "" {
			line += " (" + ReasonLabel(k, reason) + ")"
		}
		if out.SecondReview {
			line += "; waits for a second review"
		}
		return kd.step(tx, now, a, r, string(k)+".reviewed", line,
			fmt.Sprintf("decision=%s reason=%s note=%q second_review=%t", d, reason, note, out.SecondReview))
	})
	switch {
	case err == nil:
		return out, nil
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return Outcome{}, ErrAlreadyDecided
	case errors.Is(err, models.ErrNotFound), errors.Is(err, ErrNotReviewable), errors.Is(err, ErrAlreadyDecided):
		return Outcome{}, err
	}
	var assigned *AssignedError
	if errors.As(err, &assigned) {
		return Outcome{}, err
	}
	return Outcome{}, fmt.Errorf("casework: decide %s: %w", subject(k, id), err)
}

// SecondReview is another officer confirming or overturning a decision
// that waits for one. The officer who made the decision cannot; an
// overturn needs a note (and, to flag, a reason).
func (s *Service) SecondReview(ctx context.Context, k models.CaseKind, a services.Actor, id uint, outcome, reason, note string) error {
	kd, err := kindOf(k)
	if err != nil {
		return err
	}
	o := models.SecondOutcome(strings.TrimSpace(outcome))
	reason, note = strings.TrimSpace(reason), strings.TrimSpace(note)
	errs := services.FieldErrors{}
	if o != models.SecondConfirmed && o != models.SecondOverturned {
		errs["outcome"] = "Choose confirm or overturn."
	}
	if msg := checkNote(note, o == models.SecondOverturned, "Say why the decision is overturned."); msg != "" {
		errs["note"] = msg
	}
	if len(errs) > 0 {
		return errs // the reason is checked once the case says what it overturns
	}
	return services.WithTx(ctx, s.db, func(tx *gorm.DB) error {
		r, err := kd.load(tx, id)
		if err != nil {
			return err
		}
		var c models.ReviewCase
		if err := tx.Where("kind = ? AND record_id = ?", k, id).Take(&c).Error; errors.Is(err, gorm.ErrRecordNotFound) {
			return ErrNotAwaitingSecond
		} else if err != nil {
			return err
		}
		if c.Stage != models.CaseSecondReview {
			return ErrNotAwaitingSecond
		}
		if c.DecidedByID != nil && *c.DecidedByID == a.ID {
			return &services.ErrForbidden{Reason: "You made this decision: another compliance officer has to confirm or overturn it."}
		}
		final := c.Decision
		if o == models.SecondOverturned {
			final = models.ReviewApproved
			if c.Decision == models.ReviewApproved {
				final = models.ReviewFlagged
			}
		}
		switch {
		case o == models.SecondOverturned && final == models.ReviewFlagged && reason == "":
			errs["reason"] = "Choose why it is flagged."
		case final == models.ReviewFlagged && reason != "" && !ValidReason(k, reason):
			errs["reason"] = "Choose one of the listed reasons."
		}
		if len(errs) > 0 {
			return errs
		}
		now := s.now().UTC()
		res := tx.Model(&models.ReviewCase{}).Where("id = ? AND stage = ?", c.ID, models.CaseSecondReview).
			Updates(map[string]any{"stage": models.CaseClosed, "second_outcome": o, "second_note": note,
				"second_by_id": actor(a).idPtr(), "second_by_email": a.Email, "second_at": now, "updated_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotAwaitingSecond
		}
		line := "second review: confirmed " + string(c.Decision) + " by " + c.DecidedByEmail
		if o == models.SecondOverturned {
			newReason := ""
			if final == models.ReviewFlagged {
				newReason = reason
			}
			if err := tx.Table(kd.table).Where("id = ?", id).
				Updates(map[string]any{"review_decision": final, "compliance_reason": newReason, "updated_at": now}).Error; err != nil {
				return err
			}
			line = "second review: overturned " + string(c.Decision) + " by " + c.DecidedByEmail + ", now " + string(final)
		}
		return kd.step(tx, now, a, r, "case."+string(o), line,
			fmt.Sprintf("outcome=%s final=%s reason=%s note=%q first_by=%s", o, final, reason, note, c.DecidedByEmail))
	})
}
