package pawapass

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"portal/services/upstream"
)

// Wire types, written from pawapass-create-verification.txt and the
// pawaPass section of NOTES.md.

// Verification statuses. CREATED → STARTED → USER_DATA_COLLECTED →
// (REVIEW) → APPROVED | DECLINED; EXPIRED after expiresAt.
const (
	StatusCreated           = "CREATED"
	StatusStarted           = "STARTED"
	StatusUserDataCollected = "USER_DATA_COLLECTED"
	StatusReview            = "REVIEW"
	StatusApproved          = "APPROVED"
	StatusDeclined          = "DECLINED"
	StatusExpired           = "EXPIRED"
)

// Statuses lists every documented status, in the document's order.
var Statuses = []string{StatusCreated, StatusStarted, StatusExpired, StatusUserDataCollected, StatusReview, StatusApproved, StatusDeclined}

// IsFinal reports whether a verification in this status will not change
// any more.
func IsFinal(status string) bool {
	switch status {
	case StatusApproved, StatusDeclined, StatusExpired:
		return true
	}
	return false
}

// Requirement types: the only two the document knows.
const (
	RequirementDocumentScan = "DOCUMENT_SCAN"
	RequirementFaceScan     = "FACE_SCAN"
)

// Countries are the documented country codes, in the document's order.
var Countries = []string{"AO", "BJ", "CM", "CD", "CG", "GH", "KE", "LS", "LR", "MW", "ML", "MZ", "NG", "RW", "SL", "TZ", "TG", "UG", "ZM"}

func knownCountry(code string) bool {
	for _, c := range Countries {
		if c == code {
			return true
		}
	}
	return false
}

// Requirement is one step the person must complete.
type Requirement struct {
	Type    string              `json:"type"` // RequirementDocumentScan or RequirementFaceScan
	Options *RequirementOptions `json:"options,omitempty"`
}

// RequirementOptions tune a requirement. PreviousVerificationID on a
// FACE_SCAN asks for a face-only re-verification against an earlier
// approved verification.
type RequirementOptions struct {
	PreviousVerificationID string `json:"previousVerificationId,omitempty"`
}

// CreateRequest is the body of POST /verifications/. ExternalID, at least
// one Requirement and the three URLs are required; the rest is optional
// and left out of the body when zero.
type CreateRequest struct {
	ExternalID   string // our unique id for this person/verification
	Requirements []Requirement
	SuccessURL   string // http(s) URL the person is sent to after success
	ErrorURL     string // http(s) URL the person is sent to on failure
	SupportURL   string // http(s) URL where the person can get help
	Country      string // one of Countries
	PhoneNo      string
	Metadata     map[string]string
	ExpiresAt    time.Time // sent as UTC with milliseconds, "2025-08-27T09:00:00.000Z"
	CreatedBy    string    // who asked for it, e.g. a staff e-mail
}

// createBody is CreateRequest on the wire, fields in the document's order.
type createBody struct {
	ExternalID   string            `json:"externalId"`
	Requirements []Requirement     `json:"requirements"`
	SuccessURL   string            `json:"successUrl"`
	ErrorURL     string            `json:"errorUrl"`
	SupportURL   string            `json:"supportUrl"`
	Country      string            `json:"country,omitempty"`
	PhoneNo      string            `json:"phoneNo,omitempty"`
	Metadata     map[string]string `json:"metadata,omitempty"`
	ExpiresAt    string            `json:"expiresAt,omitempty"`
	CreatedBy    string            `json:"createdBy,omitempty"`
}

// expiresLayout is the document example's form: UTC, milliseconds, "Z".
const expiresLayout = "2006-01-02T15:04:05.000Z07:00"

