// Package pasbysim simulates the pasby e-signature API for the sandbox
// harness: documents (signing, review, refresh) and flows (ping, SSE,
// cancel, the legacy polling, and the v1 authorize), for API v1 and v2, the
// SDK's health check, plus the hosted review page a person signs on and the
// webhooks pasby posts.
//
// It is written from the provider's documents
// (../shared/upstream-docs/pasby-documents.txt and pasby-flow.txt) and the
// pasby section of NOTES.md beside them, never from the portal's pasby
// client, so that a field the client misreads shows up as a failing
// contract test instead of being mirrored on both sides.
//
// Everything the documents and NOTES.md do not specify is our own
// assumption and is marked "[ours]" where it is implemented. The main ones:
//
//   - Answers: the documented envelope {"status","reason","data","version"},
//     version being the route's ("v1" or "v2"). Errors are
//     {"status","reason","type","version"} with the statuses and types
//     NOTES.md lists; which status and type each error gets is ours.
//   - Each create answer has exactly the keys of the document's example for
//     that endpoint (a simple signing answer has no mode, signee or
//     statusLog; a refresh answer no iat, exp, lut or request).
//   - A simple signing document has mode "api"; a review document
//     "interface". domain is "test" (a sandbox).
//   - Simple signing signees get a name from a small fake NIN directory, type
//     "person", representing their own name, empty email and title.
//   - Each signee of a document has a signature flow request
//     (req_<unix seconds>-<4 alphanumerics>, mode "signature") that ping,
//     polling, SSE and cancel accept, like the document id. Cancelling
//     either cancels the whole document.
//   - ping, polling and SSE show a document as the refresh object plus
//     reference, iat, exp, lut, cancelled, onsession and, once everyone has
//     signed, signature and signedAt, so "cancelled is true or signature is
//     present" (pasby-flow.txt) is the terminal test for both kinds of id.
//   - Error cases: 400 unknown id (the reason NOTES.md quotes); 400
//     cancelled (refresh, cancel); 400 "handled" (cancel of a completed
//     document or a signed flow); 400 not a PDF, when file.url's path does
//     not end in ".pdf" (any case), since the simulator never downloads the
//     file; 401 expired (ping, polling, SSE, cancel, refresh), status
//     "expiration", type "session_expiry"; 403 mode mismatch for refresh
//     of a req_ flow id and for the hosted page of a simple signing
//     document; 428 for signing or review without webhook.host.
//   - An unfinished document expires at exp; finished ones never do.
//   - Webhooks: one POST of the refresh document object (no envelope) for
//     each signature; the last signature's is also the completion notice.
//     Attempts are spaced WebhookBackoff, doubling. They are queued in the
//     store and posted by a worker, so one that was due when the process
//     stopped is posted after the restart (at least once: an attempt cut
//     off by a crash is made again).
//   - Signatures are Ed25519 signatures of "<doc id>|<nin>|<signedAt>" with
//     a key made on first use and kept in the store, like the HMAC key of
//     the v1 access tokens (which are therefore not stored: a token is
//     valid while its signature checks and its exp, a whole second, has
//     not passed); identification is a random UUID.
//   - State: documents, flow requests, webhooks, counters and keys are
//     durable in the sandbox store (Options.Store); a restart forgets only
//     open SSE streams and held polling requests.
//   - The stamped PDF is a small PDF the simulator serves itself under
//     /edoc/, listing the signers.
//
// # The provider's SDK
//
// pasby's TypeScript SDK (npm @finsel-dgi/pasby 0.0.6) is run against the
// simulator by contract/pasby-sdk (TestPasbySDK). It is a second source:
// used where the documents say nothing, overruled where they speak, and
// every disagreement below is asserted by that script with the documented
// answer. What the SDK does:
//
//   - URLs: basePath + "/api/<version>/…", joined as strings, version "v2"
//     unless configured. The simulator's root (…/sandbox/pasby, no
//     trailing slash) therefore works as basePath unchanged.
//   - Bodies: docs.docSign posts {to, file{url,title}, webhook{host,
//     reference}}; flows.ping, flows.cancel and flows.longPolling post
//     {request}; flows.authorize is a GET with query sub and app. All as
//     the documents have them.
//   - Headers: every call sends x-api-key (apikeyAuth) and, except the
//     health check, x-access-secret (appSecretKey). It never sends
//     x-access-token, though it has a helper for it.
//   - health.healthCheck is GET /api/health/check (no version), x-api-key
//     only, "Simply returns status code 200 if online", typed as a string.
//     The documents do not have it, so the route comes from the SDK and the
//     "OK" text is ours (health.go).
//
// Where they disagree, the simulator follows the documents:
//
//   - With version "v1" the SDK sends x-access-secret to the v1 routes it
//     has (document signing, flow ping, cancel and polling; 0.0.6 has no
//     review or refresh call), which the documents give x-api-key +
//     x-access-token: they answer 401 ("This route takes x-access-token
//     …"). A v1 caller has to add the token from authorize itself, as a
//     per-call or baseOptions header.
//   - flows.longPolling sends x-access-secret on v2 too; pasby-flow.txt
//     wants x-access-token "even on the v2 route": 401.
//   - flows.authorize builds /api/<version>/flow/authorize, so the default
//     v2 client asks for /api/v2/flow/authorize, which pasby-flow.txt has on
//     v1 only: 404, there is no such route. Configured with version "v1"
//     (outside the SDK's TypeScript types, which allow only "v2") it reaches
//     the documented route with x-api-key + x-access-secret, as the
//     document's curl does, and gets data.token.
//   - The SDK types cancel's data.model with an identification flow's
//     fields (consumer, app, action, payload, …); for a document the
//     simulator answers the flow as ping shows it (see above). The SDK
//     reads no field of it, so nothing breaks.
package pasbysim

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"portal/services/sandbox"
)

