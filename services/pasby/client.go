// Package pasby is a client for pasby's document e-signature and flow API,
// written from upstream-docs/pasby-documents.txt, pasby-flow.txt and the
// pasby section of NOTES.md: documents (signing, review, refresh), flows
// (ping, cancel, SSE, the legacy long-held polling) and, for v1, authorize.
// Sending, retrying, the token cache and the error vocabulary are
// services/upstream's; this package keeps the endpoints, the wire format
// and pasby's own rules.
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
//     a second 401 is upstream.ErrBadCredentials. A 401 that says the flow
//     expired is ErrExpired and keeps the token.
//   - Polling sends x-api-key and x-access-token on both versions (the flow
//     document: "required even on the v2 route"). SSE exists on v2 only and
//     sends x-api-key and x-access-secret (the secret is "optional").
//
// Policy, in one place:
//   - Config.Timeout bounds each attempt (default upstream.DefaultTimeout);
//     retries and the token fetch get their own. Polling's one attempt is
//     bounded by Config.PollingTimeout (default 2 min) instead. SSE has no
//     overall timeout: Config.Timeout bounds each connection until its
//     headers arrive, then Config.StreamIdleTimeout (default 30 s; pasby
//     sends an event about every 2 s) bounds the silence between two reads;
//     the caller's context ends the stream.
//   - Ping, Refresh and authorize are reads: tried per Config.Retry
//     (default upstream.DefaultRetry) on 5xx (but 501), 429 and network
//     errors. A malformed answer is not retried (ErrUnavailable).
//   - Signing, Review and Cancel change something at pasby: sent once, and
//     again only when the connection provably never reached pasby. A
//     re-sent Signing pushes a second request to every signer's phone; a
//     document whose answer was lost can be found later by its webhook
//     reference. Polling is tried once (it is long-held).
//   - SSE reconnects after a dropped stream, an idle timeout, a 5xx/429 or a
//     network error, waiting per Config.Retry but never less than the
//     server's retry: field, with Last-Event-ID when the stream gave ids.
//     Config.Retry.Attempts failed attempts in a row end the stream with
//     ErrUnavailable; a connection that delivered an event resets the count.
//   - Redirects are never followed (a redirected POST would become a GET).
//
// Every error starts with "pasby: " and is tested with errors.Is / errors.As:
//
//   - ErrExpired, ErrUnknownFlow, ErrCancelled, ErrNotPDF, ErrMissingWebhook:
//     pasby's own refusals (see errors.go); answered by pasby, they are also
//     an *upstream.RejectedError.
//   - upstream.ErrBadCredentials: pasby refused our credentials (401, or a
//     403 whose status is "unauthorized"); on v1 only after one fresh access
//     token was tried. A flow created by another app is a 401 and lands here.
//   - upstream.ErrUnavailable: pasby could not be used: 5xx, 429, a network
//     error or timeout on a read, a malformed answer to a read, an SSE
//     stream that could not be (re)established. For Signing, Review and
//     Cancel it means pasby answered and did not act (or, with ErrNotSent,
//     that nothing was sent).
//   - upstream.ErrNotSent: always together with ErrUnavailable or
//     ErrInvalidRequest; the request provably never reached pasby.
//   - upstream.ErrInvalidRequest (always with ErrNotSent): the call's
//     arguments or the Config were refused before anything was sent (an
//     empty id, no signer, SSE on v1, ...).
//   - *upstream.RejectedError: any other refusal: a 4xx not listed above
//     (403 mode mismatch, validation, a bare 404), or a 2xx whose envelope
//     status is not "successful" (Status is then the 2xx code). Message is
//     pasby's reason, Code its type, UpstreamStatus its status word.
//   - *upstream.OutcomeUnknownError (Op "signing", "review" or "cancel"):
//     Signing, Review and Cancel only, when the request may have reached
//     pasby but its result cannot be told (a timeout or broken connection
//     after sending, a 502/504, a 2xx that cannot be read or decoded). It
//     never matches the sentinels and must not be re-sent automatically.
//
// Nothing here logs, and no error carries the API key, the app secret or a
// token.
package pasby

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"portal/services/upstream"
)

const vendor upstream.Vendor = "pasby"

// Defaults for the Config durations left zero.
const (
	DefaultPollingTimeout    = 2 * time.Minute
	DefaultStreamIdleTimeout = 30 * time.Second
)

