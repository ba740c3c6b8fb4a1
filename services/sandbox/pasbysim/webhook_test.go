package pasbysim_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"portal/services/sandbox/pasbysim"
	"portal/services/sandbox/simtest"
)

func TestWebhookPerSignature(t *testing.T) {
	e := setup(t, pasbysim.Options{})
	d, _ := e.createReview(jane, john)
	e.sign(d.ID, jane.NIN)
	e.waitHooks()
	got := e.hooks.Got()
	if len(got) != 1 {
		t.Fatalf("%d webhooks after the first signature", len(got))
	}
	h := got[0]
	if h.Header.Get("Content-Type") != "application/json" || h.Header.Get("X-Signature") != "" {
		t.Fatalf("headers %v", h.Header)
	}
	var first docData
	if err := json.Unmarshal(h.Body, &first); err != nil {
		t.Fatal(err)
	}
	if first.ID != d.ID || first.Hook.Reference != "review-ref" || first.Handled || first.StatusLog[0].Status != "signed" || first.StatusLog[1].Status != "stale" {
		t.Fatalf("first webhook %s", h.Body)
	}

	e.sign(d.ID, john.NIN)
	e.waitHooks()
	got = e.hooks.Got()
	if len(got) != 2 {
		t.Fatalf("%d webhooks after the last signature, want 2 (the last one is the completion)", len(got))
	}
	var last docData
	_ = json.Unmarshal(got[1].Body, &last)
	if !last.Handled || last.File.Stamped == "" || len(last.Signatures) != 2 {
		t.Fatalf("completion webhook %s", got[1].Body)
	}
	// The payload is the refresh document object.
	simtest.CheckShape(t, "webhook payload", readUpstream(t, "refresh_response_200.json"), refreshDocOf(t, got[1].Body))
	ds := e.sim.Deliveries()
	if len(ds) != 2 || ds[0].DocumentID != d.ID || ds[0].Status != 200 || ds[0].Attempt != 1 || ds[0].Reference != "review-ref" ||
		ds[0].Host != e.hooks.Server.URL || strings.Contains(ds[0].Host, "s3cret") {
		t.Fatalf("deliveries %+v", ds)
	}
}

// refreshDocOf wraps a webhook body (a document object) in a refresh
// answer so it can be compared with the document's refresh example.
func refreshDocOf(t *testing.T, doc []byte) []byte {
	t.Helper()
	return []byte(`{"status":"successful","reason":"x","data":{"doc":` + string(doc) + `},"version":"v2"}`)
}

func TestWebhookRetriedUntil200(t *testing.T) {
	e := setup(t, pasbysim.Options{})
	e.hooks.SetAnswer(func(n int) int {
		if n == 1 {
			return http.StatusCreated // only exactly 200 counts
		}
		return http.StatusOK
	})
	d := e.createSigning("12345678901")
	e.sign(d.ID, "12345678901")
	e.waitHooks()
	got := e.hooks.Got()
	if len(got) != 2 || got[0].Status != 201 || got[1].Status != 200 {
		t.Fatalf("%d deliveries", len(got))
	}
	if string(got[0].Body) != string(got[1].Body) {
		t.Fatal("a retry sent another body")
	}
	ds := e.sim.Deliveries()
	if len(ds) != 2 || ds[0].Status != 201 || ds[0].Attempt != 1 || ds[1].Status != 200 || ds[1].Attempt != 2 {
		t.Fatalf("deliveries %+v", ds)
	}
}

func TestWebhookGivesUpAfter5(t *testing.T) {
	e := setup(t, pasbysim.Options{})
	e.hooks.SetAnswer(func(int) int { return http.StatusNoContent })
	d := e.createSigning("12345678901")
	e.sign(d.ID, "12345678901")
	e.waitHooks()
	if n := len(e.hooks.Got()); n != 5 || pasbysim.WebhookAttempts != 5 {
		t.Fatalf("%d attempts, want 5", n)
	}
}

