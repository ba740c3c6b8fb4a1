// Package verifications owns identity verifications at pawaPass (KYC with
// a hosted document and face scan) and PassportReader (NFC passport
// sessions): the create, the reconciler, webhooks and callbacks that follow
// a verification to a final state, images, and the compliance review.
//
// The rules are the recharges' and documents':
//   - A row (with our unguessable reference) is committed before the
//     provider is called, so a request is never lost.
//   - Only the request that moves the row queued → submitting calls the
//     provider; no transaction is open during the call.
//   - Every state change is a conditional UPDATE from the states it may
//     leave; final states are never in that list (and a trigger refuses it).
//   - An outcome we can't know becomes "unknown" and is never re-sent:
//     the customer may already have a link. pawaPass verifications are
//     found again by listing their externalId and matching our reference in
//     metadata; PassportReader sessions when their callback names our
//     reference and session.get confirms it.
//   - A provider's word is only taken from the provider: webhooks and
//     callbacks are triggers, the state comes from a get.
package verifications

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"portal/models"
	"portal/services"
	"portal/services/lifecycle"
	"portal/services/passportreader"
	"portal/services/pawapass"
	"portal/services/upstream"
)

// PawaPass is the part of the pawaPass client the service uses.
type PawaPass interface {
	Create(ctx context.Context, r pawapass.CreateRequest) (pawapass.Verification, error)
	Get(ctx context.Context, id string) (pawapass.Verification, error)
	List(ctx context.Context, q pawapass.ListQuery) (pawapass.ListResult, error)
}

// PassportReader is the part of the PassportReader client the service
// uses.
type PassportReader interface {
	CreateSession(ctx context.Context, r passportreader.CreateSessionRequest) (passportreader.CreatedSession, error)
	GetSession(ctx context.Context, id int64) (passportreader.Session, error)
	OpenURL(token, redirectURL string) string
}

// Errors the web layer maps to pages and status codes with errors.Is.
var (
	ErrNotOpen          = errors.New("verifications: the provider is no longer working on this verification")
	ErrNotReviewable    = errors.New("verifications: only verifications the provider approved or declined can be reviewed")
	ErrAlreadyReviewed  = errors.New("verifications: the verification already has a review decision")
	ErrNoImage          = errors.New("verifications: no such image")
	ErrBadSignature     = errors.New("verifications: webhook signature does not match")
	ErrUnknownSecret    = errors.New("verifications: unknown callback secret")
	ErrUnknownReference = errors.New("verifications: the callback names no verification of ours")
	ErrBadWebhook       = errors.New("verifications: the webhook body cannot be read")
	ErrWebhookTooLarge  = errors.New("verifications: webhook body too large")
)

// UpstreamError is a provider failure in words for staff.
type UpstreamError struct {
	Message string
	Err     error
}

func (e *UpstreamError) Error() string { return e.Message }
func (e *UpstreamError) Unwrap() error { return e.Err }

// Options configure the service.
type Options struct {
	// BaseURL is the portal's public address; PassportReader posts its
	// callbacks to BaseURL + "/webhooks/passportreader/" + CallbackSecret.
	BaseURL        string
	CallbackSecret string
	// PawaPassWebhookSecret keys the X-Signature HMAC of pawaPass webhooks.
	// Empty: every pawaPass webhook is refused (the reconciler still
	// follows the verifications).
	PawaPassWebhookSecret string
	// StoreImages keeps portraits and face images (IDV_STORE_IMAGES).
	StoreImages bool
	// DefaultURLs prefill pawaPass's successUrl, errorUrl and supportUrl
	// on the form.
	DefaultURLs DefaultURLs
	// FirstCheck and MaxCheckDelay are the reconciler's backoff (defaults
	// 5 s and 5 min, ±20 % jitter).
	FirstCheck    time.Duration
	MaxCheckDelay time.Duration
	// Lease is how long this process holds a verification it sends or
	// checks (lifecycle.DefaultLease when zero); the call gives up before
	// it runs out.
	Lease time.Duration
	// Location reads datetime-local expiry values; nil is UTC.
	Location *time.Location
	Logger   *slog.Logger
}

// DefaultURLs are the pawaPass redirect URLs the form starts with.
type DefaultURLs struct{ Success, Error, Support string }

// Defaults returns the URLs the new-verification form is prefilled with.
func (s *Service) Defaults() DefaultURLs { return s.opts.DefaultURLs }