// validate refuses what pawaPass would certainly refuse (the document's
// required fields, enums, URL pattern and "no-null-bytes" strings), so an
// obviously bad request never reaches it.
func (r CreateRequest) validate() error {
	if strings.TrimSpace(r.ExternalID) == "" {
		return vendor.InvalidRequest("externalId is empty")
	}
	if len(r.Requirements) == 0 {
		return vendor.InvalidRequest("at least one requirement is needed")
	}
	for i, q := range r.Requirements {
		if q.Type != RequirementDocumentScan && q.Type != RequirementFaceScan {
			return vendor.InvalidRequest(fmt.Sprintf("requirements[%d]: unknown type %.40q", i, q.Type))
		}
	}
	for _, f := range []struct{ name, v string }{
		{"successUrl", r.SuccessURL}, {"errorUrl", r.ErrorURL}, {"supportUrl", r.SupportURL},
	} {
		if err := checkURL(f.name, f.v); err != nil {
			return err
		}
	}
	if r.Country != "" && !knownCountry(r.Country) {
		return vendor.InvalidRequest(fmt.Sprintf("country %.10q is not a supported country code", r.Country))
	}
	for _, f := range []struct{ name, v string }{
		{"externalId", r.ExternalID}, {"phoneNo", r.PhoneNo}, {"createdBy", r.CreatedBy},
	} {
		if strings.IndexByte(f.v, 0) >= 0 {
			return vendor.InvalidRequest(f.name + " contains a NUL byte")
		}
	}
	for i, q := range r.Requirements {
		if q.Options != nil && strings.IndexByte(q.Options.PreviousVerificationID, 0) >= 0 {
			return vendor.InvalidRequest(fmt.Sprintf("requirements[%d].options.previousVerificationId contains a NUL byte", i))
		}
	}
	if !r.ExpiresAt.IsZero() {
		if y := r.ExpiresAt.UTC().Year(); y < 1 || y > 9999 {
			return vendor.InvalidRequest("expiresAt is out of range")
		}
	}
	return nil
}

// checkURL applies the document's pattern ^https?:// plus "string<uri>":
// an absolute URL with a host.
func checkURL(name, v string) error {
	if v == "" {
		return vendor.InvalidRequest(name + " is empty")
	}
	if !strings.HasPrefix(v, "https://") && !strings.HasPrefix(v, "http://") {
		return vendor.InvalidRequest(name + " must start with http:// or https://")
	}
	if strings.ContainsAny(v, " \t\r\n\x00") {
		return vendor.InvalidRequest(name + " contains white space")
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		return vendor.InvalidRequest(name + " is not a valid URL")
	}
	return nil
}

func (r CreateRequest) body() ([]byte, error) {
	b := createBody{
		ExternalID:   r.ExternalID,
		Requirements: r.Requirements,
		SuccessURL:   r.SuccessURL,
		ErrorURL:     r.ErrorURL,
		SupportURL:   r.SupportURL,
		Country:      r.Country,
		PhoneNo:      r.PhoneNo,
		Metadata:     r.Metadata,
		CreatedBy:    r.CreatedBy,
	}
	if !r.ExpiresAt.IsZero() {
		b.ExpiresAt = r.ExpiresAt.UTC().Format(expiresLayout)
	}
	return json.Marshal(b)
}

// IdentityDocument is the identity data pawaPass extracted. Dates of the
// document itself (DateOfBirth, ExpiryAt, IssuedAt) are kept as sent,
// "YYYY-MM-DD" in the example.
type IdentityDocument struct {
	Type             string    `json:"type"` // PASSPORT, NATIONAL_ID, DRIVER_LICENSE, REFUGEE_ID, VOTER_ID, RESIDENCE_PERMIT
	Country          string    `json:"country"`
	SerialNo         string    `json:"serialNo"`
	NationalNo       string    `json:"nationalNo"`
	FirstName        string    `json:"firstName"`
	LastName         string    `json:"lastName"`
	DateOfBirth      string    `json:"dateOfBirth"`
	PlaceOfBirth     string    `json:"placeOfBirth"`
	Nationality      string    `json:"nationality"`
	ExpiryAt         string    `json:"expiryAt"`
	IssuedAt         string    `json:"issuedAt"`
	IssuingAuthority string    `json:"issuingAuthority"`
	PlaceOfIssue     string    `json:"placeOfIssue"`
	CreatedAt        time.Time `json:"createdAt"`
	UpdatedAt        time.Time `json:"updatedAt"`
}

// FaceScan is the face scan result.
type FaceScan struct {
	AgeEstimation string    `json:"ageEstimation"` // UNDER_8, OVER_8, OVER_13, OVER_16, OVER_18, OVER_21, OVER_25, OVER_30, UNKNOWN
	CreatedAt     time.Time `json:"createdAt"`
	UpdatedAt     time.Time `json:"updatedAt"`
}

