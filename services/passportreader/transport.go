package passportreader

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

// Methods, as <class>.<method> under /api/v1/.
const (
	methodCreate = "session.create"
	methodGet    = "session.get"
	methodState  = "session.state"
)

// Answer bounds: session.get carries two base64 images, a few MB at most.
const (
	maxBody        = 1 << 20
	maxSessionBody = 16 << 20
)

// response is an HTTP answer read in full (or as far as it could be).
type response struct {
	status   int
	body     []byte
	bodyErr  error // reading the body failed (after the status line arrived)
	tooLarge bool  // bodyErr is the size bound, which asking again will not cure
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

// attempt makes one round trip under the per-attempt timeout and reads the
// whole answer, up to limit bytes.
func (c *Client) attempt(ctx context.Context, method string, body []byte, limit int64) (*response, error) {
	if c.configErr != nil {
		return nil, c.configErr
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/api/v1/"+method, bytes.NewReader(body))
	if err != nil {
		return nil, invalidRequest("bad base URL")
	}
	req.SetBasicAuth(c.key, c.secret)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "portal-passportreader/1")

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
	res.body, res.bodyErr = io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if res.bodyErr == nil && int64(len(res.body)) > limit {
		res.body = nil
		res.bodyErr = fmt.Errorf("answer larger than %d bytes", limit)
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

// read performs a read call with the document's retries and returns a 2xx
// answer.
func (c *Client) read(ctx context.Context, method string, body []byte, limit int64) (*response, error) {
	for n := 0; ; n++ {
		res, retry, err := c.readOnce(ctx, method, body, limit)
		if err == nil {
			return res, nil
		}
		if !retry || n >= len(c.delays) || !sleep(ctx, jitter(c.delays[n])) {
			return nil, err
		}
	}
}

// readOnce makes one attempt; retry says whether another may help. Only
// the caller's context is consulted: an attempt that timed out is worth
// another try while the caller still waits.
func (c *Client) readOnce(ctx context.Context, method string, body []byte, limit int64) (*response, bool, error) {
	res, err := c.attempt(ctx, method, body, limit)
	if err != nil {
		var te *transportError
		if errors.As(err, &te) {
			return nil, ctx.Err() == nil, unavailable(method, te.cause)
		}
		return nil, false, err // a Config error
	}
	if res.status >= 200 && res.status < 300 {
		if res.bodyErr != nil {
			return nil, !res.tooLarge && ctx.Err() == nil, unavailable(method+": reading the answer", res.bodyErr)
		}
		return res, false, nil
	}
	return nil, res.status >= 500, c.statusError(method, res)
}

// statusError maps a non-2xx answer.
func (c *Client) statusError(method string, res *response) error {
	if res.status >= 400 && res.status < 600 {
		return c.apiError(res.status, res.body)
	}
	// 3xx (redirects are never followed), 1xx oddities.
	return unavailable(method+": "+statusDetail(res.status, ""), nil)
}

// create sends session.create: once, and once more only when the first
// try provably never reached PassportReader. It returns a 2xx answer, or
// the error (see OutcomeUnknownError).
func (c *Client) create(ctx context.Context, body []byte) (*response, error) {
	for n := 0; ; n++ {
		res, err := c.attempt(ctx, methodCreate, body, maxBody)
		if err != nil {
			var te *transportError
			if !errors.As(err, &te) {
				return nil, err // a Config error: nothing was sent
			}
			if te.reached {
				return nil, unknownOutcome("the request may have reached PassportReader", te.cause)
			}
			if te.dial && n == 0 && ctx.Err() == nil && sleep(ctx, c.dialRetryDelay()) {
				continue
			}
			if te.dial {
				return nil, notSent(methodCreate+": could not connect", te.cause)
			}
			return nil, notSent(methodCreate+": no connection was made", te.cause)
		}
		switch {
		case res.status >= 200 && res.status < 300:
			if res.bodyErr != nil {
				return nil, unknownOutcome(statusDetail(res.status, "")+" answer could not be read", res.bodyErr)
			}
			return res, nil
		case res.status == http.StatusBadGateway || res.status == http.StatusGatewayTimeout:
			// A gateway in front of PassportReader gave up waiting or lost
			// the connection: the session may have been created. The
			// *APIError is not wrapped, so that this never matches
			// ErrUnavailable.
			return nil, unknownOutcome(c.apiError(res.status, res.body).detail(), nil)
		default:
			return nil, c.statusError(methodCreate, res)
		}
	}
}

// dialRetryDelay is the wait before re-sending a create that could not
// connect: the first read delay, so a refusing host gets a moment.
func (c *Client) dialRetryDelay() time.Duration {
	if len(c.delays) == 0 {
		return 0
	}
	return jitter(c.delays[0])
}

// jitter spreads d over ±20 % [ours].
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d - d/5 + rand.N(2*(d/5)+1)
}

// sleep waits d. It returns false, at once, if the context ends first or
// its deadline leaves no room for the wait.
func sleep(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
		return false
	}
	if d <= 0 {
		return true
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
