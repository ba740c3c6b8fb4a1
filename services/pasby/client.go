// Package pasby is a client for pasby's document e-signature and flow API,
// written from upstream-docs/pasby-documents.txt, pasby-flow.txt and the
// pasby section of NOTES.md: documents (signing, review, refresh), flows
// (ping, cancel, SSE, the legacy long-held polling) and, for v1, authorize.
//
// Versions and credentials (Config.APIVersion):
//   - "v2" (default): every call sends x-api-key and x-access-secret, on
//     /api/v2/... paths.
//   - "v1": calls go to /api/v1/... and send x-api-key and x-access-token.
//     The token comes from GET /api/v1/flow/authorize?sub=…&app=… (sent with
//     x-api-key and x-access-secret), answered as data.token, a JWT. It is
//     cached and shared by all callers (one fetch at a time), until shortly
//     before the JWT's exp claim if it carries one, else until pasby answers
//     401; a 401 drops it, fetches a new one and repeats the call once, and
//     a second 401 is ErrUnauthorized. A 401 that says the flow expired is
//     ErrExpired and keeps the token.
//   - Polling sends x-api-key and x-access-token on both versions (the flow
//     document: "required even on the v2 route"). SSE exists on v2 only and
//     sends x-api-key and x-access-secret (the secret is "optional").
//
// Policy, in one place:
//   - Every call runs under its own timeout (Config.Timeout, default 15 s)
//     on top of the caller's context; retries and the token fetch happen
//     inside it. Polling has its own (Config.PollingTimeout, default 2 min).
//     SSE has no overall timeout: Config.Timeout bounds each connection
//     until its headers arrive, then Config.StreamIdleTimeout (default 30 s;
//     pasby sends an event about every 2 s) bounds the silence between two
//     reads; the caller's context ends the stream.
//   - Ping, Refresh and authorize are reads: tried up to 3 times on 5xx (but
//     501), 429 and network errors, with exponential backoff and equal
//     jitter (100-200 ms, then 200-400 ms; one wait is capped at 2 s), never
//     sleeping past the context's deadline. A malformed answer is not
//     retried (ErrUnavailable).
//   - Signing, Review and Cancel change something at pasby: sent once, and
//     sent again only when the connection provably never reached pasby (a
//     dial error: connection refused, DNS failure), at most 2 more times.
//     A failure once the request may have been written, a 2xx that cannot
//     be read or decoded, and a 502/504 from a gateway are
//     *OutcomeUnknownError; any other 5xx is ErrUnavailable (pasby answered
//     and did not act). Polling is not retried either (it is long-held).
//   - SSE reconnects after a dropped stream, an idle timeout, a 5xx/429 or a
//     network error: after the server's retry: field if it sent one (never
//     sooner), else after 0.5-1 s, doubling while attempts keep failing
//     (capped at 30 s, or the server's retry if larger; equal jitter), with
//     Last-Event-ID when the stream gave ids. Five failed attempts in a row
//     (about 8-15 s of pasby being unreachable) end the stream with
//     ErrUnavailable; a connection that delivered an event resets the count.
//   - Redirects are never followed (a redirected POST would become a GET).
//
// Nothing here logs, and no error carries the API key, the app secret or a
// token.
package pasby

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults for the Config durations left zero.
const (
	DefaultTimeout           = 15 * time.Second
	DefaultPollingTimeout    = 2 * time.Minute
	DefaultStreamIdleTimeout = 30 * time.Second
)

// API versions.
const (
	V1 = "v1"
	V2 = "v2"
)

// Config configures a Client.
type Config struct {
	BaseURL    string // e.g. https://s.pasby.africa, or http://127.0.0.1:8080/sandbox/pasby (no trailing slash needed)
	APIVersion string // "v2" (default) or "v1"
	APIKey     string // x-api-key: bk-test_… / bk-live_…
	AppSecret  string // x-access-secret: snb_… / prd_…; on v1 only sent to authorize
	// Consumer and App are the authorize query (v1 and Polling): "sub", the
	// consumer id, and "app", the app id, required when sub is set. Each is
	// sent only when not empty.
	Consumer string
	App      string

	HTTPClient        *http.Client  // nil: a client with sane transport timeouts; redirects are never followed either way
	Timeout           time.Duration // per call; for SSE, per connection until its headers arrive; default 15 s
	PollingTimeout    time.Duration // Polling (long-held); default 2 min
	StreamIdleTimeout time.Duration // SSE: longest silence before the stream is reopened; default 30 s
	Now               func() time.Time
}

