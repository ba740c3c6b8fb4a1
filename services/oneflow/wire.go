package oneflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"portal/services/upstream"
)

// Wire types, written from oneflow-partner-api.txt. Amounts are JSON numbers;
// they are decoded straight from their text into decimal.Decimal and encoded
// from decimal's string form, never through float64.

// envelope is the documented {"success","timestamp","message","data"}.
type envelope struct {
	Success *bool           `json:"success"`
	Message json.RawMessage `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// decodeEnvelope returns the data object of a 2xx answer. A body that is not
// the envelope, or has no data object, is a *upstream.MalformedError; "success": false
// is an *upstream.RejectedError.
func decodeEnvelope(status int, body []byte) (json.RawMessage, error) {
	var env envelope
	if err := upstream.DecodeStrict(body, &env); err != nil {
		return nil, upstream.Malformed(err)
	}
	if env.Success == nil {
		return nil, upstream.Malformed(errors.New(`no "success" field`))
	}
	if !*env.Success {
		msg := upstream.JSONText(env.Message)
		if msg == "" {
			msg = "request refused"
		}
		return nil, vendor.Rejected(status, "", upstream.CleanMessage(msg))
	}
	data := bytes.TrimSpace(env.Data)
	if len(data) == 0 || data[0] != '{' {
		return nil, upstream.Malformed(errors.New(`"data" is not an object`))
	}
	return data, nil
}

// errorMessage digs the human message out of an error answer: the envelope's
// "message", or an OAuth2-style "error_description" / "error".
func errorMessage(body []byte) string {
	var m struct {
		Message          json.RawMessage `json:"message"`
		ErrorDescription json.RawMessage `json:"error_description"`
		Error            json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &m) != nil {
		return ""
	}
	for _, r := range []json.RawMessage{m.Message, m.ErrorDescription, m.Error} {
		if s := upstream.JSONText(r); s != "" {
			return s
		}
	}
	return ""
}

// amount bounds: far beyond any real amount, small enough that String and
// arithmetic on a hostile value stay cheap.
const (
	maxNumberLen   = 64
	maxNumberScale = 40
)

// wireDecimal decodes a JSON number (or, leniently, a quoted number) into a
// decimal without going through float64.
type wireDecimal struct {
	d     decimal.Decimal
	valid bool // false for null or absent
}

func (w *wireDecimal) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	if s == "null" {
		*w = wireDecimal{}
		return nil
	}
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	if s == "" || len(s) > maxNumberLen || !isJSONNumber(s) {
		return fmt.Errorf("not a decimal number: %.20q", s)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return fmt.Errorf("number out of range: %.20q", s)
	}
	if e := d.Exponent(); e > maxNumberScale || e < -maxNumberScale {
		return fmt.Errorf("number out of range: %.20q", s)
	}
	*w = wireDecimal{d: d, valid: true}
	return nil
}

func (w wireDecimal) null() decimal.NullDecimal {
	return decimal.NullDecimal{Decimal: w.d, Valid: w.valid}
}

// isJSONNumber reports whether s has JSON number syntax.
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(s) && s[i] == '0' {
		i++
	} else if digits() == 0 {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// wireTime accepts RFC 3339 with or without fractional seconds; a time with
// no zone is read as UTC.
type wireTime struct {
	t     time.Time
	valid bool
}

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
			*w = wireTime{t: t.UTC(), valid: true}
			return nil
		}
	}
	return fmt.Errorf("not an RFC 3339 time: %.40q", s)
}

// rechargeWire is the data object of the recharge and verify answers.
type rechargeWire struct {
	ID            string      `json:"id"`
	SerialNumber  string      `json:"serialNumber"`
	DeviceType    string      `json:"deviceType"`
	Status        string      `json:"status"`
	Amount        wireDecimal `json:"amount"`
	Currency      string      `json:"currency"`
	Litres        wireDecimal `json:"litres"`
	PricePerLitre wireDecimal `json:"pricePerLitre"`
	Balance       wireDecimal `json:"balance"`
	CreatedAt     wireTime    `json:"createdAt"`
	CompletedAt   wireTime    `json:"completedAt"`
	Customer      *struct {
		Name        string `json:"name"`
		PhoneNumber string `json:"phoneNumber"`
	} `json:"customer"`
}

// decodeRecharge decodes a whole recharge/verify answer body (the envelope)
// into a Recharge. It is what FuzzDecodeRecharge exercises.
func decodeRecharge(status int, body []byte) (Recharge, error) {
	data, err := decodeEnvelope(status, body)
	if err != nil {
		return Recharge{}, err
	}
	return decodeRechargeData(data)
}

func decodeRechargeData(data json.RawMessage) (Recharge, error) {
	var w rechargeWire
	if err := json.Unmarshal(data, &w); err != nil {
		return Recharge{}, upstream.Malformed(err)
	}
	if strings.TrimSpace(w.ID) == "" {
		return Recharge{}, upstream.Malformed(errors.New(`recharge has no "id"`))
	}
	r := Recharge{
		ID:            w.ID,
		SerialNumber:  w.SerialNumber,
		DeviceType:    w.DeviceType,
		Status:        w.Status,
		Currency:      w.Currency,
		Amount:        w.Amount.d,
		Litres:        w.Litres.null(),
		PricePerLitre: w.PricePerLitre.null(),
		Balance:       w.Balance.null(),
		CreatedAt:     w.CreatedAt.t,
		Raw:           append(json.RawMessage(nil), data...),
	}
	if w.CompletedAt.valid {
		t := w.CompletedAt.t
		r.CompletedAt = &t
	}
	if w.Customer != nil {
		r.Customer.Name = w.Customer.Name
		r.Customer.PhoneNumber = w.Customer.PhoneNumber
	}
	return r, nil
}

// deviceWire is one device or card in a lookup answer. The lookup answer is
// not shown in the document; NOTES.md gives
// {"customer":{"name","phoneNumber"},"devices":[{"serialNumber","deviceType","balance"}]}.
// The decoder also takes the customer fields at the top of data, devices
// under customer, a separate "cards" list, and deviceId/cardId for the serial.
type deviceWire struct {
	SerialNumber string      `json:"serialNumber"`
	DeviceID     string      `json:"deviceId"`
	CardID       string      `json:"cardId"`
	DeviceType   string      `json:"deviceType"`
	Balance      wireDecimal `json:"balance"`
}

type lookupWire struct {
	Customer *struct {
		Name        string       `json:"name"`
		PhoneNumber string       `json:"phoneNumber"`
		Devices     []deviceWire `json:"devices"`
		Cards       []deviceWire `json:"cards"`
	} `json:"customer"`
	Name        string       `json:"name"`
	PhoneNumber string       `json:"phoneNumber"`
	Devices     []deviceWire `json:"devices"`
	Cards       []deviceWire `json:"cards"`
}

func decodeCustomer(status int, body []byte) (Customer, error) {
	data, err := decodeEnvelope(status, body)
	if err != nil {
		return Customer{}, err
	}
	var w lookupWire
	if err := json.Unmarshal(data, &w); err != nil {
		return Customer{}, upstream.Malformed(err)
	}
	c := Customer{Name: w.Name, PhoneNumber: w.PhoneNumber}
	devices, cards := w.Devices, w.Cards
	if w.Customer != nil {
		if w.Customer.Name != "" {
			c.Name = w.Customer.Name
		}
		if w.Customer.PhoneNumber != "" {
			c.PhoneNumber = w.Customer.PhoneNumber
		}
		devices = append(devices, w.Customer.Devices...)
		cards = append(cards, w.Customer.Cards...)
	}
	if w.Customer == nil && c.Name == "" && c.PhoneNumber == "" && len(devices) == 0 && len(cards) == 0 {
		return Customer{}, upstream.Malformed(errors.New("lookup answer has no customer"))
	}
	add := func(d deviceWire, defType string) {
		serial := d.SerialNumber
		if serial == "" {
			serial = d.DeviceID
		}
		if serial == "" {
			serial = d.CardID
		}
		typ := d.DeviceType
		if typ == "" {
			typ = defType
		}
		c.Devices = append(c.Devices, Device{SerialNumber: serial, DeviceType: typ, Balance: d.Balance.d})
	}
	for _, d := range devices {
		add(d, "")
	}
	for _, d := range cards {
		add(d, "CARD")
	}
	return c, nil
}

// tokenWire is the token answer, documented without the envelope; a token
// wrapped in {"data":{...}} is accepted too.
type tokenWire struct {
	AccessToken string          `json:"access_token"`
	TokenType   string          `json:"token_type"`
	ExpiresIn   json.RawMessage `json:"expires_in"`
	Data        *struct {
		AccessToken string          `json:"access_token"`
		TokenType   string          `json:"token_type"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	} `json:"data"`
}

