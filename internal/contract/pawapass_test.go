package contract

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"portal/services/pawapass"
	"portal/services/sandbox"
	"portal/services/sandbox/pawapasssim"
	"portal/services/upstream"
)

// Contract tests between the pawaPass client (services/pawapass) and the
// pawaPass simulator (services/sandbox/pawapasssim), both checked against
// the document's examples in testdata/upstream/pawapass.

// Passages quoted by failure messages.
const (
	ppDocExample  = `pawapass-create-verification.txt, "POST /verifications" (example request and response)`
	ppDocResponse = `pawapass-create-verification.txt, "Response" (every key "required"; country, phoneNo, metadata, createdBy "| null"; identityDocument, faceScan, reviewResult "Null if not yet available")`
	ppDocRequest  = `pawapass-create-verification.txt, "Body" (externalId, requirements, successUrl, errorUrl, supportUrl required; country, phoneNo, metadata, expiresAt, createdBy optional)`
	ppNotesAPI    = `NOTES.md (pawaPass): "The Bearer token is a static API key … legacy header X-AUTH-KEY still works"`
	ppNotesList   = `NOTES.md (pawaPass): "GET /verifications/{id} returns the verification object. GET /verifications/ lists: {"items":[…],"count":N} with page (from 0), limit (1–50, default 15), filters id, externalId, statuses (repeatable)"`
	ppNotesHooks  = `NOTES.md (pawaPass), "Webhooks": {"notificationId": "<uuid>", "type": …, "object": "VERIFICATION", "createdAt": "<ISO>", "data": <verification>} with header X-Signature = HMAC-SHA256 of the raw body with the webhook secret (hex [ours]); "notificationId is the dedupe key"`
	ppNotesErrors = `NOTES.md (pawaPass), "Errors": {"statusCode":401,"code":"UNAUTHORIZED","message":"Unauthorized"}, 403 FORBIDDEN; others unpublished`
	ppNotesStatus = `NOTES.md (pawaPass): "Status: CREATED → STARTED → USER_DATA_COLLECTED → (REVIEW) → APPROVED | DECLINED"`
)

// ppStart is the document example's createdAt: with the clock there, the
// example request's expiresAt (a week later) is in the future.
var ppStart = time.Date(2025, 8, 20, 9, 0, 0, 0, time.UTC)

// ppCreatedBy is the example's createdBy: the published page's mangled
// e-mail address, with a no-break space, kept verbatim.
const ppCreatedBy = "[email\u00a0protected]"

const ppWebhookSecret = "contract-pawapass-webhook-secret"

// ppExampleRequest is the document's example request as Go.
func ppExampleRequest() pawapass.CreateRequest {
	return pawapass.CreateRequest{
		ExternalID:   "user-zm-98765",
		Requirements: []pawapass.Requirement{{Type: pawapass.RequirementDocumentScan}, {Type: pawapass.RequirementFaceScan}},
		SuccessURL:   "https://your-website.com/success",
		ErrorURL:     "https://your-website.com/error",
		SupportURL:   "https://your-website.com/support",
		Country:      "ZM",
		PhoneNo:      "+260971234567",
		Metadata:     map[string]string{"reason": "kyc-onboarding", "channel": "mobile-app", "department": "compliance"},
		ExpiresAt:    time.Date(2025, 8, 27, 9, 0, 0, 0, time.UTC),
		CreatedBy:    ppCreatedBy,
	}
}

// ppNullable are the verification's keys the document allows to be null,
// under prefix ("", "data.", "items[].").
func ppRules(prefix string) shapeRules {
	return shapeRules{
		nullable: prefixed(prefix, "country", "phoneNo", "metadata", "identityDocument", "faceScan", "reviewResult", "createdBy"),
		// "metadata any | null": the caller's own keys.
		free: prefixed(prefix, "metadata"),
	}
}

// ppStop keeps metadata whole in field-by-field comparisons.
var ppStop = map[string]bool{"metadata": true}

// ppFields is what the client decoded, keyed by the JSON path it came
// from, under prefix.
func ppFields(prefix string, v pawapass.Verification) map[string]any {
	p := prefix
	f := map[string]any{
		p + "id": v.ID, p + "externalId": v.ExternalID, p + "country": v.Country, p + "phoneNo": v.PhoneNo,
		p + "url": v.URL, p + "status": v.Status, p + "metadata": v.Metadata,
		p + "successUrl": v.SuccessURL, p + "errorUrl": v.ErrorURL, p + "supportUrl": v.SupportURL,
		p + "createdBy": v.CreatedBy, p + "expiresAt": v.ExpiresAt, p + "createdAt": v.CreatedAt, p + "updatedAt": v.UpdatedAt,
	}
	if len(v.Requirements) == 0 {
		f[p+"requirements"] = []any{}
	}
	for i, r := range v.Requirements {
		q := p + "requirements[" + strconv.Itoa(i) + "]."
		f[q+"type"] = r.Type
		if r.Options != nil {
			f[q+"options.previousVerificationId"] = r.Options.PreviousVerificationID
		}
	}
	if d := v.IdentityDocument; d == nil {
		f[p+"identityDocument"] = nil
	} else {
		q := p + "identityDocument."
		for k, val := range map[string]any{
			"type": d.Type, "country": d.Country, "serialNo": d.SerialNo, "nationalNo": d.NationalNo,
			"firstName": d.FirstName, "lastName": d.LastName, "dateOfBirth": d.DateOfBirth,
			"placeOfBirth": d.PlaceOfBirth, "nationality": d.Nationality, "expiryAt": d.ExpiryAt,
			"issuedAt": d.IssuedAt, "issuingAuthority": d.IssuingAuthority, "placeOfIssue": d.PlaceOfIssue,
			"createdAt": d.CreatedAt, "updatedAt": d.UpdatedAt,
		} {
			f[q+k] = val
		}
	}
	if s := v.FaceScan; s == nil {
		f[p+"faceScan"] = nil
	} else {
		f[p+"faceScan.ageEstimation"] = s.AgeEstimation
		f[p+"faceScan.createdAt"] = s.CreatedAt
		f[p+"faceScan.updatedAt"] = s.UpdatedAt
	}
	if r := v.ReviewResult; r == nil {
		f[p+"reviewResult"] = nil
	} else {
		f[p+"reviewResult.reason"] = r.Reason
	}
	return f
}

