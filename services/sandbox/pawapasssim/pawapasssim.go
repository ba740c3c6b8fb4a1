// Package pawapasssim simulates the pawaPass KYC API for the sandbox
// harness: create, get and list verifications (API v2), the hosted page a
// person verifies on, and the signed webhooks pawaPass posts on every
// status change.
//
// It is written from the provider's document
// (/work/shared/upstream-docs/pawapass-create-verification.txt) and the
// pawaPass section of NOTES.md beside it, never from the portal's pawaPass
// client, so that a field the client misreads shows up as a failing
// contract test instead of being mirrored on both sides.
//
// Everything the document and NOTES.md do not specify is our own
// assumption and is marked "[ours]" where it is implemented. The main ones:
//
//   - Create answers 200 (the document shows a "Default Response" without a
//     code, and its error shape is Fastify's, whose default status is 200).
//   - Errors other than the documented 401 are {"statusCode","code",
//     "message"} too: 400 VALIDATION_ERROR with "<field>: <what is wrong>",
//     404 NOT_FOUND, 413 PAYLOAD_TOO_LARGE, 415 UNSUPPORTED_MEDIA_TYPE,
//     500 INTERNAL_SERVER_ERROR when the simulator's store fails.
//   - Validation beyond the document: a JSON null is never accepted for a
//     field (send nothing instead); requirement types may not repeat;
//     options.previousVerificationId only on FACE_SCAN and only naming an
//     APPROVED verification; expiresAt must be in the future; the body is
//     one JSON object of at most 64 KiB sent as application/json.
//   - Ids are 8 random alphanumerics, like the document's "aB1cD2eF"; the
//     hosted page is <root>/app/portal-sandbox/<id>, like the document's
//     https://app.pawapass.com/your-company/aB1cD2eF.
//   - expiresAt defaults to createdAt + 7 days. Every timestamp, nested
//     ones included, is UTC with milliseconds.
//   - A verification that is not final expires at expiresAt, whatever its
//     status. reviewResult is set on DECLINED only. Approve and Decline
//     accept USER_DATA_COLLECTED as well as REVIEW (NOTES.md shows REVIEW
//     as optional).
//   - phoneNo, when not given, is taken from a string metadata.phoneNo
//     (the document: "If not provided, extracted from metadata").
//   - A face-only re-verification (previousVerificationId) has no identity
//     document of its own: identityDocument stays null.
//   - The generated identity data (names, numbers, places, dates) and the
//     face scan's age estimation are made up from the verification id.
//   - Webhooks: X-Signature is lowercase hex; an identity document scanned
//     again with different values sends IDENTITY_DOCUMENT_CHANGE again;
//     a face scan sends nothing (no documented type); creation sends
//     nothing (no status change); deliveries are concurrent, in no
//     guaranteed order, at most 8 at a time, at least once (a post cut
//     short by a restart is made again); 8 attempts instead of the real 55.
//   - List order is newest first. A list filtered by externalId or
//     statuses reads at most the newest 10,000 verifications (count and
//     items are of those), so it stays quick however many the store holds;
//     an unfiltered list reads the records up to the end of its page, one
//     filtered by id that record alone.
//   - Verifications (the Go method) returns at most the newest 1,000.
//
// The state is durable in the sandbox store (Options.Store): verifications,
// their due moves, the webhook outbox and the counters survive a restart,
// and nothing is read at start-up.
package pawapasssim

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"portal/services/sandbox"
)

// DefaultAPIKey is the API key the simulator accepts unless Options say
// otherwise. pawaPass keys are static keys from its back office; their
// format is not published. [ours]
const DefaultAPIKey = "pawapass-sandbox-key"

// DefaultWebhookSecret signs webhooks when Options.WebhookSecret is empty,
// so a webhook is always signed. [ours]
const DefaultWebhookSecret = "pawapass-sandbox-webhook-secret"

// CompanySlug is the company segment of hosted page URLs, like the
// document's "your-company". [ours]
const CompanySlug = "portal-sandbox"

