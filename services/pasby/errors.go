package pasby

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Sentinel errors. Every error this package returns starts with "pasby: "
// and can be tested with errors.Is / errors.As:
//
//   - ErrExpired: the flow or document expired (pasby's status "expiration"
//     or type "session_expiry", documented as a 401).
//   - ErrUnknownFlow: no flow or document with that id ("Flow request with
//     such id does not exists", a 400; a 404 is read the same way).
//   - ErrCancelled: the flow was cancelled (a 400, or type "session_cancel").
//   - ErrNotPDF: the file URL does not serve a PDF (a 400).
//   - ErrMissingWebhook: signing without a webhook (428), or a request
//     refused before sending because webhook.host or .reference is empty
//     (then together with ErrInvalidRequest).
//   - ErrUnauthorized: pasby refused our credentials (401, or a 403 whose
//     status is "unauthorized"); on v1 only after one fresh access token was
//     tried. A flow created by another app is also a 401 and lands here.
//   - ErrUnavailable: pasby could not be used: 5xx, 429, a network error or
//     timeout, a malformed answer to a read, an SSE stream that could not be
//     (re)established. For Signing, Review and Cancel it means pasby
//     answered and did not act (or, with ErrNotSent, that nothing was sent);
//     when that cannot be told the error is an *OutcomeUnknownError instead,
//     which never matches ErrUnavailable.
//   - ErrNotSent: always together with ErrUnavailable or ErrInvalidRequest;
//     the request provably never reached pasby.
//   - ErrInvalidRequest: the call's arguments or the Config were refused
//     before anything was sent (an empty id, no signer, SSE on v1, ...).
//   - *RejectedError: any other refusal: a 4xx not listed above (403 mode
//     mismatch, validation), or a 2xx whose envelope status is not
//     "successful".
//   - *OutcomeUnknownError: Signing, Review and Cancel only, see its comment.
var (
	ErrExpired        = errors.New("pasby: flow expired")
	ErrUnknownFlow    = errors.New("pasby: unknown flow")
	ErrCancelled      = errors.New("pasby: flow cancelled")
	ErrNotPDF         = errors.New("pasby: file is not a PDF")
	ErrMissingWebhook = errors.New("pasby: webhook required")
	ErrUnauthorized   = errors.New("pasby: unauthorized")
	ErrUnavailable    = errors.New("pasby: unavailable")
	ErrNotSent        = errors.New("pasby: request not sent")
	ErrInvalidRequest = errors.New("pasby: invalid request")
)

// RejectedError is pasby refusing a request for a reason without a sentinel
// above: a 4xx (403 "mismatch" when the flow's mode does not fit the call,
// validation errors, ...), or a 2xx whose envelope status is not
// "successful" (Status is then the 2xx code). Use errors.As.
type RejectedError struct {
	Status         int    // HTTP status code
	Reason         string // the envelope's "reason" (or "message"), cleaned for display
	Type           string // the envelope's "type" when present, e.g. "param_error", "invalid_request"
	UpstreamStatus string // the envelope's "status" when present, e.g. "mismatch", "failed", "handled"
}

func (e *RejectedError) Error() string {
	var b strings.Builder
	b.WriteString("pasby: rejected: ")
	b.WriteString(fmt.Sprintf("HTTP %d", e.Status))
	if e.UpstreamStatus != "" || e.Type != "" {
		b.WriteString(" (")
		b.WriteString(strings.Trim(e.UpstreamStatus+", "+e.Type, ", "))
		b.WriteString(")")
	}
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	return b.String()
}

// OutcomeUnknownError is returned by Signing, Review and Cancel when the
// request may have reached pasby but its result cannot be told: a timeout
// after the request was sent, a connection broken after it was written, an
// unreadable or malformed 2xx answer, or a 502/504 from a gateway in front
// of pasby. The call must not be re-sent automatically (a re-sent Signing
// pushes a second request to every signer's phone); the document can be
// found later by its webhook reference. Err never matches the sentinels.
type OutcomeUnknownError struct {
	Err error
}

