package pasby

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"portal/services/upstream"
)

// Wire types, written from pasby-documents.txt, pasby-flow.txt and the
// pasby section of NOTES.md. Timestamps (iat, exp, lut, signedAt) are Unix
// seconds as pasby sends them.

// ---- requests -------------------------------------------------------------

// SigningRequest is the body of POST /api/{v}/document/signing: sign a file
// for one or more NINs (every field required).
type SigningRequest struct {
	To      []string  `json:"to"` // recipient NINs, at least one
	Webhook Webhook   `json:"webhook"`
	File    FileInput `json:"file"`
}

// ReviewRequest is the body of POST /api/{v}/document/review: a hosted
// review flow with structured signees (every field required but
// Signee[].Title).
type ReviewRequest struct {
	Signees []ReviewSignee `json:"signee"` // at least one
	Webhook Webhook        `json:"webhook"`
	File    FileInput      `json:"file"`
}

// ReviewSignee is one signer of a review flow.
type ReviewSignee struct {
	Name         string `json:"name"`
	Type         string `json:"type"` // SigneeBusiness or SigneePerson
	Email        string `json:"email"`
	NIN          string `json:"nin"`
	Representing string `json:"representing"`
	Title        string `json:"title,omitempty"` // optional
}

// Signee types.
const (
	SigneeBusiness = "business"
	SigneePerson   = "person"
)

// Webhook is where pasby POSTs progress, and our correlation id. pasby
// echoes it as the document's "hook".
type Webhook struct {
	Host      string `json:"host"`      // our HTTPS callback URL
	Reference string `json:"reference"` // our correlation id
}

// FileInput is the document to sign: a direct, publicly reachable URL and
// its display title.
type FileInput struct {
	URL   string `json:"url"`
	Title string `json:"title"`
}

// flowBody is {"request": "<flow-id>"} for ping, cancel and polling.
type flowBody struct {
	Request string `json:"request"`
}

// refreshBody is {"flow": "<doc id>"}.
type refreshBody struct {
	Flow string `json:"flow"`
}

// ---- responses ------------------------------------------------------------

// Document is pasby's document object (data.request on signing and review,
// data.doc on refresh).
type Document struct {
	ID          string         `json:"id"`                   // "doc_…"; the flow id for refresh and ping
	To          []string       `json:"to"`                   // recipient NINs
	Destination string         `json:"destination"`          // where the flow is completed, e.g. "mobile"
	Domain      string         `json:"domain,omitempty"`     // "test" | "live" (refresh)
	Mode        string         `json:"mode,omitempty"`       // "interface" (review, hosted UI) | "api"
	Handled     bool           `json:"handled"`              // whether the request has been handled
	IAT         int64          `json:"iat,omitempty"`        // created
	Exp         int64          `json:"exp,omitempty"`        // expires
	LUT         int64          `json:"lut,omitempty"`        // last update
	File        DocumentFile   `json:"file"`                 // source, name, stamped
	Hook        Webhook        `json:"hook"`                 // echo of our webhook
	Signees     []Signee       `json:"signee,omitempty"`     // review / refresh
	StatusLog   []StatusEntry  `json:"statusLog,omitempty"`  // per-NIN status
	Signatures  []Signature    `json:"signatures,omitempty"` // on a completed refresh
	Request     RequestContext `json:"request"`              // who created it
	UserAgent   string         `json:"useragent,omitempty"`  // [sdk] user agent of the creator
}

// DocumentFile is the document's file: the URL we supplied, its title, and
// the signed/stamped PDF once completed.
type DocumentFile struct {
	Source  string `json:"source"`
	Name    string `json:"name"`
	Stamped string `json:"stamped,omitempty"`
}

// Signee is a signer as pasby reports it (review and refresh).
type Signee struct {
	Name         string `json:"name"`
	Type         string `json:"type"`
	Email        string `json:"email"`
	NIN          string `json:"nin"`
	Representing string `json:"representing"`
	Title        string `json:"title,omitempty"`
	SignedAt     int64  `json:"signedAt,omitempty"` // 0 until signed
	IP           string `json:"ip,omitempty"`
}

