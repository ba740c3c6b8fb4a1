// Package passportreader is a client for PassportReader's identity-verification
// sessions (NFC passport reading), written from upstream-docs/idv-sessions.txt
// and the "Identity-verification sessions" section of NOTES.md.
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
//   - Reads (GetSession, SessionState) follow the document's advice: a 5xx,
//     a network error, an attempt timeout or an answer cut short is retried
//     up to 4 times, after 2, 4, 8 and 16 s (Config.RetryDelays), each wait
//     ±20 % at random so that many clients do not retry in step [ours]. A
//     4xx is never retried (the document says so). A wait that would end
//     past the context's deadline is not started: the last error is
//     returned at once. A malformed or oversized answer is not retried
//     either (asking again gets the same answer).
//   - CreateSession is sent once. It is sent a second time only when the
//     connection provably never reached PassportReader (a dial error:
//     connection refused, DNS failure). A failure before a connection was
//     obtained is ErrUnavailable + ErrNotSent; a failure once the request may
//     have been written, a 2xx that cannot be read or decoded, and a 502/504
//     from a gateway are *OutcomeUnknownError. Any other 5xx is
//     ErrUnavailable: PassportReader answered. The document says a 500 means
//     "accepted, but something went wrong"; a session it may have left
//     behind is harmless, since nobody ever gets its token [ours].
//   - Redirects are never followed (a redirected POST would become a GET).
//
// Nothing here logs, and no error carries the secret.
package passportreader

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultTimeout is the document's request timeout, used per attempt when
// Config.Timeout is zero.
const DefaultTimeout = 60 * time.Second

// DefaultRetryDelays returns the document's backoff advice ("retry after 2,
// 4, 8 and finally after 16 seconds"), used when Config.RetryDelays is nil.
func DefaultRetryDelays() []time.Duration {
	return []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}
}

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
	// HTTPClient is used for every call; nil means a client with sane
	// transport timeouts. Redirects are never followed either way.
	HTTPClient *http.Client
	// RetryDelays are the waits before read retries: one retry per entry.
	// nil means DefaultRetryDelays(); an empty non-nil slice means reads are
	// tried once. The first entry is also the wait before a CreateSession
	// that could not connect is sent again.
	RetryDelays []time.Duration
}

// Client talks to one PassportReader account. It is safe for concurrent use.
type Client struct {
	base    string // the root, without "/api/v1" and without a trailing "/"
	key     string
	secret  string
	basic   string // base64(key:secret), to be redacted should it be echoed
	hc      *http.Client
	timeout time.Duration
	delays  []time.Duration

	configErr error // a bad Config, returned by every call

	// traceable: the transport is net/http's, which reports GotConn before
	// writing a request, so a failure without GotConn was never sent.
	traceable bool
}

// New returns a Client. It never fails: a bad Config surfaces as an error
// wrapping ErrInvalidRequest and ErrNotSent on every call.
func New(cfg Config) *Client {
	c := &Client{
		base:    rootOf(cfg.BaseURL),
		key:     cfg.PublicKey,
		secret:  cfg.Secret,
		timeout: cfg.Timeout,
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if cfg.RetryDelays == nil {
		c.delays = DefaultRetryDelays()
	} else {
		c.delays = make([]time.Duration, len(cfg.RetryDelays))
		for i, d := range cfg.RetryDelays {
			c.delays[i] = max(d, 0)
		}
	}
	c.basic = base64.StdEncoding.EncodeToString([]byte(c.key + ":" + c.secret)) // as SetBasicAuth encodes it
	c.configErr = c.checkConfig()

	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	} else {
		hc = http.Client{Transport: defaultTransport()}
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.hc = &hc
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	_, c.traceable = rt.(*http.Transport)
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
		return invalidRequest("no base URL")
	case c.key == "" || c.secret == "":
		return invalidRequest("the public key and the secret are both required")
	case strings.Contains(c.key, ":"):
		// HTTP Basic cannot carry a user name with a colon (RFC 7617).
		return invalidRequest("the public key contains a colon")
	case hasCtl(c.key) || hasCtl(c.secret):
		return invalidRequest("the public key or the secret contains control characters")
	}
	u, err := url.Parse(c.base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return invalidRequest("base URL must be an absolute http(s) URL without credentials or query")
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
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		// Shorter than common server keep-alive timeouts, so a create rarely
		// meets a connection the server is just closing (that would be an
		// unknown outcome).
		IdleConnTimeout:     30 * time.Second,
		MaxIdleConnsPerHost: 16,
	}
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
// PassportReader) and OutcomeUnknownError for when the result cannot be told.
func (c *Client) CreateSession(ctx context.Context, r CreateSessionRequest) (CreatedSession, error) {
	if r.CallbackURL != "" {
		// Checked here because a callback that can never arrive leaves the
		// session to polling alone; the rule itself is ours.
		u, err := url.Parse(r.CallbackURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return CreatedSession{}, invalidRequest("callback URL must be an absolute http(s) URL")
		}
	}
	body, err := json.Marshal(createBody{
		CallbackURL:      r.CallbackURL,
		FaceVerification: r.FaceVerification,
		Reference:        r.Reference,
		PassportOnly:     r.PassportOnly,
	})
	if err != nil {
		return CreatedSession{}, invalidRequest(err.Error())
	}
	res, err := c.create(ctx, body)
	if err != nil {
		return CreatedSession{}, err
	}
	s, err := decodeCreated(res.body)
	if err != nil {
		return CreatedSession{}, unknownOutcome(statusDetail(res.status, "")+" answer", c.redactErr(err))
	}
	return s, nil
}

// GetSession returns a session with the identity data read so far (POST
// session.get). Call it on APPROVED rather than trusting a callback.
func (c *Client) GetSession(ctx context.Context, id int64) (Session, error) {
	if id <= 0 {
		// Ids are 64-bit integers; that they are positive is ours.
		return Session{}, invalidRequest("session id must be positive")
	}
	body, _ := json.Marshal(idBody{ID: id})
	res, err := c.read(ctx, methodGet, body, maxSessionBody)
	if err != nil {
		return Session{}, err
	}
	s, err := decodeSession(res.body)
	if err == nil && s.ID != id {
		err = &malformedError{fmt.Errorf("answer is for session %d, asked for %d", s.ID, id)}
	}
	if err != nil {
		return Session{}, unavailable(methodGet, c.redactErr(err))
	}
	return s, nil
}

// SessionState returns a session's state (POST session.state), a cheaper
// call than GetSession for polling.
func (c *Client) SessionState(ctx context.Context, id int64) (string, error) {
	if id <= 0 {
		return "", invalidRequest("session id must be positive")
	}
	body, _ := json.Marshal(idBody{ID: id})
	res, err := c.read(ctx, methodState, body, maxBody)
	if err != nil {
		return "", err
	}
	st, err := decodeState(res.body)
	if err != nil {
		return "", unavailable(methodState, c.redactErr(err))
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
