package pasbysim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
)

// --- the envelope ---

// envelope wraps every successful answer (NOTES.md).
type envelope struct {
	Status  string `json:"status"` // "successful"
	Reason  string `json:"reason"`
	Data    any    `json:"data"`
	Version string `json:"version"`
}

// errorBody is an error answer: status, reason and type as NOTES.md lists
// them, and the route's version. No data. [ours for the exact shape]
type errorBody struct {
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	Type    string `json:"type"`
	Version string `json:"version,omitempty"` // "" only for the unversioned health check
}

// Error statuses and types (NOTES.md).
const (
	errStatusFailed       = "failed"
	errStatusHandled      = "handled"
	errStatusExpiration   = "expiration"
	errStatusUnauthorized = "unauthorized"
	errStatusMismatch     = "mismatch"

	errTypeParam          = "param_error"
	errTypeSessionExpiry  = "session_expiry"
	errTypeSessionCancel  = "session_cancel"
	errTypeInvalidRequest = "invalid_request"
	errTypeAuthorization  = "authorization_error"
	errTypeInternal       = "internal_error" // [ours]: NOTES.md lists no type for a failure of pasby itself
)

// reasonUnknownFlow is the reason NOTES.md quotes for an unknown flow id.
const reasonUnknownFlow = "Flow request with such id does not exists"

// apiError is a failed request.
type apiError struct {
	code   int
	status string
	typ    string
	reason string
}

func paramError(reason string) *apiError {
	return &apiError{http.StatusBadRequest, errStatusFailed, errTypeParam, reason}
}

func unauthorized(reason string) *apiError {
	return &apiError{http.StatusUnauthorized, errStatusUnauthorized, errTypeAuthorization, reason}
}

var (
	errUnknownFlow = &apiError{http.StatusBadRequest, errStatusFailed, errTypeInvalidRequest, reasonUnknownFlow}
	errCancelled   = &apiError{http.StatusBadRequest, errStatusFailed, errTypeSessionCancel, "Flow request has been cancelled"}
	errHandled     = &apiError{http.StatusBadRequest, errStatusHandled, errTypeInvalidRequest, "Flow request has already been handled"}
	errExpired     = &apiError{http.StatusUnauthorized, errStatusExpiration, errTypeSessionExpiry, "Flow request has expired"}
	errNotPDF      = paramError("file.url does not point to a PDF document")
	errNoWebhook   = &apiError{http.StatusPreconditionRequired, errStatusFailed, errTypeParam,
		"A webhook (webhook.host and webhook.reference) is required to sign documents"}
	// errInternal is the answer when the sandbox store fails. [ours]
	errInternal = &apiError{http.StatusInternalServerError, errStatusFailed, errTypeInternal,
		"The sandbox could not read or write its records: try again"}
	errMismatchRefresh = &apiError{http.StatusForbidden, errStatusMismatch, errTypeInvalidRequest,
		"Flow request mode mismatch: refresh takes a document id (doc_…), not a signature flow request"}
)

// marshal encodes v without escaping <, > and &, so URLs read as sent.
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil { // cannot happen with this package's types
		return []byte(`{"status":"failed","reason":"pasbysim: cannot encode the answer","type":"internal"}`)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(marshal(v))
}

func writeOK(w http.ResponseWriter, code int, version, reason string, data any) {
	writeJSON(w, code, envelope{Status: "successful", Reason: reason, Data: data, Version: version})
}

func writeError(w http.ResponseWriter, version string, e *apiError) {
	writeJSON(w, e.code, e.body(version))
}

func (e *apiError) body(version string) errorBody {
	return errorBody{Status: e.status, Reason: e.reason, Type: e.typ, Version: version}
}

// --- the document object ---

type fileJSON struct {
	Source  string `json:"source"`
	Name    string `json:"name"`
	Stamped string `json:"stamped,omitempty"` // once completed
}

type hookJSON struct {
	Host      string `json:"host"`
	Reference string `json:"reference"`
}

// requestMetaJSON is "request" of a create answer: who asked. client and
// app are masked as in the document's examples. [ours for the values]
type requestMetaJSON struct {
	Client string `json:"client"`
	App    string `json:"app"`
	IP     string `json:"ip"`
}

