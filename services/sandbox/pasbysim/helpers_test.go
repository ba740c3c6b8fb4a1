package pasbysim_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"portal/services/sandbox"
	"portal/services/sandbox/pasbysim"
	"portal/services/sandbox/simtest"
)

// The simulator is exercised over real HTTP with plain net/http and
// encoding/json only: never through the portal's pasby client.

// upstreamDir holds the documents' example bodies.
var upstreamDir = filepath.Join("..", "..", "..", "testdata", "upstream", "pasby")

// start is a fixed "now" for the fake clock (whole seconds: the API speaks
// unix seconds).
var start = time.Date(2026, 5, 4, 9, 1, 41, 0, time.UTC)

// env is a test's view of the simulator.
type env struct {
	t       testing.TB
	sim     *pasbysim.Sim
	harness *sandbox.Harness
	srv     *httptest.Server
	base    string // e.g. http://127.0.0.1:1234/sandbox/pasby
	clock   *simtest.Clock
	hooks   *simtest.Receiver
}

// setup mounts a simulator built from opts at /sandbox/pasby behind an
// httptest server, with a fake clock, a webhook receiver and a 1 ms
// webhook backoff unless opts say otherwise.
func setup(t testing.TB, opts pasbysim.Options) *env {
	t.Helper()
	c := simtest.NewClock(start)
	if opts.Now == nil {
		opts.Now = c.Now
	}
	if opts.WebhookBackoff == 0 {
		opts.WebhookBackoff = time.Millisecond
	}
	// The receiver's path stands in for the portal's secret.
	e := &env{t: t, clock: c, hooks: simtest.NewReceiver(t, "/webhooks/pasby/s3cret")}
	e.sim = pasbysim.New(opts)
	e.harness, e.srv, e.base = simtest.Mount(t, e.sim)
	return e
}

// headers for the two API versions.
func v2Headers() map[string]string {
	return map[string]string{"x-api-key": pasbysim.DefaultAPIKey, "x-access-secret": pasbysim.DefaultAppSecret}
}

func tokenHeaders(tok string) map[string]string {
	return map[string]string{"x-api-key": pasbysim.DefaultAPIKey, "x-access-token": tok}
}

// do sends a request with headers and returns the status, headers and body.
func (e *env) do(method, path string, headers map[string]string, body string) (int, http.Header, []byte) {
	e.t.Helper()
	return simtest.Do(e.t, e.srv.Client(), method, e.base+path, headers, body)
}

// api sends a JSON API request and checks the answer is JSON.
func (e *env) api(method, path string, headers map[string]string, body string) (int, []byte) {
	e.t.Helper()
	st, h, b := e.do(method, path, headers, body)
	if ct := h.Get("Content-Type"); ct != "application/json" {
		e.t.Errorf("%s %s: Content-Type %q, want application/json: %s", method, path, ct, b)
	}
	return st, b
}

// v2 sends a request with the v2 key and secret.
func (e *env) v2(path, body string) (int, []byte) {
	e.t.Helper()
	return e.api(http.MethodPost, path, v2Headers(), body)
}

// token gets a v1 access token from authorize.
func (e *env) token() string {
	e.t.Helper()
	st, b := e.api(http.MethodGet, pasbysim.PathV1Authorize+"?sub=consumer-1&app=app-1", v2Headers(), "")
	if st != http.StatusOK {
		e.t.Fatalf("authorize: %d %s", st, b)
	}
	var d struct {
		Token string `json:"token"`
	}
	decodeData(e.t, b, &d)
	if d.Token == "" {
		e.t.Fatalf("authorize: no token: %s", b)
	}
	return d.Token
}

// v1 sends a request with the v1 key and token.
func (e *env) v1(tok, path, body string) (int, []byte) {
	e.t.Helper()
	return e.api(http.MethodPost, path, tokenHeaders(tok), body)
}

// envelope is the documented answer wrapper, with an error's type.
type envelope struct {
	Status  string          `json:"status"`
	Reason  string          `json:"reason"`
	Type    string          `json:"type"`
	Data    json.RawMessage `json:"data"`
	Version string          `json:"version"`
}