// Client talks to one pasby app. It is safe for concurrent use; the v1
// access token is shared by all callers.
type Client struct {
	base     string
	version  string
	key      string
	secret   string
	consumer string
	app      string

	hc       *http.Client
	streamHC *http.Client // hc without an overall Timeout: SSE and polling
	timeout  time.Duration
	pollTime time.Duration
	idle     time.Duration
	now      func() time.Time

	configErr error // a bad Config, returned by every call

	tokens tokenCache

	// traceable: the transport is net/http's, which reports GotConn before
	// writing a request, so a failure without GotConn was never sent.
	traceable bool

	// Retry policy; tests shorten it.
	readAttempts int           // total tries for a read
	dialAttempts int           // total tries for a create that could not connect
	sseAttempts  int           // failed SSE connections in a row before giving up
	backoffBase  time.Duration // first delay
	backoffMax   time.Duration // cap on one read delay
	sseBase      time.Duration // first SSE reconnect delay when the server sent no retry:
	sseMaxDelay  time.Duration // cap on one SSE reconnect delay (unless retry: says more)
}

// New returns a Client. It never fails: a bad Config surfaces as an error
// wrapping ErrInvalidRequest on every call.
func New(cfg Config) *Client {
	c := &Client{
		base:         strings.TrimRight(strings.TrimSpace(cfg.BaseURL), "/"),
		version:      strings.ToLower(strings.TrimSpace(cfg.APIVersion)),
		key:          cfg.APIKey,
		secret:       cfg.AppSecret,
		consumer:     strings.TrimSpace(cfg.Consumer),
		app:          strings.TrimSpace(cfg.App),
		timeout:      cfg.Timeout,
		pollTime:     cfg.PollingTimeout,
		idle:         cfg.StreamIdleTimeout,
		now:          cfg.Now,
		readAttempts: 3,
		dialAttempts: 3,
		sseAttempts:  5,
		backoffBase:  200 * time.Millisecond,
		backoffMax:   2 * time.Second,
		sseBase:      time.Second,
		sseMaxDelay:  30 * time.Second,
	}
	if c.version == "" {
		c.version = V2
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.pollTime <= 0 {
		c.pollTime = DefaultPollingTimeout
	}
	if c.idle <= 0 {
		c.idle = DefaultStreamIdleTimeout
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.configErr = c.checkConfig()

	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	} else {
		hc = http.Client{Transport: defaultTransport()}
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.hc = &hc
	shc := hc
	shc.Timeout = 0
	c.streamHC = &shc
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	_, c.traceable = rt.(*http.Transport)
	return c
}

func (c *Client) checkConfig() error {
	switch {
	case c.version != V1 && c.version != V2:
		return invalidRequest(`APIVersion must be "v1" or "v2"`)
	case c.base == "":
		return invalidRequest("no base URL")
	case c.key == "":
		return invalidRequest("no API key")
	case c.secret == "":
		return invalidRequest("no app secret")
	case c.consumer != "" && c.app == "":
		return invalidRequest("authorize needs the app id when the consumer (sub) is set")
	case hasCtl(c.key) || hasCtl(c.secret):
		return invalidRequest("the API key or app secret contains control characters")
	}
	u, err := url.Parse(c.base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return invalidRequest("base URL must be an absolute http(s) URL without query")
	}
	return nil
}

func hasCtl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f })
}

func defaultTransport() *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		// Shorter than common server keep-alive timeouts, so a create rarely
		// meets a connection the server is just closing (that would be an
		// unknown outcome).
		IdleConnTimeout:     30 * time.Second,
		MaxIdleConnsPerHost: 16,
	}
}

// APIVersion returns "v1" or "v2".
func (c *Client) APIVersion() string { return c.version }

// path is /api/<version>/<group>/<name>.
func (c *Client) path(group, name string) string {
	return "/api/" + c.version + "/" + group + "/" + name
}

// auth is the credential mode of a versioned call.
func (c *Client) auth() authMode {
	if c.version == V1 {
		return authToken
	}
	return authSecret
}

