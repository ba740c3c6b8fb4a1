package documents

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
	"portal/services/casework"
)

// Filter narrows the document list. Dates are whole UTC days, inclusive.
type Filter struct {
	// IDs, when set, keeps only these records: a selection on the page.
	IDs      []uint
	State    string
	Kind     string
	Decision string // "approved", "flagged" or "none" (no decision yet)
	// Reason is a compliance reason code (services/casework.Reasons).
	Reason string
	From   string
	To     string
	// Q is a NIN, a title, our reference or pasby's id; a prefix of at
	// least 3 characters is enough. "#123" is document 123.
	Q string
	// Stalled ("1") keeps the open documents nobody has acted on for
	// StalledAfter: the dashboard's "no progress" figure.
	Stalled string
	// Sort is "created" or "updated" (the last change), "-" first for
	// descending; empty is newest first.
	Sort string
}

// StalledAfter is how long an open document may go without a timeline
// event (a signee opening or signing) before it needs attention.
const StalledAfter = 24 * time.Hour

// StalledSQL selects the stalled documents given the time StalledAfter
// ago; the dashboard counts with it.
const StalledSQL = "state IN ('submitted','in_progress') AND NOT EXISTS " +
	"(SELECT 1 FROM document_events e WHERE e.document_id = documents.id AND e.at >= ?)"

// DefaultSort is newest first.
var DefaultSort = services.Sort{Key: "created"}

// SortKeys are the orders the list offers, each read in the order of an
// index and paged by keyset: created by the primary key (documents_state
// with the state filter, documents_kind and the like with another), the
// last change by documents_updated (documents_state_updated).
var SortKeys = []services.SortKey[models.Document]{
	{Name: "created"},
	services.TimeKey("updated", "updated_at", func(d models.Document) time.Time { return d.UpdatedAt }),
}

// ErrBadCursor is a page link whose cursor cannot be read: mangled, or
// from another sort.
var ErrBadCursor = errors.New("documents: the page link is broken")

// MinSearch is the shortest prefix Q searches with: shorter ones match too
// much of a large table to sort.
const MinSearch = 3

type parsedFilter struct {
	ids      []uint
	state    models.DocumentState
	kind     models.DocumentKind
	decision string
	reason   string
	from, to time.Time
	prefix   string
	nin      bool // prefix is digits: also search signees' NINs
	id       uint
	stalled  bool
	// stalledSince is set by List from the service's clock.
	stalledSince time.Time
	sort         services.Sort
	sortKey      services.SortKey[models.Document]
}

func (f Filter) parse() (parsedFilter, error) {
	p := parsedFilter{
		state: models.DocumentState(strings.TrimSpace(f.State)),
		kind:  models.DocumentKind(strings.TrimSpace(f.Kind)),
	}
	errs := services.FieldErrors{}
	if p.state != "" && !p.state.Valid() {
		errs["state"] = "Choose a state from the list."
	}
	if p.kind != "" && !p.kind.Valid() {
		errs["kind"] = "Choose simple or review."
	}
	switch d := strings.TrimSpace(f.Decision); d {
	case "", "approved", "flagged", "none":
		p.decision = d
	default:
		errs["decision"] = "Choose approved, flagged or not reviewed."
	}
	if r := strings.TrimSpace(f.Reason); r != "" {
		if !casework.ValidReason(models.CaseDocument, r) {
			errs["reason"] = "Choose a reason from the list."
		}
		p.reason = r
	}
	switch strings.TrimSpace(f.Stalled) {
	case "", "0":
	case "1":
		p.stalled = true
	default:
		errs["stalled"] = "Stalled is 1 or empty."
	}
	p.from, p.to = services.ParseDateRange(f.From, f.To, errs)
	search := services.ParseSearch(f.Q, "document", MinSearch, 100, errs)
	p.id, p.prefix = search.ID, search.Prefix
	p.nin = p.prefix != "" && strings.Trim(p.prefix, "0123456789") == "" && len(p.prefix) <= 11
	p.sort, p.sortKey = services.ParseSort(f.Sort, SortKeys, DefaultSort, errs)
	if p.prefix != "" && p.sort != DefaultSort {
		// A search reads each index it may match in id order
		// (services.PrefixIDs); another order would sort every match.
		errs["sort"] = "A search lists the newest first: clear the search to sort the list another way."
	}
	p.ids = services.ParseSelection(f.IDs, errs)
	if len(errs) > 0 {
		return parsedFilter{}, errs
	}
	return p, nil
}