// API versions.
const (
	V1 = "v1"
	V2 = "v2"
)

// authorizePath is GET /api/v1/flow/authorize: the flow document marks it
// "v1 only", so it is the same path whatever Config.APIVersion says.
const authorizePath = "/api/v1/flow/authorize"

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

	HTTPClient *http.Client // nil: upstream.DefaultTransport; redirects are never followed either way; its Timeout never cuts Polling or SSE
	// Timeout bounds one attempt; for SSE, one connection until its headers
	// arrive. 0 means upstream.DefaultTimeout.
	Timeout time.Duration
	// Retry is the read policy and the SSE reconnection policy; the zero
	// value means upstream.DefaultRetry.
	Retry             upstream.Retry
	PollingTimeout    time.Duration // Polling (long-held); default 2 min
	StreamIdleTimeout time.Duration // SSE: longest silence before the stream is reopened; default 30 s
	Now               func() time.Time
}

// Client talks to one pasby app. It is safe for concurrent use; the v1
// access token is shared by all callers.
type Client struct {
	version  string
	key      string
	secret   string
	consumer string
	app      string
	pollTime time.Duration
	idle     time.Duration
	now      func() time.Time

	up *upstream.Client
	// long is up without the HTTP client's overall Timeout, for the calls
	// held open on purpose: Polling and SSE.
	long *upstream.Client
	// secretAuth is x-api-key + x-access-secret; token is the access token
	// (x-api-key + x-access-token) of v1 and Polling.
	secretAuth upstream.Headers
	token      *upstream.Token
}

// New returns a Client. It never fails: a bad Config surfaces as an error
// wrapping upstream.ErrInvalidRequest on every call.
func New(cfg Config) *Client {
	c := &Client{
		version:  strings.ToLower(strings.TrimSpace(cfg.APIVersion)),
		key:      cfg.APIKey,
		secret:   cfg.AppSecret,
		consumer: strings.TrimSpace(cfg.Consumer),
		app:      strings.TrimSpace(cfg.App),
		pollTime: cfg.PollingTimeout,
		idle:     cfg.StreamIdleTimeout,
		now:      cfg.Now,
	}
	if c.version == "" {
		c.version = V2
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
	c.secretAuth = upstream.Headers{"x-api-key": c.key, "x-access-secret": c.secret}
	c.token = &upstream.Token{
		Vendor: vendor,
		Fetch:  c.fetchToken,
		Set: func(h http.Header, tok string) {
			h.Set("x-api-key", c.key)
			h.Set("x-access-token", tok)
		},
		// An expired flow is a 401 too, and a fresh token will not cure it.
		Refused: func(res *upstream.Response) bool {
			st, _, typ := complaint(res.Body)
			return res.Status == http.StatusUnauthorized && !isExpiry(st, typ)
		},
		Now: c.now,
	}
	up := upstream.Config{
		Vendor:     vendor,
		BaseURL:    cfg.BaseURL,
		HTTPClient: cfg.HTTPClient,
		Timeout:    cfg.Timeout,
		Retry:      cfg.Retry,
		UserAgent:  "portal-pasby/1",
		Auth:       c.secretAuth,
		Secrets:    []string{c.key, c.secret},
		Complaint: func(body []byte) (string, string) {
			_, reason, typ := complaint(body)
			return typ, reason
		},
		Errors:    func(res *upstream.Response, _, _ string) error { return statusError(res.Status, res.Body, res.Clean) },
		ConfigErr: c.checkConfig(),
	}
	if c.version == V1 {
		up.Auth = c.token
	}
	if up.HTTPClient == nil {
		// One transport for both clients, so they share connections.
		up.HTTPClient = &http.Client{Transport: upstream.DefaultTransport()}
	}
	c.up = upstream.New(up)
	long := *up.HTTPClient
	long.Timeout = 0
	up.HTTPClient = &long
	c.long = upstream.New(up)
	return c
}

func (c *Client) checkConfig() error {
	switch {
	case c.version != V1 && c.version != V2:
		return vendor.InvalidRequest(`APIVersion must be "v1" or "v2"`)
	case c.key == "":
		return vendor.InvalidRequest("no API key")
	case c.secret == "":
		return vendor.InvalidRequest("no app secret")
	case c.consumer != "" && c.app == "":
		return vendor.InvalidRequest("authorize needs the app id when the consumer (sub) is set")
	case hasCtl(c.key) || hasCtl(c.secret):
		return vendor.InvalidRequest("the API key or app secret contains control characters")
	}
	return nil
}

func hasCtl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f })
}

