package verifications

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
	"portal/services/phone"
)

// Filter is the list's filter form.
type Filter struct {
	// IDs, when set, keeps only these records: a selection on the page.
	IDs      []uint
	Provider string
	State    string
	Status   string // the provider's own status, e.g. REVIEW
	Decision string // "approved", "flagged" or "none"
	// Reason is a compliance reason code (services/casework.Reasons).
	Reason   string
	From, To string
	// Q is a phone number (any common format), an external id, a document
	// number, the provider's id or our reference; a prefix of at least 3
	// characters is enough. "#123" is verification 123.
	Q string
	// Sort is "created" or "updated" (the last change), "-" first for
	// descending; empty is newest first.
	Sort string
}

// MinSearch is the shortest prefix Q searches with.
const MinSearch = 3

// DefaultSort is newest first.
var DefaultSort = services.Sort{Key: "created"}

// SortKeys are the orders the list offers, each read in the order of an
// index and paged by keyset: created by the primary key
// (verifications_state with the state filter, verifications_provider and
// the like with another), the last change by verifications_updated
// (verifications_state_updated).
var SortKeys = []services.SortKey[models.Verification]{
	{Name: "created"},
	services.TimeKey("updated", "updated_at", func(v models.Verification) time.Time { return v.UpdatedAt }),
}

// ErrBadCursor is a page link whose cursor cannot be read: mangled, or
// from another sort.
var ErrBadCursor = errors.New("verifications: the page link is broken")

type parsedFilter struct {
	ids      []uint
	provider models.VerificationProvider
	state    models.VerificationState
	status   string
	decision string
	reason   string
	from, to time.Time
	prefix   string
	phone    string // Q read as a phone number, E.164
	id       uint
	sort     services.Sort
	sortKey  services.SortKey[models.Verification]
}