// ppCheckVerification compares v with the JSON object it was decoded from.
func ppCheckVerification(t *testing.T, what string, v pawapass.Verification, raw []byte, blame string) {
	t.Helper()
	checkFields(t, what, raw, ppFields("", v), ppStop, blame)
}

// ---- the documents' examples through the client ----------------------------

func ppTestClient(base, key string) *pawapass.Client {
	return pawapass.New(pawapass.Config{BaseURL: base, APIKey: key, Timeout: 5 * time.Second,
		Retry: upstream.Retry{Attempts: pawapass.DefaultRetry.Attempts, Base: time.Millisecond, Max: 10 * time.Millisecond}})
}

// TestPawaPassExamples: the client sends the document's example request
// for the example's inputs, and decodes every example answer (create, get,
// list, a webhook built from NOTES.md, the 401) field by field.
func TestPawaPassExamples(t *testing.T) {
	t.Parallel()
	reqDoc := upstreamFile(t, "pawapass", "create_request.json")
	verDoc := upstreamFile(t, "pawapass", "create_response.json")
	hookDoc := upstreamFile(t, "pawapass", "webhook_status_change.json")
	errDoc := upstreamFile(t, "pawapass", "error_401.json")
	const key = "contract-pawapass-key"
	allowedZero := map[string]bool{"Requirements[].Options": true} // the example has no options
	trimmed := strings.TrimSpace(string(verDoc))

	checkDecoded := func(t *testing.T, what string, v pawapass.Verification) {
		t.Helper()
		const blame = "client: " + ppDocExample + " / " + ppDocResponse
		ppCheckVerification(t, what, v, verDoc, blame)
		checkPopulated(t, what, v, allowedZero, blame)
		if string(v.Raw) != trimmed {
			t.Errorf("client: %s: Raw is not the object as received", what)
		}
		if v.CreatedBy != ppCreatedBy {
			t.Errorf("client: %s: createdBy = %q, want the example's %q (no-break space kept)", what, v.CreatedBy, ppCreatedBy)
		}
	}

	t.Run("create", func(t *testing.T) {
		s := newStandIn(t, answerWith(http.StatusOK, verDoc))
		v, err := ppTestClient(s.srv.URL+"/v2", key).Create(ctxFor(t), ppExampleRequest())
		if err != nil {
			t.Fatalf("client: Create against the example answer: %v", err)
		}
		r := s.last(t)
		if r.method != http.MethodPost || r.path != "/v2/verifications/" {
			t.Errorf("client: sent %s %s, want POST /v2/verifications/; %s (curl --url …/v2/verifications/)", r.method, r.path, ppDocExample)
		}
		if got := r.header.Get("Authorization"); got != "Bearer "+key {
			t.Errorf("client: Authorization = %q, want \"Bearer <key>\"; %s", got, ppNotesAPI)
		}
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("client: Content-Type = %q, want application/json; %s", ct, ppDocExample)
		}
		if !jsonEqual(t, r.body, reqDoc) {
			t.Errorf("client: the body for the example's inputs is\n%s\nwant the example request\n%s\n%s", r.body, reqDoc, ppDocExample)
		}
		checkDecoded(t, "create answer", v)
	})

	t.Run("get", func(t *testing.T) {
		s := newStandIn(t, answerWith(http.StatusOK, verDoc))
		v, err := ppTestClient(s.srv.URL+"/v2", key).Get(ctxFor(t), "aB1cD2eF")
		if err != nil {
			t.Fatalf("client: Get against the example answer: %v", err)
		}
		if r := s.last(t); r.method != http.MethodGet || r.path != "/v2/verifications/aB1cD2eF" || len(r.body) != 0 {
			t.Errorf("client: sent %s %s with %d body bytes, want GET /v2/verifications/aB1cD2eF; %s", r.method, r.path, len(r.body), ppNotesList)
		}
		checkDecoded(t, "get answer", v)
	})

	t.Run("list", func(t *testing.T) {
		// No list example is published: NOTES.md's shape around the
		// example verification.
		body := []byte(`{"items":[` + trimmed + `],"count":31}`)
		s := newStandIn(t, answerWith(http.StatusOK, body))
		res, err := ppTestClient(s.srv.URL+"/v2", key).List(ctxFor(t), pawapass.ListQuery{Page: 2, Limit: 15, ExternalID: "user-zm-98765", Statuses: []string{"CREATED", "STARTED"}})
		if err != nil {
			t.Fatalf("client: List: %v", err)
		}
		r := s.last(t)
		if r.method != http.MethodGet || r.path != "/v2/verifications/" {
			t.Errorf("client: sent %s %s, want GET /v2/verifications/; %s", r.method, r.path, ppNotesList)
		}
		for _, want := range []string{"page=2", "limit=15", "externalId=user-zm-98765", "statuses=CREATED", "statuses=STARTED"} {
			if !strings.Contains("&"+r.query+"&", "&"+want+"&") {
				t.Errorf("client: list query %q has no %s; %s", r.query, want, ppNotesList)
			}
		}
		if res.Count != 31 || len(res.Items) != 1 {
			t.Fatalf("client: list decoded count %d with %d items, want 31 and 1; %s", res.Count, len(res.Items), ppNotesList)
		}
		checkDecoded(t, "list items[0]", res.Items[0])
	})

	t.Run("webhook", func(t *testing.T) {
		const blame = "client: " + ppNotesHooks
		sig := hmacHex(ppWebhookSecret, hookDoc)
		for _, s := range []string{sig, strings.ToUpper(sig)} {
			if !pawapass.VerifySignature(ppWebhookSecret, hookDoc, s) {
				t.Errorf("client: VerifySignature refuses the HMAC-SHA256 hex %s of the example webhook; %s", s, blame)
			}
		}
		if got := pawapass.Sign(ppWebhookSecret, hookDoc); got != sig {
			t.Errorf("client: Sign = %s, want the HMAC-SHA256 hex %s; %s", got, sig, blame)
		}
		for name, bad := range map[string]struct {
			secret, sig string
			body        []byte
		}{
			"other secret": {"another-secret", sig, hookDoc},
			"changed body": {ppWebhookSecret, sig, append([]byte(" "), hookDoc...)},
			"no signature": {ppWebhookSecret, "", hookDoc},
		} {
			if pawapass.VerifySignature(bad.secret, bad.body, bad.sig) {
				t.Errorf("client: VerifySignature accepts a webhook with %s; %s", name, blame)
			}
		}
		n, err := pawapass.ParseNotification(hookDoc)
		if err != nil {
			t.Fatalf("client: ParseNotification(the example webhook): %v; %s", err, blame)
		}
		ppCheckNotification(t, "example webhook", n, hookDoc, blame)
		checkPopulated(t, "example webhook", n, map[string]bool{"Data.Requirements[].Options": true, "Data.Raw": true}, blame)
	})

	t.Run("401", func(t *testing.T) {
		s := newStandIn(t, answerWith(http.StatusUnauthorized, errDoc))
		c := ppTestClient(s.srv.URL+"/v2", key)
		ctx := ctxFor(t)
		_, errC := c.Create(ctx, ppExampleRequest())
		_, errG := c.Get(ctx, "aB1cD2eF")
		_, errL := c.List(ctx, pawapass.ListQuery{})
		for name, err := range map[string]error{"Create": errC, "Get": errG, "List": errL} {
			if !errors.Is(err, upstream.ErrBadCredentials) {
				t.Errorf("client: %s answered with the example 401: %v, want upstream.ErrBadCredentials; %s", name, err, ppNotesErrors)
			}
			if err != nil && strings.Contains(err.Error(), key) {
				t.Errorf("client: %s error shows the API key: %v", name, err)
			}
		}
	})
}

