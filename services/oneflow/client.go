// Package oneflow is a client for the 1flow partner API (water credit):
// OAuth2 client-credentials token, customer lookup, recharge and verify,
// written from upstream-docs/oneflow-partner-api.txt.
//
// Policy, in one place:
//   - Every method runs under its own timeout (Config.Timeout, default 15 s)
//     on top of the caller's context; retries and token fetching happen
//     inside it.
//   - Reads (the token, Lookup, GetRecharge) are tried up to 3 times on 5xx
//     (but 501), 429 and network errors, with exponential backoff and equal
//     jitter (100-200 ms, then 200-400 ms; one wait is capped at 2 s), never
//     sleeping past the context's deadline. A malformed answer is not retried.
//   - Recharge is sent once. It is sent again only when the connection
//     provably never reached 1flow (a dial error: connection refused, DNS
//     failure), at most 2 more times, with the same backoff. A failure before
//     a connection was obtained is ErrUnavailable + ErrNotSent; anything that
//     fails once the request may have been written, a 2xx that cannot be
//     read or decoded, and a 502/504 from a gateway are *OutcomeUnknownError.
//     Any other 5xx is ErrUnavailable: 1flow answered and did not process it.
//   - A 401 on any call drops the cached token, fetches a new one and repeats
//     the call once (a 401 means the call was not processed); a second 401
//     is ErrBadCredentials.
//   - Redirects are never followed (a redirected POST would become a GET).
//
// Nothing here logs, and no error carries the client secret or a token.
package oneflow

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// DefaultTimeout bounds one method call when Config.Timeout is zero.
const DefaultTimeout = 15 * time.Second

// Paths from the document.
const (
	tokenPath    = "/v1/access/partners/token"
	lookupPath   = "/v1/access/partners/lookup"
	rechargePath = "/v1/access/partners/recharge"
)

// Config configures a Client.
type Config struct {
	BaseURL      string        // e.g. https://api.1flow.org or http://127.0.0.1:8080/sandbox/oneflow (no trailing slash needed)
	ClientID     string        // HTTP Basic user name on the token endpoint
	ClientSecret string        // HTTP Basic password on the token endpoint
	HTTPClient   *http.Client  // nil: a client with sane transport timeouts; redirects are never followed either way
	Timeout      time.Duration // per method call; default 15s
	Now          func() time.Time
}

// Client talks to one 1flow account. It is safe for concurrent use; the
// access token is shared by all callers.
type Client struct {
	base    string
	id      string
	secret  string
	hc      *http.Client
	timeout time.Duration
	now     func() time.Time

	tokens tokenCache

	// traceable: the transport is net/http's, which reports GotConn before
	// writing a request, so a failure without GotConn was never sent.
	traceable bool

	// Retry policy; tests shorten it.
	readAttempts int           // total tries for a read
	dialAttempts int           // total tries for a recharge that could not connect
	backoffBase  time.Duration // first delay
	backoffMax   time.Duration // cap on one delay
}

// New returns a Client. It never fails: a bad BaseURL surfaces as an error
// wrapping ErrInvalidRequest on the first call.
func New(cfg Config) *Client {
	c := &Client{
		base:         strings.TrimRight(strings.TrimSpace(cfg.BaseURL), "/"),
		id:           cfg.ClientID,
		secret:       cfg.ClientSecret,
		timeout:      cfg.Timeout,
		now:          cfg.Now,
		readAttempts: 3,
		dialAttempts: 3,
		backoffBase:  200 * time.Millisecond,
		backoffMax:   2 * time.Second,
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.now == nil {
		c.now = time.Now
	}
	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	} else {
		hc = http.Client{Transport: defaultTransport()}
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.hc = &hc
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	_, c.traceable = rt.(*http.Transport)
	return c
}

func defaultTransport() *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		// Shorter than common server keep-alive timeouts (60 s and up), so a
		// recharge rarely meets a connection the server is just closing
		// (that would be an unknown outcome).
		IdleConnTimeout:     30 * time.Second,
		MaxIdleConnsPerHost: 16,
	}
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
		return Customer{}, invalidRequest("lookup needs exactly one of a phone number or a device id")
	}
	body, err := json.Marshal(lookupBody{PhoneNumber: phone, DeviceID: device})
	if err != nil {
		return Customer{}, invalidRequest(err.Error())
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	res, err := c.read(ctx, http.MethodPost, lookupPath, body)
	if err != nil {
		return Customer{}, err
	}
	cust, err := decodeCustomer(res.status, res.body)
	if err != nil {
		return Customer{}, readDecodeError(err)
	}
	return cust, nil
}

// GetRecharge returns the current state of a recharge (Verify Recharge).
func (c *Client) GetRecharge(ctx context.Context, id string) (Recharge, error) {
	id = strings.TrimSpace(id)
	if id == "" {
		return Recharge{}, invalidRequest("recharge id is empty")
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	res, err := c.read(ctx, http.MethodGet, rechargePath+"/"+url.PathEscape(id), nil)
	if err != nil {
		return Recharge{}, err
	}
	r, err := decodeRecharge(res.status, res.body)
	if err != nil {
		return Recharge{}, readDecodeError(err)
	}
	return r, nil
}

// Recharge initiates a recharge; 1flow answers 202 with a PENDING recharge.
// See the package comment for when it is re-sent (only if it never reached
// 1flow) and OutcomeUnknownError for when the result cannot be told.
func (c *Client) Recharge(ctx context.Context, r RechargeRequest) (Recharge, error) {
	device, card := strings.TrimSpace(r.DeviceID), strings.TrimSpace(r.CardID)
	if (device == "") == (card == "") {
		return Recharge{}, invalidRequest("recharge needs exactly one of a device id or a card id")
	}
	if !r.Amount.IsPositive() {
		return Recharge{}, invalidRequest("recharge amount must be positive")
	}
	amount := json.Number(r.Amount.String())
	body, err := json.Marshal(rechargeBody{DeviceID: device, CardID: card, Amount: amount})
	if err != nil {
		return Recharge{}, invalidRequest("amount: " + err.Error())
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	return c.recharge(ctx, body)
}

// readDecodeError maps a decoding failure of a read's 2xx answer.
func readDecodeError(err error) error {
	if _, ok := err.(*RejectedError); ok {
		return err
	}
	return unavailable("", err)
}
