// Package upstream is the one place that decides, for every provider the
// portal calls, whether a request was not sent, failed, or has an unknown
// outcome. The provider clients (services/oneflow, pasby, pawapass,
// passportreader) keep only their wire types, endpoints and the sentinels
// that are theirs alone; the transport, the retry policy, credentials and the
// error vocabulary live here, so a fix to the rule that keeps a recharge from
// being sent twice is made once.
//
// It uses the standard library only.
package upstream

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The shared vocabulary. Every error a client returns wraps one of these (or
// is a *RejectedError or an *OutcomeUnknownError) and names its vendor in
// its text:
//
//   - ErrUnavailable: the provider could not be used: 5xx, 429, a network
//     error or timeout, a malformed or oversized answer to a read. For a
//     create it means the provider answered and did not act (or, together
//     with ErrNotSent, that nothing was sent); a create whose result cannot
//     be told is an *OutcomeUnknownError, which never matches ErrUnavailable.
//   - ErrNotSent: the request provably never reached the provider, so sending
//     it again cannot act twice. Always together with ErrUnavailable or
//     ErrInvalidRequest.
//   - ErrNotFound: the provider does not know the thing asked for.
//   - ErrBadCredentials: the provider refused our credentials (401), after
//     one fresh access token where the provider issues them.
//   - ErrForbidden: the credentials may not do this (403).
//   - ErrInvalidRequest: the call's arguments or the client's configuration
//     were refused before anything was sent.
var (
	ErrUnavailable    = errors.New("unavailable")
	ErrNotSent        = errors.New("request not sent")
	ErrNotFound       = errors.New("not found")
	ErrBadCredentials = errors.New("bad credentials")
	ErrForbidden      = errors.New("forbidden")
	ErrInvalidRequest = errors.New("invalid request")
)

// Vendor names the provider in every error text ("1flow", "pasby", ...) and
// builds the errors of the shared vocabulary for it.
type Vendor string

// Error is a classified failure: one or more kinds (sentinels of this
// package or of the vendor's client), a detail and an optional cause. The
// first kind gives the text.
type Error struct {
	Vendor Vendor
	Kinds  []error
	Detail string
	Cause  error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(string(e.Vendor))
	b.WriteString(": ")
	b.WriteString(e.Kinds[0].Error())
	for _, k := range e.Kinds[1:] {
		if k == ErrNotSent {
			b.WriteString(" (request not sent)")
		}
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.Cause != nil {
		b.WriteString(": ")
		b.WriteString(e.Cause.Error())
	}
	return b.String()
}

func (e *Error) Is(target error) bool {
	for _, k := range e.Kinds {
		if k == target {
			return true
		}
	}
	return false
}

func (e *Error) Unwrap() error { return e.Cause }

// Kind is an error of the given kinds; the first gives the text.
func (v Vendor) Kind(detail string, cause error, kinds ...error) error {
	return &Error{Vendor: v, Kinds: kinds, Detail: detail, Cause: cause}
}

func (v Vendor) Unavailable(detail string, cause error) error {
	return v.Kind(detail, cause, ErrUnavailable)
}

// NotSent is ErrUnavailable for a request that provably never left.
func (v Vendor) NotSent(detail string, cause error) error {
	return v.Kind(detail, cause, ErrUnavailable, ErrNotSent)
}

func (v Vendor) NotFound(detail string) error { return v.Kind(detail, nil, ErrNotFound) }

func (v Vendor) BadCredentials(detail string) error {
	return v.Kind(detail, nil, ErrBadCredentials)
}

// InvalidRequest is always ErrNotSent too: it is refused before sending.
func (v Vendor) InvalidRequest(detail string) error {
	return v.Kind(detail, nil, ErrInvalidRequest, ErrNotSent)
}

// RejectedError is the provider refusing a request for a reason the shared
// vocabulary has no sentinel for: a 4xx other than 401, 403, 404 and 429
// (validation, conflicts, ...), or a 2xx whose envelope says no (Status is
// then the 2xx code). Use errors.As.
type RejectedError struct {
	Vendor Vendor
	Status int // HTTP status code
	// Code is the provider's machine-readable reason where it gives one:
	// pawaPass "code", pasby "type", PassportReader "error_name".
	Code string
	// UpstreamStatus is the envelope's own status word where the provider
	// has one (pasby: "mismatch", "failed", "handled").
	UpstreamStatus string
	Message        string // cleaned for display; may be empty
}

func (e *RejectedError) Error() string {
	var b strings.Builder
	b.WriteString(string(e.Vendor))
	b.WriteString(": rejected: ")
	b.WriteString(StatusDetail(e.Status, ""))
	if words := strings.Trim(e.UpstreamStatus+", "+e.Code, ", "); words != "" && words != http.StatusText(e.Status) {
		b.WriteString(" (")
		b.WriteString(words)
		b.WriteString(")")
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Reason is what to tell a person: the provider's message, or its status
// line when it gave none, so a refusal is never shown as an empty sentence.
func (e *RejectedError) Reason() string {
	if e.Message != "" {
		return e.Message
	}
	if e.Code != "" {
		return e.Code
	}
	return StatusDetail(e.Status, "")
}

// Rejected is a *RejectedError; the message is shown as given (clean it).
func (v Vendor) Rejected(status int, code, message string) *RejectedError {
	return &RejectedError{Vendor: v, Status: status, Code: code, Message: message}
}

// OutcomeUnknownError is returned by a create (a call that makes or changes
// something at the provider) when the request may have reached the provider
// but its result cannot be told: a timeout after the request was sent, a
// connection broken after it was written, an unreadable or malformed 2xx
// answer, or a 502/504 from a gateway in front of the provider. It must not
// be re-sent automatically. Err never matches the sentinels or
// *RejectedError.
type OutcomeUnknownError struct {
	Vendor Vendor
	Op     string // what was sent: "recharge", "session.create", ...
	Err    error
}

func (e *OutcomeUnknownError) Error() string {
	s := string(e.Vendor) + ": " + e.Op + " outcome unknown"
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap gives the cause for logs. A cause that is itself classified would
// let errors.Is match a sentinel, so classification is cut here: the caller
// must only see "unknown".
func (e *OutcomeUnknownError) Unwrap() error {
	var ce *Error
	var re *RejectedError
	if errors.As(e.Err, &ce) || errors.As(e.Err, &re) {
		return nil
	}
	return e.Err
}

// Unknown is an *OutcomeUnknownError for op, its detail prefixed to cause.
func (v Vendor) Unknown(op, detail string, cause error) error {
	switch {
	case cause == nil:
		return &OutcomeUnknownError{Vendor: v, Op: op, Err: errors.New(detail)}
	case detail == "":
		return &OutcomeUnknownError{Vendor: v, Op: op, Err: cause}
	}
	return &OutcomeUnknownError{Vendor: v, Op: op, Err: fmt.Errorf("%s: %w", detail, cause)}
}

// IsUnknown reports an *OutcomeUnknownError of any vendor.
func IsUnknown(err error) bool {
	var u *OutcomeUnknownError
	return errors.As(err, &u)
}

// Prefix adds context to an *Error's detail; other errors pass through
// unchanged, so their type (and meaning) is kept.
func Prefix(what string, err error) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	cp := *e
	if cp.Detail != "" {
		cp.Detail = what + ": " + cp.Detail
	} else {
		cp.Detail = what
	}
	return &cp
}

// StatusDetail is "HTTP 503 Service Unavailable: <message>".
func StatusDetail(status int, msg string) string {
	s := fmt.Sprintf("HTTP %d", status)
	if t := http.StatusText(status); t != "" {
		s += " " + t
	}
	if msg != "" && msg != http.StatusText(status) {
		s += ": " + msg
	}
	return s
}

// MaxMessageRunes bounds an upstream message kept for display.
const MaxMessageRunes = 300

// CleanMessage makes an upstream text safe to show and log: never one of
// the secrets (a server may echo headers back), valid UTF-8, no control
// characters, bounded length.
func CleanMessage(msg string, secrets ...string) string {
	for _, s := range secrets {
		if s != "" {
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
	if utf8.RuneCountInString(msg) > MaxMessageRunes {
		r := []rune(msg)
		msg = string(r[:MaxMessageRunes]) + "…"
	}
	return msg
}

// MalformedError is an answer that could not be understood: not JSON, the
// wrong shape, or missing what the call needs. Its text says what the
// answer had, never the decoder's Go types.
type MalformedError struct{ Err error }

func (e *MalformedError) Error() string {
	var te *json.UnmarshalTypeError
	if errors.As(e.Err, &te) {
		if te.Field != "" {
			return fmt.Sprintf("malformed answer: %q is a JSON %s", te.Field, te.Value)
		}
		return fmt.Sprintf("malformed answer: unexpected JSON %s", te.Value)
	}
	var se *json.SyntaxError
	if errors.As(e.Err, &se) {
		return fmt.Sprintf("malformed answer: not JSON (offset %d)", se.Offset)
	}
	return "malformed answer: " + e.Err.Error()
}

func (e *MalformedError) Unwrap() error { return e.Err }

// Malformed wraps a decoding failure.
func Malformed(err error) *MalformedError { return &MalformedError{err} }

// Malformedf is a MalformedError saying what the answer lacks.
func Malformedf(format string, a ...any) *MalformedError {
	return &MalformedError{fmt.Errorf(format, a...)}
}
