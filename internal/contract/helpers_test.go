package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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

	"portal/services/pasby"
	"portal/services/sandbox"
	"portal/services/sandbox/pasbysim"
)

// versions is the table every contract test runs over.
var versions = []string{pasby.V2, pasby.V1}

// Test data: NINs and people shaped like the documents' examples.
const (
	ninA = "12345678901"
	ninB = "98765432109"

	fileURL   = "https://cdn.example.com/documents/contract.pdf"
	fileTitle = "Service Agreement"

	// Documents: exp - iat in the signing example (1707032200-1707025000)
	// and in the review example (1707370700-1707025100).
	signingTTL = 7200
	reviewTTL  = 345600
)

// Passages of the documents quoted by failure messages.
const (
	docModel       = `pasby-documents.txt, "Document model"`
	docSigning     = `pasby-documents.txt, "POST /api/v2/document/signing" (201 example)`
	docReview      = `pasby-documents.txt, "POST /api/v2/document/review" (201 example)`
	docRefresh     = `pasby-documents.txt, "POST /api/v2/document/refresh" (200 example)`
	docV1          = `pasby-documents.txt, "Legacy v1": "Mirror paths under /api/v1/document/ … Request and response bodies match v2"`
	flowPing       = `pasby-flow.txt, "POST /api/v2/flow/ping"`
	flowSSE        = `pasby-flow.txt, "GET /api/v2/flow/sse (v2 only)"`
	flowCancel     = `pasby-flow.txt, "POST /api/v2/flow/cancel"`
	flowPolling    = `pasby-flow.txt, "POST /api/v2/flow/polling (legacy)": "Completes when data.request.cancelled is true or data.request.signature is present"`
	notesIDs       = `NOTES.md (pasby): "documents doc_ + a UUID v1, exactly 40 characters"; "flow requests req_<unix seconds>-<4 alphanumerics>"`
	notesErrors    = `NOTES.md (pasby), "Error codes seen"`
	notesPing      = `NOTES.md (pasby), "Flow ping data.request: reference (flow id), …, signature and signedAt once signed"`
	notesStatusLog = "NOTES.md (pasby): \"statusLog[].status is one of viewing, signed, stale; domain test|live; mode interface|api; signatures[] = {nin, name, representing, iat, identification, signature}\""
	notesWebhooks  = `NOTES.md (pasby), "Webhooks": "a plain JSON POST to webhook.host, no signature header; only an HTTP 200 counts as delivered … Correlate by reference first"`
)

