package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// DefaultTimeout bounds one attempt when a Config leaves Timeout zero.
const DefaultTimeout = 20 * time.Second

// DefaultMaxBody bounds what is read of any answer when a Config leaves
// MaxBody zero.
const DefaultMaxBody = 1 << 20

// createAttempts is how many times a create is sent when every try before
// provably never connected: once more, after the first retry wait, so a host
// that refused the connection gets a moment.
const createAttempts = 2

// Config configures a Client for one provider account.
type Config struct {
	Vendor  Vendor
	BaseURL string // absolute http(s) URL, no query; a trailing "/" is dropped
	// HTTPClient is used for every call; nil means one with DefaultTransport.
	// It is copied, and the copy never follows redirects.
	HTTPClient *http.Client
	// Timeout bounds one attempt, from sending to the last byte of the
	// answer; 0 means DefaultTimeout. Retries each get their own.
	Timeout time.Duration
	// Retry is the read policy; the zero value means DefaultRetry.
	Retry Retry
	// MaxBody bounds an answer; 0 means DefaultMaxBody.
	MaxBody   int64
	UserAgent string
	// Auth is the default credential of every request; nil sends none.
	Auth Auth
	// Secrets are kept out of every error text, besides the credential.
	Secrets []string
	// Complaint reads the vendor's error body: its machine-readable code
	// and its message (both may be empty). nil reads none.
	Complaint func(body []byte) (code, message string)
	// Errors maps a non-2xx answer by the vendor's own rules, given what
	// Complaint read; a nil func, or a nil answer, falls back to
	// (*Client).StatusError.
	Errors func(res *Response, code, message string) error
	// ConfigErr is a problem the vendor's client found in its own settings:
	// every call returns it without sending anything.
	ConfigErr error
}

// Client sends requests to one provider and classifies what happened. It is
// safe for concurrent use.
type Client struct {
	cfg  Config
	base string
	hc   *http.Client
	// traceable is true when the transport is net/http's: then an error
	// before GotConn proves the request never left.
	traceable bool
	err       error
}

// New builds a Client; a bad BaseURL is reported by every call.
func New(cfg Config) *Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	cfg.Retry = cfg.Retry.OrDefault()
	c := &Client{cfg: cfg, base: strings.TrimRight(strings.TrimSpace(cfg.BaseURL), "/"), err: cfg.ConfigErr}
	if c.err == nil {
		u, err := url.Parse(c.base)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			c.err = cfg.Vendor.InvalidRequest("base URL must be an absolute http(s) URL without query")
		}
	}
	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	} else {
		hc = http.Client{Transport: DefaultTransport()}
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

// DefaultTransport has bounded dial and TLS times, and drops idle
// connections sooner than common servers do, so a create rarely meets a
// connection the server is just closing (that would be an unknown outcome).
func DefaultTransport() *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       30 * time.Second,
		MaxIdleConnsPerHost:   16,
	}
}

// Vendor is the provider's name.
func (c *Client) Vendor() Vendor { return c.cfg.Vendor }

// Timeout is the bound of one attempt.
func (c *Client) Timeout() time.Duration { return c.cfg.Timeout }

// Retry is the read policy in force.
func (c *Client) Retry() Retry { return c.cfg.Retry }

// ConfigErr is the configuration problem every call reports, if any.
func (c *Client) ConfigErr() error { return c.err }

// Request is one call.
type Request struct {
	Method string
	Path   string // appended to the base URL
	Query  url.Values
	Body   []byte // sent as application/json; nil for none
	Header http.Header
	Accept string // default application/json
	// Auth overrides the client's credential (a token endpoint, say).
	Auth Auth
	// Timeout overrides the client's per-attempt bound (a long poll).
	Timeout time.Duration
	// MaxBody overrides the client's answer bound.
	MaxBody int64
}

// Response is an answer read in full, or as far as it could be.
type Response struct {
	Status  int
	Header  http.Header
	Body    []byte
	BodyErr error // reading the body failed after the status line arrived
	// TooLarge: the body is longer than the bound (Body holds its start);
	// asking again will not cure it.
	TooLarge bool
	secrets  []string
}

// OK reports a 2xx status.
func (r *Response) OK() bool { return r.Status >= 200 && r.Status < 300 }

// Clean is CleanMessage with the client's secrets and the credential this
// answer was got with.
func (r *Response) Clean(msg string) string { return CleanMessage(msg, r.secrets...) }

// SendError is a failed round trip: no status line was received.
type SendError struct {
	Cause error
	// Reached is false only when the request provably never left: the
	// failure happened before a connection was obtained.
	Reached bool
	// Dial is true for a failure to connect (refused, DNS, dial timeout).
	Dial bool
}

func (e *SendError) Error() string { return e.Cause.Error() }
func (e *SendError) Unwrap() error { return e.Cause }

