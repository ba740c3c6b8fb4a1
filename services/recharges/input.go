package recharges

import (
	"regexp"
	"strings"

	"github.com/shopspring/decimal"

	"portal/services"
	"portal/services/phone"
)

// Input is a recharge as typed into the form.
type Input struct {
	DeviceID       string
	CardID         string
	Amount         string
	IdempotencyKey string
	// PhoneNumber comes from the lookup the form was opened from; it lets a
	// card (which 1flow can't look up by itself) be shown with its owner.
	PhoneNumber string
}

// Valid is an Input that passed validation.
type Valid struct {
	DeviceID       string
	CardID         string
	Amount         decimal.Decimal
	IdempotencyKey string
	PhoneNumber    string
}

// Target is the device or card id.
func (v Valid) Target() string {
	if v.DeviceID != "" {
		return v.DeviceID
	}
	return v.CardID
}

var (
	targetPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{2,39}$`)
	keyPattern    = regexp.MustCompile(`^[A-Za-z0-9_-]{16,64}$`)
)

// ParseAmount reads a money amount typed by a person: a positive decimal with
// at most two decimals, a dot as the decimal mark and no thousands separators
// (a comma could be either, and guessing with money is not an option).
func ParseAmount(raw string, max decimal.Decimal) (decimal.Decimal, string) {
	s := strings.TrimSpace(raw)
	switch {
	case s == "":
		return decimal.Decimal{}, "Enter an amount."
	case strings.Contains(s, ","):
		return decimal.Decimal{}, "Use a dot for decimals and no thousands separators, for example 1500.50."
	case len(s) > 20 || !amountPattern.MatchString(s):
		return decimal.Decimal{}, "Enter the amount as a number, for example 100 or 99.50."
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, "Enter the amount as a number, for example 100 or 99.50."
	}
	switch {
	case !d.IsPositive():
		return decimal.Decimal{}, "The amount must be more than 0."
	case d.Exponent() < -2 && !d.Equal(d.Round(2)):
		return decimal.Decimal{}, "Use at most 2 decimals."
	case d.GreaterThan(max):
		return decimal.Decimal{}, "The most one recharge can be is " + max.StringFixed(2) + "."
	}
	return d.Round(2), ""
}

var amountPattern = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// Validate checks the form and returns field errors keyed by form field name.
func (in Input) Validate(max decimal.Decimal) (Valid, error) {
	v := Valid{
		DeviceID:       strings.TrimSpace(in.DeviceID),
		CardID:         strings.TrimSpace(in.CardID),
		IdempotencyKey: strings.TrimSpace(in.IdempotencyKey),
	}
	errs := services.FieldErrors{}
	switch {
	case v.DeviceID == "" && v.CardID == "":
		errs["device_id"] = "Enter a device id or a card id."
	case v.DeviceID != "" && v.CardID != "":
		errs["device_id"] = "Enter either a device id or a card id, not both."
	case v.DeviceID != "" && !targetPattern.MatchString(v.DeviceID):
		errs["device_id"] = "A device id is 3 to 40 letters, digits or dashes, like 68753500140920."
	case v.CardID != "" && !targetPattern.MatchString(v.CardID):
		errs["card_id"] = "A card id is 3 to 40 letters, digits or dashes."
	}
	var msg string
	if v.Amount, msg = ParseAmount(in.Amount, max); msg != "" {
		errs["amount"] = msg
	}
	if !keyPattern.MatchString(v.IdempotencyKey) {
		// Only a tampered or very old form gets here; a fresh form fixes it.
		errs["idempotency_key"] = "This form has expired. Open a new recharge form and try again."
	}
	if p := strings.TrimSpace(in.PhoneNumber); p != "" {
		n, err := phone.Normalize(p)
		if err != nil {
			errs["phone_number"] = "Enter the customer's phone number, for example +254712345678."
		}
		v.PhoneNumber = n
	}
	if len(errs) > 0 {
		return Valid{}, errs
	}
	return v, nil
}
