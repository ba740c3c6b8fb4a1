package oneflowsim

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"portal/services/sandbox"
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

func (v rechargeView) toJSON() rechargeJSON {
	j := rechargeJSON{
		ID:           v.rc.ID,
		SerialNumber: v.dev.ID,
		DeviceType:   v.dev.Type,
		Status:       v.rc.Status,
		Amount:       number{v.rc.Amount},
		CreatedAt:    formatTime(v.rc.CreatedAt),
		Customer:     customerJSON{v.cu.Name, v.cu.Phone},
	}
	switch v.rc.Status {
	case StatusCompleted:
		c := v.cu.country()
		j.Currency = c.currency
		j.Litres = num(v.rc.Litres)
		j.PricePerLitre = num(c.pricePerLitre)
		j.Balance = num(v.rc.Balance)
		j.CompletedAt = formatTime(v.rc.SettledAt)
	case StatusFailed:
		j.FailureReason = v.rc.Reason
	}
	return j
}

// lookupOf reads cu's devices for the lookup answer.
func lookupOf(tx *sandbox.Tx, cu customer) (lookupJSON, error) {
	v := lookupJSON{
		Customer: customerJSON{cu.Name, cu.Phone},
		Devices:  make([]deviceJSON, 0, len(cu.Devices)),
	}
	for _, id := range cu.Devices {
		var d device
		if found, err := tx.Get(kindDevice, id, &d); err != nil || !found {
			return lookupJSON{}, errors.Join(err, fmt.Errorf("%w: device %s", errMissing, id))
		}
		v.Devices = append(v.Devices, deviceJSON{d.ID, d.Type, number{d.Balance}})
	}
	return v, nil
}

// --- answers ---

// apiError is a failed request: an HTTP status and the envelope's message.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(msg string) *apiError { return &apiError{http.StatusBadRequest, msg} }
func notFound(msg string) *apiError   { return &apiError{http.StatusNotFound, msg} }

// answerError turns an error of an Update into the answer: the API's own
// refusals as they are, a store failure as a 500 that is logged. [ours]
func (s *Sim) answerError(err error) *apiError {
	var e *apiError
	if errors.As(err, &e) {
		return e
	}
	s.logger.Error("oneflowsim: store", "err", err)
	return &apiError{http.StatusInternalServerError, "internal error: try again"}
}

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
	err := s.bucket.Update(bg, func(tx *sandbox.Tx) error {
		// Forget expired tokens so the store does not grow with them.
		expired, err := tx.Due(kindToken, now, 100)
		for _, t := range expired {
			err = errors.Join(err, tx.Delete(kindToken, t))
		}
		if err != nil {
			return err
		}
		exp := now.Add(s.tokenTTL)
		return tx.Put(kindToken, tok, token{Expires: exp}, exp)
	})
	if err != nil {
		s.writeError(w, s.answerError(err))
		return
	}
	writeJSON(w, http.StatusOK, tokenResponse{AccessToken: tok, TokenType: "Bearer", ExpiresIn: s.expiresIn()})
}

// authed lets a request through only with a valid, unexpired Bearer token;
// anything else gets a 401 envelope. [ours for the answer]
func (s *Sim) authed(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if e := s.checkBearer(r); e != nil {
			if e.status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="1flow", error="invalid_token"`)
			}
			s.writeError(w, e)
			return
		}
		next(w, r)
	}
}

// checkBearer returns nil for a valid token, else why it is refused.
func (s *Sim) checkBearer(r *http.Request) *apiError {
	refuse := func(msg string) *apiError { return &apiError{http.StatusUnauthorized, msg} }
	h := r.Header.Get("Authorization")
	if h == "" {
		return refuse("missing access token: send Authorization: Bearer <access_token>")
	}
	scheme, tok, _ := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return refuse("the Authorization header must be Bearer <access_token>")
	}
	now := s.now()
	var t token
	found, err := s.bucket.Get(bg, kindToken, tok, &t)
	switch {
	case err != nil:
		return s.answerError(err)
	case !found:
		return refuse("invalid access token")
	case !now.Before(t.Expires):
		return refuse("access token expired")
	}
	return nil
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

	var data lookupJSON
	err := s.bucket.Update(bg, func(tx *sandbox.Tx) error {
		// Balances must include recharges that are due.
		if err := settleDue(tx, s.now()); err != nil {
			return err
		}
		var cu customer
		if phone != "" {
			if found, err := tx.Get(kindCustomer, phone, &cu); err != nil {
				return err
			} else if !found {
				return notFound("customer not found") // [ours]
			}
		} else {
			// deviceId finds the owner of a device or of a card. [ours]
			var d device
			if found, err := tx.Get(kindDevice, deviceID, &d); err != nil {
				return err
			} else if !found {
				return notFound("device not found") // [ours]
			}
			if err := loadDevice(tx, deviceID, &d, &cu); err != nil {
				return err
			}
		}
		var err error
		data, err = lookupOf(tx, cu)
		return err
	})
	if err != nil {
		return lookupJSON{}, s.answerError(err)
	}
	return data, nil
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
	var data rechargeJSON
	err := s.bucket.Update(bg, func(tx *sandbox.Tx) error {
		if err := settleDue(tx, now); err != nil {
			return err
		}
		// Device serials and card ids are separate: a card sent as
		// deviceId (or the reverse) is not found, with a hint. [ours]
		id, typ := deviceID, DeviceTypeDevice
		if id == "" {
			id, typ = cardID, DeviceTypeCard
		}
		var v rechargeView
		if found, err := tx.Get(kindDevice, id, &v.dev); err != nil {
			return err
		} else if !found || v.dev.Type != typ {
			return wrongDevice(id, typ, found)
		}
		if err := loadDevice(tx, id, &v.dev, &v.cu); err != nil {
			return err
		}
		var err error
		if v.rc, err = s.newRecharge(tx, v.dev, amount, now); err != nil {
			return err
		}
		data = v.toJSON()
		return nil
	})
	if err != nil {
		return rechargeJSON{}, s.answerError(err)
	}
	return data, nil
}

// wrongDevice is the 404 for id sent as typ when it is unknown (found
// false) or of the other type. [ours]
func wrongDevice(id, typ string, found bool) *apiError {
	switch {
	case typ == DeviceTypeDevice && !found:
		return notFound("device not found")
	case typ == DeviceTypeDevice:
		return notFound("device not found: " + clip(id, 40) + " is a card, send it as cardId")
	case !found:
		return notFound("card not found")
	default:
		return notFound("card not found: " + clip(id, 40) + " is a device, send it as deviceId")
	}
}

// handleVerify is GET /v1/access/partners/recharge/{id}.
func (s *Sim) handleVerify(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var data rechargeJSON
	err := s.bucket.Update(bg, func(tx *sandbox.Tx) error {
		if err := settleDue(tx, s.now()); err != nil {
			return err
		}
		var rc recharge
		if found, err := tx.Get(kindRecharge, id, &rc); err != nil {
			return err
		} else if !found {
			return notFound("recharge not found") // [ours]
		}
		v, err := loadRecharge(tx, id)
		data = v.toJSON()
		return err
	})
	if err != nil {
		s.writeError(w, s.answerError(err))
		return
	}
	s.writeOK(w, http.StatusOK, data)
}