// Defaults for Options.
const (
	// DefaultTTL is expiresAt - createdAt when the create request sets no
	// expiresAt. [ours] (the document's example is 7 days)
	DefaultTTL = 7 * 24 * time.Hour
	// DefaultWebhookBackoff is the wait after a webhook's first failed
	// attempt: NOTES.md's "1 s doubling".
	DefaultWebhookBackoff = time.Second
	// MaxWebhookBackoff caps the doubling: NOTES.md's "4 h cap".
	MaxWebhookBackoff = 4 * time.Hour
	// DefaultWebhookAttempts is how many times a webhook is posted before
	// it is given up: 8 in the sandbox instead of the real 55 (NOTES.md),
	// so a broken receiver is given up in minutes, not a week. [ours]
	DefaultWebhookAttempts = 8
	// DefaultWebhookTimeout is the timeout of the default webhook client.
	// [ours]
	DefaultWebhookTimeout = 10 * time.Second
	// DefaultTick is how often the background loop applies what the clock
	// says has happened (expiry, AutoAdvance), so their webhooks go out
	// without anyone reading. [ours]
	DefaultTick = time.Second
)

// maxSnapshots bounds what Verifications returns, and maxFilteredScan
// what a filtered list reads. [ours]
const (
	maxSnapshots    = 1000
	maxFilteredScan = 10000
)

// Paths relative to the simulator's root. The portal's base URL is
// <root>/v2, so its client's paths are the document's.
const (
	PathVerifications = "/v2/verifications"
	// PathApp is where the hosted pages live: <root>/app/<company>/<id>.
	PathApp = "/app/"
	// pathStyle is the hosted page's stylesheet.
	pathStyle = "/assets/pawapass.css"
)

// Statuses of a verification (the document's enum).
const (
	StatusCreated           = "CREATED"
	StatusStarted           = "STARTED"
	StatusExpired           = "EXPIRED"
	StatusUserDataCollected = "USER_DATA_COLLECTED"
	StatusReview            = "REVIEW"
	StatusApproved          = "APPROVED"
	StatusDeclined          = "DECLINED"
)

// Requirement types (NOTES.md: only these two).
const (
	RequirementDocumentScan = "DOCUMENT_SCAN"
	RequirementFaceScan     = "FACE_SCAN"
)

// Review reasons of a declined verification (NOTES.md).
const (
	ReasonCaptureIssue     = "CAPTURE_ISSUE"
	ReasonDocumentValidity = "DOCUMENT_VALIDITY"
	ReasonImageQuality     = "IMAGE_QUALITY"
	ReasonGeneric          = "GENERIC"
)

// Webhook types (NOTES.md).
const (
	WebhookStatusChange           = "VERIFICATION.STATUS_CHANGE"
	WebhookIdentityDocumentChange = "VERIFICATION.IDENTITY_DOCUMENT_CHANGE"
)

// Statuses returns every status in the document's order.
func Statuses() []string {
	return []string{StatusCreated, StatusStarted, StatusExpired, StatusUserDataCollected, StatusReview, StatusApproved, StatusDeclined}
}

// Countries returns the country codes the document lists, in its order.
func Countries() []string {
	return []string{"AO", "BJ", "CM", "CD", "CG", "GH", "KE", "LS", "LR", "MW", "ML", "MZ", "NG", "RW", "SL", "TZ", "TG", "UG", "ZM"}
}

// ReviewReasons returns reviewResult.reason's values (NOTES.md).
func ReviewReasons() []string {
	return []string{ReasonCaptureIssue, ReasonDocumentValidity, ReasonImageQuality, ReasonGeneric}
}

// AgeEstimations returns faceScan.ageEstimation's values (NOTES.md).
func AgeEstimations() []string {
	return []string{"UNDER_8", "OVER_8", "OVER_13", "OVER_16", "OVER_18", "OVER_21", "OVER_25", "OVER_30", "UNKNOWN"}
}

// DocumentTypes returns identityDocument.type's values (NOTES.md).
func DocumentTypes() []string {
	return []string{"PASSPORT", "NATIONAL_ID", "DRIVER_LICENSE", "REFUGEE_ID", "VOTER_ID", "RESIDENCE_PERMIT"}
}

