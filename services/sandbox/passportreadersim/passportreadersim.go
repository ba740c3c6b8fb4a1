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
//     one that is not final by then becomes ABORTED. Ids and tokens are
//     unique in the store, so none is handed out again after a restart.
//   - Identity fields are "" until the scan (COMPLETED); then they hold
//     generated values: upper-case names as in the MRZ, two-letter ISO 3166
//     countries (the document's general rule for countries), document_type
//     "PASSPORT", a drawn PNG portrait, and a drawn PNG face only when
//     face_verification was asked for. passport_only is kept and shown but
//     changes nothing, since the simulator only ever "reads" passports.
//   - Callbacks: no callback for the creation itself; each change is posted
//     once, retried on anything but a 2xx, CallbackBackoff after the first
//     failure and doubling, CallbackAttempts times at most; the callbacks of
//     one session are delivered one after the other, in order. They wait in
//     a durable outbox, so the next simulator on the store posts those that
//     were due when one stopped; a post cut off by a crash is made again
//     once its lease lapses, so a receiver may see it twice.
//   - A rejection reason can be given on the /open page and to Reject; it is
//     kept in the Session snapshot and logged, but the API has no field for
//     it, so session.get never shows it.
//   - The state is durable in the sandbox store (sessions, tokens, the
//     callback outbox, the delivery log and the create count), so a restart
//     forgets nothing and delivers the callbacks that were due; a store
//     failure is a 500 "InternalError".
package passportreadersim

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
	// Store keeps the simulator's state. Nil means a memory store of its
	// own, which Close closes; a store given here belongs to the caller
	// and is not closed by the simulator.
	Store *sandbox.Store
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

	store     *sandbox.Store
	ownStore  bool // made by New: Close closes it
	bucket    *sandbox.Bucket
	closeOnce sync.Once
	closeErr  error

	// ctx ends when the simulator is closed: callback deliveries and the
	// sweeper watch it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	closed atomic.Bool
	outbox *sandbox.Outbox[callbackMeta]
}

var _ sandbox.Simulator = (*Sim)(nil)

// New returns a simulator configured by opts. It reads nothing from the
// store: requests read the records they need. Its sweeper and callback
// worker run until Close.
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
		store:       opts.Store,
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
	if s.store == nil {
		s.store, s.ownStore = sandbox.MemoryStore(), true
	}
	s.bucket = s.store.Bucket(s.Name())
	s.csp = pageCSP(s.publicURL)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.outbox = s.newOutbox()
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
			s.sweepDue()
		case <-s.ctx.Done():
			return
		}
	}
}

// sweepDue moves every session whose due time has come, a batch per
// transaction so a request never waits long behind the sweeper.
func (s *Sim) sweepDue() {
	for s.ctx.Err() == nil {
		var n int
		err := s.transact(s.ctx, func(o *op) error {
			var err error
			n, err = s.applyDue(o, sweepDueBatch)
			return err
		})
		if err != nil {
			if s.ctx.Err() == nil {
				s.logger.Error("passportreadersim: apply due sessions", "error", err)
			}
			return
		}
		if n < sweepDueBatch {
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
// callback deliveries end (an attempt under way is cut short and left due,
// waiting ones stay in the store for the next simulator on it, and none is
// queued or started any more). It waits for them to return, closes the
// store if New made it, and is safe to call more than once. With a store
// given in Options the simulator still answers API calls afterwards.
func (s *Sim) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.cancel()
		s.wg.Wait()
		s.outbox.Close()
		if s.ownStore {
			if err := s.store.Close(); err != nil {
				s.closeErr = fmt.Errorf("passportreadersim: close the store: %w", err)
			}
		}
	})
	return s.closeErr
}

// CreateCalls reports how many session.create requests reached the
// simulator, whatever it answered (a fault injected by the harness stops a
// request before it gets here), since the store was made: the count
// survives a restart. A test uses it to check that the portal never sends
// a create twice. A store failure is logged and counts 0.
func (s *Sim) CreateCalls() int {
	var n int64
	err := s.bucket.Update(context.Background(), func(tx *sandbox.Tx) error {
		var err error
		n, err = tx.Add(counterCreateCalls, 0)
		return err
	})
	if err != nil {
		s.logger.Error("passportreadersim: read the create count", "error", err)
		return 0
	}
	return int(n)
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
	State string    `json:"state"`
	At    time.Time `json:"at"`
}

// Session returns a snapshot of session id, first applying whatever the
// clock says has happened (expiry, AutoAdvance). ok is false for an
// unknown id, and when the store fails (which is logged).
func (s *Sim) Session(id int64) (sess Session, ok bool) {
	sess, ok, err := s.session(context.Background(), func(o *op) (*sessionRecord, bool, error) { return s.load(o, id) })
	if err != nil {
		s.logger.Error("passportreadersim: read a session", "session", id, "error", err)
	}
	return sess, ok
}

// SessionByToken is Session for the token session.create answered.
func (s *Sim) SessionByToken(token string) (sess Session, ok bool) {
	sess, ok, err := s.sessionByToken(context.Background(), token)
	if err != nil {
		s.logger.Error("passportreadersim: read a session by token", "error", err)
	}
	return sess, ok
}

func (s *Sim) sessionByToken(ctx context.Context, token string) (Session, bool, error) {
	return s.session(ctx, func(o *op) (*sessionRecord, bool, error) { return s.loadByToken(o, token) })
}

// session reads one session with find, saving what the clock moved.
func (s *Sim) session(ctx context.Context, find func(o *op) (*sessionRecord, bool, error)) (sess Session, ok bool, err error) {
	err = s.update(ctx, func(o *op) error {
		rec, found, err := find(o)
		if err != nil || !found {
			return err
		}
		sess, ok = rec.snapshot(), true
		return s.save(o, rec)
	})
	if err != nil {
		return Session{}, false, storeError("read a session", err)
	}
	return sess, ok, nil
}

// Sessions returns snapshots of every session, newest first. It reads
// them all from the store: an inspection for tests and the sandbox, not
// for a store holding many. A store failure is logged and gives none.
func (s *Sim) Sessions() []Session {
	var out []Session
	err := s.update(context.Background(), func(o *op) error {
		var recs []*sessionRecord
		err := o.tx.Each(kindSession, true, 0, func(_ string, body []byte) error {
			rec := new(sessionRecord)
			if err := json.Unmarshal(body, rec); err != nil {
				return fmt.Errorf("decode a session: %w", err)
			}
			recs = append(recs, rec)
			return nil
		})
		if err != nil {
			return err
		}
		out = make([]Session, 0, len(recs))
		for _, rec := range recs { // written after Each: not while its rows are open
			s.advance(rec, o.now)
			if err := s.save(o, rec); err != nil {
				return err
			}
			out = append(out, rec.snapshot())
		}
		return nil
	})
	if err != nil {
		s.logger.Error("passportreadersim: list sessions", "error", err)
		return nil
	}
	// Newest created first; the store's order (newest written first)
	// breaks ties.
	slices.SortStableFunc(out, func(a, b Session) int { return b.Created.Compare(a.Created) })
	return out
}