// APIVersion returns "v1" or "v2".
func (c *Client) APIVersion() string { return c.version }

// path is /api/<version>/<group>/<name>.
func (c *Client) path(group, name string) string {
	return "/api/" + c.version + "/" + group + "/" + name
}

// VerificationURL is where a completed document can be checked:
// https://in.pasby.africa/document-checker/<id without "doc_"> ([sdk]).
func VerificationURL(docID string) string {
	return "https://in.pasby.africa/document-checker/" + url.PathEscape(strings.TrimPrefix(strings.TrimSpace(docID), "doc_"))
}

// ---- documents ------------------------------------------------------------

// Signing asks the NINs in r.To to sign a file (POST /api/{v}/document/signing;
// 201 with data.request). See the package comment for when it is re-sent
// (only if it never reached pasby) and when its outcome is unknown.
func (c *Client) Signing(ctx context.Context, r SigningRequest) (DocumentResponse, error) {
	r.To = trimAll(r.To)
	if len(r.To) == 0 {
		return DocumentResponse{}, vendor.InvalidRequest("signing needs at least one NIN")
	}
	for _, nin := range r.To {
		if nin == "" {
			return DocumentResponse{}, vendor.InvalidRequest("signing: empty NIN")
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
		return DocumentResponse{}, vendor.InvalidRequest("review needs at least one signee")
	}
	r.Signees = append([]ReviewSignee(nil), r.Signees...)
	for i := range r.Signees {
		s := &r.Signees[i]
		s.Name, s.Type, s.Email = strings.TrimSpace(s.Name), strings.TrimSpace(s.Type), strings.TrimSpace(s.Email)
		s.NIN, s.Representing, s.Title = strings.TrimSpace(s.NIN), strings.TrimSpace(s.Representing), strings.TrimSpace(s.Title)
		switch {
		case s.Name == "" || s.Email == "" || s.NIN == "" || s.Representing == "":
			return DocumentResponse{}, vendor.InvalidRequest("review: every signee needs a name, email, NIN and whom they represent")
		case s.Type != SigneeBusiness && s.Type != SigneePerson:
			return DocumentResponse{}, vendor.InvalidRequest(`review: signee type must be "business" or "person"`)
		}
	}
	if err := checkFileAndHook(&r.File, &r.Webhook); err != nil {
		return DocumentResponse{}, err
	}
	return c.document(ctx, "review", r)
}

// document creates a document; name is both the path's last part and the
// operation an unknown outcome names.
func (c *Client) document(ctx context.Context, name string, body any) (DocumentResponse, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return DocumentResponse{}, vendor.InvalidRequest(err.Error())
	}
	res, err := c.up.Create(ctx, name, upstream.Request{Method: http.MethodPost, Path: c.path("document", name), Body: b})
	if err != nil {
		return DocumentResponse{}, err
	}
	d, err := decodeDocumentResponse(res.Status, res.Body, "request")
	if err != nil {
		return DocumentResponse{}, createDecodeError(name, res, err)
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
		return DocumentResponse{}, vendor.InvalidRequest("document id is empty")
	}
	b, _ := json.Marshal(refreshBody{Flow: docID})
	res, err := c.up.Read(ctx, upstream.Request{Method: http.MethodPost, Path: c.path("document", "refresh"), Body: b})
	if err != nil {
		return DocumentResponse{}, err
	}
	d, err := decodeDocumentResponse(res.Status, res.Body, "doc")
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
		return FlowState{}, vendor.InvalidRequest("flow id is empty")
	}
	b, _ := json.Marshal(flowBody{Request: id})
	res, err := c.up.Read(ctx, upstream.Request{Method: http.MethodPost, Path: c.path("flow", "ping"), Body: b})
	if err != nil {
		return FlowState{}, err
	}
	st, err := decodeFlowResponse(res.Status, res.Body, id)
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
		return CancelResponse{}, vendor.InvalidRequest("flow id is empty")
	}
	b, _ := json.Marshal(flowBody{Request: id})
	res, err := c.up.Create(ctx, "cancel", upstream.Request{Method: http.MethodPost, Path: c.path("flow", "cancel"), Body: b})
	if err != nil {
		return CancelResponse{}, err
	}
	r, err := decodeCancel(res.Status, res.Body)
	if err != nil {
		return CancelResponse{}, createDecodeError("cancel", res, err)
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
		return FlowState{}, vendor.InvalidRequest("flow id is empty")
	}
	b, _ := json.Marshal(flowBody{Request: id})
	res, err := c.long.ReadOnce(ctx, upstream.Request{
		Method:  http.MethodPost,
		Path:    c.path("flow", "polling"),
		Body:    b,
		Header:  http.Header{"Cache-Control": {"no-cache"}},
		Auth:    c.token,
		Timeout: c.pollTime,
	})
	if err != nil {
		return FlowState{}, err
	}
	st, err := decodeFlowResponse(res.Status, res.Body, id)
	if err != nil {
		return FlowState{}, readDecodeError(err)
	}
	return st, nil
}

