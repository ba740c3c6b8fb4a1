package verifications

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"reflect"
	"slices"
	"testing"
	"time"

	"gorm.io/gorm"

	"portal/internal/dbtest"
	"portal/internal/sorttest"
	"portal/models"
	"portal/services"
)

// Walking a sorted list page by page, forwards and then back, finds every
// matching verification once, in the order asked for, ties broken by id the
// same way.
func TestSortedListWalksEveryRowInOrder(t *testing.T) {
	db := dbtest.Open(t)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// Few distinct last changes, so most pages end inside a tie; the
	// fractions are written with and without trailing digits, which is
	// where the text SQLite keeps could sort differently from the times.
	changes := []time.Duration{0, 500 * time.Millisecond, 250 * time.Millisecond, time.Second + 123456789, 2 * time.Hour}
	var rows []models.Verification
	for i := 1; i <= 230; i++ {
		rows = append(rows, models.Verification{Reference: fmt.Sprintf("ref-%d", i),
			Provider: []models.VerificationProvider{models.ProviderPawaPass, models.ProviderPassportReader}[i%2],
			State:    []models.VerificationState{models.VerificationApproved, models.VerificationInProgress}[i%3/2],
			// Changed in another order than made: the last change is not
			// the id order in disguise.
			CreatedAt: at.Add(time.Duration(i) * time.Minute), UpdatedAt: at.Add(changes[i*7%5])})
	}
	if err := db.CreateInBatches(rows, 100).Error; err != nil {
		t.Fatal(err)
	}
	s := &Service{db: db, now: time.Now}
	byUpdated := func(a, b models.Verification) int {
		return cmp.Or(a.UpdatedAt.Compare(b.UpdatedAt), cmp.Compare(a.ID, b.ID))
	}
	reversed := func(c func(a, b models.Verification) int) func(a, b models.Verification) int {
		return func(a, b models.Verification) int { return c(b, a) }
	}
	byID := func(a, b models.Verification) int { return cmp.Compare(a.ID, b.ID) }
	for _, c := range []struct {
		f   Filter
		cmp func(a, b models.Verification) int
	}{
		{Filter{Sort: "updated"}, byUpdated},
		{Filter{Sort: "-updated"}, reversed(byUpdated)},
		{Filter{Sort: "-updated", State: "in_progress"}, reversed(byUpdated)},
		{Filter{Sort: "updated", Provider: "passportreader"}, byUpdated},
		{Filter{Sort: "created"}, byID},
		{Filter{Sort: "created", State: "approved"}, byID},
		{Filter{Sort: "-created", Provider: "pawapass"}, reversed(byID)},
	} {
		t.Run(fmt.Sprintf("%s/%s%s", c.f.Sort, c.f.State, c.f.Provider), func(t *testing.T) {
			var expect []uint
			sorted := slices.Clone(rows)
			slices.SortFunc(sorted, c.cmp)
			for _, r := range sorted {
				if (c.f.State == "" || string(r.State) == c.f.State) && (c.f.Provider == "" || string(r.Provider) == c.f.Provider) {
					expect = append(expect, r.ID)
				}
			}
			sorttest.Walk(t, expect, func(next, prev string) (sorttest.Page, error) {
				p, err := s.List(context.Background(), c.f, next, prev, 40)
				return sorttest.Page{IDs: sorttest.IDs(p.Verifications, func(r models.Verification) uint { return r.ID }), Following: p.Following, Prev: p.Prev}, err
			})
		})
	}
}

func TestSortAndCursorValidation(t *testing.T) {
	s := &Service{db: dbtest.Open(t), now: time.Now}
	ctx := context.Background()
	sorttest.CheckRefusals(t, []sorttest.Refusal[Filter]{
		{Name: "unknown column", Filter: Filter{Sort: "phone"}, Field: "sort"},
		{Name: "search by last change", Filter: Filter{Sort: "-updated", Q: "cust-00"}, Field: "sort"},
		{Name: "phone search oldest first", Filter: Filter{Sort: "created", Q: "0712345678"}, Field: "sort"},
		{Name: "time cursor on the id order", Filter: Filter{}, Next: "12_2026-01-01T00:00:00Z"},
		{Name: "id cursor on the last-change order", Filter: Filter{Sort: "updated"}, Next: "12"},
		{Name: "both directions", Filter: Filter{}, Next: "12", Prev: "10"},
		{Name: "zero id", Filter: Filter{}, Next: "0"},
	}, ErrBadCursor, func(f Filter, next, prev string) error {
		_, err := s.List(ctx, f, next, prev, 10)
		return err
	})
	// Whole-value searches sort: they are equalities, not prefix walks.
	for _, f := range []Filter{{Sort: "-updated", Q: "#12"}, {Sort: "updated", Provider: "pawapass", Status: "REVIEW", Decision: "none", Reason: "face_mismatch"}} {
		if _, err := s.List(ctx, f, "", "", 10); err != nil {
			t.Errorf("%+v: %v", f, err)
		}
	}
	// The export ignores the order: its batches walk the ids.
	if err := s.ExportCSV(ctx, Filter{Sort: "-updated", Q: "cust-00"}, io.Discard); err != nil {
		t.Errorf("export with a sort and a partial search: %v", err)
	}
}

