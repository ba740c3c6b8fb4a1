package models

import "time"

// A BulkJob is one action a person asked for on many records of a list at
// once (refresh them from the provider, assign them to a reviewer). Its
// records are BulkItems, each done once; the job is leased to the replica
// working on it, so a second replica never runs the same record twice at
// once and a dead one's job is taken over when its lease runs out.
type BulkJob struct {
	ID     uint   `gorm:"primaryKey"`
	Kind   string // the list: documents, verifications, recharges
	Action string // refresh, assign, resend_webhook
	// AssigneeID and AssigneeEmail are the reviewer an assign job gives
	// the cases to.
	AssigneeID    *uint
	AssigneeEmail string
	// Scope says how the records were chosen: "selected" on a page, or
	// "matching" a filter, described by Filter for the person reading the
	// report.
	Scope          string
	Filter         string
	Total          int
	CreatedByID    uint
	CreatedByEmail string
	CreatedByRole  Role
	CreatedAt      time.Time
	// ClaimedBy and LeaseUntil hold the job for one replica's worker.
	ClaimedBy  string
	LeaseUntil *time.Time
	FinishedAt *time.Time
}

// How a job's records were chosen (BulkJob.Scope).
const (
	BulkSelected = "selected" // ticked on a page
	BulkMatching = "matching" // every record matching a filter
)

// Bulk item outcomes: pending until done, then one of the others.
const (
	BulkPending   = ""
	BulkSucceeded = "succeeded"
	BulkFailed    = "failed"
)

// A BulkItem is one record of a BulkJob and what became of it.
type BulkItem struct {
	JobID    uint `gorm:"primaryKey"`
	RecordID uint `gorm:"primaryKey"`
	Outcome  string
	Reason   string // why it failed, in words for the person who asked
	DoneAt   *time.Time
}
