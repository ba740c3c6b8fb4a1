package pawapasssim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"
)

// timeLayout is the document's timestamp format: UTC with milliseconds,
// "2025-08-20T09:00:00.000Z". Nested timestamps use it too, although the
// example shows the documentation generator's "2023-11-07T05:31:56Z"
// placeholder there. [ours]
const timeLayout = "2006-01-02T15:04:05.000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// verificationJSON is the verification object: exactly the keys of the
// document's response, in its order, the nullable ones as null when
// unknown. Every answer and every webhook's data carries it.
type verificationJSON struct {
	ID               string                `json:"id"`
	ExternalID       string                `json:"externalId"`
	Country          *string               `json:"country"`
	PhoneNo          *string               `json:"phoneNo"`
	Requirements     []requirementJSON     `json:"requirements"`
	URL              string                `json:"url"`
	Status           string                `json:"status"`
	Metadata         json.RawMessage       `json:"metadata"` // nil encodes as null
	SuccessURL       string                `json:"successUrl"`
	ErrorURL         string                `json:"errorUrl"`
	SupportURL       string                `json:"supportUrl"`
	IdentityDocument *identityDocumentJSON `json:"identityDocument"`
	FaceScan         *faceScanJSON         `json:"faceScan"`
	ReviewResult     *reviewResultJSON     `json:"reviewResult"`
	CreatedBy        *string               `json:"createdBy"`
	ExpiresAt        string                `json:"expiresAt"`
	CreatedAt        string                `json:"createdAt"`
	UpdatedAt        string                `json:"updatedAt"`
}

// requirementJSON echoes a requirement; options only when the request
// gave a previousVerificationId. [ours]
type requirementJSON struct {
	Type    string       `json:"type"`
	Options *optionsJSON `json:"options,omitempty"`
}

type optionsJSON struct {
	PreviousVerificationID string `json:"previousVerificationId"`
}

type identityDocumentJSON struct {
	Type             string `json:"type"`
	Country          string `json:"country"`
	SerialNo         string `json:"serialNo"`
	NationalNo       string `json:"nationalNo"`
	FirstName        string `json:"firstName"`
	LastName         string `json:"lastName"`
	DateOfBirth      string `json:"dateOfBirth"`
	PlaceOfBirth     string `json:"placeOfBirth"`
	Nationality      string `json:"nationality"`
	ExpiryAt         string `json:"expiryAt"`
	IssuedAt         string `json:"issuedAt"`
	IssuingAuthority string `json:"issuingAuthority"`
	PlaceOfIssue     string `json:"placeOfIssue"`
	CreatedAt        string `json:"createdAt"`
	UpdatedAt        string `json:"updatedAt"`
}

type faceScanJSON struct {
	AgeEstimation string `json:"ageEstimation"`
	CreatedAt     string `json:"createdAt"`
	UpdatedAt     string `json:"updatedAt"`
}

type reviewResultJSON struct {
	Reason string `json:"reason"`
}

// listJSON is the list answer (NOTES.md).
type listJSON struct {
	Items []verificationJSON `json:"items"`
	Count int                `json:"count"`
}

// webhookJSON is a webhook body (NOTES.md).
type webhookJSON struct {
	NotificationID string           `json:"notificationId"`
	Type           string           `json:"type"`
	Object         string           `json:"object"` // "VERIFICATION"
	CreatedAt      string           `json:"createdAt"`
	Data           verificationJSON `json:"data"`
}

