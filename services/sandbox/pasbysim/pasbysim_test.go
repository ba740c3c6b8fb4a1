package pasbysim_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"portal/services/sandbox"
	"portal/services/sandbox/pasbysim"
	"portal/services/sandbox/simtest"
)

func TestSimulatorRegistration(t *testing.T) {
	e := setup(t, pasbysim.Options{})
	simtest.CheckRegistration(t, e.harness, e.sim, "pasby", "pasby e-signature", []string{
		"POST /api/v2/document/signing",
		"POST /api/v2/document/review",
		"POST /api/v2/document/refresh",
		"POST /api/v2/flow/ping",
		"GET /api/v2/flow/sse",
		"POST /api/v2/flow/cancel",
		"POST /api/v2/flow/polling",
		"POST /api/v1/document/signing",
		"POST /api/v1/document/review",
		"POST /api/v1/document/refresh",
		"POST /api/v1/flow/ping",
		"POST /api/v1/flow/cancel",
		"POST /api/v1/flow/polling",
		"GET /api/v1/flow/authorize",
		"GET /api/health/check",
		"GET /contract/{id}",
		"POST /contract/{id}/open",
		"POST /contract/{id}/sign",
		"GET /assets/review.css",
		"GET /edoc/{file}",
	}, []string{"sign", "cancel", "expire", "resend_webhook"})
}

func TestDefaultCredentialsShape(t *testing.T) {
	if !strings.HasPrefix(pasbysim.DefaultAPIKey, "bk-test_") || !strings.HasPrefix(pasbysim.DefaultAppSecret, "snb_") {
		t.Fatalf("key %q secret %q", pasbysim.DefaultAPIKey, pasbysim.DefaultAppSecret)
	}
}

// --- authentication ---

func TestAuthV2(t *testing.T) {
	e := setup(t, pasbysim.Options{})
	body := e.signingBody("r", "12345678901")
	for _, tc := range []struct {
		name    string
		headers map[string]string
		reason  string
	}{
		{"no key", map[string]string{"x-access-secret": pasbysim.DefaultAppSecret}, "Missing x-api-key"},
		{"wrong key", map[string]string{"x-api-key": "bk-test_nope", "x-access-secret": pasbysim.DefaultAppSecret}, "Invalid API key"},
		{"live key", map[string]string{"x-api-key": "bk-live_abc", "x-access-secret": pasbysim.DefaultAppSecret}, "Live API keys"},
		{"no secret", map[string]string{"x-api-key": pasbysim.DefaultAPIKey}, "Missing x-access-secret"},
		{"wrong secret", map[string]string{"x-api-key": pasbysim.DefaultAPIKey, "x-access-secret": "snb_nope"}, "Invalid app secret"},
		{"production secret", map[string]string{"x-api-key": pasbysim.DefaultAPIKey, "x-access-secret": "prd_abc"}, "Production app secrets"},
		{"token instead of secret", map[string]string{"x-api-key": pasbysim.DefaultAPIKey, "x-access-token": "x"}, "not x-access-token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, b := e.api(http.MethodPost, pasbysim.PathV2Signing, tc.headers, body)
			wantError(t, st, b, http.StatusUnauthorized, "unauthorized", "authorization_error", tc.reason)
			if v := decodeEnvelope(t, b); v.Version != "v2" {
				t.Errorf("version %q", v.Version)
			}
		})
	}
	if c := e.sim.CreateCalls(); c.Signing != 0 || c.Rejected != 7 {
		t.Fatalf("counts %+v", c)
	}
	st, b := e.v2(pasbysim.PathV2Signing, body)
	if st != http.StatusCreated {
		t.Fatalf("with key and secret: %d %s", st, b)
	}
	if c := e.sim.CreateCalls(); c.Signing != 1 || c.Review != 0 || c.Rejected != 7 {
		t.Fatalf("counts %+v", c)
	}
}

func TestAuthCustomCredentials(t *testing.T) {
	e := setup(t, pasbysim.Options{APIKey: "bk-test_other", AppSecret: "snb_other"})
	st, b := e.v2(pasbysim.PathV2Ping, `{"request":"x"}`)
	wantError(t, st, b, http.StatusUnauthorized, "unauthorized", "authorization_error", "Invalid API key")
	st, b = e.api(http.MethodPost, pasbysim.PathV2Ping, map[string]string{"x-api-key": "bk-test_other", "x-access-secret": "snb_other"}, `{"request":"x"}`)
	wantError(t, st, b, http.StatusBadRequest, "failed", "invalid_request", "Flow request with such id does not exists")
}

