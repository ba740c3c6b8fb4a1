// Package pawapass is a client for the pawaPass KYC API (v2): create a
// verification, get one, list them, and read the webhooks pawaPass sends.
// Written from upstream-docs/pawapass-create-verification.txt and the
// pawaPass section of NOTES.md. Sending, retrying and the error vocabulary
// are services/upstream's; this package keeps the endpoints, the wire
// format and pawaPass's own rules:
//
//   - Every request carries "Authorization: Bearer <APIKey>" (a static key
//     from pawaPass's back office). Config.Timeout bounds each attempt
//     (default upstream.DefaultTimeout, 20 s); retries get their own.
//   - Get and List are reads: tried per Config.Retry (default DefaultRetry:
//     4 tries, waits of 0.5, 1 and 2 s, ±25 %) on 5xx (but 501), 429, a
//     network error or a timeout of the attempt, never sleeping past the
//     context's deadline. 4xx and malformed answers are not retried.
//   - Create is sent once, and once more only when the first provably never
//     connected (a dial error: connection refused, DNS). pawaPass has no
//     idempotency key: a Create whose answer was lost is found again with
//     List(ListQuery{ExternalID: …}), never by sending it again.
//   - Redirects are never followed (a redirected POST would become a GET,
//     and the key would travel to wherever it points). Answers are read up
//     to upstream.DefaultMaxBody (1 MiB).
//
// Every error starts with "pawapass: " and is tested with errors.Is /
// errors.As:
//
//   - upstream.ErrBadCredentials: 401, pawaPass refused the API key.
//   - upstream.ErrForbidden: 403, the key may not do this.
//   - upstream.ErrNotFound: Get or List got 404: no such verification (or a
//     wrong base URL).
//   - upstream.ErrUnavailable: pawaPass could not be used: 5xx, 429, a
//     network error or timeout on a read, a malformed or oversized answer to
//     a read (or one for another verification than asked). For Create it
//     means pawaPass answered and made nothing (or, with ErrNotSent, that
//     nothing was sent).
//   - upstream.ErrNotSent: the request provably never reached pawaPass, so
//     sending it again cannot create a second verification. Create has
//     already tried a second time when it returns this.
//   - upstream.ErrInvalidRequest (always with ErrNotSent): the call's
//     arguments or the Config were refused before anything was sent.
//   - ErrInvalidNotification: ParseNotification refused a webhook body.
//   - *upstream.RejectedError: any other 4xx (validation, conflicts, ...);
//     Code is the body's "code" (or its "error"), Message its "message".
//   - *upstream.OutcomeUnknownError (Op "create"): Create only, when the
//     request may have reached pawaPass but its result cannot be told (a
//     timeout or broken connection after sending, a 502/504 from a gateway,
//     a 2xx that cannot be read or decoded). It never matches the sentinels
//     and must not be re-sent automatically.
//
// Nothing here logs, and no error carries the API key.
package pawapass

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"portal/services/upstream"
)

const vendor upstream.Vendor = "pawapass"

// DefaultRetry is the read policy when Config.Retry is zero: a read is tried
// 4 times in all, after 0.5, 1 and 2 s (±25 %). Max never binds at 4 tries;
// it caps a policy given more of them.
var DefaultRetry = upstream.Retry{Attempts: 4, Base: 500 * time.Millisecond, Max: 4 * time.Second, Jitter: 0.25}

// Base URLs from NOTES.md.
const (
	ProductionURL = "https://api.pawapass.com/v2"
	SandboxURL    = "https://api-sandbox1.pawapass.com/v2"
)

// MaxListLimit is the largest page List may ask for (the default is 15).
const MaxListLimit = 50

// createOp names Create in an *upstream.OutcomeUnknownError.
const createOp = "create"

// Config configures a Client.
type Config struct {
	BaseURL string // e.g. "https://api.pawapass.com/v2" (includes /v2; trailing slash tolerated)
	APIKey  string // sent as "Authorization: Bearer <APIKey>"
	// Timeout bounds one attempt; 0 means upstream.DefaultTimeout.
	Timeout    time.Duration
	HTTPClient *http.Client // nil: upstream.DefaultTransport; redirects are never followed either way
	// Retry is the read policy; the zero value means DefaultRetry.
	Retry upstream.Retry
}

// Client talks to one pawaPass account. It is safe for concurrent use.
type Client struct {
	up *upstream.Client
}

