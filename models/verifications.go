package models

import "time"

// VerificationProvider is the upstream that runs an identity verification.
type VerificationProvider string

const (
	ProviderPawaPass       VerificationProvider = "pawapass"
	ProviderPassportReader VerificationProvider = "passportreader"
)

// Valid reports whether p is a known provider.
func (p VerificationProvider) Valid() bool {
	return p == ProviderPawaPass || p == ProviderPassportReader
}

// Label is the provider's name as staff know it.
func (p VerificationProvider) Label() string {
	switch p {
	case ProviderPawaPass:
		return "pawaPass"
	case ProviderPassportReader:
		return "PassportReader"
	}
	return string(p)
}

// VerificationState is our local state of a verification. The provider's
// own status is kept beside it (ProviderStatus); this one adds what we know
// about delivery (queued, submitting, unknown) and folds the two providers'
// vocabularies into one.
type VerificationState string

const (
	VerificationQueued     VerificationState = "queued"
	VerificationSubmitting VerificationState = "submitting"
	VerificationSubmitted  VerificationState = "submitted"   // created upstream; the customer has not started
	VerificationInProgress VerificationState = "in_progress" // started, data collected or under the provider's review
	VerificationApproved   VerificationState = "approved"
	VerificationDeclined   VerificationState = "declined" // pawaPass DECLINED; PassportReader REJECTED or FAILED
	VerificationExpired    VerificationState = "expired"
	VerificationAborted    VerificationState = "aborted" // PassportReader ABORTED: the person gave up
	VerificationFailed     VerificationState = "failed"  // the provider refused the create, or it was never sent
	VerificationUnknown    VerificationState = "unknown" // maybe created, outcome unknown: never re-sent automatically
)

// VerificationStates lists every state in lifecycle order.
var VerificationStates = []VerificationState{VerificationQueued, VerificationSubmitting, VerificationSubmitted,
	VerificationInProgress, VerificationApproved, VerificationDeclined, VerificationExpired, VerificationAborted,
	VerificationFailed, VerificationUnknown}

// Final reports whether the state can never change again.
func (s VerificationState) Final() bool {
	switch s {
	case VerificationApproved, VerificationDeclined, VerificationExpired, VerificationAborted, VerificationFailed:
		return true
	}
	return false
}

// Open reports whether the provider is still working on it: the states the
// reconciler follows.
func (s VerificationState) Open() bool {
	return s == VerificationSubmitted || s == VerificationInProgress
}

// Reviewable reports whether compliance has a provider decision to review.
func (s VerificationState) Reviewable() bool {
	return s == VerificationApproved || s == VerificationDeclined
}

// Valid reports whether s is a known state.
func (s VerificationState) Valid() bool {
	for _, k := range VerificationStates {
		if s == k {
			return true
		}
	}
	return false
}

// Verification is one identity verification at pawaPass or PassportReader.
type Verification struct {
	ID               uint `gorm:"primaryKey"`
	Provider         VerificationProvider
	Reference        string  // ours: random, unguessable
	ExternalID       string  // pawaPass externalId
	UpstreamID       *string // pawaPass id, or PassportReader session id in decimal
	CustomerPhone    string  // E.164, or ""
	Country          string
	Requirements     string // pawaPass requirement types, comma-separated
	FaceVerification bool
	PassportOnly     bool
	SuccessURL       string `gorm:"column:success_url"`
	ErrorURL         string `gorm:"column:error_url"`
	SupportURL       string `gorm:"column:support_url"`
	Link             string // where the customer completes it
	State            VerificationState
	ProviderStatus   string
	Error            string // shown to staff, in plain words
	ExpiresAt        *time.Time
	DocumentType     string
	DocumentNumber   string
	DocumentCountry  string
	GivenNames       string
	Surname          string
	DateOfBirth      string
	IdentityJSON     string `gorm:"column:identity_json"` // every identity field, see services/verifications.IdentityField
	FaceResult       string
	ReviewReason     string
	LastUpstreamJSON string `gorm:"column:last_upstream_json"` // without images
	ReviewDecision   ReviewDecision
	// ComplianceReason is the reason code of the effective decision (see
	// services/casework); ReviewReason is pawaPass's own.
	ComplianceReason string
	CreatedByID      *uint
	CreatedByEmail   string
	CreatedAt        time.Time
	UpdatedAt        time.Time
	// ClaimedBy and LeaseUntil hold a record being sent (queued,
	// submitting) for one process; recovery takes it only once the lease ran
	// out, never from a live replica.
	ClaimedBy     string
	LeaseUntil    *time.Time
	CompletedAt   *time.Time
	NextCheckAt   *time.Time
	CheckAttempts int
}

// VerificationEvent is one entry of a verification's timeline.
type VerificationEvent struct {
	ID             uint `gorm:"primaryKey"`
	VerificationID uint
	At             time.Time
	FromState      VerificationState
	ToState        VerificationState
	ProviderStatus string
	Note           string
}

// VerificationReview is compliance's decision on a verification.
type VerificationReview struct {
	ID             uint `gorm:"primaryKey"`
	VerificationID uint `gorm:"uniqueIndex"`
	Decision       ReviewDecision
	Reason         string
	Note           string
	ReviewerID     *uint
	ReviewerEmail  string
	DecidedAt      time.Time
}

// VerificationImage is a portrait or face image a provider returned.
type VerificationImage struct {
	ID             uint `gorm:"primaryKey"`
	VerificationID uint
	Kind           string // "portrait" or "face"
	ContentType    string
	Data           []byte
	CreatedAt      time.Time
}
