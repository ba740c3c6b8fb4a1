package passportreadersim_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"portal/services/sandbox/passportreadersim"
	"portal/services/sandbox/simtest"
)

// FuzzRequestBody posts arbitrary bodies to the three methods with valid
// credentials: the answer is always JSON, a 200 with the method's keys or
// a 400/404 in the document's error shape, never a 5xx, and the simulator
// never panics (a panic would reach the client as a broken connection).
func FuzzRequestBody(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `{ "id": 123 }`, `{"id":1}`, `null`, `[]`, `"x"`, `0`, `true`, `{"id":"1"}`, `{"id":1.0}`, `{"id":-1}`,
		`{"id":9223372036854775807}`, `{"id":9223372036854775808}`, `{"id":1e400}`, `{"id":-0}`, `{"id":01}`,
		`{"callback_url":"https://x.example/cb","face_verification":true,"reference":"r","passport_only":false}`,
		`{"callback_url":"http://[::1]:namedport"}`, `{"callback_url":"https://%zz/"}`, `{"callback_url":1}`,
		`{"reference":"\u0000\ud800"}`, `{"face_verification":"true"}`, `{"id":1} trailing`, "\xff\xfe{", `{"id":`,
		`{"a":{"b":{"c":[[[[]]]]}}}`, `{"id":1,"id":"x"}`, " \n ",
	} {
		for m := range uint8(3) {
			f.Add([]byte(s), m)
		}
	}
	e := setup(f, passportreadersim.Options{})
	paths := []string{passportreadersim.PathCreate, passportreadersim.PathGet, passportreadersim.PathState}
	f.Fuzz(func(t *testing.T, body []byte, method uint8) {
		path := paths[int(method)%len(paths)]
		status, answer := fuzzPost(t, e.base+path, "", body)
		var v map[string]json.RawMessage
		if err := json.Unmarshal(answer, &v); err != nil {
			t.Fatalf("not a JSON object (%v) for %q: %s", err, body, answer)
		}
		switch status {
		case http.StatusOK:
			want := map[string][]string{
				passportreadersim.PathCreate: {"id", "token"},
				passportreadersim.PathGet:    nil, // checked by the contract tests
				passportreadersim.PathState:  {"state"},
			}[path]
			for _, k := range want {
				if v[k] == nil {
					t.Fatalf("200 without %s for %q: %s", k, body, answer)
				}
			}
		case http.StatusBadRequest, http.StatusNotFound:
			if len(v) != 2 || v["error_message"] == nil || v["error_name"] == nil {
				t.Fatalf("error %d without the error shape for %q: %s", status, body, answer)
			}
		default:
			t.Fatalf("status %d for %q: %s", status, body, answer)
		}
	})
}

// FuzzScanForm posts arbitrary values to the /open page's scan step: a
// good scan redirects (303) and completes the session with values
// session.get serves; a bad one is a 400 page; nothing else.
func FuzzScanForm(f *testing.F) {
	f.Add("ADA", "BYRON", "GB", "FEMALE", "1815-12-10", "", "PASSPORT", "X1234567", "2031-01-01", "GB", "HM PASSPORT OFFICE")
	f.Add("", "", "", "", "", "", "", "", "", "", "")
	f.Add("<b>", "O'NEIL\x00", "ng", "male", "2000-02-29", "123", "passport", "a1", "2001-02-29", "N", "\xff")
	e := setup(f, passportreadersim.Options{})
	f.Fuzz(func(t *testing.T, given, surname, nationality, sex, born, personal, docType, docNumber, expiry, issuing, issuer string) {
		st, b := fuzzPost(t, e.base+passportreadersim.PathCreate, "", nil)
		var c created
		if err := json.Unmarshal(b, &c); st != http.StatusOK || err != nil {
			t.Fatalf("create: %d %s", st, b)
		}
		if err := e.sim.Initiate(c.ID); err != nil {
			t.Fatal(err)
		}
		form := url.Values{
			"step": {"scan"}, "given_names": {given}, "surname": {surname}, "nationality": {nationality}, "sex": {sex},
			"date_of_birth": {born}, "personal_number": {personal}, "document_type": {docType}, "document_number": {docNumber},
			"expiry_date": {expiry}, "issuing_country": {issuing}, "issuer": {issuer},
		}
		page := e.base + passportreadersim.PathOpen + "?token=" + url.QueryEscape(c.Token)
		status, answer := fuzzPost(t, page, "application/x-www-form-urlencoded", []byte(form.Encode()))
		s, _ := e.sim.Session(c.ID)
		switch status {
		case http.StatusSeeOther:
			st, b := fuzzPost(t, e.base+passportreadersim.PathGet, "", []byte(`{"id":`+strconv.FormatInt(c.ID, 10)+`}`))
			if s.State != passportreadersim.StateCompleted || st != http.StatusOK || !json.Valid(b) {
				t.Fatalf("after a good scan: %s, get %d %s", s.State, st, b)
			}
		case http.StatusBadRequest:
			if s.State != passportreadersim.StateInitiated {
				t.Fatalf("a refused scan left the session %s", s.State)
			}
		default:
			t.Fatalf("status %d: %s", status, answer)
		}
	})
}

// fuzzPost posts body to u with the default credentials, without following
// redirects. It does not use the env helpers, whose failures would be
// reported on the *testing.F.
func fuzzPost(t *testing.T, u, contentType string, body []byte) (int, []byte) {
	t.Helper()
	req := simtest.NewRequest(t, http.MethodPost, u, string(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.SetBasicAuth(passportreadersim.DefaultPublicKey, passportreadersim.DefaultSecret)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	st, _, b := simtest.Send(t, client, req)
	return st, b
}