var (
	docIDRe  = regexp.MustCompile(`^doc_[0-9a-f]{8}-[0-9a-f]{4}-1[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	flowIDRe = regexp.MustCompile(`^req_([0-9]+)-[A-Za-z0-9]{4}$`)
	uuidRe   = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

// start is the fake clock's first reading: whole seconds, as the API speaks
// Unix seconds.
var start = time.Date(2026, 5, 4, 9, 1, 41, 0, time.UTC)

// clock is a fake clock shared by the simulator and the client, safe for
// concurrent use.
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

func (c *clock) Unix() int64 { return c.Now().Unix() }

// receiver is the webhook receiver: it answers every POST 200 and records
// it.
type receiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	hits []hit
}

type hit struct {
	method string
	path   string
	header http.Header
	body   []byte
}

func newReceiver() *receiver {
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.hits = append(rc.hits, hit{method: r.Method, path: r.URL.Path, header: r.Header.Clone(), body: b})
		rc.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	return rc
}

func (rc *receiver) URL() string { return rc.srv.URL + "/pasby/events" }

func (rc *receiver) Hits() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hit(nil), rc.hits...)
}

// env is one simulator behind the harness on a real HTTP server, a webhook
// receiver and a client of one API version.
type env struct {
	t       *testing.T
	version string
	clk     *clock
	sim     *pasbysim.Sim
	harness *sandbox.Harness
	srv     *httptest.Server
	base    string // the client's BaseURL: <server>/sandbox/pasby
	hooks   *receiver
	client  *pasby.Client
}

func newEnv(t *testing.T, version string) *env {
	t.Helper()
	e := &env{t: t, version: version, clk: &clock{t: start}}
	e.hooks = newReceiver()
	t.Cleanup(e.hooks.srv.Close) // runs last
	e.sim = pasbysim.New(pasbysim.Options{
		Now:             e.clk.Now,
		SSEInterval:     40 * time.Millisecond,
		PollingInterval: 40 * time.Millisecond,
		PollingHold:     400 * time.Millisecond,
		WebhookBackoff:  40 * time.Millisecond,
	})
	e.harness = sandbox.New("/sandbox")
	if err := e.harness.Register(e.sim); err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.harness)
	t.Cleanup(e.srv.Close)
	// Runs first: ends SSE streams, held polls and webhook deliveries, so
	// the servers can close.
	t.Cleanup(func() { _ = e.sim.Close() })
	e.base = e.srv.URL + "/sandbox/pasby"
	e.client = e.newClient(nil)
	return e
}

// sub is e for the subtest t: the helpers report to (and stop) t.
func (e *env) sub(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// newClient returns a client of e's version with the simulator's default
// sandbox credentials, changed by edit when not nil.
func (e *env) newClient(edit func(*pasby.Config)) *pasby.Client {
	cfg := pasby.Config{
		BaseURL:           e.base,
		APIVersion:        e.version,
		APIKey:            pasbysim.DefaultAPIKey,
		AppSecret:         pasbysim.DefaultAppSecret,
		Timeout:           5 * time.Second,
		PollingTimeout:    5 * time.Second,
		StreamIdleTimeout: 5 * time.Second,
		Now:               e.clk.Now,
	}
	if edit != nil {
		edit(&cfg)
	}
	return pasby.New(cfg)
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (e *env) hook(ref string) pasby.Webhook {
	return pasby.Webhook{Host: e.hooks.URL(), Reference: ref}
}

// ref is a webhook reference unique to the test.
func (e *env) ref() string {
	return "contract-" + strings.NewReplacer("/", "-", " ", "-").Replace(e.t.Name())
}

func (e *env) signing(ctx context.Context, ref string, nins ...string) pasby.DocumentResponse {
	e.t.Helper()
	r, err := e.client.Signing(ctx, pasby.SigningRequest{
		To:      nins,
		Webhook: e.hook(ref),
		File:    pasby.FileInput{URL: fileURL, Title: fileTitle},
	})
	if err != nil {
		e.t.Fatalf("Signing: %v", err)
	}
	return r
}

var reviewSignees = []pasby.ReviewSignee{
	{Name: "Jane Doe", Type: pasby.SigneeBusiness, Email: "jane@example.com", NIN: ninA, Representing: "Acme Ltd", Title: "Signatory A"},
	{Name: "John Smith", Type: pasby.SigneePerson, Email: "john@example.com", NIN: ninB, Representing: "John Smith", Title: "Signatory B"},
}

func (e *env) review(ctx context.Context, ref string) pasby.DocumentResponse {
	e.t.Helper()
	r, err := e.client.Review(ctx, pasby.ReviewRequest{
		Signees: reviewSignees,
		Webhook: e.hook(ref),
		File:    pasby.FileInput{URL: fileURL, Title: "Partnership Agreement"},
	})
	if err != nil {
		e.t.Fatalf("Review: %v", err)
	}
	return r
}

// flowIDs returns the req_ flow requests of docID's signees, by NIN. The
// API never lists them (they reach the signers' apps), so they come from
// the simulator's snapshot.
func (e *env) flowIDs(docID string) map[string]string {
	e.t.Helper()
	d, ok := e.sim.Document(docID)
	if !ok {
		e.t.Fatalf("simulator does not know %s", docID)
	}
	out := map[string]string{}
	for _, s := range d.Signees {
		out[s.NIN] = s.FlowID
	}
	return out
}

func (e *env) sign(docID, nin string) {
	e.t.Helper()
	if err := e.sim.Sign(docID, nin); err != nil {
		e.t.Fatalf("sim.Sign(%s, %s): %v", docID, nin, err)
	}
}

// hits returns the harness's hit count per endpoint pattern.
func (e *env) hits() map[string]int64 {
	out := map[string]int64{}
	for _, s := range e.harness.Snapshot() {
		if s.Name != "pasby" {
			continue
		}
		for _, ep := range s.Endpoints {
			out[ep.Pattern] = ep.Hits
		}
	}
	return out
}

// checkRoutes fails when any /api/ route of the other version was hit,
// besides the v1 authorize that supplies x-access-token.
func (e *env) checkRoutes() {
	e.t.Helper()
	other := "/api/v1/"
	if e.version == pasby.V1 {
		other = "/api/v2/"
	}
	for p, n := range e.hits() {
		if n > 0 && strings.Contains(p, other) && !strings.HasSuffix(p, "/api/v1/flow/authorize") {
			e.t.Errorf("client (%s) called %s %d times; %s / %s", e.version, p, n, docV1, `pasby-flow.txt, "v1 flow mirror"`)
		}
	}
}

// ---- assertions -------------------------------------------------------------

func checkDocID(t *testing.T, what, id string) {
	t.Helper()
	if len(id) != 40 || !docIDRe.MatchString(id) {
		t.Errorf("simulator: %s = %q (%d chars), want doc_ + a UUID v1, 40 characters; %s, and pasby-documents.txt refresh: \"document id (doc_…), min 40 characters\"", what, id, len(id), notesIDs)
	}
}

func checkFlowID(t *testing.T, id string, iat int64) {
	t.Helper()
	m := flowIDRe.FindStringSubmatch(id)
	if m == nil {
		t.Errorf("simulator: flow request id %q is not req_<unix seconds>-<4 alphanumerics>; %s", id, notesIDs)
		return
	}
	if m[1] != itoa(iat) {
		t.Errorf("simulator: flow request id %q does not carry its creation time %d; %s", id, iat, notesIDs)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// checkErr fails unless err matches want (errors.Is); the message names
// who is wrong as blame says.
func checkErr(t *testing.T, what string, err, want error, blame string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v; %s", what, err, want, blame)
	}
}

// stripWebhook is a RoundTripper that removes "webhook" from the JSON body
// of create requests, so the simulator's answer to a document request
// without a webhook reaches the client's decoding (the client refuses to
// send one itself).
type stripWebhook struct{ next http.RoundTripper }

func (s stripWebhook) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil && (strings.HasSuffix(r.URL.Path, "/document/signing") || strings.HasSuffix(r.URL.Path, "/document/review")) {
		b, err := io.ReadAll(r.Body)
		_ = r.Body.Close()
		if err != nil {
			return nil, err
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err == nil {
			delete(m, "webhook")
			b, _ = json.Marshal(m)
		}
		r = r.Clone(r.Context())
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.ContentLength = int64(len(b))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	return s.next.RoundTrip(r)
}

// browser is a plain HTTP client for the hosted review page: it does not
// follow redirects, so the 303 of a form post is seen.
var browser = &http.Client{
	Timeout:       5 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func getPage(t *testing.T, u string) (int, http.Header, string) {
	t.Helper()
	resp, err := browser.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func postForm(t *testing.T, u string, form url.Values) (int, http.Header) {
	t.Helper()
	resp, err := browser.PostForm(u, form)
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header
}
