// Package bulk runs one action on many records of a list: refresh them
// from their provider, or give their review cases to a reviewer. A job is
// written with all its records before any is touched, then worked in the
// background by whichever replica holds its lease, one record at a time,
// each record's outcome written once; the person who asked watches the
// progress and reads, at the end, how many succeeded and why the others
// did not. Nothing that moves money is a bulk action.
package bulk

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"gorm.io/gorm"

	"portal/models"
	"portal/services"
	"portal/services/casework"
	"portal/services/lifecycle"
)

// Actions a job may run.
const (
	Refresh = "refresh"
	Assign  = "assign"
	// Resend asks the provider to send a record's webhook again, which
	// only the sandbox's simulators can be asked to do.
	Resend = "resend_webhook"
)

// A Target is one list bulk actions work on.
type Target struct {
	// Noun is one record of the list in words ("document").
	Noun string
	// Subject is a record's audit subject ("document:12").
	Subject func(id uint) string
	// Refresh fetches one record from its provider now.
	Refresh func(ctx context.Context, a services.Actor, id uint) error
	// Assign gives one record's review case to the reviewer to; nil for a
	// list without reviews.
	Assign func(ctx context.Context, a services.Actor, id, to uint) error
	// Resend has the provider send one record's webhook again; nil where
	// the provider cannot be asked to (every real one).
	Resend func(ctx context.Context, id uint) error
	// Explain puts a failure of this list's own into words; false for an
	// error it does not know.
	Explain func(err error) (string, bool)
}

// A Request is what a person asked for.
type Request struct {
	Kind   string // documents, verifications, recharges
	Action string
	IDs    []uint // the records, newest first
	// Matching says IDs are every record matching Filter (its words),
	// rather than ones picked on a page.
	Matching   bool
	Filter     string
	AssigneeID uint
}

// Options tune the worker; zero values are sensible.
type Options struct {
	Logger *slog.Logger
	// Lease is how long a replica holds a job between two records.
	Lease time.Duration
	// Batch is how many records one pass does before other work runs.
	Batch int
}

// Service starts jobs, reports on them and works them.
type Service struct {
	db       *gorm.DB
	now      services.Clock
	targets  map[string]Target
	reviewer func(ctx context.Context, id uint) (models.User, error)
	opts     Options
	me       string // this process's claim on the jobs it works
	wake     chan struct{}
}

