package passportreader

import (
	"errors"
	"strings"
	"testing"

	"portal/services/upstream"
)

func TestParseCallback(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		want Callback
		bad  bool
	}{
		// The NOTES.md shape.
		{"documented", `{"session_id": 123, "session_state": "APPROVED", "session_reference": "ref-9f2c"}`,
			Callback{123, "APPROVED", "ref-9f2c"}, false},
		{"id as a string", `{"session_id": "123", "session_state": "COMPLETED", "session_reference": "r"}`,
			Callback{123, "COMPLETED", "r"}, false},
		{"id above 2^53", `{"session_id": 9007199254740993, "session_state": "INITIATED"}`,
			Callback{9007199254740993, "INITIATED", ""}, false},
		{"largest id", `{"session_id": 9223372036854775807}`, Callback{SessionID: 9223372036854775807}, false},
		{"largest id as a string", `{"session_id": " 9223372036854775807 "}`, Callback{SessionID: 9223372036854775807}, false},
		{"misspelt reference", `{"session_id": 7, "session_state": "FAILED", "session_referenace": "ref-old"}`,
			Callback{7, "FAILED", "ref-old"}, false},
		{"both spellings: the right one wins", `{"session_referenace": "old", "session_reference": "new"}`,
			Callback{SessionReference: "new"}, false},
		{"empty right spelling falls back", `{"session_reference": "", "session_referenace": "old"}`,
			Callback{SessionReference: "old"}, false},
		{"null right spelling falls back", `{"session_reference": null, "session_referenace": "old"}`,
			Callback{SessionReference: "old"}, false},
		{"reference only", `{"session_reference": "r"}`, Callback{SessionReference: "r"}, false},
		{"id only", `{"session_id": 1}`, Callback{SessionID: 1}, false},
		{"null id with reference", `{"session_id": null, "session_reference": "r"}`, Callback{SessionReference: "r"}, false},
		{"empty id string with reference", `{"session_id": "", "session_reference": "r"}`, Callback{SessionReference: "r"}, false},
		{"extra fields", `{"session_id": 1, "event": {"nested": [1,2]}, "x": true}`, Callback{SessionID: 1}, false},
		{"state kept as sent", `{"session_id": 1, "session_state": "approved "}`, Callback{1, "approved ", ""}, false},
		{"white space around", "\n\t {\"session_id\": 2} \r\n", Callback{SessionID: 2}, false},

		{"neither id nor reference", `{"session_state": "APPROVED"}`, Callback{}, true},
		{"empty object", `{}`, Callback{}, true},
		{"empty reference only", `{"session_reference": "", "session_referenace": ""}`, Callback{}, true},
		{"empty body", ``, Callback{}, true},
		{"not JSON", `session_id=1&session_state=APPROVED`, Callback{}, true},
		{"truncated", `{"session_id": 1, "session_state": "APP`, Callback{}, true},
		{"array", `[{"session_id": 1}]`, Callback{}, true},
		{"null", `null`, Callback{}, true},
		{"string", `"session_id"`, Callback{}, true},
		{"trailing data", `{"session_id": 1}{"session_id": 2}`, Callback{}, true},
		{"id float", `{"session_id": 1.5}`, Callback{}, true},
		{"id integral float", `{"session_id": 1.0, "session_reference": "r"}`, Callback{}, true},
		{"id exponent", `{"session_id": 1e3}`, Callback{}, true},
		{"id too big", `{"session_id": 9223372036854775808}`, Callback{}, true},
		{"id too big as a string", `{"session_id": "99999999999999999999"}`, Callback{}, true},
		{"id zero", `{"session_id": 0, "session_reference": "r"}`, Callback{}, true},
		{"id negative", `{"session_id": -5}`, Callback{}, true},
		{"id not numeric", `{"session_id": "abc", "session_reference": "r"}`, Callback{}, true},
		{"id bool", `{"session_id": true}`, Callback{}, true},
		{"id object", `{"session_id": {"v": 1}}`, Callback{}, true},
		{"state a number", `{"session_id": 1, "session_state": 3}`, Callback{}, true},
		{"reference a number", `{"session_id": 1, "session_reference": 3}`, Callback{}, true},
		{"misspelt reference a list", `{"session_id": 1, "session_referenace": ["r"]}`, Callback{}, true},
		{"huge", `{"session_reference": "` + strings.Repeat("x", 70<<10) + `"}`, Callback{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCallback([]byte(tc.body))
			if tc.bad {
				if err == nil {
					t.Fatalf("accepted: %+v", got)
				}
				if !errors.Is(err, ErrInvalidCallback) || !errors.Is(err, upstream.ErrInvalidRequest) {
					t.Errorf("err = %v, want ErrInvalidCallback", err)
				}
				if !strings.HasPrefix(err.Error(), "passportreader: ") || len(err.Error()) > 200 {
					t.Errorf("err text %q", err)
				}
				if got != (Callback{}) {
					t.Errorf("returned %+v with the error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseCallbackDoesNotEchoTheBody(t *testing.T) {
	_, err := ParseCallback([]byte(`{"session_id": "secret-PLEASE-DO-NOT-LOG"}`))
	if err == nil || strings.Contains(err.Error(), "PLEASE-DO-NOT-LOG") {
		t.Fatalf("err = %v", err)
	}
	_, err = ParseCallback([]byte(`secret-PLEASE-DO-NOT-LOG`))
	if err == nil || strings.Contains(err.Error(), "PLEASE-DO-NOT-LOG") {
		t.Fatalf("err = %v", err)
	}
}