func (c *Client) auth(req Request) Auth {
	if req.Auth != nil {
		return req.Auth
	}
	if c.cfg.Auth != nil {
		return c.cfg.Auth
	}
	return Headers(nil)
}

// Attempt makes one exchange: with a fresh credential once more when the
// answer refused a stale one. Errors are *SendError, or an already
// classified error from before anything was sent (configuration,
// credentials), or the mapped answer when a fresh credential was refused
// too.
func (c *Client) Attempt(ctx context.Context, req Request) (*Response, error) {
	if c.err != nil {
		return nil, c.err
	}
	auth := c.auth(req)
	cred, err := auth.Credential(ctx)
	if err != nil {
		return nil, err
	}
	res, err := c.exchange(ctx, req, auth, cred)
	if err != nil || !auth.Stale(cred, res) {
		return res, err
	}
	if cred, err = auth.Credential(ctx); err != nil {
		return nil, err
	}
	if res, err = c.exchange(ctx, req, auth, cred); err != nil {
		return nil, err
	}
	if auth.Stale(cred, res) {
		return nil, Prefix("after a fresh access token", c.StatusErrorOf(res))
	}
	return res, nil
}

// exchange sends once under the per-attempt bound and reads the answer.
func (c *Client) exchange(ctx context.Context, req Request, auth Auth, cred string) (*Response, error) {
	timeout := c.cfg.Timeout
	if req.Timeout > 0 {
		timeout = req.Timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := c.send(ctx, req, auth, cred)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	limit := c.cfg.MaxBody
	if req.MaxBody > 0 {
		limit = req.MaxBody
	}
	res := &Response{Status: resp.StatusCode, Header: resp.Header, secrets: append([]string{cred}, c.cfg.Secrets...)}
	res.Body, res.BodyErr = io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if int64(len(res.Body)) > limit {
		res.Body = res.Body[:limit]
		res.TooLarge = true
		if res.BodyErr == nil {
			res.BodyErr = fmt.Errorf("answer larger than %d bytes", limit)
		}
	}
	return res, nil
}

// Open sends once and returns the open answer, for a stream the caller
// reads and bounds in time itself. It does not refresh credentials.
func (c *Client) Open(ctx context.Context, req Request) (*http.Response, error) {
	if c.err != nil {
		return nil, c.err
	}
	auth := c.auth(req)
	cred, err := auth.Credential(ctx)
	if err != nil {
		return nil, err
	}
	return c.send(ctx, req, auth, cred)
}

func (c *Client) send(ctx context.Context, req Request, auth Auth, cred string) (*http.Response, error) {
	target := c.base + req.Path
	if len(req.Query) > 0 {
		target += "?" + req.Query.Encode()
	}
	var body io.Reader
	if req.Body != nil {
		body = bytes.NewReader(req.Body)
	}
	// An error before GotConn proves the request never reached the server.
	var gotConn atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) }})
	hr, err := http.NewRequestWithContext(ctx, req.Method, target, body)
	if err != nil {
		return nil, c.cfg.Vendor.InvalidRequest("cannot build the request URL")
	}
	for k, vs := range req.Header {
		hr.Header[k] = vs
	}
	hr.Header.Set("Accept", cmpOr(req.Accept, "application/json"))
	if c.cfg.UserAgent != "" {
		hr.Header.Set("User-Agent", c.cfg.UserAgent)
	}
	if req.Body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	auth.Apply(hr.Header, cred)

	resp, err := c.hc.Do(hr)
	if err != nil {
		dial := isDialError(err)
		reached := !dial // a transport we cannot see into: only a dial error proves it never left
		if c.traceable {
			// net/http's Transport writes a request only on a connection it
			// reported with GotConn (HTTP/1 and HTTP/2 alike).
			reached = gotConn.Load()
		}
		return nil, &SendError{Cause: err, Reached: reached, Dial: dial}
	}
	return resp, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// isDialError reports a failure to connect: the request was not written.
func isDialError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// Retryable reports an answer status worth another try of a read.
func Retryable(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500 && status != http.StatusNotImplemented
}

// Read performs a call that changes nothing at the provider, with the retry
// policy, and returns a 2xx answer read in full.
func (c *Client) Read(ctx context.Context, req Request) (*Response, error) {
	return c.read(ctx, req, c.cfg.Retry.Tries())
}

// ReadOnce is Read tried once (a long poll, say).
func (c *Client) ReadOnce(ctx context.Context, req Request) (*Response, error) {
	return c.read(ctx, req, 1)
}

func (c *Client) read(ctx context.Context, req Request, tries int) (*Response, error) {
	for attempt := 1; ; attempt++ {
		res, again, err := c.readOnce(ctx, req)
		if err == nil {
			return res, nil
		}
		if !again || attempt >= tries || !Sleep(ctx, c.cfg.Retry.Delay(attempt)) {
			return nil, err
		}
	}
}

