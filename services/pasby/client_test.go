package pasby

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"portal/services/upstream"
)

// cannedAPI answers every documented endpoint with a plausible success.
func cannedAPI(t *testing.T) func(w http.ResponseWriter, r *http.Request, body []byte) {
	signing := readTestdata(t, "signing_response_201.json")
	review := readTestdata(t, "review_response_201.json")
	refresh := readTestdata(t, "refresh_response_200.json")
	return func(w http.ResponseWriter, r *http.Request, body []byte) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/document/signing"):
			writeJSON(w, 201, string(signing))
		case strings.HasSuffix(r.URL.Path, "/document/review"):
			writeJSON(w, 201, string(review))
		case strings.HasSuffix(r.URL.Path, "/document/refresh"):
			writeJSON(w, 200, string(refresh))
		case strings.HasSuffix(r.URL.Path, "/flow/ping"):
			writeJSON(w, 200, pingPending)
		case strings.HasSuffix(r.URL.Path, "/flow/polling"):
			writeJSON(w, 200, pingSigned)
		case strings.HasSuffix(r.URL.Path, "/flow/cancel"):
			writeJSON(w, 201, cancelOK)
		default:
			writeJSON(w, 404, `{"status":"failed","reason":"no route"}`)
		}
	}
}

func sampleSigning() SigningRequest {
	return SigningRequest{
		To:      []string{"12345678901"},
		Webhook: Webhook{Host: "https://portal.example/webhooks/pasby/s3", Reference: "ref-1"},
		File:    FileInput{URL: "https://cdn.example/contract.pdf", Title: "Service Agreement"},
	}
}

func sampleReview() ReviewRequest {
	return ReviewRequest{
		Signees: []ReviewSignee{{Name: "Jane Doe", Type: SigneePerson, Email: "jane@example.com", NIN: "12345678901", Representing: "Jane Doe"}},
		Webhook: Webhook{Host: "https://portal.example/webhooks/pasby/s3", Reference: "ref-2"},
		File:    FileInput{URL: "https://cdn.example/agreement.pdf", Title: "Partnership Agreement"},
	}
}

// endpoint is one client call, for tables over all of them.
type endpoint struct {
	name     string
	path     string // after /api/<version>
	body     string // expected JSON body
	create   bool
	call     func(c *Client) error
	tokenAll bool // sends x-access-token on v2 too (polling)
}

func endpoints() []endpoint {
	ctx := context.Background()
	id := "req_1707025000-AbCd"
	return []endpoint{
		{"signing", "/document/signing", `{"to":["12345678901"],"webhook":{"host":"https://portal.example/webhooks/pasby/s3","reference":"ref-1"},"file":{"url":"https://cdn.example/contract.pdf","title":"Service Agreement"}}`, true,
			func(c *Client) error { _, err := c.Signing(ctx, sampleSigning()); return err }, false},
		{"review", "/document/review", `{"signee":[{"name":"Jane Doe","type":"person","email":"jane@example.com","nin":"12345678901","representing":"Jane Doe"}],"webhook":{"host":"https://portal.example/webhooks/pasby/s3","reference":"ref-2"},"file":{"url":"https://cdn.example/agreement.pdf","title":"Partnership Agreement"}}`, true,
			func(c *Client) error { _, err := c.Review(ctx, sampleReview()); return err }, false},
		{"refresh", "/document/refresh", `{"flow":"` + docID40() + `"}`, false,
			func(c *Client) error { _, err := c.Refresh(ctx, docID40()); return err }, false},
		{"ping", "/flow/ping", `{"request":"` + id + `"}`, false,
			func(c *Client) error { _, err := c.Ping(ctx, id); return err }, false},
		{"cancel", "/flow/cancel", `{"request":"` + id + `"}`, true,
			func(c *Client) error { _, err := c.Cancel(ctx, id); return err }, false},
		{"polling", "/flow/polling", `{"request":"` + id + `"}`, false,
			func(c *Client) error { _, err := c.Polling(ctx, id); return err }, true},
	}
}

