// Package simtest holds the test helpers the sandbox simulators share.
//
// The simulators' tests speak to them over real HTTP with plain net/http
// and encoding/json, never through the portal's clients, so that a bug
// shared by a client and its simulator cannot hide itself. These helpers
// keep to that: they know nothing of any vendor.
package simtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"portal/services/sandbox"
)

// --- mounting ---

// Mount registers sim on a harness at /sandbox, as the portal mounts it,
// behind an httptest server that the test's cleanup closes, and returns
// them with the simulator's base URL (no trailing slash).
func Mount(t testing.TB, sim sandbox.Simulator) (*sandbox.Harness, *httptest.Server, string) {
	t.Helper()
	h := sandbox.New("/sandbox")
	if err := h.Register(sim); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	if c, ok := sim.(io.Closer); ok {
		// Registered after srv.Close, so it runs first (cleanups are LIFO):
		// srv.Close would otherwise wait for open streams that only the
		// simulator's Close ends.
		t.Cleanup(func() { _ = c.Close() })
	}
	return h, srv, srv.URL + h.Prefix() + "/" + sim.Name()
}

// CheckRegistration fails unless h holds sim alone, mounted at
// /sandbox/<name>/ with title, and offering exactly endpoints and actions
// in that order: the order is what the sandbox page shows. It returns the
// view for checks of the vendor's own.
func CheckRegistration(t testing.TB, h *sandbox.Harness, sim sandbox.Simulator, name, title string, endpoints, actions []string) sandbox.SimulatorView {
	t.Helper()
	if sim.Name() != name || sim.Title() != title {
		t.Fatalf("name %q title %q, want %q %q", sim.Name(), sim.Title(), name, title)
	}
	views := h.Snapshot()
	if len(views) != 1 || views[0].Base != "/sandbox/"+name+"/" {
		t.Fatalf("snapshot %+v", views)
	}
	var patterns, names []string
	for _, ep := range views[0].Endpoints {
		patterns = append(patterns, ep.Pattern)
	}
	for _, a := range views[0].Actions {
		names = append(names, a.Name)
	}
	if !slices.Equal(patterns, endpoints) {
		t.Fatalf("endpoints\n%q\nwant\n%q", patterns, endpoints)
	}
	if !slices.Equal(names, actions) {
		t.Fatalf("actions %q, want %q", names, actions)
	}
	return views[0]
}

// WantValidation fails unless err is the sandbox's ValidationError on field
// with a message containing msg: the sandbox page shows it by the field.
func WantValidation(t testing.TB, err error, field, msg string) {
	t.Helper()
	var ve *sandbox.ValidationError
	if !errors.As(err, &ve) || ve.Field != field || !strings.Contains(ve.Message, msg) {
		t.Fatalf("error %v, want a ValidationError on %q containing %q", err, field, msg)
	}
}

// Settle waits up to 10 s for wait (a simulator's WaitWebhooks or
// WaitCallbacks): a delivery still under way after that is a bug, not a
// slow machine.
func Settle(t testing.TB, what string, wait func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := wait(ctx); err != nil {
		t.Fatalf("%s still under way: %v", what, err)
	}
}

// Within fails unless f returns within d, for calls such as a simulator's
// Close that must not wait out a backoff or a held request. f is left
// running when it does not.
func Within(t testing.TB, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
	}
}

