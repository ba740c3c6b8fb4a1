package oneflowsim

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// maxBody bounds request bodies. [ours]
const maxBody = 64 << 10

// maxAmount is the largest recharge accepted. The document gives no limit;
// this one only keeps absurd numbers out of the arithmetic. [ours]
var maxAmount = decimal.NewFromInt(1_000_000)

// --- wire types, in the document's field order ---

// envelope wraps every answer except the token's, errors included. Errors
// have Success false, a message and Data nil (null). [ours for errors]
type envelope struct {
	Success   bool   `json:"success"`
	Timestamp int64  `json:"timestamp"` // unix milliseconds, as in the document
	Message   string `json:"message"`
	Data      any    `json:"data"`
}

// tokenResponse is the document's token answer, which is not enveloped.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

type customerJSON struct {
	Name        string `json:"name"`
	PhoneNumber string `json:"phoneNumber"`
}

// lookupJSON is the lookup answer's data, as NOTES.md has it. [ours]
type lookupJSON struct {
	Customer customerJSON `json:"customer"`
	Devices  []deviceJSON `json:"devices"`
}

type deviceJSON struct {
	SerialNumber string `json:"serialNumber"`
	DeviceType   string `json:"deviceType"`
	Balance      number `json:"balance"`
}

// rechargeJSON is the recharge (202) and verify answers' data. PENDING has
// the 202 example's fields; COMPLETED adds the verify example's currency,
// litres, pricePerLitre, balance and completedAt; FAILED adds only
// failureReason. [ours for FAILED]
type rechargeJSON struct {
	ID            string       `json:"id"`
	SerialNumber  string       `json:"serialNumber"`
	DeviceType    string       `json:"deviceType"`
	Status        string       `json:"status"`
	Amount        number       `json:"amount"`
	Currency      string       `json:"currency,omitempty"`
	Litres        *number      `json:"litres,omitempty"`
	PricePerLitre *number      `json:"pricePerLitre,omitempty"`
	Balance       *number      `json:"balance,omitempty"`
	CreatedAt     string       `json:"createdAt"`
	CompletedAt   string       `json:"completedAt,omitempty"`
	FailureReason string       `json:"failureReason,omitempty"` // [ours]
	Customer      customerJSON `json:"customer"`
}

// number writes a decimal as a bare JSON number in its shortest exact form,
// the way the document shows amounts: 100.5, 5, 150052.
type number struct{ d decimal.Decimal }

func (n number) MarshalJSON() ([]byte, error) { return []byte(n.d.String()), nil }

func num(d decimal.Decimal) *number { return &number{d} }

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func (rc *recharge) toJSON() rechargeJSON {
	v := rechargeJSON{
		ID:           rc.id,
		SerialNumber: rc.dev.id,
		DeviceType:   rc.dev.typ,
		Status:       rc.status,
		Amount:       number{rc.amount},
		CreatedAt:    formatTime(rc.createdAt),
		Customer:     customerJSON{rc.dev.owner.name, rc.dev.owner.phone},
	}
	switch rc.status {
	case StatusCompleted:
		c := rc.dev.owner.country
		v.Currency = c.currency
		v.Litres = num(rc.litres)
		v.PricePerLitre = num(c.pricePerLitre)
		v.Balance = num(rc.balance)
		v.CompletedAt = formatTime(rc.settledAt)
	case StatusFailed:
		v.FailureReason = rc.reason
	}
	return v
}

func (cu *customer) toLookupJSON() lookupJSON {
	v := lookupJSON{
		Customer: customerJSON{cu.name, cu.phone},
		Devices:  make([]deviceJSON, 0, len(cu.devices)),
	}
	for _, d := range cu.devices {
		v.Devices = append(v.Devices, deviceJSON{d.id, d.typ, number{d.balance}})
	}
	return v
}

// --- answers ---

// apiError is a failed request: an HTTP status and the envelope's message.
type apiError struct {
	status int
	msg    string
}

