package pawapass

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"portal/services/upstream"
)

// minimalRequest has only the required fields.
func minimalRequest() CreateRequest {
	return CreateRequest{
		ExternalID:   "user-1",
		Requirements: []Requirement{{Type: RequirementDocumentScan}},
		SuccessURL:   "https://portal.example/ok",
		ErrorURL:     "https://portal.example/err",
		SupportURL:   "http://portal.example/help",
	}
}

func TestCreateBodies(t *testing.T) {
	const urls = `"successUrl":"https://portal.example/ok","errorUrl":"https://portal.example/err","supportUrl":"http://portal.example/help"`
	for _, tc := range []struct {
		name string
		mod  func(*CreateRequest)
		want string
	}{
		{"required only", func(*CreateRequest) {},
			`{"externalId":"user-1","requirements":[{"type":"DOCUMENT_SCAN"}],` + urls + `}`},
		{"face re-verification", func(r *CreateRequest) {
			r.Requirements = []Requirement{{Type: RequirementFaceScan, Options: &RequirementOptions{PreviousVerificationID: "aB1cD2eF"}}}
		}, `{"externalId":"user-1","requirements":[{"type":"FACE_SCAN","options":{"previousVerificationId":"aB1cD2eF"}}],` + urls + `}`},
		{"empty options", func(r *CreateRequest) {
			r.Requirements = []Requirement{{Type: RequirementFaceScan, Options: &RequirementOptions{}}}
		}, `{"externalId":"user-1","requirements":[{"type":"FACE_SCAN","options":{}}],` + urls + `}`},
		{"expiresAt in another zone, sub-millisecond", func(r *CreateRequest) {
			r.ExpiresAt = time.Date(2025, 8, 27, 11, 0, 0, 123456789, time.FixedZone("CAT", 2*3600))
		}, `{"externalId":"user-1","requirements":[{"type":"DOCUMENT_SCAN"}],` + urls + `,"expiresAt":"2025-08-27T09:00:00.123Z"}`},
		{"empty metadata is left out", func(r *CreateRequest) { r.Metadata = map[string]string{} },
			`{"externalId":"user-1","requirements":[{"type":"DOCUMENT_SCAN"}],` + urls + `}`},
		{"all optional", func(r *CreateRequest) {
			r.Country, r.PhoneNo, r.CreatedBy = "KE", "+254712345678", "ops@portal.example"
			r.Metadata = map[string]string{"b": "2", "a": "<1>"}
		}, `{"externalId":"user-1","requirements":[{"type":"DOCUMENT_SCAN"}],` + urls +
			`,"country":"KE","phoneNo":"+254712345678","metadata":{"a":"\u003c1\u003e","b":"2"},"createdBy":"ops@portal.example"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newFake(t, answer(http.StatusCreated, verificationJSON("v1", StatusCreated)))
			r := minimalRequest()
			tc.mod(&r)
			if _, err := testClient(u.URL).Create(context.Background(), r); err != nil {
				t.Fatal(err)
			}
			if got := string(u.last(t).body); got != tc.want {
				t.Errorf("body\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestBaseURLTrailingSlash(t *testing.T) {
	u := newFake(t, answer(http.StatusOK, verificationJSON("v1", StatusCreated)))
	c := New(Config{BaseURL: " " + u.URL + "/v2/ ", APIKey: testKey})
	if _, err := c.Create(context.Background(), minimalRequest()); err != nil {
		t.Fatal(err)
	}
	if p := u.last(t).path; p != "/v2/verifications/" {
		t.Errorf("create path = %q", p)
	}
	if _, err := c.Get(context.Background(), "v1"); err != nil {
		t.Fatal(err)
	}
	if p := u.last(t).path; p != "/v2/verifications/v1" {
		t.Errorf("get path = %q", p)
	}
}

func TestCreateValidationSendsNothing(t *testing.T) {
	u := newFake(t, answer(http.StatusCreated, verificationJSON("v1", StatusCreated)))
	c := testClient(u.URL)
	for _, tc := range []struct {
		name string
		mod  func(*CreateRequest)
	}{
		{"empty externalId", func(r *CreateRequest) { r.ExternalID = "" }},
		{"blank externalId", func(r *CreateRequest) { r.ExternalID = " \t" }},
		{"NUL in externalId", func(r *CreateRequest) { r.ExternalID = "a\x00b" }},
		{"no requirements", func(r *CreateRequest) { r.Requirements = nil }},
		{"unknown requirement", func(r *CreateRequest) { r.Requirements = []Requirement{{Type: "SELFIE"}} }},
		{"lower-case requirement", func(r *CreateRequest) { r.Requirements = []Requirement{{Type: "face_scan"}} }},
		{"NUL in previousVerificationId", func(r *CreateRequest) {
			r.Requirements = []Requirement{{Type: RequirementFaceScan, Options: &RequirementOptions{PreviousVerificationID: "\x00"}}}
		}},
		{"no successUrl", func(r *CreateRequest) { r.SuccessURL = "" }},
		{"no errorUrl", func(r *CreateRequest) { r.ErrorURL = "" }},
		{"no supportUrl", func(r *CreateRequest) { r.SupportURL = "" }},
		{"relative URL", func(r *CreateRequest) { r.SuccessURL = "/ok" }},
		{"ftp URL", func(r *CreateRequest) { r.ErrorURL = "ftp://portal.example/err" }},
		{"upper-case scheme", func(r *CreateRequest) { r.ErrorURL = "HTTPS://portal.example/err" }},
		{"no host", func(r *CreateRequest) { r.SupportURL = "https:///help" }},
		{"space in URL", func(r *CreateRequest) { r.SupportURL = "https://portal.example/he lp" }},
		{"unknown country", func(r *CreateRequest) { r.Country = "FR" }},
		{"lower-case country", func(r *CreateRequest) { r.Country = "zm" }},
		{"NUL in phoneNo", func(r *CreateRequest) { r.PhoneNo = "+260\x00" }},
		{"NUL in createdBy", func(r *CreateRequest) { r.CreatedBy = "a\x00" }},
		{"expiresAt past year 9999", func(r *CreateRequest) { r.ExpiresAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := minimalRequest()
			tc.mod(&r)
			_, err := c.Create(context.Background(), r)
			t.Logf("err: %v", err)
			if !errors.Is(err, upstream.ErrInvalidRequest) || errors.Is(err, upstream.ErrUnavailable) || upstream.IsUnknown(err) {
				t.Fatalf("err = %v, want upstream.ErrInvalidRequest only", err)
			}
			checkErrText(t, err)
		})
	}
	if n := u.reqs.Load(); n != 0 {
		t.Errorf("requests = %d, want 0", n)
	}
	// Every documented country passes.
	for _, cc := range Countries {
		r := minimalRequest()
		r.Country = cc
		if err := r.validate(); err != nil {
			t.Errorf("%s: %v", cc, err)
		}
	}
}

func TestGetRequest(t *testing.T) {
	for _, tc := range []struct{ id, wantPath string }{
		{"aB1cD2eF", "/v2/verifications/aB1cD2eF"},
		{" aB1cD2eF\n", "/v2/verifications/aB1cD2eF"},
		{"odd/id", "/v2/verifications/odd%2Fid"},
		{"a b?c#d", "/v2/verifications/a%20b%3Fc%23d"},
	} {
		t.Run(tc.id, func(t *testing.T) {
			want := strings.TrimSpace(tc.id)
			u := newFake(t, answer(http.StatusOK, verificationJSON(want, StatusStarted)))
			v, err := testClient(u.URL).Get(context.Background(), tc.id)
			if err != nil {
				t.Fatal(err)
			}
			if v.ID != want || v.Status != StatusStarted {
				t.Errorf("verification = %+v", v)
			}
			sent := u.last(t)
			if sent.method != http.MethodGet || sent.rawPath != tc.wantPath || sent.rawQuery != "" {
				t.Errorf("sent %s %s?%s, want GET %s", sent.method, sent.rawPath, sent.rawQuery, tc.wantPath)
			}
			if got := sent.header.Get("Authorization"); got != "Bearer "+testKey {
				t.Errorf("Authorization = %q", got)
			}
			if got := sent.header.Get("Accept"); got != "application/json" {
				t.Errorf("Accept = %q", got)
			}
			if got := sent.header.Get("Content-Type"); got != "" {
				t.Errorf("Content-Type = %q on a GET without a body", got)
			}
			if len(sent.body) != 0 {
				t.Errorf("body = %q", sent.body)
			}
		})
	}
}

func TestGetInvalidIDSendsNothing(t *testing.T) {
	u := newFake(t, answer(http.StatusOK, verificationJSON("v1", StatusCreated)))
	c := testClient(u.URL)
	for _, id := range []string{"", "  ", ".", ".."} {
		_, err := c.Get(context.Background(), id)
		if !errors.Is(err, upstream.ErrInvalidRequest) {
			t.Errorf("Get(%q) err = %v, want upstream.ErrInvalidRequest", id, err)
		}
	}
	if n := u.reqs.Load(); n != 0 {
		t.Errorf("requests = %d, want 0", n)
	}
}

func TestGetAnswerForAnotherVerification(t *testing.T) {
	u := newFake(t, answer(http.StatusOK, verificationJSON("someone-else", StatusApproved)))
	_, err := testClient(u.URL).Get(context.Background(), "v1")
	t.Logf("err: %v", err)
	if !errors.Is(err, upstream.ErrUnavailable) {
		t.Fatalf("err = %v, want upstream.ErrUnavailable", err)
	}
	checkErrText(t, err)
}

func TestListQueryEncoding(t *testing.T) {
	for _, tc := range []struct {
		name string
		q    ListQuery
		want url.Values
	}{
		{"zero", ListQuery{}, url.Values{"page": {"0"}}},
		{"page and limit", ListQuery{Page: 3, Limit: 50}, url.Values{"page": {"3"}, "limit": {"50"}}},
		{"filters", ListQuery{Page: 1, Limit: 1, ID: "aB1cD2eF", ExternalID: "user&zm=1 +x"},
			url.Values{"page": {"1"}, "limit": {"1"}, "id": {"aB1cD2eF"}, "externalId": {"user&zm=1 +x"}}},
		{"statuses repeated", ListQuery{Statuses: []string{StatusApproved, "", StatusDeclined}},
			url.Values{"page": {"0"}, "statuses": {"APPROVED", "DECLINED"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newFake(t, answer(http.StatusOK, `{"items":[],"count":0}`))
			res, err := testClient(u.URL).List(context.Background(), tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if res.Items == nil || len(res.Items) != 0 || res.Count != 0 {
				t.Errorf("result = %+v", res)
			}
			sent := u.last(t)
			if sent.method != http.MethodGet || sent.path != "/v2/verifications/" {
				t.Errorf("sent %s %s", sent.method, sent.path)
			}
			got, err := url.ParseQuery(sent.rawQuery)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("query %q = %v, want %v", sent.rawQuery, got, tc.want)
			}
			if got := sent.header.Get("Authorization"); got != "Bearer "+testKey {
				t.Errorf("Authorization = %q", got)
			}
		})
	}
	// The repeated form, not statuses=A,B or statuses[]=A.
	u := newFake(t, answer(http.StatusOK, `{"items":[],"count":0}`))
	if _, err := testClient(u.URL).List(context.Background(), ListQuery{Statuses: []string{"REVIEW", "STARTED"}}); err != nil {
		t.Fatal(err)
	}
	if q := u.last(t).rawQuery; !strings.Contains(q, "statuses=REVIEW&statuses=STARTED") {
		t.Errorf("query = %q", q)
	}
}

func TestListInvalidQuerySendsNothing(t *testing.T) {
	u := newFake(t, answer(http.StatusOK, `{"items":[],"count":0}`))
	c := testClient(u.URL)
	for _, q := range []ListQuery{{Page: -1}, {Limit: -1}, {Limit: 51}} {
		if _, err := c.List(context.Background(), q); !errors.Is(err, upstream.ErrInvalidRequest) {
			t.Errorf("%+v: err = %v, want upstream.ErrInvalidRequest", q, err)
		}
	}
	if n := u.reqs.Load(); n != 0 {
		t.Errorf("requests = %d, want 0", n)
	}
}

func TestListDecodes(t *testing.T) {
	body := `{"items":[` + verificationJSON("v1", StatusApproved) + `,` + verificationJSON("v2", StatusReview) + `],"count":17,"page":0}`
	u := newFake(t, answer(http.StatusOK, body))
	res, err := testClient(u.URL).List(context.Background(), ListQuery{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 17 || len(res.Items) != 2 || res.Items[0].ID != "v1" || res.Items[1].Status != StatusReview {
		t.Fatalf("result = %+v", res)
	}
	if string(res.Items[1].Raw) != verificationJSON("v2", StatusReview) {
		t.Errorf("Raw = %s", res.Items[1].Raw)
	}
}

func TestMalformedReadAnswersAreUnavailable(t *testing.T) {
	for name, body := range map[string]string{
		"truncated":        `{"id": "v1`,
		"html":             `<html>ok</html>`,
		"empty":            ``,
		"null":             `null`,
		"array":            `[]`,
		"no id":            `{"status":"CREATED"}`,
		"id not a string":  `{"id":5}`,
		"bad time":         `{"id":"v1","createdAt":"yesterday"}`,
		"time not string":  `{"id":"v1","createdAt":1700000000}`,
		"requirements obj": `{"id":"v1","requirements":{"type":"FACE_SCAN"}}`,
		"identity string":  `{"id":"v1","identityDocument":"yes"}`,
		"trailing data":    `{"id":"v1"}{"id":"v2"}`,
	} {
		t.Run(name, func(t *testing.T) {
			u := newFake(t, answer(http.StatusOK, body))
			_, err := testClient(u.URL).Get(context.Background(), "v1")
			t.Logf("err: %v", err)
			if !errors.Is(err, upstream.ErrUnavailable) || upstream.IsUnknown(err) {
				t.Fatalf("err = %v, want upstream.ErrUnavailable", err)
			}
			checkErrText(t, err)
			if n := u.reqs.Load(); n != 1 {
				t.Errorf("requests = %d, want 1 (a malformed answer is not retried)", n)
			}
		})
	}
	for name, body := range map[string]string{
		"empty object":   `{}`,
		"no count":       `{"items":[]}`,
		"no items":       `{"count":0}`,
		"null items":     `{"items":null,"count":0}`,
		"items object":   `{"items":{},"count":0}`,
		"negative count": `{"items":[],"count":-1}`,
		"fraction count": `{"items":[],"count":1.5}`,
		"item no id":     `{"items":[{"status":"CREATED"}],"count":1}`,
		"item not obj":   `{"items":["v1"],"count":1}`,
		"array":          `[]`,
	} {
		t.Run("list "+name, func(t *testing.T) {
			u := newFake(t, answer(http.StatusOK, body))
			_, err := testClient(u.URL).List(context.Background(), ListQuery{})
			t.Logf("err: %v", err)
			if !errors.Is(err, upstream.ErrUnavailable) {
				t.Fatalf("err = %v, want upstream.ErrUnavailable", err)
			}
			checkErrText(t, err)
			if n := u.reqs.Load(); n != 1 {
				t.Errorf("requests = %d, want 1", n)
			}
		})
	}
}

func TestDecodeTolerance(t *testing.T) {
	for _, tc := range []struct {
		name  string
		body  string
		check func(t *testing.T, v Verification)
	}{
		{"nulls", verificationJSON("v1", StatusCreated), func(t *testing.T, v Verification) {
			if v.Country != "" || v.PhoneNo != "" || v.CreatedBy != "" || v.Metadata != nil ||
				v.IdentityDocument != nil || v.FaceScan != nil || v.ReviewResult != nil {
				t.Errorf("nulls not empty: %+v", v)
			}
		}},
		{"absent fields", `{"id":"v1"}`, func(t *testing.T, v Verification) {
			if v.Status != "" || !v.CreatedAt.IsZero() || v.Requirements != nil || v.Metadata != nil {
				t.Errorf("%+v", v)
			}
		}},
		{"unknown fields", `{"id":"v1","status":"STARTED","futureField":{"x":[1,2]},"faceScan":{"ageEstimation":"UNKNOWN","liveness":0.9}}`,
			func(t *testing.T, v Verification) {
				if v.Status != StatusStarted || v.FaceScan == nil || v.FaceScan.AgeEstimation != "UNKNOWN" {
					t.Errorf("%+v", v)
				}
			}},
		{"times", `{"id":"v1","expiresAt":"2025-08-27T09:00:00Z","createdAt":"2025-08-20T11:00:00.5+02:00","updatedAt":"2025-08-20T09:00:00.123456"}`,
			func(t *testing.T, v Verification) {
				if !v.ExpiresAt.Equal(time.Date(2025, 8, 27, 9, 0, 0, 0, time.UTC)) ||
					!v.CreatedAt.Equal(time.Date(2025, 8, 20, 9, 0, 0, 5e8, time.UTC)) ||
					!v.UpdatedAt.Equal(time.Date(2025, 8, 20, 9, 0, 0, 123456000, time.UTC)) {
					t.Errorf("times %v %v %v", v.ExpiresAt, v.CreatedAt, v.UpdatedAt)
				}
				if v.CreatedAt.Location() != time.UTC {
					t.Errorf("times are not in UTC: %v", v.CreatedAt.Location())
				}
			}},
		{"empty time string", `{"id":"v1","expiresAt":""}`, func(t *testing.T, v Verification) {
			if !v.ExpiresAt.IsZero() {
				t.Errorf("expiresAt = %v", v.ExpiresAt)
			}
		}},
		{"metadata any", `{"id":"v1","metadata":["a",1]}`, func(t *testing.T, v Verification) {
			if string(v.Metadata) != `["a",1]` {
				t.Errorf("metadata = %s", v.Metadata)
			}
		}},
		{"empty objects", `{"id":"v1","identityDocument":{},"reviewResult":{"reason":null}}`, func(t *testing.T, v Verification) {
			if v.IdentityDocument == nil || v.ReviewResult == nil || v.ReviewResult.Reason != "" {
				t.Errorf("%+v", v)
			}
		}},
		{"options null", `{"id":"v1","requirements":[{"type":"FACE_SCAN","options":null},{"type":"FACE_SCAN","options":{"previousVerificationId":"p1"}}]}`,
			func(t *testing.T, v Verification) {
				if len(v.Requirements) != 2 || v.Requirements[0].Options != nil || v.Requirements[1].Options.PreviousVerificationID != "p1" {
					t.Errorf("%+v", v.Requirements)
				}
			}},
		{"white space around", " \n" + `{"id":"v1"}` + "\n", func(t *testing.T, v Verification) {
			if string(v.Raw) != `{"id":"v1"}` {
				t.Errorf("Raw = %q", v.Raw)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newFake(t, answer(http.StatusOK, tc.body))
			v, err := testClient(u.URL).Get(context.Background(), "v1")
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, v)
		})
	}
}

func TestStatusErrorMapping(t *testing.T) {
	type want struct {
		sentinel error
		rejected *upstream.RejectedError
	}
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   want
	}{
		{"401", 401, `{"statusCode":401,"code":"UNAUTHORIZED","message":"Unauthorized"}`, want{sentinel: upstream.ErrBadCredentials}},
		{"403", 403, `{"statusCode":403,"code":"FORBIDDEN","message":"Forbidden"}`, want{sentinel: upstream.ErrForbidden}},
		{"404", 404, `{"statusCode":404,"code":"NOT_FOUND","message":"Verification not found"}`, want{sentinel: upstream.ErrNotFound}},
		{"404 bare", 404, `404 page not found`, want{sentinel: upstream.ErrNotFound}},
		{"400 message list", 400, `{"statusCode":400,"code":"VALIDATION_ERROR","message":["externalId should not be empty","country must be one of AO, BJ"]}`,
			want{rejected: &upstream.RejectedError{Vendor: vendor, Status: 400, Code: "VALIDATION_ERROR", Message: "externalId should not be empty; country must be one of AO, BJ"}}},
		{"400 fastify", 400, `{"statusCode":400,"code":"FST_ERR_VALIDATION","error":"Bad Request","message":"body must have required property 'externalId'"}`,
			want{rejected: &upstream.RejectedError{Vendor: vendor, Status: 400, Code: "FST_ERR_VALIDATION", Message: "body must have required property 'externalId'"}}},
		{"400 error as code", 400, `{"statusCode":400,"error":"Bad Request","message":"limit must not be greater than 50"}`,
			want{rejected: &upstream.RejectedError{Vendor: vendor, Status: 400, Code: "Bad Request", Message: "limit must not be greater than 50"}}},
		{"409", 409, `{"statusCode":409,"code":"CONFLICT","message":"externalId already used"}`,
			want{rejected: &upstream.RejectedError{Vendor: vendor, Status: 409, Code: "CONFLICT", Message: "externalId already used"}}},
		{"422 not json", 422, `oops`, want{rejected: &upstream.RejectedError{Vendor: vendor, Status: 422}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newFake(t, answer(tc.status, tc.body))
			c := testClient(u.URL)
			calls := map[string]func() error{
				"get":    func() error { _, err := c.Get(context.Background(), "v1"); return err },
				"list":   func() error { _, err := c.List(context.Background(), ListQuery{}); return err },
				"create": func() error { _, err := c.Create(context.Background(), minimalRequest()); return err },
			}
			for name, call := range calls {
				before := u.reqs.Load()
				err := call()
				t.Logf("%s: %v", name, err)
				checkErrText(t, err)
				if upstream.IsUnknown(err) || errors.Is(err, upstream.ErrUnavailable) || errors.Is(err, upstream.ErrNotSent) {
					t.Errorf("%s: err = %v, a 4xx is a definite answer", name, err)
				}
				if tc.want.sentinel != nil && !errors.Is(err, tc.want.sentinel) {
					t.Errorf("%s: err = %v, want %v", name, err, tc.want.sentinel)
				}
				if tc.want.rejected != nil {
					var rej *upstream.RejectedError
					if !errors.As(err, &rej) || *rej != *tc.want.rejected {
						t.Errorf("%s: err = %#v, want %#v", name, err, tc.want.rejected)
					}
				}
				if n := u.reqs.Load() - before; n != 1 {
					t.Errorf("%s: requests = %d, want 1 (a 4xx is never retried)", name, n)
				}
			}
		})
	}
}

// TestRejectedErrorText: what a person reads for pawaPass's refusals.
func TestRejectedErrorText(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		want   string
	}{
		{400, `{"statusCode":400,"code":"VALIDATION_ERROR","message":["a","b"]}`, "pawapass: rejected: HTTP 400 Bad Request (VALIDATION_ERROR): a; b"},
		{422, `oops`, "pawapass: rejected: HTTP 422 Unprocessable Entity"},
		{499, `{"message":"x"}`, "pawapass: rejected: HTTP 499: x"},
	} {
		u := newFake(t, answer(tc.status, tc.body))
		_, err := testClient(u.URL).Get(context.Background(), "v1")
		if err == nil || err.Error() != tc.want {
			t.Errorf("%d: Error() = %v, want %q", tc.status, err, tc.want)
		}
	}
}

