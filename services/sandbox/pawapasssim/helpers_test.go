package pawapasssim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"portal/services/sandbox"
	"portal/services/sandbox/pawapasssim"
)

// The simulator is exercised over real HTTP with plain net/http and
// encoding/json only: never through the portal's pawaPass client.

// start is the fake clock's "now": the document's example createdAt, so
// the example's expiresAt (a week later) is in the future.
var start = time.Date(2025, 8, 20, 9, 0, 0, 0, time.UTC)

const testSecret = "whsec-test"

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

// receiver is a webhook receiver: it records every request and answers
// answer(n) to the n-th (from 1), 200 by default.
type receiver struct {
	srv *httptest.Server

	mu     sync.Mutex
	answer func(n int) int
	hits   []hook
	more   chan struct{} // closed and replaced on every hit
}

type hook struct {
	header http.Header
	body   []byte
	status int
}

func newReceiver(t testing.TB) *receiver {
	rc := &receiver{more: make(chan struct{})}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		status := http.StatusOK
		if rc.answer != nil {
			status = rc.answer(len(rc.hits) + 1)
		}
		rc.hits = append(rc.hits, hook{header: r.Header.Clone(), body: b, status: status})
		close(rc.more)
		rc.more = make(chan struct{})
		rc.mu.Unlock()
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

func (rc *receiver) got() []hook {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hook(nil), rc.hits...)
}

// waitFor waits until the receiver has had at least n requests.
func (rc *receiver) waitFor(t testing.TB, n int) []hook {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		rc.mu.Lock()
		if len(rc.hits) >= n {
			out := append([]hook(nil), rc.hits...)
			rc.mu.Unlock()
			return out
		}
		more := rc.more
		rc.mu.Unlock()
		select {
		case <-more:
		case <-ctx.Done():
			t.Fatalf("waited for %d webhooks, got %d", n, len(rc.got()))
		}
	}
}

// url is the webhook URL; the path stands in for the portal's secret.
func (rc *receiver) url() string { return rc.srv.URL + "/webhooks/pawapass/s3cret" }

// env is a test's view of the simulator.
type env struct {
	t       testing.TB
	sim     *pawapasssim.Sim
	harness *sandbox.Harness
	srv     *httptest.Server
	base    string // e.g. http://127.0.0.1:1234/sandbox/pawapass
	clock   *clock
	hooks   *receiver
}

// setup mounts a simulator built from opts at /sandbox/pawapass behind an
// httptest server, with a fake clock, a webhook receiver (WebhookURL "off"
// means none), testSecret and a 1 ms webhook backoff unless opts say
// otherwise.
func setup(t testing.TB, opts pawapasssim.Options) *env {
	t.Helper()
	c := &clock{t: start}
	e := &env{t: t, clock: c, hooks: newReceiver(t)}
	if opts.Now == nil {
		opts.Now = c.Now
	}
	switch opts.WebhookURL {
	case "":
		opts.WebhookURL = e.hooks.url()
	case "off":
		opts.WebhookURL = ""
	}
	if opts.WebhookSecret == "" {
		opts.WebhookSecret = testSecret
	}
	if opts.WebhookBackoff == 0 {
		opts.WebhookBackoff = time.Millisecond
	}
	e.sim = pawapasssim.New(opts)
	e.harness = sandbox.New("/sandbox")
	if err := e.harness.Register(e.sim); err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.harness)
	t.Cleanup(e.srv.Close)
	t.Cleanup(func() { _ = e.sim.Close() }) // runs first: cleanups are LIFO
	e.base = e.srv.URL + "/sandbox/pawapass"
	return e
}

func bearer() map[string]string {
	return map[string]string{"Authorization": "Bearer " + pawapasssim.DefaultAPIKey}
}

// do sends a request and returns the status, headers and body.
func (e *env) do(method, path string, headers map[string]string, body string) (int, http.Header, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
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

// api sends an authenticated request and checks the answer is JSON.
func (e *env) api(method, path, body string) (int, []byte) {
	e.t.Helper()
	st, h, b := e.do(method, path, bearer(), body)
	if ct := h.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		e.t.Errorf("%s %s: Content-Type %q: %s", method, path, ct, b)
	}
	return st, b
}