func decodeEnvelope(t testing.TB, b []byte) envelope {
	t.Helper()
	return simtest.Decode[envelope](t, "an envelope", b)
}

// decodeData checks a success envelope and decodes its data into v.
func decodeData(t testing.TB, b []byte, v any) envelope {
	t.Helper()
	env := decodeEnvelope(t, b)
	if env.Status != "successful" || env.Reason == "" || env.Version == "" {
		t.Fatalf("not a success envelope: %s", b)
	}
	if err := json.Unmarshal(env.Data, v); err != nil {
		t.Fatalf("data: %v: %s", err, env.Data)
	}
	return env
}

// wantError checks an error answer: HTTP code, status, type, and a reason
// containing reason.
func wantError(t testing.TB, code int, body []byte, wantCode int, status, typ, reason string) {
	t.Helper()
	if code != wantCode {
		t.Fatalf("HTTP %d, want %d: %s", code, wantCode, body)
	}
	v := decodeEnvelope(t, body)
	if v.Status != status || v.Type != typ || !strings.Contains(v.Reason, reason) || v.Data != nil || v.Version == "" {
		t.Fatalf("error %s, want status %q type %q reason containing %q", body, status, typ, reason)
	}
}

// --- wire types as the documents show them ---

type fileData struct {
	Source  string `json:"source"`
	Name    string `json:"name"`
	Stamped string `json:"stamped"`
}

type hookData struct {
	Host      string `json:"host"`
	Reference string `json:"reference"`
}

type signeeData struct {
	Title        string `json:"title"`
	Name         string `json:"name"`
	NIN          string `json:"nin"`
	Representing string `json:"representing"`
	Type         string `json:"type"`
	Email        string `json:"email"`
	SignedAt     int64  `json:"signedAt"`
	IP           string `json:"ip"`
}

type statusLogData struct {
	NIN    string `json:"nin"`
	Status string `json:"status"`
	LUT    int64  `json:"lut"`
}

type signatureData struct {
	NIN            string `json:"nin"`
	Name           string `json:"name"`
	Representing   string `json:"representing"`
	IAT            int64  `json:"iat"`
	Identification string `json:"identification"`
	Signature      string `json:"signature"`
}

// docData is the document object with every key any answer has.
type docData struct {
	Reference   string          `json:"reference"`
	ID          string          `json:"id"`
	To          []string        `json:"to"`
	Destination string          `json:"destination"`
	Domain      string          `json:"domain"`
	IAT         int64           `json:"iat"`
	EXP         int64           `json:"exp"`
	LUT         int64           `json:"lut"`
	Handled     bool            `json:"handled"`
	Mode        string          `json:"mode"`
	File        fileData        `json:"file"`
	Hook        hookData        `json:"hook"`
	Signee      []signeeData    `json:"signee"`
	StatusLog   []statusLogData `json:"statusLog"`
	Signatures  []signatureData `json:"signatures"`
	Request     *struct {
		Client string `json:"client"`
		App    string `json:"app"`
		IP     string `json:"ip"`
	} `json:"request"`
	Cancelled *bool  `json:"cancelled"`
	Onsession *bool  `json:"onsession"`
	Signature string `json:"signature"`
	SignedAt  int64  `json:"signedAt"`
}

// flowData is a signature flow request as ping shows it (NOTES.md).
type flowData struct {
	Reference string         `json:"reference"`
	Requester string         `json:"requester"`
	Requestee string         `json:"requestee"`
	Mode      string         `json:"mode"`
	Data      map[string]any `json:"data"`
	Cancelled bool           `json:"cancelled"`
	Onsession bool           `json:"onsession"`
	IAT       int64          `json:"iat"`
	Signature string         `json:"signature"`
	SignedAt  int64          `json:"signedAt"`
}

type createResult struct {
	Link    string  `json:"link"`
	Request docData `json:"request"`
}

