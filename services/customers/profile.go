package customers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"gorm.io/gorm"

	"portal/models"
	"portal/services"
)

// New returns the service; upstream is 1flow, asked by the lookup and by a
// profile as it opens (nil asks nobody: profiles show our records only).
func New(db *gorm.DB, upstream Upstream, now services.Clock) *Service {
	return &Service{db: db, upstream: upstream, now: now}
}

// RecordLimit is how many records of each area a profile shows, newest
// first; the lists behind them show the rest.
const RecordLimit = 50

// maxDevicePhones is how many of a device's phones its profile follows to
// their verifications.
const maxDevicePhones = 5

// Records are a customer's documents, verifications and recharges, newest
// first. Signees are the customer's own signatures on the documents (a
// NIN profile).
type Records struct {
	Key           Key
	Phones        []string // phone numbers the records know for this customer
	Devices       []string // device and card ids
	Documents     []models.Document
	Verifications []models.Verification
	Recharges     []models.Recharge
}

// Open reports whether some record is not final yet, so the page keeps
// its live fragment polling.
func (r Records) Open() bool {
	for _, d := range r.Documents {
		if !d.State.Final() {
			return true
		}
	}
	for _, v := range r.Verifications {
		if !v.State.Final() {
			return true
		}
	}
	for _, x := range r.Recharges {
		if !x.State.Final() {
			return true
		}
	}
	return false
}

// Profile is a customer page: the records, and what 1flow says.
type Profile struct {
	Records
	OneFlow      *LookupResult // nil when not asked (NIN) or unavailable
	OneFlowError string        // why 1flow could not tell, in plain words
}

// Records reads everything we hold for key from our database only (the
// page's live fragment calls this every 2 s).
func (s *Service) Records(ctx context.Context, key Key) (Records, error) {
	db := s.db.WithContext(ctx)
	rec := Records{Key: key}
	switch key.Kind {
	case KeyPhone:
		rec.Phones = []string{key.Value}
	case KeyNIN:
		var ids []uint
		if err := db.Model(&models.DocumentSignee{}).Where("nin = ?", key.Value).Order("document_id DESC").Limit(RecordLimit).
			Pluck("document_id", &ids).Error; err != nil {
			return rec, fmt.Errorf("customers: documents of nin: %w", err)
		}
		if len(ids) > 0 {
			if err := db.Omit("last_upstream_json").Where("id IN ?", ids).Order("id DESC").Find(&rec.Documents).Error; err != nil {
				return rec, fmt.Errorf("customers: documents: %w", err)
			}
		}
		return rec, nil
	case KeyDevice, KeyCard:
		rec.Devices = []string{key.Value}
	default:
		return rec, ErrBadKey
	}
	// Recharges: by the device, or by every phone we know. A device's
	// phones are those of its newest recharges, read in index order, not
	// a DISTINCT over all its recharges, which sorts them.
	var err error
	if key.Kind == KeyDevice || key.Kind == KeyCard {
		err = db.Omit("last_upstream_json").Where(string(key.Kind)+"_id = ?", key.Value).Order("id DESC").Limit(RecordLimit).Find(&rec.Recharges).Error
		for _, r := range rec.Recharges {
			if r.CustomerPhone != "" && !slices.Contains(rec.Phones, r.CustomerPhone) && len(rec.Phones) < maxDevicePhones {
				rec.Phones = append(rec.Phones, r.CustomerPhone)
			}
		}
	} else {
		rec.Recharges, err = newestOfPhones(func() *gorm.DB { return db.Omit("last_upstream_json") }, rec.Phones,
			func(r models.Recharge) uint { return r.ID })
	}
	if err != nil {
		return rec, fmt.Errorf("customers: recharges: %w", err)
	}
	for _, r := range rec.Recharges {
		if t := r.Target(); !slices.Contains(rec.Devices, t) {
			rec.Devices = append(rec.Devices, t)
		}
	}
	rec.Verifications, err = newestOfPhones(func() *gorm.DB { return db.Omit("last_upstream_json", "identity_json") }, rec.Phones,
		func(v models.Verification) uint { return v.ID })
	if err != nil {
		return rec, fmt.Errorf("customers: verifications: %w", err)
	}
	return rec, nil
}

// newestOfPhones reads the newest RecordLimit records of each phone apart,
// each an index range of (customer_phone, id) read in order, and keeps the
// newest RecordLimit of them: "customer_phone IN (...)" would sort every
// record of every phone. A record has one phone, so none is read twice.
func newestOfPhones[T any](q func() *gorm.DB, phones []string, id func(T) uint) ([]T, error) {
	var all []T
	for _, ph := range phones {
		var got []T
		if err := q().Where("customer_phone = ?", ph).Order("id DESC").Limit(RecordLimit).Find(&got).Error; err != nil {
			return nil, err
		}
		all = append(all, got...)
	}
	slices.SortFunc(all, func(a, b T) int { return cmp.Compare(id(b), id(a)) })
	return all[:min(len(all), RecordLimit)], nil
}

// Profile reads the records and asks 1flow once for the customer's
// devices and balances (by phone or device; a NIN means nothing to 1flow).
func (s *Service) Profile(ctx context.Context, actor services.Actor, key Key) (Profile, error) {
	rec, err := s.Records(ctx, key)
	if err != nil {
		return Profile{}, err
	}
	p := Profile{Records: rec}
	if key.Kind == KeyNIN || s.upstream == nil {
		return p, nil
	}
	res, err := s.LookupCustomer(ctx, actor, key.Value)
	var upstream *UpstreamError
	switch {
	case err == nil:
		p.OneFlow = &res
	case errors.As(err, &upstream) && upstream.NotFound():
		p.OneFlowError = "1flow has no customer with this " + map[bool]string{true: "phone number", false: "device or card"}[key.Kind == KeyPhone] + "."
	case errors.As(err, &upstream):
		p.OneFlowError = "1flow could not be asked right now: " + upstream.Message + " The records below are the portal's own."
	default:
		if _, ok := services.AsFieldErrors(err); ok {
			p.OneFlowError = "1flow cannot look this key up."
			return p, nil
		}
		return Profile{}, err
	}
	return p, nil
}