// VerificationURL is where a completed document can be checked:
// https://in.pasby.africa/document-checker/<id without "doc_"> ([sdk]).
func VerificationURL(docID string) string {
	return "https://in.pasby.africa/document-checker/" + url.PathEscape(strings.TrimPrefix(strings.TrimSpace(docID), "doc_"))
}

// ---- documents ------------------------------------------------------------

// Signing asks the NINs in r.To to sign a file (POST /api/{v}/document/signing;
// 201 with data.request). See the package comment for when it is re-sent
// (only if it never reached pasby) and OutcomeUnknownError for when the
// result cannot be told.
func (c *Client) Signing(ctx context.Context, r SigningRequest) (DocumentResponse, error) {
	r.To = trimAll(r.To)
	if len(r.To) == 0 {
		return DocumentResponse{}, invalidRequest("signing needs at least one NIN")
	}
	for _, nin := range r.To {
		if nin == "" {
			return DocumentResponse{}, invalidRequest("signing: empty NIN")
		}
	}
	if err := checkFileAndHook(&r.File, &r.Webhook); err != nil {
		return DocumentResponse{}, err
	}
	return c.document(ctx, "signing", r)
}

// Review launches a hosted review flow (POST /api/{v}/document/review; 201
// with data.link and data.request). Same sending policy as Signing.
func (c *Client) Review(ctx context.Context, r ReviewRequest) (DocumentResponse, error) {
	if len(r.Signees) == 0 {
		return DocumentResponse{}, invalidRequest("review needs at least one signee")
	}
	r.Signees = append([]ReviewSignee(nil), r.Signees...)
	for i := range r.Signees {
		s := &r.Signees[i]
		s.Name, s.Type, s.Email = strings.TrimSpace(s.Name), strings.TrimSpace(s.Type), strings.TrimSpace(s.Email)
		s.NIN, s.Representing, s.Title = strings.TrimSpace(s.NIN), strings.TrimSpace(s.Representing), strings.TrimSpace(s.Title)
		switch {
		case s.Name == "" || s.Email == "" || s.NIN == "" || s.Representing == "":
			return DocumentResponse{}, invalidRequest("review: every signee needs a name, email, NIN and whom they represent")
		case s.Type != SigneeBusiness && s.Type != SigneePerson:
			return DocumentResponse{}, invalidRequest(`review: signee type must be "business" or "person"`)
		}
	}
	if err := checkFileAndHook(&r.File, &r.Webhook); err != nil {
		return DocumentResponse{}, err
	}
	return c.document(ctx, "review", r)
}

func (c *Client) document(ctx context.Context, name string, body any) (DocumentResponse, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return DocumentResponse{}, invalidRequest(err.Error())
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	res, tok, err := c.create(ctx, call{method: http.MethodPost, path: c.path("document", name), body: b, auth: c.auth()})
	if err != nil {
		return DocumentResponse{}, err
	}
	d, err := decodeDocumentResponse(res.status, res.body, "request")
	if err != nil {
		return DocumentResponse{}, createDecodeError(res.status, err, c.secrets(tok))
	}
	return d, nil
}

// Refresh fetches the latest state of a document, with file.stamped,
// signatures and statusLog (POST /api/{v}/document/refresh; data.doc).
// pasby asks for an id of at least 40 characters; that is pasby's check,
// not repeated here.
func (c *Client) Refresh(ctx context.Context, docID string) (DocumentResponse, error) {
	docID = strings.TrimSpace(docID)
	if docID == "" {
		return DocumentResponse{}, invalidRequest("document id is empty")
	}
	b, _ := json.Marshal(refreshBody{Flow: docID})
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	res, err := c.read(ctx, call{method: http.MethodPost, path: c.path("document", "refresh"), body: b, auth: c.auth()})
	if err != nil {
		return DocumentResponse{}, err
	}
	d, err := decodeDocumentResponse(res.status, res.body, "doc")
	if err != nil {
		return DocumentResponse{}, readDecodeError(err)
	}
	return d, nil
}

// ---- flows ----------------------------------------------------------------

