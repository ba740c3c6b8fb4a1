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
	"portal/services/casework"
)

// Filter narrows the document list. Dates are whole UTC days, inclusive.
type Filter struct {
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
	reason   string
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
	if len(errs) > 0 {
		return parsedFilter{}, errs
	}
	return p, nil
}

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
	if p.reason != "" {
		q = q.Where("compliance_reason = ?", p.reason)
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
	if p.id != 0 {
		q = q.Where("id = ?", p.id)
	}
	return q
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
	db := s.db.WithContext(ctx)
	rows, err := services.PageRows(p.apply(db.Model(&models.Document{})), p.prefixKeys(models.DialectOf(db)), before, after, limit,
		func(d models.Document) uint { return d.ID })
	if err != nil {
		return Page{}, fmt.Errorf("documents: list: %w", err)
	}
	var page Page
	page.Documents, page.Older, page.Newer = services.KeysetPage(rows, func(d models.Document) uint { return d.ID }, before, after, limit)
	return page, nil
}

// listQuery is the page query of a list without a prefix search, shared
// with the test that checks its plan.
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
