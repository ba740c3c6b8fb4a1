package models

import "time"

// CaseKind names the record kind a review case is about.
type CaseKind string

const (
	CaseDocument     CaseKind = "document"
	CaseVerification CaseKind = "verification"
)

// CaseStage is where a review case is: open (waiting for, or being given,
// a first decision), second_review (a first decision waits for another
// officer), closed.
type CaseStage string

const (
	CaseOpen         CaseStage = "open"
	CaseSecondReview CaseStage = "second_review"
	CaseClosed       CaseStage = "closed"
)

// SecondOutcome is what the second officer did with the first decision.
type SecondOutcome string

const (
	SecondConfirmed  SecondOutcome = "confirmed"
	SecondOverturned SecondOutcome = "overturned"
)

// ReviewCase is the casework around one record's compliance review: who
// has it, the first decision and the four-eyes confirmation. The record's
// own review_decision is the effective decision.
type ReviewCase struct {
	ID             uint `gorm:"primaryKey"`
	Kind           CaseKind
	RecordID       uint
	QueuedAt       time.Time // when the record became reviewable
	Stage          CaseStage
	AssigneeID     *uint
	AssigneeEmail  string
	AssignedAt     *time.Time
	Decision       ReviewDecision
	Reason         string
	Note           string
	DecidedByID    *uint
	DecidedByEmail string
	DecidedAt      *time.Time
	SecondOutcome  SecondOutcome
	SecondNote     string
	SecondByID     *uint
	SecondByEmail  string
	SecondAt       *time.Time
	UpdatedAt      time.Time
}
