package oneflowsim_test

import (
	"bytes"
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
	"portal/services/sandbox/oneflowsim"
)

// The simulator is exercised over real HTTP with plain net/http and
// encoding/json only: never through the portal's 1flow client.

// upstreamDir holds the document's example bodies.
var upstreamDir = filepath.Join("..", "..", "..", "testdata", "upstream", "oneflow")

// start is a fixed "now" for the fake clock.
var start = time.Date(2026, 5, 4, 9, 1, 41, 197617901, time.UTC)

// clock is a fake clock, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: start} }

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

// env is a test's view of the simulator: the sim, the harness it is
// mounted in, the server, the simulator's base URL and the fake clock.
type env struct {
	t       testing.TB
	sim     *oneflowsim.Sim
	harness *sandbox.Harness
	srv     *httptest.Server
	base    string // e.g. http://127.0.0.1:1234/sandbox/oneflow
	clock   *clock
}

// setup mounts a simulator built from opts (with a fake clock unless opts
// has one) at /sandbox/oneflow behind an httptest server.
func setup(t testing.TB, opts oneflowsim.Options) *env {
	t.Helper()
	c := newClock()
	if opts.Now == nil {
		opts.Now = c.Now
	}
	e := setupWith(t, oneflowsim.New(opts))
	e.clock = c
	return e
}

// setupWith mounts sim as the sandbox does: sandbox.New("/sandbox") and
// Register, behind an httptest server. The env's clock is nil.
func setupWith(t testing.TB, sim *oneflowsim.Sim) *env {
	t.Helper()
	h := sandbox.New("/sandbox")
	if err := h.Register(sim); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{t: t, sim: sim, harness: h, srv: srv, base: srv.URL + "/sandbox/oneflow"}
}

// faultStatus is a one-shot injected HTTP status.
func faultStatus(code int) sandbox.Fault {
	return sandbox.Fault{Kind: sandbox.FaultStatus, Status: code, Times: 1}
}

// do sends a request and returns the status and body. auth is the whole
// Authorization header ("" for none).
func (e *env) do(method, path, auth, body string) (int, []byte) {
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
	if auth != "" {
		req.Header.Set("Authorization", auth)
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
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		e.t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
	}
	return resp.StatusCode, b
}

// token fetches an access token with the default credentials.
func (e *env) token() string {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.base+oneflowsim.PathToken, nil)
	req.SetBasicAuth(oneflowsim.DefaultClientID, oneflowsim.DefaultClientSecret)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("token: status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || tr.AccessToken == "" {
		e.t.Fatalf("token: %v, %+v", err, tr)
	}
	return tr.AccessToken
}

func bearer(tok string) string { return "Bearer " + tok }

// envelope is the documented answer wrapper.
type envelope struct {
	Success   bool            `json:"success"`
	Timestamp int64           `json:"timestamp"`
	Message   string          `json:"message"`
	Data      json.RawMessage `json:"data"`
}

func decodeEnvelope(t testing.TB, b []byte) envelope {
	t.Helper()
	var v envelope
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not an envelope: %v: %s", err, b)
	}
	return v
}

// wantError checks an error answer: status, envelope with success false,
// data null, and a message containing msg.
func wantError(t *testing.T, status int, body []byte, wantStatus int, msg string) {
	t.Helper()
	if status != wantStatus {
		t.Fatalf("status %d, want %d: %s", status, wantStatus, body)
	}
	v := decodeEnvelope(t, body)
	if v.Success || string(v.Data) != "null" || v.Message == "" || v.Timestamp <= 0 {
		t.Fatalf("error envelope wrong: %s", body)
	}
	if !strings.Contains(v.Message, msg) {
		t.Fatalf("message %q does not contain %q", v.Message, msg)
	}
}

// recharge data as the document shows it (verify example), numbers kept as
// JSON text.
type rechargeData struct {
	ID            string       `json:"id"`
	SerialNumber  string       `json:"serialNumber"`
	DeviceType    string       `json:"deviceType"`
	Status        string       `json:"status"`
	Amount        json.Number  `json:"amount"`
	Currency      string       `json:"currency"`
	Litres        json.Number  `json:"litres"`
	PricePerLitre json.Number  `json:"pricePerLitre"`
	Balance       json.Number  `json:"balance"`
	CreatedAt     string       `json:"createdAt"`
	CompletedAt   string       `json:"completedAt"`
	FailureReason string       `json:"failureReason"`
	Customer      customerData `json:"customer"`
}

type customerData struct {
	Name        string `json:"name"`
	PhoneNumber string `json:"phoneNumber"`
}

type lookupData struct {
	Customer customerData `json:"customer"`
	Devices  []struct {
		SerialNumber string      `json:"serialNumber"`
		DeviceType   string      `json:"deviceType"`
		Balance      json.Number `json:"balance"`
	} `json:"devices"`
}

func decodeData[T any](t testing.TB, body []byte) T {
	t.Helper()
	v := decodeEnvelope(t, body)
	if !v.Success || v.Message != "success" {
		t.Fatalf("not a success envelope: %s", body)
	}
	var d T
	dec := json.NewDecoder(bytes.NewReader(v.Data))
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("data: %v: %s", err, v.Data)
	}
	return d
}

// rechargeNow posts a recharge and returns its data, failing unless 202.
func (e *env) rechargeNow(tok, body string) rechargeData {
	e.t.Helper()
	st, b := e.do(http.MethodPost, oneflowsim.PathRecharge, bearer(tok), body)
	if st != http.StatusAccepted {
		e.t.Fatalf("recharge %s: status %d: %s", body, st, b)
	}
	return decodeData[rechargeData](e.t, b)
}

func (e *env) verify(tok, id string) rechargeData {
	e.t.Helper()
	st, b := e.do(http.MethodGet, oneflowsim.PathRecharge+"/"+id, bearer(tok), "")
	if st != http.StatusOK {
		e.t.Fatalf("verify %s: status %d: %s", id, st, b)
	}
	return decodeData[rechargeData](e.t, b)
}

func (e *env) lookup(tok, body string) lookupData {
	e.t.Helper()
	st, b := e.do(http.MethodPost, oneflowsim.PathLookup, bearer(tok), body)
	if st != http.StatusOK {
		e.t.Fatalf("lookup %s: status %d: %s", body, st, b)
	}
	return decodeData[lookupData](e.t, b)
}

// balanceOf returns the lookup balance of id (device or card) as JSON text.
func (e *env) balanceOf(tok, id string) string {
	e.t.Helper()
	l := e.lookup(tok, `{"deviceId":"`+id+`"}`)
	for _, d := range l.Devices {
		if d.SerialNumber == id {
			return d.Balance.String()
		}
	}
	e.t.Fatalf("lookup of %s does not list it", id)
	return ""
}

func readUpstream(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(upstreamDir, name))
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
// element of an array shaped like want's first element. It returns one line
// per difference, naming the path.
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

func decodeAny(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("bad JSON: %v: %s", err, b)
	}
	return v
}
