package pawapasssim_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"portal/services/sandbox"
	"portal/services/sandbox/pawapasssim"
	"portal/services/sandbox/simtest"
)

// payload is a webhook body as NOTES.md describes it.
type payload struct {
	NotificationID string `json:"notificationId"`
	Type           string `json:"type"`
	Object         string `json:"object"`
	CreatedAt      string `json:"createdAt"`
	Data           wire   `json:"data"`
}

func payloadOf(t testing.TB, b []byte) payload {
	t.Helper()
	return simtest.Decode[payload](t, "a webhook body", b)
}

// findHook returns the one webhook whose payload matches.
func findHook(t testing.TB, hooks []simtest.Hit, match func(payload) bool) payload {
	t.Helper()
	var found []payload
	for _, h := range hooks {
		if p := payloadOf(t, h.Body); match(p) {
			found = append(found, p)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d matching webhooks among %d", len(found), len(hooks))
	}
	return found[0]
}

// sign is the receiver's own check: hex HMAC-SHA256 of the raw body.
func sign(body []byte, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestWebhooksOnEveryChange(t *testing.T) {
	e := setup(t, pawapasssim.Options{})
	v := e.create(set("country", "ZM"), set("phoneNo", "+260971234567"), set("metadata", map[string]any{"reason": "kyc-onboarding", "channel": "mobile-app", "department": "compliance"}), set("createdBy", "ops@portal.example"))
	e.waitHooks()
	if n := len(e.hooks.Got()); n != 0 {
		t.Fatalf("%d webhooks on create, want none (no status change)", n)
	}
	e.must(e.sim.Start(v.ID))
	e.must(e.sim.SubmitDocument(v.ID))
	e.must(e.sim.SubmitDocument(v.ID)) // the same values again: no change
	e.must(e.sim.SubmitFace(v.ID))     // no webhook type for it
	e.must(e.sim.Collect(v.ID))
	e.must(e.sim.Review(v.ID))
	e.must(e.sim.Approve(v.ID))
	e.waitHooks()
	hooks := e.hooks.Got()
	var seen []string
	ids := map[string]bool{}
	for _, h := range hooks {
		if got, want := h.Header.Get("X-Signature"), sign(h.Body, testSecret); got != want {
			t.Errorf("X-Signature %q, want %q", got, want)
		}
		if h.Header.Get("Content-Type") != "application/json" || h.Header.Get("User-Agent") == "" {
			t.Errorf("headers %v", h.Header)
		}
		var m map[string]json.RawMessage
		_ = json.Unmarshal(h.Body, &m)
		top := map[string]json.RawMessage{}
		for k, v := range m {
			top[k] = v
		}
		top["data"] = json.RawMessage(`{}`)
		topJSON, _ := json.Marshal(top)
		simtest.CheckShapeExcept(t, "webhook", []byte(oursWebhook), topJSON)
		p := payloadOf(t, h.Body)
		if p.Object != "VERIFICATION" || !uuidV4.MatchString(p.NotificationID) || ids[p.NotificationID] || p.Data.ID != v.ID {
			t.Errorf("payload %s", h.Body)
		}
		ids[p.NotificationID] = true
		// data is the verification object with exactly the documented keys.
		simtest.CheckShapeExcept(t, "webhook data", readTestdata(t, "create_response.json"), m["data"], notYet...)
		seen = append(seen, p.Type+" "+p.Data.Status)
	}
	slices.Sort(seen)
	want := []string{
		"VERIFICATION.IDENTITY_DOCUMENT_CHANGE STARTED",
		"VERIFICATION.STATUS_CHANGE APPROVED",
		"VERIFICATION.STATUS_CHANGE REVIEW",
		"VERIFICATION.STATUS_CHANGE STARTED",
		"VERIFICATION.STATUS_CHANGE USER_DATA_COLLECTED",
	}
	if !slices.Equal(seen, want) {
		t.Fatalf("webhooks\n%q\nwant\n%q", seen, want)
	}
	doc := findHook(t, hooks, func(p payload) bool { return p.Type == "VERIFICATION.IDENTITY_DOCUMENT_CHANGE" })
	if doc.Data.IdentityDocument == nil || doc.Data.FaceScan != nil {
		t.Fatalf("identity document webhook %+v", doc.Data)
	}
	// A rescan with other values is a change.
	w := e.create().ID
	e.must(e.sim.Start(w))
	e.must(e.sim.SubmitDocument(w))
	e.must(e.sim.SubmitDocumentWith(w, pawapasssim.IdentityDocument{FirstName: "Other"}))
	e.waitHooks()
	var docChanges []string
	for _, h := range e.hooks.Got() {
		if p := payloadOf(t, h.Body); p.Data.ID == w && p.Type == "VERIFICATION.IDENTITY_DOCUMENT_CHANGE" {
			docChanges = append(docChanges, p.Data.IdentityDocument.FirstName)
		}
	}
	if len(docChanges) != 2 || !slices.Contains(docChanges, "Other") {
		t.Fatalf("document changes %q", docChanges)
	}
}

func TestWebhookDeclinedPayload(t *testing.T) {
	e := setup(t, pawapasssim.Options{WebhookSecret: "another"})
	v := e.create()
	for range 3 {
		_, err := e.sim.Advance(v.ID)
		e.must(err)
	}
	e.must(e.sim.Decline(v.ID, "IMAGE_QUALITY"))
	e.waitHooks()
	hooks := e.hooks.Got()
	p := findHook(t, hooks, func(p payload) bool { return p.Data.Status == "DECLINED" })
	if p.Data.ReviewResult == nil || p.Data.ReviewResult.Reason != "IMAGE_QUALITY" || p.Data.IdentityDocument == nil || p.Data.FaceScan == nil {
		t.Fatalf("%+v", p.Data)
	}
	for _, h := range hooks {
		if h.Header.Get("X-Signature") != sign(h.Body, "another") || h.Header.Get("X-Signature") == sign(h.Body, testSecret) {
			t.Fatal("not signed with the configured secret")
		}
	}
}

func TestWebhookRetriedUntil2xx(t *testing.T) {
	e := setup(t, pawapasssim.Options{})
	e.hooks.SetAnswer(func(n int) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent // any 2xx counts
	})
	v := e.create()
	e.must(e.sim.Start(v.ID))
	e.waitHooks()
	got := e.hooks.Got()
	if len(got) != 3 || got[0].Status != 500 || got[1].Status != 500 || got[2].Status != 204 {
		t.Fatalf("%d attempts", len(got))
	}
	for _, h := range got[1:] {
		if string(h.Body) != string(got[0].Body) || h.Header.Get("X-Signature") != got[0].Header.Get("X-Signature") {
			t.Fatal("a retry sent another body or signature")
		}
	}
	ds := e.sim.Deliveries()
	if len(ds) != 1 {
		t.Fatalf("deliveries %+v", ds)
	}
	d := ds[0]
	if d.NotificationID != payloadOf(t, got[0].Body).NotificationID || d.Type != "VERIFICATION.STATUS_CHANGE" || d.VerificationID != v.ID ||
		d.Status != "STARTED" || !d.Delivered || !d.Done || d.URL != e.hooks.Server.URL || len(d.Attempts) != 3 ||
		d.Attempts[0].Status != 500 || d.Attempts[1].Status != 500 || d.Attempts[2].Status != 204 {
		t.Fatalf("delivery %+v", d)
	}
}

func TestWebhookGivesUp(t *testing.T) {
	e := setup(t, pawapasssim.Options{WebhookAttempts: 3})
	e.hooks.SetAnswer(func(int) int { return http.StatusBadGateway })
	v := e.create()
	e.must(e.sim.Start(v.ID))
	e.waitHooks()
	if n := len(e.hooks.Got()); n != 3 {
		t.Fatalf("%d attempts, want 3", n)
	}
	if d := e.sim.Deliveries()[0]; d.Delivered || !d.Done || len(d.Attempts) != 3 {
		t.Fatalf("%+v", d)
	}
	if pawapasssim.DefaultWebhookAttempts != 8 {
		t.Fatalf("default attempts %d", pawapasssim.DefaultWebhookAttempts)
	}
}

func TestWebhookUnreachable(t *testing.T) {
	e := setup(t, pawapasssim.Options{WebhookURL: "http://127.0.0.1:1/hooks/s3cret", WebhookAttempts: 2})
	v := e.create()
	e.must(e.sim.Start(v.ID))
	e.waitHooks()
	d := e.sim.Deliveries()[0]
	if len(d.Attempts) != 2 || d.Attempts[0].Status != 0 || d.Attempts[0].Err == "" || d.Delivered ||
		strings.Contains(d.Attempts[0].Err, "s3cret") || strings.Contains(d.URL, "s3cret") {
		t.Fatalf("%+v", d)
	}
}

func TestResendWebhook(t *testing.T) {
	e := setup(t, pawapasssim.Options{})
	v := e.create()
	// Nothing sent yet: a STATUS_CHANGE with the current state.
	e.must(e.sim.ResendWebhook(v.ID))
	e.waitHooks()
	if p := payloadOf(t, e.hooks.Got()[0].Body); p.Data.Status != "CREATED" || p.Type != "VERIFICATION.STATUS_CHANGE" {
		t.Fatalf("%+v", p)
	}
	// Otherwise the last notification, as it was: same id, same bytes.
	e.must(e.sim.Start(v.ID))
	e.waitHooks()
	e.must(e.sim.ResendWebhook(v.ID))
	e.waitHooks()
	got := e.hooks.Got()
	if len(got) != 3 || string(got[2].Body) != string(got[1].Body) || got[2].Header.Get("X-Signature") != got[1].Header.Get("X-Signature") {
		t.Fatalf("%d webhooks", len(got))
	}
	ds := e.sim.Deliveries()
	if len(ds) != 3 || ds[1].NotificationID != ds[2].NotificationID {
		t.Fatalf("deliveries %+v", ds)
	}
}

func TestNoWebhookURL(t *testing.T) {
	e := setup(t, pawapasssim.Options{WebhookURL: "off"})
	v := e.create()
	e.must(e.sim.Start(v.ID))
	e.waitHooks()
	if len(e.sim.Deliveries()) != 0 || len(e.hooks.Got()) != 0 {
		t.Fatal("webhooks without a URL")
	}
	if err := e.sim.ResendWebhook(v.ID); !errors.Is(err, pawapasssim.ErrNoWebhooks) {
		t.Fatalf("%v", err)
	}
}

func TestCloseStopsWebhooks(t *testing.T) {
	// A store of the test's own: the simulator closes only a store it made
	// itself, and this one must outlive it.
	st := sandbox.MemoryStore()
	t.Cleanup(func() { _ = st.Close() })
	e := setup(t, pawapasssim.Options{WebhookBackoff: time.Hour, Store: st})
	e.hooks.SetAnswer(func(int) int { return http.StatusServiceUnavailable })
	v := e.create()
	e.must(e.sim.Start(v.ID))
	e.hooks.WaitFor(t, 1)
	// Close must not wait out the hour of backoff.
	simtest.Within(t, 10*time.Second, "Close", func() { _ = e.sim.Close() })
	if n := len(e.hooks.Got()); n != 1 {
		t.Fatalf("%d attempts", n)
	}
	if err := e.sim.ResendWebhook(v.ID); !errors.Is(err, pawapasssim.ErrClosed) {
		t.Fatalf("resend after Close: %v", err)
	}
	if err := e.sim.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	// The API still answers.
	if got := e.get(v.ID); got.Status != "STARTED" {
		t.Fatal(got.Status)
	}
}
