package pawapass

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Sentinel errors. Every error this package returns starts with "pawapass: "
// and can be tested with errors.Is / errors.As:
//
//   - ErrUnauthorized: 401, pawaPass refused the API key.
//   - ErrForbidden: 403, the key may not do this.
//   - ErrNotFound: 404, no such verification (or a wrong base URL).
//   - ErrUnavailable: pawaPass could not be used: 5xx, 429, a network error
//     or timeout, a malformed or oversized answer to a read. For Create it
//     means pawaPass answered and did not create anything (or, with
//     ErrNotSent, that nothing was sent); a Create whose result cannot be
//     told is an *OutcomeUnknownError, which never matches ErrUnavailable.
//   - ErrNotSent: always together with ErrUnavailable; the request provably
//     never reached pawaPass (the connection could not be made), so sending
//     it again cannot create a second verification. Create has already
//     tried a second time when it returns this.
//   - ErrInvalidRequest: the call's arguments or the Config were refused
//     before anything was sent.
//   - ErrInvalidNotification: ParseNotification refused a webhook body.
//   - *RejectedError: any other 4xx (validation, conflicts, ...).
//   - *OutcomeUnknownError: Create only, see its comment.
var (
	ErrUnauthorized        = errors.New("pawapass: unauthorized")
	ErrForbidden           = errors.New("pawapass: forbidden")
	ErrNotFound            = errors.New("pawapass: not found")
	ErrUnavailable         = errors.New("pawapass: unavailable")
	ErrNotSent             = errors.New("pawapass: request not sent")
	ErrInvalidRequest      = errors.New("pawapass: invalid request")
	ErrInvalidNotification = errors.New("pawapass: invalid notification")
)

// RejectedError is pawaPass refusing a request with a 4xx other than 401,
// 403, 404 and 429, decoded from its {"statusCode","code","message"} body.
// Use errors.As with a *RejectedError.
type RejectedError struct {
	Status  int    // HTTP status code
	Code    string // the body's "code", e.g. "VALIDATION_ERROR"; may be empty
	Message string // the body's "message", cleaned for display; several messages are joined with "; "
}

func (e *RejectedError) Error() string {
	var b strings.Builder
	b.WriteString("pawapass: rejected: ")
	b.WriteString(statusDetail(e.Status, ""))
	if e.Code != "" && e.Code != http.StatusText(e.Status) {
		b.WriteString(" (")
		b.WriteString(e.Code)
		b.WriteString(")")
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// OutcomeUnknownError is returned by Create only, when the request may have
// reached pawaPass but its result cannot be told: a timeout after the
// request was sent, a connection broken after it was written, an unreadable
// or malformed 2xx answer, or a 502/504 from a gateway in front of pawaPass.
// It must not be re-sent automatically; the verification, if it was made,
// can be found with List(ListQuery{ExternalID: …}). Err never matches the
// sentinels or *RejectedError.
type OutcomeUnknownError struct {
	Err error
}

func (e *OutcomeUnknownError) Error() string {
	if e.Err == nil {
		return "pawapass: create outcome unknown"
	}
	return "pawapass: create outcome unknown: " + e.Err.Error()
}

func (e *OutcomeUnknownError) Unwrap() error { return e.Err }

// kindError carries one or two sentinel kinds, a detail and an optional
// cause; the first kind gives the text.
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

func kind(k error, detail string) error {
	return &kindError{kinds: []error{k}, detail: detail}
}

func unavailable(detail string, cause error) error {
	return &kindError{kinds: []error{ErrUnavailable}, detail: detail, cause: cause}
}

func notSent(detail string, cause error) error {
	return &kindError{kinds: []error{ErrUnavailable, ErrNotSent}, detail: detail, cause: cause}
}

func invalidRequest(detail string) error {
	return &kindError{kinds: []error{ErrInvalidRequest}, detail: detail}
}

func invalidNotification(detail string, cause error) error {
	return &kindError{kinds: []error{ErrInvalidNotification}, detail: detail, cause: cause}
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

// cleanMessage makes an upstream text safe to show and log: never the API
// key (a server may echo headers back), valid UTF-8, no control characters,
// bounded length.
func cleanMessage(msg, secret string) string {
	if secret != "" {
		msg = strings.ReplaceAll(msg, secret, "[redacted]")
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

// statusError maps a non-2xx answer. body is the error body, secret the
// API key to keep out of the text.
func statusError(status int, body []byte, secret string) error {
	eb := decodeErrorBody(body)
	msg := cleanMessage(eb.message, secret)
	switch {
	case status == http.StatusUnauthorized:
		return kind(ErrUnauthorized, statusDetail(status, msg))
	case status == http.StatusForbidden:
		return kind(ErrForbidden, statusDetail(status, msg))
	case status == http.StatusNotFound:
		return kind(ErrNotFound, statusDetail(status, msg))
	case status == http.StatusTooManyRequests:
		return unavailable(statusDetail(status, msg), nil)
	case status >= 400 && status < 500:
		return &RejectedError{Status: status, Code: cleanMessage(eb.code, secret), Message: msg}
	default: // 5xx, 3xx (redirects are never followed), anything odd
		return unavailable(statusDetail(status, msg), nil)
	}
}
