package models

import (
	"time"

	"github.com/shopspring/decimal"
)

// RechargeState is our local state of a recharge. It is not the upstream
// status: it also records what we know about delivery (queued, submitting,
// unknown) so that no recharge is ever sent twice or lost.
type RechargeState string

const (
	RechargeQueued     RechargeState = "queued"     // written, not yet sent
	RechargeSubmitting RechargeState = "submitting" // claimed; the upstream call is in flight
	RechargeSubmitted  RechargeState = "submitted"  // 1flow accepted it (202)
	RechargePending    RechargeState = "pending"    // 1flow reported PENDING when we checked
	RechargeCompleted  RechargeState = "completed"
	RechargeFailed     RechargeState = "failed"
	RechargeUnknown    RechargeState = "unknown" // maybe sent, outcome unknown: never re-sent automatically
)

// RechargeStates lists every state in lifecycle order.
var RechargeStates = []RechargeState{RechargeQueued, RechargeSubmitting, RechargeSubmitted, RechargePending, RechargeCompleted, RechargeFailed, RechargeUnknown}

// Final reports whether the state can never change again.
func (s RechargeState) Final() bool { return s == RechargeCompleted || s == RechargeFailed }

// Valid reports whether s is a known state.
func (s RechargeState) Valid() bool {
	for _, k := range RechargeStates {
		if s == k {
			return true
		}
	}
	return false
}

// Recharge is one water-credit recharge.
type Recharge struct {
	ID             uint `gorm:"primaryKey"`
	IdempotencyKey string
	UpstreamID     *string
	DeviceID       string
	CardID         string
	CustomerName   string
	CustomerPhone  string
	Amount         decimal.Decimal `gorm:"type:text"`
	Currency       string
	Litres         string
	PricePerLitre  string
	BalanceAfter   string
	UpstreamStatus string
	State          RechargeState
	Error          string
	CreatedByID    *uint
	CreatedByEmail string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	// ClaimedBy and LeaseUntil hold a record being sent (queued,
	// submitting) for one process; recovery takes it only once the lease ran
	// out, never from a live replica.
	ClaimedBy        string
	LeaseUntil       *time.Time
	SubmittedAt      *time.Time
	CompletedAt      *time.Time
	NextCheckAt      *time.Time
	CheckAttempts    int
	LastUpstreamJSON string
}

// Target is the device or card the recharge credits.
func (r Recharge) Target() string {
	if r.DeviceID != "" {
		return r.DeviceID
	}
	return r.CardID
}

// RechargeEvent is one state change in a recharge's timeline.
type RechargeEvent struct {
	ID             uint `gorm:"primaryKey"`
	RechargeID     uint
	At             time.Time
	FromState      RechargeState
	ToState        RechargeState
	UpstreamStatus string
	Note           string
}
