package documents

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
// matching document once, in the order asked for, ties broken by id the
// same way.
func TestSortedListWalksEveryRowInOrder(t *testing.T) {
	db := dbtest.Open(t)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// Few distinct last changes, so most pages end inside a tie; the
	// fractions are written with and without trailing digits, which is
	// where the text SQLite keeps could sort differently from the times.
	changes := []time.Duration{0, 500 * time.Millisecond, 250 * time.Millisecond, time.Second + 123456789, 2 * time.Hour}
	var rows []models.Document
	for i := 1; i <= 230; i++ {
		rows = append(rows, models.Document{Reference: fmt.Sprintf("ref-%d", i), Title: "Lease",
			Kind:  []models.DocumentKind{models.DocumentKindSimple, models.DocumentKindReview}[i%2],
			State: []models.DocumentState{models.DocumentCompleted, models.DocumentInProgress}[i%3/2],
			// Changed in another order than made: the last change is not
			// the id order in disguise.
			CreatedAt: at.Add(time.Duration(i) * time.Minute), UpdatedAt: at.Add(changes[i*7%5])})
	}
	if err := db.CreateInBatches(rows, 100).Error; err != nil {
		t.Fatal(err)
	}
	s := &Service{db: db, now: time.Now}
	byUpdated := func(a, b models.Document) int {
		return cmp.Or(a.UpdatedAt.Compare(b.UpdatedAt), cmp.Compare(a.ID, b.ID))
	}
	reversed := func(c func(a, b models.Document) int) func(a, b models.Document) int {
		return func(a, b models.Document) int { return c(b, a) }
	}
	byID := func(a, b models.Document) int { return cmp.Compare(a.ID, b.ID) }
	for _, c := range []struct {
		f   Filter
		cmp func(a, b models.Document) int
	}{
		{Filter{Sort: "updated"}, byUpdated},
		{Filter{Sort: "-updated"}, reversed(byUpdated)},
		{Filter{Sort: "-updated", State: "in_progress"}, reversed(byUpdated)},
		{Filter{Sort: "updated", Kind: "review"}, byUpdated},
		{Filter{Sort: "created"}, byID},
		{Filter{Sort: "created", State: "completed"}, byID},
		{Filter{Sort: "-created", Kind: "simple"}, reversed(byID)},
	} {
		t.Run(fmt.Sprintf("%s/%s%s", c.f.Sort, c.f.State, c.f.Kind), func(t *testing.T) {
			var expect []uint
			sorted := slices.Clone(rows)
			slices.SortFunc(sorted, c.cmp)
			for _, r := range sorted {
				if (c.f.State == "" || string(r.State) == c.f.State) && (c.f.Kind == "" || string(r.Kind) == c.f.Kind) {
					expect = append(expect, r.ID)
				}
			}
			sorttest.Walk(t, expect, func(next, prev string) (sorttest.Page, error) {
				p, err := s.List(context.Background(), c.f, next, prev, 40)
				return sorttest.Page{IDs: sorttest.IDs(p.Documents, func(r models.Document) uint { return r.ID }), Following: p.Following, Prev: p.Prev}, err
			})
		})
	}
}

