// Package auditlog reads the audit log for the admin pages: filtered, paged by
// keyset, and exported as CSV. Writing events is services.Audit, done inside
// each change's own transaction.
package auditlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"portal/models"
	"portal/services"
)

// Actions lists the audit actions the filter offers. Later areas append theirs.
var Actions = []string{
	"login.success", "login.password_ok", "login.reauthenticated", "login.failure", "login.throttled", "logout",
	"user.created", "user.role_changed", "user.disabled", "user.enabled",
	"user.password_reset", "user.password_changed", "user.2fa_enrolled", "user.2fa_removed", "user.2fa_reset",
	"customer.lookup", "recharge.created", "recharge.resolved_upstream_id", "recharge.resolved_not_sent",
}

// Filter narrows the log. Dates are whole UTC days, inclusive.
type Filter struct {
	Actor  string
	Action string
	From   string // YYYY-MM-DD
	To     string // YYYY-MM-DD
	// Sort is "at" (oldest first) or "-at" (newest first, the default).
	Sort string
}

// Parsed is a validated filter.
type parsed struct {
	actor, action string
	from, to      time.Time
	sort          services.Sort
	sortKey       services.SortKey[models.AuditEvent]
}

// DefaultSort is newest first.
var DefaultSort = services.Sort{Key: "at"}

// SortKeys are the orders the log offers. Ids grow with time, so the time
// of an event is its id: both directions read the primary key, or the
// actor's or action's (…, id) index when filtered, and page by id alone.
var SortKeys = []services.SortKey[models.AuditEvent]{{Name: "at"}}

// ErrBadCursor is a page link whose cursor cannot be read.
var ErrBadCursor = errors.New("auditlog: the page link is broken")

// Validate checks the filter and returns field errors a person can act on.
func (f Filter) parse() (parsed, error) {
	p := parsed{actor: strings.ToLower(strings.TrimSpace(f.Actor)), action: strings.TrimSpace(f.Action)}
	errs := services.FieldErrors{}
	if len(p.actor) > 254 {
		errs["actor"] = "Use at most 254 characters."
	}
	if p.action != "" && !known(p.action) {
		errs["action"] = "Choose an action from the list."
	}
	p.from, p.to = services.ParseDateRange(f.From, f.To, errs)
	p.sort, p.sortKey = services.ParseSort(f.Sort, SortKeys, DefaultSort, errs)
	if len(errs) > 0 {
		return parsed{}, errs
	}
	return p, nil
}

func known(action string) bool {
	for _, a := range Actions {
		if a == action {
			return true
		}
	}
	return false
}

func (p parsed) apply(q *gorm.DB) *gorm.DB {
	if p.actor != "" {
		q = q.Where("actor_email = ?", p.actor)
	}
	if p.action != "" {
		q = q.Where("action = ?", p.action)
	}
	if !p.from.IsZero() {
		q = q.Where("at >= ?", p.from)
	}
	if !p.to.IsZero() {
		q = q.Where("at < ?", p.to.AddDate(0, 0, 1))
	}
	return q
}

// Page is one page of events in the filter's order, with the cursors of
// the following and preceding pages ("" for none).
type Page struct {
	Events          []models.AuditEvent
	Following, Prev string
}

// Reader reads the audit log.
type Reader struct{ db *gorm.DB }

// New returns a Reader.
// ValidateFilter reports field errors in f without querying.
func ValidateFilter(f Filter) error {
	_, err := f.parse()
	return err
}

func New(db *gorm.DB) *Reader { return &Reader{db: db} }

// List returns a page of events matching f, in f's order: the page after
// cursor next, or the page before cursor prev (both "" for the first
// page). A cursor that cannot be read is ErrBadCursor. Keyset paging: ids
// grow with time, so "after this id" stays fast at any depth where OFFSET
// would scan every skipped row.
func (r *Reader) List(ctx context.Context, f Filter, next, prev string, limit int) (Page, error) {
	p, err := f.parse()
	if err != nil {
		return Page{}, err
	}
	after, ok1 := services.ParseCursor(next, p.sortKey)
	before, ok2 := services.ParseCursor(prev, p.sortKey)
	if !ok1 || !ok2 || (!after.IsZero() && !before.IsZero()) {
		return Page{}, ErrBadCursor
	}
	// Both orders are the id keyset, so unlike the recharges the newest
	// first needs no path of its own.
	rows, err := services.SortedRows(p.apply(r.db.WithContext(ctx).Model(&models.AuditEvent{})), p.sortKey, p.sort, after, before, limit)
	if err != nil {
		return Page{}, fmt.Errorf("auditlog: list: %w", err)
	}
	var page Page
	var following, preceding services.Cursor
	page.Events, following, preceding = services.SortedPage(rows, p.sortKey, func(e models.AuditEvent) uint { return e.ID }, after, before, limit)
	page.Following, page.Prev = following.String(), preceding.String()
	return page, nil
}

// sortedQueries are the page reads of List, shared with the test that
// checks their plans.
func sortedQueries(db *gorm.DB, p parsed, next, prev services.Cursor, limit int) []func(tx *gorm.DB) *gorm.DB {
	reads := services.SortedQueries(models.DialectOf(db), p.sortKey, p.sort, next, prev, limit)
	for i, read := range reads {
		reads[i] = func(tx *gorm.DB) *gorm.DB { return read(p.apply(tx.Model(&models.AuditEvent{}))) }
	}
	return reads
}

// ExportCSV streams every event matching f to w, newest first, in batches so
// memory stays flat however long the log is.
func (r *Reader) ExportCSV(ctx context.Context, f Filter, w io.Writer) error {
	p, err := f.parse()
	if err != nil {
		return err
	}
	header := []string{"id", "at_utc", "actor", "action", "subject", "ip", "details"}
	next := func(cursor uint, limit int) ([]models.AuditEvent, error) {
		var events []models.AuditEvent
		if err := services.KeysetBatch(p.apply(r.db.WithContext(ctx).Model(&models.AuditEvent{})), cursor, limit).Find(&events).Error; err != nil {
			return nil, fmt.Errorf("auditlog: export: %w", err)
		}
		return events, nil
	}
	return services.StreamCSV(w, header, next, func(e models.AuditEvent) uint { return e.ID }, func(events []models.AuditEvent) ([][]string, error) {
		recs := make([][]string, 0, len(events))
		for _, e := range events {
			recs = append(recs, []string{strconv.FormatUint(uint64(e.ID), 10), e.At.UTC().Format(time.RFC3339), e.ActorEmail, e.Action, e.Subject, e.IP, e.Details})
		}
		return recs, nil
	})
}
