package pawapasssim_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"portal/services/sandbox"
	"portal/services/sandbox/pawapasssim"
	"portal/services/sandbox/simtest"
)

// The simulator is exercised over real HTTP with plain net/http and
// encoding/json only: never through the portal's pawaPass client.

// start is the fake clock's "now": the document's example createdAt, so
// the example's expiresAt (a week later) is in the future.
var start = time.Date(2025, 8, 20, 9, 0, 0, 0, time.UTC)

const testSecret = "whsec-test"

// env is a test's view of the simulator.
type env struct {
	t       testing.TB
	sim     *pawapasssim.Sim
	harness *sandbox.Harness
	srv     *httptest.Server
	base    string // e.g. http://127.0.0.1:1234/sandbox/pawapass
	clock   *simtest.Clock
	hooks   *simtest.Receiver
}

// setup mounts a simulator built from opts at /sandbox/pawapass behind an
// httptest server, with a fake clock, a webhook receiver (WebhookURL "off"
// means none), testSecret and a 1 ms webhook backoff unless opts say
// otherwise.
func setup(t testing.TB, opts pawapasssim.Options) *env {
	t.Helper()
	c := simtest.NewClock(start)
	// The receiver's path stands in for the portal's secret.
	e := &env{t: t, clock: c, hooks: simtest.NewReceiver(t, "/webhooks/pawapass/s3cret")}
	if opts.Now == nil {
		opts.Now = c.Now
	}
	switch opts.WebhookURL {
	case "":
		opts.WebhookURL = e.hooks.URL()
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
	e.harness, e.srv, e.base = simtest.Mount(t, e.sim)
	return e
}

func bearer() map[string]string {
	return map[string]string{"Authorization": "Bearer " + pawapasssim.DefaultAPIKey}
}

// do sends a request and returns the status, headers and body.
func (e *env) do(method, path string, headers map[string]string, body string) (int, http.Header, []byte) {
	e.t.Helper()
	return simtest.Do(e.t, e.srv.Client(), method, e.base+path, headers, body)
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
	return simtest.Decode[wire](t, "a verification", b)
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
	simtest.Settle(e.t, "webhooks", e.sim.WaitWebhooks)
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
	return simtest.ReadFile(t, "testdata", name)
}