func TestSortAndCursorValidation(t *testing.T) {
	s := &Service{db: dbtest.Open(t), now: time.Now}
	ctx := context.Background()
	sorttest.CheckRefusals(t, []sorttest.Refusal[Filter]{
		{Name: "unknown column", Filter: Filter{Sort: "title"}, Field: "sort"},
		{Name: "partial search by last change", Filter: Filter{Sort: "-updated", Q: "Loan"}, Field: "sort"},
		{Name: "partial search oldest first", Filter: Filter{Sort: "created", Q: "1234567"}, Field: "sort"},
		{Name: "time cursor on the id order", Filter: Filter{}, Next: "12_2026-01-01T00:00:00Z"},
		{Name: "id cursor on the last-change order", Filter: Filter{Sort: "updated"}, Next: "12"},
		{Name: "both directions", Filter: Filter{}, Next: "12", Prev: "10"},
		{Name: "zero id", Filter: Filter{}, Next: "0"},
	}, ErrBadCursor, func(f Filter, next, prev string) error {
		_, err := s.List(ctx, f, next, prev, 10)
		return err
	})
	// Whole-value searches sort: they are equalities, not prefix walks.
	for _, f := range []Filter{{Sort: "-updated", Q: "#12"}, {Sort: "updated", Kind: "simple", Decision: "none", Reason: "other", Stalled: "1"}} {
		if _, err := s.List(ctx, f, "", "", 10); err != nil {
			t.Errorf("%+v: %v", f, err)
		}
	}
	// The export ignores the order: its batches walk the ids.
	if err := s.ExportCSV(ctx, Filter{Sort: "-updated", Q: "Loan"}, io.Discard); err != nil {
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
		// walks the order's index (documents_updated from its start, or
		// from the cursor): no index condition serves it, by design.
		{"last changed first", Filter{Sort: "-updated"}, none, none, "documents_updated", false},
		{"least recently changed first, deep", Filter{Sort: "updated"}, deep, none, "documents_updated", false},
		{"last changed first, backwards", Filter{Sort: "-updated"}, none, deep, "documents_updated", false},
		{"last change, in progress", Filter{Sort: "-updated", State: "in_progress"}, none, none, "documents_state_updated", false},
		{"last change, completed, deep", Filter{Sort: "updated", State: "completed"}, deep, none, "documents_state_updated", false},
		{"last change, completed, backwards", Filter{Sort: "-updated", State: "completed"}, none, deep, "documents_state_updated", false},
		{"last change, review kind", Filter{Sort: "-updated", Kind: "review"}, deep, none, "documents_updated", false},
		{"last change, not reviewed", Filter{Sort: "-updated", Decision: "none"}, none, none, "documents_updated", false},
		{"last change, flagged, completed", Filter{Sort: "updated", Decision: "flagged", State: "completed"}, deep, none, "documents_state_updated", false},
		{"last change, by reason", Filter{Sort: "-updated", Reason: "other"}, none, none, "documents_updated", false},
		{"last change, stalled", Filter{Sort: "-updated", Stalled: "1"}, none, none, "documents_updated", false},
		{"last change, one document", Filter{Sort: "-updated", Q: "#42"}, none, none, "", false},
		{"last change, by date", Filter{Sort: "-updated", From: "2026-01-01", To: "2026-01-31"}, none, none, "", true},
		{"oldest first", Filter{Sort: "created"}, none, none, "", false},
		{"oldest first, deep", Filter{Sort: "created"}, id(500000), none, "", false},
		{"oldest first, backwards", Filter{Sort: "created"}, none, id(500000), "", false},
		{"oldest first, unknown only", Filter{Sort: "created", State: "unknown"}, none, none, "documents_state", false},
		{"oldest first, simple kind, deep", Filter{Sort: "created", Kind: "simple"}, id(500000), none, "documents_kind", false},
		{"oldest first, not reviewed", Filter{Sort: "created", Decision: "none"}, none, none, "documents_decision", false},
		{"oldest first, by reason", Filter{Sort: "created", Reason: "other"}, none, none, "documents_compliance_reason", false},
		{"oldest first, by date", Filter{Sort: "created", From: "2026-01-01", To: "2026-01-31"}, none, none, "", true},
	}
	for _, c := range cases {
		p, err := c.filter.parse()
		if err != nil {
			t.Fatal(err)
		}
		p.stalledSince = time.Now().Add(-StalledAfter)
		var want []string
		if c.want != "" {
			want = []string{c.want}
		}
		// Each read of the page: a page that starts inside a run of equal
		// times is two.
		for i, read := range sortedQueries(db, p, c.next, c.prev, 50) {
			q := func(tx *gorm.DB) *gorm.DB {
				var rows []models.Document
				return read(tx).Find(&rows)
			}
			walks := c.want == "documents_updated"
			dbtest.CheckListPlan(t, db, dbtest.ListPlan{Name: fmt.Sprintf("%s, read %d", c.name, i+1), Table: "documents",
				Filtered: !walks && !reflect.DeepEqual(c.filter, Filter{Sort: c.filter.Sort}), MaySort: c.maySort, Unread: []string{"document_signees"}, Want: want}, q, nil)
		}
	}
}