// StatusEntry is one NIN's progress on a document.
type StatusEntry struct {
	NIN    string `json:"nin"`
	Status string `json:"status"` // StatusStale | StatusViewing | StatusSigned
	LUT    int64  `json:"lut"`
}

// Per-NIN document statuses (statusLog[].status).
const (
	StatusStale   = "stale"
	StatusViewing = "viewing"
	StatusSigned  = "signed"
)

// Signature is one signer's cryptographic signature on a completed document.
type Signature struct {
	NIN            string `json:"nin"`
	Name           string `json:"name"`
	Representing   string `json:"representing"`
	IAT            int64  `json:"iat"`
	Identification string `json:"identification"`
	Signature      string `json:"signature"` // base64
}

// RequestContext is the document's "request": the client, app and IP that
// created it (masked by pasby).
type RequestContext struct {
	Client string `json:"client"`
	App    string `json:"app"`
	IP     string `json:"ip"`
}

// Completed reports whether the document is done: a stamped file exists,
// or every NIN in statusLog has signed.
func (d Document) Completed() bool {
	if d.File.Stamped != "" {
		return true
	}
	if len(d.StatusLog) == 0 {
		return false
	}
	for _, s := range d.StatusLog {
		if s.Status != StatusSigned {
			return false
		}
	}
	return true
}

// DocumentResponse is the answer of Signing, Review and Refresh.
type DocumentResponse struct {
	Document Document        // data.request (signing, review) or data.doc (refresh)
	Link     string          // data.link: the hosted signing UI (review only)
	Reason   string          // the envelope's reason, e.g. "Signature request propagated"
	Version  string          // the envelope's version, e.g. "v2"
	Raw      json.RawMessage // the whole data object, kept for the record
}

// FlowRequest is a flow as ping, polling and SSE report it (data.request).
// Field types are not published beyond the SDK's; decoding is lenient where
// the documents are silent (see UnmarshalJSON).
type FlowRequest struct {
	Reference string          // the flow id
	Requester string          // who asked
	Requestee string          // the NIN; empty until a device picked the flow up
	Mode      string          // "identification" | "signature"
	Data      string          // the flow's payload
	Cancelled bool            // terminal
	OnSession bool            // a device picked it up
	IAT       int64           // created
	Claims    json.RawMessage // identification: leaf values RSA-encrypted with the app's key; nil when absent
	Signature string          // set once signed (terminal)
	SignedAt  int64           // set once signed
}

// Signed reports whether the flow carries a signature.
func (r FlowRequest) Signed() bool { return r.Signature != "" }

// FlowState is one observation of a flow: the answer of Ping and Polling,
// and each event of SSE.
type FlowState struct {
	Request  FlowRequest // data.request
	Username string      // data.username: only for "confirm" actions
	// Document is set when data.request is a document object (a doc_ id
	// pinged, or a document's SSE event): it has a "doc_" id, a file, a
	// statusLog or signees.
	Document *Document
	Reason   string          // the envelope's reason, when there was an envelope
	Version  string          // the envelope's version, when there was an envelope
	Raw      json.RawMessage // the data object as received
}

// Final reports whether the flow will not change any more: cancelled,
// signed, or a completed document.
func (s FlowState) Final() bool {
	return s.Request.Cancelled || s.Request.Signed() || (s.Document != nil && s.Document.Completed())
}

// CancelResponse is the answer of Cancel: 201 with data.model, the flow.
type CancelResponse struct {
	Model   FlowModel // data.model
	Reason  string
	Version string
	Raw     json.RawMessage // the whole data object
}