func TestAuthV1Token(t *testing.T) {
	e := setup(t, pasbysim.Options{TokenTTL: time.Hour})

	// authorize takes the key and the secret (the document's curl).
	st, b := e.api(http.MethodGet, pasbysim.PathV1Authorize+"?sub=c&app=a", map[string]string{"x-api-key": pasbysim.DefaultAPIKey}, "")
	wantError(t, st, b, http.StatusUnauthorized, "unauthorized", "authorization_error", "Missing x-access-secret")
	st, b = e.api(http.MethodGet, pasbysim.PathV1Authorize+"?sub=c", v2Headers(), "")
	wantError(t, st, b, http.StatusBadRequest, "failed", "param_error", "app is required when sub is set")

	tok := e.token()
	if parts := strings.Split(tok, "."); len(parts) != 3 {
		t.Fatalf("token %q is not a JWT", tok)
	}
	st, b = e.api(http.MethodGet, pasbysim.PathV1Authorize+"?sub=consumer-1&app=app-1", v2Headers(), "")
	if env := decodeEnvelope(t, b); st != http.StatusOK || env.Version != "v1" || env.Reason == "" {
		t.Fatalf("authorize answer %d %s", st, b)
	}

	// v1 documents and flows take the token, not the secret.
	st, b = e.api(http.MethodPost, pasbysim.PathV1Signing, v2Headers(), e.signingBody("r", "12345678901"))
	wantError(t, st, b, http.StatusUnauthorized, "unauthorized", "authorization_error", "x-access-token")
	st, b = e.v1("not-a-token", pasbysim.PathV1Signing, e.signingBody("r", "12345678901"))
	wantError(t, st, b, http.StatusUnauthorized, "unauthorized", "authorization_error", "Invalid access token")
	st, b = e.api(http.MethodPost, pasbysim.PathV1Signing, map[string]string{"x-api-key": "bk-test_x", "x-access-token": tok}, e.signingBody("r", "12345678901"))
	wantError(t, st, b, http.StatusUnauthorized, "unauthorized", "authorization_error", "Invalid API key")

	st, b = e.v1(tok, pasbysim.PathV1Signing, e.signingBody("r", "12345678901"))
	if st != http.StatusCreated {
		t.Fatalf("v1 signing: %d %s", st, b)
	}
	var cr createResult
	if env := decodeData(t, b, &cr); env.Version != "v1" {
		t.Fatalf("version %q", env.Version)
	}
	id := cr.Request.ID
	for _, p := range []string{pasbysim.PathV1Ping, pasbysim.PathV1Cancel} {
		st, b = e.v1(tok, p, `{"request":"`+id+`"}`)
		if st/100 != 2 || decodeEnvelope(t, b).Version != "v1" {
			t.Fatalf("%s: %d %s", p, st, b)
		}
	}
	// A v1 document is a document like any other: v2 sees it.
	if d := e.pingDoc(id); d.ID != id || !*d.Cancelled {
		t.Fatalf("v2 ping of the v1 document: %+v", d)
	}
	if doc := e.doc(id); doc.Version != "v1" {
		t.Fatalf("snapshot version %q", doc.Version)
	}

	// The token expires.
	e.clock.Advance(time.Hour)
	st, b = e.v1(tok, pasbysim.PathV1Ping, `{"request":"`+id+`"}`)
	wantError(t, st, b, http.StatusUnauthorized, "unauthorized", "authorization_error", "expired")
	// A new one works.
	st, b = e.v1(e.token(), pasbysim.PathV1Ping, `{"request":"`+id+`"}`)
	if st != http.StatusOK {
		t.Fatalf("new token: %d %s", st, b)
	}
}

func TestAuthorizeWithoutSub(t *testing.T) {
	e := setup(t, pasbysim.Options{})
	st, b := e.api(http.MethodGet, pasbysim.PathV1Authorize, v2Headers(), "")
	if st != http.StatusOK {
		t.Fatalf("authorize without sub: %d %s", st, b)
	}
}

func TestPollingNeedsTokenOnV2(t *testing.T) {
	// "x-api-key, x-access-token (required even on the v2 route)"
	e := setup(t, pasbysim.Options{})
	st, b := e.v2(pasbysim.PathV2Polling, `{"request":"x"}`)
	wantError(t, st, b, http.StatusUnauthorized, "unauthorized", "authorization_error", "x-access-token")
	st, b = e.api(http.MethodPost, pasbysim.PathV2Polling, tokenHeaders(e.token()), `{"request":"x"}`)
	wantError(t, st, b, http.StatusBadRequest, "failed", "invalid_request", "Flow request with such id does not exists")
	if v := decodeEnvelope(t, b); v.Version != "v2" {
		t.Fatalf("version %q", v.Version)
	}
}

// --- ids ---

