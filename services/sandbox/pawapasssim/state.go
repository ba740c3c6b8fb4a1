package pawapasssim

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
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

type verification struct {
	seq          int64
	id           string
	externalID   string
	country      string // "" = null
	phoneNo      *string
	requirements []Requirement
	url          string
	status       string
	metadata     json.RawMessage
	successURL   string
	errorURL     string
	supportURL   string
	doc          *IdentityDocument
	face         *FaceScan
	reviewReason string
	createdBy    *string
	expiresAt    time.Time
	createdAt    time.Time
	updatedAt    time.Time
	started      bool          // has been STARTED
	submitted    bool          // has reached USER_DATA_COLLECTED
	nextAuto     time.Time     // next AutoAdvance step; zero when off
	last         *notification // the last webhook, for ResendWebhook
}

func (v *verification) requires(typ string) bool {
	return slices.ContainsFunc(v.requirements, func(r Requirement) bool { return r.Type == typ })
}

// reverifies returns the previousVerificationId of a face-only
// re-verification, or "".
func (v *verification) reverifies() string {
	for _, r := range v.requirements {
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
	return (!v.needsDocument() || v.doc != nil) && (!v.needsFace() || v.face != nil)
}

func isFinal(status string) bool {
	return status == StatusApproved || status == StatusDeclined || status == StatusExpired
}

// due is when something next happens to v by itself.
func (v *verification) due() time.Time {
	if !v.nextAuto.IsZero() && v.nextAuto.Before(v.expiresAt) {
		return v.nextAuto
	}
	return v.expiresAt
}

func (v *verification) snapshot() Verification {
	out := Verification{
		ID: v.id, ExternalID: v.externalID, Country: v.country,
		Requirements: slices.Clone(v.requirements), URL: v.url, Status: v.status,
		Metadata:   slices.Clone(v.metadata),
		SuccessURL: v.successURL, ErrorURL: v.errorURL, SupportURL: v.supportURL,
		ReviewReason: v.reviewReason,
		ExpiresAt:    v.expiresAt, CreatedAt: v.createdAt, UpdatedAt: v.updatedAt,
	}
	if v.phoneNo != nil {
		out.PhoneNo = *v.phoneNo
	}
	if v.createdBy != nil {
		out.CreatedBy = *v.createdBy
	}
	if v.doc != nil {
		d := *v.doc
		out.IdentityDocument = &d
	}
	if v.face != nil {
		f := *v.face
		out.FaceScan = &f
	}
	return out
}

// stamp is the simulator's time resolution: the API shows milliseconds.
func stamp(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// createLocked records a validated create request.
func (s *Sim) createLocked(in createInput, base string, now time.Time) *verification {
	now = stamp(now)
	s.seq++
	v := &verification{
		seq:          s.seq,
		id:           s.newIDLocked(),
		externalID:   in.externalID,
		country:      in.country,
		phoneNo:      in.phoneNo,
		requirements: in.requirements,
		status:       StatusCreated,
		metadata:     in.metadata,
		successURL:   in.successURL,
		errorURL:     in.errorURL,
		supportURL:   in.supportURL,
		createdBy:    in.createdBy,
		expiresAt:    now.Add(s.ttl),
		createdAt:    now,
		updatedAt:    now,
	}
	if in.expiresAt != nil {
		v.expiresAt = stamp(*in.expiresAt)
	}
	v.url = base + PathApp + CompanySlug + "/" + v.id
	if s.autoAdvance > 0 {
		v.nextAuto = now.Add(s.autoAdvance)
	}
	s.byID[v.id] = v
	s.order = append(s.order, v)
	s.open[v.id] = v
	if d := v.due(); d.Before(s.nextDue) || s.nextDue.IsZero() {
		s.nextDue = d
	}
	if n := len(s.order) - s.maxKept; n > 0 {
		for _, old := range s.order[:n] {
			delete(s.byID, old.id)
			delete(s.open, old.id)
		}
		s.order = slices.Delete(s.order, 0, n)
	}
	return v
}

// advanceLocked applies, in time order per verification, everything the
// clock says has happened to unfinished verifications: AutoAdvance steps,
// then expiry at expiresAt. Events happen at their due time, not when
// someone looked. [ours]
func (s *Sim) advanceLocked(now time.Time) {
	if len(s.open) == 0 || now.Before(s.nextDue) {
		return
	}
	var next time.Time
	for id, v := range s.open {
		for s.autoAdvance > 0 && !isFinal(v.status) && !v.nextAuto.IsZero() &&
			!v.nextAuto.After(now) && v.nextAuto.Before(v.expiresAt) {
			at := v.nextAuto
			v.nextAuto = at.Add(s.autoAdvance)
			_, _ = s.advanceOneLocked(v, at)
		}
		if !isFinal(v.status) && !now.Before(v.expiresAt) {
			s.setStatusLocked(v, StatusExpired, v.expiresAt)
		}
		if isFinal(v.status) {
			delete(s.open, id)
			continue
		}
		if d := v.due(); next.IsZero() || d.Before(next) {
			next = d
		}
	}
	s.nextDue = next
}

// setStatusLocked changes v's status at at and sends the webhook.
func (s *Sim) setStatusLocked(v *verification, status string, at time.Time) {
	v.status = status
	v.updatedAt = laterOf(v.updatedAt, stamp(at))
	if isFinal(status) {
		v.nextAuto = time.Time{}
		delete(s.open, v.id)
	}
	s.notifyLocked(v, WebhookStatusChange, v.updatedAt)
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
	return fmt.Errorf("%w: %s is %s, this needs %s", ErrWrongState, v.id, v.status, strings.Join(want, " or "))
}

func (s *Sim) startLocked(v *verification, at time.Time) error {
	if v.status != StatusCreated {
		return wrongState(v, StatusCreated)
	}
	v.started = true
	s.setStatusLocked(v, StatusStarted, at)
	return nil
}

// setDocumentLocked records a scanned identity document. Scanning the same
// values again changes nothing; different values replace the document and
// send IDENTITY_DOCUMENT_CHANGE again. [ours]
func (s *Sim) setDocumentLocked(v *verification, in IdentityDocument, at time.Time) error {
	if !v.needsDocument() {
		return fmt.Errorf("%w: %s does not require %s", ErrNotRequired, v.id, RequirementDocumentScan)
	}
	if v.status != StatusStarted {
		return wrongState(v, StatusStarted)
	}
	doc, err := s.completeDocument(v, in)
	if err != nil {
		return err
	}
	at = laterOf(v.updatedAt, stamp(at))
	if v.doc != nil {
		doc.CreatedAt, doc.UpdatedAt = v.doc.CreatedAt, v.doc.UpdatedAt
		if doc == *v.doc {
			return nil
		}
		doc.UpdatedAt = at
	} else {
		doc.CreatedAt, doc.UpdatedAt = at, at
	}
	v.doc = &doc
	v.updatedAt = at
	s.notifyLocked(v, WebhookIdentityDocumentChange, at)
	return nil
}

// setFaceLocked records a face scan. No webhook: the document names no
// type for it. [ours]
func (s *Sim) setFaceLocked(v *verification, age string, at time.Time) error {
	if !v.needsFace() {
		return fmt.Errorf("%w: %s does not require %s", ErrNotRequired, v.id, RequirementFaceScan)
	}
	if v.status != StatusStarted {
		return wrongState(v, StatusStarted)
	}
	if age == "" {
		age = s.defaultAge(v)
	} else if !slices.Contains(AgeEstimations(), age) {
		return fmt.Errorf("%w: ageEstimation must be one of %s", ErrBadInput, strings.Join(AgeEstimations(), ", "))
	}
	at = laterOf(v.updatedAt, stamp(at))
	if v.face != nil {
		if v.face.AgeEstimation == age {
			return nil
		}
		v.face.AgeEstimation, v.face.UpdatedAt = age, at
	} else {
		v.face = &FaceScan{AgeEstimation: age, CreatedAt: at, UpdatedAt: at}
	}
	v.updatedAt = at
	return nil
}

func (s *Sim) collectLocked(v *verification, at time.Time) error {
	if v.status != StatusStarted {
		return wrongState(v, StatusStarted)
	}
	if !v.collected() {
		var missing []string
		if v.needsDocument() && v.doc == nil {
			missing = append(missing, RequirementDocumentScan)
		}
		if v.needsFace() && v.face == nil {
			missing = append(missing, RequirementFaceScan)
		}
		return fmt.Errorf("%w: %s still needs %s", ErrIncomplete, v.id, strings.Join(missing, " and "))
	}
	v.submitted = true
	s.setStatusLocked(v, StatusUserDataCollected, at)
	return nil
}

// reviewLocked moves v to REVIEW. From STARTED it passes through
// USER_DATA_COLLECTED, as the person's final submit does, so Start, the
// scans and Review are a complete walk.
func (s *Sim) reviewLocked(v *verification, at time.Time) error {
	if v.status == StatusStarted {
		if err := s.collectLocked(v, at); err != nil {
			return err
		}
	}
	if v.status != StatusUserDataCollected {
		return wrongState(v, StatusStarted, StatusUserDataCollected)
	}
	s.setStatusLocked(v, StatusReview, at)
	return nil
}

// decideLocked approves (reason "") or declines v. USER_DATA_COLLECTED is
// accepted besides REVIEW because NOTES.md shows REVIEW as optional. [ours]
func (s *Sim) decideLocked(v *verification, reason string, at time.Time) error {
	if v.status != StatusUserDataCollected && v.status != StatusReview {
		return wrongState(v, StatusUserDataCollected, StatusReview)
	}
	if reason == "" {
		s.setStatusLocked(v, StatusApproved, at)
		return nil
	}
	if !slices.Contains(ReviewReasons(), reason) {
		return fmt.Errorf("%w: the reason must be one of %s", ErrBadInput, strings.Join(ReviewReasons(), ", "))
	}
	v.reviewReason = reason
	s.setStatusLocked(v, StatusDeclined, at)
	return nil
}

// advanceOneLocked moves v one step along the happy path: STARTED,
// USER_DATA_COLLECTED (generating whatever data is missing), REVIEW,
// APPROVED. [ours]
func (s *Sim) advanceOneLocked(v *verification, at time.Time) (string, error) {
	var err error
	switch v.status {
	case StatusCreated:
		err = s.startLocked(v, at)
	case StatusStarted:
		if v.needsDocument() && v.doc == nil {
			err = s.setDocumentLocked(v, IdentityDocument{}, at)
		}
		if err == nil && v.needsFace() && v.face == nil {
			err = s.setFaceLocked(v, "", at)
		}
		if err == nil {
			err = s.collectLocked(v, at)
		}
	case StatusUserDataCollected:
		err = s.reviewLocked(v, at)
	case StatusReview:
		err = s.decideLocked(v, "", at)
	default:
		err = wrongState(v, StatusCreated, StatusStarted, StatusUserDataCollected, StatusReview)
	}
	return v.status, err
}

// act runs f on verification id under the lock, after applying what the
// clock says has happened.
func (s *Sim) act(id string, f func(v *verification, now time.Time) error) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked(now)
	v := s.byID[id]
	if v == nil {
		return fmt.Errorf("%w: %q", ErrNotFound, clip(id, 40))
	}
	return f(v, now)
}

// Start moves verification id from CREATED to STARTED, as opening the
// hosted page and starting does.
func (s *Sim) Start(id string) error {
	return s.act(id, func(v *verification, now time.Time) error { return s.startLocked(v, now) })
}

// SubmitDocument scans a generated identity document for verification id
// (STARTED, requiring DOCUMENT_SCAN) and sends IDENTITY_DOCUMENT_CHANGE.
func (s *Sim) SubmitDocument(id string) error { return s.SubmitDocumentWith(id, IdentityDocument{}) }

// SubmitDocumentWith is SubmitDocument with the given values; empty fields
// are generated. Bad values are ErrBadInput.
func (s *Sim) SubmitDocumentWith(id string, doc IdentityDocument) error {
	return s.act(id, func(v *verification, now time.Time) error { return s.setDocumentLocked(v, doc, now) })
}

// SubmitFace scans the face for verification id (STARTED, requiring
// FACE_SCAN), with an age estimation from the date of birth.
func (s *Sim) SubmitFace(id string) error { return s.SubmitFaceWith(id, "") }

// SubmitFaceWith is SubmitFace with the given age estimation (one of
// AgeEstimations; "" to generate it).
func (s *Sim) SubmitFaceWith(id, ageEstimation string) error {
	return s.act(id, func(v *verification, now time.Time) error { return s.setFaceLocked(v, ageEstimation, now) })
}

// Collect moves verification id from STARTED to USER_DATA_COLLECTED once
// every required step is done (else ErrIncomplete), as the person's final
// submit does.
func (s *Sim) Collect(id string) error {
	return s.act(id, func(v *verification, now time.Time) error { return s.collectLocked(v, now) })
}

// Review moves verification id to REVIEW: from USER_DATA_COLLECTED, or
// from STARTED once every required step is done (through
// USER_DATA_COLLECTED, with a webhook for each; else ErrIncomplete).
func (s *Sim) Review(id string) error {
	return s.act(id, func(v *verification, now time.Time) error { return s.reviewLocked(v, now) })
}

// Approve approves verification id (USER_DATA_COLLECTED or REVIEW), as
// pawaPass's reviewer would.
func (s *Sim) Approve(id string) error {
	return s.act(id, func(v *verification, now time.Time) error { return s.decideLocked(v, "", now) })
}

// Decline declines verification id (USER_DATA_COLLECTED or REVIEW) with
// reason, one of ReviewReasons, which becomes reviewResult.reason.
func (s *Sim) Decline(id, reason string) error {
	if reason == "" {
		return fmt.Errorf("%w: a decline needs a reason: one of %s", ErrBadInput, strings.Join(ReviewReasons(), ", "))
	}
	return s.act(id, func(v *verification, now time.Time) error { return s.decideLocked(v, reason, now) })
}

// Expire makes verification id (not final) expire now: expiresAt becomes
// the current time and the status EXPIRED.
func (s *Sim) Expire(id string) error {
	return s.act(id, func(v *verification, now time.Time) error {
		if isFinal(v.status) {
			return wrongState(v, StatusCreated, StatusStarted, StatusUserDataCollected, StatusReview)
		}
		v.expiresAt = laterOf(v.updatedAt, stamp(now))
		s.setStatusLocked(v, StatusExpired, v.expiresAt)
		return nil
	})
}

// Advance moves verification id one step along the happy path (CREATED →
// STARTED → USER_DATA_COLLECTED with generated data → REVIEW → APPROVED)
// and returns its new status.
func (s *Sim) Advance(id string) (status string, err error) {
	err = s.act(id, func(v *verification, now time.Time) error {
		var err error
		status, err = s.advanceOneLocked(v, now)
		return err
	})
	return status, err
}

// submitAndReview is the hosted page's final submit: USER_DATA_COLLECTED,
// then straight to REVIEW, each with its webhook.
func (s *Sim) submitAndReview(id string) error {
	return s.act(id, func(v *verification, now time.Time) error {
		if v.status != StatusStarted {
			return wrongState(v, StatusStarted)
		}
		return s.reviewLocked(v, now)
	})
}

// --- ids ---

const alphanumerics = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newIDLocked returns 8 random alphanumerics, unique among the kept
// verifications, like the document's "aB1cD2eF". [ours]
func (s *Sim) newIDLocked() string {
	for {
		id := randomString(8)
		if _, dup := s.byID[id]; !dup {
			return id
		}
	}
}

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
