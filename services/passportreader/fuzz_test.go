package passportreader

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"portal/services/upstream"
)

// FuzzParseCallback feeds arbitrary bodies to ParseCallback. It must never
// panic; what it accepts must name a session; what it refuses must be
// ErrInvalidCallback with a short text.
func FuzzParseCallback(f *testing.F) {
	for _, s := range []string{
		`{"session_id": 123, "session_state": "APPROVED", "session_reference": "ref-9f2c"}`,
		`{"session_id": "9223372036854775807", "session_referenace": "old"}`,
		`{"session_id": 9223372036854775808}`,
		`{"session_id": -0, "session_reference": null}`,
		`{"session_id": 1e2}`,
		`{"session_reference": "\u0000\ud800"}`,
		`{"SESSION_ID": 5}`,
		`[]`, `null`, ``, `{`, `{"session_id":`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cb, err := ParseCallback(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidCallback) || !strings.HasPrefix(err.Error(), "passportreader: ") {
				t.Fatalf("untyped error %v", err)
			}
			if len(err.Error()) > 300 {
				t.Fatalf("error text of %d bytes", len(err.Error()))
			}
			if cb != (Callback{}) {
				t.Fatalf("returned %+v with an error", cb)
			}
			return
		}
		if cb.SessionID < 0 || (cb.SessionID == 0 && cb.SessionReference == "") {
			t.Fatalf("accepted %+v", cb)
		}
		if !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
	})
}

// FuzzDecodeSession feeds arbitrary bytes to every answer decoder. They
// must never panic, what they accept must be usable, and what they refuse
// must be a malformed answer.
func FuzzDecodeSession(f *testing.F) {
	for _, name := range []string{"session_get_response.json", "session_create_response.json", "session_state_response.json", "error_response.json"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		sessionWith("9223372036854775807"),
		`{"id":"12","state":"X","created":"2024-13-45T99:99:99Z","portrait":"data:image/png;base64,===="}`,
		`{"id":1,"state":"A","face":"-_-_","portrait":"+/+/"}`,
		`{"id":1e400,"state":"A"}`,
		`{"id":1,"state":"A","expires":"\u2026"}`,
		`{"id":1,"state":"A"} x`, `[]`, `null`, `{"state":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkMalformed := func(what string, err error) {
			var me *upstream.MalformedError
			if !errors.As(err, &me) {
				t.Fatalf("%s: untyped error %v", what, err)
			}
			_ = me.Error()
		}
		s, err := decodeSession(b)
		if err != nil {
			checkMalformed("session", err)
		} else {
			if s.ID <= 0 || strings.TrimSpace(s.State) == "" || !json.Valid(s.Raw) {
				t.Fatalf("accepted %+v", s)
			}
			if s.Portrait != nil && len(s.Portrait) == 0 || s.Face != nil && len(s.Face) == 0 {
				t.Fatal("empty non-nil image")
			}
			if !s.Created.IsZero() && s.Created.Location().String() != "UTC" {
				t.Fatalf("created %v not in UTC", s.Created)
			}
		}
		if cs, err := decodeCreated(b); err != nil {
			checkMalformed("created", err)
		} else if cs.ID <= 0 || strings.TrimSpace(cs.Token) == "" {
			t.Fatalf("accepted %+v", cs)
		}
		if st, err := decodeState(b); err != nil {
			checkMalformed("state", err)
		} else if strings.TrimSpace(st) == "" {
			t.Fatal("accepted an empty state")
		}
		for _, status := range []int{400, 404, 500} {
			name, msg := complaint(b)
			if err := statusError(&upstream.Response{Status: status, Body: b}, name, msg); err != nil && !strings.HasPrefix(err.Error(), "passportreader: ") {
				t.Fatalf("HTTP %d: error %q", status, err)
			}
		}
		_ = decodeImage(string(b))
	})
}