// signingBody is a valid signing request for nins.
func (e *env) signingBody(ref string, nins ...string) string {
	b, _ := json.Marshal(map[string]any{
		"to":      nins,
		"webhook": map[string]string{"host": e.hooks.URL(), "reference": ref},
		"file":    map[string]string{"url": "https://cdn.example.com/docs/contract.pdf", "title": "Service Agreement"},
	})
	return string(b)
}

type signeeIn struct {
	Name         string `json:"name"`
	Type         string `json:"type"`
	Email        string `json:"email"`
	NIN          string `json:"nin"`
	Representing string `json:"representing"`
	Title        string `json:"title,omitempty"`
}

var (
	jane = signeeIn{"Jane Doe", "business", "jane@example.com", "12345678901", "Acme Ltd", "Signatory A"}
	john = signeeIn{"John Smith", "person", "john@example.com", "98765432109", "John Smith", ""}
)

func (e *env) reviewBody(ref string, signees ...signeeIn) string {
	b, _ := json.Marshal(map[string]any{
		"signee":  signees,
		"webhook": map[string]string{"host": e.hooks.URL(), "reference": ref},
		"file":    map[string]string{"url": "https://cdn.example.com/docs/agreement.pdf", "title": "Partnership Agreement"},
	})
	return string(b)
}

// createSigning creates a simple signing document through v2.
func (e *env) createSigning(nins ...string) docData {
	e.t.Helper()
	st, b := e.v2(pasbysim.PathV2Signing, e.signingBody("ref-"+strconv.Itoa(len(nins)), nins...))
	if st != http.StatusCreated {
		e.t.Fatalf("signing: %d %s", st, b)
	}
	var r createResult
	decodeData(e.t, b, &r)
	return r.Request
}

// createReview creates a review document through v2 and returns it and
// its link.
func (e *env) createReview(signees ...signeeIn) (docData, string) {
	e.t.Helper()
	st, b := e.v2(pasbysim.PathV2Review, e.reviewBody("review-ref", signees...))
	if st != http.StatusCreated {
		e.t.Fatalf("review: %d %s", st, b)
	}
	var r createResult
	decodeData(e.t, b, &r)
	return r.Request, r.Link
}

func (e *env) refresh(id string) docData {
	e.t.Helper()
	st, b := e.v2(pasbysim.PathV2Refresh, `{"flow":"`+id+`"}`)
	if st != http.StatusOK {
		e.t.Fatalf("refresh: %d %s", st, b)
	}
	var d struct {
		Doc docData `json:"doc"`
	}
	decodeData(e.t, b, &d)
	return d.Doc
}

func (e *env) pingDoc(id string) docData {
	e.t.Helper()
	st, b := e.v2(pasbysim.PathV2Ping, `{"request":"`+id+`"}`)
	if st != http.StatusOK {
		e.t.Fatalf("ping: %d %s", st, b)
	}
	var d struct {
		Request docData `json:"request"`
	}
	decodeData(e.t, b, &d)
	return d.Request
}

func (e *env) pingFlow(id string) flowData {
	e.t.Helper()
	st, b := e.v2(pasbysim.PathV2Ping, `{"request":"`+id+`"}`)
	if st != http.StatusOK {
		e.t.Fatalf("ping: %d %s", st, b)
	}
	var d struct {
		Request flowData `json:"request"`
	}
	decodeData(e.t, b, &d)
	return d.Request
}

func (e *env) sign(id, nin string) {
	e.t.Helper()
	if err := e.sim.Sign(id, nin); err != nil {
		e.t.Fatalf("Sign(%s, %s): %v", id, nin, err)
	}
}

func (e *env) doc(id string) pasbysim.Document {
	e.t.Helper()
	d, ok := e.sim.Document(id)
	if !ok {
		e.t.Fatalf("Document(%s): not found", id)
	}
	return d
}

// waitHooks waits for the simulator's webhook deliveries to settle.
func (e *env) waitHooks() {
	e.t.Helper()
	simtest.Settle(e.t, "webhooks", e.sim.WaitWebhooks)
}

func readUpstream(t testing.TB, name string) []byte {
	t.Helper()
	return simtest.ReadFile(t, upstreamDir, name)
}