// Every offered order reads an index in its order and stops after a page:
// no sort of the matches, first page or deep, with the state filter and
// with the others (which the page tests row by row as it walks).
func TestSortedListQueriesUseIndexes(t *testing.T) {
	db := dbtest.Open(t)
	deep := services.Cursor{ID: 500000, Value: "2026-03-01T10:04:05.123456Z"}
	id := func(n uint) services.Cursor { return services.Cursor{ID: n} }
	none := services.Cursor{}
	cases := []struct {
		name       string
		filter     Filter
		next, prev services.Cursor
		want       string
		maySort    bool // a date search, as newest first
	}{
		// A filter other than state is tested row by row as the page
		// walks the order's index (verifications_updated from its start,
		// or from the cursor): no index condition serves it, by design.
		{"last changed first", Filter{Sort: "-updated"}, none, none, "verifications_updated", false},
		{"least recently changed first, deep", Filter{Sort: "updated"}, deep, none, "verifications_updated", false},
		{"last changed first, backwards", Filter{Sort: "-updated"}, none, deep, "verifications_updated", false},
		{"last change, in progress", Filter{Sort: "-updated", State: "in_progress"}, none, none, "verifications_state_updated", false},
		{"last change, approved, deep", Filter{Sort: "updated", State: "approved"}, deep, none, "verifications_state_updated", false},
		{"last change, unknown, backwards", Filter{Sort: "-updated", State: "unknown"}, none, deep, "verifications_state_updated", false},
		{"last change, by provider, deep", Filter{Sort: "-updated", Provider: "pawapass"}, deep, none, "verifications_updated", false},
		{"last change, in REVIEW", Filter{Sort: "-updated", Status: "REVIEW"}, none, none, "verifications_updated", false},
		{"last change, not reviewed", Filter{Sort: "-updated", Decision: "none"}, none, none, "verifications_updated", false},
		{"last change, flagged, declined", Filter{Sort: "updated", Decision: "flagged", State: "declined"}, deep, none, "verifications_state_updated", false},
		{"last change, by reason", Filter{Sort: "-updated", Reason: "face_mismatch"}, none, none, "verifications_updated", false},
		{"last change, one verification", Filter{Sort: "-updated", Q: "#42"}, none, none, "", false},
		{"last change, by date", Filter{Sort: "-updated", From: "2026-01-01", To: "2026-01-31"}, none, none, "", true},
		{"oldest first", Filter{Sort: "created"}, none, none, "", false},
		{"oldest first, deep", Filter{Sort: "created"}, id(500000), none, "", false},
		{"oldest first, backwards", Filter{Sort: "created"}, none, id(500000), "", false},
		{"oldest first, unknown only", Filter{Sort: "created", State: "unknown"}, none, none, "verifications_state", false},
		{"oldest first, by provider, deep", Filter{Sort: "created", Provider: "passportreader"}, id(500000), none, "verifications_provider", false},
		{"oldest first, in REVIEW", Filter{Sort: "created", Status: "REVIEW"}, none, none, "verifications_provider_status", false},
		{"oldest first, not reviewed", Filter{Sort: "created", Decision: "none"}, none, none, "verifications_decision", false},
		{"oldest first, by reason", Filter{Sort: "created", Reason: "face_mismatch"}, none, none, "verifications_compliance_reason", false},
		{"oldest first, by date", Filter{Sort: "created", From: "2026-01-01", To: "2026-01-31"}, none, none, "", true},
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
		// times is two.
		for i, read := range sortedQueries(db, p, c.next, c.prev, 50) {
			q := func(tx *gorm.DB) *gorm.DB {
				var rows []models.Verification
				return read(tx).Find(&rows)
			}
			walks := c.want == "verifications_updated"
			dbtest.CheckListPlan(t, db, dbtest.ListPlan{Name: fmt.Sprintf("%s, read %d", c.name, i+1), Table: "verifications",
				Filtered: !walks && !reflect.DeepEqual(c.filter, Filter{Sort: c.filter.Sort}), MaySort: c.maySort, Want: want}, q, nil)
		}
	}
}