// wire is the verification object as the document describes it.
type wire struct {
	ID           string  `json:"id"`
	ExternalID   string  `json:"externalId"`
	Country      *string `json:"country"`
	PhoneNo      *string `json:"phoneNo"`
	Requirements []struct {
		Type    string `json:"type"`
		Options *struct {
			PreviousVerificationID string `json:"previousVerificationId"`
		} `json:"options"`
	} `json:"requirements"`
	URL              string          `json:"url"`
	Status           string          `json:"status"`
	Metadata         json.RawMessage `json:"metadata"`
	SuccessURL       string          `json:"successUrl"`
	ErrorURL         string          `json:"errorUrl"`
	SupportURL       string          `json:"supportUrl"`
	IdentityDocument *struct {
		Type             string `json:"type"`
		Country          string `json:"country"`
		SerialNo         string `json:"serialNo"`
		NationalNo       string `json:"nationalNo"`
		FirstName        string `json:"firstName"`
		LastName         string `json:"lastName"`
		DateOfBirth      string `json:"dateOfBirth"`
		PlaceOfBirth     string `json:"placeOfBirth"`
		Nationality      string `json:"nationality"`
		ExpiryAt         string `json:"expiryAt"`
		IssuedAt         string `json:"issuedAt"`
		IssuingAuthority string `json:"issuingAuthority"`
		PlaceOfIssue     string `json:"placeOfIssue"`
		CreatedAt        string `json:"createdAt"`
		UpdatedAt        string `json:"updatedAt"`
	} `json:"identityDocument"`
	FaceScan *struct {
		AgeEstimation string `json:"ageEstimation"`
		CreatedAt     string `json:"createdAt"`
		UpdatedAt     string `json:"updatedAt"`
	} `json:"faceScan"`
	ReviewResult *struct {
		Reason string `json:"reason"`
	} `json:"reviewResult"`
	CreatedBy *string `json:"createdBy"`
	ExpiresAt string  `json:"expiresAt"`
	CreatedAt string  `json:"createdAt"`
	UpdatedAt string  `json:"updatedAt"`
}

func decodeWire(t testing.TB, b []byte) wire {
	t.Helper()
	var v wire
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not a verification: %v: %s", err, b)
	}
	return v
}

// body is a valid create body with both requirements; change it with
// edits.
func body(edits ...func(m map[string]any)) string {
	m := map[string]any{
		"externalId":   "user-1",
		"requirements": []any{map[string]any{"type": "DOCUMENT_SCAN"}, map[string]any{"type": "FACE_SCAN"}},
		"successUrl":   "https://portal.example/kyc/done",
		"errorUrl":     "https://portal.example/kyc/error",
		"supportUrl":   "https://portal.example/help",
	}
	for _, f := range edits {
		f(m)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func set(k string, v any) func(map[string]any) { return func(m map[string]any) { m[k] = v } }

func del(k string) func(map[string]any) { return func(m map[string]any) { delete(m, k) } }

// create creates a verification through the API.
func (e *env) create(edits ...func(map[string]any)) wire {
	e.t.Helper()
	st, b := e.api(http.MethodPost, "/v2/verifications/", body(edits...))
	if st != http.StatusOK {
		e.t.Fatalf("create: %d %s", st, b)
	}
	return decodeWire(e.t, b)
}

// get fetches a verification through the API.
func (e *env) get(id string) wire {
	e.t.Helper()
	st, b := e.api(http.MethodGet, "/v2/verifications/"+id, "")
	if st != http.StatusOK {
		e.t.Fatalf("get %s: %d %s", id, st, b)
	}
	return decodeWire(e.t, b)
}

func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// waitHooks waits for the simulator's webhook deliveries to settle.
func (e *env) waitHooks() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.sim.WaitWebhooks(ctx); err != nil {
		e.t.Fatalf("webhooks still under way: %v", err)
	}
}

// wantError checks an error answer's HTTP status and exact body.
func wantError(t testing.TB, st int, b []byte, wantSt int, code, message string) {
	t.Helper()
	want, _ := json.Marshal(map[string]any{"statusCode": wantSt, "code": code, "message": message})
	if st != wantSt || !jsonEqual(b, want) {
		t.Fatalf("got %d %s\nwant %d %s", st, b, wantSt, want)
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// --- shape comparison ---

// jsonKind names the JSON type of a value decoded with UseNumber.
func jsonKind(v any) string {
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

// shapeDiff compares the shape of got with want: the same keys at every
// level of every object, the same JSON type for every value, and every
// element of an array shaped like want's first element. It returns one
// line per difference, naming the path.
func shapeDiff(path string, want, got any) []string {
	wk, gk := jsonKind(want), jsonKind(got)
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
				diffs = append(diffs, shapeDiff(path+"."+k, wv, gv)...)
			}
		}
	case []any:
		g := got.([]any)
		if len(w) == 0 {
			break
		}
		if len(g) == 0 {
			return []string{path + ": empty, cannot check its elements"}
		}
		for i, gv := range g {
			diffs = append(diffs, shapeDiff(path+"["+strconv.Itoa(i)+"]", w[0], gv)...)
		}
	}
	return diffs
}

func decodeAny(t testing.TB, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("bad JSON: %v: %s", err, b)
	}
	return v
}

// checkShapeExcept fails unless answer has the example's shape, allowing
// exactly the listed differences.
func checkShapeExcept(t testing.TB, what string, example, answer []byte, allowed ...string) {
	t.Helper()
	var bad []string
	for _, d := range shapeDiff("$", decodeAny(t, example), decodeAny(t, answer)) {
		found := false
		for _, a := range allowed {
			found = found || a == d
		}
		if !found {
			bad = append(bad, d)
		}
	}
	if len(bad) > 0 {
		t.Errorf("%s differs from the example:\n  %s\nanswer: %s", what, strings.Join(bad, "\n  "), answer)
	}
}