func TestReadsRetriedThenSucceed(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(w http.ResponseWriter, r *http.Request)
	}{
		{"503", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 503, `{"statusCode":503,"message":"busy"}`) }},
		{"500", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 500, `{}`) }},
		{"429", func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, 429, `{"statusCode":429,"message":"slow down"}`)
		}},
		{"connection dropped", func(w http.ResponseWriter, _ *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				panic(err)
			}
			conn.Close()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newFake(t, func(w http.ResponseWriter, r *http.Request, n int64) {
				if n%3 != 0 { // 1, 2 fail; 3 answers; 4, 5 fail; 6 answers
					tc.fail(w, r)
					return
				}
				if r.URL.Path == "/v2/verifications/" {
					writeJSON(w, 200, `{"items":[],"count":0}`)
					return
				}
				writeJSON(w, 200, verificationJSON("v1", StatusApproved))
			})
			c := testClient(u.URL)
			v, err := c.Get(context.Background(), "v1")
			if err != nil {
				t.Fatal(err)
			}
			if v.Status != StatusApproved {
				t.Errorf("status = %q", v.Status)
			}
			if n := u.reqs.Load(); n != 3 {
				t.Errorf("get requests = %d, want 3", n)
			}
			if _, err := c.List(context.Background(), ListQuery{}); err != nil {
				t.Fatal(err)
			}
			if n := u.reqs.Load(); n != 6 {
				t.Errorf("requests = %d, want 6", n)
			}
		})
	}
}

