// Package pawapass is a client for the pawaPass KYC API (v2): create a
// verification, get one, list them, and read the webhooks pawaPass sends.
// Written from upstream-docs/pawapass-create-verification.txt and the
// pawaPass section of NOTES.md.
//
// Policy, in one place:
//   - Every request carries "Authorization: Bearer <APIKey>" (a static key
//     from pawaPass's back office) and runs under its own timeout
//     (Config.Timeout, default 20 s), on top of the caller's context.
//   - Get and List are reads: retried up to 3 times on 5xx (but 501), 429, a
//     network error or a timeout of the attempt, after RetryBase (default
//     500 ms) doubling each time, ±25 % jitter, never sleeping past the
//     context's deadline. 4xx and malformed answers are not retried.
//   - Create is sent once. It is sent a second time only when the first
//     provably never connected (a dial error: connection refused, DNS);
//     that failure is ErrUnavailable + ErrNotSent. A failure once the
//     request may have been written, a 2xx that cannot be read or decoded,
//     and a 502/504 from a gateway are *OutcomeUnknownError: the caller
//     looks the verification up by its externalId instead of re-sending.
//     Any other 5xx is ErrUnavailable (pawaPass answered and made nothing).
//   - Redirects are never followed (a redirected POST would become a GET,
//     and the key would travel to wherever it points).
//   - Answers are read up to 1 MiB.
//
// Nothing here logs, and no error carries the API key.
package pawapass

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults for the Config durations left zero.
const (
	DefaultTimeout   = 20 * time.Second
	DefaultRetryBase = 500 * time.Millisecond
)

// Base URLs from NOTES.md.
const (
	ProductionURL = "https://api.pawapass.com/v2"
	SandboxURL    = "https://api-sandbox1.pawapass.com/v2"
)

// MaxListLimit is the largest page List may ask for (the default is 15).
const MaxListLimit = 50

// Config configures a Client.
type Config struct {
	BaseURL    string        // e.g. "https://api.pawapass.com/v2" (includes /v2; trailing slash tolerated)
	APIKey     string        // sent as "Authorization: Bearer <APIKey>"
	Timeout    time.Duration // per attempt; 0 = 20s
	HTTPClient *http.Client  // nil = own client with sane transport; redirects are never followed either way
	// RetryBase is the first read-retry wait (doubling, with jitter, max 3
	// retries); 0 = 500ms. Tests set it tiny.
	RetryBase time.Duration
}

// Client talks to one pawaPass account. It is safe for concurrent use.
type Client struct {
	base      string
	key       string
	hc        *http.Client
	timeout   time.Duration
	retryBase time.Duration
	configErr error // a bad Config, returned by every call

	// traceable: the transport is net/http's, which reports GotConn before
	// writing a request, so a failure without GotConn was never sent.
	traceable bool

	readRetries  int // retries after the first try of a read
	dialAttempts int // total tries of a Create that could not connect

	beforeRetryWait func() // tests: called before each read-retry wait
}

// New returns a Client. It never fails: a bad Config surfaces as an error
// wrapping ErrInvalidRequest on every call.
func New(cfg Config) *Client {
	c := &Client{
		base:         strings.TrimRight(strings.TrimSpace(cfg.BaseURL), "/"),
		key:          cfg.APIKey,
		timeout:      cfg.Timeout,
		retryBase:    cfg.RetryBase,
		readRetries:  3,
		dialAttempts: 2,
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.retryBase <= 0 {
		c.retryBase = DefaultRetryBase
	}
	c.configErr = c.checkConfig()

	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient // a copy: the caller's client is not changed
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

func (c *Client) checkConfig() error {
	u, err := url.Parse(c.base)
	switch {
	case c.base == "":
		return invalidRequest("no base URL")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
		return invalidRequest("the base URL must be an absolute http(s) URL without query")
	case c.key == "":
		return invalidRequest("no API key")
	case strings.ContainsFunc(c.key, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return invalidRequest("the API key contains white space or control characters")
	}
	return nil
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
		// Shorter than common server keep-alive timeouts, so a Create
		// rarely meets a connection the server is just closing (that would
		// be an unknown outcome).
		IdleConnTimeout:     30 * time.Second,
		MaxIdleConnsPerHost: 16,
	}
}

// Create asks pawaPass for a new verification: POST <base>/verifications/
// (the document's path, with its trailing slash). The answer's URL is where
// the person completes it. See the package comment for when it is sent a
// second time (only if it never connected) and OutcomeUnknownError for
// when the result cannot be told.
func (c *Client) Create(ctx context.Context, r CreateRequest) (Verification, error) {
	if err := r.validate(); err != nil {
		return Verification{}, err
	}
	body, err := r.body()
	if err != nil {
		return Verification{}, invalidRequest("cannot encode the request")
	}
	res, err := c.create(ctx, c.base+"/verifications/", body)
	if err != nil {
		return Verification{}, err
	}
	v, err := decodeVerification(res.body)
	if err != nil {
		return Verification{}, unknownOutcome(statusDetail(res.status, ""), err)
	}
	return v, nil
}

// Get returns one verification: GET <base>/verifications/<id>.
func (c *Client) Get(ctx context.Context, id string) (Verification, error) {
	id = strings.TrimSpace(id)
	// "." and ".." would name another path once a server cleans it [ours].
	if id == "" || id == "." || id == ".." {
		return Verification{}, invalidRequest("verification id is empty")
	}
	body, err := c.read(ctx, c.base+"/verifications/"+url.PathEscape(id))
	if err != nil {
		return Verification{}, err
	}
	v, err := decodeVerification(body)
	if err != nil {
		return Verification{}, unavailable("", err)
	}
	if v.ID != id {
		// Showing another person's identity data would be worse than
		// showing nothing [ours].
		return Verification{}, unavailable("", malformed("the answer is for another verification"))
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
		return ListResult{}, invalidRequest("page must not be negative")
	}
	if q.Limit < 0 || q.Limit > MaxListLimit {
		return ListResult{}, invalidRequest("limit must be between 1 and 50")
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
	body, err := c.read(ctx, c.base+"/verifications/?"+v.Encode())
	if err != nil {
		return ListResult{}, err
	}
	res, err := decodeList(body)
	if err != nil {
		return ListResult{}, unavailable("", err)
	}
	return res, nil
}