// defaultTokenLifetime is used when the answer has no usable expires_in.
const defaultTokenLifetime = 60 * time.Second

// maxTokenLifetime bounds a silly expires_in.
const maxTokenLifetime = 24 * time.Hour

// decodeToken returns the token and how long it lives.
func decodeToken(body []byte) (token string, lifetime time.Duration, err error) {
	var w tokenWire
	if err := upstream.DecodeStrict(body, &w); err != nil {
		return "", 0, upstream.Malformed(err)
	}
	tok, exp := w.AccessToken, w.ExpiresIn
	if tok == "" && w.Data != nil {
		tok, exp = w.Data.AccessToken, w.Data.ExpiresIn
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", 0, upstream.Malformed(errors.New(`no "access_token"`))
	}
	if strings.ContainsAny(tok, "\r\n\t ") {
		return "", 0, upstream.Malformed(errors.New("access_token contains white space"))
	}
	return tok, parseExpiresIn(exp), nil
}

func parseExpiresIn(raw json.RawMessage) time.Duration {
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	if s == "" || s == "null" {
		return defaultTokenLifetime
	}
	secs, err := strconv.ParseFloat(s, 64) // seconds, not money
	if err != nil || secs != secs {
		return defaultTokenLifetime
	}
	if secs <= 0 {
		return 0
	}
	if secs >= maxTokenLifetime.Seconds() {
		return maxTokenLifetime
	}
	return time.Duration(secs * float64(time.Second))
}

// Request bodies, exactly as documented. Amount is the decimal's string form
// written as a raw JSON number.
type lookupBody struct {
	PhoneNumber string `json:"phoneNumber,omitempty"`
	DeviceID    string `json:"deviceId,omitempty"`
}

type rechargeBody struct {
	DeviceID string      `json:"deviceId,omitempty"`
	CardID   string      `json:"cardId,omitempty"`
	Amount   json.Number `json:"amount"`
}
