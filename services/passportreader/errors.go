package passportreader

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Sentinel errors. Every error this package returns starts with
// "passportreader: " and can be tested with errors.Is / errors.As:
//
//   - ErrUnauthorized: 401, the public key and secret were refused.
//   - ErrForbidden: 403, the credentials lack a permission.
//   - ErrNotFound: no such session: error_name "SessionNotFound", or a 404
//     that carries PassportReader's error body. A bare 404 (no error body)
//     is more likely a wrong BaseURL and is ErrUnavailable instead [ours].
//   - ErrUnavailable: PassportReader could not be used: 5xx, 429, a network
//     error or timeout, a malformed or oversized answer to a read, a
//     redirect. For CreateSession it means PassportReader answered and did
//     not create (or, with ErrNotSent, that nothing was sent); when that
//     cannot be told the error is an *OutcomeUnknownError instead, which
//     never matches ErrUnavailable.
//   - ErrNotSent: together with ErrUnavailable or ErrInvalidRequest; the
//     request provably never reached PassportReader.
//   - ErrInvalidRequest: the arguments or the Config were refused before
//     anything was sent (then with ErrNotSent), or PassportReader answered
//     400 (an *APIError).
//   - ErrInvalidCallback: ParseCallback refused a body; it also matches
//     ErrInvalidRequest.
//   - *APIError: any 4xx or 5xx answer, with the decoded error body.
//   - *OutcomeUnknownError: CreateSession only, see its comment.
var (
	ErrUnauthorized    = errors.New("passportreader: unauthorized")
	ErrForbidden       = errors.New("passportreader: forbidden")
	ErrNotFound        = errors.New("passportreader: not found")
	ErrUnavailable     = errors.New("passportreader: unavailable")
	ErrNotSent         = errors.New("passportreader: request not sent")
	ErrInvalidRequest  = errors.New("passportreader: invalid request")
	ErrInvalidCallback = errors.New("passportreader: invalid callback")
)

// SessionNotFound is the one error_name the document shows.
const SessionNotFound = "SessionNotFound"

// APIError is a 4xx or 5xx answer. Name and Message are the body's
// error_name and error_message (empty when it had none), cleaned for
// display. Besides errors.As, it matches the sentinels by meaning:
// ErrNotFound (see there), ErrUnauthorized (401), ErrForbidden (403),
// ErrInvalidRequest (400), ErrUnavailable (5xx, 429, a bare 404).
type APIError struct {
	Status  int
	Name    string
	Message string
}

func (e *APIError) Error() string { return "passportreader: " + e.detail() }

// detail is the text without the package prefix.
func (e *APIError) detail() string {
	var b strings.Builder
	b.WriteString(statusDetail(e.Status, ""))
	if e.Name != "" {
		b.WriteString(": ")
		b.WriteString(e.Name)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Status == http.StatusNotFound && e.Name == "" && e.Message == "" {
		b.WriteString(" (check the base URL)")
	}
	return b.String()
}

// Is maps the answer to the sentinels.
func (e *APIError) Is(target error) bool {
	bare404 := e.Status == http.StatusNotFound && e.Name == "" && e.Message == ""
	switch target {
	case ErrNotFound:
		return e.Name == SessionNotFound || (e.Status == http.StatusNotFound && !bare404)
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	case ErrInvalidRequest:
		return e.Status == http.StatusBadRequest && e.Name != SessionNotFound
	case ErrUnavailable:
		// 429 is not in the document; it can only mean "later" [ours].
		return e.Status >= 500 || e.Status == http.StatusTooManyRequests || bare404
	}
	return false
}

// OutcomeUnknownError is returned by CreateSession only, when the request
// may have reached PassportReader but its result cannot be told: a timeout
// after the request was sent, a connection broken after it was written, an
// unreadable or malformed 2xx answer, or a 502/504 from a gateway in front
// of PassportReader. It must not be re-sent automatically. Err never
// matches the sentinels or *APIError.
type OutcomeUnknownError struct {
	Err error
}

func (e *OutcomeUnknownError) Error() string {
	if e.Err == nil {
		return "passportreader: session.create outcome unknown"
	}
	return "passportreader: session.create outcome unknown: " + e.Err.Error()
}

func (e *OutcomeUnknownError) Unwrap() error { return e.Err }

// kindError carries one or more sentinel kinds, a detail and an optional
// cause. The first kind gives the text.
type kindError struct {
	kinds  []error
	detail string
	cause  error
}

func (e *kindError) Error() string {
	var b strings.Builder
	b.WriteString(e.kinds[0].Error())
	if e.kinds[0] == ErrUnavailable && len(e.kinds) > 1 && e.kinds[1] == ErrNotSent {
		b.WriteString(" (request not sent)")
	}
	if e.detail != "" {
		b.WriteString(": ")
		b.WriteString(e.detail)
	}
	if e.cause != nil {
		b.WriteString(": ")
		b.WriteString(e.cause.Error())
	}
	return b.String()
}

func (e *kindError) Is(target error) bool {
	for _, k := range e.kinds {
		if k == target {
			return true
		}
	}
	return false
}

func (e *kindError) Unwrap() error { return e.cause }

func unavailable(detail string, cause error) error {
	return &kindError{kinds: []error{ErrUnavailable}, detail: detail, cause: cause}
}

func notSent(detail string, cause error) error {
	return &kindError{kinds: []error{ErrUnavailable, ErrNotSent}, detail: detail, cause: cause}
}

func invalidRequest(detail string) error {
	return &kindError{kinds: []error{ErrInvalidRequest, ErrNotSent}, detail: detail}
}

func invalidCallback(detail string) error {
	return &kindError{kinds: []error{ErrInvalidCallback, ErrInvalidRequest}, detail: detail}
}

// unknownOutcome wraps cause, prefixed so the text stays readable.
func unknownOutcome(detail string, cause error) error {
	if cause == nil {
		return &OutcomeUnknownError{Err: errors.New(detail)}
	}
	return &OutcomeUnknownError{Err: fmt.Errorf("%s: %w", detail, cause)}
}

// statusDetail is "HTTP 503 Service Unavailable: <message>".
func statusDetail(status int, msg string) string {
	s := fmt.Sprintf("HTTP %d", status)
	if t := http.StatusText(status); t != "" {
		s += " " + t
	}
	if msg != "" && msg != http.StatusText(status) {
		s += ": " + msg
	}
	return s
}

const maxMessageRunes = 300

// cleanMessage makes an upstream text safe to show and log: never one of
// the secrets, valid UTF-8, no control characters, bounded length.
func cleanMessage(msg string, secrets ...string) string {
	for _, s := range secrets {
		// A very short secret would blank out ordinary words; such a
		// secret is no secret anyway.
		if len(s) >= 4 {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	msg = strings.ToValidUTF8(msg, "\uFFFD")
	msg = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, msg)
	msg = strings.TrimSpace(msg)
	if utf8.RuneCountInString(msg) > maxMessageRunes {
		r := []rune(msg)
		msg = string(r[:maxMessageRunes]) + "…"
	}
	return msg
}

// secrets lists what must never appear in an error text: the secret and
// the Basic credentials it is encoded in.
func (c *Client) secrets() []string { return []string{c.secret, c.basic} }

// redactErr flattens an error about an answer's content into a text
// without the secrets (an answer could echo them back).
func (c *Client) redactErr(err error) error {
	return errors.New(cleanMessage(err.Error(), c.secrets()...))
}