// Ping returns the current state of a flow or document
// (POST /api/{v}/flow/ping).
func (c *Client) Ping(ctx context.Context, id string) (FlowState, error) {
	id = strings.TrimSpace(id)
	if id == "" {
		return FlowState{}, invalidRequest("flow id is empty")
	}
	b, _ := json.Marshal(flowBody{Request: id})
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	res, err := c.read(ctx, call{method: http.MethodPost, path: c.path("flow", "ping"), body: b, auth: c.auth()})
	if err != nil {
		return FlowState{}, err
	}
	st, err := decodeFlowResponse(res.status, res.body, id)
	if err != nil {
		return FlowState{}, readDecodeError(err)
	}
	return st, nil
}

// Cancel cancels a flow (POST /api/{v}/flow/cancel; 201 with data.model).
// Same sending policy as Signing: cancelling twice is harmless at pasby (the
// second is ErrCancelled), but whether a cancel whose answer was lost took
// effect is for Ping to tell.
func (c *Client) Cancel(ctx context.Context, id string) (CancelResponse, error) {
	id = strings.TrimSpace(id)
	if id == "" {
		return CancelResponse{}, invalidRequest("flow id is empty")
	}
	b, _ := json.Marshal(flowBody{Request: id})
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	res, tok, err := c.create(ctx, call{method: http.MethodPost, path: c.path("flow", "cancel"), body: b, auth: c.auth()})
	if err != nil {
		return CancelResponse{}, err
	}
	r, err := decodeCancel(res.status, res.body)
	if err != nil {
		return CancelResponse{}, createDecodeError(res.status, err, c.secrets(tok))
	}
	return r, nil
}

// Polling is the legacy long-held poll (POST /api/{v}/flow/polling): pasby
// answers when the flow is cancelled or signed, or gives up. It is sent
// once, with x-access-token on both versions, under Config.PollingTimeout;
// a timeout is ErrUnavailable and the caller may poll again.
func (c *Client) Polling(ctx context.Context, id string) (FlowState, error) {
	id = strings.TrimSpace(id)
	if id == "" {
		return FlowState{}, invalidRequest("flow id is empty")
	}
	b, _ := json.Marshal(flowBody{Request: id})
	ctx, cancel := context.WithTimeout(ctx, c.pollTime)
	defer cancel()
	res, err := c.once(ctx, call{method: http.MethodPost, path: c.path("flow", "polling"), body: b, auth: authToken, stream: true})
	if err != nil {
		return FlowState{}, err
	}
	st, err := decodeFlowResponse(res.status, res.body, id)
	if err != nil {
		return FlowState{}, readDecodeError(err)
	}
	return st, nil
}

// Authorize fetches a fresh access token from GET /api/v1/flow/authorize and
// caches it for the calls that need one (every v1 call, and Polling). Calls
// fetch it by themselves; this is for checking the credentials at start-up.
func (c *Client) Authorize(ctx context.Context) error {
	if c.configErr != nil {
		return c.configErr
	}
	c.tokens.mu.Lock()
	c.tokens.token, c.tokens.expires = "", time.Time{}
	c.tokens.mu.Unlock()
	_, err := c.token(ctx)
	return err
}

// ---- helpers --------------------------------------------------------------

func trimAll(ss []string) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		out = append(out, strings.TrimSpace(s))
	}
	return out
}

func checkFileAndHook(f *FileInput, h *Webhook) error {
	f.URL, f.Title = strings.TrimSpace(f.URL), strings.TrimSpace(f.Title)
	h.Host, h.Reference = strings.TrimSpace(h.Host), strings.TrimSpace(h.Reference)
	switch {
	case f.URL == "" || f.Title == "":
		return invalidRequest("file.url and file.title are required")
	case h.Host == "" || h.Reference == "":
		return invalidRequest("webhook.host and webhook.reference are required", ErrMissingWebhook)
	}
	return nil
}

// readDecodeError maps a decoding failure of a read's 2xx answer: a refusal
// in the envelope stays typed, anything else is ErrUnavailable.
func readDecodeError(err error) error {
	var me *malformedError
	if errors.As(err, &me) {
		return unavailable("", err)
	}
	return err
}

// createDecodeError maps a decoding failure of a create's 2xx answer: a
// refusal in the envelope stays typed (pasby said no), anything else means
// we cannot tell what pasby did.
func createDecodeError(status int, err error, secrets []string) error {
	var me *malformedError
	if errors.As(err, &me) {
		return unknownOutcome(fmt.Sprintf("HTTP %d answer", status), errors.New(cleanMessage(err.Error(), secrets...)))
	}
	return err
}
