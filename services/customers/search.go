package customers

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"gorm.io/gorm"

	"portal/models"
	"portal/services"
	"portal/services/phone"
)

// HitKind groups search results.
type HitKind string

const (
	HitCustomer     HitKind = "customer"
	HitDocument     HitKind = "document"
	HitVerification HitKind = "verification"
	HitRecharge     HitKind = "recharge"
)

// Hit is one thing a search found.
type Hit struct {
	Kind     HitKind
	ID       uint // the record's id; 0 for customers
	Customer Key  // for customers
	Title    string
	Matched  string // what matched, in words: "pasby id doc_…"
	State    string
	Href     string
}

// Result is what a search found, grouped, with how the query was read.
type Result struct {
	Query     string
	ReadAs    []string // "a phone number: +254712345678", …
	Customers []Hit
	Documents []Hit
	Verifs    []Hit
	Recharges []Hit
	Hint      string // when nothing was found: what to try
}

// Total is how many hits there are.
func (r Result) Total() int {
	return len(r.Customers) + len(r.Documents) + len(r.Verifs) + len(r.Recharges)
}

// Single is the one hit when there is exactly one: the page opens it.
func (r Result) Single() (Hit, bool) {
	if r.Total() != 1 {
		return Hit{}, false
	}
	for _, g := range [][]Hit{r.Customers, r.Documents, r.Verifs, r.Recharges} {
		if len(g) == 1 {
			return g[0], true
		}
	}
	return Hit{}, false
}

// Search limits.
const (
	MinQuery  = 3
	MaxQuery  = 100
	perGroup  = 20
	minPrefix = 4
)

var (
	uuidPattern    = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	sessionPattern = regexp.MustCompile(`^[1-9][0-9]{0,18}$`)
)

// Service answers searches and builds customer profiles.
type Service struct {
	db       *gorm.DB
	upstream Upstream // nil: no 1flow to ask
	now      services.Clock
}