func TestReadsGiveUpAfterThreeRetries(t *testing.T) {
	u := newFake(t, answer(503, `{"statusCode":503,"code":"UNAVAILABLE","message":"down for maintenance"}`))
	_, err := testClient(u.URL).Get(context.Background(), "v1")
	t.Logf("err: %v", err)
	if !errors.Is(err, upstream.ErrUnavailable) || errors.Is(err, upstream.ErrNotSent) {
		t.Fatalf("err = %v, want upstream.ErrUnavailable", err)
	}
	checkErrText(t, err)
	if !strings.Contains(err.Error(), "down for maintenance") {
		t.Errorf("error %q lacks the upstream message", err)
	}
	if n := u.reqs.Load(); n != 4 {
		t.Errorf("requests = %d, want 4 (1 + 3 retries)", n)
	}
}

func TestCancelledContextSendsNothing(t *testing.T) {
	u := newFake(t, answer(200, verificationJSON("v1", StatusCreated)))
	c := testClient(u.URL)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Get(ctx, "v1")
	if !errors.Is(err, upstream.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("get err = %v, want upstream.ErrUnavailable wrapping context.Canceled", err)
	}
	_, err = c.Create(ctx, minimalRequest())
	t.Logf("create err: %v", err)
	if upstream.IsUnknown(err) || !errors.Is(err, upstream.ErrUnavailable) || !errors.Is(err, upstream.ErrNotSent) || !errors.Is(err, context.Canceled) {
		t.Errorf("create err = %v, want upstream.ErrUnavailable + upstream.ErrNotSent", err)
	}
	if n := u.reqs.Load(); n != 0 {
		t.Errorf("requests = %d, want 0", n)
	}
}

