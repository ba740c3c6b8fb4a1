package recharges

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"gorm.io/gorm"

	"portal/internal/dbtest"
	"portal/internal/sorttest"
	"portal/models"
	"portal/services"
)

// Walking a sorted list page by page, forwards and then back, finds every
// matching recharge once, in the order asked for, ties broken by id the
// same way.
func TestSortedListWalksEveryRowInOrder(t *testing.T) {
	db := dbtest.Open(t)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var rows []models.Recharge
	for i := 1; i <= 230; i++ {
		r := models.Recharge{IdempotencyKey: fmt.Sprintf("k-%d", i), DeviceID: fmt.Sprintf("6875%010d", i),
			// Few distinct amounts, so most pages end inside a tie; 9.5
			// and 10 sort differently as numbers and as text.
			Amount: decimal.RequireFromString([]string{"9.5", "10", "100.25", "1000", "10"}[i%5]), Currency: "KES",
			State: []models.RechargeState{models.RechargeCompleted, models.RechargeFailed}[i%3/2], CreatedAt: at.Add(time.Duration(i) * time.Minute), UpdatedAt: at}
		rows = append(rows, r)
	}
	if err := db.CreateInBatches(rows, 100).Error; err != nil {
		t.Fatal(err)
	}
	s := New(db, nil, time.Now, Options{})
	for _, c := range []struct {
		sort, state string
		cmp         func(a, b models.Recharge) int
	}{
		{"amount", "", func(a, b models.Recharge) int { return cmp.Or(a.Amount.Cmp(b.Amount), cmp.Compare(a.ID, b.ID)) }},
		{"-amount", "", func(a, b models.Recharge) int { return cmp.Or(b.Amount.Cmp(a.Amount), cmp.Compare(b.ID, a.ID)) }},
		{"-amount", "failed", func(a, b models.Recharge) int { return cmp.Or(b.Amount.Cmp(a.Amount), cmp.Compare(b.ID, a.ID)) }},
		{"created", "", func(a, b models.Recharge) int { return cmp.Compare(a.ID, b.ID) }},
		{"-created", "completed", func(a, b models.Recharge) int { return cmp.Compare(b.ID, a.ID) }},
	} {
		t.Run(c.sort+"/"+c.state, func(t *testing.T) {
			var expect []uint
			sorted := slices.Clone(rows)
			slices.SortFunc(sorted, c.cmp)
			for _, r := range sorted {
				if c.state == "" || string(r.State) == c.state {
					expect = append(expect, r.ID)
				}
			}
			f := Filter{Sort: c.sort, State: c.state}
			sorttest.Walk(t, expect, func(next, prev string) (sorttest.Page, error) {
				p, err := s.List(context.Background(), f, next, prev, 40)
				return sorttest.Page{IDs: sorttest.IDs(p.Recharges, func(r models.Recharge) uint { return r.ID }), Following: p.Following, Prev: p.Prev}, err
			})
		})
	}
}

func TestSortAndCursorValidation(t *testing.T) {
	s := New(dbtest.Open(t), nil, time.Now, Options{})
	ctx := context.Background()
	sorttest.CheckRefusals(t, []sorttest.Refusal[Filter]{
		{Name: "unknown column", Filter: Filter{Sort: "colour"}, Field: "sort"},
		{Name: "partial search sorted by amount", Filter: Filter{Sort: "amount", Q: "6875"}, Field: "sort"},
		{Name: "amount cursor on the id order", Filter: Filter{}, Next: "12_10.5"},
		{Name: "id cursor on the amount order", Filter: Filter{Sort: "-amount"}, Next: "12"},
		{Name: "amount that is not a number", Filter: Filter{Sort: "amount"}, Next: "12_ten"},
		{Name: "both directions", Filter: Filter{}, Next: "12", Prev: "10"},
		{Name: "zero id", Filter: Filter{}, Next: "0"},
	}, ErrBadCursor, func(f Filter, next, prev string) error {
		_, err := s.List(ctx, f, next, prev, 10)
		return err
	})
	// The full search sorts: a whole phone number is an equality.
	if _, err := s.List(ctx, Filter{Sort: "amount", Q: "+254712345678"}, "", "", 10); err != nil {
		t.Errorf("sorting a whole-phone search: %v", err)
	}
}

// Every offered order reads an index in its order and stops after a page:
// no sort of the matches, first page or deep.
func TestSortedListQueriesUseIndexes(t *testing.T) {
	db := dbtest.Open(t)
	deep := services.Cursor{ID: 500000, Value: "150.5"}
	cases := []struct {
		name       string
		filter     Filter
		next, prev services.Cursor
		want       string
	}{
		{"amount ascending", Filter{Sort: "amount"}, services.Cursor{}, services.Cursor{}, "recharges_amount"},
		{"amount descending, deep", Filter{Sort: "-amount"}, deep, services.Cursor{}, "recharges_amount"},
		{"amount descending, backwards", Filter{Sort: "-amount"}, services.Cursor{}, deep, "recharges_amount"},
		{"amount, failed only", Filter{Sort: "amount", State: "failed"}, services.Cursor{}, services.Cursor{}, "recharges_state_amount"},
		{"amount, failed only, deep", Filter{Sort: "-amount", State: "failed"}, deep, services.Cursor{}, "recharges_state_amount"},
		{"oldest first", Filter{Sort: "created"}, services.Cursor{}, services.Cursor{}, ""},
		{"oldest first, deep", Filter{Sort: "created"}, services.Cursor{ID: 500000}, services.Cursor{}, ""},
		{"oldest first, unknown only", Filter{Sort: "created", State: "unknown"}, services.Cursor{}, services.Cursor{}, "recharges_state"},
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
		// Each read of the page: a page that starts inside a run of equal
		// amounts is two.
		for i, read := range sortedQueries(db, p, c.next, c.prev, 50) {
			q := func(tx *gorm.DB) *gorm.DB {
				var rows []models.Recharge
				return read(tx).Find(&rows)
			}
			dbtest.CheckListPlan(t, db, dbtest.ListPlan{Name: fmt.Sprintf("%s, read %d", c.name, i+1), Table: "recharges", Filtered: c.filter.State != "", Want: want}, q, nil)
		}
	}
}