func (p parsedFilter) apply(q *gorm.DB) *gorm.DB {
	if len(p.ids) > 0 {
		q = q.Where("id IN ?", p.ids)
	}
	col := p.tested(models.DialectOf(q))
	if p.state != "" {
		q = q.Where("state = ?", p.state)
	}
	if p.kind != "" {
		q = q.Where(col+"kind = ?", p.kind)
	}
	switch p.decision {
	case "none":
		q = q.Where(col + "review_decision = ''")
	case "approved", "flagged":
		q = q.Where(col+"review_decision = ?", p.decision)
	}
	if p.reason != "" {
		q = q.Where(col+"compliance_reason = ?", p.reason)
	}
	if p.stalled {
		// The unary plus binds to the state column that StalledSQL starts
		// with.
		q = q.Where(col+StalledSQL, p.stalledSince)
	}
	if !p.from.IsZero() {
		q = q.Where("created_at >= ?", p.from)
	}
	if !p.to.IsZero() {
		q = q.Where("created_at < ?", p.to.AddDate(0, 0, 1))
	}
	if p.id != 0 {
		q = q.Where("id = ?", p.id)
	}
	return q
}

// tested is what a filter's column is prefixed with so that no index of
// its own serves it: "+" on SQLite when the list is in the order of its
// last change, which only documents_updated and documents_state_updated
// hold. Without statistics SQLite would rather read the kind's (or the
// decision's…) index and sort every match, however many; with the plus,
// the page walks the order's index instead, testing each row, and stops
// after a page. PostgreSQL is left to weigh the two by its statistics:
// it walks for common values and sorts the few matches of rare ones.
func (p parsedFilter) tested(d models.Dialect) string {
	if p.sortKey.Expr == nil || d.Postgres() {
		return ""
	}
	return "+"
}

// prefixKeys are the indexes a prefix search reads: the title (without
// regard to ASCII case), our reference, pasby's id, and for digits the
// signees' NINs.
func (p parsedFilter) prefixKeys(d models.Dialect) []services.PrefixKey {
	if p.prefix == "" {
		return nil
	}
	keys := []services.PrefixKey{
		services.FoldedPrefixRange(d, "documents", "title", p.prefix),
		services.PrefixRange(d, "documents", "reference", p.prefix),
		services.PrefixRange(d, "documents", "upstream_id", p.prefix),
	}
	if p.nin {
		end := services.PrefixEnd(p.prefix)
		keys = append(keys, services.PrefixKey{
			Probe: "SELECT document_id FROM document_signees WHERE nin >= ? AND nin < ?", IDCol: "document_id", Args: []any{p.prefix, end},
			// Per document, by the (document_id, nin) unique index.
			Match:   "EXISTS (SELECT 1 FROM document_signees s WHERE s.document_id = documents.id AND s.nin >= ? AND s.nin < ?)",
			MatchAr: []any{p.prefix, end},
		})
	}
	return keys
}

// Page is one page of documents in the filter's order, with the cursors
// of the following and preceding pages ("" for none).
type Page struct {
	Documents       []models.Document
	Following, Prev string
}

// List returns a page of documents matching f, in f's order: the page
// after cursor next, or the page before cursor prev (both "" for the
// first page). A cursor that cannot be read is ErrBadCursor.
func (s *Service) List(ctx context.Context, f Filter, next, prev string, limit int) (Page, error) {
	p, err := f.parse()
	if err != nil {
		return Page{}, err
	}
	p.stalledSince = s.now().UTC().Add(-StalledAfter)
	db := s.db.WithContext(ctx)
	rows, err := services.ReadList(p.apply(db.Model(&models.Document{})), p.prefixKeys(models.DialectOf(db)), p.sortKey, p.sort, DefaultSort,
		next, prev, limit, func(r models.Document) uint { return r.ID })
	if errors.Is(err, services.ErrBadCursor) {
		return Page{}, ErrBadCursor
	} else if err != nil {
		return Page{}, fmt.Errorf("documents: %w", err)
	}
	return Page{Documents: rows.Rows, Following: rows.Following, Prev: rows.Prev}, nil
}

// listQuery is the page query of a list newest first without a prefix
// search, shared with the test that checks its plan.
func listQuery(db *gorm.DB, p parsedFilter, before, after uint, limit int) *gorm.DB {
	return services.KeysetOrder(p.apply(db.Model(&models.Document{})), before, after, limit)
}

