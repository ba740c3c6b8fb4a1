// Package passportreadersim simulates PassportReader's identity-verification
// sessions (NFC passport reading) for the sandbox harness: the session API
// (session.create, session.get, session.state over HTTP Basic auth), the
// /open page the person is sent to, where a tester plays the passport scan
// and the provider's decision, and the callbacks PassportReader posts on
// every state change.
//
// It is written from the provider's document
// (../shared/upstream-docs/idv-sessions.txt) and the "Identity-verification
// sessions" section of NOTES.md beside it, never from the portal's client,
// so that a field the client misreads shows up as a failing contract test
// instead of being mirrored on both sides. PassportReader has no sandbox of
// its own (NOTES.md): this simulator is the only one.
//
// Everything the documents do not specify is our own assumption and is
// marked "[ours]" where it is implemented. The main ones:
//
//   - Errors are {"error_message","error_name"} (the document's example).
//     Only "SessionNotFound" is published; "Unauthorized" (401),
//     "InvalidRequest" (400), "MethodNotAllowed" (405) and "NotFound" (404,
//     unknown method path) are ours.
//   - Ids are random positive int64s, nearly always above 2^53, so a client
//     that decodes them as float64 breaks at once; tokens are 32 random
//     URL-safe base64 characters.
//   - A session expires SessionTTL (24 h by default) after it was created;
//     one that is not final by then becomes ABORTED.
//   - Identity fields are "" until the scan (COMPLETED); then they hold
//     generated values: upper-case names as in the MRZ, two-letter ISO 3166
//     countries (the document's general rule for countries), document_type
//     "PASSPORT", a drawn PNG portrait, and a drawn PNG face only when
//     face_verification was asked for. passport_only is kept and shown but
//     changes nothing, since the simulator only ever "reads" passports.
//   - Callbacks: no callback for the creation itself; each change is posted
//     once, retried on anything but a 2xx, CallbackBackoff after the first
//     failure and doubling, CallbackAttempts times at most; the callbacks of
//     one session are delivered one after the other, in order.
//   - A rejection reason can be given on the /open page and to Reject; it is
//     kept in the Session snapshot and logged, but the API has no field for
//     it, so session.get never shows it.
package passportreadersim

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"portal/services/sandbox"
)

// Sandbox credentials the simulator accepts unless Options say otherwise,
// shaped like PassportReader's: the "public-key-" and "secret-" prefixes
// are part of the values (idv-sessions.txt). [ours for the values]
const (
	DefaultPublicKey = "public-key-portal-sandbox"
	DefaultSecret    = "secret-portal-sandbox"
)

// Defaults for Options.
const (
	// DefaultSessionTTL is expires - created. [ours]
	DefaultSessionTTL = 24 * time.Hour
	// DefaultCallbackBackoff is the wait after a callback's first failed
	// attempt; it doubles after each further one. [ours]
	DefaultCallbackBackoff = 2 * time.Second
	// DefaultCallbackAttempts is how many times a callback is posted before
	// it is given up. [ours]
	DefaultCallbackAttempts = 5
	// DefaultCallbackTimeout is the timeout of the default callback client.
	// [ours]
	DefaultCallbackTimeout = 10 * time.Second
)

// Paths of the endpoints, relative to the simulator's root: the real root
// is https://passportreader.app, the API is <root>/api/v1/<class>.<method>
// and the person is sent to <root>/open?token=…&redirect_url=… (NOTES.md).
// The document's examples also show <root>/api/<class>.<method> without the
// version; those paths are served too.
const (
	PathCreate = "/api/v1/session.create"
	PathGet    = "/api/v1/session.get"
	PathState  = "/api/v1/session.state"

	PathCreateUnversioned = "/api/session.create"
	PathGetUnversioned    = "/api/session.get"
	PathStateUnversioned  = "/api/session.state"

	// PathOpen is the page a person verifies on, identified by ?token=.
	PathOpen = "/open"
)

// Session states (NOTES.md). APPROVED, FAILED, ABORTED and REJECTED are
// final.
const (
	StateCreated   = "CREATED"   // created, not opened yet
	StateInitiated = "INITIATED" // opened in the app
	StateCompleted = "COMPLETED" // scanned, waiting for the provider's decision
	StateApproved  = "APPROVED"
	StateFailed    = "FAILED"
	StateAborted   = "ABORTED"
	StateRejected  = "REJECTED"
)

