package oneflow

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"portal/services/upstream"
)

const (
	testID     = "partner-id"
	testSecret = "s3cr3t-value-never-shown"
)

// fake is a small hand-written 1flow stand-in for client tests (the real
// simulator lives elsewhere and is deliberately not used here).
type fake struct {
	*httptest.Server
	t *testing.T

	tokenReqs atomic.Int64
	apiReqs   atomic.Int64

	mu         sync.Mutex
	expiresIn  any           // expires_in in token answers
	tokenDelay time.Duration // before answering a token request
	tokenFail  func(n int64) (status int, body string, ok bool)
	issued     map[string]bool
	tokenAuth  []string // Authorization headers seen by the token endpoint
	tokenBody  [][]byte
	lastReq    *http.Request
	lastBody   []byte
	bodies     [][]byte

	// api answers authenticated API calls (method, path, body).
	api func(w http.ResponseWriter, r *http.Request, body []byte)
}

func newFake(t *testing.T, api func(w http.ResponseWriter, r *http.Request, body []byte)) *fake {
	t.Helper()
	u := &fake{t: t, expiresIn: 3600, issued: map[string]bool{}, api: api}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Close)
	return u
}

func (u *fake) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.URL.Path == tokenPath {
		n := u.tokenReqs.Add(1)
		u.mu.Lock()
		u.tokenAuth = append(u.tokenAuth, r.Header.Get("Authorization"))
		u.tokenBody = append(u.tokenBody, body)
		delay, fail, exp := u.tokenDelay, u.tokenFail, u.expiresIn
		u.mu.Unlock()
		if delay > 0 {
			time.Sleep(delay)
		}
		if fail != nil {
			if status, b, ok := fail(n); ok {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				io.WriteString(w, b)
				return
			}
		}
		if r.Method != http.MethodPost {
			http.Error(w, "method", http.StatusMethodNotAllowed)
			return
		}
		id, secret, ok := r.BasicAuth()
		if !ok || id != testID || secret != testSecret {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"success":false,"timestamp":1,"message":"invalid client credentials","data":null}`)
			return
		}
		tok := fmt.Sprintf("tok-%d", n)
		u.mu.Lock()
		u.issued[tok] = true
		u.mu.Unlock()
		b, _ := json.Marshal(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": exp})
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
		return
	}
	u.apiReqs.Add(1)
	u.mu.Lock()
	u.lastReq = r.Clone(r.Context())
	u.lastBody = body
	u.bodies = append(u.bodies, body)
	tok, hasBearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	valid := hasBearer && u.issued[tok]
	u.mu.Unlock()
	if !valid {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"success":false,"timestamp":1,"message":"invalid or expired token","data":null}`)
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

func (u *fake) last() (*http.Request, []byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.lastReq, u.lastBody
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// fastClient is a client for tests: short backoff, given timeout per attempt.
func fastClient(base string, timeout time.Duration, mods ...func(*Config)) *Client {
	cfg := Config{BaseURL: base, ClientID: testID, ClientSecret: testSecret, Timeout: timeout,
		Retry: upstream.Retry{Attempts: 3, Base: 5 * time.Millisecond, Max: 20 * time.Millisecond}}
	for _, m := range mods {
		m(&cfg)
	}
	return New(cfg)
}

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

// checkErrText asserts the error text rules: the "1flow: " prefix, no secret,
// no token.
func checkErrText(t *testing.T, err error, tokens ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("expected an error")
	}
	s := err.Error()
	if !strings.HasPrefix(s, "1flow: ") {
		t.Errorf("error %q does not start with \"1flow: \"", s)
	}
	if strings.Contains(s, testSecret) {
		t.Errorf("error %q contains the client secret", s)
	}
	for _, tok := range tokens {
		if tok != "" && strings.Contains(s, tok) {
			t.Errorf("error %q contains a token", s)
		}
	}
}

const rechargeOK = `{"success":true,"timestamp":1777885301197,"message":"success","data":{"id":"r-1","serialNumber":"68753500140920","deviceType":"DEVICE","status":"PENDING","amount":100.5,"createdAt":"2026-05-04T09:01:41.197617901Z","customer":{"name":"Jane Doe","phoneNumber":"+254712345678"}}}`

const lookupOK = `{"success":true,"timestamp":1,"message":"success","data":{"customer":{"name":"Jane Doe","phoneNumber":"+254712345678"},"devices":[{"serialNumber":"68753500140920","deviceType":"DEVICE","balance":150052},{"serialNumber":"C-0001","deviceType":"CARD","balance":12.5}]}}`
