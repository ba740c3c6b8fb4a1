package recharges

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"gorm.io/gorm"

	"portal/models"
	"portal/services"
	"portal/services/phone"
)

// Filter narrows the recharge list. Dates are whole UTC days, inclusive.
type Filter struct {
	// IDs, when set, keeps only these records: a selection on the page.
	IDs   []uint
	State string
	From  string
	To    string
	Q     string // device id, card id, phone (any format) or 1flow id; a prefix is enough
	// Sort is "created" or "amount", "-" first for descending; empty is
	// newest first.
	Sort string
}

type parsedFilter struct {
	ids      []uint
	state    models.RechargeState
	from, to time.Time
	phone    string
	prefix   string
	phones   []string // E.164 beginnings of a partly typed phone number
	id       uint
	sort     services.Sort
	sortKey  services.SortKey[models.Recharge]
}

// DefaultSort is newest first.
var DefaultSort = services.Sort{Key: "created"}

// SortKeys are the orders the list offers, each read in the order of an
// index (recharges_amount, recharges_state_amount for amount; the primary
// key, or recharges_state, for created) and paged by keyset.
var SortKeys = []services.SortKey[models.Recharge]{
	{Name: "created"},
	{
		Name: "amount",
		// SQLite keeps the decimal as text, which does not sort as a
		// number: the index is on its REAL value, exact for amounts of
		// at most 2 decimals well below 2^53 cents.
		Expr: func(d models.Dialect) string {
			if d.Postgres() {
				return "amount"
			}
			return "CAST(amount AS REAL)"
		},
		Arg: func(d models.Dialect) string {
			if d.Postgres() {
				return "CAST(? AS NUMERIC)"
			}
			return "CAST(? AS REAL)"
		},
		Value: func(r models.Recharge) string { return r.Amount.String() },
		Valid: func(v string) bool { _, err := decimal.NewFromString(v); return err == nil && len(v) <= 24 },
	},
}

// ErrBadCursor is a page link whose cursor cannot be read: mangled, or
// from another sort.
var ErrBadCursor = errors.New("recharges: the page link is broken")