func badRequest(msg string) *apiError { return &apiError{http.StatusBadRequest, msg} }
func notFound(msg string) *apiError   { return &apiError{http.StatusNotFound, msg} }

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // cannot happen with this package's types
		http.Error(w, `{"success":false,"message":"oneflowsim: cannot encode the answer","data":null}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (s *Sim) writeOK(w http.ResponseWriter, status int, data any) {
	writeJSON(w, status, envelope{Success: true, Timestamp: s.now().UnixMilli(), Message: "success", Data: data})
}

// writeError answers the envelope with success false and data null. [ours]
func (s *Sim) writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, envelope{Success: false, Timestamp: s.now().UnixMilli(), Message: e.msg, Data: nil})
}

// --- authentication ---

// handleToken is POST /v1/access/partners/token: HTTP Basic client id and
// secret in, a Bearer token out. The body is ignored (the document's Node
// example posts {}, its curl example nothing).
func (s *Sim) handleToken(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="1flow"`)
		s.writeError(w, &apiError{http.StatusUnauthorized, "missing client credentials: send your client id and secret with HTTP Basic authentication"}) // [ours]
		return
	}
	idOK := subtle.ConstantTimeCompare([]byte(id), []byte(s.clientID))
	secretOK := subtle.ConstantTimeCompare([]byte(secret), []byte(s.clientSecret))
	if idOK&secretOK != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="1flow"`)
		s.writeError(w, &apiError{http.StatusUnauthorized, "invalid client credentials"}) // [ours]
		return
	}
	// An opaque random token: the document's example looks like a JWT, but
	// a client must not read anything into it. [ours]
	tok := rand.Text()
	now := s.now()
	s.mu.Lock()
	for t, exp := range s.tokens { // forget expired tokens so the map stays small
		if !now.Before(exp) {
			delete(s.tokens, t)
		}
	}
	s.tokens[tok] = now.Add(s.tokenTTL)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, tokenResponse{AccessToken: tok, TokenType: "Bearer", ExpiresIn: s.expiresIn()})
}

// authed lets a request through only with a valid, unexpired Bearer token;
// anything else gets a 401 envelope. [ours for the answer]
func (s *Sim) authed(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if msg := s.checkBearer(r); msg != "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="1flow", error="invalid_token"`)
			s.writeError(w, &apiError{http.StatusUnauthorized, msg})
			return
		}
		next(w, r)
	}
}

// checkBearer returns "" for a valid token, else why it is refused.
func (s *Sim) checkBearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "missing access token: send Authorization: Bearer <access_token>"
	}
	scheme, tok, _ := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "the Authorization header must be Bearer <access_token>"
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.tokens[tok]
	switch {
	case !ok:
		return "invalid access token"
	case !now.Before(exp):
		delete(s.tokens, tok)
		return "access token expired"
	}
	return ""
}

// --- request bodies ---

// readObject reads a body that must be exactly one JSON object. [ours for
// every rejection]
func readObject(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, *apiError) {
	body := http.MaxBytesReader(w, r.Body, maxBody)
	dec := json.NewDecoder(body)
	var m map[string]json.RawMessage
	err := dec.Decode(&m)
	if err == nil {
		if m == nil {
			return nil, badRequest("the request body must be a JSON object, not null")
		}
		_, err = dec.Token()
		switch {
		case errors.Is(err, io.EOF):
			return m, nil
		case err == nil:
			return nil, badRequest("the request body must hold one JSON object and nothing after it")
		}
		// A syntax error or an oversized body after the object: below.
	}
	var (
		tooBig *http.MaxBytesError
		syn    *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooBig):
		return nil, &apiError{http.StatusRequestEntityTooLarge, "the request body is larger than 64 KiB"}
	case errors.Is(err, io.EOF):
		return nil, badRequest("the request body is empty: send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, badRequest("the request body is not valid JSON: it ends too early")
	case errors.As(err, &syn):
		return nil, badRequest("the request body is not valid JSON: " + clip(syn.Error(), 120))
	case errors.As(err, &typ):
		return nil, badRequest("the request body must be a JSON object")
	default:
		return nil, badRequest("the request body could not be read")
	}
}

// stringField returns m[key] as a string; a missing key, null and "" all
// mean "not given". [ours]
func stringField(m map[string]json.RawMessage, key string) (string, *apiError) {
	raw := bytes.TrimSpace(m[key])
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", badRequest(key + " must be a string")
	}
	return v, nil
}

// amountField returns m["amount"], which must be a JSON number (as the
// document shows, not a string), greater than 0, with at most 2 decimals,
// and at most maxAmount. [ours for the limits]
func amountField(m map[string]json.RawMessage) (decimal.Decimal, *apiError) {
	raw := bytes.TrimSpace(m["amount"])
	if len(raw) == 0 || string(raw) == "null" {
		return decimal.Decimal{}, badRequest("amount is required")
	}
	if c := raw[0]; c != '-' && (c < '0' || c > '9') {
		return decimal.Decimal{}, badRequest("amount must be a JSON number, like 100.5")
	}
	// Bound the digits and the exponent before any arithmetic: 1e999999999
	// is a valid JSON number that would take forever to rescale. raw is a
	// valid JSON number here (the decoder checked the syntax), so a parse
	// error can only mean an exponent out of range. [ours]
	if len(raw) > 40 {
		return decimal.Decimal{}, badRequest("amount is out of range")
	}
	d, err := decimal.NewFromString(string(raw))
	if err != nil || d.Exponent() < -40 || d.Exponent() > 40 {
		return decimal.Decimal{}, badRequest("amount is out of range")
	}
	switch {
	case d.Sign() <= 0:
		return decimal.Decimal{}, badRequest("amount must be greater than 0")
	case d.GreaterThan(maxAmount):
		return decimal.Decimal{}, badRequest("amount must be at most " + maxAmount.String())
	case !d.Equal(d.Round(2)):
		return decimal.Decimal{}, badRequest("amount must have at most 2 decimal places")
	}
	return d, nil
}

