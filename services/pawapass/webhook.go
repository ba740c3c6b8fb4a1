package pawapass

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"portal/services/upstream"
)

// Webhooks (NOTES.md): pawaPass POSTs
// {"notificationId","type","object","createdAt","data":<verification>} with
// the header X-Signature, the HMAC-SHA256 of the raw body keyed with the
// webhook secret. It retries on any non-2xx for about a week, so a handler
// stores the body, answers 2xx fast, dedupes on NotificationID and fetches
// the verification with Get rather than trusting Data.

// ErrInvalidNotification is ParseNotification refusing a webhook body:
// pawaPass's alone, the shared vocabulary speaks of answers to our calls.
var ErrInvalidNotification = errors.New("invalid notification")

func invalidNotification(detail string, cause error) error {
	return vendor.Kind(detail, cause, ErrInvalidNotification)
}

// Notification types.
const (
	NotificationStatusChange           = "VERIFICATION.STATUS_CHANGE"
	NotificationIdentityDocumentChange = "VERIFICATION.IDENTITY_DOCUMENT_CHANGE"
)

// NotificationObject is the "object" of every documented notification.
const NotificationObject = "VERIFICATION"

// SignatureHeader carries the webhook body's HMAC.
const SignatureHeader = "X-Signature"

// Notification is one webhook delivery.
type Notification struct {
	NotificationID string // the dedupe key; the same on every retry of one notification
	Type           string // NotificationStatusChange, NotificationIdentityDocumentChange, or a newer one, as sent
	Object         string // "VERIFICATION"
	CreatedAt      time.Time
	Data           Verification
}

// Sign returns the X-Signature value for body: the lower-case hex
// HMAC-SHA256 keyed with secret (hex is our reading [ours]). Tests and the
// portal's own webhook tests use it; pawaPass computes the same.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// VerifySignature reports whether signature is the HMAC-SHA256 of body
// keyed with secret. The hex may be upper- or lower-case and may carry a
// "sha256=" prefix [ours: neither is documented, both are common]. An empty
// secret or signature never verifies. The comparison is constant-time.
func VerifySignature(secret string, body []byte, signature string) bool {
	if secret == "" {
		return false
	}
	sig := strings.TrimSpace(signature)
	if len(sig) >= len("sha256=") && strings.EqualFold(sig[:len("sha256=")], "sha256=") {
		sig = sig[len("sha256="):]
	}
	if len(sig) != 2*sha256.Size {
		return false
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

type notificationWire struct {
	NotificationID string          `json:"notificationId"`
	Type           string          `json:"type"`
	Object         string          `json:"object"`
	CreatedAt      wireTime        `json:"createdAt"`
	Data           json.RawMessage `json:"data"`
}

// ParseNotification decodes a webhook body. It needs a notificationId and a
// data object with an id (a verification); other fields are taken as sent
// and unknown ones ignored. Anything else is ErrInvalidNotification. Check
// the signature first: this does not.
func ParseNotification(body []byte) (Notification, error) {
	if len(body) > upstream.DefaultMaxBody { // the answers' bound, applied to webhooks too [ours]
		return Notification{}, invalidNotification("body larger than 1 MiB", nil)
	}
	if !isObject(body) {
		return Notification{}, invalidNotification("body is not a JSON object", nil)
	}
	var w notificationWire
	if err := upstream.DecodeStrict(body, &w); err != nil {
		return Notification{}, invalidNotification("", upstream.Malformed(err))
	}
	if strings.TrimSpace(w.NotificationID) == "" {
		return Notification{}, invalidNotification(`no "notificationId"`, nil)
	}
	if !isObject(w.Data) {
		return Notification{}, invalidNotification(`"data" is not an object`, nil)
	}
	v, err := decodeVerification(w.Data)
	if err != nil {
		return Notification{}, invalidNotification("data", err)
	}
	return Notification{
		NotificationID: w.NotificationID,
		Type:           w.Type,
		Object:         w.Object,
		CreatedAt:      w.CreatedAt.t,
		Data:           v,
	}, nil
}