const (
	maskedClient = "bcn_•••••••"
	maskedApp    = "app_•••••••"
)

type signeeJSON struct {
	Title        string `json:"title"` // "" when not given [ours]
	Name         string `json:"name"`
	NIN          string `json:"nin"`
	Representing string `json:"representing"`
	Type         string `json:"type"`
	Email        string `json:"email"`
	SignedAt     *int64 `json:"signedAt,omitempty"` // once signed [ours]
	IP           string `json:"ip,omitempty"`       // once signed [ours]
}

type statusLogJSON struct {
	NIN    string `json:"nin"`
	Status string `json:"status"`
	LUT    int64  `json:"lut"`
}

type signatureJSON struct {
	NIN            string `json:"nin"`
	Name           string `json:"name"`
	Representing   string `json:"representing"`
	IAT            int64  `json:"iat"`
	Identification string `json:"identification"`
	Signature      string `json:"signature"`
}

// docJSON is the document object. Which keys appear depends on the answer
// (see createJSON, refreshJSON, flowDocJSON); the field order follows the
// documents' examples.
type docJSON struct {
	// Only in ping, polling and SSE. [ours]
	Reference string `json:"reference,omitempty"`

	ID          string           `json:"id"`
	To          []string         `json:"to"`
	Destination string           `json:"destination"`
	Domain      string           `json:"domain,omitempty"`
	IAT         *int64           `json:"iat,omitempty"`
	EXP         *int64           `json:"exp,omitempty"`
	LUT         *int64           `json:"lut,omitempty"`
	Handled     bool             `json:"handled"`
	Mode        string           `json:"mode,omitempty"`
	File        fileJSON         `json:"file"`
	Hook        *hookJSON        `json:"hook,omitempty"`
	Signee      []signeeJSON     `json:"signee,omitempty"`
	StatusLog   []statusLogJSON  `json:"statusLog,omitempty"`
	Signatures  *[]signatureJSON `json:"signatures,omitempty"`
	Request     *requestMetaJSON `json:"request,omitempty"`

	// Only in ping, polling and SSE. [ours]
	Cancelled *bool  `json:"cancelled,omitempty"`
	Onsession *bool  `json:"onsession,omitempty"`
	Signature string `json:"signature,omitempty"` // once completed
	SignedAt  *int64 `json:"signedAt,omitempty"`  // once completed
}

func unix(t int64) *int64 { return &t }

func ptr[T any](v T) *T { return &v }

// destination is where the flow is completed: "mobile" in every example.
const destination = "mobile"

// domain is "test" for a sandbox (NOTES.md: test|live). [ours]
const domain = "test"

func (d *document) signeesJSON() []signeeJSON {
	out := make([]signeeJSON, 0, len(d.Signees))
	for _, sg := range d.Signees {
		v := signeeJSON{Title: sg.Title, Name: sg.Name, NIN: sg.NIN, Representing: sg.Repr, Type: sg.Type, Email: sg.Email}
		if sg.Status == StatusSigned {
			v.SignedAt = unix(sg.SignedAt.Unix())
			v.IP = sg.SignIP
		}
		out = append(out, v)
	}
	return out
}

func (d *document) statusLogJSON() []statusLogJSON {
	out := make([]statusLogJSON, 0, len(d.Signees))
	for _, sg := range d.Signees {
		out = append(out, statusLogJSON{NIN: sg.NIN, Status: sg.Status, LUT: sg.LUT.Unix()})
	}
	return out
}

// signaturesJSON lists the signatures of those who have signed so far
// (everyone, once completed); an empty array before. [ours]
func (d *document) signaturesJSON() *[]signatureJSON {
	out := make([]signatureJSON, 0, len(d.Signees))
	for _, sg := range d.Signees {
		if sg.Status != StatusSigned {
			continue
		}
		out = append(out, signatureJSON{
			NIN: sg.NIN, Name: sg.Name, Representing: sg.Repr, IAT: sg.SignedAt.Unix(),
			Identification: sg.Identification, Signature: sg.Signature,
		})
	}
	return &out
}

