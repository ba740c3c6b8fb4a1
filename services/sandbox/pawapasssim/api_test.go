package pawapasssim_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"portal/services/sandbox/pawapasssim"
	"portal/services/sandbox/simtest"
)

func TestRegistration(t *testing.T) {
	e := setup(t, pawapasssim.Options{})
	view := simtest.CheckRegistration(t, e.harness, e.sim, "pawapass", "pawaPass KYC", []string{
		"POST /v2/verifications/{$}",
		"POST /v2/verifications",
		"GET /v2/verifications/{$}",
		"GET /v2/verifications",
		"GET /v2/verifications/{id}",
		"GET /app/{company}/{id}",
		"POST /app/{company}/{id}",
		"GET /assets/pawapass.css",
	}, []string{"advance", "approve", "decline", "expire", "resend_webhook"})
	for _, a := range view.Actions {
		if a.Fields[0].Name != "id" || !a.Fields[0].Required {
			t.Errorf("action %s: first field %+v", a.Name, a.Fields[0])
		}
	}
}

// --- authentication ---

func TestAuth(t *testing.T) {
	e := setup(t, pawapasssim.Options{})
	v := e.create()
	key := pawapasssim.DefaultAPIKey
	for _, tc := range []struct {
		name    string
		headers map[string]string
		ok      bool
	}{
		{"bearer", map[string]string{"Authorization": "Bearer " + key}, true},
		{"bearer scheme in lower case", map[string]string{"Authorization": "bearer " + key}, true},
		{"legacy X-AUTH-KEY", map[string]string{"X-AUTH-KEY": key}, true},
		{"no credentials", nil, false},
		{"wrong bearer", map[string]string{"Authorization": "Bearer nope"}, false},
		{"empty bearer", map[string]string{"Authorization": "Bearer "}, false},
		{"key without scheme", map[string]string{"Authorization": key}, false},
		{"basic scheme", map[string]string{"Authorization": "Basic " + key}, false},
		{"wrong X-AUTH-KEY", map[string]string{"X-AUTH-KEY": "nope"}, false},
		{"wrong bearer beside a right X-AUTH-KEY", map[string]string{"Authorization": "Bearer nope", "X-AUTH-KEY": key}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, req := range []struct{ method, path, body string }{
				{http.MethodPost, "/v2/verifications/", body()},
				{http.MethodPost, "/v2/verifications", body()},
				{http.MethodGet, "/v2/verifications/", ""},
				{http.MethodGet, "/v2/verifications?limit=1", ""},
				{http.MethodGet, "/v2/verifications/" + v.ID, ""},
			} {
				st, h, b := e.do(req.method, req.path, tc.headers, req.body)
				if tc.ok {
					if st != http.StatusOK {
						t.Errorf("%s %s: %d %s", req.method, req.path, st, b)
					}
					continue
				}
				wantError(t, st, b, http.StatusUnauthorized, "UNAUTHORIZED", "Unauthorized")
				if h.Get("WWW-Authenticate") != "Bearer" {
					t.Errorf("WWW-Authenticate %q", h.Get("WWW-Authenticate"))
				}
			}
		})
	}
}

func TestAuthCustomKey(t *testing.T) {
	e := setup(t, pawapasssim.Options{APIKey: "other-key"})
	st, b := e.api(http.MethodGet, "/v2/verifications/", "")
	wantError(t, st, b, http.StatusUnauthorized, "UNAUTHORIZED", "Unauthorized")
	if st, _, b := e.do(http.MethodGet, "/v2/verifications/", map[string]string{"X-AUTH-KEY": "other-key"}, ""); st != http.StatusOK {
		t.Fatalf("%d %s", st, b)
	}
}

func TestCreateCalls(t *testing.T) {
	e := setup(t, pawapasssim.Options{})
	e.create()
	e.do(http.MethodPost, "/v2/verifications/", nil, body())                  // 401
	e.api(http.MethodPost, "/v2/verifications/", body(set("externalId", ""))) // 400
	e.api(http.MethodGet, "/v2/verifications/", "")                           // not a create
	if n := e.sim.CreateCalls(); n != 3 {
		t.Fatalf("CreateCalls %d, want 3", n)
	}
}

// --- create validation ---

