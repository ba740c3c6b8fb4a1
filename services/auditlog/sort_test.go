package auditlog

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"gorm.io/gorm"

	"portal/internal/dbtest"
	"portal/internal/sorttest"
	"portal/models"
	"portal/services"
)

// Walking the log page by page, forwards and then back, finds every
// matching event once, newest or oldest first.
func TestSortedListWalksEveryRowInOrder(t *testing.T) {
	db := dbtest.Open(t)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var all []models.AuditEvent
	for i := 1; i <= 230; i++ {
		actor := services.Actor{Email: []string{"a@example.com", "b@example.com"}[i%2]}
		action := []string{"user.enabled", "user.disabled", "logout"}[i%3]
		// Every event in the same second: the order is the id's, not the
		// time's.
		if err := services.Audit(db, at, actor, action, fmt.Sprintf("s-%03d", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Order("id").Find(&all).Error; err != nil {
		t.Fatal(err)
	}
	r := New(db)
	for _, c := range []Filter{
		{Sort: "at"},
		{},
		{Sort: "-at"},
		{Sort: "at", Action: "logout"},
		{Sort: "at", Actor: "b@example.com"},
		{Sort: "-at", Actor: "a@example.com", Action: "user.disabled"},
		{Sort: "at", From: "2026-01-01", To: "2026-01-01"},
	} {
		t.Run(fmt.Sprintf("%+v", c), func(t *testing.T) {
			var want []uint
			for _, e := range all {
				if (c.Action == "" || e.Action == c.Action) && (c.Actor == "" || e.ActorEmail == c.Actor) {
					want = append(want, e.ID)
				}
			}
			if c.Sort != "at" {
				slices.Reverse(want)
			}
			sorttest.Walk(t, want, func(next, prev string) (sorttest.Page, error) {
				p, err := r.List(context.Background(), c, next, prev, 40)
				return sorttest.Page{IDs: sorttest.IDs(p.Events, func(e models.AuditEvent) uint { return e.ID }), Following: p.Following, Prev: p.Prev}, err
			})
		})
	}
}

func TestSortAndCursorValidation(t *testing.T) {
	r := New(dbtest.Open(t))
	ctx := context.Background()
	sorttest.CheckRefusals(t, []sorttest.Refusal[Filter]{
		{Name: "unknown column", Filter: Filter{Sort: "actor"}, Field: "sort"},
		{Name: "a value on the id order", Filter: Filter{Sort: "at"}, Next: "12_2026"},
		{Name: "not a number", Filter: Filter{}, Next: "twelve"},
		{Name: "both directions", Filter: Filter{Sort: "at"}, Next: "12", Prev: "10"},
		{Name: "zero id", Filter: Filter{}, Next: "0"},
	}, ErrBadCursor, func(f Filter, next, prev string) error {
		_, err := r.List(ctx, f, next, prev, 10)
		return err
	})
	// Old links (newest first, a bare id) still read.
	if _, err := r.List(ctx, Filter{}, "12", "", 10); err != nil {
		t.Errorf("an id cursor on the default order: %v", err)
	}
}

// Both orders read an index in their order and stop after a page, first
// page or deep, forwards or back, with each filter.
func TestSortedListQueriesUseIndexes(t *testing.T) {
	db := dbtest.Open(t)
	deep := services.Cursor{ID: 500000}
	cases := []struct {
		name       string
		filter     Filter
		next, prev services.Cursor
		want       string
	}{
		{"newest first", Filter{}, services.Cursor{}, services.Cursor{}, ""},
		{"newest first, deep", Filter{}, deep, services.Cursor{}, ""},
		{"newest first, backwards", Filter{}, services.Cursor{}, deep, ""},
		{"oldest first", Filter{Sort: "at"}, services.Cursor{}, services.Cursor{}, ""},
		{"oldest first, deep", Filter{Sort: "at"}, deep, services.Cursor{}, ""},
		{"oldest first, backwards", Filter{Sort: "at"}, services.Cursor{}, deep, ""},
		{"oldest first, one actor", Filter{Sort: "at", Actor: "a@example.com"}, services.Cursor{}, services.Cursor{}, "audit_actor"},
		{"oldest first, one actor, deep", Filter{Sort: "at", Actor: "a@example.com"}, deep, services.Cursor{}, "audit_actor"},
		{"newest first, one actor, deep", Filter{Actor: "a@example.com"}, deep, services.Cursor{}, "audit_actor"},
		{"oldest first, one action", Filter{Sort: "at", Action: "logout"}, services.Cursor{}, services.Cursor{}, "audit_action"},
		{"oldest first, one action, backwards", Filter{Sort: "at", Action: "logout"}, services.Cursor{}, deep, "audit_action"},
		{"newest first, one action, deep", Filter{Action: "logout"}, deep, services.Cursor{}, "audit_action"},
	}
	for _, c := range cases {
		p, err := c.filter.parse()
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		if c.want != "" {
			want = []string{c.want}
		}
		for i, read := range sortedQueries(db, p, c.next, c.prev, 50) {
			q := func(tx *gorm.DB) *gorm.DB {
				var rows []models.AuditEvent
				return read(tx).Find(&rows)
			}
			dbtest.CheckListPlan(t, db, dbtest.ListPlan{Name: fmt.Sprintf("%s, read %d", c.name, i+1), Table: "audit_events",
				Filtered: c.filter.Actor != "" || c.filter.Action != "", Want: want}, q, nil)
		}
	}
}