// Sandbox credentials the simulator accepts unless Options say otherwise.
// Keys are shaped like pasby's sandbox keys (bk-test_…), secrets like its
// sandbox app secrets (snb_…).
const (
	DefaultAPIKey    = "bk-test_portal0sandbox0key"
	DefaultAppSecret = "snb_portal0sandbox0secret"
)

// Defaults for Options.
const (
	// DefaultSigningTTL is exp - iat of a simple signing document: 7200 s in
	// the document's signing example.
	DefaultSigningTTL = 2 * time.Hour
	// DefaultReviewTTL is exp - iat of a review document: 345600 s (four
	// days) in the document's review example.
	DefaultReviewTTL = 96 * time.Hour
	// DefaultTokenTTL is how long a v1 access token stays valid. [ours]
	DefaultTokenTTL = time.Hour
	// DefaultSSEInterval is pasby-flow.txt's "~every 2 seconds".
	DefaultSSEInterval = 2 * time.Second
	// DefaultPollingInterval is pasby-flow.txt's "~1.2s".
	DefaultPollingInterval = 1200 * time.Millisecond
	// DefaultPollingHold is how long the legacy polling route holds a
	// request before it answers with a state that is not final. [ours]
	DefaultPollingHold = 30 * time.Second
	// DefaultWebhookBackoff is the wait after a webhook's first failed
	// attempt; it doubles after each further one. [ours] (NOTES.md: the
	// schedule is not published)
	DefaultWebhookBackoff = 2 * time.Second
	// DefaultWebhookTimeout is the timeout of the default webhook client.
	// [ours]
	DefaultWebhookTimeout = 10 * time.Second
	// WebhookAttempts is how many times a webhook is POSTed before it is
	// given up: until the receiver answers exactly 200 (NOTES.md).
	WebhookAttempts = 5
)

// Paths of the endpoints, relative to the simulator's root, exactly as the
// documents give them.
const (
	PathV2Signing = "/api/v2/document/signing"
	PathV2Review  = "/api/v2/document/review"
	PathV2Refresh = "/api/v2/document/refresh"
	PathV2Ping    = "/api/v2/flow/ping"
	PathV2SSE     = "/api/v2/flow/sse"
	PathV2Cancel  = "/api/v2/flow/cancel"
	PathV2Polling = "/api/v2/flow/polling"

	PathV1Signing   = "/api/v1/document/signing"
	PathV1Review    = "/api/v1/document/review"
	PathV1Refresh   = "/api/v1/document/refresh"
	PathV1Ping      = "/api/v1/flow/ping"
	PathV1Cancel    = "/api/v1/flow/cancel"
	PathV1Polling   = "/api/v1/flow/polling"
	PathV1Authorize = "/api/v1/flow/authorize"

	// PathContract is where the hosted review pages live:
	// <root>/contract/<doc id>, like pasby's
	// https://sign.with.pasby.africa/contract/<doc id>.
	PathContract = "/contract/"
	// PathStamped is where the stamped PDFs live:
	// <root>/edoc/<doc id>-stamped.pdf, like the document's
	// https://cdn.pasby.africa/edoc/… [ours]
	PathStamped = "/edoc/"
)

