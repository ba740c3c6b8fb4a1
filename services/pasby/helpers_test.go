package pasby

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"portal/services/upstream"
)

const (
	testKey      = "bk-test_KEY-0123456789"
	testSecret   = "snb_SECRET-never-shown-9876"
	testConsumer = "bcn_consumer-1"
	testApp      = "app_portal-1"
)

// seenReq is a request as the test server saw it.
type seenReq struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
}

// fake is a small hand-written pasby stand-in for client tests (the
// sandbox simulator is written separately from the documents and is
// deliberately not used here). It serves authorize, checks credentials and
// hands every other request to api.
type fake struct {
	*httptest.Server
	t *testing.T

	authReqs atomic.Int64
	apiReqs  atomic.Int64

	mu        sync.Mutex
	issued    map[string]bool
	authSeen  []seenReq
	apiSeen   []seenReq
	makeToken func(n int64) string
	authFail  func(n int64) (status int, body string, ok bool)
	authDelay time.Duration

	api func(w http.ResponseWriter, r *http.Request, body []byte)
}

func newFake(t *testing.T, api func(w http.ResponseWriter, r *http.Request, body []byte)) *fake {
	t.Helper()
	u := &fake{t: t, issued: map[string]bool{}, api: api}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Close)
	return u
}

func seen(r *http.Request, body []byte) seenReq {
	return seenReq{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body}
}

func (u *fake) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.URL.Path == authorizePath {
		n := u.authReqs.Add(1)
		u.mu.Lock()
		u.authSeen = append(u.authSeen, seen(r, body))
		fail, mk, delay := u.authFail, u.makeToken, u.authDelay
		u.mu.Unlock()
		if delay > 0 {
			time.Sleep(delay)
		}
		if fail != nil {
			if status, b, ok := fail(n); ok {
				writeJSON(w, status, b)
				return
			}
		}
		if r.Method != http.MethodGet || r.Header.Get("x-api-key") != testKey || r.Header.Get("x-access-secret") != testSecret {
			writeJSON(w, 401, `{"status":"unauthorized","reason":"Invalid API key or secret","type":"authorization_error","version":"v1"}`)
			return
		}
		tok := fmt.Sprintf("tok-%d", n)
		if mk != nil {
			tok = mk(n)
		}
		u.mu.Lock()
		u.issued[tok] = true
		u.mu.Unlock()
		b, _ := json.Marshal(map[string]any{"status": "successful", "reason": "Authorized", "data": map[string]any{"token": tok}, "version": "v1"})
		writeJSON(w, 200, string(b))
		return
	}
	u.apiReqs.Add(1)
	u.mu.Lock()
	u.apiSeen = append(u.apiSeen, seen(r, body))
	valid := r.Header.Get("x-api-key") == testKey
	if tok := r.Header.Get("x-access-token"); tok != "" {
		valid = valid && u.issued[tok]
	} else {
		valid = valid && r.Header.Get("x-access-secret") == testSecret
	}
	u.mu.Unlock()
	if !valid {
		writeJSON(w, 401, `{"status":"unauthorized","reason":"Invalid or expired access token","type":"authorization_error","version":"v2"}`)
		return
	}
	u.api(w, r, body)
}

// revokeAll makes every issued token invalid (as if they expired upstream).
func (u *fake) revokeAll() {
	u.mu.Lock()
	u.issued = map[string]bool{}
	u.mu.Unlock()
}

func (u *fake) lastAPI() seenReq {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.apiSeen) == 0 {
		u.t.Fatal("no API request seen")
	}
	return u.apiSeen[len(u.apiSeen)-1]
}

func (u *fake) auths() []seenReq {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seenReq(nil), u.authSeen...)
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// fastRetry is the tests' retry policy: three tries, short waits.
var fastRetry = upstream.Retry{Attempts: 3, Base: 5 * time.Millisecond, Max: 20 * time.Millisecond}

// fastClient is a client for tests: short backoff, given timeout.
func fastClient(base string, timeout time.Duration, mods ...func(*Config)) *Client {
	cfg := Config{BaseURL: base, APIKey: testKey, AppSecret: testSecret, Consumer: testConsumer, App: testApp, Timeout: timeout, Retry: fastRetry}
	for _, m := range mods {
		m(&cfg)
	}
	return New(cfg)
}

func v1(cfg *Config) { cfg.APIVersion = "v1" }

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

// checkErrText asserts the error text rules: the "pasby: " prefix, no API
// key, no secret, no token.
func checkErrText(t *testing.T, err error, tokens ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("expected an error")
	}
	s := err.Error()
	if !strings.HasPrefix(s, "pasby: ") {
		t.Errorf("error %q does not start with \"pasby: \"", s)
	}
	for _, secret := range append([]string{testKey, testSecret}, tokens...) {
		if secret != "" && strings.Contains(s, secret) {
			t.Errorf("error %q contains a credential", s)
		}
	}
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Answers used across tests. The flow document shows no response bodies;
// these follow the shapes in NOTES.md (ours).
const (
	pingPending = `{"status":"successful","reason":"Flow request retrieved","data":{"request":{"reference":"req_1707025000-AbCd","requester":"app_1","requestee":"","mode":"signature","data":"Please sign","cancelled":false,"onsession":false,"iat":1707025000}},"version":"v2"}`
	pingSigned  = `{"status":"successful","reason":"Flow request retrieved","data":{"request":{"reference":"req_1707025000-AbCd","requester":"app_1","requestee":"12345678901","mode":"signature","data":"Please sign","cancelled":false,"onsession":true,"iat":1707025000,"signature":"c2lnbmVk","signedAt":1707025100}},"version":"v2"}`
	cancelOK    = `{"status":"successful","reason":"Flow cancelled","data":{"model":{"id":"req_1707025000-AbCd","consumer":"bcn_1","app":"app_1","mode":"signature","action":"sign","payload":"Please sign","iat":1707025000,"exp":1707025600,"user":"12345678901","ip":"203.0.113.10","useragent":"curl/8","name":"Acme","acquireClaims":["naming.name"]}},"version":"v2"}`
	errExpired  = `{"status":"expiration","reason":"Flow request has expired","type":"session_expiry","version":"v2"}`
	errUnknown  = `{"status":"failed","reason":"Flow request with such id does not exists","type":"param_error","version":"v2"}`
)

func docID40() string { return "doc_6f1c2a10-0000-11ef-8000-0242ac120002" }

func readFile(name string) ([]byte, error) { return os.ReadFile(name) }
