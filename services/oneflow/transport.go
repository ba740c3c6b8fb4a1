package oneflow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"syscall"
	"time"
)

// maxBody bounds what is read of any answer.
const maxBody = 1 << 20

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

// send makes one HTTP round trip. auth is the whole Authorization value.
func (c *Client) send(ctx context.Context, method, path string, body []byte, auth string, isToken bool) (*response, error) {
	var rdr io.Reader
	if body != nil {
		rdr = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rdr)
	if err != nil {
		return nil, invalidRequest("bad base URL")
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" || req.URL.Host == "" {
		return nil, invalidRequest("base URL must be an absolute http(s) URL")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "portal-oneflow/1")
	if isToken {
		req.SetBasicAuth(c.id, c.secret)
	} else {
		req.Header.Set("Authorization", auth)
		req.Header.Set("Content-Type", "application/json")
	}

	// Track whether a connection was obtained: an error before that proves
	// the request never reached the server.
	var gotConn atomic.Bool
	trace := &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) },
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))

	resp, err := c.hc.Do(req)
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

// authed sends an API call with the bearer token; on a 401 it drops the
// token, fetches a new one and sends once more. Errors are token errors
// (already typed, and the call was not sent) or *transportError.
func (c *Client) authed(ctx context.Context, method, path string, body []byte) (*response, string, error) {
	tok, err := c.token(ctx)
	if err != nil {
		return nil, "", err
	}
	res, err := c.send(ctx, method, path, body, "Bearer "+tok, false)
	if err != nil || res.status != http.StatusUnauthorized {
		return res, tok, err
	}
	c.invalidate(tok)
	tok, err = c.token(ctx)
	if err != nil {
		return nil, "", err
	}
	res, err = c.send(ctx, method, path, body, "Bearer "+tok, false)
	if err != nil {
		return nil, "", err
	}
	if res.status == http.StatusUnauthorized {
		c.invalidate(tok)
		return nil, "", badCredentials(statusDetail(res.status, cleanMessage(errorMessage(res.body), tok)) + " after a fresh token")
	}
	return res, tok, nil
}

// read performs a read call with retries and returns a 2xx answer.
func (c *Client) read(ctx context.Context, method, path string, body []byte) (*response, error) {
	for attempt := 1; ; attempt++ {
		res, retry, err := c.readOnce(ctx, method, path, body)
		if err == nil {
			return res, nil
		}
		if !retry || attempt >= c.readAttempts || !c.sleep(ctx, attempt) {
			return nil, err
		}
	}
}

func (c *Client) readOnce(ctx context.Context, method, path string, body []byte) (*response, bool, error) {
	res, tok, err := c.authed(ctx, method, path, body)
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
	err = c.statusError(res, tok)
	return nil, retryableStatus(res.status), err
}

// statusError maps a non-2xx answer (other than a handled 401).
func (c *Client) statusError(res *response, tok string) error {
	msg := cleanMessage(errorMessage(res.body), tok)
	switch {
	case res.status == http.StatusNotFound:
		if msg == "" {
			msg = "unknown customer, device, card or recharge"
		}
		return notFound(msg)
	case res.status == http.StatusUnauthorized:
		return badCredentials(statusDetail(res.status, msg))
	case res.status == http.StatusTooManyRequests:
		return unavailable(statusDetail(res.status, msg), nil)
	case res.status >= 400 && res.status < 500:
		if msg == "" {
			msg = http.StatusText(res.status)
		}
		if msg == "" {
			msg = fmt.Sprintf("HTTP %d", res.status)
		}
		return &RejectedError{Status: res.status, Message: msg}
	default: // 5xx, 3xx (redirects are not followed), anything odd
		return unavailable(statusDetail(res.status, msg), nil)
	}
}

func retryableStatus(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500 && status != http.StatusNotImplemented
}

// recharge sends the recharge body; see Client.Recharge.
func (c *Client) recharge(ctx context.Context, body []byte) (Recharge, error) {
	for attempt := 1; ; attempt++ {
		res, tok, err := c.authed(ctx, "POST", rechargePath, body)
		if err != nil {
			var te *transportError
			if !errors.As(err, &te) {
				// The token could not be had: nothing was sent.
				if errors.Is(err, ErrUnavailable) && !errors.Is(err, ErrNotSent) {
					return Recharge{}, notSent("no access token", err)
				}
				return Recharge{}, err
			}
			if te.reached {
				return Recharge{}, unknownOutcome("the request may have reached 1flow", te.cause)
			}
			if te.dial && attempt < c.dialAttempts && ctx.Err() == nil && c.sleep(ctx, attempt) {
				continue
			}
			if te.dial {
				return Recharge{}, notSent("could not connect", te.cause)
			}
			return Recharge{}, notSent("no connection was made", te.cause)
		}
		return c.rechargeAnswer(res, tok)
	}
}

func (c *Client) rechargeAnswer(res *response, tok string) (Recharge, error) {
	switch {
	case res.status == http.StatusOK || res.status == http.StatusCreated || res.status == http.StatusAccepted:
		if res.bodyErr != nil {
			return Recharge{}, unknownOutcome(fmt.Sprintf("HTTP %d answer could not be read", res.status), res.bodyErr)
		}
		r, err := decodeRecharge(res.status, res.body)
		if err != nil {
			var rej *RejectedError
			if errors.As(err, &rej) {
				return Recharge{}, rej
			}
			return Recharge{}, unknownOutcome(fmt.Sprintf("HTTP %d", res.status), err)
		}
		return r, nil
	case res.status >= 200 && res.status < 300:
		return Recharge{}, unknownOutcome(fmt.Sprintf("unexpected HTTP %d answer", res.status), nil)
	case res.status == http.StatusBadGateway || res.status == http.StatusGatewayTimeout:
		// A gateway in front of 1flow gave up waiting or lost the
		// connection: 1flow itself may have processed the recharge.
		return Recharge{}, unknownOutcome(statusDetail(res.status, cleanMessage(errorMessage(res.body), tok)), nil)
	default:
		return Recharge{}, c.statusError(res, tok)
	}
}

// sleep waits the backoff before try attempt+1. It returns false, at once,
// if the context ends first or its deadline leaves no room for the wait.
func (c *Client) sleep(ctx context.Context, attempt int) bool {
	d := c.backoffBase << (attempt - 1)
	if d > c.backoffMax || d <= 0 {
		d = c.backoffMax
	}
	// Equal jitter: half fixed, half random.
	d = d/2 + rand.N(d/2+1)
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