// Service is the verifications use-case.
type Service struct {
	db          *gorm.DB
	pawa        PawaPass
	reader      PassportReader
	now         services.Clock
	opts        Options
	callbackURL string

	wake chan struct{}
	// backoff is how long after its attempt-th check a verification is
	// checked again.
	backoff func(attempt int) time.Duration
}

var secretPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{20,128}$`)

// New checks the options and returns the service.
func New(db *gorm.DB, pawa PawaPass, reader PassportReader, now services.Clock, opts Options) (*Service, error) {
	base := strings.TrimRight(strings.TrimSpace(opts.BaseURL), "/")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("verifications: BaseURL must be the portal's absolute http(s) address")
	}
	if !secretPattern.MatchString(opts.CallbackSecret) {
		return nil, errors.New("verifications: CallbackSecret must be 20 to 128 letters, digits, '-' or '_'")
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
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	return &Service{
		db: db, pawa: pawa, reader: reader, now: now, opts: opts,
		callbackURL: base + "/webhooks/passportreader/" + opts.CallbackSecret,
		wake:        make(chan struct{}, 1),
		backoff:     lifecycle.CheckSchedule(opts.FirstCheck, opts.MaxCheckDelay),
	}, nil
}

// NewReference returns a fresh reference: 24 random bytes, base64url. It
// authenticates PassportReader callbacks, so it must not be guessable.
func NewReference() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// metadataKey is where our reference travels in pawaPass metadata, so a
// verification whose create answer was lost can be recognised. [ours]
const metadataKey = "portal_reference"

// Create records a verification and sends it to its provider once. It
// returns the verification as it stands after the attempt: submitted (with
// the customer's link), failed (Error says why) or unknown. err is for
// invalid input (services.FieldErrors) and database failures only.
func (s *Service) Create(ctx context.Context, actor services.Actor, in Input) (models.Verification, error) {
	now := s.now().UTC()
	v, err := in.Validate(now, s.opts.Location)
	if err != nil {
		return models.Verification{}, err
	}
	row := models.Verification{
		Provider: v.Provider, Reference: NewReference(), ExternalID: v.ExternalID, CustomerPhone: v.PhoneNo,
		Country: v.Country, Requirements: strings.Join(v.Requirements, ","), FaceVerification: v.FaceVerification,
		PassportOnly: v.PassportOnly, SuccessURL: v.SuccessURL, ErrorURL: v.ErrorURL, SupportURL: v.SupportURL,
		ExpiresAt: v.ExpiresAt, State: models.VerificationQueued, CreatedByEmail: actor.Email, CreatedAt: now, UpdatedAt: now,
	}
	claim := lifecycle.NewClaim(now, s.opts.Lease)
	row.ClaimedBy, row.LeaseUntil = claim.By, &claim.Until
	if actor.ID != 0 {
		id := actor.ID
		row.CreatedByID = &id
	}
	err = services.WithTx(ctx, s.db, func(tx *gorm.DB) error {
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		if err := tx.Create(&models.VerificationEvent{VerificationID: row.ID, At: now, ToState: models.VerificationQueued, Note: "created by " + actor.Email}).Error; err != nil {
			return err
		}
		details := "provider=" + string(v.Provider)
		if v.ExternalID != "" {
			details += " external_id=" + v.ExternalID
		}
		if v.PhoneNo != "" {
			details += " phone=" + v.PhoneNo
		}
		return services.Audit(tx, now, actor, "verification.created", verificationLifecycle.Subject(row.ID), details)
	})
	if err != nil {
		return models.Verification{}, fmt.Errorf("verifications: record: %w", err)
	}
	// The call outlives the browser: a closed tab must not cancel it
	// halfway and turn a clean answer into an unknown outcome.
	return s.send(context.WithoutCancel(ctx), row.ID)
}

// send claims a queued verification and calls its provider.
func (s *Service) send(ctx context.Context, id uint) (models.Verification, error) {
	row, err := s.Get(ctx, id)
	if err != nil {
		return row, err
	}
	claim := lifecycle.NewClaim(s.now(), s.opts.Lease)
	claimed, err := verificationLifecycle.Transition(ctx, s.db, s.now(), lifecycle.Move[models.VerificationState]{
		ID: id, From: []models.VerificationState{models.VerificationQueued}, To: models.VerificationSubmitting,
		Note: "sending to " + row.Provider.Label(), Claim: &claim})
	if err != nil || !claimed {
		r, gerr := s.Get(ctx, id)
		if err == nil {
			err = gerr
		}
		return r, err
	}
	callCtx, cancel := context.WithTimeout(ctx, lifecycle.CallTimeout(s.opts.Lease))
	defer cancel()
	var c *change
	var status, note string
	var callErr error
	switch row.Provider {
	case models.ProviderPawaPass:
		var answer pawapass.Verification
		answer, callErr = s.pawa.Create(callCtx, pawaRequest(row))
		if callErr == nil {
			c, status = pawaChange(answer), answer.Status
			c.UpstreamID, c.Link = &answer.ID, &answer.URL
			note = "pawaPass created verification " + answer.ID
		}
	case models.ProviderPassportReader:
		var created passportreader.CreatedSession
		created, callErr = s.reader.CreateSession(callCtx, readerRequest(row, s.callbackURL))
		if callErr == nil {
			status = passportreader.StateCreated
			c = &change{UpstreamID: new(strconv.FormatInt(created.ID, 10)), Link: new(s.reader.OpenURL(created.Token, "")),
				ProviderStatus: &status}
			note = "PassportReader created session " + strconv.FormatInt(created.ID, 10)
		}
	}
	now := s.now().UTC()
	switch {
	case callErr == nil:
		c.NextCheckAt = new(now.Add(s.opts.FirstCheck))
		to := stateFor(row.Provider, status, models.VerificationSubmitted)
		_, err = s.answer(ctx, id, to, c, status, note)
	case upstream.IsUnknown(callErr):
		s.opts.Logger.Warn("verification outcome unknown", "verification_id", id, "err", callErr)
		msg := plain(row.Provider, callErr).Message
		c := &change{Error: &msg}
		if row.Provider == models.ProviderPawaPass {
			// pawaPass can be asked by externalId: look soon.
			c.NextCheckAt = new(now.Add(s.opts.FirstCheck))
		}
		_, err = s.answer(ctx, id, models.VerificationUnknown, c, "", "no answer from "+row.Provider.Label()+" after sending")
	default:
		msg := plain(row.Provider, callErr).Message
		s.opts.Logger.Warn("verification refused", "verification_id", id, "err", callErr)
		_, err = s.answer(ctx, id, models.VerificationFailed, &change{Error: &msg}, "", msg)
	}
	r, gerr := s.Get(ctx, id)
	if err == nil {
		err = gerr
	}
	return r, err
}

func pawaRequest(row models.Verification) pawapass.CreateRequest {
	req := pawapass.CreateRequest{
		ExternalID: row.ExternalID, SuccessURL: row.SuccessURL, ErrorURL: row.ErrorURL, SupportURL: row.SupportURL,
		Country: row.Country, PhoneNo: row.CustomerPhone, CreatedBy: row.CreatedByEmail,
		Metadata: map[string]string{metadataKey: row.Reference},
	}
	for _, r := range strings.Split(row.Requirements, ",") {
		if r != "" {
			req.Requirements = append(req.Requirements, pawapass.Requirement{Type: r})
		}
	}
	if row.ExpiresAt != nil {
		req.ExpiresAt = *row.ExpiresAt
	}
	return req
}

func readerRequest(row models.Verification, callbackURL string) passportreader.CreateSessionRequest {
	face, passportOnly := row.FaceVerification, row.PassportOnly
	return passportreader.CreateSessionRequest{CallbackURL: callbackURL, Reference: row.Reference,
		FaceVerification: &face, PassportOnly: &passportOnly}
}

// plain turns a provider error into a sentence for staff.
func plain(p models.VerificationProvider, err error) *UpstreamError {
	name := p.Label()
	var rejected *upstream.RejectedError
	switch {
	case upstream.IsUnknown(err):
		return &UpstreamError{"The portal lost contact with " + name + " after sending the request, so it may or may not exist there. It will not be sent again; the portal keeps looking for it.", err}
	case errors.Is(err, upstream.ErrBadCredentials), errors.Is(err, upstream.ErrForbidden):
		return &UpstreamError{name + " refused the portal's credentials, so nothing was done. Tell an admin.", err}
	case errors.Is(err, upstream.ErrNotFound):
		return &UpstreamError{name + " does not know this verification.", err}
	case errors.Is(err, upstream.ErrUnavailable):
		return &UpstreamError{name + " is not answering properly right now. Nothing was created; try again in a few minutes.", err}
	case errors.As(err, &rejected):
		return &UpstreamError{name + " refused the request: " + rejected.Reason(), err}
	}
	return &UpstreamError{"The portal could not build a request " + name + " would accept, so nothing was sent. Tell an admin.", err}
}

// verificationLifecycle is how a verification changes state: only the
// moves in its table, each with its timeline event.
var verificationLifecycle = &lifecycle.Kind[models.VerificationState]{
	Name: "verification",
	Table: lifecycle.Table[models.VerificationState]{
		models.VerificationQueued:     {models.VerificationSubmitting, models.VerificationFailed},
		models.VerificationSubmitting: {models.VerificationSubmitted, models.VerificationInProgress, models.VerificationApproved, models.VerificationDeclined, models.VerificationExpired, models.VerificationAborted, models.VerificationFailed, models.VerificationUnknown},
		models.VerificationSubmitted:  {models.VerificationInProgress, models.VerificationApproved, models.VerificationDeclined, models.VerificationExpired, models.VerificationAborted},
		models.VerificationInProgress: {models.VerificationApproved, models.VerificationDeclined, models.VerificationExpired, models.VerificationAborted},
		// Found again (pawaPass list by externalId, a PassportReader callback
		// confirmed by a get), or closed by a person who checked.
		models.VerificationUnknown: {models.VerificationSubmitted, models.VerificationInProgress, models.VerificationApproved, models.VerificationDeclined, models.VerificationExpired, models.VerificationAborted, models.VerificationFailed},
	},
	Model: func() any { return &models.Verification{} },
	Entering: func(to models.VerificationState, now time.Time, cols map[string]any) {
		if !to.Open() && to != models.VerificationUnknown {
			cols["next_check_at"] = nil
		}
		if to.Final() && to != models.VerificationFailed {
			cols["completed_at"] = now
		}
	},
	Event: func(m lifecycle.Move[models.VerificationState], from models.VerificationState, at time.Time) any {
		return &models.VerificationEvent{VerificationID: m.ID, At: at, FromState: from, ToState: m.To, ProviderStatus: m.UpstreamStatus, Note: m.Note}
	},
}

// change is what a verification move or update writes besides its state;
// a nil field leaves its column as it is.
type change struct {
	UpstreamID       *string
	Link             *string
	ProviderStatus   *string
	Error            *string
	ExpiresAt        *time.Time
	DocumentType     *string
	DocumentNumber   *string
	DocumentCountry  *string
	GivenNames       *string
	Surname          *string
	DateOfBirth      *string
	IdentityJSON     *string
	FaceResult       *string
	ReviewReason     *string
	LastUpstreamJSON *string
	NextCheckAt      *time.Time
	CheckAttempts    *int
}

// CanTransition reports whether a verification may move from one state to
// another.
func CanTransition(from, to models.VerificationState) bool {
	return verificationLifecycle.Table.Allows(from, to)
}

// transition moves a verification from one of from to to with c, records
// a timeline event, and runs also, all in one transaction. It reports
// whether the row moved.
func (s *Service) transition(ctx context.Context, id uint, from []models.VerificationState, to models.VerificationState, c *change, providerStatus, note string, also func(tx *gorm.DB) error) (bool, error) {
	return verificationLifecycle.Transition(ctx, s.db, s.now(), lifecycle.Move[models.VerificationState]{
		ID: id, From: from, To: to, Change: c, UpstreamStatus: providerStatus, Note: note, Also: also})
}

// answer writes what the one create call for a verification answered (see
// lifecycle.TransitionAnswer).
func (s *Service) answer(ctx context.Context, id uint, to models.VerificationState, c *change, providerStatus, note string) (bool, error) {
	return verificationLifecycle.TransitionAnswer(ctx, s.db, s.now(), lifecycle.Move[models.VerificationState]{
		ID: id, To: to, Change: c, UpstreamStatus: providerStatus, Note: note},
		models.VerificationSubmitting, models.VerificationUnknown, models.VerificationSubmitted)
}

// update changes columns of a verification in one of states without
// changing its state; a provider status change is put on the timeline.
func (s *Service) update(ctx context.Context, id uint, states []models.VerificationState, c *change, statusEvent *models.VerificationEvent, also func(tx *gorm.DB) error) error {
	_, err := verificationLifecycle.Update(ctx, s.db, s.now(), id, states, c, func(tx *gorm.DB) error {
		if statusEvent != nil {
			if err := tx.Create(statusEvent).Error; err != nil {
				return err
			}
		}
		if also != nil {
			return also(tx)
		}
		return nil
	})
	return err
}

// Get returns one verification or models.ErrNotFound.
func (s *Service) Get(ctx context.Context, id uint) (models.Verification, error) {
	var v models.Verification
	err := s.db.WithContext(ctx).Take(&v, id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return models.Verification{}, models.ErrNotFound
	}
	if err != nil {
		return models.Verification{}, fmt.Errorf("verifications: get %d: %w", id, err)
	}
	return v, nil
}

// Detail is a verification with everything its page shows.
type Detail struct {
	Verification models.Verification
	Identity     []IdentityField
	Events       []models.VerificationEvent
	Audit        []models.AuditEvent
	Review       *models.VerificationReview
	Images       []string // kinds stored: "portrait", "face"
}

// GetLive is the detail without the audit trail: what the status
// fragment renders every 2 s.
func (s *Service) GetLive(ctx context.Context, id uint) (Detail, error) {
	v, err := s.Get(ctx, id)
	if err != nil {
		return Detail{}, err
	}
	d := Detail{Verification: v, Identity: decodeIdentity(v.IdentityJSON)}
	db := s.db.WithContext(ctx)
	if err := db.Where("verification_id = ?", id).Order("id").Find(&d.Events).Error; err != nil {
		return Detail{}, fmt.Errorf("verifications: events: %w", err)
	}
	var reviews []models.VerificationReview
	if err := db.Where("verification_id = ?", id).Limit(1).Find(&reviews).Error; err != nil {
		return Detail{}, fmt.Errorf("verifications: review: %w", err)
	}
	if len(reviews) == 1 {
		d.Review = &reviews[0]
	}
	if err := db.Model(&models.VerificationImage{}).Where("verification_id = ?", id).Order("kind DESC").Pluck("kind", &d.Images).Error; err != nil {
		return Detail{}, fmt.Errorf("verifications: images: %w", err)
	}
	return d, nil
}

// GetDetail returns everything the detail page shows.
func (s *Service) GetDetail(ctx context.Context, id uint) (Detail, error) {
	d, err := s.GetLive(ctx, id)
	if err != nil {
		return Detail{}, err
	}
	if d.Audit, err = services.AuditTrail(ctx, s.db, verificationLifecycle.Subject(id)); err != nil {
		return Detail{}, fmt.Errorf("verifications: %w", err)
	}
	return d, nil
}

// RecoverLapsed settles, as for documents, what a process that died
// mid-way left once its claim ran out: "submitting" may have reached the
// provider (unknown), "queued" never did (failed). It returns how many it
// settled.
func (s *Service) RecoverLapsed(ctx context.Context) (int, error) {
	var stuck []models.Verification
	if err := s.db.WithContext(ctx).Where("state IN ?", []models.VerificationState{models.VerificationSubmitting, models.VerificationQueued}).
		Scopes(lifecycle.Lapsed(s.now())).Order("id").Limit(100).Find(&stuck).Error; err != nil {
		return 0, fmt.Errorf("verifications: recover: %w", err)
	}
	for _, v := range stuck {
		var err error
		if v.State == models.VerificationSubmitting {
			c := &change{Error: new("The portal stopped while sending this request to " + v.Provider.Label() + ", so it may or may not exist there. It will not be sent again; the portal keeps looking for it.")}
			if v.Provider == models.ProviderPawaPass {
				c.NextCheckAt = new(s.now().UTC())
			}
			_, err = s.transition(ctx, v.ID, []models.VerificationState{models.VerificationSubmitting}, models.VerificationUnknown, c, "", "the portal process sending it stopped during the call", nil)
		} else {
			_, err = s.transition(ctx, v.ID, []models.VerificationState{models.VerificationQueued}, models.VerificationFailed,
				&change{Error: new("Not sent: the portal stopped before sending it. Start a new verification if it is still needed.")},
				"", "the portal process sending it stopped before sending", nil)
		}
		if err != nil {
			return 0, err
		}
		s.opts.Logger.Warn("recovered verification whose claim lapsed", "verification_id", v.ID, "was", v.State, "claimed_by", v.ClaimedBy)
	}
	return len(stuck), nil
}
