package passportreadersim_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"portal/services/sandbox"
	"portal/services/sandbox/passportreadersim"
	"portal/services/sandbox/simtest"
)

// The simulator is exercised over real HTTP with plain net/http and
// encoding/json only: never through the portal's PassportReader client.

// start is a fixed "now" for the fake clock.
var start = time.Date(2026, 5, 4, 9, 1, 41, 0, time.UTC)

// env is a test's view of the simulator.
type env struct {
	t       testing.TB
	sim     *passportreadersim.Sim
	harness *sandbox.Harness
	srv     *httptest.Server
	base    string // e.g. http://127.0.0.1:1234/sandbox/passportreader
	clock   *simtest.Clock
	hooks   *simtest.Receiver
}

// setup mounts a simulator built from opts at /sandbox/passportreader
// behind an httptest server, with a fake clock (unless opts has one), a
// callback receiver and a 1 ms callback backoff unless opts say otherwise.
func setup(t testing.TB, opts passportreadersim.Options) *env {
	t.Helper()
	c := simtest.NewClock(start)
	if opts.Now == nil {
		opts.Now = c.Now
	}
	if opts.CallbackBackoff == 0 {
		opts.CallbackBackoff = time.Millisecond
	}
	// The receiver's path and query stand in for the portal's secret.
	e := &env{t: t, clock: c, hooks: simtest.NewReceiver(t, "/callbacks/passportreader/s3cret?k=v")}
	e.sim = passportreadersim.New(opts)
	e.harness, e.srv, e.base = simtest.Mount(t, e.sim)
	return e
}

// send sends a request with Basic auth user:pass (none when user is "")
// and returns the status, headers and body.
func (e *env) send(method, path, user, pass, body string) (int, http.Header, []byte) {
	e.t.Helper()
	req := simtest.NewRequest(e.t, method, e.base+path, body)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	return simtest.Send(e.t, e.srv.Client(), req)
}

// call POSTs body to an API path with the default credentials and checks
// the answer is JSON.
func (e *env) call(path, body string) (int, []byte) {
	e.t.Helper()
	st, h, b := e.send(http.MethodPost, path, passportreadersim.DefaultPublicKey, passportreadersim.DefaultSecret, body)
	if ct := h.Get("Content-Type"); ct != "application/json" {
		e.t.Errorf("POST %s: Content-Type %q, want application/json: %s", path, ct, b)
	}
	return st, b
}

// created is a session.create answer.
type created struct {
	ID    int64  `json:"id"`
	Token string `json:"token"`
}

// create calls session.create with body and returns the answer.
func (e *env) create(body string) created {
	e.t.Helper()
	st, b := e.call(passportreadersim.PathCreate, body)
	if st != http.StatusOK {
		e.t.Fatalf("session.create: %d %s", st, b)
	}
	var c created
	if err := json.Unmarshal(b, &c); err != nil || c.ID <= 0 || c.Token == "" {
		e.t.Fatalf("session.create answer %s: %v", b, err)
	}
	return c
}

// createWithCallback creates a session whose callbacks go to the receiver.
func (e *env) createWithCallback(ref string, face bool) created {
	e.t.Helper()
	b, _ := json.Marshal(map[string]any{"callback_url": e.hooks.URL(), "reference": ref, "face_verification": face})
	return e.create(string(b))
}

// sessionData is the session object, as session.get answers it.
type sessionData struct {
	ID             int64  `json:"id"`
	Created        string `json:"created"`
	Expires        string `json:"expires"`
	State          string `json:"state"`
	Reference      string `json:"reference"`
	UserIP         string `json:"user_ip"`
	UserAgent      string `json:"user_agent"`
	GivenNames     string `json:"given_names"`
	Surname        string `json:"surname"`
	Nationality    string `json:"nationality"`
	Sex            string `json:"sex"`
	DateOfBirth    string `json:"date_of_birth"`
	PersonalNumber string `json:"personal_number"`
	DocumentType   string `json:"document_type"`
	DocumentNumber string `json:"document_number"`
	ExpiryDate     string `json:"expiry_date"`
	IssuingCountry string `json:"issuing_country"`
	Issuer         string `json:"issuer"`
	Portrait       string `json:"portrait"`
	Face           string `json:"face"`
}