// Options configure a Sim. The zero value is a working simulator without
// webhooks.
type Options struct {
	// APIKey is the key accepted as "Authorization: Bearer <key>" or
	// "X-AUTH-KEY: <key>". Empty means DefaultAPIKey.
	APIKey string
	// PublicURL is the absolute URL of the simulator's root as browsers
	// reach it, e.g. "http://localhost:8080/sandbox/pawapass"; the url of a
	// verification starts with it. Empty means each verification takes it
	// from its create request (scheme, Host header and the path the
	// simulator is mounted at).
	PublicURL string
	// WebhookURL receives the webhooks, as the URL configured in pawaPass's
	// back office would. Empty means no webhooks are sent.
	WebhookURL string
	// WebhookSecret is the HMAC-SHA256 key of the X-Signature header.
	// Empty means DefaultWebhookSecret.
	WebhookSecret string
	// WebhookBackoff is the wait after a first failed attempt, doubled
	// after each further one up to MaxWebhookBackoff, each wait ±25 %.
	// Zero means DefaultWebhookBackoff.
	WebhookBackoff time.Duration
	// WebhookAttempts is how many times a webhook is posted at most. Zero
	// means DefaultWebhookAttempts.
	WebhookAttempts int
	// HTTPClient posts the webhooks. Nil means a client with
	// DefaultWebhookTimeout.
	HTTPClient *http.Client
	// Now is the clock. Nil means time.Now. Timestamps, expiry and
	// AutoAdvance follow it; webhook retries and the background loop wait
	// in real time.
	Now func() time.Time
	// Logger receives webhook delivery failures and store failures. Nil
	// means no logging.
	Logger *slog.Logger
	// AutoAdvance, when positive, makes every new verification move one
	// step each AutoAdvance after its creation: STARTED, then
	// USER_DATA_COLLECTED with generated data, REVIEW, and APPROVED, so the
	// demo is alive. Zero (the default) turns it off. [ours]
	AutoAdvance time.Duration
	// DefaultTTL is expiresAt - createdAt when a create request sets no
	// expiresAt. Zero means DefaultTTL.
	DefaultTTL time.Duration
	// Tick is how often the background loop looks at the clock, and the
	// webhook worker at the store for deliveries left due (by a previous
	// process, say). Zero means DefaultTick (or AutoAdvance, when that is
	// shorter).
	Tick time.Duration
	// Store keeps the simulator's state. Nil means a memory store of its
	// own, closed by Close; a store given here belongs to the caller, who
	// closes it after Close.
	Store *sandbox.Store
}

// Sim is the pawaPass simulator. It implements sandbox.Simulator, is safe
// for concurrent use, and must be closed with Close to stop its background
// loop and webhook deliveries.
type Sim struct {
	apiKey          string
	publicURL       string
	webhookURL      string
	webhookSecret   []byte
	webhookBackoff  time.Duration
	webhookAttempts int
	client          *http.Client
	now             func() time.Time
	logger          *slog.Logger
	autoAdvance     time.Duration
	ttl             time.Duration

	store    *sandbox.Store
	bucket   *sandbox.Bucket
	ownStore bool

	// ctx ends when the simulator is closed: the loop watches it.
	ctx       context.Context
	cancel    context.CancelFunc
	loopDone  chan struct{}
	outbox    *sandbox.Outbox[hookMeta]
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

var _ sandbox.Simulator = (*Sim)(nil)

// New returns a simulator configured by opts and starts its background
// loop and webhook worker. It reads nothing from the store.
func New(opts Options) *Sim {
	s := &Sim{
		apiKey:          or(opts.APIKey, DefaultAPIKey),
		publicURL:       strings.TrimRight(opts.PublicURL, "/"),
		webhookURL:      opts.WebhookURL,
		webhookSecret:   []byte(or(opts.WebhookSecret, DefaultWebhookSecret)),
		webhookBackoff:  orDur(opts.WebhookBackoff, DefaultWebhookBackoff),
		webhookAttempts: opts.WebhookAttempts,
		client:          opts.HTTPClient,
		now:             opts.Now,
		logger:          opts.Logger,
		autoAdvance:     max(opts.AutoAdvance, 0),
		ttl:             orDur(opts.DefaultTTL, DefaultTTL),
		store:           opts.Store,
		loopDone:        make(chan struct{}),
	}
	if s.webhookAttempts <= 0 {
		s.webhookAttempts = DefaultWebhookAttempts
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
	if s.store == nil {
		s.store, s.ownStore = sandbox.MemoryStore(), true
	}
	s.bucket = s.store.Bucket(s.Name())
	tick := orDur(opts.Tick, DefaultTick)
	if s.autoAdvance > 0 && opts.Tick <= 0 {
		tick = min(tick, s.autoAdvance)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.outbox = s.newOutbox(tick)
	go s.loop(tick)
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

// loop applies expiry and AutoAdvance as the clock moves, so their
// webhooks are sent even when nobody reads.
func (s *Sim) loop(tick time.Duration) {
	defer close(s.loopDone)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.tick()
		case <-s.ctx.Done():
			return
		}
	}
}

// Name is the URL segment: the simulator is mounted at <prefix>/pawapass/.
func (s *Sim) Name() string { return "pawapass" }

// Title is shown on the sandbox page.
func (s *Sim) Title() string { return "pawaPass KYC" }

// Routes registers the API (with and without the trailing slash the
// document's curl uses), the hosted page and its stylesheet.
func (s *Sim) Routes(r *sandbox.Routes) {
	r.HandleFunc("POST "+PathVerifications+"/{$}", s.api(s.handleCreate))
	r.HandleFunc("POST "+PathVerifications, s.api(s.handleCreate))
	r.HandleFunc("GET "+PathVerifications+"/{$}", s.api(s.handleList))
	r.HandleFunc("GET "+PathVerifications, s.api(s.handleList))
	r.HandleFunc("GET "+PathVerifications+"/{id}", s.api(s.handleGet))

	hostedPost := http.NewCrossOriginProtection().Handler(http.HandlerFunc(s.handleHostedPost))
	r.HandleFunc("GET "+PathApp+"{company}/{id}", s.handleHostedPage)
	r.Handle("POST "+PathApp+"{company}/{id}", hostedPost)
	r.HandleFunc("GET "+pathStyle, s.handleStyle)
}

// Close stops the background loop and the webhook worker and waits for
// them and the posts under way, which are abandoned (not counted as
// attempts). It is safe to call more than once. Pending deliveries stay in
// the store, due, for the next simulator opened on it. With a store given
// in Options the simulator still answers requests afterwards, but the
// clock only moves things when someone reads, and webhooks wait for the
// next simulator; its own memory store is closed, and with it the state.
func (s *Sim) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.cancel()
		<-s.loopDone
		s.outbox.Close()
		if s.ownStore {
			if err := s.store.Close(); err != nil {
				s.closeErr = fmt.Errorf("pawapasssim: close the store: %w", err)
			}
		}
	})
	return s.closeErr
}

