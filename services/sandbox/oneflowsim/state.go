package oneflowsim

import (
	"crypto/rand"
	"errors"
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

// The records the simulator keeps in its store, one kind each. Records
// refer to each other by id: a device names its owner's phone, a recharge
// its device.
const (
	kindCustomer = "customer" // by E.164 phone number
	kindDevice   = "device"   // by serial number or card id
	kindRecharge = "recharge" // by id; due when a PENDING one settles by itself
	kindToken    = "token"    // by access token; due when it expires

	counterAccepted = "accepted" // recharge POSTs answered 202
)

type customer struct {
	Name    string   `json:"name"`
	Phone   string   `json:"phone"`
	Devices []string `json:"devices"` // ids, in the order given
}

func (cu *customer) country() country {
	c, _ := countryOf(cu.Phone) // AddCustomer admits only known countries
	return c
}

type device struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Balance   decimal.Decimal `json:"balance"`
	Suspended bool            `json:"suspended"`
	Owner     string          `json:"owner"` // the customer's phone
}

type recharge struct {
	ID        string          `json:"id"`
	Device    string          `json:"device"`
	Amount    decimal.Decimal `json:"amount"`
	Status    string          `json:"status"`
	CreatedAt time.Time       `json:"createdAt"`
	// DueAt is when a PENDING recharge settles by itself; zero when
	// automatic settling is off.
	DueAt time.Time `json:"dueAt,omitzero"`
	// Set when settled.
	SettledAt time.Time `json:"settledAt,omitzero"`
	// COMPLETED only.
	Litres  decimal.Decimal `json:"litres"`
	Balance decimal.Decimal `json:"balance"`
	// FAILED only.
	Reason string `json:"reason,omitempty"`
}

func (rc *recharge) due() time.Time {
	if rc.Status != StatusPending {
		return time.Time{}
	}
	return rc.DueAt
}

// A rechargeView is a recharge with the device and customer its answer
// names.
type rechargeView struct {
	rc  recharge
	dev device
	cu  customer
}

type token struct {
	Expires time.Time `json:"expires"`
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

	cu := customer{Name: name, Phone: c.PhoneNumber}
	for _, d := range c.Devices {
		cu.Devices = append(cu.Devices, d.ID)
	}
	return s.bucket.Update(bg, func(tx *sandbox.Tx) error {
		if err := tx.Insert(kindCustomer, cu.Phone, cu, time.Time{}); errors.Is(err, sandbox.ErrExists) {
			return &sandbox.ValidationError{Field: FieldPhoneNumber, Message: "A customer with phone number " + c.PhoneNumber + " already exists."}
		} else if err != nil {
			return err
		}
		for _, d := range c.Devices {
			dev := device{ID: d.ID, Type: d.Type, Balance: d.Balance.Round(2), Suspended: d.Suspended, Owner: cu.Phone}
			if err := tx.Insert(kindDevice, d.ID, dev, time.Time{}); errors.Is(err, sandbox.ErrExists) {
				field := FieldDeviceID
				if d.Type == DeviceTypeCard {
					field = FieldCardID
				}
				return &sandbox.ValidationError{Field: field, Message: d.ID + " already belongs to a customer."}
			} else if err != nil {
				return err
			}
		}
		return nil
	})
}

// newRecharge records an accepted recharge of dev.
func (s *Sim) newRecharge(tx *sandbox.Tx, dev device, amount decimal.Decimal, now time.Time) (recharge, error) {
	rc := recharge{
		ID:        newUUID(),
		Device:    dev.ID,
		Amount:    amount,
		Status:    StatusPending,
		CreatedAt: now.UTC(),
	}
	if s.settleAfter >= 0 {
		rc.DueAt = rc.CreatedAt.Add(s.settleAfter)
	}
	if err := tx.Put(kindRecharge, rc.ID, rc, rc.due()); err != nil {
		return recharge{}, err
	}
	if _, err := tx.Add(counterAccepted, 1); err != nil {
		return recharge{}, err
	}
	return rc, nil
}

// settleDue settles, oldest first, every PENDING recharge that is due:
// this is how recharges "move by themselves" without a goroutine. It runs
// in the same transaction as anything that reads recharges or balances, so
// a lookup never shows a balance that a due recharge has not yet changed.
// [ours]
func settleDue(tx *sandbox.Tx, now time.Time) error {
	for {
		ids, err := tx.Due(kindRecharge, now, 100)
		if err != nil {
			return err
		}
		for _, id := range ids {
			v, err := loadRecharge(tx, id)
			if err != nil {
				return err
			}
			// Settled at the moment it became due, not when someone looked.
			if v.dev.Suspended {
				err = settle(tx, &v, StatusFailed, v.rc.DueAt, "the "+deviceNoun(v.dev)+" is suspended") // [ours] the failure rule
			} else {
				err = settle(tx, &v, StatusCompleted, v.rc.DueAt, "")
			}
			if err != nil {
				return err
			}
		}
		if len(ids) < 100 {
			return nil
		}
	}
}

// errMissing is a record that names another the store does not hold:
// a store written by hand, never by this package.
var errMissing = errors.New("oneflowsim: the store is missing a record")

func loadRecharge(tx *sandbox.Tx, id string) (rechargeView, error) {
	var v rechargeView
	if found, err := tx.Get(kindRecharge, id, &v.rc); err != nil || !found {
		return v, errors.Join(err, fmt.Errorf("%w: recharge %s", errMissing, id))
	}
	if err := loadDevice(tx, v.rc.Device, &v.dev, &v.cu); err != nil {
		return v, err
	}
	return v, nil
}

func loadDevice(tx *sandbox.Tx, id string, dev *device, cu *customer) error {
	if found, err := tx.Get(kindDevice, id, dev); err != nil || !found {
		return errors.Join(err, fmt.Errorf("%w: device %s", errMissing, id))
	}
	if found, err := tx.Get(kindCustomer, dev.Owner, cu); err != nil || !found {
		return errors.Join(err, fmt.Errorf("%w: customer of %s", errMissing, id))
	}
	return nil
}

// settle moves v's recharge to status at the given time. COMPLETED credits
// the device with amount / pricePerLitre litres, rounded half away from
// zero to 2 decimals. [ours]
func settle(tx *sandbox.Tx, v *rechargeView, status string, at time.Time, reason string) error {
	v.rc.Status = status
	v.rc.SettledAt = at.UTC()
	if status == StatusCompleted {
		v.rc.Litres = v.rc.Amount.DivRound(v.cu.country().pricePerLitre, 2)
		v.dev.Balance = v.dev.Balance.Add(v.rc.Litres)
		v.rc.Balance = v.dev.Balance
		if err := tx.Put(kindDevice, v.dev.ID, v.dev, time.Time{}); err != nil {
			return err
		}
	} else {
		v.rc.Reason = reason
	}
	return tx.Put(kindRecharge, v.rc.ID, v.rc, time.Time{})
}

func deviceNoun(d device) string {
	if d.Type == DeviceTypeCard {
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