func idBody(id int64) string { return `{"id":` + strconv.FormatInt(id, 10) + `}` }

func (e *env) get(id int64) sessionData {
	e.t.Helper()
	st, b := e.call(passportreadersim.PathGet, idBody(id))
	if st != http.StatusOK {
		e.t.Fatalf("session.get: %d %s", st, b)
	}
	var d sessionData
	if err := json.Unmarshal(b, &d); err != nil {
		e.t.Fatalf("session.get answer %s: %v", b, err)
	}
	return d
}

func (e *env) state(id int64) string {
	e.t.Helper()
	st, b := e.call(passportreadersim.PathState, idBody(id))
	if st != http.StatusOK {
		e.t.Fatalf("session.state: %d %s", st, b)
	}
	var d struct {
		State string `json:"state"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		e.t.Fatalf("session.state answer %s: %v", b, err)
	}
	return d.State
}

func (e *env) session(id int64) passportreadersim.Session {
	e.t.Helper()
	s, ok := e.sim.Session(id)
	if !ok {
		e.t.Fatalf("Session(%d): not found", id)
	}
	return s
}

// must fails the test on err, for the Go methods that drive the state.
func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// waitCallbacks waits for the simulator's callback deliveries to settle.
func (e *env) waitCallbacks() {
	e.t.Helper()
	simtest.Settle(e.t, "callbacks", e.sim.WaitCallbacks)
}

// wantError checks an error answer: HTTP code, error_name, and an
// error_message containing msg, with exactly those two keys.
func wantError(t testing.TB, code int, body []byte, wantCode int, name, msg string) {
	t.Helper()
	if code != wantCode {
		t.Fatalf("HTTP %d, want %d: %s", code, wantCode, body)
	}
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("not JSON: %v: %s", err, body)
	}
	m, _ := v["error_message"].(string)
	if len(v) != 2 || v["error_name"] != name || !strings.Contains(m, msg) {
		t.Fatalf("error %s, want error_name %q and an error_message containing %q", body, name, msg)
	}
}

// decodeNumbers decodes a JSON object keeping numbers as written: the
// API's answers and callbacks are all flat objects.
func decodeNumbers(t testing.TB, b []byte) map[string]any {
	t.Helper()
	v, ok := simtest.DecodeAny(t, b).(map[string]any)
	if !ok {
		t.Fatalf("not a JSON object: %s", b)
	}
	return v
}

// --- the /open page ---

func (e *env) openURL(token, redirect string) string {
	q := url.Values{"token": {token}}
	if redirect != "" {
		q.Set("redirect_url", redirect)
	}
	return e.base + passportreadersim.PathOpen + "?" + q.Encode()
}

// page GETs an absolute URL and returns status, headers and body.
func (e *env) page(u string) (int, http.Header, string) {
	e.t.Helper()
	return simtest.Get(e.t, e.srv.Client(), u)
}

// findForm returns the form whose button reads button on the page at
// pageURL.
func (e *env) findForm(pageURL, button string) simtest.Form {
	e.t.Helper()
	_, _, html := e.page(pageURL)
	return simtest.FindForm(e.t, html, button)
}

// postForm posts values to a form action (relative to the page) as a
// browser would, following a 303, and returns the final status, URL and
// body.
func (e *env) postForm(pageURL, action string, values url.Values) (int, string, string) {
	e.t.Helper()
	return simtest.PostForm(e.t, e.srv.Client(), pageURL, action, values, map[string]string{"User-Agent": "PassportReaderTest/1.0 (phone)"})
}

// submit posts the form whose button reads button, with changes applied
// to its values.
func (e *env) submit(pageURL, button string, changes map[string]string) (int, string) {
	e.t.Helper()
	f := e.findForm(pageURL, button)
	for k, v := range changes {
		f.Values.Set(k, v)
	}
	st, _, body := e.postForm(pageURL, f.Action, f.Values)
	return st, body
}
