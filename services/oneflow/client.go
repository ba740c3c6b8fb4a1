// Package oneflow is a client for the 1flow partner API (water credit):
// OAuth2 client-credentials token, customer lookup, recharge and verify,
// written from upstream-docs/oneflow-partner-api.txt. Sending, retrying,
// the token cache and the error vocabulary are services/upstream's; this
// package keeps the endpoints, the wire format and 1flow's own rules:
//
//   - Reads (the token, Lookup, GetRecharge) are retried per Config.Retry
//     on 5xx (but 501), 429 and network errors; a malformed answer is not
//     retried. Config.Timeout bounds each attempt.
//   - Recharge is a create: sent once, and again only when the connection
//     provably never reached 1flow. 1flow has no idempotency key and no way
//     to list recharges, so one whose answer was lost cannot be found again
//     by anything but its id: it must never be re-sent.
//   - A 401 on an API call drops the cached token, fetches a new one and
//     repeats the call once (a 401 means the call was not processed, so this
//     holds for Recharge too).
//
// Every error starts with "1flow: " and is tested with errors.Is / errors.As:
//
//   - upstream.ErrBadCredentials: the token endpoint refused the client id
//     and secret (401/403), or an API call got 401 again after a fresh token.
//   - upstream.ErrForbidden: an API call got 403.
//   - upstream.ErrNotFound: an API call got 404: an unknown customer,
//     device, card or recharge. A 404 from the token endpoint is a wrong base
//     URL, ErrUnavailable.
//   - upstream.ErrUnavailable: 1flow could not be used: 5xx, 429, a network
//     error or timeout on a read, a malformed answer to a read. For Recharge
//     it means 1flow answered and did not process it (or, with ErrNotSent,
//     that nothing was sent).
//   - upstream.ErrNotSent: the request provably never reached 1flow.
//   - upstream.ErrInvalidRequest (always with ErrNotSent): the arguments or
//     the base URL were refused before anything was sent (for example both
//     DeviceID and CardID set).
//   - *upstream.RejectedError: any other 4xx, or a 2xx whose envelope says
//     "success": false (Status is then the 2xx code).
//   - *upstream.OutcomeUnknownError (Op "recharge"): Recharge only, when the
//     request may have reached 1flow but its result cannot be told (a
//     timeout or broken connection after sending, a 502/504, a 2xx that
//     cannot be read or decoded). It never matches the sentinels.
//
// Nothing here logs, and no error carries the client secret or a token.
package oneflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"portal/services/upstream"
)

const vendor upstream.Vendor = "1flow"

// Paths from the document.
const (
	tokenPath    = "/v1/access/partners/token"
	lookupPath   = "/v1/access/partners/lookup"
	rechargePath = "/v1/access/partners/recharge"
)

// Config configures a Client.
type Config struct {
	BaseURL      string       // e.g. https://api.1flow.org or http://127.0.0.1:8080/sandbox/oneflow (no trailing slash needed)
	ClientID     string       // HTTP Basic user name on the token endpoint
	ClientSecret string       // HTTP Basic password on the token endpoint
	HTTPClient   *http.Client // nil: upstream.DefaultTransport; redirects are never followed either way
	// Timeout bounds one attempt; 0 means upstream.DefaultTimeout.
	Timeout time.Duration
	// Retry is the read policy; the zero value means upstream.DefaultRetry.
	Retry upstream.Retry
	// Now is the clock the token's expiry is read with; nil means time.Now.
	Now func() time.Time
}

// Client talks to one 1flow account. It is safe for concurrent use; the
// access token is shared by all callers.
type Client struct {
	up     *upstream.Client
	id     string
	secret string
	now    func() time.Time
	token  *upstream.Token
}

// New returns a Client. It never fails: a bad BaseURL surfaces as an error
// wrapping upstream.ErrInvalidRequest on every call.
func New(cfg Config) *Client {
	c := &Client{id: cfg.ClientID, secret: cfg.ClientSecret, now: cfg.Now}
	if c.now == nil {
		c.now = time.Now
	}
	c.token = &upstream.Token{
		Vendor: vendor,
		Fetch:  c.fetchToken,
		Set:    func(h http.Header, tok string) { h.Set("Authorization", "Bearer "+tok) },
		Now:    c.now,
	}
	c.up = upstream.New(upstream.Config{
		Vendor:     vendor,
		BaseURL:    cfg.BaseURL,
		HTTPClient: cfg.HTTPClient,
		Timeout:    cfg.Timeout,
		Retry:      cfg.Retry,
		UserAgent:  "portal-oneflow/1",
		Auth:       c.token,
		Secrets:    []string{cfg.ClientSecret},
		Complaint:  func(body []byte) (string, string) { return "", errorMessage(body) },
	})
	return c
}

// fetchToken asks the token endpoint, a read like any other but with the
// client id and secret instead of the token.
func (c *Client) fetchToken(ctx context.Context) (string, time.Time, error) {
	start := c.now()
	res, err := c.up.Read(ctx, upstream.Request{Method: http.MethodPost, Path: tokenPath, Auth: upstream.Basic(c.id, c.secret)})
	if err != nil {
		return "", time.Time{}, tokenError(err)
	}
	tok, life, err := decodeToken(res.Body)
	if err != nil {
		return "", time.Time{}, vendor.Unavailable("token", err)
	}
	if life <= 0 {
		// No usable lifetime: used until 1flow refuses it.
		return tok, time.Time{}, nil
	}
	return tok, start.Add(life), nil
}