func (f Filter) parse() (parsedFilter, error) {
	p := parsedFilter{state: models.RechargeState(strings.TrimSpace(f.State))}
	errs := services.FieldErrors{}
	if p.state != "" && !p.state.Valid() {
		errs["state"] = "Choose a state from the list."
	}
	p.from, p.to = services.ParseDateRange(f.From, f.To, errs)
	q := strings.TrimSpace(f.Q)
	switch {
	case q == "":
	case len(q) > 64:
		errs["q"] = "Search for at most 64 characters."
	case strings.HasPrefix(q, "#"):
		n, err := strconv.ParseUint(q[1:], 10, 32)
		if err != nil || n == 0 {
			errs["q"] = "A recharge number looks like #123."
		}
		p.id = uint(n)
	default:
		n, err := phone.Normalize(q)
		if err == nil && phone.Written(q) {
			p.phone = n
			break
		}
		p.prefix, p.phones = q, phone.Prefixes(q)
		if err == nil && !slices.Contains(p.phones, n) {
			p.phones = append(p.phones, n)
		}
	}
	p.sort, p.sortKey = services.ParseSort(f.Sort, SortKeys, DefaultSort, errs)
	if p.prefix != "" && p.sort != DefaultSort {
		// A partial search reads each index it may match in id order
		// (services.PrefixIDs); another order would sort every match.
		errs["sort"] = "A search for part of an id lists the newest first: search the whole id or phone number to sort by " + p.sort.Key + "."
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
	if p.state != "" {
		q = q.Where("state = ?", p.state)
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
	case p.phone != "":
		q = q.Where("customer_phone = ?", p.phone)
	}
	return q
}

// prefixKeys are the indexes a prefix search reads: device, card and 1flow
// ids, and the phone when the text reads as the start of a phone number.
func (p parsedFilter) prefixKeys(d models.Dialect) []services.PrefixKey {
	if p.prefix == "" {
		return nil
	}
	keys := []services.PrefixKey{
		services.PrefixRange(d, "recharges", "device_id", p.prefix),
		services.PrefixRange(d, "recharges", "card_id", p.prefix),
		services.PrefixRange(d, "recharges", "upstream_id", p.prefix),
	}
	for _, ph := range p.phones {
		keys = append(keys, services.PrefixRange(d, "recharges", "customer_phone", ph))
	}
	return keys
}

// Page is one page of recharges in the filter's order, with the cursors
// of the following and preceding pages ("" for none).
type Page struct {
	Recharges       []models.Recharge
	Following, Prev string
}

// List returns a page of recharges matching f, in f's order: the page
// after cursor next, or the page before cursor prev (both "" for the
// first page). A cursor that cannot be read is ErrBadCursor.
func (s *Service) List(ctx context.Context, f Filter, next, prev string, limit int) (Page, error) {
	p, err := f.parse()
	if err != nil {
		return Page{}, err
	}
	db := s.db.WithContext(ctx)
	rows, err := services.ReadList(p.apply(db.Model(&models.Recharge{})), p.prefixKeys(models.DialectOf(db)), p.sortKey, p.sort, DefaultSort,
		next, prev, limit, func(r models.Recharge) uint { return r.ID })
	if errors.Is(err, services.ErrBadCursor) {
		return Page{}, ErrBadCursor
	} else if err != nil {
		return Page{}, fmt.Errorf("recharges: %w", err)
	}
	return Page{Recharges: rows.Rows, Following: rows.Following, Prev: rows.Prev}, nil
}

// listQuery is the page query of a list newest first without a prefix
// search, shared with the test that checks its plan.
func listQuery(db *gorm.DB, p parsedFilter, before, after uint, limit int) *gorm.DB {
	return services.KeysetOrder(p.apply(db.Model(&models.Recharge{})), before, after, limit)
}

// sortedQueries are the page reads of a list in another order, shared with
// the test that checks their plans.
func sortedQueries(db *gorm.DB, p parsedFilter, next, prev services.Cursor, limit int) []func(tx *gorm.DB) *gorm.DB {
	reads := services.SortedQueries(models.DialectOf(db), p.sortKey, p.sort, next, prev, limit)
	for i, read := range reads {
		reads[i] = func(tx *gorm.DB) *gorm.DB { return read(p.apply(tx.Model(&models.Recharge{}))) }
	}
	return reads
}

// ValidateFilter reports field errors in f without querying.
func ValidateFilter(f Filter) error {
	_, err := f.parse()
	return err
}

// ExportCSV streams every recharge matching f, newest first, in batches so
// memory stays flat.
func (s *Service) ExportCSV(ctx context.Context, f Filter, w io.Writer) error {
	p, err := f.parse()
	if err != nil {
		return err
	}
	header := []string{"id", "created_at_utc", "state", "upstream_status", "upstream_id", "device_id", "card_id", "customer_name", "customer_phone", "amount", "currency", "litres", "price_per_litre", "balance_after", "completed_at_utc", "error", "created_by"}
	next := func(cursor uint, limit int) ([]models.Recharge, error) {
		var rows []models.Recharge
		q := p.apply(s.db.WithContext(ctx).Model(&models.Recharge{}))
		if keys := p.prefixKeys(models.DialectOf(q)); keys != nil {
			// A walk in id order testing each row: reading every match
			// and sorting it for each batch would grow with the matches.
			q = services.PrefixMatch(q, keys)
		}
		if err := services.KeysetBatch(q, cursor, limit).Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("recharges: export: %w", err)
		}
		return rows, nil
	}
	return services.StreamCSV(w, header, next, func(r models.Recharge) uint { return r.ID }, func(rows []models.Recharge) ([][]string, error) {
		recs := make([][]string, 0, len(rows))
		for _, r := range rows {
			upstreamID, completed := "", ""
			if r.UpstreamID != nil {
				upstreamID = *r.UpstreamID
			}
			if r.CompletedAt != nil {
				completed = r.CompletedAt.UTC().Format(time.RFC3339)
			}
			recs = append(recs, []string{strconv.FormatUint(uint64(r.ID), 10), r.CreatedAt.UTC().Format(time.RFC3339), string(r.State), r.UpstreamStatus,
				upstreamID, r.DeviceID, r.CardID, r.CustomerName, r.CustomerPhone, r.Amount.StringFixed(2), r.Currency, r.Litres,
				r.PricePerLitre, r.BalanceAfter, completed, r.Error, r.CreatedByEmail})
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
		ids := make([]uint, len(page.Recharges))
		for i, r := range page.Recharges {
			ids[i] = r.ID
		}
		return ids, page.Following, err
	})
}
