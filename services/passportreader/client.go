// Package passportreader is a client for PassportReader's identity-verification
// sessions (NFC passport reading), written from upstream-docs/idv-sessions.txt
// and the "Identity-verification sessions" section of NOTES.md. Sending,
// retrying and the error vocabulary are services/upstream's; this package
// keeps the endpoints, the wire format and PassportReader's own rules.
//
// Wire: every call is a POST to <root>/api/v1/<class>.<method> with HTTP
// Basic auth (public key as user name, secret as password), a JSON body
// (`{}` when there are no properties) and a JSON answer. Refusals carry
// {"error_message": "...", "error_name": "..."}.
//
// Policy, in one place:
//   - Every attempt runs under Config.Timeout (default 60 s, the document's
//     request timeout); the caller's context bounds the whole call,
//     retries and waits included.
//   - Reads (GetSession, SessionState) follow the document's advice: a 5xx
//     (but 501), a 429, a network error, an attempt timeout or an answer cut
//     short is retried per Config.Retry, by default up to 4 times after 2, 4,
//     8 and 16 s, each wait ±20 % at random so that many clients do not retry
//     in step [ours]. Any other 4xx is never retried (the document says so).
//     A wait that would end past the context's deadline is not started: the
//     last error is returned at once. A malformed or oversized answer is not
//     retried either (asking again gets the same answer).
//   - CreateSession is sent once. It is sent a second time only when the
//     connection provably never reached PassportReader (a dial error:
//     connection refused, DNS failure), after the first retry wait. Any 5xx
//     but 502/504 is ErrUnavailable: PassportReader answered. The document
//     says a 500 means "accepted, but something went wrong"; a session it
//     may have left behind is harmless, since nobody ever gets its token
//     [ours].
//   - Redirects are never followed (a redirected POST would become a GET).
//
// Every error starts with "passportreader: " and is tested with errors.Is /
// errors.As:
//
//   - upstream.ErrBadCredentials: 401, the public key and secret were refused.
//   - upstream.ErrForbidden: 403, the credentials lack a permission.
//   - upstream.ErrNotFound: no such session: error_name "SessionNotFound"
//     (with a 5xx or 429 also ErrUnavailable, and retried), or a 404 that
//     carries PassportReader's error body. A bare 404 (no error body) is
//     more likely a wrong BaseURL and is ErrUnavailable instead [ours].
//   - upstream.ErrUnavailable: PassportReader could not be used: 5xx, 429, a
//     network error or timeout, a malformed or oversized answer to a read, a
//     redirect. For CreateSession it means PassportReader answered and did
//     not create (or, with ErrNotSent, that nothing was sent).
//   - upstream.ErrNotSent: together with ErrUnavailable or ErrInvalidRequest;
//     the request provably never reached PassportReader.
//   - upstream.ErrInvalidRequest (always with ErrNotSent): the arguments or
//     the Config were refused before anything was sent.
//   - ErrInvalidCallback: ParseCallback refused a body; it also matches
//     upstream.ErrInvalidRequest.
//   - *upstream.RejectedError: any other 4xx (a 400, say); Code is the
//     error_name, Message the error_message.
//   - *upstream.OutcomeUnknownError (Op "session.create"): CreateSession
//     only, when the request may have reached PassportReader but its result
//     cannot be told (a timeout or broken connection after sending, a
//     502/504, a 2xx that cannot be read or decoded). It never matches the
//     sentinels and must not be re-sent automatically.
//
// Nothing here logs, and no error carries the secret.
package passportreader

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"portal/services/upstream"
)

const vendor upstream.Vendor = "passportreader"

// DefaultTimeout is the document's request timeout, used per attempt when
// Config.Timeout is zero.
const DefaultTimeout = 60 * time.Second

// DefaultRetry is the document's backoff advice ("retry after 2, 4, 8 and
// finally after 16 seconds"), used when Config.Retry is zero.
var DefaultRetry = upstream.Retry{Attempts: 5, Base: 2 * time.Second, Max: 16 * time.Second, Jitter: 0.2}

// Methods, as <class>.<method> under /api/v1/.
const (
	methodCreate = "session.create"
	methodGet    = "session.get"
	methodState  = "session.state"
)

// maxSessionBody bounds a session.get answer: it carries two base64 images,
// a few MB at most. Other answers get upstream's default bound.
const maxSessionBody = 16 << 20