func (f Filter) parse() (parsedFilter, error) {
	p := parsedFilter{
		provider: models.VerificationProvider(strings.TrimSpace(f.Provider)),
		state:    models.VerificationState(strings.TrimSpace(f.State)),
		status:   strings.ToUpper(strings.TrimSpace(f.Status)),
	}
	errs := services.FieldErrors{}
	if p.provider != "" && !p.provider.Valid() {
		errs["provider"] = "Choose pawaPass or PassportReader."
	}
	if p.state != "" && !p.state.Valid() {
		errs["state"] = "Choose a state from the list."
	}
	if len(p.status) > 40 || strings.Trim(p.status, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") != "" {
		errs["status"] = "Choose a provider status from the list."
	}
	switch d := strings.TrimSpace(f.Decision); d {
	case "", "approved", "flagged", "none":
		p.decision = d
	default:
		errs["decision"] = "Choose approved, flagged or not reviewed."
	}
	if r := strings.TrimSpace(f.Reason); r != "" {
		if !casework.ValidReason(models.CaseVerification, r) {
			errs["reason"] = "Choose a reason from the list."
		}
		p.reason = r
	}
	p.from, p.to = services.ParseDateRange(f.From, f.To, errs)
	search := services.ParseSearch(f.Q, "verification", MinSearch, 100, errs)
	p.id, p.prefix = search.ID, search.Prefix
	if e164, err := phone.Normalize(p.prefix); p.prefix != "" && err == nil {
		p.phone = e164
	}
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
	if p.provider != "" {
		q = q.Where(col+"provider = ?", p.provider)
	}
	if p.state != "" {
		q = q.Where("state = ?", p.state)
	}
	if p.status != "" {
		q = q.Where(col+"provider_status = ?", p.status)
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
// last change, which only verifications_updated and
// verifications_state_updated hold. Without statistics SQLite would rather
// read the provider's (or the decision's…) index and sort every match,
// however many; with the plus, the page walks the order's index instead,
// testing each row, and stops after a page. PostgreSQL is left to weigh
// the two by its statistics: it walks for common values and sorts the few
// matches of rare ones.
func (p parsedFilter) tested(d models.Dialect) string {
	if p.sortKey.Expr == nil || d.Postgres() {
		return ""
	}
	return "+"
}

// prefixKeys are the indexes a prefix search reads: the phone (as typed, as
// a whole number and as the start of one), the external id, the document
// number (without regard to ASCII case), the provider's id and our
// reference.
func (p parsedFilter) prefixKeys(d models.Dialect) []services.PrefixKey {
	if p.prefix == "" {
		return nil
	}
	keys := []services.PrefixKey{
		services.PrefixRange(d, "verifications", "customer_phone", p.prefix),
		services.PrefixRange(d, "verifications", "external_id", p.prefix),
		services.FoldedPrefixRange(d, "verifications", "document_number", p.prefix),
		services.PrefixRange(d, "verifications", "upstream_id", p.prefix),
		services.PrefixRange(d, "verifications", "reference", p.prefix),
	}
	if p.phone != "" {
		keys = append(keys, services.PrefixRange(d, "verifications", "customer_phone", p.phone))
	}
	for _, ph := range phone.Prefixes(p.prefix) {
		if ph != p.prefix && ph != p.phone {
			keys = append(keys, services.PrefixRange(d, "verifications", "customer_phone", ph))
		}
	}
	return keys
}

// Page is one page of verifications in the filter's order, with the
// cursors of the following and preceding pages ("" for none).
type Page struct {
	Verifications   []models.Verification
	Following, Prev string
}

// listColumns leave out the stored upstream JSON, which a list never shows.
var listColumns = []string{"id", "provider", "reference", "external_id", "upstream_id", "customer_phone", "country", "requirements",
	"link", "state", "provider_status", "error", "expires_at", "document_type", "document_number", "given_names", "surname",
	"review_decision", "created_by_email", "created_at", "updated_at", "completed_at", "review_reason", "face_result", "compliance_reason"}

// List returns a page of verifications matching f, in f's order: the
// page after cursor next, or the page before cursor prev (both "" for the
// first page). A cursor that cannot be read is ErrBadCursor.
func (s *Service) List(ctx context.Context, f Filter, next, prev string, limit int) (Page, error) {
	p, err := f.parse()
	if err != nil {
		return Page{}, err
	}
	db := s.db.WithContext(ctx)
	rows, err := services.ReadList(p.apply(db.Model(&models.Verification{})), p.prefixKeys(models.DialectOf(db)), p.sortKey, p.sort, DefaultSort,
		next, prev, limit, func(r models.Verification) uint { return r.ID }, listColumns...)
	if errors.Is(err, services.ErrBadCursor) {
		return Page{}, ErrBadCursor
	} else if err != nil {
		return Page{}, fmt.Errorf("verifications: %w", err)
	}
	return Page{Verifications: rows.Rows, Following: rows.Following, Prev: rows.Prev}, nil
}

// listQuery is the page query of a list newest first without a search,
// shared with the test that checks its plan.
func listQuery(db *gorm.DB, p parsedFilter, before, after uint, limit int) *gorm.DB {
	return services.KeysetOrder(p.apply(db.Model(&models.Verification{}).Select(listColumns)), before, after, limit)
}

// sortedQueries are the page reads of a list in another order, shared with
// the test that checks their plans.
func sortedQueries(db *gorm.DB, p parsedFilter, next, prev services.Cursor, limit int) []func(tx *gorm.DB) *gorm.DB {
	reads := services.SortedQueries(models.DialectOf(db), p.sortKey, p.sort, next, prev, limit)
	for i, read := range reads {
		reads[i] = func(tx *gorm.DB) *gorm.DB { return read(p.apply(tx.Model(&models.Verification{}).Select(listColumns))) }
	}
	return reads
}

// ValidateFilter reports field errors in f without querying.
func ValidateFilter(f Filter) error {
	_, err := f.parse()
	return err
}

// ExportCSV streams every verification matching f, newest first whatever
// f.Sort says (its batches walk the ids), in batches so memory stays flat.
func (s *Service) ExportCSV(ctx context.Context, f Filter, w io.Writer) error {
	f.Sort = ""
	p, err := f.parse()
	if err != nil {
		return err
	}
	header := []string{"id", "created_at_utc", "provider", "state", "provider_status", "external_id", "upstream_id", "reference",
		"customer_phone", "country", "requirements", "document_type", "document_number", "given_names", "surname",
		"face_result", "review_reason", "review_decision", "compliance_reason", "completed_at_utc", "error", "created_by"}
	next := func(cursor uint, limit int) ([]models.Verification, error) {
		var rows []models.Verification
		q := p.apply(s.db.WithContext(ctx).Model(&models.Verification{}).Select(listColumns))
		if keys := p.prefixKeys(models.DialectOf(q)); keys != nil {
			q = services.PrefixMatch(q, keys) // a walk in id order, not a sort of every match per batch
		}
		if err := services.KeysetBatch(q, cursor, limit).Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("verifications: export: %w", err)
		}
		return rows, nil
	}
	return services.StreamCSV(w, header, next, func(v models.Verification) uint { return v.ID }, func(rows []models.Verification) ([][]string, error) {
		recs := make([][]string, 0, len(rows))
		for _, r := range rows {
			up, completed := "", ""
			if r.UpstreamID != nil {
				up = *r.UpstreamID
			}
			if r.CompletedAt != nil {
				completed = r.CompletedAt.UTC().Format(time.RFC3339)
			}
			recs = append(recs, []string{strconv.FormatUint(uint64(r.ID), 10), r.CreatedAt.UTC().Format(time.RFC3339), string(r.Provider),
				string(r.State), r.ProviderStatus, r.ExternalID, up, r.Reference, r.CustomerPhone, r.Country, r.Requirements,
				r.DocumentType, r.DocumentNumber, r.GivenNames, r.Surname, r.FaceResult, r.ReviewReason, string(r.ReviewDecision),
				r.ComplianceReason, completed, r.Error, r.CreatedByEmail})
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
		ids := make([]uint, len(page.Verifications))
		for i, v := range page.Verifications {
			ids[i] = v.ID
		}
		return ids, page.Following, err
	})
}