func TestCreateValidation(t *testing.T) {
	e := setup(t, pawapasssim.Options{})
	approved := e.create()
	_, err := e.sim.Advance(approved.ID)
	e.must(err)
	pending := e.create()
	for range 3 {
		_, err := e.sim.Advance(approved.ID)
		e.must(err)
	}
	reqs := func(items ...any) func(map[string]any) { return set("requirements", append([]any{}, items...)) }
	face := func(opts any) map[string]any { return map[string]any{"type": "FACE_SCAN", "options": opts} }

	for _, tc := range []struct {
		name string
		body string
		msg  string
	}{
		{"externalId missing", body(del("externalId")), "externalId: is required"},
		{"externalId empty", body(set("externalId", "")), "externalId: must not be empty"},
		{"externalId null", body(set("externalId", nil)), "externalId: must be a string, not null"},
		{"externalId number", body(set("externalId", 42)), "externalId: must be a string, not a number"},
		{"externalId null byte", body(set("externalId", "a\x00b")), "externalId: must not contain null bytes"},

		{"requirements missing", body(del("requirements")), "requirements: is required"},
		{"requirements empty", body(reqs()), "requirements: must contain at least 1 item"},
		{"requirements object", body(set("requirements", map[string]any{"type": "FACE_SCAN"})), "requirements: must be an array, not an object"},
		{"requirements string", body(set("requirements", "FACE_SCAN")), "requirements: must be an array, not a string"},
		{"requirements null", body(set("requirements", nil)), "requirements: must be an array, not null"},
		{"requirement not an object", body(reqs("FACE_SCAN")), "requirements[0]: must be an object, not a string"},
		{"requirement without type", body(reqs(map[string]any{})), "requirements[0].type: is required"},
		{"requirement type number", body(reqs(map[string]any{"type": 1})), "requirements[0].type: must be a string, not a number"},
		{"requirement type unknown", body(reqs(map[string]any{"type": "SELFIE"})), "requirements[0].type: must be one of DOCUMENT_SCAN, FACE_SCAN"},
		{"requirement type lower case", body(reqs(map[string]any{"type": "face_scan"})), "requirements[0].type: must be one of DOCUMENT_SCAN, FACE_SCAN"},
		{"requirement twice", body(reqs(map[string]any{"type": "FACE_SCAN"}, map[string]any{"type": "FACE_SCAN"})), "requirements[1].type: FACE_SCAN is listed twice"},
		{"options not an object", body(reqs(face("x"))), "requirements[0].options: must be an object, not a string"},
		{"previousVerificationId number", body(reqs(face(map[string]any{"previousVerificationId": 7}))), "requirements[0].options.previousVerificationId: must be a string, not a number"},
		{"previousVerificationId empty", body(reqs(face(map[string]any{"previousVerificationId": ""}))), "requirements[0].options.previousVerificationId: must not be empty"},
		{"previousVerificationId on a document scan", body(reqs(map[string]any{"type": "DOCUMENT_SCAN", "options": map[string]any{"previousVerificationId": approved.ID}})), "requirements[0].options.previousVerificationId: only applies to FACE_SCAN"},
		{"previousVerificationId unknown", body(reqs(face(map[string]any{"previousVerificationId": "zzzzzzzz"}))), "requirements[0].options.previousVerificationId: must be the id of an APPROVED verification"},
		{"previousVerificationId not approved", body(reqs(face(map[string]any{"previousVerificationId": pending.ID}))), "requirements[0].options.previousVerificationId: must be the id of an APPROVED verification"},

		{"successUrl missing", body(del("successUrl")), "successUrl: is required"},
		{"successUrl not a string", body(set("successUrl", true)), "successUrl: must be a string, not a boolean"},
		{"successUrl relative", body(set("successUrl", "/done")), "successUrl: must match pattern ^https?://"},
		{"successUrl ftp", body(set("successUrl", "ftp://portal.example/x")), "successUrl: must match pattern ^https?://"},
		{"successUrl upper-case scheme", body(set("successUrl", "HTTPS://portal.example/x")), "successUrl: must match pattern ^https?://"},
		{"successUrl leading space", body(set("successUrl", " https://portal.example/x")), "successUrl: must match pattern ^https?://"},
		{"successUrl without host", body(set("successUrl", "https://")), "successUrl: must be a URL"},
		{"successUrl bad host", body(set("successUrl", "https://exa mple.com/")), "successUrl: must be a URL"},
		{"successUrl null byte", body(set("successUrl", "https://portal.example/\x00")), "successUrl: must be a URL"},
		{"errorUrl missing", body(del("errorUrl")), "errorUrl: is required"},
		{"errorUrl javascript", body(set("errorUrl", "javascript:alert(1)")), "errorUrl: must match pattern ^https?://"},
		{"supportUrl missing", body(del("supportUrl")), "supportUrl: is required"},
		{"supportUrl mailto", body(set("supportUrl", "mailto:help@portal.example")), "supportUrl: must match pattern ^https?://"},

		{"country unknown", body(set("country", "ZA")), "country: must be one of AO, BJ, CM, CD, CG, GH, KE, LS, LR, MW, ML, MZ, NG, RW, SL, TZ, TG, UG, ZM"},
		{"country lower case", body(set("country", "zm")), "country: must be one of AO, BJ, CM, CD, CG, GH, KE, LS, LR, MW, ML, MZ, NG, RW, SL, TZ, TG, UG, ZM"},
		{"country empty", body(set("country", "")), "country: must be one of AO, BJ, CM, CD, CG, GH, KE, LS, LR, MW, ML, MZ, NG, RW, SL, TZ, TG, UG, ZM"},
		{"country number", body(set("country", 260)), "country: must be a string, not a number"},
		{"country null", body(set("country", nil)), "country: must be a string, not null"},

		{"phoneNo number", body(set("phoneNo", 260971234567)), "phoneNo: must be a string, not a number"},
		{"phoneNo null byte", body(set("phoneNo", "+260\x00")), "phoneNo: must not contain null bytes"},

		{"metadata string", body(set("metadata", "x")), "metadata: must be an object, not a string"},
		{"metadata array", body(set("metadata", []any{1})), "metadata: must be an object, not an array"},
		{"metadata null", body(set("metadata", nil)), "metadata: must be an object, not null"},

		{"expiresAt not a date", body(set("expiresAt", "next week")), `expiresAt: must be an ISO 8601 date-time such as "2025-08-27T09:00:00.000Z"`},
		{"expiresAt date only", body(set("expiresAt", "2025-08-27")), `expiresAt: must be an ISO 8601 date-time such as "2025-08-27T09:00:00.000Z"`},
		{"expiresAt without zone", body(set("expiresAt", "2025-08-27T09:00:00")), `expiresAt: must be an ISO 8601 date-time such as "2025-08-27T09:00:00.000Z"`},
		{"expiresAt number", body(set("expiresAt", 1756285200)), "expiresAt: must be a string, not a number"},
		{"expiresAt past", body(set("expiresAt", "2025-08-19T09:00:00.000Z")), "expiresAt: must be in the future"},
		{"expiresAt now", body(set("expiresAt", "2025-08-20T09:00:00.000Z")), "expiresAt: must be in the future"},
		{"expiresAt now in another zone", body(set("expiresAt", "2025-08-20T11:00:00+02:00")), "expiresAt: must be in the future"},

		{"createdBy number", body(set("createdBy", 1)), "createdBy: must be a string, not a number"},
		{"createdBy null byte", body(set("createdBy", "ops\x00")), "createdBy: must not contain null bytes"},

		{"body array", `[]`, "body: must be a JSON object"},
		{"body null", `null`, "body: must be a JSON object"},
		{"body string", `"x"`, "body: must be a JSON object"},
		{"body not JSON", `{"externalId":`, "body: is not valid JSON"},
		{"body trailing data", body() + `{}`, "body: must be one JSON object with nothing after it"},
		{"body invalid token", `{externalId: "x"}`, "body: is not valid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, b := e.api(http.MethodPost, "/v2/verifications/", tc.body)
			wantError(t, st, b, http.StatusBadRequest, "VALIDATION_ERROR", tc.msg)
		})
	}
	if n := len(e.sim.Verifications()); n != 2 {
		t.Fatalf("%d verifications after rejected creates, want 2", n)
	}
}