func hmacHex(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// ppCheckNotification compares a parsed notification with its body.
func ppCheckNotification(t *testing.T, what string, n pawapass.Notification, body []byte, blame string) {
	t.Helper()
	f := ppFields("data.", n.Data)
	f["notificationId"] = n.NotificationID
	f["type"] = n.Type
	f["object"] = n.Object
	f["createdAt"] = n.CreatedAt
	checkFields(t, what, body, f, ppStop, blame)
	var w struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &w); err == nil && string(n.Data.Raw) != strings.TrimSpace(string(w.Data)) {
		t.Errorf("client: %s: Data.Raw is not the data object as received", what)
	}
}

// ---- the simulator over HTTP -------------------------------------------------

// ppEnv is a pawaPass simulator behind the harness on a real HTTP server,
// a webhook receiver, and a client with the simulator's key.
type ppEnv struct {
	t      *testing.T
	clk    *clock
	sim    *pawapasssim.Sim
	srv    *httptest.Server
	root   string // the simulator's root: <server>/sandbox/pawapass
	hooks  *receiver
	client *pawapass.Client
}

func newPPEnv(t *testing.T) *ppEnv {
	t.Helper()
	e := &ppEnv{t: t, clk: &clock{t: ppStart}}
	e.hooks = newReceiver()
	t.Cleanup(e.hooks.srv.Close) // runs last
	e.sim = pawapasssim.New(pawapasssim.Options{
		Now:            e.clk.Now,
		WebhookURL:     e.hooks.srv.URL + "/pawapass/webhooks",
		WebhookSecret:  ppWebhookSecret,
		WebhookBackoff: 10 * time.Millisecond,
	})
	h := sandbox.New("/sandbox")
	if err := h.Register(e.sim); err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	t.Cleanup(func() { _ = e.sim.Close() }) // runs first: ends webhook deliveries
	e.root = e.srv.URL + "/sandbox/pawapass"
	e.client = ppTestClient(e.root+"/v2", pawapasssim.DefaultAPIKey)
	return e
}