// tokenError maps what the token endpoint refused: it speaks of our
// credentials and base URL, never of a customer.
func tokenError(err error) error {
	var e *upstream.Error
	switch {
	case errors.Is(err, upstream.ErrNotFound):
		// Not ErrNotFound: to callers that means an unknown customer.
		return vendor.Unavailable("token endpoint not found (check the base URL)", nil)
	case (errors.Is(err, upstream.ErrBadCredentials) || errors.Is(err, upstream.ErrForbidden)) && errors.As(err, &e):
		return vendor.BadCredentials("token endpoint refused the client id and secret: " + e.Detail)
	}
	return upstream.Prefix("token", err)
}

// LookupQuery finds a customer: set exactly one field.
type LookupQuery struct {
	PhoneNumber string // E.164, e.g. +254712345678
	DeviceID    string
}

// Customer is a lookup answer.
type Customer struct {
	Name        string
	PhoneNumber string
	Devices     []Device
}

// Device is a water ATM device or a card.
type Device struct {
	SerialNumber string
	DeviceType   string // "DEVICE" | "CARD"
	Balance      decimal.Decimal
}

// RechargeRequest adds credit: set exactly one of DeviceID and CardID, and a
// positive Amount.
type RechargeRequest struct {
	DeviceID string
	CardID   string
	Amount   decimal.Decimal
}

// Recharge is a recharge as 1flow reports it.
type Recharge struct {
	ID, SerialNumber, DeviceType, Status, Currency string // Status "PENDING" | "COMPLETED" | "FAILED", as sent
	Amount                                         decimal.Decimal
	Litres, PricePerLitre, Balance                 decimal.NullDecimal // absent until completed
	CreatedAt                                      time.Time
	CompletedAt                                    *time.Time
	Customer                                       struct{ Name, PhoneNumber string }
	Raw                                            json.RawMessage // the answer's whole data object, kept for the record
}

// Lookup finds a customer by phone number or device id.
func (c *Client) Lookup(ctx context.Context, q LookupQuery) (Customer, error) {
	phone, device := strings.TrimSpace(q.PhoneNumber), strings.TrimSpace(q.DeviceID)
	if (phone == "") == (device == "") {
		return Customer{}, vendor.InvalidRequest("lookup needs exactly one of a phone number or a device id")
	}
	body, err := json.Marshal(lookupBody{PhoneNumber: phone, DeviceID: device})
	if err != nil {
		return Customer{}, vendor.InvalidRequest(err.Error())
	}
	res, err := c.up.Read(ctx, upstream.Request{Method: http.MethodPost, Path: lookupPath, Body: body})
	if err != nil {
		return Customer{}, err
	}
	cust, err := decodeCustomer(res.Status, res.Body)
	if err != nil {
		return Customer{}, readDecodeError(err)
	}
	return cust, nil
}

// GetRecharge returns the current state of a recharge (Verify Recharge).
func (c *Client) GetRecharge(ctx context.Context, id string) (Recharge, error) {
	id = strings.TrimSpace(id)
	if id == "" {
		return Recharge{}, vendor.InvalidRequest("recharge id is empty")
	}
	res, err := c.up.Read(ctx, upstream.Request{Method: http.MethodGet, Path: rechargePath + "/" + url.PathEscape(id)})
	if err != nil {
		return Recharge{}, err
	}
	r, err := decodeRecharge(res.Status, res.Body)
	if err != nil {
		return Recharge{}, readDecodeError(err)
	}
	return r, nil
}

// Recharge initiates a recharge; 1flow answers 202 with a PENDING recharge.
// See the package comment for when it is re-sent (only if it never reached
// 1flow) and when its outcome is unknown.
func (c *Client) Recharge(ctx context.Context, r RechargeRequest) (Recharge, error) {
	device, card := strings.TrimSpace(r.DeviceID), strings.TrimSpace(r.CardID)
	if (device == "") == (card == "") {
		return Recharge{}, vendor.InvalidRequest("recharge needs exactly one of a device id or a card id")
	}
	if !r.Amount.IsPositive() {
		return Recharge{}, vendor.InvalidRequest("recharge amount must be positive")
	}
	amount := json.Number(r.Amount.String())
	body, err := json.Marshal(rechargeBody{DeviceID: device, CardID: card, Amount: amount})
	if err != nil {
		return Recharge{}, vendor.InvalidRequest("amount: " + err.Error())
	}
	res, err := c.up.Create(ctx, "recharge", upstream.Request{Method: http.MethodPost, Path: rechargePath, Body: body})
	if err != nil {
		return Recharge{}, err
	}
	switch res.Status {
	case http.StatusOK, http.StatusCreated, http.StatusAccepted:
	default:
		// A 204, say, carries no recharge: nothing tells whether one was made.
		return Recharge{}, vendor.Unknown("recharge", fmt.Sprintf("unexpected HTTP %d answer", res.Status), nil)
	}
	rc, err := decodeRecharge(res.Status, res.Body)
	var rej *upstream.RejectedError
	switch {
	case errors.As(err, &rej):
		return Recharge{}, err
	case err != nil:
		return Recharge{}, vendor.Unknown("recharge", fmt.Sprintf("HTTP %d", res.Status), err)
	}
	return rc, nil
}

// readDecodeError maps a decoding failure of a read's 2xx answer: asking
// again would get the same answer, so it is not retried.
func readDecodeError(err error) error {
	var rej *upstream.RejectedError
	if errors.As(err, &rej) {
		return err
	}
	return vendor.Unavailable("", err)
}