func TestCreateBodyLimits(t *testing.T) {
	e := setup(t, pawapasssim.Options{})
	st, _, b := e.do(http.MethodPost, "/v2/verifications/", bearer(), "")
	wantError(t, st, b, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json")
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", ""} {
		h := bearer()
		h["Content-Type"] = ct
		st, _, b := e.do(http.MethodPost, "/v2/verifications/", h, body())
		wantError(t, st, b, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json")
	}
	h := bearer()
	h["Content-Type"] = "application/json; charset=utf-8"
	if st, _, b := e.do(http.MethodPost, "/v2/verifications/", h, body()); st != http.StatusOK {
		t.Fatalf("with charset: %d %s", st, b)
	}
	// Empty body with the right type.
	req, _ := http.NewRequest(http.MethodPost, e.base+"/v2/verifications/", nil)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+pawapasssim.DefaultAPIKey)
	resp, err := e.srv.Client().Do(req)
	e.must(err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("empty body: %d", resp.StatusCode)
	}
	big := body(set("metadata", map[string]any{"blob": strings.Repeat("x", 70<<10)}))
	st, b = e.api(http.MethodPost, "/v2/verifications/", big)
	wantError(t, st, b, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE", "body: must be at most 64 KiB")
}

func TestCreateAccepts(t *testing.T) {
	e := setup(t, pawapasssim.Options{})
	t.Run("every documented country", func(t *testing.T) {
		for _, c := range pawapasssim.Countries() {
			v := e.create(set("country", c))
			if v.Country == nil || *v.Country != c {
				t.Errorf("country %s: %v", c, v.Country)
			}
		}
		if len(pawapasssim.Countries()) != 19 {
			t.Fatalf("%d countries", len(pawapasssim.Countries()))
		}
	})
	t.Run("http URLs", func(t *testing.T) {
		v := e.create(set("successUrl", "http://localhost:8080/done?x=1&y=<2>"))
		if v.SuccessURL != "http://localhost:8080/done?x=1&y=<2>" {
			t.Fatalf("successUrl %q", v.SuccessURL)
		}
	})
	t.Run("one requirement", func(t *testing.T) {
		v := e.create(set("requirements", []any{map[string]any{"type": "FACE_SCAN"}}))
		if len(v.Requirements) != 1 || v.Requirements[0].Type != "FACE_SCAN" || v.Requirements[0].Options != nil {
			t.Fatalf("%+v", v.Requirements)
		}
	})
	t.Run("unknown fields ignored", func(t *testing.T) {
		st, b := e.api(http.MethodPost, "/v2/verifications", body(set("language", "fr"), set("requirements", []any{map[string]any{"type": "FACE_SCAN", "extra": 1, "options": map[string]any{"other": true}}})))
		if st != http.StatusOK || strings.Contains(string(b), "language") || strings.Contains(string(b), "extra") || strings.Contains(string(b), "options") {
			t.Fatalf("%d %s", st, b)
		}
	})
	t.Run("optional fields absent are null", func(t *testing.T) {
		st, b := e.api(http.MethodPost, "/v2/verifications/", body())
		if st != http.StatusOK {
			t.Fatalf("%d %s", st, b)
		}
		m := simtest.DecodeAny(t, b).(map[string]any)
		for _, k := range []string{"country", "phoneNo", "metadata", "identityDocument", "faceScan", "reviewResult", "createdBy"} {
			if v, ok := m[k]; !ok || v != nil {
				t.Errorf("%s: %v (present %v), want null", k, v, ok)
			}
		}
		v := decodeWire(t, b)
		if v.ExpiresAt != "2025-08-27T09:00:00.000Z" || v.CreatedAt != "2025-08-20T09:00:00.000Z" || v.UpdatedAt != v.CreatedAt {
			t.Fatalf("times %s %s %s (default TTL 7 days)", v.CreatedAt, v.UpdatedAt, v.ExpiresAt)
		}
	})
	t.Run("empty phoneNo and null bytes elsewhere are fine", func(t *testing.T) {
		v := e.create(set("phoneNo", ""), set("metadata", map[string]any{"note": "a\x00b"}))
		if v.PhoneNo == nil || *v.PhoneNo != "" || !strings.Contains(string(v.Metadata), `\u0000`) {
			t.Fatalf("phoneNo %v metadata %s", v.PhoneNo, v.Metadata)
		}
	})
	t.Run("phoneNo extracted from metadata", func(t *testing.T) {
		v := e.create(set("metadata", map[string]any{"phoneNo": "+254700000001", "channel": "app"}))
		if v.PhoneNo == nil || *v.PhoneNo != "+254700000001" {
			t.Fatalf("phoneNo %v", v.PhoneNo)
		}
		v = e.create(set("phoneNo", "+254700000002"), set("metadata", map[string]any{"phoneNo": "+254700000001"}))
		if *v.PhoneNo != "+254700000002" {
			t.Fatalf("phoneNo %v", *v.PhoneNo)
		}
	})
	t.Run("expiresAt echoed in UTC with milliseconds", func(t *testing.T) {
		v := e.create(set("expiresAt", "2025-08-21T12:30:00.123456+02:00"))
		if v.ExpiresAt != "2025-08-21T10:30:00.123Z" {
			t.Fatalf("expiresAt %s", v.ExpiresAt)
		}
	})
	t.Run("re-verification of an approved verification", func(t *testing.T) {
		first := e.create()
		for range 4 {
			_, err := e.sim.Advance(first.ID)
			e.must(err)
		}
		v := e.create(set("requirements", []any{map[string]any{"type": "FACE_SCAN", "options": map[string]any{"previousVerificationId": first.ID}}}))
		if len(v.Requirements) != 1 || v.Requirements[0].Options == nil || v.Requirements[0].Options.PreviousVerificationID != first.ID {
			t.Fatalf("%+v", v.Requirements)
		}
	})
}

// --- get and list ---

func TestGet(t *testing.T) {
	e := setup(t, pawapasssim.Options{})
	v := e.create(set("externalId", "user-get"))
	if got := e.get(v.ID); got.ExternalID != "user-get" || got.ID != v.ID {
		t.Fatalf("%+v", got)
	}
	raw, ok := e.sim.VerificationJSON(v.ID)
	_, b := e.api(http.MethodGet, "/v2/verifications/"+v.ID, "")
	if !ok || string(raw) != string(b) {
		t.Fatalf("VerificationJSON %s\nGET %s", raw, b)
	}
	for _, id := range []string{"zzzzzzzz", strings.ToUpper(v.ID) + "x", "%20"} {
		st, b := e.api(http.MethodGet, "/v2/verifications/"+id, "")
		wantError(t, st, b, http.StatusNotFound, "NOT_FOUND", "Verification not found")
	}
}

type listAnswer struct {
	Items []wire `json:"items"`
	Count int    `json:"count"`
}

func (e *env) list(query string) listAnswer {
	e.t.Helper()
	st, b := e.api(http.MethodGet, "/v2/verifications/"+query, "")
	if st != http.StatusOK {
		e.t.Fatalf("list %s: %d %s", query, st, b)
	}
	m := simtest.DecodeAny(e.t, b).(map[string]any)
	if len(m) != 2 || m["items"] == nil || m["count"] == nil {
		e.t.Fatalf("list answer keys: %s", b)
	}
	var a listAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		e.t.Fatal(err)
	}
	return a
}