func TestWebhookBackoffDoubles(t *testing.T) {
	e := setup(t, pasbysim.Options{WebhookBackoff: 20 * time.Millisecond})
	e.hooks.SetAnswer(func(int) int { return http.StatusInternalServerError })
	d := e.createSigning("12345678901")
	e.sign(d.ID, "12345678901")
	e.waitHooks()
	simtest.CheckBackoff(t, e.hooks.Got(), 5, 20*time.Millisecond) // 20, 40, 80, 160 ms
}

func TestWebhookUnreachable(t *testing.T) {
	e := setup(t, pasbysim.Options{})
	st, b := e.v2(pasbysim.PathV2Signing, strings.Replace(e.signingBody("r", "12345678901"), e.hooks.URL(), "http://127.0.0.1:1/hook", 1))
	if st != http.StatusCreated {
		t.Fatalf("%d %s", st, b)
	}
	var r createResult
	decodeData(t, b, &r)
	e.sign(r.Request.ID, "12345678901")
	e.waitHooks()
	ds := e.sim.Deliveries()
	if len(ds) != 5 || ds[0].Status != 0 || ds[0].Err == "" || strings.Contains(ds[0].Err, "/hook") {
		t.Fatalf("deliveries %+v", ds)
	}
}

func TestCloseStopsWebhooks(t *testing.T) {
	e := setup(t, pasbysim.Options{WebhookBackoff: time.Hour})
	e.hooks.SetAnswer(func(int) int { return http.StatusServiceUnavailable })
	d := e.createSigning("12345678901")
	e.sign(d.ID, "12345678901")
	e.hooks.WaitFor(t, 1)
	// Close must not wait out the hour of backoff.
	simtest.Within(t, 5*time.Second, "Close", func() { _ = e.sim.Close() })
	if n := len(e.hooks.Got()); n != 1 {
		t.Fatalf("%d attempts", n)
	}
	// Closed: no new deliveries, and the resend action says so.
	if err := e.sim.ResendWebhook(d.ID); err != pasbysim.ErrClosed {
		t.Fatalf("resend after Close: %v", err)
	}
	if err := e.sim.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
}

func TestWebhookCustomClient(t *testing.T) {
	var calls atomic.Int32
	client := &http.Client{Transport: simtest.RoundTripFunc(func(r *http.Request) (*http.Response, error) {
		calls.Add(1)
		if r.Header.Get("User-Agent") == "" || r.Method != http.MethodPost {
			t.Errorf("request %v", r)
		}
		return &http.Response{StatusCode: 200, Body: http.NoBody, Header: http.Header{}, Request: r}, nil
	})}
	e := setup(t, pasbysim.Options{HTTPClient: client})
	d := e.createSigning("12345678901")
	e.sign(d.ID, "12345678901")
	e.waitHooks()
	if calls.Load() != 1 || len(e.hooks.Got()) != 0 {
		t.Fatalf("client calls %d, receiver %d", calls.Load(), len(e.hooks.Got()))
	}
}

func TestResendWebhook(t *testing.T) {
	e := setup(t, pasbysim.Options{})
	d := e.createSigning("12345678901")
	if err := e.sim.ResendWebhook(d.ID); err != nil { // any state, even before a signature
		t.Fatal(err)
	}
	e.waitHooks()
	got := e.hooks.Got()
	if len(got) != 1 {
		t.Fatalf("%d webhooks", len(got))
	}
	var doc docData
	_ = json.Unmarshal(got[0].Body, &doc)
	if doc.ID != d.ID || doc.StatusLog[0].Status != "stale" {
		t.Fatalf("payload %s", got[0].Body)
	}
	if err := e.sim.ResendWebhook("doc_nope"); err != pasbysim.ErrUnknownDocument {
		t.Fatalf("unknown: %v", err)
	}
}
