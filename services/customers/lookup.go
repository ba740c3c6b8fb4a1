package customers

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"gorm.io/gorm"

	"portal/models"
	"portal/services"
	"portal/services/oneflow"
	"portal/services/phone"
	"portal/services/upstream"
)

// The 1flow customer lookup: support types a phone number or a device id
// and sees the customer's devices, balances and recent recharges. It is
// the only place this package calls an upstream.

// Upstream is the part of the 1flow client the lookup uses.
type Upstream interface {
	Lookup(ctx context.Context, q oneflow.LookupQuery) (oneflow.Customer, error)
}

// UpstreamError is a 1flow lookup failure in words for staff.
type UpstreamError struct {
	Message string
	Err     error
}

func (e *UpstreamError) Error() string { return e.Message }
func (e *UpstreamError) Unwrap() error { return e.Err }

// NotFound reports whether 1flow said the customer, device or card does not
// exist.
func (e *UpstreamError) NotFound() bool { return errors.Is(e.Err, upstream.ErrNotFound) }

// plain turns the error of a 1flow lookup into a sentence for staff. A
// lookup is a read: it never has an unknown outcome, so only what a read
// can fail with is here (the recharges package words its own calls).
func plain(err error) *UpstreamError {
	var rejected *upstream.RejectedError
	switch {
	case errors.As(err, &rejected):
		return &UpstreamError{"1flow refused the lookup: " + rejected.Reason(), err}
	case errors.Is(err, upstream.ErrNotFound):
		return &UpstreamError{"1flow does not know this device, card or customer.", err}
	case errors.Is(err, upstream.ErrBadCredentials):
		return &UpstreamError{"1flow refused the portal's credentials, so nothing was sent. Tell an admin.", err}
	case errors.Is(err, upstream.ErrForbidden):
		return &UpstreamError{"1flow does not let the portal's account do this, so nothing was sent. Tell an admin.", err}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, upstream.ErrUnavailable):
		return &UpstreamError{"1flow is not answering properly right now. Nothing was charged; try again in a few minutes.", err}
	}
	return &UpstreamError{"1flow could not be reached. Try again in a few minutes.", err}
}

// lookupTargetPattern is a device or card id as the recharge form accepts
// it (recharges.Input), so every device the lookup finds opens in the form.
var lookupTargetPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{2,39}$`)

// LookupResult is what the customer lookup page shows.
type LookupResult struct {
	Query    string // normalized: E.164 phone or the device id
	ByPhone  bool
	Customer oneflow.Customer
	Recent   []models.Recharge
}

// Lookup finds a customer by phone (any common format) or device id, with
// the recent recharges of their phone and devices.
func (s *Service) Lookup(ctx context.Context, actor services.Actor, q string) (LookupResult, error) {
	res, err := s.LookupCustomer(ctx, actor, q)
	if err != nil {
		return res, err
	}
	ids := []string{}
	for _, d := range res.Customer.Devices {
		ids = append(ids, d.SerialNumber)
	}
	if err := s.db.WithContext(ctx).
		Where("customer_phone = ? OR device_id IN ? OR card_id IN ?", res.Customer.PhoneNumber, ids, ids).
		Order("id DESC").Limit(20).Find(&res.Recent).Error; err != nil {
		return LookupResult{}, fmt.Errorf("customers: recent recharges: %w", err)
	}
	return res, nil
}

// LookupCustomer asks 1flow for a customer by phone or device id (and
// audits it), without reading our recharges: the customer page reads those
// itself.
func (s *Service) LookupCustomer(ctx context.Context, actor services.Actor, q string) (LookupResult, error) {
	q = strings.TrimSpace(q)
	var query oneflow.LookupQuery
	res := LookupResult{}
	if p, err := phone.Normalize(q); err == nil {
		query.PhoneNumber, res.Query, res.ByPhone = p, p, true
	} else if lookupTargetPattern.MatchString(q) {
		query.DeviceID, res.Query = q, q
	} else {
		return LookupResult{}, services.FieldErrors{"q": "Enter a phone number (like 0712 345 678 or +233 24 412 3456) or a device id."}
	}
	customer, err := s.upstream.Lookup(ctx, query)
	if err != nil {
		return LookupResult{}, plain(err)
	}
	res.Customer = customer
	err = services.WithTx(ctx, s.db, func(tx *gorm.DB) error {
		return services.Audit(tx, s.now(), actor, "customer.lookup", res.Query, "found="+customer.PhoneNumber)
	})
	return res, err
}
