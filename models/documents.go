package models

import "time"

// DocumentState is our local state of a document sent to pasby for
// signature. Like RechargeState it also records what we know about delivery
// (queued, submitting, unknown), so that a request is never lost and never
// pushed to the signers' phones twice.
type DocumentState string

const (
	DocumentQueued     DocumentState = "queued"      // written, not yet sent
	DocumentSubmitting DocumentState = "submitting"  // claimed; the pasby call is in flight
	DocumentSubmitted  DocumentState = "submitted"   // pasby accepted it; nobody has opened it yet
	DocumentInProgress DocumentState = "in_progress" // a signee has opened or signed it
	DocumentCompleted  DocumentState = "completed"   // everyone signed; the stamped PDF exists
	DocumentCancelled  DocumentState = "cancelled"
	DocumentExpired    DocumentState = "expired"
	DocumentFailed     DocumentState = "failed"  // pasby refused it, or it was never sent
	DocumentUnknown    DocumentState = "unknown" // maybe sent, outcome unknown: never re-sent automatically
)

// DocumentStates lists every state in lifecycle order.
var DocumentStates = []DocumentState{DocumentQueued, DocumentSubmitting, DocumentSubmitted, DocumentInProgress,
	DocumentCompleted, DocumentCancelled, DocumentExpired, DocumentFailed, DocumentUnknown}

// Final reports whether the state can never change again.
func (s DocumentState) Final() bool {
	switch s {
	case DocumentCompleted, DocumentCancelled, DocumentExpired, DocumentFailed:
		return true
	}
	return false
}

// Open reports whether pasby is still collecting signatures: the states the
// reconciler follows and a person may cancel.
func (s DocumentState) Open() bool { return s == DocumentSubmitted || s == DocumentInProgress }

// Valid reports whether s is a known state.
func (s DocumentState) Valid() bool {
	for _, k := range DocumentStates {
		if s == k {
			return true
		}
	}
	return false
}

// DocumentKind is how a document is signed.
type DocumentKind string

const (
	DocumentKindSimple DocumentKind = "simple" // POST document/signing: a list of NINs
	DocumentKindReview DocumentKind = "review" // POST document/review: a hosted review flow with named signees
)

// Valid reports whether k is a known kind.
func (k DocumentKind) Valid() bool { return k == DocumentKindSimple || k == DocumentKindReview }

// ReviewDecision is a compliance officer's verdict on a completed document.
type ReviewDecision string

const (
	ReviewNone     ReviewDecision = "" // not reviewed yet
	ReviewApproved ReviewDecision = "approved"
	ReviewFlagged  ReviewDecision = "flagged"
)

// Valid reports whether d is a decision someone can record.
func (d ReviewDecision) Valid() bool { return d == ReviewApproved || d == ReviewFlagged }

// Document is one signing request sent (or to be sent) to pasby.
type Document struct {
	ID               uint    `gorm:"primaryKey"`
	Reference        string  // our webhook reference: random, unguessable
	UpstreamID       *string // pasby's doc_… id once known
	Kind             DocumentKind
	Title            string
	FileURL          string `gorm:"column:file_url"`
	StampedURL       string `gorm:"column:stamped_url"`
	HostedLink       string // review flows: pasby's hosted signing page
	State            DocumentState
	Handled          bool       // pasby's "handled"
	Error            string     // shown to staff, in plain words
	IAT              *time.Time `gorm:"column:iat"`
	Exp              *time.Time `gorm:"column:exp"`
	LUT              *time.Time `gorm:"column:lut"`
	LastUpstreamJSON string     `gorm:"column:last_upstream_json"`
	ReviewDecision   ReviewDecision
	// ComplianceReason is the reason code of the effective decision (see
	// services/casework), "" when none was given.
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

// SigneeStatus is one signer's progress as pasby reports it.
type SigneeStatus string

const (
	SigneeStale   SigneeStatus = "stale"   // not opened yet
	SigneeViewing SigneeStatus = "viewing" // opened
	SigneeSigned  SigneeStatus = "signed"
)

// Rank orders the statuses so a status never goes backwards.
func (s SigneeStatus) Rank() int {
	switch s {
	case SigneeViewing:
		return 1
	case SigneeSigned:
		return 2
	}
	return 0
}

// DocumentSignee is one signer of a document.
type DocumentSignee struct {
	ID             uint `gorm:"primaryKey"`
	DocumentID     uint
	Position       int    // order given by the operator, from 0
	NIN            string `gorm:"column:nin"`
	Name           string
	Email          string
	Type           string // "business" or "person"; as pasby reports it for simple signing
	Representing   string
	Title          string
	Status         SigneeStatus
	SignedAt       *time.Time
	Signature      string // base64, from pasby's signatures once signed
	Identification string
}

// DocumentEvent is one entry in a document's timeline: a state change, or a
// signee's progress (then FromState equals ToState).
type DocumentEvent struct {
	ID         uint `gorm:"primaryKey"`
	DocumentID uint
	At         time.Time
	FromState  DocumentState
	ToState    DocumentState
	Note       string
}

// DocumentReview is the compliance decision on a completed document; there
// is at most one per document and it never changes.
type DocumentReview struct {
	ID            uint `gorm:"primaryKey"`
	DocumentID    uint
	Decision      ReviewDecision
	Reason        string
	Note          string
	ReviewerID    *uint
	ReviewerEmail string
	DecidedAt     time.Time
}

// WebhookInbox is one webhook as received, stored before it is processed.
type WebhookInbox struct {
	ID          uint `gorm:"primaryKey"`
	Provider    string
	DedupeKey   string
	ReceivedAt  time.Time
	Headers     string // JSON object of the headers kept
	Body        []byte
	ProcessedAt *time.Time
	Attempts    int
	Error       string
	// LeaseUntil is how long the replica processing this webhook holds it.
	LeaseUntil *time.Time
}

// TableName is the inbox's table, which is not a plural.
func (WebhookInbox) TableName() string { return "webhook_inbox" }
