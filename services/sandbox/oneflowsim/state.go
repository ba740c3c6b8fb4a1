package oneflowsim

import (
	"crypto/rand"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"portal/services/sandbox"
)

// A Customer is one seeded or added 1flow customer.
type Customer struct {
	Name string
	// PhoneNumber is E.164, e.g. +254712345678. Only Kenyan (+254) and
	// Ghanaian (+233) numbers are accepted: the country sets the currency
	// and the price per litre. [ours]
	PhoneNumber string
	Devices     []Device // at least one; devices and cards
}

// A Device is a water ATM device or a card of a customer.
type Device struct {
	// ID is the serialNumber: 14 digits for a device, 10 digits for a
	// card. [ours] Unique across devices and cards.
	ID      string
	Type    string          // DeviceTypeDevice or DeviceTypeCard
	Balance decimal.Decimal // litres; >= 0, at most 2 decimals [ours]
	// Suspended devices and cards accept recharges, which then always
	// FAIL when they settle by themselves. [ours]
	Suspended bool
}

// country holds what a customer's country decides. [ours]
type country struct {
	prefix        string
	phone         *regexp.Regexp // national mobile numbers, in E.164
	currency      string
	pricePerLitre decimal.Decimal
}

// countries: the portal serves Kenya and Ghana. The GHS price is the one in
// the document's verify example (amount 100.5, litres 20.1, pricePerLitre
// 5); the KES price is our guess at a water ATM's tariff. [ours]
var countries = []country{
	{"+254", regexp.MustCompile(`^\+254[17][0-9]{8}$`), "KES", decimal.RequireFromString("0.5")},
	{"+233", regexp.MustCompile(`^\+233[2-5][0-9]{8}$`), "GHS", decimal.RequireFromString("5")},
}

var (
	// e164 is the general E.164 syntax the lookup endpoint accepts:
	// "+", a non-zero digit, 7 to 14 more digits. [ours]
	e164       = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)
	serialRe   = regexp.MustCompile(`^[0-9]{14}$`) // [ours] like the document's 68753500140920
	cardIDRe   = regexp.MustCompile(`^[0-9]{10}$`) // [ours]
	balanceMax = decimal.NewFromInt(1_000_000_000)
)

func countryOf(phone string) (country, bool) {
	for _, c := range countries {
		if strings.HasPrefix(phone, c.prefix) {
			return c, true
		}
	}
	return country{}, false
}

type customer struct {
	name, phone string
	country     country
	devices     []*device // in the order given
}

type device struct {
	id, typ   string
	balance   decimal.Decimal
	suspended bool
	owner     *customer
}

type recharge struct {
	id        string
	dev       *device
	amount    decimal.Decimal
	status    string
	createdAt time.Time
	// Set when settled.
	settledAt time.Time
	// COMPLETED only.
	litres, balance decimal.Decimal
	// FAILED only.
	reason string
}

// Field names of the add_customer action, also used in the
// *sandbox.ValidationError that AddCustomer returns.
const (
	FieldName        = "name"
	FieldPhoneNumber = "phone_number"
	FieldDeviceID    = "device_id"
	FieldCardID      = "card_id"
	FieldBalance     = "balance"
	FieldRechargeID  = "recharge_id"
	FieldReason      = "reason"
)