// New returns a Client. It never fails: a bad Config surfaces as an error
// wrapping upstream.ErrInvalidRequest on every call.
func New(cfg Config) *Client {
	retry := cfg.Retry
	if retry == (upstream.Retry{}) {
		retry = DefaultRetry
	}
	return &Client{up: upstream.New(upstream.Config{
		Vendor:     vendor,
		BaseURL:    cfg.BaseURL,
		HTTPClient: cfg.HTTPClient,
		Timeout:    cfg.Timeout,
		Retry:      retry,
		UserAgent:  "portal-pawapass/1",
		Auth:       upstream.Bearer(cfg.APIKey),
		// A static header, not a fetched credential: upstream does not know
		// to keep it out of the texts unless told.
		Secrets:   []string{cfg.APIKey},
		Complaint: decodeErrorBody,
		ConfigErr: checkConfig(cfg),
	})}
}

// checkConfig refuses what upstream's own base URL check does not know
// about: the key, and an empty base URL said plainly.
func checkConfig(cfg Config) error {
	switch {
	case strings.TrimSpace(cfg.BaseURL) == "":
		return vendor.InvalidRequest("no base URL")
	case cfg.APIKey == "":
		return vendor.InvalidRequest("no API key")
	case strings.ContainsFunc(cfg.APIKey, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return vendor.InvalidRequest("the API key contains white space or control characters")
	}
	return nil
}

// Create asks pawaPass for a new verification: POST <base>/verifications/
// (the document's path, with its trailing slash). The answer's URL is where
// the person completes it. See the package comment for when it is sent a
// second time (only if it never connected) and when its outcome is unknown.
func (c *Client) Create(ctx context.Context, r CreateRequest) (Verification, error) {
	if err := r.validate(); err != nil {
		return Verification{}, err
	}
	body, err := r.body()
	if err != nil {
		return Verification{}, vendor.InvalidRequest("cannot encode the request")
	}
	res, err := c.up.Create(ctx, createOp, upstream.Request{Method: http.MethodPost, Path: "/verifications/", Body: body})
	if err != nil {
		return Verification{}, err
	}
	// The document gives no status code ("Default Response"): any 2xx
	// carrying a verification is success [ours].
	v, err := decodeVerification(res.Body)
	if err != nil {
		return Verification{}, vendor.Unknown(createOp, upstream.StatusDetail(res.Status, ""), cleaned(res, err))
	}
	return v, nil
}

// Get returns one verification: GET <base>/verifications/<id>.
func (c *Client) Get(ctx context.Context, id string) (Verification, error) {
	id = strings.TrimSpace(id)
	// "." and ".." would name another path once a server cleans it [ours].
	if id == "" || id == "." || id == ".." {
		return Verification{}, vendor.InvalidRequest("verification id is empty")
	}
	res, err := c.up.Read(ctx, upstream.Request{Method: http.MethodGet, Path: "/verifications/" + url.PathEscape(id)})
	if err != nil {
		return Verification{}, err
	}
	v, err := decodeVerification(res.Body)
	if err != nil {
		return Verification{}, vendor.Unavailable("", cleaned(res, err))
	}
	if v.ID != id {
		// Showing another person's identity data would be worse than
		// showing nothing [ours].
		return Verification{}, vendor.Unavailable("", upstream.Malformedf("the answer is for another verification"))
	}
	return v, nil
}

// ListQuery selects a page of verifications. Every field is optional.
type ListQuery struct {
	Page       int      // from 0
	Limit      int      // 1..50; 0 leaves it out (pawaPass's default is 15)
	ID         string   // filter by verification id
	ExternalID string   // filter by our external id
	Statuses   []string // any of these statuses, sent as statuses=A&statuses=B
}

// List returns one page of verifications:
// GET <base>/verifications/?page=&limit=&id=&externalId=&statuses=.
func (c *Client) List(ctx context.Context, q ListQuery) (ListResult, error) {
	if q.Page < 0 {
		return ListResult{}, vendor.InvalidRequest("page must not be negative")
	}
	if q.Limit < 0 || q.Limit > MaxListLimit {
		return ListResult{}, vendor.InvalidRequest("limit must be between 1 and 50")
	}
	v := url.Values{}
	v.Set("page", strconv.Itoa(q.Page)) // always sent, 0 included, so the page asked for is explicit [ours]
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.ID != "" {
		v.Set("id", q.ID)
	}
	if q.ExternalID != "" {
		v.Set("externalId", q.ExternalID)
	}
	for _, s := range q.Statuses {
		if s != "" {
			v.Add("statuses", s)
		}
	}
	res, err := c.up.Read(ctx, upstream.Request{Method: http.MethodGet, Path: "/verifications/", Query: v})
	if err != nil {
		return ListResult{}, err
	}
	list, err := decodeList(res.Body)
	if err != nil {
		return ListResult{}, vendor.Unavailable("", cleaned(res, err))
	}
	return list, nil
}

// cleaned is a decoding failure as text fit for an error: it may quote
// what the answer held, and a server may echo our headers back.
func cleaned(res *upstream.Response, err error) error {
	return errors.New(res.Clean(err.Error()))
}