// FlowModel is the flow record returned by cancel ([sdk] fields; all but id
// optional).
type FlowModel struct {
	ID            string   `json:"id"`
	Consumer      string   `json:"consumer,omitempty"`
	App           string   `json:"app,omitempty"`
	Mode          string   `json:"mode,omitempty"`
	Action        string   `json:"action,omitempty"`
	Payload       string   `json:"payload,omitempty"`
	IAT           int64    `json:"iat,omitempty"`
	Exp           int64    `json:"exp,omitempty"`
	User          string   `json:"user,omitempty"`
	IP            string   `json:"ip,omitempty"`
	UserAgent     string   `json:"useragent,omitempty"`
	Name          string   `json:"name,omitempty"`
	AcquireClaims []string `json:"acquireClaims,omitempty"`
}

// ---- envelope -------------------------------------------------------------

// envelope is {"status","reason","data","version"} (+ "type" on errors).
type envelope struct {
	Status  string
	Reason  string
	Type    string
	Version string
	Data    json.RawMessage // an object when Status is "successful"
}

type rawEnvelope struct {
	Status  json.RawMessage `json:"status"`
	Reason  json.RawMessage `json:"reason"`
	Message json.RawMessage `json:"message"`
	Type    json.RawMessage `json:"type"`
	Data    json.RawMessage `json:"data"`
	Version json.RawMessage `json:"version"`
}

// decodeEnvelope reads a whole answer. A body that is not the envelope, or a
// successful one without a data object, is a *upstream.MalformedError; a status other
// than "successful" is classified into a typed error (see classify) with
// httpStatus.
func decodeEnvelope(httpStatus int, body []byte) (envelope, error) {
	var raw rawEnvelope
	if err := upstream.DecodeStrict(body, &raw); err != nil {
		return envelope{}, upstream.Malformed(err)
	}
	env := envelope{
		Status:  upstream.JSONText(raw.Status),
		Reason:  upstream.CleanMessage(upstream.JSONText(raw.Reason)),
		Type:    upstream.JSONText(raw.Type),
		Version: upstream.CleanMessage(upstream.JSONText(raw.Version)),
	}
	if env.Reason == "" {
		env.Reason = upstream.CleanMessage(upstream.JSONText(raw.Message))
	}
	if env.Status == "" {
		return envelope{}, upstream.Malformedf(`no "status" field`)
	}
	if !isSuccessful(env.Status) {
		return env, classify(httpStatus, upstream.CleanMessage(env.Status), env.Reason, upstream.CleanMessage(env.Type))
	}
	data := bytes.TrimSpace(raw.Data)
	if len(data) == 0 || data[0] != '{' {
		return envelope{}, upstream.Malformedf(`"data" is not an object`)
	}
	env.Data = data
	return env, nil
}

func isSuccessful(status string) bool {
	return strings.EqualFold(strings.TrimSpace(status), "successful")
}

// ---- decoders -------------------------------------------------------------