// AddCustomer adds c to the simulator. It returns a *sandbox.ValidationError
// naming the add_customer form field at fault when c is invalid: a blank or
// overlong name, a phone number that is not a Kenyan or Ghanaian E.164 mobile
// number or is already taken, no devices, or a device or card id with the
// wrong format or already taken.
func (s *Sim) AddCustomer(c Customer) error {
	name := strings.TrimSpace(c.Name)
	switch {
	case name == "":
		return &sandbox.ValidationError{Field: FieldName, Message: "Enter the customer's name."}
	case utf8.RuneCountInString(name) > 100:
		return &sandbox.ValidationError{Field: FieldName, Message: "The name is too long (100 characters at most)."}
	case !utf8.ValidString(name) || strings.IndexFunc(name, unicode.IsControl) >= 0:
		return &sandbox.ValidationError{Field: FieldName, Message: "The name contains characters that are not allowed."}
	}
	if !e164.MatchString(c.PhoneNumber) {
		return &sandbox.ValidationError{Field: FieldPhoneNumber, Message: "Enter the phone number in E.164 format, like +254712345678."}
	}
	ctry, ok := countryOf(c.PhoneNumber)
	if !ok {
		return &sandbox.ValidationError{Field: FieldPhoneNumber, Message: "Only Kenyan (+254) and Ghanaian (+233) numbers are supported."}
	}
	if !ctry.phone.MatchString(c.PhoneNumber) {
		return &sandbox.ValidationError{Field: FieldPhoneNumber, Message: "That is not a valid mobile number for " + ctry.prefix + "."}
	}
	if len(c.Devices) == 0 {
		return &sandbox.ValidationError{Field: FieldDeviceID, Message: "A customer needs at least one device."}
	}
	seen := make(map[string]bool, len(c.Devices))
	for _, d := range c.Devices {
		field := FieldDeviceID
		switch d.Type {
		case DeviceTypeDevice:
			if !serialRe.MatchString(d.ID) {
				return &sandbox.ValidationError{Field: field, Message: "A device serial is 14 digits, like 68753500140920."}
			}
		case DeviceTypeCard:
			field = FieldCardID
			if !cardIDRe.MatchString(d.ID) {
				return &sandbox.ValidationError{Field: field, Message: "A card id is 10 digits, like 3081726354."}
			}
		default:
			return &sandbox.ValidationError{Field: field, Message: fmt.Sprintf("Unknown device type %q: use DEVICE or CARD.", clip(d.Type, 20))}
		}
		if seen[d.ID] {
			return &sandbox.ValidationError{Field: field, Message: d.ID + " is listed twice."}
		}
		seen[d.ID] = true
		if d.Balance.Sign() < 0 || d.Balance.GreaterThan(balanceMax) || !d.Balance.Equal(d.Balance.Round(2)) {
			return &sandbox.ValidationError{Field: FieldBalance, Message: "The balance must be between 0 and 1000000000 litres, with at most 2 decimals."}
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.customers[c.PhoneNumber]; dup {
		return &sandbox.ValidationError{Field: FieldPhoneNumber, Message: "A customer with phone number " + c.PhoneNumber + " already exists."}
	}
	for _, d := range c.Devices {
		if _, dup := s.devices[d.ID]; dup {
			field := FieldDeviceID
			if d.Type == DeviceTypeCard {
				field = FieldCardID
			}
			return &sandbox.ValidationError{Field: field, Message: d.ID + " already belongs to a customer."}
		}
	}
	cu := &customer{name: name, phone: c.PhoneNumber, country: ctry}
	for _, d := range c.Devices {
		dev := &device{id: d.ID, typ: d.Type, balance: d.Balance.Round(2), suspended: d.Suspended, owner: cu}
		cu.devices = append(cu.devices, dev)
		s.devices[d.ID] = dev
	}
	s.customers[c.PhoneNumber] = cu
	return nil
}

// newRechargeLocked records an accepted recharge of dev.
func (s *Sim) newRechargeLocked(dev *device, amount decimal.Decimal, now time.Time) *recharge {
	rc := &recharge{
		id:        newUUID(),
		dev:       dev,
		amount:    amount,
		status:    StatusPending,
		createdAt: now.UTC(),
	}
	s.recharges[rc.id] = rc
	s.pending = append(s.pending, rc)
	s.accepted++
	return rc
}

// settleDueLocked settles, oldest first, every PENDING recharge that is at
// least SettleAfter old: this is how recharges "move by themselves" without
// a goroutine. It runs before anything reads recharges or balances, so a
// lookup never shows a balance that a due recharge has not yet changed.
// [ours]
func (s *Sim) settleDueLocked(now time.Time) {
	if s.settleAfter < 0 {
		return
	}
	kept := s.pending[:0]
	for _, rc := range s.pending {
		if rc.status != StatusPending {
			continue // settled by an action
		}
		due := rc.createdAt.Add(s.settleAfter)
		if now.Before(due) {
			kept = append(kept, rc)
			continue
		}
		// Settled at the moment it became due, not when someone looked.
		if rc.dev.suspended {
			failLocked(rc, due, "the "+deviceNoun(rc.dev)+" is suspended") // [ours] the failure rule
		} else {
			completeLocked(rc, due)
		}
	}
	clear(s.pending[len(kept):])
	s.pending = kept
}

// completeLocked credits rc's device with amount / pricePerLitre litres,
// rounded half away from zero to 2 decimals. [ours]
func completeLocked(rc *recharge, at time.Time) {
	cu := rc.dev.owner
	rc.litres = rc.amount.DivRound(cu.country.pricePerLitre, 2)
	rc.dev.balance = rc.dev.balance.Add(rc.litres)
	rc.balance = rc.dev.balance
	rc.status = StatusCompleted
	rc.settledAt = at.UTC()
}

func failLocked(rc *recharge, at time.Time, reason string) {
	rc.status = StatusFailed
	rc.reason = reason
	rc.settledAt = at.UTC()
}

func deviceNoun(d *device) string {
	if d.typ == DeviceTypeCard {
		return "card"
	}
	return "device"
}

// newUUID returns a random (version 4) UUID, the form of the document's
// recharge ids.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// clip shortens s to at most n runes so hostile input cannot blow up a
// message.
func clip(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i] + "…"
		}
		n--
	}
	return s
}