func TestHeadersPathsAndBodies(t *testing.T) {
	for _, version := range []string{"v2", "v1"} {
		for _, ep := range endpoints() {
			t.Run(version+"/"+ep.name, func(t *testing.T) {
				u := newFake(t, cannedAPI(t))
				c := fastClient(u.URL, 5*time.Second, func(cfg *Config) { cfg.APIVersion = version })
				if err := ep.call(c); err != nil {
					t.Fatal(err)
				}
				req := u.lastAPI()
				if req.Method != http.MethodPost || req.Path != "/api/"+version+ep.path || req.RawQuery != "" {
					t.Errorf("request = %s %s?%s, want POST /api/%s%s", req.Method, req.Path, req.RawQuery, version, ep.path)
				}
				if got := req.Header.Get("x-api-key"); got != testKey {
					t.Errorf("x-api-key = %q", got)
				}
				useToken := version == "v1" || ep.tokenAll
				if useToken {
					if got := req.Header.Get("x-access-token"); got != "tok-1" {
						t.Errorf("x-access-token = %q, want tok-1", got)
					}
					if got := req.Header.Get("x-access-secret"); got != "" {
						t.Errorf("x-access-secret sent with a token: %q", got)
					}
					if n := u.authReqs.Load(); n != 1 {
						t.Errorf("authorize requests = %d, want 1", n)
					}
				} else {
					if got := req.Header.Get("x-access-secret"); got != testSecret {
						t.Errorf("x-access-secret = %q", got)
					}
					if got := req.Header.Get("x-access-token"); got != "" {
						t.Errorf("x-access-token sent on v2: %q", got)
					}
					if n := u.authReqs.Load(); n != 0 {
						t.Errorf("authorize requests = %d, want 0 on v2", n)
					}
				}
				if got := req.Header.Get("Content-Type"); got != "application/json" {
					t.Errorf("Content-Type = %q", got)
				}
				if got := req.Header.Get("Accept"); got != "application/json" {
					t.Errorf("Accept = %q", got)
				}
				assertSameJSON(t, req.Body, []byte(ep.body))
			})
		}
	}
}

func TestAuthorizeRequest(t *testing.T) {
	u := newFake(t, cannedAPI(t))
	c := fastClient(u.URL, 5*time.Second, v1)
	if _, err := c.Ping(context.Background(), "req_1"); err != nil {
		t.Fatal(err)
	}
	auths := u.auths()
	if len(auths) != 1 {
		t.Fatalf("authorize requests = %d", len(auths))
	}
	a := auths[0]
	if a.Method != http.MethodGet || a.Path != "/api/v1/flow/authorize" {
		t.Errorf("authorize = %s %s", a.Method, a.Path)
	}
	if a.RawQuery != "app="+testApp+"&sub="+testConsumer {
		t.Errorf("query = %q, want sub and app", a.RawQuery)
	}
	if a.Header.Get("x-api-key") != testKey || a.Header.Get("x-access-secret") != testSecret || a.Header.Get("x-access-token") != "" {
		t.Errorf("authorize headers = %v", a.Header)
	}
	if len(a.Body) != 0 {
		t.Errorf("authorize body = %q", a.Body)
	}

	// Without a consumer, no query at all.
	u2 := newFake(t, cannedAPI(t))
	c2 := fastClient(u2.URL, 5*time.Second, v1, func(cfg *Config) { cfg.Consumer, cfg.App = "", "" })
	if _, err := c2.Ping(context.Background(), "req_1"); err != nil {
		t.Fatal(err)
	}
	if q := u2.auths()[0].RawQuery; q != "" {
		t.Errorf("query = %q, want none", q)
	}
}

func TestV1TokenCachedAcrossCalls(t *testing.T) {
	u := newFake(t, cannedAPI(t))
	c := fastClient(u.URL, 5*time.Second, v1)
	for _, ep := range endpoints() {
		if err := ep.call(c); err != nil {
			t.Fatalf("%s: %v", ep.name, err)
		}
	}
	if n := u.authReqs.Load(); n != 1 {
		t.Fatalf("authorize requests = %d, want 1 (cached)", n)
	}
}

func TestV1TokenRenewedOnceOn401(t *testing.T) {
	for _, ep := range endpoints() {
		t.Run(ep.name, func(t *testing.T) {
			u := newFake(t, cannedAPI(t))
			c := fastClient(u.URL, 5*time.Second, v1)
			if err := c.Authorize(context.Background()); err != nil {
				t.Fatal(err)
			}
			u.revokeAll()
			if err := ep.call(c); err != nil {
				t.Fatalf("err = %v, want success with a renewed token", err)
			}
			if n := u.authReqs.Load(); n != 2 {
				t.Errorf("authorize requests = %d, want 2", n)
			}
			if n := u.apiReqs.Load(); n != 2 {
				t.Errorf("API requests = %d, want 2 (refused, then resent once)", n)
			}
			if got := u.lastAPI().Header.Get("x-access-token"); got != "tok-2" {
				t.Errorf("resent with %q, want tok-2", got)
			}
		})
	}
}