// decodeDocumentResponse decodes the answer of signing / review (key
// "request") or refresh (key "doc").
func decodeDocumentResponse(httpStatus int, body []byte, key string) (DocumentResponse, error) {
	env, err := decodeEnvelope(httpStatus, body)
	if err != nil {
		return DocumentResponse{}, err
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(env.Data, &data); err != nil {
		return DocumentResponse{}, upstream.Malformed(err)
	}
	docRaw, ok := data[key]
	if !ok || !isObject(docRaw) {
		return DocumentResponse{}, upstream.Malformedf("data.%s is not an object", key)
	}
	var doc Document
	if err := json.Unmarshal(docRaw, &doc); err != nil {
		return DocumentResponse{}, upstream.Malformed(prefixField("data."+key, err))
	}
	if doc.ID == "" {
		return DocumentResponse{}, upstream.Malformedf("data.%s has no id", key)
	}
	var link string
	if l, ok := data["link"]; ok && string(bytes.TrimSpace(l)) != "null" {
		if err := json.Unmarshal(l, &link); err != nil {
			return DocumentResponse{}, upstream.Malformedf("data.link is not a string")
		}
	}
	return DocumentResponse{Document: doc, Link: link, Reason: env.Reason, Version: env.Version, Raw: env.Data}, nil
}

// decodeCancel decodes the answer of cancel.
func decodeCancel(httpStatus int, body []byte) (CancelResponse, error) {
	env, err := decodeEnvelope(httpStatus, body)
	if err != nil {
		return CancelResponse{}, err
	}
	var data struct {
		Model json.RawMessage `json:"model"`
	}
	if err := json.Unmarshal(env.Data, &data); err != nil {
		return CancelResponse{}, upstream.Malformed(err)
	}
	var m FlowModel
	if isObject(data.Model) {
		// A flow model; a document id may come back as a document, whose
		// fields this does not hold: Raw has everything.
		if err := json.Unmarshal(data.Model, &m); err != nil {
			return CancelResponse{}, upstream.Malformed(prefixField("data.model", err))
		}
	}
	return CancelResponse{Model: m, Reason: env.Reason, Version: env.Version, Raw: env.Data}, nil
}

// decodeFlowResponse decodes the answer of ping or polling for flow id.
func decodeFlowResponse(httpStatus int, body []byte, id string) (FlowState, error) {
	env, err := decodeEnvelope(httpStatus, body)
	if err != nil {
		return FlowState{}, err
	}
	st, err := decodeFlowData(env.Data, id)
	if err != nil {
		return FlowState{}, err
	}
	st.Reason, st.Version = env.Reason, env.Version
	return st, nil
}

// decodeFlowData decodes a data object {"request": {...}, "username": ...}
// about flow id. A request without "reference" takes its "id", else id.
func decodeFlowData(data json.RawMessage, id string) (FlowState, error) {
	var d struct {
		Request  json.RawMessage `json:"request"`
		Username json.RawMessage `json:"username"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return FlowState{}, upstream.Malformed(err)
	}
	if !isObject(d.Request) {
		return FlowState{}, upstream.Malformedf("data.request is not an object")
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(d.Request, &keys); err != nil {
		return FlowState{}, upstream.Malformed(err)
	}
	st := FlowState{Username: upstream.CleanMessage(upstream.JSONText(d.Username)), Raw: data}
	if err := json.Unmarshal(d.Request, &st.Request); err != nil {
		return FlowState{}, upstream.Malformed(prefixField("data.request", err))
	}
	if looksLikeDocument(keys) {
		var doc Document
		if err := json.Unmarshal(d.Request, &doc); err != nil {
			return FlowState{}, upstream.Malformed(prefixField("data.request", err))
		}
		st.Document = &doc
	}
	if st.Request.Reference == "" {
		if s, err := looseString("id", keys["id"]); err == nil && s != "" {
			st.Request.Reference = s
		} else {
			st.Request.Reference = id
		}
	}
	return st, nil
}

// looksLikeDocument: a doc_ id, or any of the document-only keys.
func looksLikeDocument(m map[string]json.RawMessage) bool {
	if strings.HasPrefix(upstream.JSONText(m["id"]), "doc_") {
		return true
	}
	for _, k := range []string{"file", "statusLog", "signee", "signatures"} {
		if _, ok := m[k]; ok {
			return true
		}
	}
	return false
}

func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

func prefixField(prefix string, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		cp := *te
		cp.Field = prefix + "." + te.Field
		return &cp
	}
	return err
}

// UnmarshalJSON decodes a flow request leniently: the documents give no
// types, the SDK says strings, booleans and numbers. A string field that
// comes as another JSON value keeps that value's text; a boolean is
// JavaScript-truthy; a timestamp may be a number or a numeric string. An
// object or array where a scalar is expected, or a number that is not a
// whole Unix time, is an error.
func (r *FlowRequest) UnmarshalJSON(b []byte) error {
	var w struct {
		Reference json.RawMessage `json:"reference"`
		Requester json.RawMessage `json:"requester"`
		Requestee json.RawMessage `json:"requestee"`
		Mode      json.RawMessage `json:"mode"`
		Data      json.RawMessage `json:"data"`
		Cancelled json.RawMessage `json:"cancelled"`
		OnSession json.RawMessage `json:"onsession"`
		IAT       json.RawMessage `json:"iat"`
		Claims    json.RawMessage `json:"claims"`
		Signature json.RawMessage `json:"signature"`
		SignedAt  json.RawMessage `json:"signedAt"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	var out FlowRequest
	var err error
	str := func(name string, raw json.RawMessage, dst *string) {
		if err == nil {
			*dst, err = looseString(name, raw)
		}
	}
	str("reference", w.Reference, &out.Reference)
	str("requester", w.Requester, &out.Requester)
	str("requestee", w.Requestee, &out.Requestee)
	str("mode", w.Mode, &out.Mode)
	str("data", w.Data, &out.Data)
	str("signature", w.Signature, &out.Signature)
	if err != nil {
		return err
	}
	out.Cancelled = truthy(w.Cancelled)
	out.OnSession = truthy(w.OnSession)
	if out.IAT, err = looseUnix("iat", w.IAT); err != nil {
		return err
	}
	if out.SignedAt, err = looseUnix("signedAt", w.SignedAt); err != nil {
		return err
	}
	if c := bytes.TrimSpace(w.Claims); len(c) > 0 && string(c) != "null" {
		out.Claims = append(json.RawMessage(nil), c...)
	}
	// A signature that is JSON-falsy ("", false, 0, null) is no signature.
	if !truthy(w.Signature) {
		out.Signature = ""
	}
	*r = out
	return nil
}

// looseString: a string, or the compact text of a number, boolean or
// object/array (a signature could be an object); null and absent are "".
func looseString(name string, raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return s, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return "", err
	}
	if buf.Len() > 1<<16 {
		return "", fmt.Errorf("%s: value too large", name)
	}
	return buf.String(), nil
}

// truthy is JavaScript truthiness of a JSON value; absent is false.
func truthy(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return false
	}
	switch raw[0] {
	case 'n', 'f':
		return false
	case 't', '{', '[':
		return true
	case '"':
		var s string
		return json.Unmarshal(raw, &s) == nil && s != ""
	default:
		f, err := strconv.ParseFloat(string(raw), 64)
		return err == nil && f != 0 && !math.IsNaN(f)
	}
}