// IsFinal reports whether state is one a session never leaves.
func IsFinal(state string) bool {
	switch state {
	case StateApproved, StateFailed, StateAborted, StateRejected:
		return true
	}
	return false
}

// Options configure a Sim. The zero value is a working demo simulator.
type Options struct {
	// PublicKey and Secret are the Basic auth username and password
	// accepted. Empty means DefaultPublicKey / DefaultSecret.
	PublicKey string
	Secret    string
	// PublicURL is the absolute URL of the simulator's root as browsers
	// reach it, e.g. "http://localhost:8080/sandbox/passportreader". The API
	// never shows it; the /open page's forms post to it. Empty means the
	// path the page was requested under.
	PublicURL string
	// SessionTTL is expires - created of new sessions. Zero means
	// DefaultSessionTTL.
	SessionTTL time.Duration
	// CallbackBackoff is the wait after a first failed callback attempt,
	// doubled after each further one. Zero means DefaultCallbackBackoff.
	CallbackBackoff time.Duration
	// CallbackAttempts is how many times a callback is posted at most. Zero
	// means DefaultCallbackAttempts.
	CallbackAttempts int
	// LegacyReferenceKey makes callbacks carry the reference under
	// "session_referenace", the spelling an older integration read
	// (NOTES.md), instead of "session_reference", so the portal can be
	// tested against both.
	LegacyReferenceKey bool
	// HTTPClient posts the callbacks. Nil means a client with
	// DefaultCallbackTimeout.
	HTTPClient *http.Client
	// Now is the clock. Nil means time.Now. Timestamps, expiry and
	// AutoAdvance follow it; callback waits use real time.
	Now func() time.Time
	// Logger receives callback failures and rejections. Nil means no
	// logging.
	Logger *slog.Logger
	// AutoAdvance, when positive, makes every new session move by itself so
	// the demo is alive: one step each AutoAdvance after its last change,
	// through INITIATED and COMPLETED to APPROVED, unless someone made it
	// final first. Zero (the default) turns it off. [ours]
	AutoAdvance time.Duration
}

// Sim is the PassportReader simulator. It implements sandbox.Simulator, is
// safe for concurrent use, and must be closed with Close to stop its
// background work.
type Sim struct {
	publicKey, secret string
	publicURL         string
	ttl               time.Duration
	backoff           time.Duration
	attempts          int
	legacyKey         bool
	autoAdvance       time.Duration
	client            *http.Client
	now               func() time.Time
	logger            *slog.Logger
	csp               string // the /open page's Content-Security-Policy

	// ctx ends when the simulator is closed: callback deliveries and the
	// sweeper watch it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu          sync.Mutex
	closed      bool
	sessions    map[int64]*session
	byToken     map[string]*session
	open        map[int64]*session // sessions not final yet
	createCalls int
	inflight    int           // sessions whose callbacks are being delivered
	idle        chan struct{} // closed when inflight drops to 0
	deliveries  []Delivery    // the last maxDeliveries attempts
}

var _ sandbox.Simulator = (*Sim)(nil)