func TestV1UnauthorizedTwiceIsUnauthorized(t *testing.T) {
	for _, ep := range endpoints() {
		t.Run(ep.name, func(t *testing.T) {
			u := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
				writeJSON(w, 401, `{"status":"unauthorized","reason":"Flow request was created by another app","type":"authorization_error"}`)
			})
			c := fastClient(u.URL, 5*time.Second, v1)
			err := ep.call(c)
			t.Logf("err: %v", err)
			if !errors.Is(err, upstream.ErrBadCredentials) || upstream.IsUnknown(err) {
				t.Fatalf("err = %v, want upstream.ErrBadCredentials", err)
			}
			checkErrText(t, err, "tok-1", "tok-2")
			if n := u.authReqs.Load(); n != 2 {
				t.Errorf("authorize requests = %d, want 2 (one renewal)", n)
			}
			if n := u.apiReqs.Load(); n != 2 {
				t.Errorf("API requests = %d, want 2", n)
			}
			if !strings.Contains(err.Error(), "another app") {
				t.Errorf("error %q lacks pasby's reason", err)
			}
		})
	}
}

func TestV2UnauthorizedIsNotRetried(t *testing.T) {
	u := newFake(t, cannedAPI(t))
	c := fastClient(u.URL, 5*time.Second, func(cfg *Config) { cfg.AppSecret = "snb_wrong-secret" })
	_, err := c.Ping(context.Background(), "req_1")
	if !errors.Is(err, upstream.ErrBadCredentials) {
		t.Fatalf("err = %v, want upstream.ErrBadCredentials", err)
	}
	checkErrText(t, err, "snb_wrong-secret")
	if u.apiReqs.Load() != 1 || u.authReqs.Load() != 0 {
		t.Errorf("api=%d authorize=%d, want 1 and 0", u.apiReqs.Load(), u.authReqs.Load())
	}
}

func TestV1ExpiredFlowKeepsToken(t *testing.T) {
	u := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) { writeJSON(w, 401, errExpired) })
	c := fastClient(u.URL, 5*time.Second, v1)
	_, err := c.Ping(context.Background(), "req_1")
	if !errors.Is(err, ErrExpired) || errors.Is(err, upstream.ErrBadCredentials) {
		t.Fatalf("err = %v, want ErrExpired", err)
	}
	if u.authReqs.Load() != 1 || u.apiReqs.Load() != 1 {
		t.Errorf("authorize=%d api=%d, want 1 and 1 (an expired flow is not a bad token)", u.authReqs.Load(), u.apiReqs.Load())
	}
}

func TestV1AuthorizeRefused(t *testing.T) {
	u := newFake(t, cannedAPI(t))
	c := fastClient(u.URL, 5*time.Second, v1, func(cfg *Config) { cfg.AppSecret = "snb_wrong-secret" })
	for _, ep := range endpoints() {
		err := ep.call(c)
		if !errors.Is(err, upstream.ErrBadCredentials) || upstream.IsUnknown(err) {
			t.Fatalf("%s: err = %v, want upstream.ErrBadCredentials", ep.name, err)
		}
		checkErrText(t, err, "snb_wrong-secret")
	}
	if n := u.apiReqs.Load(); n != 0 {
		t.Errorf("API requests = %d, want 0 without a token", n)
	}
	if n := u.authReqs.Load(); n != int64(len(endpoints())) {
		t.Errorf("authorize requests = %d, want one per call (401 is not retried)", n)
	}
}

func TestV1AuthorizeUnavailableMeansCreateNotSent(t *testing.T) {
	u := newFake(t, cannedAPI(t))
	u.authFail = func(int64) (int, string, bool) { return 503, `{"status":"failed","reason":"maintenance"}`, true }
	c := fastClient(u.URL, 5*time.Second, v1)
	_, err := c.Signing(context.Background(), sampleSigning())
	if !errors.Is(err, upstream.ErrUnavailable) || !errors.Is(err, upstream.ErrNotSent) || upstream.IsUnknown(err) {
		t.Fatalf("err = %v, want upstream.ErrUnavailable + upstream.ErrNotSent", err)
	}
	if n := u.authReqs.Load(); n != 3 {
		t.Errorf("authorize requests = %d, want 3 (a read, retried)", n)
	}
	if u.apiReqs.Load() != 0 {
		t.Error("signing was sent without a token")
	}
}

func TestV1AuthorizeMalformed(t *testing.T) {
	for name, body := range map[string]string{
		"no token":    `{"status":"successful","reason":"ok","data":{}}`,
		"empty token": `{"status":"successful","data":{"token":""}}`,
		"number":      `{"status":"successful","data":{"token":5}}`,
		"newline":     `{"status":"successful","data":{"token":"a\nb"}}`,
		"html":        `<html>`,
	} {
		t.Run(name, func(t *testing.T) {
			u := newFake(t, cannedAPI(t))
			u.authFail = func(int64) (int, string, bool) { return 200, body, true }
			c := fastClient(u.URL, 5*time.Second, v1)
			_, err := c.Ping(context.Background(), "req_1")
			if !errors.Is(err, upstream.ErrUnavailable) {
				t.Fatalf("err = %v, want upstream.ErrUnavailable", err)
			}
			checkErrText(t, err)
			if u.authReqs.Load() != 1 {
				t.Errorf("authorize requests = %d, want 1 (malformed is not retried)", u.authReqs.Load())
			}
		})
	}
}