// ReadFile returns the file at the joined path, failing the test if it
// cannot be read: the examples are part of the tests.
func ReadFile(t testing.TB, elem ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(elem...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// --- the fake clock ---

// Clock is a fake clock, safe for concurrent use: simulators read it from
// their own goroutines (deliveries, expiry) while the test advances it.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock stopped at start.
func NewClock(start time.Time) *Clock { return &Clock{t: start} }

// Now is the clock's time; pass it as a simulator's Options.Now.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// --- HTTP ---

// NewRequest is http.NewRequest with body as a string ("" for none),
// failing the test instead of returning an error.
func NewRequest(t testing.TB, method, url, body string) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// Send does req with c and returns the status, headers and whole body.
func Send(t testing.TB, c *http.Client, req *http.Request) (int, http.Header, []byte) {
	t.Helper()
	resp, b := send(t, c, req)
	return resp.StatusCode, resp.Header, b
}

// send is Send keeping the response, whose body it has read and closed.
func send(t testing.TB, c *http.Client, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		// A handler that panics reaches the client as a broken connection.
		t.Fatalf("%s %s: request failed (a panic in the handler?): %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// Do sends method url with body ("" for none), labelled JSON as the
// portal's clients label theirs, and header, which may override that
// label.
func Do(t testing.TB, c *http.Client, method, url string, header map[string]string, body string) (int, http.Header, []byte) {
	t.Helper()
	req := NewRequest(t, method, url, body)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return Send(t, c, req)
}

// Get fetches an absolute URL (a hosted page, its stylesheet) and returns
// the status, headers and body.
func Get(t testing.TB, c *http.Client, u string) (int, http.Header, string) {
	t.Helper()
	st, h, b := Send(t, c, NewRequest(t, http.MethodGet, u, ""))
	return st, h, string(b)
}

// Form is one <form> of a hosted page, with the values a browser would
// post from it as it stands.
type Form struct {
	Action string
	Values url.Values
	Button string // the text of its (first) button
}

// The hosted pages are html/template output with every attribute quoted
// and in a fixed order, so a few patterns read them; a page they cannot
// read fails the test that looks for its forms.
var (
	formRe   = regexp.MustCompile(`(?s)<form method="post" action="([^"]+)"[^>]*>(.*?)</form>`)
	inputRe  = regexp.MustCompile(`<input type="[a-z]+"[^>]* name="([^"]+)" value="([^"]*)"`)
	selectRe = regexp.MustCompile(`(?s)<select[^>]* name="([^"]+)">(.*?)</select>`)
	optionRe = regexp.MustCompile(`<option( value="([^"]*)")?( selected)?>([^<]*)</option>`)
	buttonRe = regexp.MustCompile(`<button[^>]*>([^<]*)</button>`)
)

// Forms reads the post forms of a page. A select posts its selected
// option or, as a browser does when none is, its first; an option without
// a value attribute posts its text.
func Forms(page string) []Form {
	var out []Form
	for _, m := range formRe.FindAllStringSubmatch(page, -1) {
		f := Form{Action: html.UnescapeString(m[1]), Values: url.Values{}}
		for _, in := range inputRe.FindAllStringSubmatch(m[2], -1) {
			f.Values.Set(in[1], html.UnescapeString(in[2]))
		}
		for _, sel := range selectRe.FindAllStringSubmatch(m[2], -1) {
			opts := optionRe.FindAllStringSubmatch(sel[2], -1)
			if len(opts) == 0 {
				continue
			}
			chosen := opts[0]
			for _, o := range opts {
				if o[3] != "" {
					chosen = o
				}
			}
			v := chosen[4]
			if chosen[1] != "" {
				v = chosen[2]
			}
			f.Values.Set(sel[1], html.UnescapeString(v))
		}
		if b := buttonRe.FindStringSubmatch(m[2]); b != nil {
			f.Button = html.UnescapeString(b[1])
		}
		out = append(out, f)
	}
	return out
}

// Buttons lists the buttons of a page's forms, in page order.
func Buttons(page string) []string {
	var out []string
	for _, f := range Forms(page) {
		out = append(out, f.Button)
	}
	return out
}

// FindForm returns the form of page whose button reads button.
func FindForm(t testing.TB, page, button string) Form {
	t.Helper()
	for _, f := range Forms(page) {
		if f.Button == button {
			return f
		}
	}
	t.Fatalf("no form with button %q on the page; buttons %q:\n%s", button, Buttons(page), page)
	return Form{}
}

// PostForm posts values to a form's action, resolved against the page's
// URL as a browser resolves it, with header added, following the 303 a
// hosted page answers with. It returns the final status, URL and body.
func PostForm(t testing.TB, c *http.Client, pageURL, action string, values url.Values, header map[string]string) (int, string, string) {
	t.Helper()
	base, err := url.Parse(pageURL)
	if err != nil {
		t.Fatal(err)
	}
	target, err := base.Parse(action)
	if err != nil {
		t.Fatal(err)
	}
	req := NewRequest(t, http.MethodPost, target.String(), values.Encode())
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, b := send(t, c, req)
	// resp.Request is the last one sent: the 303's target.
	return resp.StatusCode, resp.Request.URL.String(), string(b)
}

// SameOrigin is the header a browser adds to a form post from a page on
// origin back to it, which the hosted pages' cross-site check looks for.
func SameOrigin(origin string) map[string]string {
	return map[string]string{"Origin": origin, "Sec-Fetch-Site": "same-origin"}
}

// OfflineClient answers every request with an empty 200 without sending
// it, for simulators whose deliveries go to the documents' example hosts,
// which must never be reached from a test.
func OfflineClient() *http.Client {
	return &http.Client{Transport: RoundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Header: http.Header{}, Request: r}, nil
	})}
}

// RoundTripFunc is an http.RoundTripper in a func, for a simulator's
// HTTPClient that a test watches or scripts.
type RoundTripFunc func(*http.Request) (*http.Response, error)

// RoundTrip calls f.
func (f RoundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// --- the webhook and callback receiver ---

// Receiver stands in for the portal's webhook or callback endpoint: it
// records every request and answers the n-th (from 1) with the status
// SetAnswer's func gives, 200 by default.
type Receiver struct {
	// Server is the receiver's own server: tests compare its URL with
	// what a simulator reports, or close it to make deliveries fail.
	Server *httptest.Server
	path   string

	mu     sync.Mutex
	answer func(n int) int
	hits   []Hit
	more   chan struct{} // closed and replaced on every hit
	seen   chan Hit
}

// Hit is one request the receiver had.
type Hit struct {
	Header http.Header
	Body   []byte
	Path   string    // path and query, as requested
	Status int       // what the receiver answered
	At     time.Time // wall clock: retries are timed by real backoff
}

// NewReceiver starts a receiver whose URL is its server's plus path; the
// test's cleanup closes it.
func NewReceiver(t testing.TB, path string) *Receiver {
	rc := &Receiver{path: path, more: make(chan struct{})}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h := Hit{Header: r.Header.Clone(), Body: b, Path: r.URL.RequestURI(), Status: http.StatusOK, At: time.Now()}
		rc.mu.Lock()
		if rc.answer != nil {
			h.Status = rc.answer(len(rc.hits) + 1)
		}
		rc.hits = append(rc.hits, h)
		close(rc.more)
		rc.more = make(chan struct{})
		seen := rc.seen
		rc.mu.Unlock()
		if seen != nil {
			select {
			case seen <- h:
			default: // nobody is waiting for this many
			}
		}
		w.WriteHeader(h.Status)
	}))
	t.Cleanup(rc.Server.Close)
	return rc
}