// CreateCalls reports how many create requests reached the simulator's
// create handler, whatever their outcome (401 and 400 included). A request
// stopped by a harness fault before the handler is not counted. A store
// failure is logged and reported as 0.
func (s *Sim) CreateCalls() int {
	var n int64
	err := s.update(context.Background(), func(t *txn) error {
		var err error
		n, err = t.tx.Add(counterCreateCalls, 0)
		return err
	})
	if err != nil {
		s.logger.Error("pawapasssim: reading the create calls", "error", err)
		return 0
	}
	return int(n)
}

// Verification returns a snapshot of verification id, first applying
// whatever the clock says has happened. ok is false for an unknown id (and
// when the store fails, which is logged).
func (s *Sim) Verification(id string) (v Verification, ok bool) {
	vr := s.lookup(id)
	if vr == nil {
		return Verification{}, false
	}
	return vr.snapshot(), true
}

// VerificationJSON returns verification id exactly as GET
// /v2/verifications/{id} would answer it.
func (s *Sim) VerificationJSON(id string) ([]byte, bool) {
	vr := s.lookup(id)
	if vr == nil {
		return nil, false
	}
	return marshal(vr.wire()), true
}

func (s *Sim) lookup(id string) *verification {
	var v *verification
	err := s.update(context.Background(), func(t *txn) error {
		var err error
		v, err = s.load(t, id)
		return err
	})
	if err != nil {
		s.logger.Error("pawapasssim: reading a verification", "error", err)
		return nil
	}
	return v
}

// Verifications returns snapshots of the newest verifications (at most
// 1,000), newest first. A store failure is logged and reported as none.
func (s *Sim) Verifications() []Verification {
	var out []Verification
	err := s.advanceAll(context.Background())
	if err == nil {
		err = s.update(context.Background(), func(t *txn) error {
			out = out[:0]
			return s.eachSnapshot(t, &out)
		})
	}
	if err != nil {
		s.logger.Error("pawapasssim: listing verifications", "error", err)
		return nil
	}
	return out
}

func (s *Sim) eachSnapshot(t *txn, out *[]Verification) error {
	if err := s.catchUp(t); err != nil {
		return err
	}
	return t.tx.Each(kindVerification, true, maxSnapshots, func(_ string, body []byte) error {
		v, err := decodeVerification(body)
		if err != nil {
			return err
		}
		*out = append(*out, v.snapshot())
		return nil
	})
}