func (v *verification) wire() verificationJSON {
	out := verificationJSON{
		ID: v.ID, ExternalID: v.ExternalID, PhoneNo: v.PhoneNo, URL: v.URL, Status: v.Status,
		Metadata:   rawOrNil(v.Metadata),
		SuccessURL: v.SuccessURL, ErrorURL: v.ErrorURL, SupportURL: v.SupportURL,
		CreatedBy: v.CreatedBy,
		ExpiresAt: formatTime(v.ExpiresAt), CreatedAt: formatTime(v.CreatedAt), UpdatedAt: formatTime(v.UpdatedAt),
		Requirements: make([]requirementJSON, 0, len(v.Requirements)),
	}
	if v.Country != "" {
		c := v.Country
		out.Country = &c
	}
	for _, r := range v.Requirements {
		rj := requirementJSON{Type: r.Type}
		if r.PreviousVerificationID != "" {
			rj.Options = &optionsJSON{PreviousVerificationID: r.PreviousVerificationID}
		}
		out.Requirements = append(out.Requirements, rj)
	}
	if d := v.Doc; d != nil {
		out.IdentityDocument = &identityDocumentJSON{
			Type: d.Type, Country: d.Country, SerialNo: d.SerialNo, NationalNo: d.NationalNo,
			FirstName: d.FirstName, LastName: d.LastName, DateOfBirth: d.DateOfBirth, PlaceOfBirth: d.PlaceOfBirth,
			Nationality: d.Nationality, ExpiryAt: d.ExpiryAt, IssuedAt: d.IssuedAt,
			IssuingAuthority: d.IssuingAuthority, PlaceOfIssue: d.PlaceOfIssue,
			CreatedAt: formatTime(d.CreatedAt), UpdatedAt: formatTime(d.UpdatedAt),
		}
	}
	if f := v.Face; f != nil {
		out.FaceScan = &faceScanJSON{AgeEstimation: f.AgeEstimation, CreatedAt: formatTime(f.CreatedAt), UpdatedAt: formatTime(f.UpdatedAt)}
	}
	// "Null when verification has not been reviewed or no review reason
	// is available": an approval carries no reason. [ours]
	if v.Status == StatusDeclined && v.ReviewReason != "" {
		out.ReviewResult = &reviewResultJSON{Reason: v.ReviewReason}
	}
	return out
}

// rawOrNil is stored JSON text as a json.RawMessage, nil (null) when
// there is none.
func rawOrNil(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

// --- errors ---

// errorJSON is the documented error shape:
// {"statusCode":401,"code":"UNAUTHORIZED","message":"Unauthorized"}.
type errorJSON struct {
	StatusCode int    `json:"statusCode"`
	Code       string `json:"code"`
	Message    string `json:"message"`
}

// Error codes. UNAUTHORIZED is documented (NOTES.md); the others are
// [ours].
const (
	codeUnauthorized     = "UNAUTHORIZED"
	codeValidation       = "VALIDATION_ERROR"
	codeNotFound         = "NOT_FOUND"
	codeTooLarge         = "PAYLOAD_TOO_LARGE"
	codeUnsupportedMedia = "UNSUPPORTED_MEDIA_TYPE"
	codeInternal         = "INTERNAL_SERVER_ERROR"
)

// apiError is a failed request.
type apiError struct {
	status  int
	code    string
	message string
}

// validation is a 400 whose message names the field: "<field>: <what is
// wrong>". [ours]
func validation(field, what string) *apiError {
	return &apiError{http.StatusBadRequest, codeValidation, field + ": " + what}
}

var (
	errUnauthorized = &apiError{http.StatusUnauthorized, codeUnauthorized, "Unauthorized"}
	errNotFound     = &apiError{http.StatusNotFound, codeNotFound, "Verification not found"}
	errTooLarge     = &apiError{http.StatusRequestEntityTooLarge, codeTooLarge, "body: must be at most 64 KiB"}
	errMediaType    = &apiError{http.StatusUnsupportedMediaType, codeUnsupportedMedia, "Content-Type must be application/json"}
	errStore        = &apiError{http.StatusInternalServerError, codeInternal, "The verification store is unavailable"}
)

// marshal encodes v without escaping <, > and &, so URLs read as sent.
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil { // cannot happen with this package's types
		return []byte(`{"statusCode":500,"code":"INTERNAL","message":"pawapasssim: cannot encode the answer"}`)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	writeRaw(w, code, marshal(v))
}

func writeRaw(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, e *apiError) {
	if e.status == http.StatusUnauthorized { // RFC 6750 asks for it [ours]
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	writeJSON(w, e.status, errorJSON{StatusCode: e.status, Code: e.code, Message: e.message})
}