// sortedQueries are the page reads of a list in another order, shared with
// the test that checks their plans.
func sortedQueries(db *gorm.DB, p parsedFilter, next, prev services.Cursor, limit int) []func(tx *gorm.DB) *gorm.DB {
	reads := services.SortedQueries(models.DialectOf(db), p.sortKey, p.sort, next, prev, limit)
	for i, read := range reads {
		reads[i] = func(tx *gorm.DB) *gorm.DB { return read(p.apply(tx.Model(&models.Document{}))) }
	}
	return reads
}

// ValidateFilter reports field errors in f without querying.
func ValidateFilter(f Filter) error {
	_, err := f.parse()
	return err
}

// ExportCSV streams every document matching f, newest first whatever
// f.Sort says (its batches walk the ids), in batches so memory stays flat.
// NINs are masked to their last 4 digits: a file leaves the portal's
// access rules behind.
func (s *Service) ExportCSV(ctx context.Context, f Filter, w io.Writer) error {
	f.Sort = ""
	p, err := f.parse()
	if err != nil {
		return err
	}
	p.stalledSince = s.now().UTC().Add(-StalledAfter)
	header := []string{"id", "created_at_utc", "kind", "state", "title", "reference", "upstream_id", "signees", "signed",
		"file_url", "stamped_url", "review_decision", "compliance_reason", "completed_at_utc", "error", "created_by"}
	next := func(cursor uint, limit int) ([]models.Document, error) {
		var rows []models.Document
		q := p.apply(s.db.WithContext(ctx).Model(&models.Document{}))
		if keys := p.prefixKeys(models.DialectOf(q)); keys != nil {
			q = services.PrefixMatch(q, keys) // a walk in id order, not a sort of every match per batch
		}
		if err := services.KeysetBatch(q, cursor, limit).Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("documents: export: %w", err)
		}
		return rows, nil
	}
	return services.StreamCSV(w, header, next, func(d models.Document) uint { return d.ID }, func(rows []models.Document) ([][]string, error) {
		ids := make([]uint, len(rows))
		for i, r := range rows {
			ids[i] = r.ID
		}
		// One query for the whole batch's signees, not one per document.
		var signees []models.DocumentSignee
		if len(ids) > 0 {
			if err := s.db.WithContext(ctx).Where("document_id IN ?", ids).Order("document_id, position").Find(&signees).Error; err != nil {
				return nil, fmt.Errorf("documents: export signees: %w", err)
			}
		}
		byDoc := map[uint][]models.DocumentSignee{}
		for _, sg := range signees {
			byDoc[sg.DocumentID] = append(byDoc[sg.DocumentID], sg)
		}
		recs := make([][]string, 0, len(rows))
		for _, r := range rows {
			upstreamID, completed := "", ""
			if r.UpstreamID != nil {
				upstreamID = *r.UpstreamID
			}
			if r.CompletedAt != nil {
				completed = r.CompletedAt.UTC().Format(time.RFC3339)
			}
			masked, signed := []string{}, 0
			for _, sg := range byDoc[r.ID] {
				masked = append(masked, MaskNIN(sg.NIN, false))
				if sg.Status == models.SigneeSigned {
					signed++
				}
			}
			recs = append(recs, []string{strconv.FormatUint(uint64(r.ID), 10), r.CreatedAt.UTC().Format(time.RFC3339), string(r.Kind), string(r.State),
				r.Title, r.Reference, upstreamID, strings.Join(masked, " "), fmt.Sprintf("%d/%d", signed, len(byDoc[r.ID])),
				r.FileURL, r.StampedURL, string(r.ReviewDecision), r.ComplianceReason, completed, r.Error, r.CreatedByEmail})
		}
		return recs, nil
	})
}

// MatchingIDs are the ids of the records matching f, newest first, at
// most max+1 (one more than max says there are more): what "every one
// matching the filter" of a bulk action is.
func (s *Service) MatchingIDs(ctx context.Context, f Filter, max int) ([]uint, error) {
	f.Sort = ""
	return services.CollectIDs(max, func(next string, limit int) ([]uint, string, error) {
		page, err := s.List(ctx, f, next, "", limit)
		ids := make([]uint, len(page.Documents))
		for i, d := range page.Documents {
			ids[i] = d.ID
		}
		return ids, page.Following, err
	})
}