// ReviewResult is the review outcome; nil until reviewed, or when no reason
// is available.
type ReviewResult struct {
	Reason string `json:"reason"` // CAPTURE_ISSUE, DOCUMENT_VALIDITY, IMAGE_QUALITY, GENERIC
}

// Verification is pawaPass's verification object. Strings that are null on
// the wire are "", objects that are null are nil, times that are null are
// zero.
type Verification struct {
	ID               string
	ExternalID       string
	Country          string
	PhoneNo          string
	Requirements     []Requirement
	URL              string          // where the person completes the verification
	Status           string          // one of the Status constants, as sent
	Metadata         json.RawMessage // the metadata value as sent (any JSON); nil when null or absent
	SuccessURL       string
	ErrorURL         string
	SupportURL       string
	IdentityDocument *IdentityDocument
	FaceScan         *FaceScan
	ReviewResult     *ReviewResult
	CreatedBy        string
	ExpiresAt        time.Time
	CreatedAt        time.Time
	UpdatedAt        time.Time
	Raw              json.RawMessage // the verification object exactly as received (without surrounding white space)
}

type verificationWire struct {
	ID               string                `json:"id"`
	ExternalID       string                `json:"externalId"`
	Country          string                `json:"country"`
	PhoneNo          string                `json:"phoneNo"`
	Requirements     []Requirement         `json:"requirements"`
	URL              string                `json:"url"`
	Status           string                `json:"status"`
	Metadata         json.RawMessage       `json:"metadata"`
	SuccessURL       string                `json:"successUrl"`
	ErrorURL         string                `json:"errorUrl"`
	SupportURL       string                `json:"supportUrl"`
	IdentityDocument *identityDocumentWire `json:"identityDocument"`
	FaceScan         *faceScanWire         `json:"faceScan"`
	ReviewResult     *ReviewResult         `json:"reviewResult"`
	CreatedBy        string                `json:"createdBy"`
	ExpiresAt        wireTime              `json:"expiresAt"`
	CreatedAt        wireTime              `json:"createdAt"`
	UpdatedAt        wireTime              `json:"updatedAt"`
}

type identityDocumentWire struct {
	Type             string   `json:"type"`
	Country          string   `json:"country"`
	SerialNo         string   `json:"serialNo"`
	NationalNo       string   `json:"nationalNo"`
	FirstName        string   `json:"firstName"`
	LastName         string   `json:"lastName"`
	DateOfBirth      string   `json:"dateOfBirth"`
	PlaceOfBirth     string   `json:"placeOfBirth"`
	Nationality      string   `json:"nationality"`
	ExpiryAt         string   `json:"expiryAt"`
	IssuedAt         string   `json:"issuedAt"`
	IssuingAuthority string   `json:"issuingAuthority"`
	PlaceOfIssue     string   `json:"placeOfIssue"`
	CreatedAt        wireTime `json:"createdAt"`
	UpdatedAt        wireTime `json:"updatedAt"`
}

type faceScanWire struct {
	AgeEstimation string   `json:"ageEstimation"`
	CreatedAt     wireTime `json:"createdAt"`
	UpdatedAt     wireTime `json:"updatedAt"`
}

// wireTime accepts RFC 3339 with or without fractional seconds. A time with
// no zone is read as UTC [ours]. null and "" are the zero time. Anything
// else makes the whole object malformed [ours]: a misread format should
// show, not become a zero time.
type wireTime struct{ t time.Time }

var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"}

func (w *wireTime) UnmarshalJSON(b []byte) error {
	if string(bytes.TrimSpace(b)) == "null" {
		*w = wireTime{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("time is not a string")
	}
	s = strings.TrimSpace(s)
	if s == "" {
		*w = wireTime{}
		return nil
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			*w = wireTime{t: t.UTC()}
			return nil
		}
	}
	return fmt.Errorf("not an RFC 3339 time: %.40q", s)
}