// Signee statuses (statusLog[].status), NOTES.md.
const (
	StatusStale   = "stale"
	StatusViewing = "viewing"
	StatusSigned  = "signed"
)

// Document modes, NOTES.md. A simple signing document is "api", a review
// document "interface". [ours for which is which on signing]
const (
	ModeAPI       = "api"
	ModeInterface = "interface"
)

// Overall states of a document, for Document snapshots only: the API has no
// such field. [ours]
const (
	StatePending   = "pending"   // not everyone has signed
	StateCompleted = "completed" // everyone has signed; handled is true
	StateCancelled = "cancelled"
	StateExpired   = "expired"
)

// Options configure a Sim. The zero value is a working demo simulator.
type Options struct {
	// APIKey is the x-api-key accepted. Empty means DefaultAPIKey.
	APIKey string
	// AppSecret is the x-access-secret accepted. Empty means
	// DefaultAppSecret.
	AppSecret string
	// PublicURL is the absolute URL of the simulator's root as callers and
	// browsers reach it, e.g. "http://localhost:8080/sandbox/pasby"; the
	// hosted review links and stamped PDF URLs start with it. Empty means
	// each document takes it from its create request (scheme, Host header
	// and the path the simulator is mounted at).
	PublicURL string
	// SigningTTL and ReviewTTL are exp - iat of new documents. Zero means
	// DefaultSigningTTL / DefaultReviewTTL.
	SigningTTL time.Duration
	ReviewTTL  time.Duration
	// TokenTTL is how long a v1 access token is valid. Zero means
	// DefaultTokenTTL.
	TokenTTL time.Duration
	// SSEInterval is the time between two SSE events. Zero means
	// DefaultSSEInterval.
	SSEInterval time.Duration
	// PollingInterval is how often the legacy polling route looks at the
	// flow (it also wakes on any change). Zero means
	// DefaultPollingInterval.
	PollingInterval time.Duration
	// PollingHold is the longest the polling route holds a request. Zero
	// means DefaultPollingHold.
	PollingHold time.Duration
	// WebhookBackoff is the wait after a first failed webhook attempt,
	// doubled after each further one. Zero means DefaultWebhookBackoff.
	WebhookBackoff time.Duration
	// HTTPClient posts the webhooks. Nil means a client with
	// DefaultWebhookTimeout.
	HTTPClient *http.Client
	// AutoSign, when positive, makes signees act by themselves so the demo
	// is alive: signee i (from 0) of every new document opens the flow at
	// iat + (i+1)*AutoSign - AutoSign/2 and signs at iat + (i+1)*AutoSign,
	// unless someone was faster. The simulator notices within about a
	// second (or at the next request), and sends the webhooks then. Zero
	// (the default) turns it off. [ours]
	AutoSign time.Duration
	// Now is the clock. Nil means time.Now. Timestamps, expiry and AutoSign
	// follow it; the SSE, polling and webhook waits use real time.
	Now func() time.Time
	// Logger receives webhook delivery failures and failures of the
	// store. Nil means no logging.
	Logger *slog.Logger
	// Store keeps the simulator's records (documents, flow requests,
	// webhooks to deliver, counters, keys) in its bucket "pasby". Nil
	// means a memory store of its own, closed by Close; a given store is
	// the caller's to close, after Close.
	Store *sandbox.Store
}

// Sim is the pasby simulator. It implements sandbox.Simulator, is safe for
// concurrent use, and must be closed with Close to stop webhook deliveries
// and open streams.
type Sim struct {
	apiKey, appSecret string
	publicURL         string
	signingTTL        time.Duration
	reviewTTL         time.Duration
	tokenTTL          time.Duration
	sseInterval       time.Duration
	pollingInterval   time.Duration
	pollingHold       time.Duration
	webhookBackoff    time.Duration
	autoSign          time.Duration
	client            *http.Client
	now               func() time.Time
	logger            *slog.Logger

	// Every record lives in the store; nothing here grows with them.
	bucket   *sandbox.Bucket
	ownStore bool // made by New: closed by Close

	keys atomic.Pointer[simKeys] // read from the store on first use

	// ctx ends when the simulator is closed: webhook deliveries, SSE
	// streams and held polling requests watch it.
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup // the loop moving documents along
	streams sync.WaitGroup // SSE streams and held polling requests
	outbox  *sandbox.Outbox[hookMeta]

	mu      sync.Mutex
	closed  bool
	changed chan struct{} // closed and replaced on every change of a document
}

