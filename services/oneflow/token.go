package oneflow

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"
)

// tokenCache holds the access token shared by all callers. When there is no
// valid token, one fetch runs (a "flight") and every caller waits for it.
type tokenCache struct {
	mu      sync.Mutex
	token   string
	expires time.Time // the token is used while now < expires
	flight  *tokenFlight
}

type tokenFlight struct {
	done  chan struct{}
	token string
	err   error
}

// refreshMargin is how long before expires_in the token is replaced:
// 30 s or 10 % of its life, whichever is smaller.
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
	if c.tokens.token != "" && c.now().Before(c.tokens.expires) {
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
	start := c.now()
	tok, life, err := c.fetchToken(ctx)
	c.tokens.mu.Lock()
	if err == nil {
		c.tokens.token = tok
		c.tokens.expires = start.Add(life - refreshMargin(life))
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

// fetchToken asks the token endpoint, with the read retry policy.
func (c *Client) fetchToken(ctx context.Context) (string, time.Duration, error) {
	for attempt := 1; ; attempt++ {
		tok, life, retry, err := c.fetchTokenOnce(ctx)
		if err == nil {
			return tok, life, nil
		}
		if !retry || attempt >= c.readAttempts || !c.sleep(ctx, attempt) {
			return "", 0, err
		}
	}
}

func (c *Client) fetchTokenOnce(ctx context.Context) (string, time.Duration, bool, error) {
	res, err := c.send(ctx, http.MethodPost, tokenPath, nil, "", true)
	if err != nil {
		var te *transportError
		if errors.As(err, &te) {
			return "", 0, ctx.Err() == nil, unavailable("token", te.cause)
		}
		return "", 0, false, err
	}
	switch {
	case res.status >= 200 && res.status < 300:
		if res.bodyErr != nil {
			return "", 0, ctx.Err() == nil, unavailable("token: reading the answer", res.bodyErr)
		}
		tok, life, err := decodeToken(res.body)
		if err != nil {
			return "", 0, false, unavailable("token", err)
		}
		return tok, life, false, nil
	case res.status == http.StatusUnauthorized || res.status == http.StatusForbidden:
		return "", 0, false, badCredentials("token endpoint refused the client id and secret: " + statusDetail(res.status, cleanMessage(errorMessage(res.body), "")))
	case res.status == http.StatusNotFound:
		// Not ErrNotFound: that means an unknown customer to callers.
		return "", 0, false, unavailable("token endpoint not found (check the base URL)", nil)
	default:
		err := c.statusError(res, "")
		return "", 0, retryableStatus(res.status), errorPrefix("token", err)
	}
}

// errorPrefix adds context to a kindError's detail; other errors pass through.
func errorPrefix(what string, err error) error {
	var ke *kindError
	if errors.As(err, &ke) {
		cp := *ke
		if cp.detail != "" {
			cp.detail = what + ": " + cp.detail
		} else {
			cp.detail = what
		}
		return &cp
	}
	return err
}
