package upstream

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// Auth puts credentials on a request.
type Auth interface {
	// Credential is what one attempt sends. It is kept out of every error
	// text. An error means nothing was sent; it is already classified.
	Credential(ctx context.Context) (string, error)
	// Apply puts the credential on the request's headers.
	Apply(h http.Header, credential string)
	// Stale reports whether res refused the credential in a way a fresh one
	// may cure, and forgets it; the request is then sent once more.
	Stale(credential string, res *Response) bool
}

// Headers are fixed credential headers (an API key and secret, say).
type Headers map[string]string

func (Headers) Credential(context.Context) (string, error) { return "", nil }

func (a Headers) Apply(h http.Header, _ string) {
	for k, v := range a {
		h.Set(k, v)
	}
}

func (Headers) Stale(string, *Response) bool { return false }

// Bearer sends "Authorization: Bearer <key>".
func Bearer(key string) Auth { return Headers{"Authorization": "Bearer " + key} }

// Basic sends HTTP Basic credentials.
func Basic(user, password string) Auth { return basic{user, password} }

type basic struct{ user, password string }

func (basic) Credential(context.Context) (string, error) { return "", nil }
func (a basic) Apply(h http.Header, _ string) {
	r := http.Request{Header: h}
	r.SetBasicAuth(a.user, a.password)
}
func (basic) Stale(string, *Response) bool { return false }

// Token is an access token fetched from the provider and shared by every
// caller. When there is no valid token, one fetch runs (a "flight") and
// every caller waits for it; a caller whose context ends stops waiting, the
// fetch goes on for the others. An answer that refuses the token drops it,
// and the request is sent once more with a fresh one.
type Token struct {
	Vendor Vendor
	// Fetch gets a new token and when it expires (zero: no known expiry,
	// used until refused). Its errors are classified already.
	Fetch func(ctx context.Context) (token string, expires time.Time, err error)
	// Set puts the token on a request's headers.
	Set func(h http.Header, token string)
	// Refused reports an answer that refuses the token; nil means a 401.
	Refused func(res *Response) bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu      sync.Mutex
	token   string
	expires time.Time
	flight  *flight
}

type flight struct {
	done  chan struct{}
	token string
	err   error
}

// RefreshMargin is how long before its expiry a token is replaced: 30 s or
// 10 % of its remaining life, whichever is smaller.
func RefreshMargin(life time.Duration) time.Duration {
	return min(max(life/10, 0), 30*time.Second)
}

func (t *Token) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t *Token) Credential(ctx context.Context) (string, error) {
	t.mu.Lock()
	if t.token != "" && (t.expires.IsZero() || t.now().Before(t.expires)) {
		tok := t.token
		t.mu.Unlock()
		return tok, nil
	}
	f := t.flight
	if f == nil {
		f = &flight{done: make(chan struct{})}
		t.flight = f
		go t.fly(context.WithoutCancel(ctx), f)
	}
	t.mu.Unlock()
	select {
	case <-f.done:
		return f.token, f.err
	case <-ctx.Done():
		return "", t.Vendor.Unavailable("waiting for an access token", ctx.Err())
	}
}

func (t *Token) fly(ctx context.Context, f *flight) {
	start := t.now()
	tok, exp, err := t.Fetch(ctx)
	t.mu.Lock()
	if err == nil {
		t.token, t.expires = tok, time.Time{}
		// An expiry already past by our clock (skew): used until refused.
		if !exp.IsZero() && exp.After(start) {
			t.expires = exp.Add(-RefreshMargin(exp.Sub(start)))
		}
	}
	t.flight = nil
	f.token, f.err = tok, err
	t.mu.Unlock()
	close(f.done)
}

func (t *Token) Apply(h http.Header, token string) { t.Set(h, token) }

func (t *Token) Stale(token string, res *Response) bool {
	refused := res.Status == http.StatusUnauthorized
	if t.Refused != nil {
		refused = t.Refused(res)
	}
	if refused {
		t.Forget(token)
	}
	return refused
}

// Forget drops token if it is still the cached one (another caller may
// already have replaced it).
func (t *Token) Forget(token string) {
	t.mu.Lock()
	if t.token == token {
		t.token, t.expires = "", time.Time{}
	}
	t.mu.Unlock()
}

// Renew drops the cached token and fetches a fresh one (to check the
// credentials at start-up, say).
func (t *Token) Renew(ctx context.Context) error {
	t.mu.Lock()
	t.token, t.expires = "", time.Time{}
	t.mu.Unlock()
	_, err := t.Credential(ctx)
	return err
}