var ppBearer = http.Header{"Authorization": {"Bearer " + pawapasssim.DefaultAPIKey}, "Content-Type": {"application/json"}}

// simJSON is the simulator's own view of verification id, as its GET
// would answer.
func (e *ppEnv) simJSON(id string) []byte {
	e.t.Helper()
	b, ok := e.sim.VerificationJSON(id)
	if !ok {
		e.t.Fatalf("simulator does not know verification %s", id)
	}
	return b
}

func (e *ppEnv) must(what string, err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatalf("simulator: %s: %v", what, err)
	}
}

// TestPawaPassSimulatorShapes: driven over HTTP without the client, the
// simulator accepts the example request as it is and answers create, get
// and list with exactly the example's keys and JSON types (null only where
// the document allows it), and errors with the documented 401 shape.
func TestPawaPassSimulatorShapes(t *testing.T) {
	t.Parallel()
	e := newPPEnv(t)
	reqDoc := upstreamFile(t, "pawapass", "create_request.json")
	verDoc := upstreamFile(t, "pawapass", "create_response.json")
	errDoc := upstreamFile(t, "pawapass", "error_401.json")
	const shapeBlame = ppDocExample + "; " + ppDocResponse

	create := func(t *testing.T, header http.Header, body []byte) map[string]any {
		t.Helper()
		code, _, b := rawCall(t, http.MethodPost, e.root+"/v2/verifications/", body, header)
		if code/100 != 2 {
			t.Fatalf("simulator: POST /v2/verifications/ with the example request answered %d %s; %s", code, b, ppDocExample)
		}
		checkShape(t, "create answer", verDoc, b, ppRules(""), shapeBlame)
		return jsonObject(t, "create answer", b)
	}

	var id string
	t.Run("create", func(t *testing.T) {
		got := create(t, ppBearer, reqDoc)
		id = str(got, "id")
		req := jsonObject(t, "example request", reqDoc)
		// The example answer echoes every property of the request.
		for _, k := range []string{"externalId", "requirements", "successUrl", "errorUrl", "supportUrl", "country", "phoneNo", "metadata", "expiresAt", "createdBy"} {
			wb, _ := json.Marshal(req[k])
			gb, _ := json.Marshal(got[k])
			if string(wb) != string(gb) {
				t.Errorf("simulator: create answer %s = %s, want the request's %s echoed; %s", k, gb, wb, ppDocExample)
			}
		}
		if str(got, "createdBy") != ppCreatedBy {
			t.Errorf("simulator: createdBy = %q, want %q verbatim (no-break space)", str(got, "createdBy"), ppCreatedBy)
		}
		if str(got, "status") != pawapass.StatusCreated || id == "" || !absoluteURL(str(got, "url")) {
			t.Errorf("simulator: create answer status %q id %q url %q, want CREATED, an id and an absolute URL; %s", str(got, "status"), id, str(got, "url"), ppDocExample)
		}
		if str(got, "createdAt") != "2025-08-20T09:00:00.000Z" {
			t.Errorf("simulator: createdAt = %q, want the clock's %s in the example's form; %s", str(got, "createdAt"), "2025-08-20T09:00:00.000Z", ppDocExample)
		}
		for _, k := range []string{"identityDocument", "faceScan", "reviewResult"} {
			if got[k] != nil {
				t.Errorf("simulator: a new verification has %s = %v; %s", k, got[k], ppDocResponse)
			}
		}
	})
	if id == "" {
		t.FailNow()
	}

	t.Run("create with X-AUTH-KEY", func(t *testing.T) {
		body := []byte(strings.Replace(string(reqDoc), "user-zm-98765", "user-zm-legacy-header", 1))
		create(t, http.Header{"X-Auth-Key": {pawapasssim.DefaultAPIKey}, "Content-Type": {"application/json"}}, body)
	})

	get := func(t *testing.T, id, what string, rules shapeRules) map[string]any {
		t.Helper()
		code, _, b := rawCall(t, http.MethodGet, e.root+"/v2/verifications/"+id, nil, ppBearer)
		if code != http.StatusOK {
			t.Fatalf("simulator: GET /v2/verifications/%s (%s) answered %d %s; %s", id, what, code, b, ppNotesList)
		}
		checkShape(t, "get answer ("+what+")", verDoc, b, rules, shapeBlame)
		return jsonObject(t, "get answer", b)
	}

	t.Run("get along the way", func(t *testing.T) {
		get(t, id, "CREATED", ppRules(""))
		e.clk.Advance(time.Minute)
		e.must("Start", e.sim.Start(id))
		get(t, id, "STARTED", ppRules(""))
		e.must("SubmitDocument", e.sim.SubmitDocument(id))
		e.must("SubmitFace", e.sim.SubmitFace(id))
		got := get(t, id, "STARTED, scanned", ppRules(""))
		if got["identityDocument"] == nil || got["faceScan"] == nil {
			t.Errorf("simulator: identityDocument / faceScan still null after both scans; %s", ppDocResponse)
		}
		e.clk.Advance(time.Minute)
		e.must("Collect", e.sim.Collect(id))
		get(t, id, "USER_DATA_COLLECTED", ppRules(""))
		e.must("Review", e.sim.Review(id))
		get(t, id, "REVIEW", ppRules(""))
		e.clk.Advance(time.Minute)
		e.must("Decline", e.sim.Decline(id, pawapasssim.ReasonCaptureIssue))
		// Everything the example shows is now known: nothing may be null.
		got = get(t, id, "DECLINED", shapeRules{free: prefixed("", "metadata")})
		if str(got, "status") != pawapass.StatusDeclined {
			t.Errorf("simulator: status %q after Decline", str(got, "status"))
		}
	})

	t.Run("list", func(t *testing.T) {
		code, _, b := rawCall(t, http.MethodGet, e.root+"/v2/verifications/?externalId=user-zm-98765&page=0&limit=15", nil, ppBearer)
		if code != http.StatusOK {
			t.Fatalf("simulator: list answered %d %s; %s", code, b, ppNotesList)
		}
		// NOTES.md gives the list's shape, with the verification object
		// (the example) as items[].
		want := []byte(`{"items":[` + strings.TrimSpace(string(verDoc)) + `],"count":1}`)
		checkShape(t, "list answer", want, b, ppRules("items[]."), ppNotesList+"; "+shapeBlame)
		m := jsonObject(t, "list answer", b)
		items, _ := m["items"].([]any)
		if count, _ := m["count"].(json.Number); len(items) != 1 || count != "1" {
			t.Errorf("simulator: list by externalId = %d items, count %v, want the one verification; %s", len(items), m["count"], ppNotesList)
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			name, method, path string
			header             http.Header
		}{
			{"create without a key", http.MethodPost, "/v2/verifications/", http.Header{"Content-Type": {"application/json"}}},
			{"create with a wrong key", http.MethodPost, "/v2/verifications/", http.Header{"Authorization": {"Bearer not-the-key"}, "Content-Type": {"application/json"}}},
			{"get with a wrong key", http.MethodGet, "/v2/verifications/" + id, http.Header{"Authorization": {"Bearer not-the-key"}}},
			{"list without a key", http.MethodGet, "/v2/verifications/", nil},
		} {
			var body []byte
			if tc.method == http.MethodPost {
				body = reqDoc
			}
			code, _, b := rawCall(t, tc.method, e.root+tc.path, body, tc.header)
			if code != http.StatusUnauthorized || !jsonEqual(t, b, errDoc) {
				t.Errorf("simulator: %s answered %d %s, want 401 %s; %s", tc.name, code, b, errDoc, ppNotesErrors)
			}
		}
		// The 404 body is not published: the documented error shape is
		// expected for it too [ours].
		code, _, b := rawCall(t, http.MethodGet, e.root+"/v2/verifications/zZ9yY8xX", nil, ppBearer)
		if code != http.StatusNotFound {
			t.Errorf("simulator: GET of an unknown id answered %d %s, want 404", code, b)
		}
		checkShape(t, "404 answer", errDoc, b, shapeRules{}, ppNotesErrors+" (the 404's body is [ours]: the 401's shape)")
	})
}

