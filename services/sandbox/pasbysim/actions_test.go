package pasbysim_test

import (
	"net/http"
	"strings"
	"testing"

	"portal/services/sandbox/pasbysim"
	"portal/services/sandbox/simtest"
)

func (e *env) run(action string, in map[string]string) (string, error) {
	e.t.Helper()
	return e.harness.Run(e.t.Context(), "pasby", action, in)
}

func TestActionSign(t *testing.T) {
	e := setup(t, pasbysim.Options{})
	d := e.createSigning("12345678901", "98765432109")

	msg, err := e.run("sign", map[string]string{"document_id": d.ID, "nin": "12345678901"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, "Signed "+d.ID) || strings.Contains(msg, "12345678901") || strings.Contains(msg, "completed") {
		t.Fatalf("message %q (no full NIN in messages)", msg)
	}
	_, err = e.run("sign", map[string]string{"document_id": d.ID, "nin": "12345678901"})
	simtest.WantValidation(t, err, "nin", "already signed")
	_, err = e.run("sign", map[string]string{"document_id": d.ID, "nin": "11111111111"})
	simtest.WantValidation(t, err, "nin", "No signee")
	_, err = e.run("sign", map[string]string{"document_id": "doc_nope", "nin": "11111111111"})
	simtest.WantValidation(t, err, "document_id", "no document")
	_, err = e.run("sign", map[string]string{"document_id": d.ID})
	simtest.WantValidation(t, err, "nin", "required")

	msg, err = e.run("sign", map[string]string{"document_id": d.ID, "nin": "98765432109"})
	if err != nil || !strings.Contains(msg, "completed") {
		t.Fatalf("%q %v", msg, err)
	}
	if r := e.refresh(d.ID); !r.Handled {
		t.Fatal("not completed")
	}
}

func TestActionCancelAndExpire(t *testing.T) {
	e := setup(t, pasbysim.Options{})
	d := e.createSigning("12345678901")
	if msg, err := e.run("cancel", map[string]string{"document_id": d.ID}); err != nil || !strings.Contains(msg, "Cancelled") {
		t.Fatalf("%q %v", msg, err)
	}
	if p := e.pingDoc(d.ID); !*p.Cancelled {
		t.Fatal("not cancelled")
	}
	_, err := e.run("cancel", map[string]string{"document_id": d.ID})
	simtest.WantValidation(t, err, "document_id", "cancelled")
	_, err = e.run("expire", map[string]string{"document_id": d.ID})
	simtest.WantValidation(t, err, "document_id", "cancelled")

	d2 := e.createSigning("12345678901")
	if msg, err := e.run("expire", map[string]string{"document_id": d2.ID}); err != nil || !strings.Contains(msg, "Expired") {
		t.Fatalf("%q %v", msg, err)
	}
	st, b := e.v2(pasbysim.PathV2Ping, `{"request":"`+d2.ID+`"}`)
	wantError(t, st, b, http.StatusUnauthorized, "expiration", "session_expiry", "expired")
	_, err = e.run("sign", map[string]string{"document_id": d2.ID, "nin": "12345678901"})
	simtest.WantValidation(t, err, "document_id", "expired")
	_, err = e.run("cancel", map[string]string{"document_id": d2.ID})
	simtest.WantValidation(t, err, "document_id", "expired")

	d3 := e.createSigning("12345678901")
	e.sign(d3.ID, "12345678901")
	_, err = e.run("cancel", map[string]string{"document_id": d3.ID})
	simtest.WantValidation(t, err, "document_id", "Everyone has already signed")
}

func TestActionResendWebhook(t *testing.T) {
	e := setup(t, pasbysim.Options{})
	d := e.createSigning("12345678901")
	e.sign(d.ID, "12345678901")
	if msg, err := e.run("resend_webhook", map[string]string{"document_id": d.ID}); err != nil || !strings.Contains(msg, d.ID) {
		t.Fatalf("%q %v", msg, err)
	}
	e.waitHooks()
	got := e.hooks.Got()
	if len(got) != 2 || string(got[0].Body) != string(got[1].Body) {
		t.Fatalf("%d webhooks", len(got))
	}
	_, err := e.run("resend_webhook", map[string]string{"document_id": "doc_nope"})
	simtest.WantValidation(t, err, "document_id", "no document")
}