var _ sandbox.Simulator = (*Sim)(nil)

// New returns a simulator configured by opts.
func New(opts Options) *Sim {
	s := &Sim{
		apiKey:          or(opts.APIKey, DefaultAPIKey),
		appSecret:       or(opts.AppSecret, DefaultAppSecret),
		publicURL:       strings.TrimRight(opts.PublicURL, "/"),
		signingTTL:      orDur(opts.SigningTTL, DefaultSigningTTL),
		reviewTTL:       orDur(opts.ReviewTTL, DefaultReviewTTL),
		tokenTTL:        orDur(opts.TokenTTL, DefaultTokenTTL),
		sseInterval:     orDur(opts.SSEInterval, DefaultSSEInterval),
		pollingInterval: orDur(opts.PollingInterval, DefaultPollingInterval),
		pollingHold:     orDur(opts.PollingHold, DefaultPollingHold),
		webhookBackoff:  orDur(opts.WebhookBackoff, DefaultWebhookBackoff),
		autoSign:        max(opts.AutoSign, 0),
		client:          opts.HTTPClient,
		now:             opts.Now,
		logger:          opts.Logger,
		changed:         make(chan struct{}),
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: DefaultWebhookTimeout}
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	store := opts.Store
	if store == nil {
		store, s.ownStore = sandbox.MemoryStore(), true
	}
	s.bucket = store.Bucket(s.Name())
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.outbox = s.newOutbox()
	s.wg.Go(s.advanceLoop)
	return s
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func orDur(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Name is the URL segment: the simulator is mounted at <prefix>/pasby/.
func (s *Sim) Name() string { return "pasby" }

// Title is shown on the sandbox page.
func (s *Sim) Title() string { return "pasby e-signature" }

// Routes registers every documented path of v2 and v1, the SDK's health
// check, the hosted review pages and the stamped PDFs. There is no v1 SSE
// route (pasby-flow.txt).
func (s *Sim) Routes(r *sandbox.Routes) {
	r.HandleFunc("POST "+PathV2Signing, s.api("v2", authSecret, s.handleSigning))
	r.HandleFunc("POST "+PathV2Review, s.api("v2", authSecret, s.handleReview))
	r.HandleFunc("POST "+PathV2Refresh, s.api("v2", authSecret, s.handleRefresh))
	r.HandleFunc("POST "+PathV2Ping, s.api("v2", authSecret, s.handlePing))
	r.HandleFunc("GET "+PathV2SSE, s.api("v2", authKeyOnly, s.handleSSE))
	r.HandleFunc("POST "+PathV2Cancel, s.api("v2", authSecret, s.handleCancel))
	// "x-api-key, x-access-token (required even on the v2 route)"
	r.HandleFunc("POST "+PathV2Polling, s.api("v2", authToken, s.handlePolling))

	r.HandleFunc("POST "+PathV1Signing, s.api("v1", authToken, s.handleSigning))
	r.HandleFunc("POST "+PathV1Review, s.api("v1", authToken, s.handleReview))
	r.HandleFunc("POST "+PathV1Refresh, s.api("v1", authToken, s.handleRefresh))
	r.HandleFunc("POST "+PathV1Ping, s.api("v1", authToken, s.handlePing))
	r.HandleFunc("POST "+PathV1Cancel, s.api("v1", authToken, s.handleCancel))
	r.HandleFunc("POST "+PathV1Polling, s.api("v1", authToken, s.handlePolling))
	// The document's curl example sends x-api-key and x-access-secret.
	r.HandleFunc("GET "+PathV1Authorize, s.api("v1", authSecret, s.handleAuthorize))
	// Not in the documents: the SDK's health check (health.go).
	r.HandleFunc("GET "+PathHealth, s.handleHealth)

	r.HandleFunc("GET "+PathContract+"{id}", s.handleHostedPage)
	r.HandleFunc("POST "+PathContract+"{id}/open", s.handleHostedAction(actionOpen))
	r.HandleFunc("POST "+PathContract+"{id}/sign", s.handleHostedAction(actionSign))
	r.HandleFunc("GET "+pathStyle, s.handleStyle)
	r.HandleFunc("GET "+PathStamped+"{file}", s.handleStamped)
}

// Close stops the simulator's background work: no webhook attempt starts
// any more (those waiting stay in the store, due, for whoever opens it
// next), SSE streams end and held polling requests are answered. It waits
// for attempts under way and the streams to return, then closes the
// simulator's own memory store (a store from Options stays open, and the
// simulator still answers API calls on it). It is safe to call more than
// once.
func (s *Sim) Close() error {
	s.mu.Lock()
	already := s.closed
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.outbox.Close()
	s.wg.Wait()
	s.streams.Wait()
	if already || !s.ownStore {
		return nil
	}
	if err := s.bucket.Store().Close(); err != nil {
		return fmt.Errorf("pasbysim: close the memory store: %w", err)
	}
	return nil
}

// holdStream registers an SSE stream or a held polling request, which
// Close waits for so that it can still read the store. ok is false once
// closed: the caller answers at once instead of holding.
func (s *Sim) holdStream() (ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.streams.Add(1)
	return true
}

// CreateCounts counts document create requests that reached the create
// handlers (both API versions together).
type CreateCounts struct {
	Signing  int // answered 201 by a signing route
	Review   int // answered 201 by a review route
	Rejected int // signing or review requests answered with an error, 401 included
}

// CreateCalls reports how many create requests the simulator has seen. A
// failure of the store is logged and counts nothing.
func (s *Sim) CreateCalls() CreateCounts {
	var c CreateCounts
	err := s.bucket.Update(context.Background(), func(tx *sandbox.Tx) error {
		o := &op{tx: tx}
		var err error
		if c.Signing, err = o.count(counterSigning); err != nil {
			return err
		}
		if c.Review, err = o.count(counterReview); err != nil {
			return err
		}
		c.Rejected, err = o.count(counterRejected)
		return err
	})
	if err != nil {
		s.logger.Error("pasbysim: read the create counts", "error", err)
		return CreateCounts{}
	}
	return c
}

// Document is a snapshot of one document: plain values, safe to keep.
type Document struct {
	ID        string
	Mode      string // ModeAPI (simple signing) or ModeInterface (review)
	Version   string // API version of the create call, "v1" or "v2"
	State     string // StatePending, StateCompleted, StateCancelled or StateExpired
	Title     string // file.name
	FileURL   string // file.source
	Stamped   string // file.stamped once completed, else ""
	Link      string // the hosted review link (review documents), else ""
	HookHost  string
	Reference string // webhook.reference
	IAT       time.Time
	EXP       time.Time
	LUT       time.Time
	Handled   bool
	Signees   []Signee
}

// Signee is one signer of a Document.
type Signee struct {
	NIN            string
	FlowID         string // its signature flow request, req_…
	Name           string
	Type           string // "person" or "business"
	Email          string
	Representing   string
	Title          string
	Status         string // StatusStale, StatusViewing or StatusSigned
	LUT            time.Time
	SignedAt       time.Time // zero until signed
	IP             string
	Identification string
	Signature      string
}

// Document returns a snapshot of document id, first applying whatever the
// clock says has happened (expiry, AutoSign). ok is false for an unknown
// id, and when the store fails (which is logged).
func (s *Sim) Document(id string) (doc Document, ok bool) {
	err := s.update(context.Background(), func(o *op) error {
		d, err := o.doc(id)
		if d != nil {
			doc, ok = d.snapshot(), true
		}
		return err
	})
	if err != nil {
		s.logger.Error("pasbysim: read a document", "document", id, "error", err)
		return Document{}, false
	}
	return doc, ok
}

// Documents returns snapshots of every document, newest first: an
// inspection for tests, which reads them all. A failure of the store is
// logged and gives none.
func (s *Sim) Documents() []Document {
	var out []Document
	err := s.update(context.Background(), func(o *op) error {
		for {
			n, err := o.advanceDue(advanceBatch)
			if err != nil {
				return err
			}
			if n < advanceBatch {
				break
			}
		}
		out = out[:0]
		return o.tx.Each(kindDoc, true, 0, func(_ string, body []byte) error {
			var d document
			if err := json.Unmarshal(body, &d); err != nil {
				return fmt.Errorf("decode a document: %w", err)
			}
			out = append(out, d.snapshot())
			return nil
		})
	})
	if err != nil {
		s.logger.Error("pasbysim: list documents", "error", err)
		return nil
	}
	sortNewestFirst(out)
	return out
}