// looseUnix reads a Unix time given as a JSON number or numeric string.
func looseUnix(name string, raw json.RawMessage) (int64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	s := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
		if s == "" {
			return 0, nil
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, fmt.Errorf("%s is not a Unix time: %.30q", name, s)
	}
	return int64(f), nil
}

// decodeToken reads data.token of an authorize answer.
func decodeToken(httpStatus int, body []byte) (string, error) {
	env, err := decodeEnvelope(httpStatus, body)
	if err != nil {
		return "", err
	}
	var d struct {
		Token json.RawMessage `json:"token"`
	}
	if err := json.Unmarshal(env.Data, &d); err != nil {
		return "", upstream.Malformed(err)
	}
	var tok string
	if err := json.Unmarshal(d.Token, &tok); err != nil || strings.TrimSpace(tok) == "" {
		return "", upstream.Malformedf("data.token is not a non-empty string")
	}
	if strings.ContainsAny(tok, "\r\n\x00") || len(tok) > 16<<10 {
		return "", upstream.Malformedf("data.token is not usable as a header value")
	}
	return tok, nil
}

// jwtExpiry reads the exp claim of a JWT without verifying it (pasby signs
// the token for itself; we only want to know when to renew it). No claim
// gives the zero time: the token is used until pasby refuses it.
func jwtExpiry(tok string) (time.Time, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || len(parts[1]) > 8<<10 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp == "" {
		return time.Time{}, false
	}
	exp, err := claims.Exp.Int64()
	if err != nil || exp <= 0 || exp > 1<<40 {
		return time.Time{}, false
	}
	return time.Unix(exp, 0), true
}
