package verifications

import (
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"portal/models"
	"portal/services"
	"portal/services/pawapass"
	"portal/services/phone"
)

// What the new-verification form offers for pawaPass, as the client
// documents it: the two requirement types and the country codes, in the
// document's order. Countries is a copy, so a caller cannot change what
// Validate accepts.
const (
	RequirementDocumentScan = pawapass.RequirementDocumentScan
	RequirementFaceScan     = pawapass.RequirementFaceScan
)

var Countries = slices.Clone(pawapass.Countries)

// Input is what an operator submits to start a verification. Field names
// follow the providers' JSON in snake_case (see web/verifications.go).
type Input struct {
	Provider     string
	ExternalID   string   // pawaPass externalId
	Requirements []string // pawaPass: DOCUMENT_SCAN and/or FACE_SCAN
	Country      string   // pawaPass: one of Countries, optional
	PhoneNo      string   // any common format; stored and sent as E.164
	// ExpiresAt is pawaPass's optional expiresAt: RFC 3339, or a
	// datetime-local value ("2026-12-01T09:00"), which is read in loc.
	ExpiresAt                        string
	SuccessURL, ErrorURL, SupportURL string
	FaceVerification                 bool // PassportReader
	PassportOnly                     bool // PassportReader
}

// Valid is an Input that passed Validate, in the shapes the providers take.
type Valid struct {
	Provider                         models.VerificationProvider
	ExternalID                       string
	Requirements                     []string
	Country                          string
	PhoneNo                          string
	ExpiresAt                        *time.Time
	SuccessURL, ErrorURL, SupportURL string
	FaceVerification, PassportOnly   bool
}

// Limits of the form. pawaPass publishes no maximum lengths; ours keep the
// database and the pages sane. [ours]
const (
	maxExternalID = 200
	maxURL        = 2000
	// maxExpiry is how far ahead an expiry may be set. [ours]
	maxExpiry = 90 * 24 * time.Hour
)

// httpURL is pawaPass's documented pattern for the three URLs.
var httpURL = regexp.MustCompile(`^https?://`)

// Validate checks in against what the chosen provider documents (pawaPass:
// required externalId and URLs matching ^https?://, at least one
// requirement, the 19 country codes, no null bytes, a future expiresAt) and
// returns every problem at once as services.FieldErrors.
func (in Input) Validate(now time.Time, loc *time.Location) (Valid, error) {
	errs := services.FieldErrors{}
	v := Valid{Provider: models.VerificationProvider(strings.TrimSpace(in.Provider))}
	if !v.Provider.Valid() {
		errs["provider"] = "Choose pawaPass or PassportReader."
		return Valid{}, errs
	}
	v.Country = strings.ToUpper(strings.TrimSpace(in.Country))
	if raw := strings.TrimSpace(in.PhoneNo); raw != "" {
		region := v.Country
		if v.Provider != models.ProviderPawaPass {
			region = ""
		}
		p, err := phone.NormalizeIn(raw, region)
		if err != nil {
			errs["phone_no"] = "Enter the customer's phone number with its country code, like +260971234567."
		}
		v.PhoneNo = p
	}
	if v.Provider == models.ProviderPassportReader {
		v.FaceVerification, v.PassportOnly = in.FaceVerification, in.PassportOnly
		v.Country = ""
		if len(errs) > 0 {
			return Valid{}, errs
		}
		return v, nil
	}

	v.ExternalID = strings.TrimSpace(in.ExternalID)
	switch {
	case v.ExternalID == "":
		errs["external_id"] = "Enter your identifier for this customer or verification, for example the customer number."
	case !printable(v.ExternalID) || utf8.RuneCountInString(v.ExternalID) > maxExternalID:
		errs["external_id"] = "Use at most 200 printable characters."
	}
	seen := map[string]bool{}
	for _, r := range in.Requirements {
		r = strings.TrimSpace(r)
		if r != pawapass.RequirementDocumentScan && r != pawapass.RequirementFaceScan {
			errs["requirements"] = "Choose document scan, face scan or both."
			continue
		}
		if !seen[r] {
			seen[r] = true
			v.Requirements = append(v.Requirements, r)
		}
	}
	if len(v.Requirements) == 0 && errs["requirements"] == "" {
		errs["requirements"] = "Choose at least one: document scan, face scan or both."
	}
	if v.Country != "" && !slices.Contains(pawapass.Countries, v.Country) {
		errs["country"] = "Choose one of the countries pawaPass supports."
	}
	for _, f := range []struct {
		name string
		in   string
		out  *string
	}{{"success_url", in.SuccessURL, &v.SuccessURL}, {"error_url", in.ErrorURL, &v.ErrorURL}, {"support_url", in.SupportURL, &v.SupportURL}} {
		u := strings.TrimSpace(f.in)
		if msg := checkURL(u); msg != "" {
			errs[f.name] = msg
		}
		*f.out = u
	}
	if raw := strings.TrimSpace(in.ExpiresAt); raw != "" {
		t, ok := parseExpiry(raw, loc)
		switch {
		case !ok:
			errs["expires_at"] = "Enter a date and time like 2026-12-01T09:00."
		case !t.After(now):
			errs["expires_at"] = "The expiry must be in the future."
		case t.Sub(now) > maxExpiry:
			errs["expires_at"] = "Set an expiry within 90 days."
		default:
			u := t.UTC()
			v.ExpiresAt = &u
		}
	}
	if len(errs) > 0 {
		return Valid{}, errs
	}
	return v, nil
}

// checkURL returns a message for a URL pawaPass would refuse, or one that
// is no use to a customer's browser.
func checkURL(u string) string {
	if u == "" {
		return "Enter an address starting with https://."
	}
	if len(u) > maxURL || !printable(u) || !httpURL.MatchString(u) {
		return "Enter an address starting with https:// (or http://)."
	}
	p, err := url.Parse(u)
	if err != nil || p.Host == "" || p.User != nil {
		return "Enter a complete address, like https://example.com/kyc/done."
	}
	if h := p.Hostname(); h == "" || strings.ContainsAny(h, " ") || net.ParseIP(h) == nil && !strings.Contains(h, ".") && h != "localhost" {
		return "Enter a complete address, like https://example.com/kyc/done."
	}
	return ""
}

func parseExpiry(raw string, loc *time.Location) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339, raw); err == nil {
		return t, true
	}
	if loc == nil {
		loc = time.UTC
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, raw, loc); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// printable rejects control characters (a null byte above all: pawaPass
// refuses them) and invalid UTF-8.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