// ---- client against simulator ------------------------------------------------

// TestPawaPassRoundTrip: our client against the simulator: create, the
// simulator driven to approval and to a decline with its Go methods, get
// and list decoding every field the simulator filled, and the signed
// webhooks it sent verified and parsed by the client.
func TestPawaPassRoundTrip(t *testing.T) {
	t.Parallel()
	e := newPPEnv(t)
	ctx := ctxFor(t)
	const blame = "client or simulator (the JSON is the simulator's; compare with " + ppDocResponse + ")"

	in := ppExampleRequest()
	v, err := e.client.Create(ctx, in)
	if err != nil {
		t.Fatalf("client or simulator: Create with the example's inputs: %v; %s", err, ppDocExample)
	}
	ppCheckVerification(t, "create", v, v.Raw, blame)
	ppCheckVerification(t, "create (the simulator's state)", v, e.simJSON(v.ID), blame)
	metadata, _ := json.Marshal(in.Metadata)
	switch {
	case v.ExternalID != in.ExternalID, v.Country != in.Country, v.PhoneNo != in.PhoneNo,
		v.SuccessURL != in.SuccessURL, v.ErrorURL != in.ErrorURL, v.SupportURL != in.SupportURL,
		v.CreatedBy != in.CreatedBy, !v.ExpiresAt.Equal(in.ExpiresAt), !jsonEqual(t, v.Metadata, metadata),
		len(v.Requirements) != 2 || v.Requirements[0].Type != in.Requirements[0].Type || v.Requirements[1].Type != in.Requirements[1].Type:
		t.Errorf("client or simulator: the create answer does not echo the request: %+v; %s", v, ppDocExample)
	}
	if v.Status != pawapass.StatusCreated || !v.CreatedAt.Equal(ppStart) || !v.UpdatedAt.Equal(ppStart) {
		t.Errorf("client or simulator: create answer status %q createdAt %s updatedAt %s, want CREATED at %s; %s", v.Status, v.CreatedAt, v.UpdatedAt, ppStart, ppDocExample)
	}
	checkPopulated(t, "create", v, map[string]bool{
		"Requirements[].Options": true, "IdentityDocument": true, "FaceScan": true, "ReviewResult": true,
	}, blame)
	// "url: URL where the user should complete the verification".
	if code, hdr, _ := getPage(t, v.URL); code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
		t.Errorf("client or simulator: GET of the verification's url %s answered %d %s, want the hosted page; %s", v.URL, code, hdr.Get("Content-Type"), ppDocResponse)
	}

	// The person opens the page, scans, submits; pawaPass approves.
	approved := v.ID
	e.clk.Advance(2 * time.Minute)
	e.must("Start", e.sim.Start(approved))
	e.clk.Advance(time.Minute)
	e.must("SubmitDocument", e.sim.SubmitDocument(approved))
	e.must("SubmitFace", e.sim.SubmitFace(approved))
	e.clk.Advance(time.Minute)
	e.must("Review", e.sim.Review(approved))
	e.clk.Advance(time.Hour)
	e.must("Approve", e.sim.Approve(approved))
	got, err := e.client.Get(ctx, approved)
	if err != nil {
		t.Fatalf("client or simulator: Get(approved): %v; %s", err, ppNotesList)
	}
	ppCheckVerification(t, "get (approved)", got, e.simJSON(approved), blame)
	ppCheckVerification(t, "get (approved, as received)", got, got.Raw, blame)
	// The simulator leaves reviewResult null on an approval [ours].
	checkPopulated(t, "get (approved)", got, map[string]bool{"Requirements[].Options": true, "ReviewResult": true}, blame)
	if got.Status != pawapass.StatusApproved || !pawapass.IsFinal(got.Status) || !got.UpdatedAt.Equal(e.clk.Now()) {
		t.Errorf("client or simulator: approved verification has status %q updatedAt %s, want APPROVED at %s; %s", got.Status, got.UpdatedAt, e.clk.Now(), ppNotesStatus)
	}

	// A second person, declined.
	in2 := ppExampleRequest()
	in2.ExternalID = "user-zm-declined"
	in2.ExpiresAt = time.Time{} // the simulator's default applies
	v2, err := e.client.Create(ctx, in2)
	if err != nil {
		t.Fatalf("client or simulator: Create (second): %v", err)
	}
	declined := v2.ID
	e.clk.Advance(time.Minute)
	e.must("Start", e.sim.Start(declined))
	e.must("SubmitDocument", e.sim.SubmitDocument(declined))
	e.must("SubmitFace", e.sim.SubmitFace(declined))
	e.must("Collect", e.sim.Collect(declined))
	e.clk.Advance(time.Minute)
	e.must("Decline", e.sim.Decline(declined, pawapasssim.ReasonImageQuality))
	got2, err := e.client.Get(ctx, declined)
	if err != nil {
		t.Fatalf("client or simulator: Get(declined): %v", err)
	}
	ppCheckVerification(t, "get (declined)", got2, e.simJSON(declined), blame)
	checkPopulated(t, "get (declined)", got2, map[string]bool{"Requirements[].Options": true}, blame)
	if got2.Status != pawapass.StatusDeclined || got2.ReviewResult == nil || got2.ReviewResult.Reason != pawapasssim.ReasonImageQuality {
		t.Errorf("client or simulator: declined verification: status %q reviewResult %+v, want DECLINED with reason IMAGE_QUALITY", got2.Status, got2.ReviewResult)
	}
	if got2.ExpiresAt.IsZero() || !got2.ExpiresAt.After(got2.CreatedAt) {
		t.Errorf("simulator: expiresAt %s without one in the request, want a time after createdAt; %s (expiresAt \"required\" in the answer)", got2.ExpiresAt, ppDocResponse)
	}

	t.Run("list", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			q    pawapass.ListQuery
			want []string
		}{
			{"all", pawapass.ListQuery{}, []string{approved, declined}},
			{"by externalId", pawapass.ListQuery{ExternalID: "user-zm-98765"}, []string{approved}},
			{"by id", pawapass.ListQuery{ID: declined}, []string{declined}},
			{"by statuses", pawapass.ListQuery{Statuses: []string{pawapass.StatusDeclined, pawapass.StatusExpired}}, []string{declined}},
			{"no match", pawapass.ListQuery{Statuses: []string{pawapass.StatusReview}}, nil},
		} {
			res, err := e.client.List(ctx, tc.q)
			if err != nil {
				t.Errorf("client or simulator: List(%s): %v; %s", tc.name, err, ppNotesList)
				continue
			}
			if res.Count != len(tc.want) || len(res.Items) != len(tc.want) {
				t.Errorf("client or simulator: List(%s) = %d items, count %d, want %d; %s", tc.name, len(res.Items), res.Count, len(tc.want), ppNotesList)
				continue
			}
			for _, it := range res.Items {
				if !strings.Contains(strings.Join(tc.want, " "), it.ID) {
					t.Errorf("client or simulator: List(%s) has %s, want only %v", tc.name, it.ID, tc.want)
				}
				ppCheckVerification(t, "list "+tc.name+" item "+it.ID, it, e.simJSON(it.ID), blame)
			}
		}
		// Paging: page 0 and page 1 of one item each are the two.
		p0, err0 := e.client.List(ctx, pawapass.ListQuery{Limit: 1})
		p1, err1 := e.client.List(ctx, pawapass.ListQuery{Limit: 1, Page: 1})
		if err0 != nil || err1 != nil || len(p0.Items) != 1 || len(p1.Items) != 1 || p0.Count != 2 || p1.Count != 2 || p0.Items[0].ID == p1.Items[0].ID {
			t.Errorf("client or simulator: List pages of 1: %v %v (%d, %d items, counts %d, %d), want two pages of one different item, count 2; %s", err0, err1, len(p0.Items), len(p1.Items), p0.Count, p1.Count, ppNotesList)
		}
	})

	t.Run("errors", func(t *testing.T) {
		if _, err := e.client.Get(ctx, "zZ9yY8xX"); !errors.Is(err, upstream.ErrNotFound) {
			t.Errorf("client or simulator: Get(unknown id) = %v, want upstream.ErrNotFound", err)
		}
		bad := ppTestClient(e.root+"/v2", "not-the-key")
		before := e.sim.CreateCalls()
		_, errC := bad.Create(ctx, ppExampleRequest())
		_, errG := bad.Get(ctx, approved)
		_, errL := bad.List(ctx, pawapass.ListQuery{})
		for name, err := range map[string]error{"Create": errC, "Get": errG, "List": errL} {
			if !errors.Is(err, upstream.ErrBadCredentials) {
				t.Errorf("client or simulator: %s with a wrong key = %v, want upstream.ErrBadCredentials; %s", name, err, ppNotesErrors)
			}
		}
		if n := e.sim.CreateCalls() - before; n != 1 {
			t.Errorf("client: a refused Create reached the simulator %d times, want once (a 401 is not retried)", n)
		}
	})

	// A face-only re-verification against the approved one: the
	// requirement's options travel both ways.
	reverify := pawapass.CreateRequest{
		ExternalID:   "user-zm-98765",
		Requirements: []pawapass.Requirement{{Type: pawapass.RequirementFaceScan, Options: &pawapass.RequirementOptions{PreviousVerificationID: approved}}},
		SuccessURL:   in.SuccessURL, ErrorURL: in.ErrorURL, SupportURL: in.SupportURL,
		Country: "ZM", PhoneNo: in.PhoneNo, Metadata: map[string]string{"reason": "re-verification"}, CreatedBy: "ops@portal.example",
	}
	v3, err := e.client.Create(ctx, reverify)
	if err != nil {
		t.Fatalf("client or simulator: Create (re-verification of %s): %v; NOTES.md (pawaPass): \"requirements[].options.previousVerificationId asks for a face-only re-verification\"", approved, err)
	}
	ppCheckVerification(t, "create (re-verification)", v3, v3.Raw, blame)
	if len(v3.Requirements) != 1 || v3.Requirements[0].Options == nil || v3.Requirements[0].Options.PreviousVerificationID != approved {
		t.Errorf("client or simulator: re-verification requirements = %+v, want FACE_SCAN with options.previousVerificationId %s echoed", v3.Requirements, approved)
	}
	checkPopulated(t, "create (re-verification)", v3, map[string]bool{"IdentityDocument": true, "FaceScan": true, "ReviewResult": true}, blame)

	// A verification nobody completes expires at its expiresAt [doc].
	in4 := ppExampleRequest()
	in4.ExternalID = "user-zm-expiring"
	in4.ExpiresAt = e.clk.Now().Add(time.Hour)
	v4, err := e.client.Create(ctx, in4)
	if err != nil {
		t.Fatalf("client or simulator: Create (expiring): %v", err)
	}
	e.clk.Advance(2 * time.Hour)
	got4, err := e.client.Get(ctx, v4.ID)
	if err != nil {
		t.Fatalf("client or simulator: Get(expired): %v", err)
	}
	ppCheckVerification(t, "get (expired)", got4, got4.Raw, blame)
	if got4.Status != pawapass.StatusExpired || !got4.ExpiresAt.Equal(in4.ExpiresAt) || !pawapass.IsFinal(got4.Status) {
		t.Errorf("client or simulator: a verification past its expiresAt %s is %s (expiresAt %s), want EXPIRED; %s: \"EXPIRED after expiresAt\"", in4.ExpiresAt, got4.Status, got4.ExpiresAt, ppNotesStatus)
	}

	t.Run("webhooks", func(t *testing.T) {
		ppCheckWebhooks(t, e, map[string]ppHooksWant{
			approved: {statuses: []string{pawapass.StatusStarted, pawapass.StatusUserDataCollected, pawapass.StatusReview, pawapass.StatusApproved}, docScans: 1},
			declined: {statuses: []string{pawapass.StatusStarted, pawapass.StatusUserDataCollected, pawapass.StatusDeclined}, docScans: 1},
			v4.ID:    {statuses: []string{pawapass.StatusExpired}},
		})
	})
}

