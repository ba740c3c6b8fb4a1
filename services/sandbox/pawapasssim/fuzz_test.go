package pawapasssim_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"portal/services/sandbox/pawapasssim"
	"portal/services/sandbox/simtest"
)

// fuzzDo sends a request with the API key. It does not use e.do, whose
// failures would be reported on the *testing.F.
func fuzzDo(t *testing.T, e *env, method, path string, body []byte) (int, []byte) {
	t.Helper()
	req := simtest.NewRequest(t, method, e.base+path, string(body))
	req.Header.Set("Authorization", "Bearer "+pawapasssim.DefaultAPIKey)
	req.Header.Set("Content-Type", "application/json")
	st, _, b := simtest.Send(t, e.srv.Client(), req)
	return st, b
}

// checkAnswer checks that an API answer is a 200 or a 4xx in the
// documented error shape, never a 5xx.
func checkAnswer(t *testing.T, input any, status int, answer []byte) map[string]json.RawMessage {
	t.Helper()
	var v map[string]json.RawMessage
	if err := json.Unmarshal(answer, &v); err != nil {
		t.Fatalf("not JSON (%v) for %q: %s", err, input, answer)
	}
	switch {
	case status == http.StatusOK:
	case status >= 400 && status < 500:
		var code int
		if json.Unmarshal(v["statusCode"], &code) != nil || code != status || v["code"] == nil || v["message"] == nil || len(v) != 3 {
			t.Fatalf("error %d for %q: %s", status, input, answer)
		}
	default:
		t.Fatalf("status %d for %q: %s", status, input, answer)
	}
	return v
}

// FuzzCreate posts arbitrary bodies to the create route: the answer is
// always a 200 verification or a 4xx error body, never a 5xx, and the
// simulator never panics (a panic would reach the client as a broken
// connection).
func FuzzCreate(f *testing.F) {
	for _, name := range []string{"create_request.json"} {
		f.Add(readTestdata(f, name))
	}
	for _, s := range []string{
		``, `{}`, `null`, `[]`, `"x"`, `0`, `{"externalId":null}`, `{"externalId":"\u0000"}`,
		body(), body(set("requirements", []any{})), body(set("requirements", []any{nil})),
		body(set("requirements", []any{map[string]any{"type": "FACE_SCAN", "options": map[string]any{"previousVerificationId": "aB1cD2eF"}}})),
		body(set("requirements", []any{map[string]any{"type": "FACE_SCAN", "options": []any{}}})),
		body(set("successUrl", "https://[::1]:namedport/x")), body(set("successUrl", "http://%zz")),
		body(set("country", "ZM"), set("expiresAt", "2099-01-01T00:00:00Z")), body(set("expiresAt", "9999-12-31T23:59:59.999999999+14:00")),
		body(set("expiresAt", "0000-01-01T00:00:00Z")), body(set("metadata", map[string]any{"phoneNo": 5})),
		body() + ` trailing`, "\xff\xfe{", `{"externalId":`, `{"externalId":"a","externalId":1}`,
	} {
		f.Add([]byte(s))
	}
	e := setup(f, pawapasssim.Options{WebhookURL: "off"})
	f.Fuzz(func(t *testing.T, in []byte) {
		status, answer := fuzzDo(t, e, http.MethodPost, "/v2/verifications/", in)
		v := checkAnswer(t, in, status, answer)
		if status == http.StatusOK && (len(v) != 18 || v["id"] == nil || v["status"] == nil) {
			t.Fatalf("not a verification for %q: %s", in, answer)
		}
	})
}

// FuzzListQuery sends arbitrary query strings to the list route.
func FuzzListQuery(f *testing.F) {
	for _, s := range []string{"", "page=0&limit=15", "limit=50", "limit=0", "page=-1", "page=9223372036854775807&limit=50",
		"statuses=CREATED&statuses=APPROVED", "statuses=", "id=x&externalId=y", "%zz", "limit=1e3", "page=+1"} {
		f.Add(s)
	}
	e := setup(f, pawapasssim.Options{WebhookURL: "off"})
	e.create()
	f.Fuzz(func(t *testing.T, q string) {
		status, answer := fuzzDo(t, e, http.MethodGet, "/v2/verifications/?"+url.PathEscape(q), nil)
		v := checkAnswer(t, q, status, answer)
		if status == http.StatusOK && (len(v) != 2 || v["items"] == nil || v["count"] == nil) {
			t.Fatalf("not a list for %q: %s", q, answer)
		}
	})
}