// readOnce makes one attempt; again says whether another may help. Only the
// caller's context is consulted: an attempt that ran out of its own time is
// worth another try while the caller still waits.
func (c *Client) readOnce(ctx context.Context, req Request) (*Response, bool, error) {
	v := c.cfg.Vendor
	res, err := c.Attempt(ctx, req)
	if err != nil {
		var se *SendError
		if errors.As(err, &se) {
			return nil, ctx.Err() == nil, v.Unavailable("", se.Cause)
		}
		return nil, false, err
	}
	if res.OK() {
		switch {
		case res.TooLarge:
			return nil, false, v.Unavailable(res.BodyErr.Error(), nil)
		case res.BodyErr != nil:
			return nil, ctx.Err() == nil, v.Unavailable("reading the answer", res.BodyErr)
		}
		return res, false, nil
	}
	return nil, Retryable(res.Status), c.StatusErrorOf(res)
}

// Create sends a call that makes or changes something at the provider (op
// names it in an unknown outcome). It is sent once, and again only when
// every try before provably never connected. It returns a 2xx answer read
// in full, an error that says nothing was done (ErrNotSent, or an answer
// refusing it), or an *OutcomeUnknownError. A 2xx the caller cannot decode
// is an unknown outcome too: see Unknown.
func (c *Client) Create(ctx context.Context, op string, req Request) (*Response, error) {
	v := c.cfg.Vendor
	for attempt := 1; ; attempt++ {
		res, err := c.Attempt(ctx, req)
		if err != nil {
			var se *SendError
			switch {
			case !errors.As(err, &se):
				// Configuration or credentials failed first: nothing was sent.
				if errors.Is(err, ErrUnavailable) && !errors.Is(err, ErrNotSent) {
					return nil, v.NotSent("no access token", err)
				}
				return nil, err
			case se.Reached:
				return nil, v.Unknown(op, "the request may have reached "+string(v), se.Cause)
			case se.Dial && attempt < createAttempts && ctx.Err() == nil && Sleep(ctx, c.cfg.Retry.Delay(attempt)):
				continue
			case se.Dial:
				return nil, v.NotSent("could not connect", se.Cause)
			}
			return nil, v.NotSent("no connection was made", se.Cause)
		}
		switch {
		case res.OK() && res.TooLarge:
			return nil, v.Unknown(op, fmt.Sprintf("HTTP %d answer: %v", res.Status, res.BodyErr), nil)
		case res.OK() && res.BodyErr != nil:
			return nil, v.Unknown(op, fmt.Sprintf("HTTP %d answer could not be read", res.Status), res.BodyErr)
		case res.OK():
			return res, nil
		case res.Status == http.StatusBadGateway || res.Status == http.StatusGatewayTimeout:
			// A gateway in front of the provider gave up waiting or lost
			// the connection: the provider itself may have acted. Any
			// other 5xx is the provider answering that it did nothing.
			_, msg := c.complaint(res)
			return nil, v.Unknown(op, StatusDetail(res.Status, res.Clean(msg)), nil)
		}
		return nil, c.StatusErrorOf(res)
	}
}

func (c *Client) complaint(res *Response) (code, message string) {
	if c.cfg.Complaint == nil {
		return "", ""
	}
	return c.cfg.Complaint(res.Body)
}

// StatusErrorOf maps a non-2xx answer: the vendor's Errors first, then
// StatusError.
func (c *Client) StatusErrorOf(res *Response) error {
	code, msg := c.complaint(res)
	if c.cfg.Errors != nil {
		if err := c.cfg.Errors(res, code, msg); err != nil {
			return err
		}
	}
	return c.StatusError(res, code, msg)
}

// StatusError maps a non-2xx answer the common way, with the code and
// message the vendor's error body gave (cleaned here): 401 bad credentials,
// 403 forbidden, 404 not found, 429 and 5xx unavailable, any other 4xx
// rejected, and anything else (a redirect, which is never followed, or a
// 1xx oddity) unavailable.
func (c *Client) StatusError(res *Response, code, message string) error {
	v := c.cfg.Vendor
	msg := res.Clean(message)
	detail := StatusDetail(res.Status, msg)
	switch {
	case res.Status == http.StatusUnauthorized:
		return v.BadCredentials(detail)
	case res.Status == http.StatusForbidden:
		return v.Kind(detail, nil, ErrForbidden)
	case res.Status == http.StatusNotFound:
		return v.NotFound(detail)
	case res.Status == http.StatusTooManyRequests:
		return v.Unavailable(detail, nil)
	case res.Status >= 400 && res.Status < 500:
		return v.Rejected(res.Status, res.Clean(code), msg)
	}
	return v.Unavailable(detail, nil)
}

// DecodeStrict decodes exactly one JSON value; trailing data is an error
// (a truncated or concatenated answer must not pass as a good one).
func DecodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// JSONText is a JSON string's value, or the raw text of any other value
// ("" for null or nothing): how a provider's free-form field is shown.
func JSONText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	return string(raw)
}