// New builds the service; reviewer checks an assign job's reviewer.
func New(db *gorm.DB, now services.Clock, targets map[string]Target, reviewer func(ctx context.Context, id uint) (models.User, error), opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Lease <= 0 {
		opts.Lease = time.Minute
	}
	if opts.Batch <= 0 {
		opts.Batch = 50
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &Service{db: db, now: now, targets: targets, reviewer: reviewer, opts: opts,
		me: hex.EncodeToString(b[:]), wake: make(chan struct{}, 1)}
}

// ErrNotFound is a job that does not exist or is not the viewer's to see.
var ErrNotFound = errors.New("bulk: no such job")

// Start writes the job and its records and wakes the worker. Bad requests
// are services.FieldErrors: on "id" (nothing or too much selected),
// "action" and "assignee_id".
func (s *Service) Start(ctx context.Context, a services.Actor, r Request) (models.BulkJob, error) {
	t, ok := s.targets[r.Kind]
	if !ok {
		return models.BulkJob{}, services.FieldErrors{"action": "Bulk actions work on documents, verifications and recharges."}
	}
	errs := services.FieldErrors{}
	ids := uniqueIDs(r.IDs)
	switch {
	case len(ids) == 0 && r.Matching:
		errs["id"] = "No " + t.Noun + " matches the filter: there is nothing to act on."
	case len(ids) == 0:
		errs["id"] = "Select at least one " + t.Noun + ", or every one matching the filter."
	case len(ids) > services.MaxSelection:
		errs["id"] = fmt.Sprintf("%d %ss is more than %d at once: narrow the filter.", len(ids), t.Noun, services.MaxSelection)
	}
	job := models.BulkJob{Kind: r.Kind, Action: r.Action, Scope: models.BulkSelected, Total: len(ids),
		CreatedByID: a.ID, CreatedByEmail: a.Email, CreatedByRole: a.Role, CreatedAt: s.now().UTC()}
	if r.Matching {
		job.Scope, job.Filter = models.BulkMatching, r.Filter
	}
	switch {
	case !offered(t, r.Action):
		errs["action"] = notOffered(t, r.Action)
	case adminOnly[r.Action] != "" && a.Role != models.RoleAdmin:
		return models.BulkJob{}, &services.ErrForbidden{Reason: adminOnly[r.Action]}
	case r.Action == Assign:
		u, err := s.reviewer(ctx, r.AssigneeID)
		if fe, ok := services.AsFieldErrors(err); ok {
			for k, v := range fe {
				errs[k] = v
			}
		} else if err != nil {
			return models.BulkJob{}, fmt.Errorf("bulk: %w", err)
		}
		job.AssigneeID, job.AssigneeEmail = &u.ID, u.Email
	}
	if len(errs) > 0 {
		return models.BulkJob{}, errs
	}
	err := services.WithTx(ctx, s.db, func(tx *gorm.DB) error {
		if err := tx.Create(&job).Error; err != nil {
			return err
		}
		items := make([]models.BulkItem, len(ids))
		for i, id := range ids {
			items[i] = models.BulkItem{JobID: job.ID, RecordID: id}
		}
		if err := tx.CreateInBatches(items, 500).Error; err != nil {
			return err
		}
		return services.Audit(tx, job.CreatedAt, a, "bulk.started", subject(job.ID), describe(job, t))
	})
	if err != nil {
		return models.BulkJob{}, fmt.Errorf("bulk: start: %w", err)
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return job, nil
}

// Exported records that a person downloaded the given records as CSV, one
// audit event per record, as for every other bulk action.
func (s *Service) Exported(ctx context.Context, a services.Actor, kind string, ids []uint) error {
	t, ok := s.targets[kind]
	if !ok {
		return fmt.Errorf("bulk: export of unknown list %q", kind)
	}
	details := fmt.Sprintf("CSV of %d selected", len(ids))
	now := s.now().UTC()
	return services.WithTx(ctx, s.db, func(tx *gorm.DB) error {
		for _, id := range ids {
			if err := services.Audit(tx, now, a, t.Noun+".exported", t.Subject(id), details); err != nil {
				return err
			}
		}
		return nil
	})
}

// A Report is a job and what has become of its records so far.
type Report struct {
	Job                        models.BulkJob
	Noun                       string
	Succeeded, Failed, Pending int
	// Reasons are why records failed, the commonest first.
	Reasons []ReasonCount
	// Failures are the first failed records, for a person to open.
	Failures []models.BulkItem
}

// A ReasonCount is how many records failed for one reason.
type ReasonCount struct {
	Reason string
	Count  int
}

// Done reports a finished job.
func (r Report) Done() bool { return r.Job.FinishedAt != nil }

// MaxFailuresListed is how many failed records a report names.
const MaxFailuresListed = 100

// Report reads job id for a; only its creator and admins may.
func (s *Service) Report(ctx context.Context, a services.Actor, id uint) (Report, error) {
	db := s.db.WithContext(ctx)
	var r Report
	if err := db.Take(&r.Job, id).Error; errors.Is(err, gorm.ErrRecordNotFound) {
		return Report{}, ErrNotFound
	} else if err != nil {
		return Report{}, fmt.Errorf("bulk: report %d: %w", id, err)
	}
	if r.Job.CreatedByID != a.ID && a.Role != models.RoleAdmin {
		return Report{}, ErrNotFound
	}
	r.Noun = s.targets[r.Job.Kind].Noun
	var counts []struct {
		Outcome string
		N       int
	}
	if err := db.Model(&models.BulkItem{}).Select("outcome, COUNT(*) AS n").Where("job_id = ?", id).Group("outcome").Scan(&counts).Error; err != nil {
		return Report{}, fmt.Errorf("bulk: report %d: %w", id, err)
	}
	for _, c := range counts {
		switch c.Outcome {
		case models.BulkSucceeded:
			r.Succeeded = c.N
		case models.BulkFailed:
			r.Failed = c.N
		default:
			r.Pending = c.N
		}
	}
	if r.Failed > 0 {
		if err := db.Model(&models.BulkItem{}).Select("reason, COUNT(*) AS count").Where("job_id = ? AND outcome = ?", id, models.BulkFailed).
			Group("reason").Order("count DESC, reason").Scan(&r.Reasons).Error; err != nil {
			return Report{}, fmt.Errorf("bulk: report %d: %w", id, err)
		}
		if err := db.Where("job_id = ? AND outcome = ?", id, models.BulkFailed).Order("record_id DESC").
			Limit(MaxFailuresListed).Find(&r.Failures).Error; err != nil {
			return Report{}, fmt.Errorf("bulk: report %d: %w", id, err)
		}
	}
	return r, nil
}

// Run works jobs until ctx ends, each tick and whenever one is started.
func (s *Service) Run(ctx context.Context, tick time.Duration) {
	lifecycle.RunReconciler(ctx, tick, s.wake, s.opts.Logger, lifecycle.Step{Name: "bulk actions", Run: s.RunOnce})
}

// free selects the jobs this replica may work: nobody's, a lapsed lease,
// or its own.
const free = "(lease_until IS NULL OR lease_until < ? OR claimed_by = ?)"

// RunOnce works up to a batch of records of the open jobs, oldest job
// first, and returns how many it did.
func (s *Service) RunOnce(ctx context.Context) (int, error) {
	var open []models.BulkJob
	if err := s.db.WithContext(ctx).Where("finished_at IS NULL").Where(free, s.now().UTC(), s.me).
		Order("id").Limit(10).Find(&open).Error; err != nil {
		return 0, fmt.Errorf("bulk: open jobs: %w", err)
	}
	done := 0
	for _, job := range open {
		if done >= s.opts.Batch || ctx.Err() != nil {
			break
		}
		n, err := s.work(ctx, job, s.opts.Batch-done)
		done += n
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// work claims job and does up to limit of its pending records.
func (s *Service) work(ctx context.Context, job models.BulkJob, limit int) (int, error) {
	db := s.db.WithContext(ctx)
	hold := func(claim bool) (bool, error) {
		now := s.now().UTC()
		q := db.Model(&models.BulkJob{}).Where("id = ? AND finished_at IS NULL", job.ID)
		if claim {
			q = q.Where(free, now, s.me)
		} else {
			q = q.Where("claimed_by = ?", s.me)
		}
		res := q.Updates(map[string]any{"claimed_by": s.me, "lease_until": now.Add(s.opts.Lease)})
		return res.RowsAffected == 1, res.Error
	}
	if ok, err := hold(true); err != nil || !ok {
		return 0, err // another replica has it
	}
	t := s.targets[job.Kind]
	actor := services.Actor{ID: job.CreatedByID, Email: job.CreatedByEmail, Role: job.CreatedByRole}
	var items []models.BulkItem
	if err := db.Where("job_id = ? AND outcome = ?", job.ID, models.BulkPending).Order("record_id DESC").Limit(limit).Find(&items).Error; err != nil {
		return 0, fmt.Errorf("bulk: job %d: %w", job.ID, err)
	}
	done := 0
	for _, it := range items {
		if ctx.Err() != nil {
			return done, nil
		}
		outcome, reason := models.BulkSucceeded, ""
		if err := s.act(ctx, job, t, actor, it.RecordID); err != nil {
			outcome, reason = models.BulkFailed, s.explain(t, err)
			if reason == "" {
				s.opts.Logger.Error("bulk action", "job", job.ID, "record", it.RecordID, "err", err)
				reason = "The portal could not finish this one (the error is in its log): try it again from its page."
			}
		}
		at := s.now().UTC()
		if err := db.Model(&models.BulkItem{}).Where("job_id = ? AND record_id = ? AND outcome = ?", job.ID, it.RecordID, models.BulkPending).
			Updates(map[string]any{"outcome": outcome, "reason": reason, "done_at": at}).Error; err != nil {
			return done, fmt.Errorf("bulk: job %d record %d: %w", job.ID, it.RecordID, err)
		}
		done++
		if ok, err := hold(false); err != nil || !ok {
			return done, err // the lease lapsed and another replica took over
		}
	}
	if len(items) < limit {
		return done, s.finish(ctx, job, t)
	}
	return done, nil
}

func (s *Service) act(ctx context.Context, job models.BulkJob, t Target, a services.Actor, id uint) error {
	switch job.Action {
	case Refresh:
		return t.Refresh(ctx, a, id)
	case Assign:
		if t.Assign == nil || job.AssigneeID == nil {
			return fmt.Errorf("bulk: job %d cannot assign", job.ID)
		}
		return t.Assign(ctx, a, id, *job.AssigneeID)
	case Resend:
		if t.Resend == nil {
			return fmt.Errorf("bulk: job %d cannot resend webhooks", job.ID)
		}
		if err := t.Resend(ctx, id); err != nil {
			return err
		}
		// The simulator has queued the webhook, which the portal applies
		// as any other; the audit says who asked for it.
		return services.Audit(s.db.WithContext(ctx), s.now().UTC(), a, t.Noun+".webhook_resent", t.Subject(id),
			"asked of the sandbox by bulk job "+strconv.FormatUint(uint64(job.ID), 10))
	}
	return fmt.Errorf("bulk: job %d: unknown action %q", job.ID, job.Action)
}

// adminOnly are the actions only an admin may start, with the reason
// another role is told.
var adminOnly = map[string]string{
	Assign: "Only an admin assigns cases to reviewers.",
	Resend: "Only an admin drives the sandbox.",
}

// offered says whether t can run action at all, whoever asks.
func offered(t Target, action string) bool {
	switch action {
	case Refresh:
		return true
	case Assign:
		return t.Assign != nil
	case Resend:
		return t.Resend != nil
	}
	return false
}

// notOffered says why t cannot run action.
func notOffered(t Target, action string) string {
	switch action {
	case Assign:
		return "A " + t.Noun + " has no review to assign."
	case Resend:
		return "Webhooks are sent again only by the sandbox's simulators, and not for " + t.Noun + "s."
	}
	return "Choose refresh or assign."
}

// Offers says whether a may start action on list kind: what Start would
// accept, so the web layer shows only those buttons.
func (s *Service) Offers(a services.Actor, kind, action string) bool {
	t, ok := s.targets[kind]
	return ok && offered(t, action) && (adminOnly[action] == "" || a.Role == models.RoleAdmin)
}

// explain is a failure in words for the report; "" for an internal error.
func (s *Service) explain(t Target, err error) string {
	if t.Explain != nil {
		if msg, ok := t.Explain(err); ok {
			return msg
		}
	}
	var forbidden *services.ErrForbidden
	switch {
	case errors.Is(err, models.ErrNotFound):
		return "There is no such " + t.Noun + " (any more)."
	case errors.Is(err, casework.ErrAlreadyDecided):
		return "Already decided: there is no open case to assign."
	case errors.Is(err, casework.ErrNotReviewable):
		return "Not ready for review yet: there is no case to assign."
	case errors.As(err, &forbidden):
		return forbidden.Reason
	}
	if fe, ok := services.AsFieldErrors(err); ok {
		for _, msg := range fe {
			return msg
		}
	}
	return ""
}

// finish closes job once no record is pending, once.
func (s *Service) finish(ctx context.Context, job models.BulkJob, t Target) error {
	return services.WithTx(ctx, s.db, func(tx *gorm.DB) error {
		var pending int64
		if err := tx.Model(&models.BulkItem{}).Where("job_id = ? AND outcome = ?", job.ID, models.BulkPending).Count(&pending).Error; err != nil || pending > 0 {
			return err
		}
		var failed int64
		if err := tx.Model(&models.BulkItem{}).Where("job_id = ? AND outcome = ?", job.ID, models.BulkFailed).Count(&failed).Error; err != nil {
			return err
		}
		now := s.now().UTC()
		res := tx.Model(&models.BulkJob{}).Where("id = ? AND finished_at IS NULL", job.ID).
			Updates(map[string]any{"finished_at": now, "lease_until": nil, "claimed_by": ""})
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		actor := services.Actor{ID: job.CreatedByID, Email: job.CreatedByEmail, Role: job.CreatedByRole}
		return services.Audit(tx, now, actor, "bulk.finished", subject(job.ID),
			fmt.Sprintf("%d succeeded, %d failed", int64(job.Total)-failed, failed))
	})
}

func subject(id uint) string { return "bulk:" + strconv.FormatUint(uint64(id), 10) }

func describe(job models.BulkJob, t Target) string {
	what := fmt.Sprintf("%s %d %ss", job.Action, job.Total, t.Noun)
	if job.Action == Resend {
		what = fmt.Sprintf("resend the webhooks of %d %ss", job.Total, t.Noun)
	}
	if job.Action == Assign {
		what += " to " + job.AssigneeEmail
	}
	if job.Scope == models.BulkMatching {
		return what + ", every one matching " + job.Filter
	}
	return what + ", selected on a page"
}

// uniqueIDs drops repeats, keeping the first of each.
func uniqueIDs(ids []uint) []uint {
	seen := make(map[uint]bool, len(ids))
	out := make([]uint, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