func isObject(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

// decodeVerification decodes one verification object. It needs an object
// with a non-empty "id"; unknown fields are ignored.
func decodeVerification(raw []byte) (Verification, error) {
	if !isObject(raw) {
		return Verification{}, upstream.Malformedf("the verification is not a JSON object")
	}
	var w verificationWire
	if err := upstream.DecodeStrict(raw, &w); err != nil {
		return Verification{}, upstream.Malformed(err)
	}
	if strings.TrimSpace(w.ID) == "" {
		return Verification{}, upstream.Malformedf(`the verification has no "id"`)
	}
	v := Verification{
		ID:           w.ID,
		ExternalID:   w.ExternalID,
		Country:      w.Country,
		PhoneNo:      w.PhoneNo,
		Requirements: w.Requirements,
		URL:          w.URL,
		Status:       w.Status,
		SuccessURL:   w.SuccessURL,
		ErrorURL:     w.ErrorURL,
		SupportURL:   w.SupportURL,
		ReviewResult: w.ReviewResult,
		CreatedBy:    w.CreatedBy,
		ExpiresAt:    w.ExpiresAt.t,
		CreatedAt:    w.CreatedAt.t,
		UpdatedAt:    w.UpdatedAt.t,
		Raw:          append(json.RawMessage(nil), bytes.TrimSpace(raw)...),
	}
	if m := bytes.TrimSpace(w.Metadata); len(m) > 0 && string(m) != "null" {
		v.Metadata = append(json.RawMessage(nil), m...)
	}
	if d := w.IdentityDocument; d != nil {
		v.IdentityDocument = &IdentityDocument{
			Type: d.Type, Country: d.Country, SerialNo: d.SerialNo, NationalNo: d.NationalNo,
			FirstName: d.FirstName, LastName: d.LastName, DateOfBirth: d.DateOfBirth,
			PlaceOfBirth: d.PlaceOfBirth, Nationality: d.Nationality, ExpiryAt: d.ExpiryAt,
			IssuedAt: d.IssuedAt, IssuingAuthority: d.IssuingAuthority, PlaceOfIssue: d.PlaceOfIssue,
			CreatedAt: d.CreatedAt.t, UpdatedAt: d.UpdatedAt.t,
		}
	}
	if f := w.FaceScan; f != nil {
		v.FaceScan = &FaceScan{AgeEstimation: f.AgeEstimation, CreatedAt: f.CreatedAt.t, UpdatedAt: f.UpdatedAt.t}
	}
	return v, nil
}

// ListResult is one page of verifications.
type ListResult struct {
	Items []Verification
	Count int // total matching the filters, over all pages
}

type listWire struct {
	Items *[]json.RawMessage `json:"items"`
	Count *int               `json:"count"`
}

// decodeList decodes {"items":[…],"count":N}; both are required.
func decodeList(body []byte) (ListResult, error) {
	if !isObject(body) {
		return ListResult{}, upstream.Malformedf("the list answer is not a JSON object")
	}
	var w listWire
	if err := upstream.DecodeStrict(body, &w); err != nil {
		return ListResult{}, upstream.Malformed(err)
	}
	if w.Items == nil {
		return ListResult{}, upstream.Malformedf(`the list answer has no "items"`)
	}
	if w.Count == nil || *w.Count < 0 {
		return ListResult{}, upstream.Malformedf(`the list answer has no valid "count"`)
	}
	res := ListResult{Items: make([]Verification, 0, len(*w.Items)), Count: *w.Count}
	for i, raw := range *w.Items {
		v, err := decodeVerification(raw)
		if err != nil {
			return ListResult{}, fmt.Errorf("items[%d]: %w", i, err)
		}
		res.Items = append(res.Items, v)
	}
	return res, nil
}

// decodeErrorBody reads pawaPass's error body {"statusCode","code","message"}
// for upstream: its code and message, raw (upstream cleans them). message
// may be a string or, in validation errors, an array of strings [ours];
// "error" (the HTTP reason phrase in NestJS/Fastify-style bodies) stands in
// for a missing code [ours].
func decodeErrorBody(body []byte) (code, message string) {
	var w struct {
		Code    json.RawMessage `json:"code"`
		Message json.RawMessage `json:"message"`
		Error   json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &w) != nil {
		return "", ""
	}
	code, message = rawString(w.Code), rawString(w.Message)
	if code == "" {
		code = rawString(w.Error)
	}
	return code, message
}

// rawString returns a JSON string's value, the strings of an array joined
// with "; ", or the raw text of another value.
func rawString(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		parts := make([]string, 0, len(list))
		for _, e := range list {
			if p := rawString(e); p != "" {
				parts = append(parts, p)
			}
		}
		return strings.Join(parts, "; ")
	}
	return string(raw)
}
