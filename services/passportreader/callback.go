package passportreader

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Callback is what PassportReader POSTs to a session's callback_url on every
// state change (NOTES.md):
//
//	{"session_id": <int64>, "session_state": "<STATE>", "session_reference": "<your reference>"}
//
// It carries no signature. Treat it as a trigger: authenticate it by the
// unguessable reference (or a secret in the callback URL) and fetch the
// truth with GetSession rather than trusting SessionState.
type Callback struct {
	SessionID        int64  // 0 when the body had none
	SessionState     string // as sent, possibly empty
	SessionReference string
}

// maxCallbackBody bounds what ParseCallback looks at; a real callback is a
// few dozen bytes [ours].
const maxCallbackBody = 64 << 10

// ParseCallback decodes a callback body. session_id may be a JSON number or
// a string holding one [ours]; it must be a positive 64-bit integer when
// present. session_reference falls back to the misspelt
// "session_referenace" an older integration read (NOTES.md) when absent or
// empty. A body with neither a session id nor a reference, or that is not
// such a JSON object, is an error matching ErrInvalidCallback (and
// ErrInvalidRequest). It never panics.
func ParseCallback(body []byte) (Callback, error) {
	if len(body) > maxCallbackBody {
		return Callback{}, invalidCallback(fmt.Sprintf("body larger than %d bytes", maxCallbackBody))
	}
	var w struct {
		SessionID         json.RawMessage `json:"session_id"`
		SessionState      json.RawMessage `json:"session_state"`
		SessionReference  json.RawMessage `json:"session_reference"`
		SessionReferenace json.RawMessage `json:"session_referenace"`
	}
	if err := decodeObject(body, &w); err != nil {
		return Callback{}, invalidCallback(callbackSyntax(err))
	}
	id, set, err := parseID(w.SessionID)
	if err != nil {
		return Callback{}, invalidCallback("session_id: " + err.Error())
	}
	if set && id <= 0 {
		return Callback{}, invalidCallback("session_id is not positive")
	}
	var cb Callback
	cb.SessionID = id
	if cb.SessionState, err = optString(w.SessionState); err != nil {
		return Callback{}, invalidCallback("session_state: " + err.Error())
	}
	if cb.SessionReference, err = optString(w.SessionReference); err != nil {
		return Callback{}, invalidCallback("session_reference: " + err.Error())
	}
	if cb.SessionReference == "" {
		if cb.SessionReference, err = optString(w.SessionReferenace); err != nil {
			return Callback{}, invalidCallback("session_referenace: " + err.Error())
		}
	}
	if cb.SessionID == 0 && cb.SessionReference == "" {
		return Callback{}, invalidCallback("neither session_id nor session_reference")
	}
	return cb, nil
}

// optString reads a JSON string or null.
func optString(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", errors.New("not a string")
	}
	return s, nil
}

// callbackSyntax describes a body that is not a JSON object, without
// echoing it (the text ends up in logs).
func callbackSyntax(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("not JSON (at byte %d)", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("%q is a JSON %s", te.Field, te.Value)
	}
	return err.Error()
}
