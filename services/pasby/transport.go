package pasby

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync/atomic"
	"syscall"
	"time"
)

// maxBody bounds what is read of any answer.
const maxBody = 1 << 20

// authMode says which credential headers a call carries.
type authMode int

const (
	authSecret authMode = iota // x-api-key + x-access-secret
	authToken                  // x-api-key + x-access-token (from authorize)
)

// call is one HTTP request to pasby.
type call struct {
	method string
	path   string
	query  url.Values
	body   []byte // JSON; nil for none
	auth   authMode
	stream bool // SSE / long-held: no http.Client timeout; Accept set by the caller
	accept string
	// lastEventID is sent as Last-Event-ID when reopening an event stream.
	lastEventID string
}

// response is an HTTP answer read in full (or as far as it could be).
type response struct {
	status  int
	body    []byte
	bodyErr error // reading the body failed (after the status line arrived)
}

// transportError is a failed round trip: no status line was received.
type transportError struct {
	cause error
	// reached is false only when the request provably never left: the
	// failure happened before a connection was obtained.
	reached bool
	// dial is true for a dial failure (connection refused, DNS, dial timeout).
	dial bool
}

func (e *transportError) Error() string { return e.cause.Error() }
func (e *transportError) Unwrap() error { return e.cause }

// roundTrip sends one request and returns the open response. tok is the
// access token for authToken calls.
func (c *Client) roundTrip(ctx context.Context, cl call, tok string) (*http.Response, error) {
	if c.configErr != nil {
		return nil, c.configErr
	}
	u := c.base + cl.path
	if len(cl.query) > 0 {
		u += "?" + cl.query.Encode()
	}
	var rdr io.Reader
	if cl.body != nil {
		rdr = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, u, rdr)
	if err != nil {
		return nil, invalidRequest("bad base URL")
	}
	accept := cl.accept
	if accept == "" {
		accept = "application/json"
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", "portal-pasby/1")
	req.Header.Set("x-api-key", c.key)
	switch cl.auth {
	case authToken:
		req.Header.Set("x-access-token", tok)
	default:
		req.Header.Set("x-access-secret", c.secret)
	}
	if cl.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if cl.stream {
		req.Header.Set("Cache-Control", "no-cache")
	}
	if cl.lastEventID != "" {
		req.Header.Set("Last-Event-ID", cl.lastEventID)
	}

	// Track whether a connection was obtained: an error before that proves
	// the request never reached the server.
	var gotConn atomic.Bool
	trace := &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) },
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))

	hc := c.hc
	if cl.stream {
		hc = c.streamHC
	}
	resp, err := hc.Do(req)
	if err != nil {
		dial := isDialError(err)
		var reached bool
		if c.traceable {
			// net/http's Transport writes a request only on a connection it
			// reported with GotConn (HTTP/1 and HTTP/2 alike).
			reached = gotConn.Load()
		} else {
			// A transport we cannot see into: only a dial error proves
			// the request never left.
			reached = !dial
		}
		return nil, &transportError{cause: err, reached: reached, dial: dial}
	}
	return resp, nil
}