// --- endpoints ---

// handleLookup is POST /v1/access/partners/lookup with phoneNumber or
// deviceId.
func (s *Sim) handleLookup(w http.ResponseWriter, r *http.Request) {
	data, e := s.lookup(w, r)
	if e != nil {
		s.writeError(w, e)
		return
	}
	s.writeOK(w, http.StatusOK, data)
}

func (s *Sim) lookup(w http.ResponseWriter, r *http.Request) (lookupJSON, *apiError) {
	m, e := readObject(w, r)
	if e != nil {
		return lookupJSON{}, e
	}
	phone, e := stringField(m, "phoneNumber")
	if e != nil {
		return lookupJSON{}, e
	}
	deviceID, e := stringField(m, "deviceId")
	if e != nil {
		return lookupJSON{}, e
	}
	switch {
	case phone == "" && deviceID == "":
		return lookupJSON{}, badRequest("send phoneNumber or deviceId") // [ours]
	case phone != "" && deviceID != "":
		return lookupJSON{}, badRequest("send phoneNumber or deviceId, not both") // [ours]
	case phone != "" && !e164.MatchString(phone):
		// Only the document's E.164 form is accepted; normalising other
		// forms is the caller's job. [ours]
		return lookupJSON{}, badRequest("phoneNumber must be in E.164 format, like +254712345678")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleDueLocked(s.now()) // balances must include recharges that are due
	var cu *customer
	if phone != "" {
		cu = s.customers[phone]
		if cu == nil {
			return lookupJSON{}, notFound("customer not found") // [ours]
		}
	} else {
		// deviceId finds the owner of a device or of a card. [ours]
		d := s.devices[deviceID]
		if d == nil {
			return lookupJSON{}, notFound("device not found") // [ours]
		}
		cu = d.owner
	}
	return cu.toLookupJSON(), nil
}

// handleRecharge is POST /v1/access/partners/recharge with deviceId or
// cardId and amount. It answers 202 with the recharge PENDING.
func (s *Sim) handleRecharge(w http.ResponseWriter, r *http.Request) {
	data, e := s.recharge(w, r)
	if e != nil {
		s.writeError(w, e)
		return
	}
	s.writeOK(w, http.StatusAccepted, data)
}

func (s *Sim) recharge(w http.ResponseWriter, r *http.Request) (rechargeJSON, *apiError) {
	m, e := readObject(w, r)
	if e != nil {
		return rechargeJSON{}, e
	}
	deviceID, e := stringField(m, "deviceId")
	if e != nil {
		return rechargeJSON{}, e
	}
	cardID, e := stringField(m, "cardId")
	if e != nil {
		return rechargeJSON{}, e
	}
	switch {
	case deviceID == "" && cardID == "":
		return rechargeJSON{}, badRequest("send deviceId or cardId") // [ours]
	case deviceID != "" && cardID != "":
		return rechargeJSON{}, badRequest("send deviceId or cardId, not both") // [ours]
	}
	amount, e := amountField(m)
	if e != nil {
		return rechargeJSON{}, e
	}

	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleDueLocked(now)
	// Device serials and card ids are separate: a card sent as deviceId
	// (or the reverse) is not found, with a hint. [ours]
	var d *device
	if deviceID != "" {
		d = s.devices[deviceID]
		switch {
		case d == nil:
			return rechargeJSON{}, notFound("device not found")
		case d.typ != DeviceTypeDevice:
			return rechargeJSON{}, notFound("device not found: " + clip(deviceID, 40) + " is a card, send it as cardId")
		}
	} else {
		d = s.devices[cardID]
		switch {
		case d == nil:
			return rechargeJSON{}, notFound("card not found")
		case d.typ != DeviceTypeCard:
			return rechargeJSON{}, notFound("card not found: " + clip(cardID, 40) + " is a device, send it as deviceId")
		}
	}
	return s.newRechargeLocked(d, amount, now).toJSON(), nil
}

// handleVerify is GET /v1/access/partners/recharge/{id}.
func (s *Sim) handleVerify(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	s.settleDueLocked(s.now())
	rc := s.recharges[id]
	var data rechargeJSON
	if rc != nil {
		data = rc.toJSON()
	}
	s.mu.Unlock()
	if rc == nil {
		s.writeError(w, notFound("recharge not found")) // [ours]
		return
	}
	s.writeOK(w, http.StatusOK, data)
}