func TestCreateAcceptsSuccessCodes(t *testing.T) {
	for _, status := range []int{200, 201} {
		u := newFake(t, answer(status, verificationJSON("v9", StatusCreated)))
		v, err := testClient(u.URL).Create(context.Background(), minimalRequest())
		if err != nil || v.ID != "v9" {
			t.Errorf("%d: %+v, %v", status, v, err)
		}
	}
}

func TestCreateServerErrorIsNotRetried(t *testing.T) {
	for _, status := range []int{500, 503, 429} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			u := newFake(t, answer(status, `{"statusCode":503,"message":"temporarily out of order"}`))
			_, err := testClient(u.URL).Create(context.Background(), minimalRequest())
			t.Logf("err: %v", err)
			if !errors.Is(err, upstream.ErrUnavailable) || upstream.IsUnknown(err) || errors.Is(err, upstream.ErrNotSent) {
				t.Fatalf("err = %v, want upstream.ErrUnavailable (answered, nothing created)", err)
			}
			checkErrText(t, err)
			if n := u.reqs.Load(); n != 1 {
				t.Errorf("requests = %d, want exactly 1", n)
			}
		})
	}
}

func TestCreateHangPastTimeoutIsUnknown(t *testing.T) {
	u := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int64) { <-r.Context().Done() })
	c := testClient(u.URL, func(cfg *Config) { cfg.Timeout = 200 * time.Millisecond })
	_, err := c.Create(context.Background(), minimalRequest())
	t.Logf("err: %v", err)
	var unk *upstream.OutcomeUnknownError
	if !errors.As(err, &unk) || unk.Op != "create" {
		t.Fatalf("err = %v, want an OutcomeUnknownError of create", err)
	}
	for _, k := range []error{upstream.ErrUnavailable, upstream.ErrNotSent, upstream.ErrNotFound, upstream.ErrBadCredentials, upstream.ErrInvalidRequest} {
		if errors.Is(err, k) {
			t.Errorf("an unknown outcome must not match %v", k)
		}
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want it to wrap the deadline", err)
	}
	checkErrText(t, err)
	if n := u.reqs.Load(); n != 1 {
		t.Fatalf("requests = %d, want 1", n)
	}
}