func jwtWithExp(exp int64) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." +
		enc.EncodeToString([]byte(fmt.Sprintf(`{"sub":"bcn","exp":%d}`, exp))) + ".c2ln"
}

func TestV1TokenRenewedBeforeJWTExpiry(t *testing.T) {
	start := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: start}
	u := newFake(t, cannedAPI(t))
	u.makeToken = func(n int64) string { return jwtWithExp(clock.Now().Add(time.Hour).Unix()) + fmt.Sprint(n) }
	c := fastClient(u.URL, 5*time.Second, v1, func(cfg *Config) { cfg.Now = clock.Now })
	ping := func() {
		t.Helper()
		if _, err := c.Ping(context.Background(), "req_1"); err != nil {
			t.Fatal(err)
		}
	}
	ping()
	clock.Advance(3569 * time.Second) // exp in 3600 s, renewed 30 s before
	ping()
	if n := u.authReqs.Load(); n != 1 {
		t.Fatalf("authorize requests at 3569 s = %d, want 1", n)
	}
	clock.Advance(2 * time.Second)
	ping()
	if n := u.authReqs.Load(); n != 2 {
		t.Fatalf("authorize requests at 3571 s = %d, want 2", n)
	}
}

func TestJWTExpiry(t *testing.T) {
	if _, ok := jwtExpiry("opaque-token"); ok {
		t.Error("opaque token has an expiry")
	}
	if _, ok := jwtExpiry("a.!!!.c"); ok {
		t.Error("bad base64 has an expiry")
	}
	if _, ok := jwtExpiry("a." + base64.RawURLEncoding.EncodeToString([]byte(`{"exp":"soon"}`)) + ".c"); ok {
		t.Error("string exp accepted")
	}
	exp, ok := jwtExpiry(jwtWithExp(1707032200))
	if !ok || exp.Unix() != 1707032200 {
		t.Errorf("exp = %v %v", exp, ok)
	}
}

func TestOneAuthorizeForConcurrentCallers(t *testing.T) {
	u := newFake(t, cannedAPI(t))
	u.authDelay = 100 * time.Millisecond
	c := fastClient(u.URL, 5*time.Second, v1)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Ping(context.Background(), fmt.Sprintf("req_%d", i))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := u.authReqs.Load(); n != 1 {
		t.Fatalf("authorize requests = %d, want 1", n)
	}
}

func TestCreateNotRetriedOn5xx(t *testing.T) {
	for _, ep := range endpoints() {
		if !ep.create {
			continue
		}
		for _, status := range []int{500, 503} {
			t.Run(fmt.Sprint(ep.name, status), func(t *testing.T) {
				u := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
					writeJSON(w, status, `{"status":"failed","reason":"temporarily out of order"}`)
				})
				c := fastClient(u.URL, 5*time.Second)
				err := ep.call(c)
				t.Logf("err: %v", err)
				if !errors.Is(err, upstream.ErrUnavailable) || upstream.IsUnknown(err) || errors.Is(err, upstream.ErrNotSent) {
					t.Fatalf("err = %v, want upstream.ErrUnavailable", err)
				}
				checkErrText(t, err)
				if !strings.Contains(err.Error(), "temporarily out of order") {
					t.Errorf("error %q lacks the reason", err)
				}
				if n := u.apiReqs.Load(); n != 1 {
					t.Fatalf("requests = %d, want exactly 1", n)
				}
			})
		}
	}
}

func TestCreateTimeoutAfterSendIsUnknown(t *testing.T) {
	for _, ep := range endpoints() {
		if !ep.create {
			continue
		}
		t.Run(ep.name, func(t *testing.T) {
			u := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) { <-r.Context().Done() })
			c := fastClient(u.URL, 300*time.Millisecond)
			start := time.Now()
			err := ep.call(c)
			t.Logf("err: %v", err)
			if !upstream.IsUnknown(err) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want OutcomeUnknownError wrapping the deadline", err)
			}
			for _, k := range []error{upstream.ErrUnavailable, ErrUnknownFlow, ErrExpired, upstream.ErrBadCredentials} {
				if errors.Is(err, k) {
					t.Errorf("unknown outcome matches %v", k)
				}
			}
			checkErrText(t, err)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v", d)
			}
			if n := u.apiReqs.Load(); n != 1 {
				t.Fatalf("requests = %d, want 1", n)
			}
		})
	}
}