// send makes one round trip and reads the whole answer.
func (c *Client) send(ctx context.Context, cl call, tok string) (*response, error) {
	resp, err := c.roundTrip(ctx, cl, tok)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	res := &response{status: resp.StatusCode}
	res.body, res.bodyErr = io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if res.bodyErr == nil && len(res.body) > maxBody {
		res.bodyErr = fmt.Errorf("answer larger than %d bytes", maxBody)
	}
	return res, nil
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

// tokenRefused reports a 401 that a fresh access token may cure: any 401
// except an expired flow (status "expiration" / type "session_expiry").
func tokenRefused(status int, body []byte) bool {
	return status == http.StatusUnauthorized && !errors.Is(errorFromBody(status, body), ErrExpired)
}

// authed sends a call with its credentials. For authToken calls, a 401 drops
// the token, fetches a new one and sends once more; a second 401 is
// ErrUnauthorized. Errors are token errors (typed; the call was not sent) or
// *transportError. It returns the token used (to redact it from messages).
func (c *Client) authed(ctx context.Context, cl call) (*response, string, error) {
	if cl.auth != authToken {
		res, err := c.send(ctx, cl, "")
		return res, "", err
	}
	tok, err := c.token(ctx)
	if err != nil {
		return nil, "", err
	}
	res, err := c.send(ctx, cl, tok)
	if err != nil || !tokenRefused(res.status, res.body) {
		return res, tok, err
	}
	c.invalidate(tok)
	tok, err = c.token(ctx)
	if err != nil {
		return nil, "", err
	}
	res, err = c.send(ctx, cl, tok)
	if err != nil {
		return nil, "", err
	}
	if tokenRefused(res.status, res.body) {
		c.invalidate(tok)
		return nil, "", errorPrefix("after a fresh access token", c.statusError(res, tok))
	}
	return res, tok, nil
}

// read performs a read call (ping, refresh, authorize) with retries and
// returns a 2xx answer.
func (c *Client) read(ctx context.Context, cl call) (*response, error) {
	for attempt := 1; ; attempt++ {
		res, retry, err := c.readOnce(ctx, cl)
		if err == nil {
			return res, nil
		}
		if !retry || attempt >= c.readAttempts || !c.sleep(ctx, c.backoff(attempt)) {
			return nil, err
		}
	}
}

func (c *Client) readOnce(ctx context.Context, cl call) (*response, bool, error) {
	res, tok, err := c.authed(ctx, cl)
	if err != nil {
		var te *transportError
		if errors.As(err, &te) {
			return nil, ctx.Err() == nil, unavailable("", te.cause)
		}
		return nil, false, err // token errors were retried already
	}
	if res.status >= 200 && res.status < 300 {
		if res.bodyErr != nil {
			return nil, ctx.Err() == nil, unavailable("reading the answer", res.bodyErr)
		}
		return res, false, nil
	}
	return nil, retryableStatus(res.status), c.statusError(res, tok)
}

// once performs a call that is not retried (polling): any failure to get
// an answer is ErrUnavailable.
func (c *Client) once(ctx context.Context, cl call) (*response, error) {
	res, tok, err := c.authed(ctx, cl)
	if err != nil {
		var te *transportError
		if errors.As(err, &te) {
			return nil, unavailable("", te.cause)
		}
		return nil, err
	}
	if res.status >= 200 && res.status < 300 {
		if res.bodyErr != nil {
			return nil, unavailable("reading the answer", res.bodyErr)
		}
		return res, nil
	}
	return nil, c.statusError(res, tok)
}

// statusError maps a non-2xx answer.
func (c *Client) statusError(res *response, tok string) error {
	if res.status < 400 || res.status >= 500 {
		// 5xx, and 3xx (redirects are never followed), 1xx oddities.
		return unavailable(statusDetail(res.status, reasonOf(res.body, c.secrets(tok)...)), nil)
	}
	return errorFromBody(res.status, res.body, c.secrets(tok)...)
}

// reasonOf digs a human message out of an error body, cleaned.
func reasonOf(body []byte, secrets ...string) string {
	var raw rawEnvelope
	if json.Unmarshal(body, &raw) != nil {
		return ""
	}
	if s := cleanMessage(rawString(raw.Reason), secrets...); s != "" {
		return s
	}
	return cleanMessage(rawString(raw.Message), secrets...)
}

func retryableStatus(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500 && status != http.StatusNotImplemented
}

// create sends a call that changes something at pasby (signing, review,
// cancel): sent once; sent again only when it provably never reached pasby.
// It returns a 2xx answer, or the error (see OutcomeUnknownError).
func (c *Client) create(ctx context.Context, cl call) (*response, string, error) {
	for attempt := 1; ; attempt++ {
		res, tok, err := c.authed(ctx, cl)
		if err != nil {
			var te *transportError
			if !errors.As(err, &te) {
				// The access token could not be had: nothing was sent.
				if errors.Is(err, ErrUnavailable) && !errors.Is(err, ErrNotSent) {
					return nil, "", notSent("no access token", err)
				}
				return nil, "", err
			}
			if te.reached {
				return nil, "", unknownOutcome("the request may have reached pasby", te.cause)
			}
			if te.dial && attempt < c.dialAttempts && ctx.Err() == nil && c.sleep(ctx, c.backoff(attempt)) {
				continue
			}
			if te.dial {
				return nil, "", notSent("could not connect", te.cause)
			}
			return nil, "", notSent("no connection was made", te.cause)
		}
		switch {
		case res.status >= 200 && res.status < 300:
			if res.bodyErr != nil {
				return nil, "", unknownOutcome(fmt.Sprintf("HTTP %d answer could not be read", res.status), res.bodyErr)
			}
			return res, tok, nil
		case res.status == http.StatusBadGateway || res.status == http.StatusGatewayTimeout:
			// A gateway in front of pasby gave up waiting or lost the
			// connection: pasby itself may have acted.
			return nil, "", unknownOutcome(statusDetail(res.status, reasonOf(res.body, c.secrets(tok)...)), nil)
		default:
			return nil, "", c.statusError(res, tok)
		}
	}
}

// backoff is the wait before try attempt+1 of a read or a dial retry:
// exponential from backoffBase, capped at backoffMax, equal jitter.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.backoffBase << (attempt - 1)
	if d > c.backoffMax || d <= 0 {
		d = c.backoffMax
	}
	return d/2 + rand.N(d/2+1)
}

// sleep waits d. It returns false, at once, if the context ends first or
// its deadline leaves no room for the wait.
func (c *Client) sleep(ctx context.Context, d time.Duration) bool {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// secrets lists what must never appear in an error text.
func (c *Client) secrets(tok string) []string {
	return []string{c.key, c.secret, tok}
}
