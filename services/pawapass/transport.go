package pawapass

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

// maxWait caps one retry wait, whatever RetryBase says [ours].
const maxWait = 30 * time.Second

// response is an HTTP answer read in full (or as far as it could be).
type response struct {
	status   int
	body     []byte
	bodyErr  error // reading the body failed after the status line arrived
	tooLarge bool  // the body is longer than maxBody (body holds the start)
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

// attempt makes one HTTP round trip under its own Config.Timeout and reads
// the answer. Errors are *transportError, or ErrInvalidRequest for a URL
// that cannot be a request.
func (c *Client) attempt(ctx context.Context, method, target string, body []byte) (*response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rdr io.Reader
	if body != nil {
		rdr = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rdr)
	if err != nil {
		return nil, invalidRequest("cannot build the request URL")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "portal-pawapass/1")
	req.Header.Set("Authorization", "Bearer "+c.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	// An error before GotConn proves the request never reached the server.
	var gotConn atomic.Bool
	trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) }}
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
	if len(res.body) > maxBody {
		res.body = res.body[:maxBody]
		res.tooLarge = true
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

func retryableStatus(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500 && status != http.StatusNotImplemented
}

// read performs a GET with retries and returns the body of a 2xx answer.
func (c *Client) read(ctx context.Context, target string) ([]byte, error) {
	if c.configErr != nil {
		return nil, c.configErr
	}
	for retry := 0; ; retry++ {
		body, again, err := c.readOnce(ctx, target)
		if err == nil {
			return body, nil
		}
		if !again || retry >= c.readRetries {
			return nil, err
		}
		if c.beforeRetryWait != nil {
			c.beforeRetryWait()
		}
		if ok, ctxErr := c.sleep(ctx, c.backoff(retry)); !ok {
			if ctxErr != nil {
				return nil, unavailable(fmt.Sprintf("gave up retrying (%s)", trimKind(err)), ctxErr)
			}
			return nil, err // no time left before the deadline for another try
		}
	}
}

func (c *Client) readOnce(ctx context.Context, target string) ([]byte, bool, error) {
	res, err := c.attempt(ctx, http.MethodGet, target, nil)
	if err != nil {
		var te *transportError
		if errors.As(err, &te) {
			// The attempt's own timeout is worth another try; the
			// caller's context ending is not.
			return nil, ctx.Err() == nil, unavailable("", te.cause)
		}
		return nil, false, err
	}
	if res.status >= 200 && res.status < 300 {
		switch {
		case res.tooLarge:
			return nil, false, unavailable(fmt.Sprintf("answer larger than %d bytes", maxBody), nil)
		case res.bodyErr != nil:
			return nil, ctx.Err() == nil, unavailable("reading the answer", res.bodyErr)
		}
		return res.body, false, nil
	}
	return nil, retryableStatus(res.status), statusError(res.status, res.body, c.key)
}

// create sends a POST that makes something at pawaPass: once, and once more
// only when the first provably never connected. It returns a 2xx answer
// read in full, or the error (see OutcomeUnknownError).
func (c *Client) create(ctx context.Context, target string, body []byte) (*response, error) {
	if c.configErr != nil {
		return nil, c.configErr
	}
	for attempt := 1; ; attempt++ {
		res, err := c.attempt(ctx, http.MethodPost, target, body)
		if err != nil {
			var te *transportError
			if !errors.As(err, &te) {
				return nil, err
			}
			if te.reached {
				return nil, unknownOutcome("the request may have reached pawaPass", te.cause)
			}
			if te.dial && attempt < c.dialAttempts && ctx.Err() == nil {
				if ok, _ := c.sleep(ctx, c.backoff(0)); ok {
					continue
				}
			}
			if te.dial {
				return nil, notSent("could not connect", te.cause)
			}
			return nil, notSent("no connection was made", te.cause)
		}
		switch {
		case res.status >= 200 && res.status < 300:
			// The document gives no status code ("Default Response"): any
			// 2xx carrying a verification is success [ours].
			switch {
			case res.tooLarge:
				return nil, unknownOutcome(fmt.Sprintf("HTTP %d answer larger than %d bytes", res.status, maxBody), nil)
			case res.bodyErr != nil:
				return nil, unknownOutcome(fmt.Sprintf("HTTP %d answer could not be read", res.status), res.bodyErr)
			}
			return res, nil
		case res.status == http.StatusBadGateway || res.status == http.StatusGatewayTimeout:
			// A gateway in front of pawaPass gave up waiting or lost the
			// connection: pawaPass itself may have created it. Any other
			// 5xx is taken as pawaPass answering that it made nothing
			// [ours: the document lists no errors but 401 and 403].
			return nil, unknownOutcome(statusDetail(res.status, cleanMessage(decodeErrorBody(res.body).message, c.key)), nil)
		default:
			return nil, statusError(res.status, res.body, c.key)
		}
	}
}

// backoff is the wait before retry number retry+1 (0-based): RetryBase
// doubling, capped at maxWait, with ±25 % jitter so many clients that
// failed together do not come back together.
func (c *Client) backoff(retry int) time.Duration {
	d := c.retryBase << retry
	if d <= 0 || d > maxWait || retry > 30 {
		d = maxWait
	}
	return d*3/4 + rand.N(d/2+1)
}

// sleep waits d. It returns false at once if the context's deadline leaves
// no room for the wait, or with the context's error if it ends first.
func (c *Client) sleep(ctx context.Context, d time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
		return false, nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// trimKind is an error's text without the package prefix, for nesting.
func trimKind(err error) string {
	s := err.Error()
	const p = "pawapass: "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}
