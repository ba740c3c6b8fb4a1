// Package documents owns documents sent to pasby for e-signature: the
// create (simple signing or a hosted review flow), the reconciler and the
// webhook inbox that follow a document to a final state, cancel, the
// compliance review, and NIN masking.
//
// The rules, the same as for recharges:
//   - A document row (with its unguessable webhook reference) is committed
//     before pasby is called, so a request is never lost.
//   - Only the request that moves the row queued → submitting may call
//     pasby; no transaction is open during the call.
//   - Every state change is a conditional UPDATE from the states it may
//     leave; final states are never in that list (and a trigger refuses it
//     too), so they can't be left.
//   - An outcome we can't know (timeout after sending, a crash mid-call)
//     becomes "unknown" and is never re-sent automatically: a second request
//     would ring every signer's phone again. A webhook naming its reference
//     can still bring it back (see ProcessInbox).
//   - pasby's word is only taken from pasby: webhooks are triggers, and the
//     state always comes from a refresh.
package documents

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"time"

	"gorm.io/gorm"

	"portal/models"
	"portal/services"
	"portal/services/lifecycle"
	"portal/services/pasby"
	"portal/services/upstream"
)

// Upstream is the part of the pasby client the service uses.
type Upstream interface {
	Signing(ctx context.Context, r pasby.SigningRequest) (pasby.DocumentResponse, error)
	Review(ctx context.Context, r pasby.ReviewRequest) (pasby.DocumentResponse, error)
	Refresh(ctx context.Context, docID string) (pasby.DocumentResponse, error)
	Cancel(ctx context.Context, id string) (pasby.CancelResponse, error)
}

// Errors the web layer maps to pages and status codes with errors.Is.
var (
	// ErrNotOpen: cancel or refresh of a document pasby is not (or no
	// longer) working on.
	ErrNotOpen = errors.New("documents: the document is not waiting for signatures")
	// ErrNotReviewable: a review of a document that is not completed.
	ErrNotReviewable = errors.New("documents: only completed documents can be reviewed")
	// ErrAlreadyReviewed: a second decision on the same document.
	ErrAlreadyReviewed = errors.New("documents: the document already has a review decision")
	// ErrNotUnknown: a resolution of a document whose outcome is known
	// (someone, or a webhook, resolved it first).
	ErrNotUnknown = errors.New("documents: the document's outcome is already known")
	// ErrUnknownWebhookSecret: a webhook whose path secret is not ours;
	// nothing was stored. Answer 404.
	ErrUnknownWebhookSecret = errors.New("documents: unknown webhook secret")
	// ErrWebhookTooLarge: a webhook body over MaxWebhookBody; nothing was
	// stored. Answer 413.
	ErrWebhookTooLarge = errors.New("documents: webhook body too large")
	// ErrUnknownWebhookDocument: a webhook with the right secret whose body
	// names no document of ours; nothing was stored. Answer 404.
	ErrUnknownWebhookDocument = errors.New("documents: the webhook names no document of ours")
	// ErrMalformedWebhook: a webhook with the right secret whose body is
	// not JSON; nothing was stored (it could never be processed). Answer
	// 400: only a sender who knows the secret gets this far.
	ErrMalformedWebhook = errors.New("documents: the webhook body is not JSON")
)

// UpstreamError is a pasby failure in words for staff.
type UpstreamError struct {
	Message string
	Err     error
}

func (e *UpstreamError) Error() string { return e.Message }
func (e *UpstreamError) Unwrap() error { return e.Err }

// Options configure the service.
type Options struct {
	// BaseURL is the portal's public address (PORTAL_BASE_URL); pasby
	// posts webhooks to BaseURL + "/webhooks/pasby/" + WebhookSecret.
	BaseURL string
	// WebhookSecret is the path secret of the webhook URL: at least 20
	// letters, digits, '-' or '_'.
	WebhookSecret string
	// FirstCheck is the reconciler's first delay after a document is
	// accepted; each later check waits twice as long, up to MaxCheckDelay
	// (±20 % jitter). Defaults 5 s and 5 min.
	FirstCheck    time.Duration
	MaxCheckDelay time.Duration
	// Lease is how long this process holds a document it sends or checks
	// (lifecycle.DefaultLease when zero); the call gives up before it runs
	// out.
	Lease  time.Duration
	Logger *slog.Logger
}