// createJSON is data.request of a create answer, with exactly the keys of
// the document's example for the endpoint: a review answer adds mode,
// signee and statusLog to the signing answer's keys.
func (d *document) createJSON() docJSON {
	v := docJSON{
		ID: d.ID, To: d.To, Destination: destination,
		IAT: unix(d.IAT.Unix()), EXP: unix(d.EXP.Unix()), LUT: unix(d.LUT.Unix()),
		Handled: d.handled(),
		File:    fileJSON{Source: d.Source, Name: d.Title},
		Hook:    &hookJSON{Host: d.HookHost, Reference: d.HookRef},
		Request: &requestMetaJSON{Client: maskedClient, App: maskedApp, IP: d.IP},
	}
	if d.Mode == ModeInterface {
		v.Mode = d.Mode
		v.Signee = d.signeesJSON()
		v.StatusLog = d.statusLogJSON()
	}
	return v
}

// refreshJSON is data.doc of a refresh answer, with the keys of the
// document's refresh example (file.stamped and signee[].signedAt/ip only
// once they exist). It is also the webhook payload. [ours for the webhook]
func (d *document) refreshJSON() docJSON {
	return docJSON{
		ID: d.ID, To: d.To, Destination: destination, Domain: domain, Mode: d.Mode,
		Handled:    d.handled(),
		File:       fileJSON{Source: d.Source, Name: d.Title, Stamped: d.stamped()},
		StatusLog:  d.statusLogJSON(),
		Signee:     d.signeesJSON(),
		Signatures: d.signaturesJSON(),
		Hook:       &hookJSON{Host: d.HookHost, Reference: d.HookRef},
	}
}

// flowDocJSON is data.request of ping, polling and SSE, and data.model of
// cancel, for a document id: the refresh object plus reference, iat, exp,
// lut, cancelled, onsession and, once completed, signature and signedAt.
// [ours]
func (d *document) flowDocJSON() docJSON {
	v := d.refreshJSON()
	v.Reference = d.ID
	v.IAT, v.EXP, v.LUT = unix(d.IAT.Unix()), unix(d.EXP.Unix()), unix(d.LUT.Unix())
	v.Cancelled = ptr(d.State == StateCancelled)
	v.Onsession = ptr(slices.ContainsFunc(d.Signees, func(sg *signee) bool { return sg.Status != StatusStale }))
	if d.State == StateCompleted {
		v.Signature = d.Seal
		v.SignedAt = unix(d.CompletedAt.Unix())
	}
	return v
}

// final reports whether a flow view will not change any more: "cancelled
// is true or signature is present" (pasby-flow.txt).
func (d *document) final() bool { return d.State == StateCancelled || d.State == StateCompleted }

// flowJSON is a signature flow request as NOTES.md describes ping's
// data.request. [ours for data and requester]
type flowJSON struct {
	Reference string       `json:"reference"`
	Requester string       `json:"requester"`
	Requestee string       `json:"requestee"` // the NIN, "" until picked up
	Mode      string       `json:"mode"`      // "signature"
	Data      flowDataJSON `json:"data"`
	Cancelled bool         `json:"cancelled"`
	Onsession bool         `json:"onsession"`
	IAT       int64        `json:"iat"`
	Signature string       `json:"signature,omitempty"`
	SignedAt  *int64       `json:"signedAt,omitempty"`
}

// flowDataJSON is what a signature flow asks for: which document. [ours]
type flowDataJSON struct {
	Document string `json:"document"`
	Title    string `json:"title"`
}

func (sg *signee) flowJSON() flowJSON {
	v := flowJSON{
		Reference: sg.FlowID,
		Requester: maskedApp,
		Mode:      "signature",
		Data:      flowDataJSON{Document: sg.doc.ID, Title: sg.doc.Title},
		Cancelled: sg.doc.State == StateCancelled,
		Onsession: sg.Status != StatusStale,
		IAT:       sg.FlowAt.Unix(),
	}
	if sg.Status != StatusStale {
		v.Requestee = sg.NIN
	}
	if sg.Status == StatusSigned {
		v.Signature = sg.Signature
		v.SignedAt = unix(sg.SignedAt.Unix())
	}
	return v
}

func (sg *signee) final() bool { return sg.doc.State == StateCancelled || sg.Status == StatusSigned }
