package passportreader

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"portal/services/upstream"
)

// ErrInvalidCallback is ParseCallback refusing a body; such an error also
// matches upstream.ErrInvalidRequest.
var ErrInvalidCallback = errors.New("invalid callback")

// SessionNotFound is the one error_name the document shows.
const SessionNotFound = "SessionNotFound"

func invalidCallback(detail string) error {
	return vendor.Kind(detail, nil, ErrInvalidCallback, upstream.ErrInvalidRequest)
}

// complaint reads an error answer, {"error_message": "…", "error_name":
// "…"}, raw. A body that is not that shape (an HTML page from a proxy)
// leaves both empty.
func complaint(body []byte) (name, message string) {
	var w struct {
		Message json.RawMessage `json:"error_message"`
		Name    json.RawMessage `json:"error_name"`
	}
	if json.Unmarshal(body, &w) != nil {
		return "", ""
	}
	return upstream.JSONText(w.Name), upstream.JSONText(w.Message)
}

// statusError maps the answers PassportReader's own rules give a meaning;
// nil leaves the rest to upstream (401, 403, 429, 5xx, any other 4xx as a
// *upstream.RejectedError with Code the error_name).
func statusError(res *upstream.Response, name, message string) error {
	name, message = res.Clean(name), res.Clean(message)
	if res.Status < 400 {
		return nil
	}
	var b strings.Builder
	b.WriteString(upstream.StatusDetail(res.Status, ""))
	for _, s := range []string{name, message} {
		if s != "" {
			b.WriteString(": ")
			b.WriteString(s)
		}
	}
	switch {
	case name == SessionNotFound && (res.Status >= 500 || res.Status == http.StatusTooManyRequests):
		// The name says what is wrong, the status that asking again may
		// still help: both are kept, and reads retry it.
		return vendor.Kind(b.String(), nil, upstream.ErrNotFound, upstream.ErrUnavailable)
	case name == SessionNotFound, res.Status == http.StatusNotFound && (name != "" || message != ""):
		return vendor.NotFound(b.String())
	case res.Status == http.StatusNotFound:
		// No PassportReader error body: more likely a wrong BaseURL than an
		// unknown session [ours].
		return vendor.Unavailable(b.String()+" (check the base URL)", nil)
	}
	return nil
}