// Service is the documents use-case.
type Service struct {
	db       *gorm.DB
	upstream Upstream
	now      services.Clock
	opts     Options
	hookURL  string

	wake chan struct{} // a webhook arrived: process the inbox now
	// backoff is how long after its attempt-th check a document is checked
	// again.
	backoff func(attempt int) time.Duration
}

var secretPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{20,128}$`)

// New returns the service, or an error when the options can't produce a
// webhook URL pasby could call.
func New(db *gorm.DB, upstream Upstream, now services.Clock, opts Options) (*Service, error) {
	base := strings.TrimRight(strings.TrimSpace(opts.BaseURL), "/")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("documents: BaseURL must be the portal's absolute http(s) address")
	}
	if !secretPattern.MatchString(opts.WebhookSecret) {
		return nil, errors.New("documents: WebhookSecret must be 20 to 128 letters, digits, '-' or '_'")
	}
	if opts.FirstCheck <= 0 {
		opts.FirstCheck = 5 * time.Second
	}
	if opts.MaxCheckDelay <= 0 {
		opts.MaxCheckDelay = 5 * time.Minute
	}
	if opts.Lease <= 0 {
		opts.Lease = lifecycle.DefaultLease
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Service{
		db: db, upstream: upstream, now: now, opts: opts,
		hookURL: base + "/webhooks/pasby/" + opts.WebhookSecret,
		wake:    make(chan struct{}, 1),
		backoff: lifecycle.CheckSchedule(opts.FirstCheck, opts.MaxCheckDelay),
	}, nil
}

// NewReference returns a fresh webhook reference: 24 random bytes,
// base64url. It is what ties a webhook to our row, so it must not be
// guessable.
func NewReference() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// VerificationURL is where anyone can check a completed document's stamp.
func VerificationURL(d models.Document) string {
	if d.UpstreamID == nil || d.State != models.DocumentCompleted {
		return ""
	}
	return pasby.VerificationURL(*d.UpstreamID)
}

// plain turns a pasby error into a sentence for staff.
func plain(err error) *UpstreamError {
	var rejected *upstream.RejectedError
	switch {
	case upstream.IsUnknown(err):
		return &UpstreamError{"The portal lost contact with pasby after sending the request, so the signers may or may not have received it. It will not be sent again; if pasby did receive it, its first webhook will bring it back here.", err}
	case errors.Is(err, pasby.ErrNotPDF):
		return &UpstreamError{"pasby could not read the file as a PDF. Check that the file address points straight at a PDF (not at a web page or a login), then create a new request.", err}
	case errors.Is(err, pasby.ErrMissingWebhook):
		return &UpstreamError{"pasby refused the request because the portal's webhook address is missing. Nothing was sent; tell an admin (PORTAL_BASE_URL).", err}
	case errors.Is(err, upstream.ErrBadCredentials), errors.Is(err, upstream.ErrForbidden):
		return &UpstreamError{"pasby refused the portal's credentials, so nothing was sent. Tell an admin.", err}
	case errors.Is(err, pasby.ErrExpired):
		return &UpstreamError{"pasby says this document has expired.", err}
	case errors.Is(err, pasby.ErrCancelled):
		return &UpstreamError{"pasby says this document was cancelled.", err}
	case errors.Is(err, pasby.ErrUnknownFlow):
		return &UpstreamError{"pasby does not know this document.", err}
	case errors.Is(err, upstream.ErrInvalidRequest):
		return &UpstreamError{"The portal could not build a request pasby would accept, so nothing was sent. Tell an admin.", err}
	case errors.As(err, &rejected):
		return &UpstreamError{"pasby refused the request: " + rejected.Reason(), err}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, upstream.ErrUnavailable):
		return &UpstreamError{"pasby is not answering properly right now. Nothing was sent to the signers; try again in a few minutes.", err}
	}
	return &UpstreamError{"pasby could not be reached. Try again in a few minutes.", err}
}

// Create records a document request and sends it to pasby once. It returns
// the document as it stands after the attempt: submitted, failed (Error says
// why in plain words) or unknown. err is for invalid input
// (services.FieldErrors) and database failures only.
func (s *Service) Create(ctx context.Context, actor services.Actor, in Input) (models.Document, error) {
	v, err := in.Validate()
	if err != nil {
		return models.Document{}, err
	}
	now := s.now().UTC()
	doc := models.Document{
		Reference: NewReference(), Kind: v.Kind, Title: v.Title, FileURL: v.FileURL,
		State: models.DocumentQueued, CreatedByEmail: actor.Email, CreatedAt: now, UpdatedAt: now,
	}
	claim := lifecycle.NewClaim(now, s.opts.Lease)
	doc.ClaimedBy, doc.LeaseUntil = claim.By, &claim.Until
	if actor.ID != 0 {
		id := actor.ID
		doc.CreatedByID = &id
	}
	err = services.WithTx(ctx, s.db, func(tx *gorm.DB) error {
		if err := tx.Create(&doc).Error; err != nil {
			return err
		}
		signees := v.Signees
		for i := range signees {
			signees[i].DocumentID = doc.ID
		}
		if err := tx.Create(&signees).Error; err != nil {
			return err
		}
		if err := tx.Create(&models.DocumentEvent{DocumentID: doc.ID, At: now, ToState: models.DocumentQueued, Note: "created by " + actor.Email}).Error; err != nil {
			return err
		}
		// The audit log names the signers by their last 4 digits only.
		masked := make([]string, len(signees))
		for i, sg := range signees {
			masked[i] = MaskNIN(sg.NIN, false)
		}
		return services.Audit(tx, now, actor, "document.created", documentLifecycle.Subject(doc.ID),
			fmt.Sprintf("kind=%s signees=%s title=%q", v.Kind, strings.Join(masked, ","), v.Title))
	})
	if err != nil {
		return models.Document{}, fmt.Errorf("documents: record: %w", err)
	}
	// The call outlives the browser: a closed tab must not cancel a request
	// halfway, which would turn a clean answer into an unknown outcome.
	return s.send(context.WithoutCancel(ctx), doc.ID)
}

// send claims a queued document and calls pasby. Only one caller can win
// the claim, so only one create call can ever happen per row.
func (s *Service) send(ctx context.Context, id uint) (models.Document, error) {
	// Read everything the call needs first: once claimed, a row can only
	// end submitted, failed or unknown.
	doc, err := s.Get(ctx, id)
	if err != nil {
		return doc, err
	}
	var signees []models.DocumentSignee
	if err := s.db.WithContext(ctx).Where("document_id = ?", id).Order("position").Find(&signees).Error; err != nil {
		return doc, fmt.Errorf("documents: signees: %w", err)
	}
	claim := lifecycle.NewClaim(s.now(), s.opts.Lease)
	claimed, err := documentLifecycle.Transition(ctx, s.db, s.now(), lifecycle.Move[models.DocumentState]{
		ID: id, From: []models.DocumentState{models.DocumentQueued}, To: models.DocumentSubmitting, Note: "sending to pasby", Claim: &claim})
	if err != nil || !claimed {
		d, gerr := s.Get(ctx, id)
		if err == nil {
			err = gerr
		}
		return d, err
	}
	ctx, cancel := context.WithTimeout(ctx, lifecycle.CallTimeout(s.opts.Lease))
	defer cancel()
	hook := pasby.Webhook{Host: s.hookURL, Reference: doc.Reference}
	file := pasby.FileInput{URL: doc.FileURL, Title: doc.Title}
	var answer pasby.DocumentResponse
	var callErr error
	if doc.Kind == models.DocumentKindReview {
		req := pasby.ReviewRequest{Webhook: hook, File: file}
		for _, sg := range signees {
			req.Signees = append(req.Signees, pasby.ReviewSignee{Name: sg.Name, Type: sg.Type, Email: sg.Email, NIN: sg.NIN, Representing: sg.Representing, Title: sg.Title})
		}
		answer, callErr = s.upstream.Review(ctx, req)
	} else {
		req := pasby.SigningRequest{Webhook: hook, File: file}
		for _, sg := range signees {
			req.To = append(req.To, sg.NIN)
		}
		answer, callErr = s.upstream.Signing(ctx, req)
	}
	// The answer is written even if the deadline cut the call off.
	ctx = context.WithoutCancel(ctx)
	now := s.now().UTC()
	switch {
	case callErr == nil:
		c := documentChange(answer)
		c.UpstreamID, c.NextCheckAt = &answer.Document.ID, new(now.Add(s.opts.FirstCheck))
		if answer.Link != "" {
			c.HostedLink = &answer.Link
		}
		_, err = s.answer(ctx, id, models.DocumentSubmitted, c, "pasby accepted the request: "+answer.Reason,
			func(tx *gorm.DB) error { return s.applySignees(tx, id, answer.Document, now) })
	case upstream.IsUnknown(callErr):
		s.opts.Logger.Warn("document outcome unknown", "document_id", id, "err", callErr)
		_, err = s.answer(ctx, id, models.DocumentUnknown, &change{Error: new(plain(callErr).Message)}, "no answer from pasby after sending", nil)
	default:
		msg := plain(callErr).Message
		s.opts.Logger.Warn("document refused", "document_id", id, "err", callErr)
		_, err = s.answer(ctx, id, models.DocumentFailed, &change{Error: &msg}, msg, nil)
	}
	d, gerr := s.Get(ctx, id)
	if err == nil {
		err = gerr
	}
	return d, err
}

// unixTime is pasby's Unix seconds as a time, nil when absent.
func unixTime(sec int64) *time.Time {
	if sec <= 0 {
		return nil
	}
	t := time.Unix(sec, 0).UTC()
	return &t
}

// documentChange is what an upstream document fills.
func documentChange(a pasby.DocumentResponse) *change {
	c := &change{Handled: &a.Document.Handled, LastUpstreamJSON: new(string(a.Raw)),
		IAT: unixTime(a.Document.IAT), Exp: unixTime(a.Document.Exp), LUT: unixTime(a.Document.LUT)}
	if a.Document.File.Stamped != "" {
		c.StampedURL = &a.Document.File.Stamped
	}
	return c
}

// applySignees copies pasby's view of the signees onto ours, inside tx:
// statuses only move forward (stale → viewing → signed), a signature is
// written once, and names pasby knows fill the blanks of a simple signing.
// It records a timeline entry for each signee that moved.
func (s *Service) applySignees(tx *gorm.DB, docID uint, d pasby.Document, now time.Time) error {
	var ours []models.DocumentSignee
	if err := tx.Where("document_id = ?", docID).Order("position").Find(&ours).Error; err != nil {
		return err
	}
	status := map[string]string{}
	for _, e := range d.StatusLog {
		status[e.NIN] = e.Status
	}
	info := map[string]pasby.Signee{}
	for _, sg := range d.Signees {
		info[sg.NIN] = sg
		if sg.SignedAt > 0 && status[sg.NIN] == "" {
			status[sg.NIN] = pasby.StatusSigned
		}
	}
	sigs := map[string]pasby.Signature{}
	for _, sg := range d.Signatures {
		sigs[sg.NIN] = sg
		status[sg.NIN] = pasby.StatusSigned
	}
	var current models.Document
	if err := tx.Select("id", "state").Take(&current, docID).Error; err != nil {
		return err
	}
	for _, o := range ours {
		// upd starts as the row we read; cols names what the merge fills in,
		// so an unchanged column is never rewritten.
		upd, cols := o, []string{}
		if p, ok := info[o.NIN]; ok {
			for _, f := range []struct {
				col      string
				have     *string
				reported string
			}{{"name", &upd.Name, p.Name}, {"type", &upd.Type, p.Type}, {"representing", &upd.Representing, p.Representing}, {"email", &upd.Email, p.Email}} {
				if *f.have == "" && f.reported != "" {
					*f.have = f.reported
					cols = append(cols, f.col)
				}
			}
		}
		next := models.SigneeStatus(status[o.NIN])
		moved := next.Rank() > o.Status.Rank()
		if moved {
			upd.Status = next
			cols = append(cols, "status")
		}
		if sig, ok := sigs[o.NIN]; ok && o.Signature == "" {
			upd.Signature, upd.Identification = sig.Signature, sig.Identification
			cols = append(cols, "signature", "identification")
			if t := unixTime(sig.IAT); t != nil {
				upd.SignedAt = t
				cols = append(cols, "signed_at")
			}
		}
		if upd.SignedAt == nil {
			if t := unixTime(info[o.NIN].SignedAt); t != nil {
				upd.SignedAt = t
				cols = append(cols, "signed_at")
			}
		}
		if len(cols) == 0 {
			continue
		}
		// Conditional on the status we read, so two concurrent refreshes
		// can't move a signee backwards.
		res := tx.Model(&models.DocumentSignee{}).Where("id = ? AND status = ?", o.ID, o.Status).Select(cols).Updates(&upd)
		if res.Error != nil {
			return res.Error
		}
		if moved && res.RowsAffected > 0 {
			note := fmt.Sprintf("signee %s %s", MaskNIN(o.NIN, false), map[models.SigneeStatus]string{models.SigneeViewing: "opened the document", models.SigneeSigned: "signed"}[next])
			if err := tx.Create(&models.DocumentEvent{DocumentID: docID, At: now, FromState: current.State, ToState: current.State, Note: note}).Error; err != nil {
				return err
			}
		}
	}
	return nil
}

// documentLifecycle is how a document changes state: only the moves in its table,
// each with its timeline event.
var documentLifecycle = &lifecycle.Kind[models.DocumentState]{
	Name: "document",
	Table: lifecycle.Table[models.DocumentState]{
		models.DocumentQueued:     {models.DocumentSubmitting, models.DocumentFailed},
		models.DocumentSubmitting: {models.DocumentSubmitted, models.DocumentFailed, models.DocumentUnknown},
		models.DocumentSubmitted:  {models.DocumentInProgress, models.DocumentCompleted, models.DocumentCancelled, models.DocumentExpired},
		models.DocumentInProgress: {models.DocumentCompleted, models.DocumentCancelled, models.DocumentExpired},
		// A webhook naming our reference (or a person entering pasby's id),
		// confirmed by a refresh, tells what became of a request whose answer
		// was lost; failed is a person confirming with pasby it never arrived.
		models.DocumentUnknown: {models.DocumentSubmitted, models.DocumentInProgress, models.DocumentCompleted, models.DocumentCancelled, models.DocumentExpired, models.DocumentFailed},
	},
	Model: func() any { return &models.Document{} },
	Entering: func(to models.DocumentState, now time.Time, cols map[string]any) {
		if !to.Open() {
			// Only documents pasby is working on are checked; the
			// reconciler's index holds exactly the rows with a next check.
			cols["next_check_at"] = nil
		}
		if to == models.DocumentCompleted {
			cols["completed_at"] = now
		}
	},
	Event: func(m lifecycle.Move[models.DocumentState], from models.DocumentState, at time.Time) any {
		return &models.DocumentEvent{DocumentID: m.ID, At: at, FromState: from, ToState: m.To, Note: m.Note}
	},
}

// change is what a document move or update writes besides its state; a nil
// field leaves its column as it is.
type change struct {
	UpstreamID       *string
	HostedLink       *string
	StampedURL       *string
	Handled          *bool
	Error            *string
	IAT, Exp, LUT    *time.Time
	LastUpstreamJSON *string
	NextCheckAt      *time.Time
	CheckAttempts    *int
}

// transition moves a document from one of from to to, if it is still
// there, with its timeline event; also runs in the same transaction after
// the change and only if it happened (what happened to the signees comes
// first in the timeline: the last signature is what completes it). It
// reports whether this call made the change.
func (s *Service) transition(ctx context.Context, id uint, from []models.DocumentState, to models.DocumentState, c *change, note string, also func(tx *gorm.DB) error) (bool, error) {
	return documentLifecycle.Transition(ctx, s.db, s.now(), lifecycle.Move[models.DocumentState]{ID: id, From: from, To: to, Change: c, Note: note, Also: also})
}

// answer writes what the one pasby create call for a document answered (see
// lifecycle.TransitionAnswer).
func (s *Service) answer(ctx context.Context, id uint, to models.DocumentState, c *change, note string, also func(tx *gorm.DB) error) (bool, error) {
	return documentLifecycle.TransitionAnswer(ctx, s.db, s.now(), lifecycle.Move[models.DocumentState]{
		ID: id, To: to, Change: c, Note: note, Also: also},
		models.DocumentSubmitting, models.DocumentUnknown, models.DocumentSubmitted)
}

// update changes columns of a document that is in one of states, without
// changing its state, and runs also in the same transaction if it did.
func (s *Service) update(ctx context.Context, id uint, states []models.DocumentState, c *change, also func(tx *gorm.DB) error) error {
	_, err := documentLifecycle.Update(ctx, s.db, s.now(), id, states, c, also)
	return err
}

// CanTransition reports whether a document may move from one state to
// another.
func CanTransition(from, to models.DocumentState) bool {
	return documentLifecycle.Table.Allows(from, to)
}

// Get returns one document or models.ErrNotFound.
func (s *Service) Get(ctx context.Context, id uint) (models.Document, error) {
	var d models.Document
	err := s.db.WithContext(ctx).Take(&d, id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return models.Document{}, models.ErrNotFound
	}
	if err != nil {
		return models.Document{}, fmt.Errorf("documents: get %d: %w", id, err)
	}
	return d, nil
}

// Detail is a document with everything the detail page shows.
type Detail struct {
	Document        models.Document
	Signees         []models.DocumentSignee // full NINs: mask with MaskNIN when rendering
	Events          []models.DocumentEvent
	Audit           []models.AuditEvent
	Review          *models.DocumentReview // nil until decided
	VerificationURL string                 // pasby's document checker, once completed
}

// GetLive is the detail without the audit trail: what the status
// fragment renders every 2 s.
func (s *Service) GetLive(ctx context.Context, id uint) (Detail, error) {
	d, err := s.Get(ctx, id)
	if err != nil {
		return Detail{}, err
	}
	det := Detail{Document: d, VerificationURL: VerificationURL(d)}
	db := s.db.WithContext(ctx)
	if err := db.Where("document_id = ?", id).Order("position").Find(&det.Signees).Error; err != nil {
		return Detail{}, fmt.Errorf("documents: signees: %w", err)
	}
	if err := db.Where("document_id = ?", id).Order("id").Find(&det.Events).Error; err != nil {
		return Detail{}, fmt.Errorf("documents: events: %w", err)
	}
	var reviews []models.DocumentReview
	if err := db.Where("document_id = ?", id).Limit(1).Find(&reviews).Error; err != nil {
		return Detail{}, fmt.Errorf("documents: review: %w", err)
	}
	if len(reviews) == 1 {
		det.Review = &reviews[0]
	}
	return det, nil
}

// GetDetail returns everything the detail page shows.
func (s *Service) GetDetail(ctx context.Context, id uint) (Detail, error) {
	d, err := s.GetLive(ctx, id)
	if err != nil {
		return Detail{}, err
	}
	if d.Audit, err = services.AuditTrail(ctx, s.db, documentLifecycle.Subject(id)); err != nil {
		return Detail{}, fmt.Errorf("documents: %w", err)
	}
	return d, nil
}

// Signees returns a document's signees in the operator's order, for the
// live status fragment.
func (s *Service) Signees(ctx context.Context, id uint) ([]models.DocumentSignee, error) {
	var out []models.DocumentSignee
	if err := s.db.WithContext(ctx).Where("document_id = ?", id).Order("position").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("documents: signees: %w", err)
	}
	return out, nil
}

// RecoverLapsed settles what a process that died mid-way left behind, once
// its claim has run out: a document still "submitting" may have reached
// pasby, so it becomes unknown; one still "queued" was never sent, and
// fails with a note. It returns how many it settled.
func (s *Service) RecoverLapsed(ctx context.Context) (int, error) {
	var stuck []models.Document
	if err := s.db.WithContext(ctx).Where("state IN ?", []models.DocumentState{models.DocumentSubmitting, models.DocumentQueued}).
		Scopes(lifecycle.Lapsed(s.now())).Order("id").Limit(100).Find(&stuck).Error; err != nil {
		return 0, fmt.Errorf("documents: recover: %w", err)
	}
	for _, d := range stuck {
		var err error
		if d.State == models.DocumentSubmitting {
			_, err = s.transition(ctx, d.ID, []models.DocumentState{models.DocumentSubmitting}, models.DocumentUnknown,
				&change{Error: new("The portal stopped while sending this request to pasby, so the signers may or may not have received it. It will not be sent again; if pasby did receive it, its first webhook will bring it back here.")},
				"the portal process sending it stopped during the call", nil)
		} else {
			_, err = s.transition(ctx, d.ID, []models.DocumentState{models.DocumentQueued}, models.DocumentFailed,
				&change{Error: new("Not sent: the portal stopped before sending it. Create a new request if it is still needed.")},
				"the portal process sending it stopped before sending", nil)
		}
		if err != nil {
			return 0, err
		}
		s.opts.Logger.Warn("recovered document whose claim lapsed", "document_id", d.ID, "was", d.State, "claimed_by", d.ClaimedBy)
	}
	return len(stuck), nil
}

// Cancel asks pasby to cancel an open document and records the outcome.
// It returns the document as it stands afterwards; err is ErrNotOpen when
// there is nothing to cancel, an *UpstreamError when pasby could not be
// asked or refused (the document then shows what pasby says now).
func (s *Service) Cancel(ctx context.Context, actor services.Actor, id uint) (models.Document, error) {
	d, err := s.Get(ctx, id)
	if err != nil {
		return models.Document{}, err
	}
	if !d.State.Open() || d.UpstreamID == nil {
		return d, ErrNotOpen
	}
	ctx = context.WithoutCancel(ctx)
	_, callErr := s.upstream.Cancel(ctx, *d.UpstreamID)
	open := []models.DocumentState{models.DocumentSubmitted, models.DocumentInProgress}
	switch {
	case callErr == nil, errors.Is(callErr, pasby.ErrCancelled):
		changed, err := s.transition(ctx, id, open, models.DocumentCancelled, nil, "cancelled by "+actor.Email, func(tx *gorm.DB) error {
			return services.Audit(tx, s.now(), actor, "document.cancelled", documentLifecycle.Subject(id), "pasby confirmed")
		})
		if err != nil {
			return d, err
		}
		if !changed {
			// It reached a final state meanwhile (signed or expired).
			d, _ = s.Get(ctx, id)
			return d, ErrNotOpen
		}
		return s.Get(ctx, id)
	default:
		// Refused, expired, lost: what pasby says now is the truth.
		if err := services.WithTx(ctx, s.db, func(tx *gorm.DB) error {
			return services.Audit(tx, s.now(), actor, "document.cancel_failed", documentLifecycle.Subject(id), callErr.Error())
		}); err != nil {
			return d, err
		}
		s.check(ctx, d)
		d, _ = s.Get(ctx, id)
		return d, plainCancel(callErr)
	}
}

func plainCancel(err error) *UpstreamError {
	var rejected *upstream.RejectedError
	if errors.As(err, &rejected) && strings.EqualFold(rejected.UpstreamStatus, "handled") {
		return &UpstreamError{"pasby would not cancel it: everyone has already signed.", err}
	}
	if upstream.IsUnknown(err) {
		return &UpstreamError{"The portal lost contact with pasby while cancelling; the state below is what pasby reported afterwards.", err}
	}
	pe := plain(err)
	pe.Message = "Not cancelled. " + pe.Message
	return pe
}

// Refresh fetches the document from pasby now (the "refresh now" button)
// and records that staff asked. A completed document may be refreshed too,
// to fetch a stamped PDF or signatures that came late.
func (s *Service) Refresh(ctx context.Context, actor services.Actor, id uint) (models.Document, error) {
	d, err := s.Get(ctx, id)
	if err != nil {
		return models.Document{}, err
	}
	if d.UpstreamID == nil || !(d.State.Open() || d.State == models.DocumentCompleted) {
		return d, ErrNotOpen
	}
	checkErr := s.check(context.WithoutCancel(ctx), d)
	details := "ok"
	if checkErr != nil {
		details = "failed: " + checkErr.Error()
	}
	if err := services.WithTx(ctx, s.db, func(tx *gorm.DB) error {
		return services.Audit(tx, s.now(), actor, "document.refreshed", documentLifecycle.Subject(id), details)
	}); err != nil {
		return d, err
	}
	d, err = s.Get(ctx, id)
	if err != nil {
		return d, err
	}
	if checkErr != nil {
		return d, plain(checkErr)
	}
	return d, nil
}
