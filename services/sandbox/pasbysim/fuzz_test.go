package pasbysim_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"portal/services/sandbox/pasbysim"
	"portal/services/sandbox/simtest"
)

// FuzzCreateBody posts arbitrary bodies to the signing and review routes
// with valid credentials: the answer is always a 201 or a 4xx JSON body in
// the documented envelope, never a 5xx, and the simulator never panics (a
// panic would reach the client as a broken connection).
func FuzzCreateBody(f *testing.F) {
	for _, name := range []string{"signing_request.json", "review_request.json"} {
		if b, err := os.ReadFile(filepath.Join(upstreamDir, name)); err == nil {
			f.Add(b, name == "review_request.json")
		}
	}
	for _, s := range []string{
		``, `{}`, `null`, `[]`, `"x"`, `0`, `{"to":null}`, `{"to":"12345678901"}`, `{"to":[null]}`,
		`{"to":["12345678901"],"file":"x","webhook":{}}`, `{"to":["12345678901"],"file":{"url":1,"title":[]}}`,
		`{"to":["12345678901"],"webhook":{"host":"https://h.example/x","reference":"r"},"file":{"url":"https://x.example/a.pdf","title":"T"}}`,
		`{"to":["12345678901"],"webhook":{"host":"http://[::1]:namedport","reference":"r"},"file":{"url":"https://x.example/a.pdf","title":"T"}}`,
		`{"to":["12345678901"],"webhook":{"host":"https://h.example/x","reference":"r"},"file":{"url":"https://%zz/a.pdf","title":"T"}}`,
		`{"to":["12345678901"],"webhook":{"host":"https://h.example/x","reference":"\u0000"},"file":{"url":"https://x.example/a.pdf","title":"T"}}`,
		`{"signee":[{}]}`, `{"signee":[null]}`, `{"signee":{"name":"x"}}`, `{"signee":[1,2]}`,
		`{"signee":[{"name":"A","type":"person","email":"A <a@example.com>","nin":"12345678901","representing":"A"}],"webhook":{"host":"https://h.example/x","reference":"r"},"file":{"url":"https://x.example/a.pdf","title":"T"}}`,
		`{"signee":[{"name":"A","type":"person","email":"a@example.com","nin":"12345678901","representing":"A","title":5}],"webhook":{"host":"https://h.example/x","reference":"r"},"file":{"url":"https://x.example/a.pdf","title":"T"}}`,
		`{"to":["12345678901"]} trailing`, "\xff\xfe{", `{"to":`, `{"file":{"url":"https://x.example/a.pdf","title":"` + "\xff" + `"}}`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	e := setup(f, pasbysim.Options{})
	f.Fuzz(func(t *testing.T, body []byte, review bool) {
		path := pasbysim.PathV2Signing
		if review {
			path = pasbysim.PathV2Review
		}
		status, answer := fuzzPost(t, e, path, body)
		if status >= 500 || status < 200 || (status >= 300 && status < 400) || (status < 300 && status != http.StatusCreated) {
			t.Fatalf("status %d for %q: %s", status, body, answer)
		}
		var v map[string]json.RawMessage
		if err := json.Unmarshal(answer, &v); err != nil {
			t.Fatalf("not JSON (%v) for %q: %s", err, body, answer)
		}
		var st string
		if err := json.Unmarshal(v["status"], &st); err != nil || v["reason"] == nil || v["version"] == nil {
			t.Fatalf("not an envelope for %q: %s", body, answer)
		}
		if (st == "successful") != (status == http.StatusCreated) || (status != http.StatusCreated && v["type"] == nil) {
			t.Fatalf("status %q with HTTP %d: %s", st, status, answer)
		}
	})
}

// fuzzPost posts body to path of e with the v2 credentials. It does not use
// e.do, whose failures would be reported on the *testing.F.
func fuzzPost(t *testing.T, e *env, path string, body []byte) (int, []byte) {
	t.Helper()
	req := simtest.NewRequest(t, http.MethodPost, e.base+path, string(body))
	for k, v := range v2Headers() {
		req.Header.Set(k, v)
	}
	st, _, b := simtest.Send(t, e.srv.Client(), req)
	return st, b
}
