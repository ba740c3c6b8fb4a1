package passportreader

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"portal/services/upstream"
)

const (
	testKey    = "public-key-TEST0123456789"
	testSecret = "secret-NEVER-SHOWN-9876543210"
)

// testBasic is the Authorization value the test credentials make.
var testBasic = "Basic " + base64.StdEncoding.EncodeToString([]byte(testKey+":"+testSecret))

// seenReq is a request as the test server saw it.
type seenReq struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
}

// fakePR is a small hand-written PassportReader stand-in for client tests
// (the sandbox simulator is written separately from the document and is
// deliberately not used here). It checks the credentials and hands every
// request to api.
type fakePR struct {
	*httptest.Server
	t    *testing.T
	reqs atomic.Int64

	mu   sync.Mutex
	seen []seenReq

	api func(w http.ResponseWriter, r *http.Request, body []byte)
}

func newUpstream(t *testing.T, api func(w http.ResponseWriter, r *http.Request, body []byte)) *fakePR {
	t.Helper()
	u := &fakePR{t: t, api: api}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Close)
	return u
}

func (u *fakePR) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	u.reqs.Add(1)
	u.mu.Lock()
	u.seen = append(u.seen, seenReq{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
	u.mu.Unlock()
	if user, pass, ok := r.BasicAuth(); !ok || user != testKey || pass != testSecret {
		// The error names besides SessionNotFound are not published; this
		// one is the tests' own.
		writeJSON(w, http.StatusUnauthorized, `{"error_message":"Invalid credentials","error_name":"Unauthorized"}`)
		return
	}
	u.api(w, r, body)
}

func (u *fakePR) last() seenReq {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		u.t.Fatal("no request seen")
	}
	return u.seen[len(u.seen)-1]
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// answering serves body with status for every call.
func answering(t *testing.T, status int, body string) *fakePR {
	return newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) { writeJSON(w, status, body) })
}

// fastRetry keeps the document's four retries but without the waiting.
var fastRetry = upstream.Retry{Attempts: 5, Base: time.Millisecond, Max: time.Millisecond}

// fastClient is a client for tests: tiny retry delays, a generous timeout.
func fastClient(base string, mods ...func(*Config)) *Client {
	cfg := Config{BaseURL: base, PublicKey: testKey, Secret: testSecret, Timeout: 10 * time.Second, Retry: fastRetry}
	for _, m := range mods {
		m(&cfg)
	}
	return New(cfg)
}

func withTimeout(d time.Duration) func(*Config) { return func(c *Config) { c.Timeout = d } }

// checkErrText asserts the error text rules: the package prefix and no
// secret, in clear or inside the Basic credentials.
func checkErrText(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("expected an error")
	}
	s := err.Error()
	if !strings.HasPrefix(s, "passportreader: ") {
		t.Errorf("error %q does not start with \"passportreader: \"", s)
	}
	for _, secret := range []string{testSecret, strings.TrimPrefix(testBasic, "Basic ")} {
		if strings.Contains(s, secret) {
			t.Errorf("error %q contains the secret", s)
		}
	}
}

func asRejected(err error) *upstream.RejectedError {
	var re *upstream.RejectedError
	if errors.As(err, &re) {
		return re
	}
	return nil
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jsonLeaves decodes a JSON object keeping numbers as their text, so that
// 123 and "123", or 2^53+1 and 2^53, differ.
func jsonLeaves(t *testing.T, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return m
}

// assertSameJSON: the same object, numbers compared as text.
func assertSameJSON(t *testing.T, got, want []byte) {
	t.Helper()
	if !reflect.DeepEqual(jsonLeaves(t, got), jsonLeaves(t, want)) {
		t.Errorf("JSON differs:\n got %s\nwant %s", got, want)
	}
}

func ptr[T any](v T) *T { return &v }