// Authorize fetches a fresh access token from GET /api/v1/flow/authorize and
// caches it for the calls that need one (every v1 call, and Polling). Calls
// fetch it by themselves; this is for checking the credentials at start-up.
func (c *Client) Authorize(ctx context.Context) error {
	if err := c.up.ConfigErr(); err != nil {
		return err
	}
	return c.token.Renew(ctx)
}

// fetchToken asks authorize, a read like any other but with the app secret
// instead of the token. The token's expiry is its JWT exp claim, when it has
// one.
func (c *Client) fetchToken(ctx context.Context) (string, time.Time, error) {
	q := url.Values{}
	if c.consumer != "" {
		q.Set("sub", c.consumer)
	}
	if c.app != "" {
		q.Set("app", c.app)
	}
	res, err := c.up.Read(ctx, upstream.Request{Method: http.MethodGet, Path: authorizePath, Query: q, Auth: c.secretAuth})
	if err != nil {
		return "", time.Time{}, tokenError(err)
	}
	tok, err := decodeToken(res.Status, res.Body)
	if err != nil {
		var me *upstream.MalformedError
		if errors.As(err, &me) {
			return "", time.Time{}, vendor.Unavailable("authorize", err)
		}
		return "", time.Time{}, upstream.Prefix("authorize", err)
	}
	exp, _ := jwtExpiry(tok)
	return tok, exp, nil
}

// tokenError maps what authorize refused: it speaks of our credentials and
// base URL, never of a flow.
func tokenError(err error) error {
	var rej *upstream.RejectedError
	var e *upstream.Error
	switch {
	case errors.As(err, &rej) && rej.Status == http.StatusNotFound:
		// Not ErrUnknownFlow: that means an unknown flow to callers.
		return vendor.Unavailable("authorize endpoint not found (check the base URL)", nil)
	case errors.As(err, &rej) && (rej.Status == http.StatusUnauthorized || rej.Status == http.StatusForbidden):
		return vendor.BadCredentials("authorize refused the API key and app secret: " + upstream.StatusDetail(rej.Status, rej.Message))
	case errors.Is(err, upstream.ErrBadCredentials) && errors.As(err, &e):
		return vendor.BadCredentials("authorize refused the API key and app secret: " + e.Detail)
	}
	return upstream.Prefix("authorize", err)
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
		return vendor.InvalidRequest("file.url and file.title are required")
	case h.Host == "" || h.Reference == "":
		return vendor.Kind("webhook.host and webhook.reference are required", nil, upstream.ErrInvalidRequest, upstream.ErrNotSent, ErrMissingWebhook)
	}
	return nil
}

// readDecodeError maps a decoding failure of a read's 2xx answer: a refusal
// in the envelope stays typed; anything else is ErrUnavailable, and not
// retried (asking again would get the same answer).
func readDecodeError(err error) error {
	var me *upstream.MalformedError
	if errors.As(err, &me) {
		return vendor.Unavailable("", err)
	}
	return err
}

// createDecodeError maps a decoding failure of a create's 2xx answer: a
// refusal in the envelope stays typed (pasby said no), anything else means
// we cannot tell what pasby did.
func createDecodeError(op string, res *upstream.Response, err error) error {
	var me *upstream.MalformedError
	if errors.As(err, &me) {
		return vendor.Unknown(op, fmt.Sprintf("HTTP %d answer", res.Status), errors.New(res.Clean(err.Error())))
	}
	return err
}
