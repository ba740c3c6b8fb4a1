package pasby

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// authorizePath is GET /api/v1/flow/authorize: the flow document marks it
// "v1 only", so it is the same path whatever Config.APIVersion says.
const authorizePath = "/api/v1/flow/authorize"

// tokenCache holds the v1 access token (x-access-token) shared by all
// callers. When there is no valid token, one fetch runs (a "flight") and
// every caller waits for it.
type tokenCache struct {
	mu      sync.Mutex
	token   string
	expires time.Time // zero: no known expiry, used until a 401
	flight  *tokenFlight
}

type tokenFlight struct {
	done  chan struct{}
	token string
	err   error
}

// refreshMargin is how long before a JWT's exp the token is replaced: 30 s
// or 10 % of its remaining life, whichever is smaller.
func refreshMargin(life time.Duration) time.Duration {
	m := life / 10
	if m > 30*time.Second {
		m = 30 * time.Second
	}
	if m < 0 {
		m = 0
	}
	return m
}

// token returns a valid access token, fetching one if needed. Concurrent
// callers share one fetch; a caller whose context ends stops waiting, the
// fetch goes on for the others.
func (c *Client) token(ctx context.Context) (string, error) {
	c.tokens.mu.Lock()
	if c.tokens.token != "" && (c.tokens.expires.IsZero() || c.now().Before(c.tokens.expires)) {
		t := c.tokens.token
		c.tokens.mu.Unlock()
		return t, nil
	}
	f := c.tokens.flight
	if f == nil {
		f = &tokenFlight{done: make(chan struct{})}
		c.tokens.flight = f
		go c.fly(context.WithoutCancel(ctx), f)
	}
	c.tokens.mu.Unlock()
	select {
	case <-f.done:
		return f.token, f.err
	case <-ctx.Done():
		return "", unavailable("waiting for an access token", ctx.Err())
	}
}

func (c *Client) fly(ctx context.Context, f *tokenFlight) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	tok, err := c.fetchToken(ctx)
	c.tokens.mu.Lock()
	if err == nil {
		c.tokens.token = tok
		c.tokens.expires = time.Time{}
		if exp, ok := jwtExpiry(tok); ok {
			if now := c.now(); exp.After(now) {
				c.tokens.expires = exp.Add(-refreshMargin(exp.Sub(now)))
			}
			// An exp already past by our clock (skew): used until a 401.
		}
	}
	c.tokens.flight = nil
	f.token, f.err = tok, err
	c.tokens.mu.Unlock()
	close(f.done)
}

// invalidate drops tok from the cache if it is still the cached one (another
// caller may already have replaced it).
func (c *Client) invalidate(tok string) {
	c.tokens.mu.Lock()
	if c.tokens.token == tok {
		c.tokens.token = ""
		c.tokens.expires = time.Time{}
	}
	c.tokens.mu.Unlock()
}

// fetchToken calls authorize, with the read retry policy.
func (c *Client) fetchToken(ctx context.Context) (string, error) {
	for attempt := 1; ; attempt++ {
		tok, retry, err := c.fetchTokenOnce(ctx)
		if err == nil {
			return tok, nil
		}
		if !retry || attempt >= c.readAttempts || !c.sleep(ctx, c.backoff(attempt)) {
			return "", err
		}
	}
}

func (c *Client) fetchTokenOnce(ctx context.Context) (string, bool, error) {
	q := url.Values{}
	if c.consumer != "" {
		q.Set("sub", c.consumer)
	}
	if c.app != "" {
		q.Set("app", c.app)
	}
	res, err := c.send(ctx, call{method: http.MethodGet, path: authorizePath, query: q, auth: authSecret}, "")
	if err != nil {
		var te *transportError
		if errors.As(err, &te) {
			return "", ctx.Err() == nil, unavailable("authorize", te.cause)
		}
		return "", false, err
	}
	switch {
	case res.status >= 200 && res.status < 300:
		if res.bodyErr != nil {
			return "", ctx.Err() == nil, unavailable("authorize: reading the answer", res.bodyErr)
		}
		tok, err := decodeToken(res.status, res.body)
		if err != nil {
			var me *malformedError
			if errors.As(err, &me) {
				return "", false, unavailable("authorize", err)
			}
			return "", false, errorPrefix("authorize", err)
		}
		return tok, false, nil
	case res.status == http.StatusUnauthorized || res.status == http.StatusForbidden:
		return "", false, kind(ErrUnauthorized, "authorize refused the API key and app secret: "+
			statusDetail(res.status, reasonOf(res.body, c.secrets("")...)))
	case res.status == http.StatusNotFound:
		// Not ErrUnknownFlow: that means an unknown flow to callers.
		return "", false, unavailable("authorize endpoint not found (check the base URL)", nil)
	default:
		return "", retryableStatus(res.status), errorPrefix("authorize", c.statusError(res, ""))
	}
}

// jwtExpiry reads the exp claim of a JWT without verifying it (pasby signs
// the token for itself; we only want to know when to renew it).
func jwtExpiry(tok string) (time.Time, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || len(parts[1]) > 8<<10 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp == "" {
		return time.Time{}, false
	}
	exp, err := claims.Exp.Int64()
	if err != nil || exp <= 0 || exp > 1<<40 {
		return time.Time{}, false
	}
	return time.Unix(exp, 0), true
}
