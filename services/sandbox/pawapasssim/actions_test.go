package pawapasssim_test

import (
	"strings"
	"testing"

	"portal/services/sandbox/pawapasssim"
	"portal/services/sandbox/simtest"
)

func (e *env) run(action string, in map[string]string) (string, error) {
	e.t.Helper()
	return e.harness.Run(e.t.Context(), "pawapass", action, in)
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
	simtest.WantValidation(t, err, "id", "current state")
	_, err = e.run("advance", map[string]string{"id": "nope"})
	simtest.WantValidation(t, err, "id", "no verification")
	_, err = e.run("advance", map[string]string{})
	simtest.WantValidation(t, err, "id", "required")
}

func TestActionApproveDecline(t *testing.T) {
	e := setup(t, pawapasssim.Options{})
	a, d := e.create().ID, e.create().ID
	_, err := e.run("approve", map[string]string{"id": a})
	simtest.WantValidation(t, err, "id", "current state")
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
	simtest.WantValidation(t, err, "reason", "must be one of")
	_, err = e.run("decline", map[string]string{"id": d})
	simtest.WantValidation(t, err, "reason", "required")
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
	simtest.WantValidation(t, err, "id", "current state")
	e.waitHooks()
	if msg, err := e.run("resend_webhook", map[string]string{"id": id}); err != nil || !strings.Contains(msg, id) {
		t.Fatalf("%q %v", msg, err)
	}
	e.waitHooks()
	got := e.hooks.Got()
	if len(got) != 2 || string(got[0].Body) != string(got[1].Body) {
		t.Fatalf("%d webhooks", len(got))
	}

	off := setup(t, pawapasssim.Options{WebhookURL: "off"})
	_, err = off.run("resend_webhook", map[string]string{"id": off.create().ID})
	simtest.WantValidation(t, err, "id", "No webhook URL")
}