// Config configures a Client.
type Config struct {
	// BaseURL is the provider root, e.g. "https://passportreader.app"; the
	// client calls <root>/api/v1/<class>.<method>. A trailing "/", "/api" or
	// "/api/v1" is stripped, so the document's own base works too.
	BaseURL string
	// PublicKey and Secret are the HTTP Basic user name and password
	// ("public-key-…", "secret-…"), sent exactly as given.
	PublicKey, Secret string
	// Timeout bounds one attempt; 0 means DefaultTimeout (60 s).
	Timeout time.Duration
	// HTTPClient is used for every call; nil means upstream.DefaultTransport.
	// Redirects are never followed either way.
	HTTPClient *http.Client
	// Retry is the read policy (Attempts 1: tried once); the zero value
	// means DefaultRetry. Its first wait is also the one before a
	// CreateSession that could not connect is sent again.
	Retry upstream.Retry
}

// Client talks to one PassportReader account. It is safe for concurrent use.
type Client struct {
	base   string // the root, without "/api/v1" and without a trailing "/"
	key    string
	secret string
	up     *upstream.Client
}

// New returns a Client. It never fails: a bad Config surfaces as an error
// wrapping upstream.ErrInvalidRequest and upstream.ErrNotSent on every call.
func New(cfg Config) *Client {
	c := &Client{base: rootOf(cfg.BaseURL), key: cfg.PublicKey, secret: cfg.Secret}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	retry := cfg.Retry
	if retry == (upstream.Retry{}) {
		retry = DefaultRetry
	}
	basic := base64.StdEncoding.EncodeToString([]byte(c.key + ":" + c.secret)) // as SetBasicAuth encodes it
	c.up = upstream.New(upstream.Config{
		Vendor:     vendor,
		BaseURL:    c.base,
		HTTPClient: cfg.HTTPClient,
		Timeout:    timeout,
		Retry:      retry,
		UserAgent:  "portal-passportreader/1",
		Auth:       upstream.Basic(c.key, c.secret),
		// The Basic credentials are the secret too, should they be echoed.
		Secrets:   []string{c.secret, basic},
		Complaint: complaint,
		Errors:    statusError,
		ConfigErr: c.checkConfig(),
	})
	return c
}

// rootOf trims a BaseURL down to the provider root.
func rootOf(base string) string {
	s := strings.TrimRight(strings.TrimSpace(base), "/")
	for _, suffix := range []string{"/api/v1", "/api"} {
		if len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix) {
			s = strings.TrimRight(s[:len(s)-len(suffix)], "/")
			break
		}
	}
	return s
}

// checkConfig refuses what cannot work. Requiring both credentials is ours:
// the document only says unauthenticated requests fail, and failing here
// says why without a round trip.
func (c *Client) checkConfig() error {
	switch {
	case c.base == "":
		return vendor.InvalidRequest("no base URL")
	case c.key == "" || c.secret == "":
		return vendor.InvalidRequest("the public key and the secret are both required")
	case strings.Contains(c.key, ":"):
		// HTTP Basic cannot carry a user name with a colon (RFC 7617).
		return vendor.InvalidRequest("the public key contains a colon")
	case hasCtl(c.key) || hasCtl(c.secret):
		return vendor.InvalidRequest("the public key or the secret contains control characters")
	}
	u, err := url.Parse(c.base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return vendor.InvalidRequest("base URL must be an absolute http(s) URL without credentials or query")
	}
	return nil
}

func hasCtl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f })
}

func call(method string, body []byte) upstream.Request {
	return upstream.Request{Method: http.MethodPost, Path: "/api/v1/" + method, Body: body}
}

// Session states (NOTES.md). Happy path: CREATED → INITIATED (opened in the
// app) → COMPLETED (scan done, awaiting decision) → APPROVED.
const (
	StateCreated   = "CREATED"
	StateInitiated = "INITIATED"
	StateCompleted = "COMPLETED"
	StateApproved  = "APPROVED"
	StateFailed    = "FAILED"
	StateAborted   = "ABORTED"
	StateRejected  = "REJECTED"
)

// IsFinal reports whether a session in this state will not change any more:
// APPROVED (success), FAILED, ABORTED or REJECTED. States are compared as
// sent: the document says enums are strings, and NOTES.md spells them in
// upper case.
func IsFinal(state string) bool {
	switch state {
	case StateApproved, StateFailed, StateAborted, StateRejected:
		return true
	}
	return false
}

// CreateSessionRequest holds session.create's request properties, all
// optional. Empty strings and nil pointers are left out of the request.
type CreateSessionRequest struct {
	CallbackURL      string // where PassportReader POSTs every state change
	FaceVerification *bool
	Reference        string // ours; comes back in callbacks and session.get
	PassportOnly     *bool  // NOTES.md: accepted by session.create though the document omits it
}