func TestCreateConnectionClosedAfterRequestIsUnknown(t *testing.T) {
	for _, ep := range endpoints() {
		if !ep.create {
			continue
		}
		t.Run(ep.name, func(t *testing.T) {
			u := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
				conn, _, err := w.(http.Hijacker).Hijack()
				if err != nil {
					panic(err)
				}
				conn.Close()
			})
			c := fastClient(u.URL, 5*time.Second)
			err := ep.call(c)
			t.Logf("err: %v", err)
			if !upstream.IsUnknown(err) || errors.Is(err, upstream.ErrUnavailable) {
				t.Fatalf("err = %v, want OutcomeUnknownError", err)
			}
			checkErrText(t, err)
			if n := u.apiReqs.Load(); n != 1 {
				t.Fatalf("requests = %d, want 1 (never re-sent)", n)
			}
		})
	}
}

func TestCreateMalformedSuccessIsUnknown(t *testing.T) {
	for name, body := range map[string]string{
		"truncated":       `{"status": "succ`,
		"html":            `<html>ok</html>`,
		"empty":           ``,
		"no status":       `{"data":{"request":{"id":"doc_1"}}}`,
		"no request":      `{"status":"successful","data":{}}`,
		"no id":           `{"status":"successful","data":{"request":{"to":["1"]}}}`,
		"data is array":   `{"status":"successful","data":[1]}`,
		"wrong type":      `{"status":"successful","data":{"request":{"id":"doc_1","handled":"yes"}}}`,
		"trailing data":   `{"status":"successful","data":{"request":{"id":"doc_1"}}}{"x":1}`,
		"request is null": `{"status":"successful","data":{"request":null}}`,
	} {
		t.Run(name, func(t *testing.T) {
			u := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { writeJSON(w, 201, body) })
			c := fastClient(u.URL, 5*time.Second)
			_, err := c.Signing(context.Background(), sampleSigning())
			t.Logf("err: %v", err)
			if !upstream.IsUnknown(err) || errors.Is(err, upstream.ErrUnavailable) {
				t.Fatalf("err = %v, want OutcomeUnknownError", err)
			}
			checkErrText(t, err)
			if n := u.apiReqs.Load(); n != 1 {
				t.Fatalf("requests = %d, want 1", n)
			}
		})
	}
}

func TestCreateWithCancelledContextIsNotSent(t *testing.T) {
	u := newFake(t, cannedAPI(t))
	c := fastClient(u.URL, 5*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Signing(ctx, sampleSigning())
	if upstream.IsUnknown(err) || !errors.Is(err, upstream.ErrNotSent) {
		t.Fatalf("err = %v, want not sent", err)
	}
	if u.apiReqs.Load() != 0 {
		t.Fatal("sent")
	}
}

func TestCreateRedirectIsNotFollowed(t *testing.T) {
	var elsewhere atomic.Int64
	u := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		if r.URL.Path == "/elsewhere" {
			elsewhere.Add(1)
			writeJSON(w, 201, string(readTestdata(t, "signing_response_201.json")))
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	})
	c := fastClient(u.URL, 5*time.Second)
	_, err := c.Signing(context.Background(), sampleSigning())
	if !errors.Is(err, upstream.ErrUnavailable) || upstream.IsUnknown(err) {
		t.Fatalf("err = %v, want upstream.ErrUnavailable", err)
	}
	if elsewhere.Load() != 0 || u.apiReqs.Load() != 1 {
		t.Fatalf("redirect followed: elsewhere=%d requests=%d", elsewhere.Load(), u.apiReqs.Load())
	}
}

func TestReadsRetriedOn503ThenSucceed(t *testing.T) {
	for _, name := range []string{"ping", "refresh"} {
		t.Run(name, func(t *testing.T) {
			var n atomic.Int64
			canned := cannedAPI(t)
			u := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
				if n.Add(1) <= 2 {
					writeJSON(w, 503, `{"status":"failed","reason":"busy"}`)
					return
				}
				canned(w, r, body)
			})
			c := fastClient(u.URL, 5*time.Second)
			var err error
			if name == "ping" {
				_, err = c.Ping(context.Background(), "req_1")
			} else {
				_, err = c.Refresh(context.Background(), docID40())
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := u.apiReqs.Load(); got != 3 {
				t.Fatalf("requests = %d, want 3", got)
			}
		})
	}
}

