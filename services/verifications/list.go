package verifications

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
	"portal/services/phone"
)

// Filter is the list's filter form.
type Filter struct {
	Provider string
	State    string
	Status   string // the provider's own status, e.g. REVIEW
	Decision string // "approved", "flagged" or "none"
	From, To string
	// Q is a phone number (any common format), an external id, a document
	// number, the provider's id or our reference; a prefix of at least 3
	// characters is enough. "#123" is verification 123.
	Q string
}

// MinSearch is the shortest prefix Q searches with.
const MinSearch = 3

type parsedFilter struct {
	provider models.VerificationProvider
	state    models.VerificationState
	status   string
	decision string
	from, to time.Time
	prefix   string
	phone    string // Q read as a phone number, E.164
	id       uint
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
	p.from, p.to = services.ParseDateRange(f.From, f.To, errs)
	search := services.ParseSearch(f.Q, "verification", MinSearch, 100, errs)
	p.id, p.prefix = search.ID, search.Prefix
	if e164, err := phone.Normalize(p.prefix); p.prefix != "" && err == nil {
		p.phone = e164
	}
	if len(errs) > 0 {
		return parsedFilter{}, errs
	}
	return p, nil
}

func prefixEnd(prefix string) string { return prefix + "\uffff" }

func (p parsedFilter) apply(q *gorm.DB) *gorm.DB {
	if p.provider != "" {
		q = q.Where("provider = ?", p.provider)
	}
	if p.state != "" {
		q = q.Where("state = ?", p.state)
	}
	if p.status != "" {
		q = q.Where("provider_status = ?", p.status)
	}
	switch p.decision {
	case "none":
		q = q.Where("review_decision = ''")
	case "approved", "flagged":
		q = q.Where("review_decision = ?", p.decision)
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
		// document_number is searched without regard to ASCII case.
		d := models.DialectOf(q)
		docNo := d.Folded("document_number")
		cond := "(customer_phone >= ? AND customer_phone < ?) OR (external_id >= ? AND external_id < ?) OR " +
			"(" + docNo + " >= ? AND " + docNo + " < ?) OR (upstream_id >= ? AND upstream_id < ?) OR (reference >= ? AND reference < ?)"
		args := []any{p.prefix, end, p.prefix, end, d.FoldArg(p.prefix), d.FoldArg(end), p.prefix, end, p.prefix, end}
		if p.phone != "" {
			cond += " OR customer_phone = ?"
			args = append(args, p.phone)
		}
		q = q.Where("("+cond+")", args...)
	}
	return q
}

// Page is one page of verifications, newest first.
type Page struct {
	Verifications []models.Verification
	Older, Newer  uint
}

// listColumns leave out the stored upstream JSON, which a list never shows.
var listColumns = []string{"id", "provider", "reference", "external_id", "upstream_id", "customer_phone", "country", "requirements",
	"link", "state", "provider_status", "error", "expires_at", "document_type", "document_number", "given_names", "surname",
	"review_decision", "created_by_email", "created_at", "updated_at", "completed_at", "review_reason", "face_result"}

// List returns a page of verifications matching f.
func (s *Service) List(ctx context.Context, f Filter, before, after uint, limit int) (Page, error) {
	p, err := f.parse()
	if err != nil {
		return Page{}, err
	}
	var rows []models.Verification
	if err := listQuery(s.db.WithContext(ctx), p, before, after, limit).Find(&rows).Error; err != nil {
		return Page{}, fmt.Errorf("verifications: list: %w", err)
	}
	var page Page
	page.Verifications, page.Older, page.Newer = services.KeysetPage(rows, func(v models.Verification) uint { return v.ID }, before, after, limit)
	return page, nil
}

func listQuery(db *gorm.DB, p parsedFilter, before, after uint, limit int) *gorm.DB {
	return services.KeysetOrder(p.apply(db.Model(&models.Verification{}).Select(listColumns)), before, after, limit)
}

// ValidateFilter reports field errors in f without querying.
func ValidateFilter(f Filter) error {
	_, err := f.parse()
	return err
}

// ExportCSV streams every verification matching f, newest first, in
// batches so memory stays flat.
func (s *Service) ExportCSV(ctx context.Context, f Filter, w io.Writer) error {
	p, err := f.parse()
	if err != nil {
		return err
	}
	header := []string{"id", "created_at_utc", "provider", "state", "provider_status", "external_id", "upstream_id", "reference",
		"customer_phone", "country", "requirements", "document_type", "document_number", "given_names", "surname",
		"face_result", "review_reason", "review_decision", "completed_at_utc", "error", "created_by"}
	next := func(cursor uint, limit int) ([]models.Verification, error) {
		var rows []models.Verification
		q := p.apply(s.db.WithContext(ctx).Model(&models.Verification{}).Select(listColumns))
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
				completed, r.Error, r.CreatedByEmail})
		}
		return recs, nil
	})
}
