// Package phone normalizes customers' phone numbers to E.164 with
// libphonenumber's metadata (nyaruka/phonenumbers), so "0712 345 678",
// "+254 712-345-678" and "254712345678" all find the same customer.
package phone

import (
	"errors"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Regions are tried in order for numbers written without a country code. The
// portal's customers are in Kenya and Ghana; a national number valid in both
// is read as Kenyan, the larger market.
var Regions = []string{"KE", "GH"}

// Written reports whether raw is written the way only a phone number is: with
// a "+" or a trunk "0" in front. Bare digits that Normalize accepts are only
// a guess ("52026989" is a valid national number somewhere and also the
// start of a 1flow id), so searches keep reading them as ids too.
func Written(raw string) bool {
	s := strings.TrimSpace(raw)
	return strings.HasPrefix(s, "+") || strings.HasPrefix(s, "0")
}

// ErrInvalid is returned for text that is not a valid phone number.
var ErrInvalid = errors.New("phone: not a valid phone number")

// Normalize returns raw in E.164 (e.g. +254712345678).
func Normalize(raw string) (string, error) { return normalize(raw, Regions) }

// NormalizeIn is Normalize for a customer known to be in region (ISO 3166
// alpha-2, e.g. "ZM"): a national number is read as that region's first.
func NormalizeIn(raw, region string) (string, error) {
	if region == "" {
		return Normalize(raw)
	}
	return normalize(raw, append([]string{strings.ToUpper(region)}, Regions...))
}

func normalize(raw string, regions []string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" || len(s) > 32 {
		return "", ErrInvalid
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789+-() .", r) {
			return "", ErrInvalid
		}
	}
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
	candidates := []string{s}
	// "254712345678" is an international number missing its "+".
	if !strings.HasPrefix(s, "+") && !strings.HasPrefix(digits, "0") && len(digits) >= 11 {
		candidates = append(candidates, "+"+digits)
	}
	for _, c := range candidates {
		for _, region := range regions {
			num, err := phonenumbers.Parse(c, region)
			if err != nil || !phonenumbers.IsValidNumber(num) {
				continue
			}
			return phonenumbers.Format(num, phonenumbers.E164), nil
		}
	}
	return "", ErrInvalid
}

// Country returns the ISO region of an E.164 number, or "".
func Country(e164 string) string {
	num, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return ""
	}
	return phonenumbers.GetRegionCodeForNumber(num)
}

// Prefixes returns the E.164 beginnings a partly typed phone number can
// stand for, so "+2547000012", "07000012" and "254 700 0012" all search
// the phone index by prefix. A national number (leading 0) may belong to
// any of Regions, so it yields one prefix per region. Bare digits that do
// not start with one of those country codes are not read as a phone: they
// are more likely a device or card id. Too little to go on yields nil.
func Prefixes(raw string) []string {
	s := strings.TrimSpace(raw)
	if len(s) > 32 {
		return nil
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789+-() .", r) {
			return nil
		}
	}
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
	const minDigits = 4
	switch {
	case len(digits) < minDigits:
		return nil
	case strings.HasPrefix(s, "+"):
		return []string{"+" + digits}
	case strings.HasPrefix(digits, "00"):
		if len(digits) < minDigits+2 {
			return nil
		}
		return []string{"+" + digits[2:]}
	case strings.HasPrefix(digits, "0"):
		out := make([]string, 0, len(Regions))
		for _, region := range Regions {
			out = append(out, "+"+strconv.Itoa(phonenumbers.GetCountryCodeForRegion(region))+digits[1:])
		}
		return out
	}
	for _, region := range Regions {
		if cc := strconv.Itoa(phonenumbers.GetCountryCodeForRegion(region)); strings.HasPrefix(digits, cc) {
			return []string{"+" + digits}
		}
	}
	return nil
}