// ppHooksWant is the webhooks expected about one verification.
type ppHooksWant struct {
	statuses []string // of the STATUS_CHANGE webhooks, in any order
	docScans int      // IDENTITY_DOCUMENT_CHANGE webhooks
}

// ppHook is one webhook the receiver got, parsed by the client.
type ppHook struct {
	body []byte
	n    pawapass.Notification
}

// ppCheckWebhooks checks every webhook the receiver got: a JSON POST with
// the shape of the example webhook, signed so that the client's
// VerifySignature accepts it, parsed by ParseNotification field by field.
// want lists the webhooks expected per verification. A resend carries the
// same notificationId and body.
func ppCheckWebhooks(t *testing.T, e *ppEnv, want map[string]ppHooksWant) {
	t.Helper()
	ctx := ctxFor(t)
	hookDoc := upstreamFile(t, "pawapass", "webhook_status_change.json")
	const blame = "client or simulator: " + ppNotesHooks
	wait := func() []hit {
		t.Helper()
		if err := e.sim.WaitWebhooks(ctx); err != nil {
			t.Fatalf("simulator: webhooks still under way: %v", err)
		}
		return e.hooks.Hits()
	}
	parse := func(h hit) (ppHook, bool) {
		t.Helper()
		if h.method != http.MethodPost || h.path != "/pawapass/webhooks" || !strings.HasPrefix(h.header.Get("Content-Type"), "application/json") {
			t.Errorf("simulator: webhook was %s %s (%s), want a JSON POST to the webhook URL; %s", h.method, h.path, h.header.Get("Content-Type"), ppNotesHooks)
		}
		sig := h.header.Get(pawapass.SignatureHeader)
		if sig != hmacHex(ppWebhookSecret, h.body) {
			t.Errorf("simulator: X-Signature %q is not the lower-case hex HMAC-SHA256 of the body; %s", sig, ppNotesHooks)
		}
		if !pawapass.VerifySignature(ppWebhookSecret, h.body, sig) {
			t.Errorf("client or simulator: VerifySignature refuses the simulator's webhook (X-Signature %q); %s", sig, ppNotesHooks)
		}
		if pawapass.VerifySignature("another-secret", h.body, sig) {
			t.Errorf("client: VerifySignature accepts the simulator's webhook with another secret")
		}
		checkShape(t, "webhook", hookDoc, h.body, ppRules("data."), ppNotesHooks+"; "+ppDocResponse)
		n, err := pawapass.ParseNotification(h.body)
		if err != nil {
			t.Errorf("client or simulator: ParseNotification of the simulator's webhook: %v\n%s\n%s", err, h.body, ppNotesHooks)
			return ppHook{}, false
		}
		ppCheckNotification(t, "webhook "+n.NotificationID, n, h.body, blame)
		if !uuidRe.MatchString(n.NotificationID) || n.Object != pawapass.NotificationObject || n.CreatedAt.IsZero() {
			t.Errorf("simulator: webhook notificationId %q object %q createdAt %s, want a UUID, VERIFICATION and a time; %s", n.NotificationID, n.Object, n.CreatedAt, ppNotesHooks)
		}
		return ppHook{h.body, n}, true
	}

	hits := wait()
	byID := map[string]ppHook{}
	changes := map[string][]string{} // verification -> STATUS_CHANGE statuses
	docChanges := map[string]int{}
	for _, h := range hits {
		p, ok := parse(h)
		if !ok {
			continue
		}
		if _, dup := byID[p.n.NotificationID]; dup {
			t.Errorf("simulator: notificationId %s used by two notifications; %s", p.n.NotificationID, ppNotesHooks)
		}
		byID[p.n.NotificationID] = p
		switch p.n.Type {
		case pawapass.NotificationStatusChange:
			changes[p.n.Data.ID] = append(changes[p.n.Data.ID], p.n.Data.Status)
		case pawapass.NotificationIdentityDocumentChange:
			docChanges[p.n.Data.ID]++
			if p.n.Data.IdentityDocument == nil {
				t.Errorf("simulator: IDENTITY_DOCUMENT_CHANGE about %s has identityDocument null; %s", p.n.Data.ID, ppNotesHooks)
			}
		default:
			t.Errorf("simulator: webhook type %q is not documented; %s", p.n.Type, ppNotesHooks)
		}
	}
	for id, w := range want {
		// Deliveries run concurrently: compare as sets.
		if got := changes[id]; !sameSet(got, w.statuses) {
			t.Errorf("simulator: STATUS_CHANGE webhooks about %s carried statuses %v, want %v (one per status change [ours: the document does not list when]); %s", id, got, w.statuses, ppNotesStatus)
		}
		if docChanges[id] != w.docScans {
			t.Errorf("simulator: %d IDENTITY_DOCUMENT_CHANGE webhooks about %s, want %d (one per document scan); %s", docChanges[id], id, w.docScans, ppNotesHooks)
		}
	}
	for _, d := range e.sim.Deliveries() {
		if !d.Delivered || len(d.Attempts) != 1 {
			t.Errorf("simulator: delivery %s (%s %s) delivered=%v after %d attempts, want delivered on the first to a receiver answering 200", d.NotificationID, d.Type, d.Status, d.Delivered, len(d.Attempts))
		}
	}

	// A resend is the same notification: same id, same bytes.
	for id := range want {
		before := len(hits)
		if err := e.sim.ResendWebhook(id); err != nil {
			t.Fatalf("simulator: ResendWebhook(%s): %v", id, err)
		}
		hits = wait()
		if len(hits) != before+1 {
			t.Fatalf("simulator: ResendWebhook(%s) posted %d webhooks, want 1", id, len(hits)-before)
		}
		p, ok := parse(hits[len(hits)-1])
		if !ok {
			continue
		}
		first, seen := byID[p.n.NotificationID]
		if !seen || string(first.body) != string(p.body) {
			t.Errorf("simulator: the resent webhook about %s has notificationId %s, not one sent before with the same body; %s", id, p.n.NotificationID, ppNotesHooks)
		}
	}
}

// sameSet reports whether a and b hold the same strings, counting repeats.
func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	n := map[string]int{}
	for _, s := range a {
		n[s]++
	}
	for _, s := range b {
		n[s]--
	}
	for _, c := range n {
		if c != 0 {
			return false
		}
	}
	return true
}