func ids(items []wire) []string {
	var out []string
	for _, v := range items {
		out = append(out, v.ID)
	}
	return out
}

func TestList(t *testing.T) {
	e := setup(t, pawapasssim.Options{})
	if a := e.list(""); a.Count != 0 || a.Items == nil || len(a.Items) != 0 {
		t.Fatalf("empty list %+v", a)
	}
	var created []string // oldest first
	for i := range 20 {
		ext := "user-even"
		if i%2 == 1 {
			ext = "user-odd"
		}
		created = append(created, e.create(set("externalId", ext)).ID)
		e.clock.Advance(time.Second)
	}
	newest := slices.Clone(created)
	slices.Reverse(newest)
	e.must(e.sim.Start(created[0]))
	e.must(e.sim.Start(created[1]))
	e.must(e.sim.Expire(created[2]))

	for _, tc := range []struct {
		query string
		count int
		ids   []string
	}{
		{"", 20, newest[:15]},
		{"?page=1", 20, newest[15:]},
		{"?page=2", 20, nil},
		{"?limit=50", 20, newest},
		{"?limit=1", 20, newest[:1]},
		{"?limit=7&page=2", 20, newest[14:]},
		{"?page=0&limit=3", 20, newest[:3]},
		{"?id=" + created[4], 1, []string{created[4]}},
		{"?id=nope", 0, nil},
		{"?id=", 20, newest[:15]},
		{"?externalId=user-odd", 10, []string{newest[0], newest[2], newest[4], newest[6], newest[8], newest[10], newest[12], newest[14], newest[16], newest[18]}},
		{"?externalId=user-odd&limit=2&page=1", 10, []string{newest[4], newest[6]}},
		{"?statuses=STARTED", 2, []string{created[1], created[0]}},
		{"?statuses=STARTED&statuses=EXPIRED", 3, []string{created[2], created[1], created[0]}},
		{"?statuses=EXPIRED&statuses=EXPIRED", 1, []string{created[2]}},
		{"?statuses=STARTED&externalId=user-even", 1, []string{created[0]}},
		{"?statuses=APPROVED", 0, nil},
		{"?page=99999999999&limit=50", 20, nil},
		{"?unknown=1", 20, newest[:15]},
	} {
		t.Run(tc.query, func(t *testing.T) {
			a := e.list(tc.query)
			if a.Count != tc.count || !slices.Equal(ids(a.Items), tc.ids) {
				t.Fatalf("count %d ids %q\nwant %d %q", a.Count, ids(a.Items), tc.count, tc.ids)
			}
		})
	}
	// Both spellings of the path.
	st, b := e.api(http.MethodGet, "/v2/verifications?limit=2", "")
	if st != http.StatusOK || len(decodeWireList(t, b).Items) != 2 {
		t.Fatalf("without slash: %d %s", st, b)
	}
	// Items are whole verification objects.
	if a := e.list("?id=" + created[0]); a.Items[0].Status != "STARTED" || a.Items[0].URL == "" {
		t.Fatalf("%+v", a.Items[0])
	}
}

