package pasby

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"portal/services/upstream"
)

// pasby's own refusals, the ones the shared vocabulary has no word for. An
// error of one of these kinds, when pasby answered it, is also an
// *upstream.RejectedError (errors.As) carrying pasby's reason, type and
// status word.
//
//   - ErrExpired: the flow or document expired (pasby's status "expiration"
//     or type "session_expiry", documented as a 401).
//   - ErrUnknownFlow: no flow or document with that id ("Flow request with
//     such id does not exists", a 400; a 404 in pasby's envelope is read the
//     same way).
//   - ErrCancelled: the flow was cancelled (a 400, or type "session_cancel").
//   - ErrNotPDF: the file URL does not serve a PDF (a 400).
//   - ErrMissingWebhook: signing without a webhook (428), or a request
//     refused before sending because webhook.host or .reference is empty
//     (then together with upstream.ErrInvalidRequest, and no RejectedError).
var (
	ErrExpired        = errors.New("flow expired")
	ErrUnknownFlow    = errors.New("unknown flow")
	ErrCancelled      = errors.New("flow cancelled")
	ErrNotPDF         = errors.New("file is not a PDF")
	ErrMissingWebhook = errors.New("webhook required")
)

// complaint reads pasby's error envelope, raw: its status word, its reason
// (or "message") and its type. Each is empty when the body has none.
func complaint(body []byte) (status, reason, typ string) {
	var raw rawEnvelope
	if json.Unmarshal(body, &raw) != nil {
		return "", "", ""
	}
	reason = upstream.JSONText(raw.Reason)
	if reason == "" {
		reason = upstream.JSONText(raw.Message)
	}
	return upstream.JSONText(raw.Status), reason, upstream.JSONText(raw.Type)
}

// statusError maps a non-2xx answer by pasby's rules; clean keeps the
// credentials out of the texts taken from the body. Only 4xx answers are
// read for pasby's meaning: a 5xx (or a redirect, never followed) says
// pasby could not be used, whatever its body claims.
func statusError(status int, body []byte, clean func(string) string) error {
	upStatus, reason, typ := complaint(body)
	reason = clean(reason)
	if status < 400 || status >= 500 {
		return vendor.Unavailable(upstream.StatusDetail(status, reason), nil)
	}
	return classify(status, clean(upStatus), reason, clean(typ))
}

func isExpiry(upStatus, typ string) bool {
	return strings.EqualFold(upStatus, "expiration") || strings.EqualFold(typ, "session_expiry")
}

// classify maps a refusal (a 4xx, or a 2xx whose envelope status is not
// "successful") to a typed error. upStatus, reason and typ come from the
// body, cleaned (empty when it had none).
//
// Only the documented shapes are recognised; the reasons' wording is not
// published except "Flow request with such id does not exists", so the text
// checks below are deliberately broad and apply to 4xx/2xx refusals only.
func classify(httpStatus int, upStatus, reason, typ string) error {
	us, ty, rs := strings.ToLower(upStatus), strings.ToLower(typ), strings.ToLower(reason)
	rejected := func() *upstream.RejectedError {
		msg := reason
		if msg == "" {
			msg = http.StatusText(httpStatus)
		}
		rej := vendor.Rejected(httpStatus, typ, msg)
		rej.UpstreamStatus = upStatus
		return rej
	}
	own := func(kind error) error { return vendor.Kind("", rejected(), kind) }
	switch {
	case isExpiry(us, ty):
		return own(ErrExpired)
	case httpStatus == http.StatusPreconditionRequired:
		return own(ErrMissingWebhook)
	case ty == "session_cancel" || us == "cancelled" || us == "canceled":
		return own(ErrCancelled)
	case httpStatus == http.StatusUnauthorized,
		// pasby answers a revoked key with a 403 in its "unauthorized" words;
		// any other 403 (a mode mismatch) is a refusal of this request.
		httpStatus == http.StatusForbidden && (us == "unauthorized" || ty == "authorization_error"):
		// A flow created by another app is a 401 too and lands here.
		return vendor.BadCredentials(upstream.StatusDetail(httpStatus, reason))
	case httpStatus >= 500 || httpStatus == http.StatusTooManyRequests:
		return vendor.Unavailable(upstream.StatusDetail(httpStatus, reason), nil)
	case httpStatus == http.StatusForbidden:
		// 403 "mismatch" and any other 403: not ours to guess.
	case httpStatus == http.StatusNotFound && (upStatus != "" || reason != ""):
		// A 404 in pasby's envelope; a bare 404 is more likely a wrong base URL.
		return own(ErrUnknownFlow)
	case httpStatus != http.StatusNotFound && containsAny(rs, "does not exist", "not exist", "no such", "not found", "unknown flow", "unknown request", "unknown document"):
		return own(ErrUnknownFlow)
	case containsAny(rs, "cancelled", "canceled", "cancel"):
		return own(ErrCancelled)
	case containsAny(rs, "pdf"):
		return own(ErrNotPDF)
	case containsAny(rs, "webhook") && containsAny(rs, "required", "missing", "provide", "no webhook", "without"):
		return own(ErrMissingWebhook)
	}
	return rejected()
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