// CreatedSession is session.create's answer.
type CreatedSession struct {
	ID    int64
	Token string // for OpenURL; whoever holds it can open the session
}

// Session is session.get's answer. String fields are as sent (the
// document's example has "..." placeholders; they are kept).
type Session struct {
	ID               int64
	Created, Expires time.Time // UTC; zero when absent, empty, "..." or not a timestamp

	State, Reference, UserIP, UserAgent string

	// Identity data read from the document (NOTES.md: sex MALE / FEMALE /
	// UNSPECIFIED, dates YYYY-MM-DD, document_type e.g. PASSPORT).
	GivenNames, Surname, Nationality, Sex, DateOfBirth, PersonalNumber string
	DocumentType, DocumentNumber, ExpiryDate, IssuingCountry, Issuer   string

	// Portrait (from the chip) and Face (the selfie), base64-decoded; nil
	// when empty, a placeholder, or not base64 (Raw keeps what was sent).
	Portrait, Face []byte

	Raw json.RawMessage // the answer exactly as received
}

// Final reports whether the session's state is final (see IsFinal).
func (s Session) Final() bool { return IsFinal(s.State) }

// CreateSession creates a verification session (POST session.create). See
// the package comment for when it is sent again (only if it never reached
// PassportReader) and when its outcome is unknown.
func (c *Client) CreateSession(ctx context.Context, r CreateSessionRequest) (CreatedSession, error) {
	if r.CallbackURL != "" {
		// Checked here because a callback that can never arrive leaves the
		// session to polling alone; the rule itself is ours.
		u, err := url.Parse(r.CallbackURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return CreatedSession{}, vendor.InvalidRequest("callback URL must be an absolute http(s) URL")
		}
	}
	body, err := json.Marshal(createBody{
		CallbackURL:      r.CallbackURL,
		FaceVerification: r.FaceVerification,
		Reference:        r.Reference,
		PassportOnly:     r.PassportOnly,
	})
	if err != nil {
		return CreatedSession{}, vendor.InvalidRequest(err.Error())
	}
	res, err := c.up.Create(ctx, methodCreate, call(methodCreate, body))
	if err != nil {
		return CreatedSession{}, err
	}
	s, err := decodeCreated(res.Body)
	if err != nil {
		return CreatedSession{}, vendor.Unknown(methodCreate, upstream.StatusDetail(res.Status, "")+" answer", errors.New(res.Clean(err.Error())))
	}
	return s, nil
}

// GetSession returns a session with the identity data read so far (POST
// session.get). Call it on APPROVED rather than trusting a callback.
func (c *Client) GetSession(ctx context.Context, id int64) (Session, error) {
	if id <= 0 {
		// Ids are 64-bit integers; that they are positive is ours.
		return Session{}, vendor.InvalidRequest("session id must be positive")
	}
	body, _ := json.Marshal(idBody{ID: id})
	req := call(methodGet, body)
	req.MaxBody = maxSessionBody
	res, err := c.up.Read(ctx, req)
	if err != nil {
		return Session{}, err
	}
	s, err := decodeSession(res.Body)
	if err == nil && s.ID != id {
		err = upstream.Malformedf("answer is for session %d, asked for %d", s.ID, id)
	}
	if err != nil {
		return Session{}, vendor.Unavailable(methodGet, errors.New(res.Clean(err.Error())))
	}
	return s, nil
}

// SessionState returns a session's state (POST session.state), a cheaper
// call than GetSession for polling.
func (c *Client) SessionState(ctx context.Context, id int64) (string, error) {
	if id <= 0 {
		return "", vendor.InvalidRequest("session id must be positive")
	}
	body, _ := json.Marshal(idBody{ID: id})
	res, err := c.up.Read(ctx, call(methodState, body))
	if err != nil {
		return "", err
	}
	st, err := decodeState(res.Body)
	if err != nil {
		return "", vendor.Unavailable(methodState, errors.New(res.Clean(err.Error())))
	}
	return st, nil
}

// OpenURL is where the person is sent to verify:
// <root>/open?token=<token>[&redirect_url=<url>] (NOTES.md), both values
// query-escaped. redirectURL is left out when empty.
func (c *Client) OpenURL(token, redirectURL string) string {
	s := c.base + "/open?token=" + url.QueryEscape(token)
	if redirectURL != "" {
		s += "&redirect_url=" + url.QueryEscape(redirectURL)
	}
	return s
}
