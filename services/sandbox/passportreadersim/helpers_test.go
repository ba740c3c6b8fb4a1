package passportreadersim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"portal/services/sandbox"
	"portal/services/sandbox/passportreadersim"
)

// The simulator is exercised over real HTTP with plain net/http and
// encoding/json only: never through the portal's PassportReader client.

// start is a fixed "now" for the fake clock.
var start = time.Date(2026, 5, 4, 9, 1, 41, 0, time.UTC)

// clock is a fake clock, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// receiver is a callback receiver: it records every request, answers the
// n-th one (from 1) with answer(n), 200 by default, and also sends each to
// seen, when set, for tests that wait for one.
type receiver struct {
	srv *httptest.Server

	mu     sync.Mutex
	answer func(n int) int
	hits   []hit
	seen   chan hit
}

type hit struct {
	header http.Header
	body   []byte
	path   string
	status int // what the receiver answered
}

func newReceiver(t testing.TB) *receiver {
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		n := len(rc.hits) + 1
		status := http.StatusOK
		if rc.answer != nil {
			status = rc.answer(n)
		}
		h := hit{header: r.Header.Clone(), body: b, path: r.URL.RequestURI(), status: status}
		rc.hits = append(rc.hits, h)
		seen := rc.seen
		rc.mu.Unlock()
		if seen != nil {
			select {
			case seen <- h:
			default: // nobody is waiting for this many
			}
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) setAnswer(f func(n int) int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.answer = f
}

// watch makes every later request also go to the returned channel (up to
// n of them can wait there).
func (rc *receiver) watch(n int) <-chan hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.seen = make(chan hit, n)
	return rc.seen
}

func (rc *receiver) got() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hit(nil), rc.hits...)
}

// url is the callback_url to give the simulator; the path and query stand
// in for the portal's secret.
func (rc *receiver) url() string { return rc.srv.URL + "/callbacks/passportreader/s3cret?k=v" }

// env is a test's view of the simulator.
type env struct {
	t       testing.TB
	sim     *passportreadersim.Sim
	harness *sandbox.Harness
	srv     *httptest.Server
	base    string // e.g. http://127.0.0.1:1234/sandbox/passportreader
	clock   *clock
	hooks   *receiver
}

// setup mounts a simulator built from opts at /sandbox/passportreader
// behind an httptest server, with a fake clock (unless opts has one), a
// callback receiver and a 1 ms callback backoff unless opts say otherwise.
func setup(t testing.TB, opts passportreadersim.Options) *env {
	t.Helper()
	c := &clock{t: start}
	if opts.Now == nil {
		opts.Now = c.Now
	}
	if opts.CallbackBackoff == 0 {
		opts.CallbackBackoff = time.Millisecond
	}
	e := &env{t: t, clock: c, hooks: newReceiver(t)}
	e.sim = passportreadersim.New(opts)
	e.harness = sandbox.New("/sandbox")
	if err := e.harness.Register(e.sim); err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.harness)
	t.Cleanup(e.srv.Close)
	t.Cleanup(func() { _ = e.sim.Close() }) // before srv.Close: cleanups are LIFO
	e.base = e.srv.URL + "/sandbox/passportreader"
	return e
}

// send sends a request with Basic auth user:pass (none when user is "")
// and returns the status, headers and body.
func (e *env) send(method, path, user, pass, body string) (int, http.Header, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
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
	b, _ := json.Marshal(map[string]any{"callback_url": e.hooks.url(), "reference": ref, "face_verification": face})
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
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.sim.WaitCallbacks(ctx); err != nil {
		e.t.Fatalf("callbacks still under way: %v", err)
	}
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

// decodeNumbers decodes JSON keeping numbers as written.
func decodeNumbers(t testing.TB, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("bad JSON: %v: %s", err, b)
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
	resp, err := e.srv.Client().Get(u)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// form is one <form> of a page with the values a browser would post.
type form struct {
	action string
	values url.Values
	button string
}

var (
	formRe   = regexp.MustCompile(`(?s)<form method="post" action="([^"]+)"[^>]*>(.*?)</form>`)
	inputRe  = regexp.MustCompile(`<input type="[a-z]+"[^>]* name="([^"]+)" value="([^"]*)"`)
	selectRe = regexp.MustCompile(`(?s)<select[^>]* name="([^"]+)">(.*?)</select>`)
	optionRe = regexp.MustCompile(`<option selected>([^<]*)</option>`)
	buttonRe = regexp.MustCompile(`<button[^>]*>([^<]*)</button>`)
)

func forms(html string) []form {
	var out []form
	for _, m := range formRe.FindAllStringSubmatch(html, -1) {
		f := form{action: unescape(m[1]), values: url.Values{}}
		for _, in := range inputRe.FindAllStringSubmatch(m[2], -1) {
			f.values.Set(in[1], unescape(in[2]))
		}
		for _, sel := range selectRe.FindAllStringSubmatch(m[2], -1) {
			if o := optionRe.FindStringSubmatch(sel[2]); o != nil {
				f.values.Set(sel[1], unescape(o[1]))
			}
		}
		if b := buttonRe.FindStringSubmatch(m[2]); b != nil {
			f.button = unescape(b[1])
		}
		out = append(out, f)
	}
	return out
}

func buttons(html string) []string {
	var out []string
	for _, f := range forms(html) {
		out = append(out, f.button)
	}
	return out
}

func unescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#39;", "'", "&#34;", `"`, "&lt;", "<", "&gt;", ">", "&#43;", "+").Replace(s)
}

// findForm returns the form whose button reads button on the page at
// pageURL.
func (e *env) findForm(pageURL, button string) form {
	e.t.Helper()
	_, _, html := e.page(pageURL)
	for _, f := range forms(html) {
		if f.button == button {
			return f
		}
	}
	e.t.Fatalf("no form with button %q on the page:\n%s", button, html)
	return form{}
}

// postForm posts values to a form action (relative to the page) as a
// browser would, following a 303, and returns the final status, URL and
// body.
func (e *env) postForm(pageURL, action string, values url.Values) (int, string, string) {
	e.t.Helper()
	base, _ := url.Parse(pageURL)
	target, err := base.Parse(action)
	if err != nil {
		e.t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, target.String(), strings.NewReader(values.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "PassportReaderTest/1.0 (phone)")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Request.URL.String(), string(b)
}

// submit posts the form whose button reads button, with changes applied
// to its values.
func (e *env) submit(pageURL, button string, changes map[string]string) (int, string) {
	e.t.Helper()
	f := e.findForm(pageURL, button)
	for k, v := range changes {
		f.values.Set(k, v)
	}
	st, _, body := e.postForm(pageURL, f.action, f.values)
	return st, body
}
