package pawapasssim

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"portal/services/sandbox"
)

// Errors of the methods that act on a verification. Wrong-state errors
// wrap ErrWrongState with the verification's status.
var (
	ErrNotFound    = errors.New("pawapasssim: no verification with that id")
	ErrWrongState  = errors.New("pawapasssim: the verification's status does not allow this")
	ErrNotRequired = errors.New("pawapasssim: the verification does not require this step")
	ErrIncomplete  = errors.New("pawapasssim: a required step has not been done")
	ErrBadInput    = errors.New("pawapasssim: invalid input")
	ErrNoWebhooks  = errors.New("pawapasssim: no webhook URL is configured")
	ErrClosed      = errors.New("pawapasssim: the simulator is closed")
)

// Verification is a snapshot of one verification: plain values, safe to
// keep. Nullable API fields are "" (or nil) when null.
type Verification struct {
	ID               string
	ExternalID       string
	Country          string
	PhoneNo          string
	Requirements     []Requirement
	URL              string
	Status           string
	Metadata         json.RawMessage // the metadata object as sent, compacted; nil when null
	SuccessURL       string
	ErrorURL         string
	SupportURL       string
	IdentityDocument *IdentityDocument
	FaceScan         *FaceScan
	ReviewReason     string // reviewResult.reason; "" unless DECLINED
	CreatedBy        string
	ExpiresAt        time.Time
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Requirement is one entry of requirements.
type Requirement struct {
	Type                   string // RequirementDocumentScan or RequirementFaceScan
	PreviousVerificationID string // options.previousVerificationId, "" when not given
}

// IdentityDocument is the extracted identity document. Dates are
// "YYYY-MM-DD", as in the document's example. For SubmitDocumentWith, empty
// fields are generated.
type IdentityDocument struct {
	Type             string // one of DocumentTypes
	Country          string
	SerialNo         string
	NationalNo       string
	FirstName        string
	LastName         string
	DateOfBirth      string
	PlaceOfBirth     string
	Nationality      string
	ExpiryAt         string
	IssuedAt         string
	IssuingAuthority string
	PlaceOfIssue     string
	CreatedAt        time.Time // set by the simulator
	UpdatedAt        time.Time // set by the simulator
}

// FaceScan is the face scan result.
type FaceScan struct {
	AgeEstimation string // one of AgeEstimations
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// verification is one verification as the store keeps it (kind
// kindVerification, keyed by ID), due when the clock next moves it.
type verification struct {
	ID           string        `json:"id"`
	ExternalID   string        `json:"externalId"`
	Country      string        `json:"country,omitempty"` // "" = null
	PhoneNo      *string       `json:"phoneNo,omitempty"`
	Requirements []Requirement `json:"requirements"`
	URL          string        `json:"url"`
	Status       string        `json:"status"`
	// Metadata is the metadata object as sent, compacted; "" when null. It
	// is kept as text: a json.RawMessage would come back from the store
	// re-escaped, and the API echoes the bytes as they were sent.
	Metadata     string            `json:"metadata,omitempty"`
	SuccessURL   string            `json:"successUrl"`
	ErrorURL     string            `json:"errorUrl"`
	SupportURL   string            `json:"supportUrl"`
	Doc          *IdentityDocument `json:"identityDocument,omitempty"`
	Face         *FaceScan         `json:"faceScan,omitempty"`
	ReviewReason string            `json:"reviewReason,omitempty"`
	CreatedBy    *string           `json:"createdBy,omitempty"`
	ExpiresAt    time.Time         `json:"expiresAt"`
	CreatedAt    time.Time         `json:"createdAt"`
	UpdatedAt    time.Time         `json:"updatedAt"`
	Started      bool              `json:"started,omitempty"`   // has been STARTED
	Submitted    bool              `json:"submitted,omitempty"` // has reached USER_DATA_COLLECTED
	NextAuto     time.Time         `json:"nextAuto,omitzero"`   // next AutoAdvance step; zero when off
	// LastDelivery is the delivery of the last webhook, which
	// ResendWebhook posts again.
	LastDelivery string `json:"lastDelivery,omitempty"`

	// outbox holds the webhooks of the change being made, queued in the
	// same transaction as v by save.
	outbox []sandbox.OutboxMessage[hookMeta]
}

func (v *verification) requires(typ string) bool {
	return slices.ContainsFunc(v.Requirements, func(r Requirement) bool { return r.Type == typ })
}

// reverifies returns the previousVerificationId of a face-only
// re-verification, or "".
func (v *verification) reverifies() string {
	for _, r := range v.Requirements {
		if r.PreviousVerificationID != "" {
			return r.PreviousVerificationID
		}
	}
	return ""
}

// needsDocument: a re-verification compares the face with an earlier
// verification's, so it scans no document of its own. [ours]
func (v *verification) needsDocument() bool { return v.requires(RequirementDocumentScan) }

func (v *verification) needsFace() bool { return v.requires(RequirementFaceScan) }

func (v *verification) collected() bool {
	return (!v.needsDocument() || v.Doc != nil) && (!v.needsFace() || v.Face != nil)
}

func isFinal(status string) bool {
	return status == StatusApproved || status == StatusDeclined || status == StatusExpired
}

// due is when something next happens to v by itself.
func (v *verification) due() time.Time {
	if !v.NextAuto.IsZero() && v.NextAuto.Before(v.ExpiresAt) {
		return v.NextAuto
	}
	return v.ExpiresAt
}

// storeDue is v's due time as the store indexes it: zero once final, and
// otherwise rounded up to the store's millisecond, so that a verification
// the store reports due has really come due (else the catch-up would find
// it due again and again).
func (v *verification) storeDue() time.Time {
	if isFinal(v.Status) {
		return time.Time{}
	}
	d := v.due()
	if t := d.Truncate(time.Millisecond); !t.Equal(d) {
		d = t.Add(time.Millisecond)
	}
	return d
}

func (v *verification) snapshot() Verification {
	out := Verification{
		ID: v.ID, ExternalID: v.ExternalID, Country: v.Country,
		Requirements: slices.Clone(v.Requirements), URL: v.URL, Status: v.Status,
		SuccessURL: v.SuccessURL, ErrorURL: v.ErrorURL, SupportURL: v.SupportURL,
		ReviewReason: v.ReviewReason,
		ExpiresAt:    v.ExpiresAt, CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt,
	}
	if v.Metadata != "" {
		out.Metadata = json.RawMessage(v.Metadata)
	}
	if v.PhoneNo != nil {
		out.PhoneNo = *v.PhoneNo
	}
	if v.CreatedBy != nil {
		out.CreatedBy = *v.CreatedBy
	}
	if v.Doc != nil {
		d := *v.Doc
		out.IdentityDocument = &d
	}
	if v.Face != nil {
		f := *v.Face
		out.FaceScan = &f
	}
	return out
}

// stamp is the simulator's time resolution: the API shows milliseconds.
func stamp(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// newVerification is the verification of a validated create request,
// without its id: insert chooses one.
func (s *Sim) newVerification(in createInput, now time.Time) *verification {
	now = stamp(now)
	v := &verification{
		ExternalID:   in.externalID,
		Country:      in.country,
		PhoneNo:      in.phoneNo,
		Requirements: in.requirements,
		Status:       StatusCreated,
		Metadata:     string(in.metadata),
		SuccessURL:   in.successURL,
		ErrorURL:     in.errorURL,
		SupportURL:   in.supportURL,
		CreatedBy:    in.createdBy,
		ExpiresAt:    now.Add(s.ttl),
		CreatedAt:    now,
		UpdatedAt:    now,
	}
	if in.expiresAt != nil {
		v.ExpiresAt = stamp(*in.expiresAt)
	}
	if s.autoAdvance > 0 {
		v.NextAuto = now.Add(s.autoAdvance)
	}
	return v
}

// applyClock applies, in time order, everything the clock says has
// happened to v by now: AutoAdvance steps, then expiry at expiresAt.
// Events happen at their due time, not when someone looked. [ours] It
// reports whether v changed.
func (s *Sim) applyClock(v *verification, now time.Time) (moved bool) {
	if isFinal(v.Status) {
		return false
	}
	if s.autoAdvance <= 0 && !v.NextAuto.IsZero() {
		// AutoAdvance was turned off since v was created (a restart with
		// other Options): its steps stop, or v would stay due for ever.
		v.NextAuto = time.Time{}
		moved = true
	}
	for s.autoAdvance > 0 && !isFinal(v.Status) && !v.NextAuto.IsZero() &&
		!v.NextAuto.After(now) && v.NextAuto.Before(v.ExpiresAt) {
		at := v.NextAuto
		v.NextAuto = at.Add(s.autoAdvance)
		_, _ = s.stepOne(v, at)
		moved = true
	}
	if !isFinal(v.Status) && !now.Before(v.ExpiresAt) {
		s.setStatus(v, StatusExpired, v.ExpiresAt)
		moved = true
	}
	return moved
}

// setStatus changes v's status at at and sends the webhook.
func (s *Sim) setStatus(v *verification, status string, at time.Time) {
	v.Status = status
	v.UpdatedAt = laterOf(v.UpdatedAt, stamp(at))
	if isFinal(status) {
		v.NextAuto = time.Time{}
	}
	s.notify(v, WebhookStatusChange, v.UpdatedAt)
}

// laterOf keeps updatedAt from going backwards when the clock does (a test
// clock, or a step applied at its due time after a later one).
func laterOf(a, b time.Time) time.Time {
	if b.Before(a) {
		return a
	}
	return b
}

func wrongState(v *verification, want ...string) error {
	return fmt.Errorf("%w: %s is %s, this needs %s", ErrWrongState, v.ID, v.Status, strings.Join(want, " or "))
}

func (s *Sim) start(v *verification, at time.Time) error {
	if v.Status != StatusCreated {
		return wrongState(v, StatusCreated)
	}
	v.Started = true
	s.setStatus(v, StatusStarted, at)
	return nil
}

// setDocument records a scanned identity document. Scanning the same
// values again changes nothing; different values replace the document and
// send IDENTITY_DOCUMENT_CHANGE again. [ours]
func (s *Sim) setDocument(v *verification, in IdentityDocument, at time.Time) error {
	if !v.needsDocument() {
		return fmt.Errorf("%w: %s does not require %s", ErrNotRequired, v.ID, RequirementDocumentScan)
	}
	if v.Status != StatusStarted {
		return wrongState(v, StatusStarted)
	}
	doc, err := s.completeDocument(v, in)
	if err != nil {
		return err
	}
	at = laterOf(v.UpdatedAt, stamp(at))
	if v.Doc != nil {
		doc.CreatedAt, doc.UpdatedAt = v.Doc.CreatedAt, v.Doc.UpdatedAt
		if doc == *v.Doc {
			return nil
		}
		doc.UpdatedAt = at
	} else {
		doc.CreatedAt, doc.UpdatedAt = at, at
	}
	v.Doc = &doc
	v.UpdatedAt = at
	s.notify(v, WebhookIdentityDocumentChange, at)
	return nil
}

// setFace records a face scan. No webhook: the document names no type for
// it. [ours]
func (s *Sim) setFace(v *verification, age string, at time.Time) error {
	if !v.needsFace() {
		return fmt.Errorf("%w: %s does not require %s", ErrNotRequired, v.ID, RequirementFaceScan)
	}
	if v.Status != StatusStarted {
		return wrongState(v, StatusStarted)
	}
	if age == "" {
		age = s.defaultAge(v)
	} else if !slices.Contains(AgeEstimations(), age) {
		return fmt.Errorf("%w: ageEstimation must be one of %s", ErrBadInput, strings.Join(AgeEstimations(), ", "))
	}
	at = laterOf(v.UpdatedAt, stamp(at))
	if v.Face != nil {
		if v.Face.AgeEstimation == age {
			return nil
		}
		v.Face.AgeEstimation, v.Face.UpdatedAt = age, at
	} else {
		v.Face = &FaceScan{AgeEstimation: age, CreatedAt: at, UpdatedAt: at}
	}
	v.UpdatedAt = at
	return nil
}

func (s *Sim) collect(v *verification, at time.Time) error {
	if v.Status != StatusStarted {
		return wrongState(v, StatusStarted)
	}
	if !v.collected() {
		var missing []string
		if v.needsDocument() && v.Doc == nil {
			missing = append(missing, RequirementDocumentScan)
		}
		if v.needsFace() && v.Face == nil {
			missing = append(missing, RequirementFaceScan)
		}
		return fmt.Errorf("%w: %s still needs %s", ErrIncomplete, v.ID, strings.Join(missing, " and "))
	}
	v.Submitted = true
	s.setStatus(v, StatusUserDataCollected, at)
	return nil
}

// review moves v to REVIEW. From STARTED it passes through
// USER_DATA_COLLECTED, as the person's final submit does, so Start, the
// scans and Review are a complete walk.
func (s *Sim) review(v *verification, at time.Time) error {
	if v.Status == StatusStarted {
		if err := s.collect(v, at); err != nil {
			return err
		}
	}
	if v.Status != StatusUserDataCollected {
		return wrongState(v, StatusStarted, StatusUserDataCollected)
	}
	s.setStatus(v, StatusReview, at)
	return nil
}

// submitAndReview is the hosted page's final submit: USER_DATA_COLLECTED,
// then straight to REVIEW, each with its webhook.
func (s *Sim) submitAndReview(v *verification, at time.Time) error {
	if v.Status != StatusStarted {
		return wrongState(v, StatusStarted)
	}
	return s.review(v, at)
}

// decide approves (reason "") or declines v. USER_DATA_COLLECTED is
// accepted besides REVIEW because NOTES.md shows REVIEW as optional. [ours]
func (s *Sim) decide(v *verification, reason string, at time.Time) error {
	if v.Status != StatusUserDataCollected && v.Status != StatusReview {
		return wrongState(v, StatusUserDataCollected, StatusReview)
	}
	if reason == "" {
		s.setStatus(v, StatusApproved, at)
		return nil
	}
	if !slices.Contains(ReviewReasons(), reason) {
		return fmt.Errorf("%w: the reason must be one of %s", ErrBadInput, strings.Join(ReviewReasons(), ", "))
	}
	v.ReviewReason = reason
	s.setStatus(v, StatusDeclined, at)
	return nil
}

// expire makes v (not final) expire at at.
func (s *Sim) expire(v *verification, at time.Time) error {
	if isFinal(v.Status) {
		return wrongState(v, StatusCreated, StatusStarted, StatusUserDataCollected, StatusReview)
	}
	v.ExpiresAt = laterOf(v.UpdatedAt, stamp(at))
	s.setStatus(v, StatusExpired, v.ExpiresAt)
	return nil
}

// stepOne moves v one step along the happy path: STARTED,
// USER_DATA_COLLECTED (generating whatever data is missing), REVIEW,
// APPROVED. [ours]
func (s *Sim) stepOne(v *verification, at time.Time) (string, error) {
	var err error
	switch v.Status {
	case StatusCreated:
		err = s.start(v, at)
	case StatusStarted:
		if v.needsDocument() && v.Doc == nil {
			err = s.setDocument(v, IdentityDocument{}, at)
		}
		if err == nil && v.needsFace() && v.Face == nil {
			err = s.setFace(v, "", at)
		}
		if err == nil {
			err = s.collect(v, at)
		}
	case StatusUserDataCollected:
		err = s.review(v, at)
	case StatusReview:
		err = s.decide(v, "", at)
	default:
		err = wrongState(v, StatusCreated, StatusStarted, StatusUserDataCollected, StatusReview)
	}
	return v.Status, err
}

// act runs f on verification id, after applying what the clock says has
// happened, in one store transaction: the change and its webhooks are
// saved together or not at all. f's refusal is returned as it is; what the
// clock did is kept even then.
func (s *Sim) act(ctx context.Context, id string, f func(v *verification, now time.Time) error) error {
	var refused error
	err := s.update(ctx, func(t *txn) error {
		v, err := s.load(t, id)
		if err != nil {
			return err
		}
		if v == nil {
			return fmt.Errorf("%w: %q", ErrNotFound, clip(id, 40))
		}
		if refused = f(v, t.now); refused != nil {
			return nil
		}
		return s.save(t, v)
	})
	if err != nil {
		return err
	}
	return refused
}

// Start moves verification id from CREATED to STARTED, as opening the
// hosted page and starting does.
func (s *Sim) Start(id string) error { return s.act(context.Background(), id, s.start) }

// SubmitDocument scans a generated identity document for verification id
// (STARTED, requiring DOCUMENT_SCAN) and sends IDENTITY_DOCUMENT_CHANGE.
func (s *Sim) SubmitDocument(id string) error { return s.SubmitDocumentWith(id, IdentityDocument{}) }

// SubmitDocumentWith is SubmitDocument with the given values; empty fields
// are generated. Bad values are ErrBadInput.
func (s *Sim) SubmitDocumentWith(id string, doc IdentityDocument) error {
	return s.act(context.Background(), id, func(v *verification, now time.Time) error { return s.setDocument(v, doc, now) })
}

// SubmitFace scans the face for verification id (STARTED, requiring
// FACE_SCAN), with an age estimation from the date of birth.
func (s *Sim) SubmitFace(id string) error { return s.SubmitFaceWith(id, "") }

// SubmitFaceWith is SubmitFace with the given age estimation (one of
// AgeEstimations; "" to generate it).
func (s *Sim) SubmitFaceWith(id, ageEstimation string) error {
	return s.act(context.Background(), id, func(v *verification, now time.Time) error { return s.setFace(v, ageEstimation, now) })
}

// Collect moves verification id from STARTED to USER_DATA_COLLECTED once
// every required step is done (else ErrIncomplete), as the person's final
// submit does.
func (s *Sim) Collect(id string) error { return s.act(context.Background(), id, s.collect) }

// Review moves verification id to REVIEW: from USER_DATA_COLLECTED, or
// from STARTED once every required step is done (through
// USER_DATA_COLLECTED, with a webhook for each; else ErrIncomplete).
func (s *Sim) Review(id string) error { return s.act(context.Background(), id, s.review) }

// Approve approves verification id (USER_DATA_COLLECTED or REVIEW), as
// pawaPass's reviewer would.
func (s *Sim) Approve(id string) error { return s.approve(context.Background(), id) }

func (s *Sim) approve(ctx context.Context, id string) error {
	return s.act(ctx, id, func(v *verification, now time.Time) error { return s.decide(v, "", now) })
}

// Decline declines verification id (USER_DATA_COLLECTED or REVIEW) with
// reason, one of ReviewReasons, which becomes reviewResult.reason.
func (s *Sim) Decline(id, reason string) error { return s.decline(context.Background(), id, reason) }

func (s *Sim) decline(ctx context.Context, id, reason string) error {
	if reason == "" {
		return fmt.Errorf("%w: a decline needs a reason: one of %s", ErrBadInput, strings.Join(ReviewReasons(), ", "))
	}
	return s.act(ctx, id, func(v *verification, now time.Time) error { return s.decide(v, reason, now) })
}

// Expire makes verification id (not final) expire now: expiresAt becomes
// the current time and the status EXPIRED.
func (s *Sim) Expire(id string) error { return s.act(context.Background(), id, s.expire) }

// Advance moves verification id one step along the happy path (CREATED →
// STARTED → USER_DATA_COLLECTED with generated data → REVIEW → APPROVED)
// and returns its new status.
func (s *Sim) Advance(id string) (status string, err error) {
	return s.advance(context.Background(), id)
}

func (s *Sim) advance(ctx context.Context, id string) (status string, err error) {
	err = s.act(ctx, id, func(v *verification, now time.Time) error {
		var err error
		status, err = s.stepOne(v, now)
		return err
	})
	return status, err
}

// --- ids ---

const alphanumerics = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newID returns 8 random alphanumerics, like the document's "aB1cD2eF";
// insert makes it unique. [ours]
func newID() string { return randomString(8) }

func randomString(n int) string {
	out := make([]byte, 0, n)
	var buf [16]byte
	for len(out) < n {
		_, _ = rand.Read(buf[:])
		for _, c := range buf {
			// 248 = 4*62: rejecting the rest keeps every character
			// equally likely.
			if c < 248 && len(out) < n {
				out = append(out, alphanumerics[c%62])
			}
		}
	}
	return string(out)
}

// newUUIDv4 returns a random UUID: a webhook's notificationId.
func newUUIDv4() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// clip shortens s to at most n runes so hostile input cannot blow up a
// message.
func clip(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i] + "…"
		}
		n--
	}
	return s
}

// plainText reports whether s is valid UTF-8 without control characters.
func plainText(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, unicode.IsControl) < 0
}
