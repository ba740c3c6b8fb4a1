package documents

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"portal/models"
	"portal/services"
)

// Filter narrows the document list. Dates are whole UTC days, inclusive.
type Filter struct {
	State    string
	Kind     string
	Decision string // "approved", "flagged" or "none" (no decision yet)
	From     string
	To       string
	// Q is a NIN, a title, our reference or pasby's id; a prefix of at
	// least 3 characters is enough. "#123" is document 123.
	Q string
	// Stalled ("1") keeps the open documents nobody has acted on for
	// StalledAfter: the dashboard's "no progress" figure.
	Stalled string
}

// StalledAfter is how long an open document may go without a timeline
// event (a signee opening or signing) before it needs attention.
const StalledAfter = 24 * time.Hour

// StalledSQL selects the stalled documents given the time StalledAfter
// ago; the dashboard counts with it.
const StalledSQL = "state IN ('submitted','in_progress') AND NOT EXISTS " +
	"(SELECT 1 FROM document_events e WHERE e.document_id = documents.id AND e.at >= ?)"

// MinSearch is the shortest prefix Q searches with: shorter ones match too
// much of a large table to sort.
const MinSearch = 3

type parsedFilter struct {
	state    models.DocumentState
	kind     models.DocumentKind
	decision string
	from, to time.Time
	prefix   string
	nin      bool // prefix is digits: also search signees' NINs
	id       uint
	stalled  bool
	// stalledSince is set by List from the service's clock.
	stalledSince time.Time
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
	if len(errs) > 0 {
		return parsedFilter{}, errs
	}
	return p, nil
}

// prefixEnd is the smallest string greater than every string starting with
// prefix (short of characters beyond U+FFFF), so "col >= prefix AND col <
// prefixEnd" is an index range scan; a LIKE would not use the index.
func prefixEnd(prefix string) string { return prefix + "\uffff" }

func (p parsedFilter) apply(q *gorm.DB) *gorm.DB {
	if p.state != "" {
		q = q.Where("state = ?", p.state)
	}
	if p.kind != "" {
		q = q.Where("kind = ?", p.kind)
	}
	switch p.decision {
	case "none":
		q = q.Where("review_decision = ''")
	case "approved", "flagged":
		q = q.Where("review_decision = ?", p.decision)
	}
	if p.stalled {
		q = q.Where(StalledSQL, p.stalledSince)
	}
	if !p.from.IsZero() {
		q = q.Where("created_at >= ?", p.from)
	}
	if !p.to.IsZero() {
		q = q.Where("created_at < ?", p.to.AddDate(0, 0, 1))
	}
	switch {
	case p.id != 0:
		q = q.Where("id = ?", p.id)
	case p.prefix != "":
		end := prefixEnd(p.prefix)
		// The title is searched without regard to ASCII case.
		d := models.DialectOf(q)
		title := d.Folded("title")
		cond := "(" + title + " >= ? AND " + title + " < ?) OR (reference >= ? AND reference < ?) OR (upstream_id >= ? AND upstream_id < ?)"
		args := []any{d.FoldArg(p.prefix), d.FoldArg(end), p.prefix, end, p.prefix, end}
		if p.nin {
			cond += " OR id IN (SELECT document_id FROM document_signees WHERE nin >= ? AND nin < ?)"
			args = append(args, p.prefix, end)
		}
		q = q.Where("("+cond+")", args...)
	}
	return q
}

// Page is one page of documents, newest first.
type Page struct {
	Documents    []models.Document
	Older, Newer uint // cursors: pass as before / after; 0 when there is none
}

// List returns a page of documents matching f (keyset paging by id: before
// for older pages, after for newer ones).
func (s *Service) List(ctx context.Context, f Filter, before, after uint, limit int) (Page, error) {
	p, err := f.parse()
	if err != nil {
		return Page{}, err
	}
	p.stalledSince = s.now().UTC().Add(-StalledAfter)
	var rows []models.Document
	if err := listQuery(s.db.WithContext(ctx), p, before, after, limit).Find(&rows).Error; err != nil {
		return Page{}, fmt.Errorf("documents: list: %w", err)
	}
	var page Page
	page.Documents, page.Older, page.Newer = services.KeysetPage(rows, func(d models.Document) uint { return d.ID }, before, after, limit)
	return page, nil
}

// listQuery is the page query, shared with the test that checks its plan.
func listQuery(db *gorm.DB, p parsedFilter, before, after uint, limit int) *gorm.DB {
	return services.KeysetOrder(p.apply(db.Model(&models.Document{})), before, after, limit)
}

// ValidateFilter reports field errors in f without querying.
func ValidateFilter(f Filter) error {
	_, err := f.parse()
	return err
}

// ExportCSV streams every document matching f, newest first, in batches so
// memory stays flat. NINs are masked to their last 4 digits: a file leaves
// the portal's access rules behind.
func (s *Service) ExportCSV(ctx context.Context, f Filter, w io.Writer) error {
	p, err := f.parse()
	if err != nil {
		return err
	}
	p.stalledSince = s.now().UTC().Add(-StalledAfter)
	header := []string{"id", "created_at_utc", "kind", "state", "title", "reference", "upstream_id", "signees", "signed",
		"file_url", "stamped_url", "review_decision", "completed_at_utc", "error", "created_by"}
	next := func(cursor uint, limit int) ([]models.Document, error) {
		var rows []models.Document
		if err := services.KeysetBatch(p.apply(s.db.WithContext(ctx).Model(&models.Document{})), cursor, limit).Find(&rows).Error; err != nil {
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
				r.FileURL, r.StampedURL, string(r.ReviewDecision), completed, r.Error, r.CreatedByEmail})
		}
		return recs, nil
	})
}
