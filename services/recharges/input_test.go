package recharges

import (
	"testing"

	"github.com/shopspring/decimal"

	"portal/services"
)

var max = decimal.RequireFromString("10000")

func TestParseAmount(t *testing.T) {
	cases := []struct {
		in   string
		want string // "" means rejected
	}{
		{"100", "100"},
		{"100.5", "100.5"},
		{" 99.50 ", "99.5"},
		{"0.01", "0.01"},
		{"10000", "10000"},
		{"10000.00", "10000"},
		{"10000.01", ""},
		{"0", ""},
		{"0.00", ""},
		{"-5", ""},
		{"1.005", ""},
		{"1.500", "1.5"}, // trailing zeros are not extra precision
		{"1,000", ""},
		{"1e3", ""},
		{"NaN", ""},
		{"", ""},
		{"12abc", ""},
		{"١٠٠", ""}, // Arabic-Indic digits
		{"99999999999999999999999", ""},
	}
	for _, c := range cases {
		got, msg := ParseAmount(c.in, max)
		if c.want == "" {
			if msg == "" {
				t.Errorf("ParseAmount(%q) = %s, want rejection", c.in, got)
			}
			continue
		}
		if msg != "" || !got.Equal(decimal.RequireFromString(c.want)) {
			t.Errorf("ParseAmount(%q) = %s, %q; want %s", c.in, got, msg, c.want)
		}
	}
}

func TestValidate(t *testing.T) {
	key := "k0123456789abcdefghij"
	cases := []struct {
		name  string
		in    Input
		field string // "" means valid
	}{
		{"device", Input{DeviceID: "68753500140920", Amount: "100", IdempotencyKey: key}, ""},
		{"card", Input{CardID: "CARD-1234", Amount: "100", IdempotencyKey: key}, ""},
		{"neither", Input{Amount: "100", IdempotencyKey: key}, "device_id"},
		{"both", Input{DeviceID: "68753500140920", CardID: "CARD-1", Amount: "100", IdempotencyKey: key}, "device_id"},
		{"bad device", Input{DeviceID: "../../x", Amount: "100", IdempotencyKey: key}, "device_id"},
		{"bad amount", Input{DeviceID: "68753500140920", Amount: "lots", IdempotencyKey: key}, "amount"},
		{"no key", Input{DeviceID: "68753500140920", Amount: "1"}, "idempotency_key"},
		{"bad phone", Input{DeviceID: "68753500140920", Amount: "1", IdempotencyKey: key, PhoneNumber: "call me"}, "phone_number"},
		{"phone normalized", Input{DeviceID: "68753500140920", Amount: "1", IdempotencyKey: key, PhoneNumber: "0712 345 678"}, ""},
	}
	for _, c := range cases {
		v, err := c.in.Validate(max)
		if c.field == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			if c.in.PhoneNumber != "" && v.PhoneNumber != "+254712345678" {
				t.Errorf("%s: phone %q not normalized", c.name, v.PhoneNumber)
			}
			continue
		}
		fe, ok := services.AsFieldErrors(err)
		if !ok || fe[c.field] == "" {
			t.Errorf("%s: err = %v, want a message on %s", c.name, err, c.field)
		}
	}
}

func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"100", "0.01", "1.005", "1e9", "-1", "9999999999999999999999.99", " 5 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, msg := ParseAmount(s, max)
		if msg != "" {
			return
		}
		if !d.IsPositive() || d.GreaterThan(max) || !d.Equal(d.Round(2)) {
			t.Fatalf("ParseAmount(%q) accepted %s", s, d)
		}
	})
}