func decodeWireList(t *testing.T, b []byte) listAnswer {
	var a listAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestListValidation(t *testing.T) {
	e := setup(t, pawapasssim.Options{})
	for _, tc := range []struct{ query, msg string }{
		{"?page=-1", "page: must be an integer of at least 0"},
		{"?page=x", "page: must be an integer of at least 0"},
		{"?page=1.5", "page: must be an integer of at least 0"},
		{"?page=", "page: must be an integer of at least 0"},
		{"?limit=0", "limit: must be an integer from 1 to 50"},
		{"?limit=51", "limit: must be an integer from 1 to 50"},
		{"?limit=abc", "limit: must be an integer from 1 to 50"},
		{"?statuses=PENDING", "statuses: must each be one of CREATED, STARTED, EXPIRED, USER_DATA_COLLECTED, REVIEW, APPROVED, DECLINED"},
		{"?statuses=created", "statuses: must each be one of CREATED, STARTED, EXPIRED, USER_DATA_COLLECTED, REVIEW, APPROVED, DECLINED"},
		{"?statuses=CREATED,STARTED", "statuses: must each be one of CREATED, STARTED, EXPIRED, USER_DATA_COLLECTED, REVIEW, APPROVED, DECLINED"},
		{"?statuses=CREATED&statuses=", "statuses: must each be one of CREATED, STARTED, EXPIRED, USER_DATA_COLLECTED, REVIEW, APPROVED, DECLINED"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			st, b := e.api(http.MethodGet, "/v2/verifications/"+tc.query, "")
			wantError(t, st, b, http.StatusBadRequest, "VALIDATION_ERROR", tc.msg)
		})
	}
}

func TestIDsAndURL(t *testing.T) {
	e := setup(t, pawapasssim.Options{})
	idRe := regexp.MustCompile(`^[A-Za-z0-9]{8}$`)
	seen := map[string]bool{}
	for range 50 {
		v := e.create()
		if !idRe.MatchString(v.ID) || seen[v.ID] {
			t.Fatalf("id %q", v.ID)
		}
		seen[v.ID] = true
		if v.URL != e.base+"/app/portal-sandbox/"+v.ID {
			t.Fatalf("url %q", v.URL)
		}
	}
	e2 := setup(t, pawapasssim.Options{PublicURL: "https://portal.example/sandbox/pawapass/"})
	if v := e2.create(); v.URL != fmt.Sprintf("https://portal.example/sandbox/pawapass/app/portal-sandbox/%s", v.ID) {
		t.Fatalf("url with PublicURL %q", v.URL)
	}
}
