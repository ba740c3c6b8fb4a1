package oneflow

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Sentinel errors. Every error this package returns starts with "1flow: " and
// can be tested with errors.Is / errors.As:
//
//   - ErrBadCredentials: the token endpoint refused our client id and secret
//     (401/403), or an API call got 401 again after one token refetch.
//   - ErrNotFound: 404, an unknown customer, device, card or recharge.
//   - ErrUnavailable: 1flow could not be used: 5xx, 429, a network error or
//     timeout on a read, a malformed answer to a read. For Recharge it means
//     1flow answered and did not process the recharge (or it was never sent,
//     see ErrNotSent); a Recharge whose result cannot be told is an
//     *OutcomeUnknownError, which never matches ErrUnavailable.
//   - ErrNotSent: always together with ErrUnavailable; the request provably
//     never reached 1flow (the connection could not be made).
//   - ErrInvalidRequest: the call's arguments were refused before anything
//     was sent (for example both DeviceID and CardID set).
//   - *RejectedError: any other 4xx, or a 2xx with "success": false.
//   - *OutcomeUnknownError: Recharge only, see its comment.
var (
	ErrBadCredentials = errors.New("1flow: bad credentials")
	ErrNotFound       = errors.New("1flow: not found")
	ErrUnavailable    = errors.New("1flow: unavailable")
	ErrNotSent        = errors.New("1flow: request not sent")
	ErrInvalidRequest = errors.New("1flow: invalid request")
)

// RejectedError is 1flow refusing a request with a message: a 4xx other than
// 401 and 404 (validation, for example), or a 2xx whose envelope says
// "success": false (Status is then the 2xx code). Use errors.As with a
// *RejectedError.
type RejectedError struct {
	Status  int
	Message string
}

func (e *RejectedError) Error() string { return "1flow: rejected: " + e.Message }

// OutcomeUnknownError is returned by Recharge only, when the request may have
// reached 1flow but its result cannot be told: a timeout after the request
// was sent, a connection broken after it was written, an unreadable or
// malformed 2xx answer, or a 502/504 from a gateway in front of 1flow. The
// recharge must not be re-sent automatically. Err never matches
// ErrUnavailable, ErrNotFound, ErrBadCredentials or *RejectedError.
type OutcomeUnknownError struct {
	Err error
}

func (e *OutcomeUnknownError) Error() string {
	if e.Err == nil {
		return "1flow: recharge outcome unknown"
	}
	return "1flow: recharge outcome unknown: " + e.Err.Error()
}

func (e *OutcomeUnknownError) Unwrap() error { return e.Err }

// kindError carries one or two sentinel kinds, a detail and an optional cause.
type kindError struct {
	kinds  []error
	detail string
	cause  error
}

func (e *kindError) Error() string {
	var b strings.Builder
	b.WriteString(e.kinds[0].Error())
	if len(e.kinds) > 1 && e.kinds[1] == ErrNotSent {
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

func notFound(detail string) error {
	return &kindError{kinds: []error{ErrNotFound}, detail: detail}
}

func badCredentials(detail string) error {
	return &kindError{kinds: []error{ErrBadCredentials}, detail: detail}
}

func invalidRequest(detail string) error {
	return &kindError{kinds: []error{ErrInvalidRequest}, detail: detail}
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

// cleanMessage makes an upstream message safe to show and log: valid UTF-8,
// no control characters, bounded length, and never the bearer token.
func cleanMessage(msg, token string) string {
	if token != "" {
		msg = strings.ReplaceAll(msg, token, "[redacted]")
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