func (e *OutcomeUnknownError) Error() string {
	if e.Err == nil {
		return "pasby: outcome unknown"
	}
	return "pasby: outcome unknown: " + e.Err.Error()
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

func kind(k error, detail string) error {
	return &kindError{kinds: []error{k}, detail: detail}
}

func unavailable(detail string, cause error) error {
	return &kindError{kinds: []error{ErrUnavailable}, detail: detail, cause: cause}
}

func notSent(detail string, cause error) error {
	return &kindError{kinds: []error{ErrUnavailable, ErrNotSent}, detail: detail, cause: cause}
}

func invalidRequest(detail string, also ...error) error {
	return &kindError{kinds: append([]error{ErrInvalidRequest, ErrNotSent}, also...), detail: detail}
}

// unknownOutcome wraps cause, prefixed so the text stays readable.
func unknownOutcome(detail string, cause error) error {
	if cause == nil {
		return &OutcomeUnknownError{Err: errors.New(detail)}
	}
	return &OutcomeUnknownError{Err: fmt.Errorf("%s: %w", detail, cause)}
}

// errorPrefix adds context to a kindError's detail; other errors pass through.
func errorPrefix(what string, err error) error {
	var ke *kindError
	if errors.As(err, &ke) {
		cp := *ke
		if cp.detail != "" {
			cp.detail = what + ": " + cp.detail
		} else {
			cp.detail = what
		}
		return &cp
	}
	return err
}

// statusDetail is "HTTP 503 Service Unavailable: <reason>".
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
// no control characters, bounded length, and never one of the secrets
// (API key, app secret, access token).
func cleanMessage(msg string, secrets ...string) string {
	for _, s := range secrets {
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

// classify maps a refusal (a non-2xx answer, or a 2xx whose envelope status
// is not "successful") to a typed error. upStatus, reason and typ come from
// the body (empty when it had none); reason is already cleaned.
//
// Only the documented shapes are recognised; the reasons' wording is not
// published except "Flow request with such id does not exists", so the text
// checks below are deliberately broad and apply to 4xx/2xx refusals only.
func classify(httpStatus int, upStatus, reason, typ string) error {
	us, ty, rs := strings.ToLower(upStatus), strings.ToLower(typ), strings.ToLower(reason)
	detail := statusDetail(httpStatus, reason)
	switch {
	case us == "expiration" || ty == "session_expiry":
		return kind(ErrExpired, detail)
	case httpStatus == http.StatusPreconditionRequired:
		return kind(ErrMissingWebhook, detail)
	case ty == "session_cancel" || us == "cancelled" || us == "canceled":
		return kind(ErrCancelled, detail)
	case httpStatus == http.StatusUnauthorized:
		return kind(ErrUnauthorized, detail)
	case httpStatus == http.StatusForbidden && (us == "unauthorized" || ty == "authorization_error"):
		return kind(ErrUnauthorized, detail)
	case httpStatus >= 500 || httpStatus == http.StatusTooManyRequests:
		return unavailable(detail, nil)
	case httpStatus == http.StatusForbidden:
		// 403 "mismatch" and any other 403: not ours to guess.
	case httpStatus == http.StatusNotFound && (upStatus != "" || reason != ""):
		// A 404 in pasby's envelope; a bare 404 is more likely a wrong base URL.
		return kind(ErrUnknownFlow, detail)
	case httpStatus != http.StatusNotFound && containsAny(rs, "does not exist", "not exist", "no such", "not found", "unknown flow", "unknown request", "unknown document"):
		return kind(ErrUnknownFlow, detail)
	case containsAny(rs, "cancelled", "canceled", "cancel"):
		return kind(ErrCancelled, detail)
	case containsAny(rs, "pdf"):
		return kind(ErrNotPDF, detail)
	case containsAny(rs, "webhook") && containsAny(rs, "required", "missing", "provide", "no webhook", "without"):
		return kind(ErrMissingWebhook, detail)
	}
	if reason == "" {
		reason = http.StatusText(httpStatus)
	}
	return &RejectedError{Status: httpStatus, Reason: reason, Type: cleanMessage(typ), UpstreamStatus: cleanMessage(upStatus)}
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
