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
	"portal/services/casework"
	"portal/services/phone"
)

// Filter is the list's filter form.
type Filter struct {
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
}

// MinSearch is the shortest prefix Q searches with.
const MinSearch = 3

type parsedFilter struct {
	provider models.VerificationProvider
	state    models.VerificationState
	status   string
	decision string
	reason   string
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
	if len(errs) > 0 {
		return parsedFilter{}, errs
	}
	return p, nil
}

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
	if p.reason != "" {
		q = q.Where("compliance_reason = ?", p.reason)
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

// Page is one page of verifications, newest first.
type Page struct {
	Verifications []models.Verification
	Older, Newer  uint
}

// listColumns leave out the stored upstream JSON, which a list never shows.
var listColumns = []string{"id", "provider", "reference", "external_id", "upstream_id", "customer_phone", "country", "requirements",
	"link", "state", "provider_status", "error", "expires_at", "document_type", "document_number", "given_names", "surname",
	"review_decision", "created_by_email", "created_at", "updated_at", "completed_at", "review_reason", "face_result", "compliance_reason"}

// List returns a page of verifications matching f.
func (s *Service) List(ctx context.Context, f Filter, before, after uint, limit int) (Page, error) {
	p, err := f.parse()
	if err != nil {
		return Page{}, err
	}
	db := s.db.WithContext(ctx)
	rows, err := services.PageRows(p.apply(db.Model(&models.Verification{})), p.prefixKeys(models.DialectOf(db)), before, after, limit,
		func(v models.Verification) uint { return v.ID }, listColumns...)
	if err != nil {
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
