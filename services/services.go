// Package services holds what every use-case shares: who is acting, field
// validation errors, and the audit log. The use-cases themselves live in
// sub-packages, one per area, next to one client package per upstream.
package services

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"gorm.io/gorm"

	"portal/models"
)

// Actor is the staff member (or the system) on whose behalf a service acts.
type Actor struct {
	ID    uint
	Email string
	Role  models.Role
	IP    string
}

// System is the actor for background work (reconcilers, webhooks).
var System = Actor{Email: "system"}

// FieldErrors maps a form field name to a message a person can act on.
type FieldErrors map[string]string

func (e FieldErrors) Error() string {
	keys := make([]string, 0, len(e))
	for k := range e {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+": "+e[k])
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// AsFieldErrors returns the field errors inside err, if any.
func AsFieldErrors(err error) (FieldErrors, bool) {
	var fe FieldErrors
	ok := errors.As(err, &fe)
	return fe, ok
}

// ErrForbidden is returned when a rule (not a role check, those are in web/)
// forbids an action, e.g. disabling the last admin.
type ErrForbidden struct{ Reason string }

func (e *ErrForbidden) Error() string { return e.Reason }

// Audit writes one audit event inside tx, the transaction that makes the change
// it describes, so the log can never disagree with the data.
func Audit(tx *gorm.DB, now time.Time, actor Actor, action, subject, details string) error {
	ev := models.AuditEvent{
		At:         now.UTC(),
		ActorEmail: actor.Email,
		Action:     action,
		Subject:    subject,
		IP:         actor.IP,
		Details:    details,
	}
	if actor.ID != 0 {
		id := actor.ID
		ev.ActorID = &id
	}
	if err := tx.Create(&ev).Error; err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// Clock returns the current time; services take one so tests can move time.
type Clock func() time.Time

// WithTx runs fn in a write transaction (BEGIN IMMEDIATE through the DSN).
func WithTx(ctx context.Context, db *gorm.DB, fn func(tx *gorm.DB) error) error {
	return db.WithContext(ctx).Transaction(fn)
}

// CSVSafe stops a spreadsheet from running a cell as a formula: exported
// fields can hold whatever a person or an upstream typed.
func CSVSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// AuditTrailLimit bounds the audit trail a record's page shows.
const AuditTrailLimit = 200

// AuditTrail is who did what to one record (its audit subject, e.g.
// "document:12"), oldest first.
func AuditTrail(ctx context.Context, db *gorm.DB, subject string) ([]models.AuditEvent, error) {
	var out []models.AuditEvent
	if err := db.WithContext(ctx).Where("subject = ?", subject).Order("id").Limit(AuditTrailLimit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("audit trail of %s: %w", subject, err)
	}
	return out, nil
}
