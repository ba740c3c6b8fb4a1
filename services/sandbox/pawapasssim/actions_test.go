package pawapasssim_test

import (
	"errors"
	"strings"
	"testing"

	"portal/services/sandbox"
	"portal/services/sandbox/pawapasssim"
)

func (e *env) run(action string, in map[string]string) (string, error) {
	e.t.Helper()
	return e.harness.Run(e.t.Context(), "pawapass", action, in)
}

func wantValidation(t *testing.T, err error, field, msg string) {
	t.Helper()
	var ve *sandbox.ValidationError
	if !errors.As(err, &ve) || ve.Field != field || !strings.Contains(ve.Message, msg) {
		t.Fatalf("error %v, want a ValidationError on %q containing %q", err, field, msg)
	}
}

func TestActionAdvance(t *testing.T) {
	e := setup(t, pawapasssim.Options{})
	id := e.create().ID
	for _, want := range []string{"STARTED", "USER_DATA_COLLECTED", "REVIEW", "APPROVED"} {
		msg, err := e.run("advance", map[string]string{"id": id})
		if err != nil || msg != "Verification "+id+" is now "+want+"." {
			t.Fatalf("%q %v", msg, err)
		}
	}
	_, err := e.run("advance", map[string]string{"id": id})
	wantValidation(t, err, "id", "current state")
	_, err = e.run("advance", map[string]string{"id": "nope"})
	wantValidation(t, err, "id", "no verification")
	_, err = e.run("advance", map[string]string{})
	wantValidation(t, err, "id", "required")
}

func TestActionApproveDecline(t *testing.T) {
	e := setup(t, pawapasssim.Options{})
	a, d := e.create().ID, e.create().ID
	_, err := e.run("approve", map[string]string{"id": a})
	wantValidation(t, err, "id", "current state")
	for range 3 {
		_, err := e.sim.Advance(a)
		e.must(err)
		_, err = e.sim.Advance(d)
		e.must(err)
	}
	if msg, err := e.run("approve", map[string]string{"id": a}); err != nil || !strings.Contains(msg, "Approved") {
		t.Fatalf("%q %v", msg, err)
	}
	_, err = e.run("decline", map[string]string{"id": d, "reason": "FRAUD"})
	wantValidation(t, err, "reason", "must be one of")
	_, err = e.run("decline", map[string]string{"id": d})
	wantValidation(t, err, "reason", "required")
	if msg, err := e.run("decline", map[string]string{"id": d, "reason": "GENERIC"}); err != nil || !strings.Contains(msg, "GENERIC") {
		t.Fatalf("%q %v", msg, err)
	}
	if got := e.get(d); got.Status != "DECLINED" || got.ReviewResult.Reason != "GENERIC" {
		t.Fatalf("%+v", got)
	}
}

func TestActionExpireAndResend(t *testing.T) {
	e := setup(t, pawapasssim.Options{})
	id := e.create().ID
	if msg, err := e.run("expire", map[string]string{"id": id}); err != nil || !strings.Contains(msg, "Expired") {
		t.Fatalf("%q %v", msg, err)
	}
	_, err := e.run("expire", map[string]string{"id": id})
	wantValidation(t, err, "id", "current state")
	e.waitHooks()
	if msg, err := e.run("resend_webhook", map[string]string{"id": id}); err != nil || !strings.Contains(msg, id) {
		t.Fatalf("%q %v", msg, err)
	}
	e.waitHooks()
	got := e.hooks.got()
	if len(got) != 2 || string(got[0].body) != string(got[1].body) {
		t.Fatalf("%d webhooks", len(got))
	}

	off := setup(t, pawapasssim.Options{WebhookURL: "off"})
	_, err = off.run("resend_webhook", map[string]string{"id": off.create().ID})
	wantValidation(t, err, "id", "No webhook URL")
}