var (
	docIDRe  = regexp.MustCompile(`^doc_[0-9a-f]{8}-[0-9a-f]{4}-1[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	flowIDRe = regexp.MustCompile(`^req_[0-9]+-[A-Za-z0-9]{4}$`)
)

func TestIDs(t *testing.T) {
	e := setup(t, pasbysim.Options{})
	seen := map[string]bool{}
	for range 50 { // same fake second every time
		d := e.createSigning("12345678901", "98765432109")
		if !docIDRe.MatchString(d.ID) || len(d.ID) != 40 {
			t.Fatalf("document id %q is not doc_ + a UUID v1 (40 characters)", d.ID)
		}
		if seen[d.ID] {
			t.Fatalf("duplicate id %s", d.ID)
		}
		seen[d.ID] = true
		for _, sg := range e.doc(d.ID).Signees {
			if !flowIDRe.MatchString(sg.FlowID) || sg.FlowID != fmt.Sprintf("req_%d-%s", start.Unix(), sg.FlowID[len(sg.FlowID)-4:]) {
				t.Fatalf("flow id %q", sg.FlowID)
			}
			if seen[sg.FlowID] {
				t.Fatalf("duplicate flow id %s", sg.FlowID)
			}
			seen[sg.FlowID] = true
		}
	}
}

func TestDocIDIsTimeBased(t *testing.T) {
	// The UUID v1 carries the creation time (100 ns since 1582-10-15).
	e := setup(t, pasbysim.Options{})
	id := e.createSigning("12345678901").ID
	hexs := strings.ReplaceAll(strings.TrimPrefix(id, "doc_"), "-", "")
	var low, mid, hi uint64
	fmt.Sscanf(hexs[0:8], "%x", &low)
	fmt.Sscanf(hexs[8:12], "%x", &mid)
	fmt.Sscanf(hexs[12:16], "%x", &hi)
	ts := (hi&0x0fff)<<48 | mid<<32 | low
	got := time.Unix(0, int64(ts-0x01B21DD213814000)*100).UTC()
	if !got.Equal(start) {
		t.Fatalf("UUID time %v, want %v", got, start)
	}
}

// --- lifecycles ---

func TestSigningLifecycle(t *testing.T) {
	e := setup(t, pasbysim.Options{})
	d := e.createSigning("12345678901", "98765432109")
	iat := start.Unix()
	if d.IAT != iat || d.EXP != iat+7200 || d.LUT != iat || d.Handled || d.Destination != "mobile" ||
		!slices.Equal(d.To, []string{"12345678901", "98765432109"}) || d.File.Name != "Service Agreement" ||
		d.Hook.Host != e.hooks.URL() || d.Hook.Reference != "ref-2" || d.Request == nil || d.Request.IP != "127.0.0.1" {
		t.Fatalf("created %+v", d)
	}
	if d.Mode != "" || d.Signee != nil || d.StatusLog != nil {
		t.Fatalf("a signing answer has no mode, signee or statusLog (the example has none): %+v", d)
	}

	// Refresh before anyone signs: stale, no stamped file, no signatures.
	r := e.refresh(d.ID)
	if r.Mode != "api" || r.Domain != "test" || r.Handled || r.File.Stamped != "" || len(r.Signatures) != 0 ||
		len(r.StatusLog) != 2 || r.StatusLog[0].Status != "stale" || r.StatusLog[1].Status != "stale" {
		t.Fatalf("refresh %+v", r)
	}
	// Simple signees are named from the sandbox's NIN directory.
	for _, sg := range r.Signee {
		if sg.Name == "" || strings.Contains(sg.Name, sg.NIN) || sg.Type != "person" || sg.Representing != sg.Name || sg.SignedAt != 0 {
			t.Fatalf("signee %+v", sg)
		}
	}
	p := e.pingDoc(d.ID)
	if p.Reference != d.ID || *p.Cancelled || *p.Onsession || p.Signature != "" {
		t.Fatalf("ping %+v", p)
	}

	e.clock.Advance(10 * time.Second)
	if err := e.sim.Open(d.ID, "12345678901"); err != nil {
		t.Fatal(err)
	}
	p = e.pingDoc(d.ID)
	if !*p.Onsession || p.StatusLog[0].Status != "viewing" || p.StatusLog[0].LUT != iat+10 || p.LUT != iat+10 {
		t.Fatalf("ping after open %+v", p)
	}

	e.clock.Advance(10 * time.Second)
	e.sign(d.ID, "12345678901")
	r = e.refresh(d.ID)
	if r.StatusLog[0].Status != "signed" || r.StatusLog[1].Status != "stale" || r.Handled || r.File.Stamped != "" ||
		len(r.Signatures) != 1 || r.Signee[0].SignedAt != iat+20 || r.Signee[0].IP == "" {
		t.Fatalf("refresh after one signature %+v", r)
	}
	if e.doc(d.ID).State != pasbysim.StatePending {
		t.Fatal("completed too early")
	}

	e.clock.Advance(10 * time.Second)
	e.sign(d.ID, "98765432109")
	r = e.refresh(d.ID)
	if !r.Handled || r.File.Stamped != e.base+"/edoc/"+d.ID+"-stamped.pdf" || len(r.Signatures) != 2 ||
		r.StatusLog[1].Status != "signed" || r.StatusLog[1].LUT != iat+30 {
		t.Fatalf("refresh once completed %+v", r)
	}
	for i, sig := range r.Signatures {
		if sig.NIN != r.Signee[i].NIN || sig.Name != r.Signee[i].Name || sig.IAT != r.Signee[i].SignedAt ||
			!uuidRe.MatchString(sig.Identification) || len(sig.Signature) < 40 {
			t.Fatalf("signature %+v", sig)
		}
	}
	p = e.pingDoc(d.ID)
	if p.Signature == "" || p.SignedAt != iat+30 || *p.Cancelled {
		t.Fatalf("ping once completed %+v", p)
	}
	doc := e.doc(d.ID)
	if doc.State != pasbysim.StateCompleted || !doc.Handled || doc.Stamped == "" || doc.Signees[1].Signature == "" {
		t.Fatalf("snapshot %+v", doc)
	}
	// Finished documents do not expire.
	e.clock.Advance(3 * time.Hour)
	if r2 := e.refresh(d.ID); !r2.Handled {
		t.Fatal("completed document changed after exp")
	}
	if err := e.sim.Sign(d.ID, "12345678901"); err != pasbysim.ErrAlreadySigned {
		t.Fatalf("signing twice: %v", err)
	}
}

var uuidRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestReviewLifecycle(t *testing.T) {
	e := setup(t, pasbysim.Options{})
	d, link := e.createReview(jane, john)
	if link != e.base+"/contract/"+d.ID {
		t.Fatalf("link %q", link)
	}
	if d.Mode != "interface" || d.EXP-d.IAT != 345600 || len(d.Signee) != 2 || len(d.StatusLog) != 2 ||
		!slices.Equal(d.To, []string{jane.NIN, john.NIN}) {
		t.Fatalf("created %+v", d)
	}
	if s := d.Signee[0]; s.Name != jane.Name || s.Type != jane.Type || s.Email != jane.Email || s.NIN != jane.NIN ||
		s.Representing != jane.Representing || s.Title != jane.Title {
		t.Fatalf("signee %+v", s)
	}
	if d.Signee[1].Title != "" {
		t.Fatalf("title not given: %+v", d.Signee[1])
	}
	e.sign(d.ID, jane.NIN)
	e.sign(d.ID, john.NIN)
	r := e.refresh(d.ID)
	if !r.Handled || r.Mode != "interface" || r.Signatures[0].Representing != "Acme Ltd" || r.Signee[1].SignedAt == 0 {
		t.Fatalf("refresh %+v", r)
	}
	if c := e.sim.CreateCalls(); c.Review != 1 || c.Signing != 0 {
		t.Fatalf("counts %+v", c)
	}
}

func TestPingSignatureFlow(t *testing.T) {
	e := setup(t, pasbysim.Options{})
	d := e.createSigning("12345678901", "98765432109")
	flowID := e.doc(d.ID).Signees[0].FlowID

	f := e.pingFlow(flowID)
	if f.Reference != flowID || f.Mode != "signature" || f.Requestee != "" || f.Onsession || f.Cancelled ||
		f.Signature != "" || f.Requester == "" || f.IAT != start.Unix() || f.Data["document"] != d.ID {
		t.Fatalf("flow %+v", f)
	}
	if err := e.sim.Open(d.ID, "12345678901"); err != nil {
		t.Fatal(err)
	}
	if f = e.pingFlow(flowID); f.Requestee != "12345678901" || !f.Onsession {
		t.Fatalf("flow picked up %+v", f)
	}
	e.clock.Advance(time.Minute)
	e.sign(d.ID, "12345678901")
	if f = e.pingFlow(flowID); f.Signature == "" || f.SignedAt != start.Unix()+60 {
		t.Fatalf("flow signed %+v", f)
	}
	// The document is not final yet.
	if p := e.pingDoc(d.ID); p.Signature != "" {
		t.Fatalf("document ping %+v", p)
	}
	// A signed flow cannot be cancelled; the other one can, and that
	// cancels the document.
	st, b := e.v2(pasbysim.PathV2Cancel, `{"request":"`+flowID+`"}`)
	wantError(t, st, b, http.StatusBadRequest, "handled", "invalid_request", "handled")
	other := e.doc(d.ID).Signees[1].FlowID
	st, b = e.v2(pasbysim.PathV2Cancel, `{"request":"`+other+`"}`)
	if st != http.StatusCreated {
		t.Fatalf("cancel flow: %d %s", st, b)
	}
	var m struct {
		Model flowData `json:"model"`
	}
	decodeData(t, b, &m)
	if m.Model.Reference != other || !m.Model.Cancelled {
		t.Fatalf("model %+v", m.Model)
	}
	if e.doc(d.ID).State != pasbysim.StateCancelled || !*e.pingDoc(d.ID).Cancelled || !e.pingFlow(flowID).Cancelled {
		t.Fatal("cancelling a flow did not cancel the document")
	}
}

func TestCancel(t *testing.T) {
	e := setup(t, pasbysim.Options{})
	d := e.createSigning("12345678901")
	e.clock.Advance(5 * time.Second)
	st, b := e.v2(pasbysim.PathV2Cancel, string(readUpstream(t, "flow_cancel_request.json")))
	wantError(t, st, b, http.StatusBadRequest, "failed", "invalid_request", "Flow request with such id does not exists")

	st, b = e.v2(pasbysim.PathV2Cancel, `{"request":"`+d.ID+`"}`)
	if st != http.StatusCreated {
		t.Fatalf("cancel: %d %s", st, b)
	}
	var m struct {
		Model docData `json:"model"`
	}
	decodeData(t, b, &m)
	if m.Model.ID != d.ID || m.Model.Cancelled == nil || !*m.Model.Cancelled || m.Model.LUT != start.Unix()+5 || m.Model.Handled {
		t.Fatalf("model %+v", m.Model)
	}
	// Ping shows the terminal state; cancel again and refresh are refused.
	if p := e.pingDoc(d.ID); !*p.Cancelled {
		t.Fatalf("ping %+v", p)
	}
	st, b = e.v2(pasbysim.PathV2Cancel, `{"request":"`+d.ID+`"}`)
	wantError(t, st, b, http.StatusBadRequest, "failed", "session_cancel", "cancelled")
	st, b = e.v2(pasbysim.PathV2Refresh, `{"flow":"`+d.ID+`"}`)
	wantError(t, st, b, http.StatusBadRequest, "failed", "session_cancel", "cancelled")
	if err := e.sim.Sign(d.ID, "12345678901"); err != pasbysim.ErrCancelled {
		t.Fatalf("sign a cancelled document: %v", err)
	}
	// Cancelled documents do not expire.
	e.clock.Advance(3 * time.Hour)
	if p := e.pingDoc(d.ID); !*p.Cancelled {
		t.Fatalf("ping after exp %+v", p)
	}
}

func TestCancelCompleted(t *testing.T) {
	e := setup(t, pasbysim.Options{})
	d := e.createSigning("12345678901")
	e.sign(d.ID, "12345678901")
	st, b := e.v2(pasbysim.PathV2Cancel, `{"request":"`+d.ID+`"}`)
	wantError(t, st, b, http.StatusBadRequest, "handled", "invalid_request", "handled")
}

func TestExpiry(t *testing.T) {
	e := setup(t, pasbysim.Options{SigningTTL: time.Minute})
	d := e.createSigning("12345678901")
	if d.EXP != start.Unix()+60 {
		t.Fatalf("exp %d", d.EXP)
	}
	e.clock.Advance(59 * time.Second)
	e.pingDoc(d.ID) // still fine
	e.clock.Advance(time.Second)
	flowID := e.doc(d.ID).Signees[0].FlowID
	for _, c := range []struct{ path, body string }{
		{pasbysim.PathV2Ping, `{"request":"` + d.ID + `"}`},
		{pasbysim.PathV2Ping, `{"request":"` + flowID + `"}`},
		{pasbysim.PathV2Cancel, `{"request":"` + d.ID + `"}`},
		{pasbysim.PathV2Refresh, `{"flow":"` + d.ID + `"}`},
	} {
		st, b := e.v2(c.path, c.body)
		wantError(t, st, b, http.StatusUnauthorized, "expiration", "session_expiry", "expired")
	}
	doc := e.doc(d.ID)
	if doc.State != pasbysim.StateExpired || !doc.LUT.Equal(start.Add(time.Minute)) {
		t.Fatalf("snapshot %+v", doc)
	}
	if err := e.sim.Sign(d.ID, "12345678901"); err != pasbysim.ErrExpired {
		t.Fatalf("sign an expired document: %v", err)
	}
}

func TestExpireMethod(t *testing.T) {
	e := setup(t, pasbysim.Options{})
	d, _ := e.createReview(jane)
	e.clock.Advance(time.Minute)
	if err := e.sim.Expire(d.ID); err != nil {
		t.Fatal(err)
	}
	st, b := e.v2(pasbysim.PathV2Ping, `{"request":"`+d.ID+`"}`)
	wantError(t, st, b, http.StatusUnauthorized, "expiration", "session_expiry", "expired")
	if doc := e.doc(d.ID); !doc.EXP.Equal(start.Add(time.Minute)) {
		t.Fatalf("exp %v", doc.EXP)
	}
	if err := e.sim.Expire(d.ID); err != pasbysim.ErrExpired {
		t.Fatalf("expire twice: %v", err)
	}
	if err := e.sim.Expire("doc_nope"); err != pasbysim.ErrUnknownDocument {
		t.Fatalf("expire unknown: %v", err)
	}
}

// --- documented error cases ---

func TestErrorCases(t *testing.T) {
	e := setup(t, pasbysim.Options{})
	d := e.createSigning("12345678901")
	flowID := e.doc(d.ID).Signees[0].FlowID
	unknown := "doc_00000000-0000-1000-8000-000000000001"
	for _, tc := range []struct {
		name, path, body   string
		code               int
		status, typ, words string
	}{
		{"unknown id ping", pasbysim.PathV2Ping, `{"request":"` + unknown + `"}`, 400, "failed", "invalid_request", "Flow request with such id does not exists"},
		{"unknown id refresh", pasbysim.PathV2Refresh, `{"flow":"` + unknown + `"}`, 400, "failed", "invalid_request", "Flow request with such id does not exists"},
		{"the document's refresh example id", pasbysim.PathV2Refresh, string(readUpstream(t, "refresh_request.json")), 400, "failed", "invalid_request", "does not exists"},
		{"missing request", pasbysim.PathV2Ping, `{}`, 400, "failed", "invalid_request", "does not exists"},
		{"refresh short id", pasbysim.PathV2Refresh, `{"flow":"doc_1707025000-AaBb"}`, 400, "failed", "param_error", "at least 40 characters"},
		{"refresh without flow", pasbysim.PathV2Refresh, `{}`, 400, "failed", "param_error", "flow is required"},
		{"refresh of a flow request", pasbysim.PathV2Refresh, `{"flow":"` + flowID + `"}`, 403, "mismatch", "invalid_request", "mismatch"},
		{"not a PDF", pasbysim.PathV2Signing, strings.Replace(e.signingBody("r", "12345678901"), "contract.pdf", "contract.docx", 1), 400, "failed", "param_error", "PDF"},
		{"not a PDF (no extension)", pasbysim.PathV2Review, strings.Replace(e.reviewBody("r", jane), "agreement.pdf", "agreement", 1), 400, "failed", "param_error", "PDF"},
		{"signing without webhook", pasbysim.PathV2Signing, `{"to":["12345678901"],"file":{"url":"https://x.example/a.pdf","title":"T"}}`, 428, "failed", "param_error", "webhook"},
		{"signing with webhook but no host", pasbysim.PathV2Signing, `{"to":["12345678901"],"webhook":{"reference":"r"},"file":{"url":"https://x.example/a.pdf","title":"T"}}`, 428, "failed", "param_error", "webhook"},
		{"review without webhook", pasbysim.PathV2Review, `{"signee":[{"name":"A","type":"person","email":"a@example.com","nin":"12345678901","representing":"A"}],"file":{"url":"https://x.example/a.pdf","title":"T"}}`, 428, "failed", "param_error", "webhook"},
		{"webhook without reference", pasbysim.PathV2Signing, `{"to":["12345678901"],"webhook":{"host":"https://h.example/x"},"file":{"url":"https://x.example/a.pdf","title":"T"}}`, 400, "failed", "param_error", "webhook.reference is required"},
		{"bad webhook host", pasbysim.PathV2Signing, `{"to":["12345678901"],"webhook":{"host":"ftp://h.example/x","reference":"r"},"file":{"url":"https://x.example/a.pdf","title":"T"}}`, 400, "failed", "param_error", "webhook.host"},
		{"no NINs", pasbysim.PathV2Signing, `{"to":[],"webhook":{"host":"https://h.example/x","reference":"r"},"file":{"url":"https://x.example/a.pdf","title":"T"}}`, 400, "failed", "param_error", "at least one NIN"},
		{"bad NIN", pasbysim.PathV2Signing, `{"to":["1234"],"webhook":{"host":"https://h.example/x","reference":"r"},"file":{"url":"https://x.example/a.pdf","title":"T"}}`, 400, "failed", "param_error", "11 digits"},
		{"duplicate NIN", pasbysim.PathV2Signing, `{"to":["12345678901","12345678901"],"webhook":{"host":"https://h.example/x","reference":"r"},"file":{"url":"https://x.example/a.pdf","title":"T"}}`, 400, "failed", "param_error", "twice"},
		{"NIN as a number", pasbysim.PathV2Signing, `{"to":[12345678901],"webhook":{"host":"https://h.example/x","reference":"r"},"file":{"url":"https://x.example/a.pdf","title":"T"}}`, 400, "failed", "param_error", "array of strings"},
		{"no file", pasbysim.PathV2Signing, `{"to":["12345678901"],"webhook":{"host":"https://h.example/x","reference":"r"}}`, 400, "failed", "param_error", "file is required"},
		{"relative file URL", pasbysim.PathV2Signing, `{"to":["12345678901"],"webhook":{"host":"https://h.example/x","reference":"r"},"file":{"url":"/a.pdf","title":"T"}}`, 400, "failed", "param_error", "file.url"},
		{"no title", pasbysim.PathV2Signing, `{"to":["12345678901"],"webhook":{"host":"https://h.example/x","reference":"r"},"file":{"url":"https://x.example/a.pdf"}}`, 400, "failed", "param_error", "file.title is required"},
		{"no signees", pasbysim.PathV2Review, `{"signee":[],"webhook":{"host":"https://h.example/x","reference":"r"},"file":{"url":"https://x.example/a.pdf","title":"T"}}`, 400, "failed", "param_error", "at least one signee"},
		{"bad signee type", pasbysim.PathV2Review, strings.Replace(e.reviewBody("r", jane), `"business"`, `"robot"`, 1), 400, "failed", "param_error", "business or person"},
		{"bad email", pasbysim.PathV2Review, strings.Replace(e.reviewBody("r", jane), "jane@example.com", "jane", 1), 400, "failed", "param_error", "email"},
		{"no representing", pasbysim.PathV2Review, strings.Replace(e.reviewBody("r", jane), `"representing":"Acme Ltd"`, `"representing":" "`, 1), 400, "failed", "param_error", "representing is required"},
		{"not JSON", pasbysim.PathV2Signing, `{"to":`, 400, "failed", "param_error", "not valid JSON"},
		{"not an object", pasbysim.PathV2Ping, `[1]`, 400, "failed", "param_error", "JSON object"},
		{"trailing data", pasbysim.PathV2Ping, `{"request":"x"} {}`, 400, "failed", "param_error", "nothing after it"},
		{"too big", pasbysim.PathV2Signing, `{"x":"` + strings.Repeat("a", 70<<10) + `"}`, 413, "failed", "param_error", "64 KiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, b := e.v2(tc.path, tc.body)
			wantError(t, st, b, tc.code, tc.status, tc.typ, tc.words)
		})
	}
	if c := e.sim.CreateCalls(); c.Signing != 1 || c.Rejected == 0 {
		t.Fatalf("counts %+v", c)
	}
}

func TestPDFRule(t *testing.T) {
	e := setup(t, pasbysim.Options{})
	for url, ok := range map[string]bool{
		"https://cdn.example.com/a.pdf":                true,
		"https://cdn.example.com/A.PDF":                true,
		"https://cdn.example.com/a.pdf?sig=abc#page=2": true,
		"http://localhost:8080/files/contract.pdf":     true,
		"https://cdn.example.com/a.pdf.exe":            false,
		"https://cdn.example.com/pdf":                  false,
		"https://cdn.example.com/a?name=x.pdf":         false,
	} {
		body := strings.Replace(e.signingBody("r", "12345678901"), "https://cdn.example.com/docs/contract.pdf", url, 1)
		st, b := e.v2(pasbysim.PathV2Signing, body)
		if (st == http.StatusCreated) != ok {
			t.Errorf("%s: %d %s", url, st, b)
		}
	}
}

// --- options and helpers ---

func TestPublicURL(t *testing.T) {
	e := setup(t, pasbysim.Options{PublicURL: "https://portal.example/sandbox/pasby/"})
	d, link := e.createReview(jane)
	if link != "https://portal.example/sandbox/pasby/contract/"+d.ID {
		t.Fatalf("link %q", link)
	}
	e.sign(d.ID, jane.NIN)
	if r := e.refresh(d.ID); r.File.Stamped != "https://portal.example/sandbox/pasby/edoc/"+d.ID+"-stamped.pdf" {
		t.Fatalf("stamped %q", r.File.Stamped)
	}
}

func TestDocumentSnapshot(t *testing.T) {
	e := setup(t, pasbysim.Options{})
	if _, ok := e.sim.Document("doc_nope"); ok {
		t.Fatal("unknown document found")
	}
	d, link := e.createReview(jane, john)
	doc := e.doc(d.ID)
	if doc.ID != d.ID || doc.Mode != pasbysim.ModeInterface || doc.Version != "v2" || doc.State != pasbysim.StatePending ||
		doc.Title != "Partnership Agreement" || doc.FileURL != "https://cdn.example.com/docs/agreement.pdf" || doc.Link != link ||
		doc.HookHost != e.hooks.URL() || doc.Reference != "review-ref" || !doc.IAT.Equal(start) || !doc.EXP.Equal(start.Add(96*time.Hour)) ||
		len(doc.Signees) != 2 || doc.Signees[0].Status != pasbysim.StatusStale || doc.Signees[0].Email != jane.Email {
		t.Fatalf("snapshot %+v", doc)
	}
	// A snapshot does not change with the simulator.
	doc.Signees[0].Name = "changed"
	if e.doc(d.ID).Signees[0].Name != jane.Name {
		t.Fatal("snapshot shares memory with the simulator")
	}
	e.createSigning("12345678901")
	if all := e.sim.Documents(); len(all) != 2 {
		t.Fatalf("Documents: %d", len(all))
	}
}

func TestSignErrors(t *testing.T) {
	e := setup(t, pasbysim.Options{})
	d := e.createSigning("12345678901")
	if err := e.sim.Sign("doc_nope", "12345678901"); err != pasbysim.ErrUnknownDocument {
		t.Fatalf("unknown document: %v", err)
	}
	if err := e.sim.Sign(d.ID, "00000000000"); err != pasbysim.ErrUnknownSignee {
		t.Fatalf("unknown signee: %v", err)
	}
	if err := e.sim.Open(d.ID, "00000000000"); err != pasbysim.ErrUnknownSignee {
		t.Fatalf("open unknown signee: %v", err)
	}
}

func TestAutoSign(t *testing.T) {
	e := setup(t, pasbysim.Options{AutoSign: 20 * time.Second})
	d := e.createSigning("12345678901", "98765432109")
	e.clock.Advance(9 * time.Second)
	if p := e.pingDoc(d.ID); *p.Onsession {
		t.Fatal("opened too early")
	}
	e.clock.Advance(time.Second) // 10 s: the first signee opens
	if p := e.pingDoc(d.ID); p.StatusLog[0].Status != "viewing" || p.StatusLog[1].Status != "stale" {
		t.Fatalf("at 10 s %+v", p.StatusLog)
	}
	e.clock.Advance(5 * time.Minute) // everything is due: it happened at its own time
	r := e.refresh(d.ID)
	if !r.Handled || r.Signee[0].SignedAt != start.Unix()+20 || r.Signee[1].SignedAt != start.Unix()+40 {
		t.Fatalf("refresh %+v", r)
	}
	e.waitHooks()
	if n := len(e.hooks.Got()); n != 2 {
		t.Fatalf("%d webhooks, want one per signature", n)
	}
}

func TestAutoSignStopsAtExpiry(t *testing.T) {
	e := setup(t, pasbysim.Options{AutoSign: 50 * time.Second, SigningTTL: time.Minute})
	d := e.createSigning("12345678901", "98765432109")
	e.clock.Advance(time.Hour)
	doc := e.doc(d.ID)
	if doc.State != pasbysim.StateExpired || doc.Signees[0].Status != "signed" || doc.Signees[1].Status != "stale" {
		t.Fatalf("snapshot %+v", doc)
	}
}

func TestFaultInjection(t *testing.T) {
	// Faults come from the harness; the simulator works again afterwards.
	e := setup(t, pasbysim.Options{})
	if err := e.harness.SetFault("pasby", "POST "+pasbysim.PathV2Signing, sandbox.Fault{Kind: sandbox.FaultStatus, Status: 503, Times: 1}); err != nil {
		t.Fatal(err)
	}
	st, _ := e.v2(pasbysim.PathV2Signing, e.signingBody("r", "12345678901"))
	if st != http.StatusServiceUnavailable {
		t.Fatalf("status %d", st)
	}
	e.createSigning("12345678901")
	if c := e.sim.CreateCalls(); c.Signing != 1 || c.Rejected != 0 {
		t.Fatalf("an injected fault never reaches the simulator: %+v", c)
	}
}

func TestConcurrentUse(t *testing.T) {
	e := setup(t, pasbysim.Options{})
	var wg sync.WaitGroup
	ids := make(chan string, 20)
	for i := range 20 {
		wg.Go(func() {
			nin := fmt.Sprintf("%011d", 10000000000+i)
			st, b := e.v2(pasbysim.PathV2Signing, e.signingBody("r", nin))
			if st != http.StatusCreated {
				t.Errorf("create: %d %s", st, b)
				return
			}
			var r createResult
			_ = json.Unmarshal(decodeEnvelope(t, b).Data, &r)
			if err := e.sim.Sign(r.Request.ID, nin); err != nil {
				t.Error(err)
			}
			e.v2(pasbysim.PathV2Ping, `{"request":"`+r.Request.ID+`"}`)
			ids <- r.Request.ID
		})
	}
	wg.Wait()
	close(ids)
	for id := range ids {
		if d := e.doc(id); d.State != pasbysim.StateCompleted {
			t.Errorf("%s: %s", id, d.State)
		}
	}
	e.waitHooks()
	if n := len(e.hooks.Got()); n != 20 {
		t.Fatalf("%d webhooks", n)
	}
	if c := e.sim.CreateCalls(); c.Signing != 20 {
		t.Fatalf("counts %+v", c)
	}
}