func TestMalformedReadIsUnavailableNotRetried(t *testing.T) {
	for name, body := range map[string]string{
		"truncated":       `{"status": "succ`,
		"html":            `<html>`,
		"no status":       `{"data":{"request":{}}}`,
		"null data":       `{"status":"successful","data":null}`,
		"request string":  `{"status":"successful","data":{"request":"x"}}`,
		"doc wrong types": `{"status":"successful","data":{"doc":{"id":"doc_1","to":"12345678901"}},"version":"v2"}`,
		"bad iat":         `{"status":"successful","data":{"request":{"reference":"r","iat":"yesterday"}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			u := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { writeJSON(w, 200, body) })
			c := fastClient(u.URL, 5*time.Second)
			var err error
			if strings.Contains(body, `"doc"`) {
				_, err = c.Refresh(context.Background(), docID40())
			} else {
				_, err = c.Ping(context.Background(), "req_1")
			}
			t.Logf("err: %v", err)
			if !errors.Is(err, upstream.ErrUnavailable) || upstream.IsUnknown(err) {
				t.Fatalf("err = %v, want upstream.ErrUnavailable", err)
			}
			checkErrText(t, err)
			if n := u.apiReqs.Load(); n != 1 {
				t.Errorf("requests = %d, want 1", n)
			}
		})
	}
}

func TestPollingIsLongHeldAndNotRetried(t *testing.T) {
	var n atomic.Int64
	u := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if n.Add(1) == 1 {
			writeJSON(w, 503, `{"status":"failed","reason":"busy"}`)
			return
		}
		time.Sleep(300 * time.Millisecond) // held past Config.Timeout
		writeJSON(w, 200, pingSigned)
	})
	c := fastClient(u.URL, 100*time.Millisecond, func(cfg *Config) {
		cfg.PollingTimeout = 5 * time.Second
		cfg.HTTPClient = &http.Client{Timeout: 100 * time.Millisecond} // must not cut the long poll
	})
	_, err := c.Polling(context.Background(), "req_1")
	if !errors.Is(err, upstream.ErrUnavailable) || n.Load() != 1 {
		t.Fatalf("err = %v after %d requests, want upstream.ErrUnavailable after 1", err, n.Load())
	}
	st, err := c.Polling(context.Background(), "req_1")
	if err != nil {
		t.Fatal(err)
	}
	if !st.Final() || !st.Request.Signed() || st.Request.SignedAt != 1707025100 {
		t.Errorf("state = %+v, want signed", st.Request)
	}

	// Its own timeout.
	c2 := fastClient(u.URL, 5*time.Second, func(cfg *Config) { cfg.PollingTimeout = 100 * time.Millisecond })
	_, err = c2.Polling(context.Background(), "req_1")
	if !errors.Is(err, upstream.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a polling timeout", err)
	}
}

func TestPingAndCancelDecoded(t *testing.T) {
	u := newFake(t, cannedAPI(t))
	c := fastClient(u.URL, 5*time.Second)
	st, err := c.Ping(context.Background(), "req_1707025000-AbCd")
	if err != nil {
		t.Fatal(err)
	}
	want := FlowRequest{Reference: "req_1707025000-AbCd", Requester: "app_1", Mode: "signature", Data: "Please sign", IAT: 1707025000}
	if fmt.Sprint(st.Request) != fmt.Sprint(want) || st.Final() || st.Document != nil || st.Reason != "Flow request retrieved" || st.Version != "v2" {
		t.Errorf("ping = %+v", st)
	}
	if !bytes.Contains(st.Raw, []byte(`"requester":"app_1"`)) {
		t.Errorf("Raw = %s", st.Raw)
	}
	cr, err := c.Cancel(context.Background(), "req_1707025000-AbCd")
	if err != nil {
		t.Fatal(err)
	}
	wantModel := FlowModel{ID: "req_1707025000-AbCd", Consumer: "bcn_1", App: "app_1", Mode: "signature", Action: "sign", Payload: "Please sign",
		IAT: 1707025000, Exp: 1707025600, User: "12345678901", IP: "203.0.113.10", UserAgent: "curl/8", Name: "Acme", AcquireClaims: []string{"naming.name"}}
	if fmt.Sprint(cr.Model) != fmt.Sprint(wantModel) || cr.Reason != "Flow cancelled" || cr.Version != "v2" || !json.Valid(cr.Raw) {
		t.Errorf("cancel = %+v", cr)
	}
}

func TestFlowRequestLenientDecoding(t *testing.T) {
	for name, tc := range map[string]struct {
		json  string
		check func(FlowRequest) bool
	}{
		"signature object":  {`{"reference":"r","signature":{"alg":"RS256","value":"x"}}`, func(r FlowRequest) bool { return r.Signed() && r.Signature == `{"alg":"RS256","value":"x"}` }},
		"signature empty":   {`{"reference":"r","signature":""}`, func(r FlowRequest) bool { return !r.Signed() }},
		"signature false":   {`{"reference":"r","signature":false}`, func(r FlowRequest) bool { return !r.Signed() }},
		"signature null":    {`{"reference":"r","signature":null}`, func(r FlowRequest) bool { return !r.Signed() }},
		"cancelled string":  {`{"reference":"r","cancelled":"true"}`, func(r FlowRequest) bool { return r.Cancelled }},
		"cancelled 0":       {`{"reference":"r","cancelled":0}`, func(r FlowRequest) bool { return !r.Cancelled }},
		"iat string":        {`{"reference":"r","iat":"1707025000"}`, func(r FlowRequest) bool { return r.IAT == 1707025000 }},
		"iat float":         {`{"reference":"r","iat":1707025000.0}`, func(r FlowRequest) bool { return r.IAT == 1707025000 }},
		"claims kept":       {`{"reference":"r","claims":{"naming":{"name":"enc"}}}`, func(r FlowRequest) bool { return string(r.Claims) == `{"naming":{"name":"enc"}}` }},
		"data object":       {`{"reference":"r","data":{"a":1}}`, func(r FlowRequest) bool { return r.Data == `{"a":1}` }},
		"requestee pending": {`{"reference":"r","requestee":""}`, func(r FlowRequest) bool { return r.Requestee == "" && !r.OnSession }},
	} {
		var r FlowRequest
		if err := json.Unmarshal([]byte(tc.json), &r); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !tc.check(r) {
			t.Errorf("%s: got %+v", name, r)
		}
	}
	for _, bad := range []string{`{"iat":1.5}`, `{"iat":"soon"}`, `{"signedAt":{}}`, `{"iat":1e300}`, `[1]`} {
		var r FlowRequest
		if err := json.Unmarshal([]byte(bad), &r); err == nil {
			t.Errorf("%s accepted: %+v", bad, r)
		}
	}
}

func TestPingDocumentID(t *testing.T) {
	body := `{"status":"successful","reason":"ok","data":{"request":{"id":"` + docID40() + `","to":["12345678901"],"handled":true,"file":{"source":"https://x/a.pdf","name":"A","stamped":"https://cdn/s.pdf"},"statusLog":[{"nin":"12345678901","status":"signed","lut":5}]}},"version":"v2"}`
	u := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { writeJSON(w, 200, body) })
	c := fastClient(u.URL, 5*time.Second)
	st, err := c.Ping(context.Background(), docID40())
	if err != nil {
		t.Fatal(err)
	}
	if st.Document == nil || st.Document.ID != docID40() || st.Request.Reference != docID40() || !st.Final() {
		t.Fatalf("state = %+v", st)
	}
}

func TestInvalidArgumentsSendNothing(t *testing.T) {
	u := newFake(t, cannedAPI(t))
	c := fastClient(u.URL, 5*time.Second)
	ctx := context.Background()
	noHook := sampleSigning()
	noHook.Webhook = Webhook{}
	badType := sampleReview()
	badType.Signees[0].Type = "robot"
	noEmail := sampleReview()
	noEmail.Signees[0].Email = " "
	noFile := sampleSigning()
	noFile.File.URL = ""
	for name, f := range map[string]func() error{
		"no NIN": func() error {
			_, err := c.Signing(ctx, SigningRequest{Webhook: sampleSigning().Webhook, File: sampleSigning().File})
			return err
		},
		"blank NIN":    func() error { r := sampleSigning(); r.To = []string{" "}; _, err := c.Signing(ctx, r); return err },
		"no webhook":   func() error { _, err := c.Signing(ctx, noHook); return err },
		"no file":      func() error { _, err := c.Signing(ctx, noFile); return err },
		"no signee":    func() error { _, err := c.Review(ctx, ReviewRequest{Webhook: noHook.Webhook}); return err },
		"bad type":     func() error { _, err := c.Review(ctx, badType); return err },
		"no email":     func() error { _, err := c.Review(ctx, noEmail); return err },
		"empty ping":   func() error { _, err := c.Ping(ctx, " "); return err },
		"empty cancel": func() error { _, err := c.Cancel(ctx, ""); return err },
		"empty poll":   func() error { _, err := c.Polling(ctx, ""); return err },
		"empty doc":    func() error { _, err := c.Refresh(ctx, ""); return err },
	} {
		err := f()
		if !errors.Is(err, upstream.ErrInvalidRequest) || !errors.Is(err, upstream.ErrNotSent) || errors.Is(err, upstream.ErrUnavailable) {
			t.Errorf("%s: err = %v, want upstream.ErrInvalidRequest", name, err)
		}
		checkErrText(t, err)
	}
	if err := func() error { _, err := c.Signing(ctx, noHook); return err }(); !errors.Is(err, ErrMissingWebhook) {
		t.Errorf("no webhook: %v, want ErrMissingWebhook too", err)
	}
	if n := u.apiReqs.Load() + u.authReqs.Load(); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}

func TestBadConfig(t *testing.T) {
	for name, mod := range map[string]func(*Config){
		"version":      func(c *Config) { c.APIVersion = "v3" },
		"no base":      func(c *Config) { c.BaseURL = "" },
		"relative":     func(c *Config) { c.BaseURL = "s.pasby.africa" },
		"ftp":          func(c *Config) { c.BaseURL = "ftp://s.pasby.africa" },
		"no key":       func(c *Config) { c.APIKey = "" },
		"no secret":    func(c *Config) { c.AppSecret = "" },
		"sub no app":   func(c *Config) { c.App = "" },
		"ctl in key":   func(c *Config) { c.APIKey = "bk\nx" },
		"query in url": func(c *Config) { c.BaseURL = "https://s.pasby.africa/?x=1" },
	} {
		c := fastClient("https://s.pasby.africa", time.Second, mod)
		_, err := c.Ping(context.Background(), "req_1")
		if !errors.Is(err, upstream.ErrInvalidRequest) {
			t.Errorf("%s: err = %v, want upstream.ErrInvalidRequest", name, err)
		}
		checkErrText(t, err)
		for _, e := range c.SSE(context.Background(), "req_1") {
			if !errors.Is(e, upstream.ErrInvalidRequest) {
				t.Errorf("%s: SSE err = %v", name, e)
			}
		}
	}
	c := New(Config{BaseURL: "https://s.pasby.africa/", APIKey: "k", AppSecret: "s", APIVersion: " V1 "})
	if c.APIVersion() != "v1" || c.up.ConfigErr() != nil {
		t.Errorf("normalised config: %q %v", c.APIVersion(), c.up.ConfigErr())
	}
	if New(Config{}).APIVersion() != "v2" {
		t.Error("default version is not v2")
	}
}

func TestDefaults(t *testing.T) {
	c := New(Config{BaseURL: "https://s.pasby.africa", APIKey: "k", AppSecret: "s"})
	if c.up.Timeout() != upstream.DefaultTimeout || c.pollTime != DefaultPollingTimeout || c.idle != DefaultStreamIdleTimeout {
		t.Errorf("timeouts = %v %v %v", c.up.Timeout(), c.pollTime, c.idle)
	}
	if c.up.Retry() != upstream.DefaultRetry {
		t.Errorf("retry = %+v", c.up.Retry())
	}
}

func TestVerificationURL(t *testing.T) {
	if got := VerificationURL(docID40()); got != "https://in.pasby.africa/document-checker/6f1c2a10-0000-11ef-8000-0242ac120002" {
		t.Errorf("VerificationURL = %q", got)
	}
	if got := VerificationURL("doc_a/b"); got != "https://in.pasby.africa/document-checker/a%2Fb" {
		t.Errorf("VerificationURL escapes: %q", got)
	}
}

func TestErrorsNeverCarryCredentials(t *testing.T) {
	u := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		tok := r.Header.Get("x-access-token")
		writeJSON(w, 400, `{"status":"failed","reason":"bad key `+testKey+` secret `+testSecret+` token `+tok+`","type":"param_error"}`)
	})
	for _, mod := range []func(*Config){func(*Config) {}, v1} {
		c := fastClient(u.URL, 5*time.Second, mod)
		_, err := c.Ping(context.Background(), "req_1")
		var rej *upstream.RejectedError
		if !errors.As(err, &rej) {
			t.Fatalf("err = %v", err)
		}
		checkErrText(t, err, "tok-1")
		if !strings.Contains(err.Error(), "[redacted]") {
			t.Errorf("err = %v", err)
		}
	}
}

func TestReasonIsCleaned(t *testing.T) {
	long := strings.Repeat("é", 500)
	u := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		writeJSON(w, 400, `{"status":"failed","reason":"line1\nline2\u0000 `+long+`"}`)
	})
	c := fastClient(u.URL, 5*time.Second)
	_, err := c.Ping(context.Background(), "req_1")
	var rej *upstream.RejectedError
	if !errors.As(err, &rej) {
		t.Fatalf("err = %v", err)
	}
	if strings.ContainsAny(rej.Message, "\n\x00") || len([]rune(rej.Message)) > upstream.MaxMessageRunes+1 {
		t.Errorf("reason not cleaned: %q", rej.Message)
	}
}