func TestCreateCallerCancelAfterSendIsUnknown(t *testing.T) {
	arrived := make(chan struct{})
	u := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int64) {
		close(arrived)
		<-r.Context().Done()
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-arrived; cancel() }()
	_, err := testClient(u.URL).Create(ctx, minimalRequest())
	if !upstream.IsUnknown(err) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want OutcomeUnknownError wrapping context.Canceled", err)
	}
}

func TestCreateBodyCutShortIsUnknown(t *testing.T) {
	u := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ int64) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "500")
		w.WriteHeader(201)
		io.WriteString(w, `{"id":"v1","status":"CRE`)
		w.(http.Flusher).Flush()
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	})
	_, err := testClient(u.URL).Create(context.Background(), minimalRequest())
	t.Logf("err: %v", err)
	if !upstream.IsUnknown(err) {
		t.Fatalf("err = %v, want OutcomeUnknownError", err)
	}
	if n := u.reqs.Load(); n != 1 {
		t.Fatalf("requests = %d, want 1", n)
	}
}

func TestCreateMalformedSuccessIsUnknown(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
	}{
		{"truncated", 201, `{"id": "v1`},
		{"not json", 200, `<html>ok</html>`},
		{"empty", 201, ``},
		{"no content", 204, ``},
		{"null", 201, `null`},
		{"no id", 201, `{"status":"CREATED","url":"https://app.pawapass.com/x"}`},
		{"array", 201, `[{"id":"v1"}]`},
		{"wrong type", 201, `{"id":"v1","status":5}`},
		{"bad time", 201, `{"id":"v1","createdAt":"yesterday"}`},
		{"trailing data", 201, `{"id":"v1"}{"id":"v2"}`},
		{"too large", 201, `{"id":"v1","pad":"` + strings.Repeat("x", upstream.DefaultMaxBody) + `"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newFake(t, answer(tc.status, tc.body))
			_, err := testClient(u.URL).Create(context.Background(), minimalRequest())
			t.Logf("err: %.300v", err)
			if !upstream.IsUnknown(err) || errors.Is(err, upstream.ErrUnavailable) {
				t.Fatalf("err = %.300v, want OutcomeUnknownError", err)
			}
			checkErrText(t, err)
			if n := u.reqs.Load(); n != 1 {
				t.Fatalf("requests = %d, want 1", n)
			}
		})
	}
}

func TestAPIKeyNeverInErrors(t *testing.T) {
	echo := func(status int) func(http.ResponseWriter, *http.Request, int64) {
		return func(w http.ResponseWriter, r *http.Request, _ int64) {
			a := r.Header.Get("Authorization")
			writeJSON(w, status, `{"statusCode":0,"code":"`+a+`","message":["bad key `+a+`\n\u0007", "`+a+`"]}`)
		}
	}
	for _, status := range []int{400, 401, 403, 404, 500, 502} {
		u := newFake(t, echo(status))
		c := testClient(u.URL)
		_, err := c.Get(context.Background(), "v1")
		checkErrText(t, err)
		_, err = c.Create(context.Background(), minimalRequest())
		checkErrText(t, err)
		var rej *upstream.RejectedError
		if errors.As(err, &rej) && (strings.Contains(rej.Code, testKey) || strings.Contains(rej.Message, testKey)) {
			t.Errorf("%d: RejectedError carries the key: %#v", status, rej)
		}
	}
}

func TestBadConfigSendsNothing(t *testing.T) {
	u := newFake(t, answer(200, verificationJSON("v1", StatusCreated)))
	for _, cfg := range []Config{
		{BaseURL: u.URL + "/v2"},
		{BaseURL: u.URL + "/v2", APIKey: "key\r\nX-Evil: 1"},
		{BaseURL: u.URL + "/v2", APIKey: "two words"},
		{BaseURL: "", APIKey: testKey},
		{BaseURL: "api.pawapass.com/v2", APIKey: testKey},
		{BaseURL: "ftp://api.pawapass.com/v2", APIKey: testKey},
		{BaseURL: u.URL + "/v2?x=1", APIKey: testKey},
		{BaseURL: "http://%zz", APIKey: testKey},
	} {
		c := New(cfg)
		_, err1 := c.Get(context.Background(), "v1")
		_, err2 := c.List(context.Background(), ListQuery{})
		_, err3 := c.Create(context.Background(), minimalRequest())
		for _, err := range []error{err1, err2, err3} {
			if !errors.Is(err, upstream.ErrInvalidRequest) || upstream.IsUnknown(err) {
				t.Errorf("%q: err = %v, want upstream.ErrInvalidRequest", cfg.BaseURL, err)
			}
			checkErrText(t, err)
		}
	}
	if n := u.reqs.Load(); n != 0 {
		t.Errorf("requests = %d, want 0", n)
	}
}

func TestConfigReachesTheTransport(t *testing.T) {
	c := New(Config{BaseURL: "https://api.pawapass.com/v2/", APIKey: "k"})
	if c.up.Timeout() != upstream.DefaultTimeout || c.up.Retry() != DefaultRetry || c.up.ConfigErr() != nil {
		t.Fatalf("defaults: timeout %v, retry %+v, %v", c.up.Timeout(), c.up.Retry(), c.up.ConfigErr())
	}
	r := upstream.Retry{Attempts: 2, Base: time.Second, Max: time.Minute}
	c = New(Config{BaseURL: ProductionURL, APIKey: "k", Timeout: 3 * time.Second, Retry: r})
	if c.up.Timeout() != 3*time.Second || c.up.Retry() != r {
		t.Fatalf("timeout %v, retry %+v", c.up.Timeout(), c.up.Retry())
	}
}

// TestDefaultRetrySchedule: a read is tried 4 times, after 0.5, 1 and 2 s
// ±25 %, as before the client moved onto services/upstream.
func TestDefaultRetrySchedule(t *testing.T) {
	if DefaultRetry.Tries() != 4 {
		t.Errorf("tries = %d, want 4 (1 + 3 retries)", DefaultRetry.Tries())
	}
	for i, want := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second} {
		for range 200 {
			if d := DefaultRetry.Delay(i + 1); d < want*3/4 || d > want*5/4 {
				t.Fatalf("wait after try %d = %v, want %v ± 25%%", i+1, d, want)
			}
		}
	}
}

func TestIsFinal(t *testing.T) {
	for _, tc := range []struct {
		status string
		final  bool
	}{
		{StatusCreated, false}, {StatusStarted, false}, {StatusUserDataCollected, false}, {StatusReview, false},
		{StatusApproved, true}, {StatusDeclined, true}, {StatusExpired, true},
		{"", false}, {"approved", false}, {"CANCELLED", false},
	} {
		if got := IsFinal(tc.status); got != tc.final {
			t.Errorf("IsFinal(%q) = %v", tc.status, got)
		}
	}
	if len(Statuses) != 7 {
		t.Errorf("Statuses = %v", Statuses)
	}
}

func TestCountries(t *testing.T) {
	want := "AO BJ CM CD CG GH KE LS LR MW ML MZ NG RW SL TZ TG UG ZM"
	if got := strings.Join(Countries, " "); got != want || len(Countries) != 19 {
		t.Errorf("Countries = %s", got)
	}
}