// URL is the address to give the simulator; the path stands in for the
// portal's secret.
func (rc *Receiver) URL() string { return rc.Server.URL + rc.path }

// SetAnswer makes f choose the status of the n-th request (from 1). f runs
// under the receiver's lock, so it may keep state of its own unguarded.
func (rc *Receiver) SetAnswer(f func(n int) int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.answer = f
}

// Got returns the requests so far.
func (rc *Receiver) Got() []Hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.hits)
}

// WaitFor waits up to 10 s until the receiver has had at least n requests
// and returns them all.
func (rc *Receiver) WaitFor(t testing.TB, n int) []Hit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		rc.mu.Lock()
		if len(rc.hits) >= n {
			out := slices.Clone(rc.hits)
			rc.mu.Unlock()
			return out
		}
		more := rc.more
		rc.mu.Unlock()
		select {
		case <-more:
		case <-ctx.Done():
			t.Fatalf("waited for %d requests, got %d", n, len(rc.Got()))
		}
	}
}

// Watch makes every later request also go to the returned channel, where
// up to n can wait; more are dropped rather than hold up the simulator.
func (rc *Receiver) Watch(n int) <-chan Hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.seen = make(chan Hit, n)
	return rc.seen
}

// CheckBackoff fails unless hits are n attempts at one delivery, each
// gap at least first doubled once per earlier retry. Lower bounds only: a
// slow machine may wait longer, never shorter.
func CheckBackoff(t testing.TB, hits []Hit, n int, first time.Duration) {
	t.Helper()
	if len(hits) != n {
		t.Fatalf("%d attempts, want %d", len(hits), n)
	}
	for i := 1; i < len(hits); i++ {
		want := first << (i - 1)
		if gap := hits[i].At.Sub(hits[i-1].At); gap < want {
			t.Fatalf("gap %d is %v, want at least %v", i, gap, want)
		}
	}
}