// New returns a simulator configured by opts. Its sweeper runs until Close.
func New(opts Options) *Sim {
	s := &Sim{
		publicKey:   or(opts.PublicKey, DefaultPublicKey),
		secret:      or(opts.Secret, DefaultSecret),
		publicURL:   strings.TrimRight(opts.PublicURL, "/"),
		ttl:         orDur(opts.SessionTTL, DefaultSessionTTL),
		backoff:     orDur(opts.CallbackBackoff, DefaultCallbackBackoff),
		attempts:    opts.CallbackAttempts,
		legacyKey:   opts.LegacyReferenceKey,
		autoAdvance: max(opts.AutoAdvance, 0),
		client:      opts.HTTPClient,
		now:         opts.Now,
		logger:      opts.Logger,
		sessions:    make(map[int64]*session),
		byToken:     make(map[string]*session),
		open:        make(map[int64]*session),
	}
	if s.attempts <= 0 {
		s.attempts = DefaultCallbackAttempts
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: DefaultCallbackTimeout}
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	s.csp = pageCSP(s.publicURL)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Go(s.sweep)
	return s
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func orDur(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// sweepInterval is how often the sweeper applies what the clock says has
// happened when AutoAdvance is off: expiry only needs to be roughly on time.
const sweepInterval = time.Second

// sweep applies expiry and AutoAdvance in the background, so their
// callbacks go out even when nobody asks about the session. Every read
// applies them too, so the sweeper only decides when callbacks leave, never
// what a session looks like at a given time.
func (s *Sim) sweep() {
	every := sweepInterval
	if s.autoAdvance > 0 {
		every = min(max(s.autoAdvance/4, 10*time.Millisecond), sweepInterval)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.mu.Lock()
			s.advanceLocked(s.now())
			s.mu.Unlock()
		case <-s.ctx.Done():
			return
		}
	}
}

// Name is the URL segment: the simulator is mounted at
// <prefix>/passportreader/.
func (s *Sim) Name() string { return "passportreader" }

// Title is shown on the sandbox page.
func (s *Sim) Title() string { return "PassportReader sessions" }

// Routes registers the three session methods (with and without "v1"), a
// catch-all under /api/ that answers wrong methods and unknown paths in the
// API's error shape, the /open page and its stylesheet.
func (s *Sim) Routes(r *sandbox.Routes) {
	r.HandleFunc("POST "+PathCreate, s.handleCreate)
	r.HandleFunc("POST "+PathGet, s.api(s.handleGet))
	r.HandleFunc("POST "+PathState, s.api(s.handleState))
	r.HandleFunc("POST "+PathCreateUnversioned, s.handleCreate)
	r.HandleFunc("POST "+PathGetUnversioned, s.api(s.handleGet))
	r.HandleFunc("POST "+PathStateUnversioned, s.api(s.handleState))
	r.HandleFunc("/api/", s.handleOtherAPI)

	r.HandleFunc("GET "+PathOpen, s.handleOpenPage)
	r.HandleFunc("POST "+PathOpen, s.handleOpenAction)
	r.HandleFunc("GET "+pathStyle, s.handleStyle)
}

// Close stops the simulator's background work: the sweeper stops and
// callback deliveries end (waiting ones are dropped and none is started any
// more). It waits for them to return and is safe to call more than once.
// The simulator still answers API calls afterwards.
func (s *Sim) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}

// CreateCalls reports how many session.create requests reached the
// simulator, whatever it answered (a fault injected by the harness stops a
// request before it gets here). A test uses it to check that the portal
// never sends a create twice.
func (s *Sim) CreateCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.createCalls
}

// Session is a snapshot of one session: plain values, safe to keep.
type Session struct {
	ID               int64
	Token            string
	Created          time.Time
	Expires          time.Time
	State            string
	Reference        string
	CallbackURL      string
	FaceVerification bool
	PassportOnly     bool
	UserIP           string // of the request that opened the session
	UserAgent        string
	// Identity is zero until the scan (COMPLETED).
	Identity Identity
	// Portrait is the chip's photo as PNG bytes, nil until the scan.
	Portrait []byte
	// Face is the selfie as PNG bytes: nil unless face verification was
	// asked for and the scan is done.
	Face []byte
	// RejectReason is what Reject or the /open page was given; the API
	// has no field for it.
	RejectReason string
	// Changes lists every state the session has been in, CREATED first.
	Changes []Change
}

// Change is one entry of a session's timeline.
type Change struct {
	State string
	At    time.Time
}

// Session returns a snapshot of session id, first applying whatever the
// clock says has happened (expiry, AutoAdvance). ok is false for an
// unknown id.
func (s *Sim) Session(id int64) (sess Session, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked(s.now())
	ss := s.sessions[id]
	if ss == nil {
		return Session{}, false
	}
	return ss.snapshot(), true
}

// SessionByToken is Session for the token session.create answered.
func (s *Sim) SessionByToken(token string) (sess Session, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked(s.now())
	ss := s.byToken[token]
	if ss == nil {
		return Session{}, false
	}
	return ss.snapshot(), true
}

// Sessions returns snapshots of every session, newest first.
func (s *Sim) Sessions() []Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked(s.now())
	out := make([]Session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		out = append(out, ss.snapshot())
	}
	slices.SortFunc(out, func(a, b Session) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		switch {
		case a.ID > b.ID:
			return -1
		case a.ID < b.ID:
			return 1
		}
		return 0
	})
	return out
}
