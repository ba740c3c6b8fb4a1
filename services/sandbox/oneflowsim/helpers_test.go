package oneflowsim_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"portal/services/sandbox"
	"portal/services/sandbox/oneflowsim"
	"portal/services/sandbox/simtest"
)

// The simulator is exercised over real HTTP with plain net/http and
// encoding/json only: never through the portal's 1flow client.

// upstreamDir holds the document's example bodies.
var upstreamDir = filepath.Join("..", "..", "..", "testdata", "upstream", "oneflow")

// start is a fixed "now" for the fake clock.
var start = time.Date(2026, 5, 4, 9, 1, 41, 197617901, time.UTC)

// env is a test's view of the simulator: the sim, the harness it is
// mounted in, the server, the simulator's base URL and the fake clock.
type env struct {
	t       testing.TB
	sim     *oneflowsim.Sim
	harness *sandbox.Harness
	srv     *httptest.Server
	base    string // e.g. http://127.0.0.1:1234/sandbox/oneflow
	clock   *simtest.Clock
}

// setup mounts a simulator built from opts (with a fake clock unless opts
// has one) at /sandbox/oneflow behind an httptest server.
func setup(t testing.TB, opts oneflowsim.Options) *env {
	t.Helper()
	c := simtest.NewClock(start)
	if opts.Now == nil {
		opts.Now = c.Now
	}
	e := setupWith(t, oneflowsim.New(opts))
	e.clock = c
	return e
}

// setupWith mounts sim as the sandbox does, behind an httptest server.
// The env's clock is nil.
func setupWith(t testing.TB, sim *oneflowsim.Sim) *env {
	t.Helper()
	h, srv, base := simtest.Mount(t, sim)
	return &env{t: t, sim: sim, harness: h, srv: srv, base: base}
}

// faultStatus is a one-shot injected HTTP status.
func faultStatus(code int) sandbox.Fault {
	return sandbox.Fault{Kind: sandbox.FaultStatus, Status: code, Times: 1}
}

// do sends a request and returns the status and body. auth is the whole
// Authorization header ("" for none).
func (e *env) do(method, path, auth, body string) (int, []byte) {
	e.t.Helper()
	var header map[string]string
	if auth != "" {
		header = map[string]string{"Authorization": auth}
	}
	st, h, b := simtest.Do(e.t, e.srv.Client(), method, e.base+path, header, body)
	if ct := h.Get("Content-Type"); ct != "application/json" {
		e.t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
	}
	return st, b
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
	return simtest.Decode[envelope](t, "an envelope", b)
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

func readUpstream(t testing.TB, name string) []byte {
	t.Helper()
	return simtest.ReadFile(t, upstreamDir, name)
}