// --- JSON shapes ---

// Decode unmarshals b into a T, failing the test with the body if it
// cannot; what names the T, with its article ("an envelope").
func Decode[T any](t testing.TB, what string, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not %s: %v: %s", what, err, b)
	}
	return v
}

// DecodeAny decodes b keeping numbers as written (json.Number), so that a
// shape check can tell 1 from "1" and a value check sees no float64
// rounding.
func DecodeAny(t testing.TB, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("bad JSON: %v: %s", err, b)
	}
	return v
}

// JSONKind names the JSON type of a decoded value. float64 counts as a
// number too, for values decoded without UseNumber.
func JSONKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "bool"
	case json.Number, float64:
		return "number"
	case string:
		return "string"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	default:
		return "unknown"
	}
}

// ShapeDiff compares the shape of got with want: the same keys at every
// level of every object, the same JSON type for every value, and every
// element of an array shaped like want's first element (the examples show
// one). It returns one line per difference, naming the path, in key
// order so that a failure reads the same every run.
func ShapeDiff(path string, want, got any) []string {
	wk, gk := JSONKind(want), JSONKind(got)
	if wk != gk {
		return []string{path + ": want " + wk + ", got " + gk}
	}
	var diffs []string
	switch w := want.(type) {
	case map[string]any:
		g := got.(map[string]any)
		keys := make([]string, 0, len(w)+len(g))
		for k := range w {
			keys = append(keys, k)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			wv, inW := w[k]
			gv, inG := g[k]
			switch {
			case !inG:
				diffs = append(diffs, path+"."+k+": missing")
			case !inW:
				diffs = append(diffs, path+"."+k+": not in the example")
			default:
				diffs = append(diffs, ShapeDiff(path+"."+k, wv, gv)...)
			}
		}
	case []any:
		g := got.([]any)
		if len(w) == 0 {
			break // the example says nothing of the elements
		}
		if len(g) == 0 {
			// Passing it would let an answer that never fills the
			// array in pass for one that does.
			return []string{path + ": empty, cannot check its elements"}
		}
		for i, gv := range g {
			diffs = append(diffs, ShapeDiff(path+"["+strconv.Itoa(i)+"]", w[0], gv)...)
		}
	}
	return diffs
}

// CheckShape fails unless answer has exactly the shape of example.
func CheckShape(t testing.TB, what string, example, answer []byte) {
	t.Helper()
	CheckShapeExcept(t, what, example, answer)
}

// CheckShapeExcept is CheckShape allowing exactly the listed differences
// (as ShapeDiff words them), for answers that legitimately lack what only
// exists later.
func CheckShapeExcept(t testing.TB, what string, example, answer []byte, allowed ...string) {
	t.Helper()
	var bad []string
	for _, d := range ShapeDiff("$", DecodeAny(t, example), DecodeAny(t, answer)) {
		if !slices.Contains(allowed, d) {
			bad = append(bad, d)
		}
	}
	if len(bad) > 0 {
		t.Errorf("%s differs from the example:\n  %s\nanswer: %s", what, strings.Join(bad, "\n  "), answer)
	}
}

// SameValues fails unless answer has the example's value at each dotted
// path ("data.request.file.source", "items.0.id"), compared as JSON text.
func SameValues(t testing.TB, what string, example, answer []byte, paths ...string) {
	t.Helper()
	ex, got := DecodeAny(t, example), DecodeAny(t, answer)
	for _, p := range paths {
		wb, _ := json.Marshal(At(ex, p))
		gb, _ := json.Marshal(At(got, p))
		if string(wb) != string(gb) {
			t.Errorf("%s: %s is %s, the example has %s", what, p, gb, wb)
		}
	}
}

// At walks a dotted path through a decoded value; a number is an array
// index. It returns nil where the path leads nowhere.
func At(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}