// Search resolves q. Exact matches of every kind of key are looked up
// (each an index search); only when there are none, prefixes of ids and
// references are tried.
func (s *Service) Search(ctx context.Context, q string) (Result, error) {
	q = strings.TrimSpace(q)
	res := Result{Query: q}
	switch n := utf8.RuneCountInString(q); {
	case n == 0:
		return res, services.FieldErrors{"q": "Type a phone number, NIN, device or card id, or a reference."}
	case n < MinQuery:
		return res, services.FieldErrors{"q": fmt.Sprintf("Type at least %d characters.", MinQuery)}
	case n > MaxQuery:
		return res, services.FieldErrors{"q": fmt.Sprintf("Search for at most %d characters.", MaxQuery)}
	case !utf8.ValidString(q) || strings.ContainsFunc(q, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return res, services.FieldErrors{"q": "The search contains characters that are not text."}
	}
	db := s.db.WithContext(ctx)
	isNIN := ninPattern.MatchString(q)
	// An 11-digit number is a NIN; anything else that reads as a phone
	// number is one (an 11-digit "+1…" would otherwise shadow NINs).
	if isNIN {
		res.ReadAs = append(res.ReadAs, "a NIN")
		var n int64
		if err := db.Model(&models.DocumentSignee{}).Where("nin = ?", q).Limit(1).Count(&n).Error; err != nil {
			return res, fmt.Errorf("customers: search nin: %w", err)
		}
		if n > 0 {
			k := Key{KeyNIN, q}
			res.Customers = append(res.Customers, Hit{Kind: HitCustomer, Customer: k, Title: "Signer with NIN " + q, Matched: "signs documents", Href: "/customers/" + k.String()})
		}
	}
	var phoneHit *Hit
	if p, err := phone.Normalize(q); err == nil && !isNIN && !strings.ContainsAny(q, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_") {
		k := Key{KeyPhone, p}
		phoneHit = &Hit{Kind: HitCustomer, Customer: k, Title: "Customer " + p, Matched: "phone number", Href: "/customers/" + k.String()}
	}
	if targetPattern.MatchString(q) && !isNIN {
		for _, kind := range []KeyKind{KeyDevice, KeyCard} {
			var n int64
			if err := db.Model(&models.Recharge{}).Where(string(kind)+"_id = ?", q).Limit(1).Count(&n).Error; err != nil {
				return res, fmt.Errorf("customers: search %s: %w", kind, err)
			}
			if n > 0 {
				k := Key{kind, q}
				res.Customers = append(res.Customers, Hit{Kind: HitCustomer, Customer: k, Title: "Customer with " + k.Label(), Matched: string(kind) + " id", Href: "/customers/" + k.String()})
			}
		}
	}
	if err := s.exactRecords(db, q, &res); err != nil {
		return res, err
	}
	// A valid phone number opens the customer page even with no record
	// yet: 1flow may know the customer. But bare digits are only guessed
	// to be a phone ("4956…" reads as a German number), and a record whose
	// id is exactly those digits (PassportReader session ids are numeric)
	// is what was meant; a "+" or a local "0…" says phone for certain.
	if phoneHit != nil && (res.Total() == 0 || phone.Written(q)) {
		res.ReadAs = append(res.ReadAs, "a phone number: "+phoneHit.Customer.Value)
		res.Customers = append([]Hit{*phoneHit}, res.Customers...)
	}
	if res.Total() == 0 && utf8.RuneCountInString(q) >= minPrefix {
		if err := s.prefixRecords(db, q, &res); err != nil {
			return res, err
		}
	}
	if res.Total() == 0 {
		res.Hint = hintFor(q, isNIN)
	}
	return res, nil
}

// exactRecords adds documents, verifications and recharges whose ids,
// references or external ids equal q.
func (s *Service) exactRecords(db *gorm.DB, q string, res *Result) error {
	var docs []models.Document
	if err := db.Select("id", "title", "state", "upstream_id", "reference").
		Where("upstream_id = ? OR reference = ?", q, q).Limit(perGroup).Find(&docs).Error; err != nil {
		return fmt.Errorf("customers: search documents: %w", err)
	}
	for _, d := range docs {
		res.Documents = append(res.Documents, documentHit(d, q))
	}
	// document_number's index is case-folded (see models.Dialect.Folded):
	// compared as written, PostgreSQL could not use it, and so none of
	// the OR's indexes, and would read the whole table.
	// Each index is read apart, newest first in its own order, the reads
	// joined by UNION ALL into one round trip: OR-ed, the database would
	// sort every match, and an external id or a document number can be on
	// thousands (their indexes are on (column, id)). Our reference is
	// unique, so it has no order to keep.
	d := models.DialectOf(db)
	var parts []string
	var reads []any
	for _, c := range []struct {
		cond    string
		arg     any
		ordered bool
	}{{"upstream_id = ?", q, true}, {"reference = ?", q, false}, {"external_id = ?", q, true}, {d.Folded("document_number") + " = ?", d.FoldArg(q), true}} {
		read := db.Session(&gorm.Session{NewDB: true}).Model(&models.Verification{}).Select(verificationColumns).Where(c.cond, c.arg)
		if c.ordered {
			read = read.Order("id DESC")
		}
		parts = append(parts, fmt.Sprintf("SELECT * FROM (?) AS by%d", len(parts)))
		reads = append(reads, read.Limit(perGroup))
	}
	var vs []models.Verification
	if err := db.Raw(strings.Join(parts, " UNION ALL "), reads...).Scan(&vs).Error; err != nil {
		return fmt.Errorf("customers: search verifications: %w", err)
	}
	slices.SortFunc(vs, func(a, b models.Verification) int { return cmp.Compare(b.ID, a.ID) })
	vs = slices.CompactFunc(vs, func(a, b models.Verification) bool { return a.ID == b.ID })
	for _, v := range vs[:min(len(vs), perGroup)] {
		res.Verifs = append(res.Verifs, verificationHit(v, q))
	}
	if uuidPattern.MatchString(q) || !strings.ContainsAny(q, " ") {
		var rs []models.Recharge
		if err := db.Select(rechargeColumns).Where("upstream_id = ? OR idempotency_key = ?", q, q).Limit(perGroup).Find(&rs).Error; err != nil {
			return fmt.Errorf("customers: search recharges: %w", err)
		}
		for _, r := range rs {
			res.Recharges = append(res.Recharges, rechargeHit(r, q))
		}
	}
	return nil
}

// prefixRecords adds records whose ids or references start with q: a
// partly copied id still finds its record.
func (s *Service) prefixRecords(db *gorm.DB, q string, res *Result) error {
	// Titles and document numbers are searched case-folded, as their
	// indexes are (see exactRecords). Each group is read newest first
	// without sorting its matches, however many there are.
	d := models.DialectOf(db)
	docs, err := services.PageRows(db.Model(&models.Document{}), []services.PrefixKey{
		services.PrefixRange(d, "documents", "upstream_id", q),
		services.PrefixRange(d, "documents", "reference", q),
		services.FoldedPrefixRange(d, "documents", "title", q),
	}, 0, 0, perGroup-1, func(d models.Document) uint { return d.ID }, "id", "title", "state", "upstream_id", "reference")
	if err != nil {
		return fmt.Errorf("customers: prefix documents: %w", err)
	}
	for _, d := range docs {
		res.Documents = append(res.Documents, documentHit(d, q))
	}
	verKeys := []services.PrefixKey{
		services.PrefixRange(d, "verifications", "upstream_id", q),
		services.PrefixRange(d, "verifications", "external_id", q),
		services.FoldedPrefixRange(d, "verifications", "document_number", q),
		services.PrefixRange(d, "verifications", "reference", q),
	}
	rechargeKeys := []services.PrefixKey{
		services.PrefixRange(d, "recharges", "upstream_id", q),
		services.PrefixRange(d, "recharges", "device_id", q),
		services.PrefixRange(d, "recharges", "card_id", q),
	}
	// The start of a phone number finds the records of every number it
	// could begin.
	for _, ph := range phone.Prefixes(q) {
		verKeys = append(verKeys, services.PrefixRange(d, "verifications", "customer_phone", ph))
		rechargeKeys = append(rechargeKeys, services.PrefixRange(d, "recharges", "customer_phone", ph))
	}
	vs, err := services.PageRows(db.Model(&models.Verification{}), verKeys, 0, 0, perGroup-1, func(v models.Verification) uint { return v.ID }, verificationColumns...)
	if err != nil {
		return fmt.Errorf("customers: prefix verifications: %w", err)
	}
	for _, v := range vs {
		res.Verifs = append(res.Verifs, verificationHit(v, q))
	}
	rs, err := services.PageRows(db.Model(&models.Recharge{}), rechargeKeys, 0, 0, perGroup-1, func(r models.Recharge) uint { return r.ID }, rechargeColumns...)
	if err != nil {
		return fmt.Errorf("customers: prefix recharges: %w", err)
	}
	for _, r := range rs {
		res.Recharges = append(res.Recharges, rechargeHit(r, q))
	}
	return nil
}

// phoneStarts reports whether the E.164 number e164 begins with the partly
// typed phone number q.
func phoneStarts(e164, q string) bool {
	for _, p := range phone.Prefixes(q) {
		if e164 != "" && strings.HasPrefix(e164, p) {
			return true
		}
	}
	return false
}

var (
	verificationColumns = []string{"id", "provider", "state", "provider_status", "upstream_id", "reference", "external_id",
		"document_number", "customer_phone", "given_names", "surname", "created_at"}
	rechargeColumns = []string{"id", "state", "upstream_id", "idempotency_key", "device_id", "card_id", "customer_phone",
		"customer_name", "amount", "currency", "created_at"}
)

func id(n uint) string { return strconv.FormatUint(uint64(n), 10) }

func documentHit(d models.Document, q string) Hit {
	matched := "title"
	switch {
	case d.UpstreamID != nil && strings.HasPrefix(*d.UpstreamID, q):
		matched = "pasby id " + *d.UpstreamID
	case strings.HasPrefix(d.Reference, q):
		matched = "our reference"
	}
	return Hit{Kind: HitDocument, ID: d.ID, Title: "Document #" + id(d.ID) + " · " + d.Title, Matched: matched, State: string(d.State), Href: "/documents/" + id(d.ID)}
}

func verificationHit(v models.Verification, q string) Hit {
	matched := "our reference"
	switch {
	case v.UpstreamID != nil && strings.HasPrefix(*v.UpstreamID, q):
		matched = v.Provider.Label() + " id " + *v.UpstreamID
	case v.ExternalID != "" && strings.HasPrefix(v.ExternalID, q):
		matched = "external id " + v.ExternalID
	case v.DocumentNumber != "" && strings.HasPrefix(strings.ToUpper(v.DocumentNumber), strings.ToUpper(q)):
		matched = "document number " + v.DocumentNumber
	case phoneStarts(v.CustomerPhone, q):
		matched = "phone number " + v.CustomerPhone
	}
	title := "Verification #" + id(v.ID) + " · " + v.Provider.Label()
	if name := strings.TrimSpace(v.GivenNames + " " + v.Surname); name != "" {
		title += " · " + name
	}
	if v.CustomerPhone != "" {
		title += " · " + v.CustomerPhone
	}
	title += " · " + v.CreatedAt.UTC().Format("2006-01-02")
	return Hit{Kind: HitVerification, ID: v.ID, Title: title, Matched: matched, State: string(v.State), Href: "/verifications/" + id(v.ID)}
}

func rechargeHit(r models.Recharge, q string) Hit {
	matched := "our reference"
	switch {
	case r.UpstreamID != nil && strings.HasPrefix(*r.UpstreamID, q):
		matched = "1flow id " + *r.UpstreamID
	case r.DeviceID != "" && strings.HasPrefix(r.DeviceID, q):
		matched = "device " + r.DeviceID
	case r.CardID != "" && strings.HasPrefix(r.CardID, q):
		matched = "card " + r.CardID
	case phoneStarts(r.CustomerPhone, q):
		matched = "phone number " + r.CustomerPhone
	}
	return Hit{Kind: HitRecharge, ID: r.ID, Title: "Recharge #" + id(r.ID) + " · " + r.Currency + " " + r.Amount.StringFixed(2) + " · " + r.Target() +
		" · " + r.CreatedAt.UTC().Format("2006-01-02"),
		Matched: matched, State: string(r.State), Href: "/recharges/" + id(r.ID)}
}

// hintFor says what to try when nothing matched.
func hintFor(q string, isNIN bool) string {
	switch {
	case strings.HasPrefix(q, "req_"):
		return "req_… is a pasby flow id for one signature; the portal tracks documents by their doc_… id. Search the document's pasby id, its title, or the signer's NIN."
	case isNIN:
		return "No document has a signer with this NIN. Check the 11 digits with the customer, or search their phone number."
	case strings.Trim(q, "0123456789 +-()") == "":
		return "This is not a phone number we can read. Type it with its country code, like +254 712 345 678, or as the customer dials it, like 0712 345 678."
	}
	return "Nothing has this id or reference. Try the customer's phone number, an 11-digit NIN, a device or card id, or an id as the provider gave it (doc_…, a 1flow recharge id, a pawaPass or PassportReader id)."
}
