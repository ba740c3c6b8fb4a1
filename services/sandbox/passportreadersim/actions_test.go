package passportreadersim_test

import (
	"strconv"
	"strings"
	"testing"

	"portal/services/sandbox/passportreadersim"
	"portal/services/sandbox/simtest"
)

func (e *env) run(action string, in map[string]string) (string, error) {
	e.t.Helper()
	return e.harness.Run(e.t.Context(), "passportreader", action, in)
}

func TestActionAdvanceAndDecisions(t *testing.T) {
	e := setup(t, passportreadersim.Options{})
	c := e.createWithCallback("r", false)
	id := map[string]string{"id": strconv.FormatInt(c.ID, 10)}

	_, err := e.run("approve", id)
	simtest.WantValidation(t, err, "id", "only possible when it is COMPLETED")
	for _, want := range []string{"INITIATED", "COMPLETED"} {
		msg, err := e.run("advance", id)
		if err != nil || !strings.Contains(msg, want) {
			t.Fatalf("advance: %q %v", msg, err)
		}
	}
	if msg, err := e.run("approve", id); err != nil || !strings.Contains(msg, "Approved") || e.state(c.ID) != "APPROVED" {
		t.Fatalf("approve: %q %v", msg, err)
	}
	_, err = e.run("advance", id)
	simtest.WantValidation(t, err, "id", "The session is APPROVED")
	if msg, err := e.run("resend_callback", id); err != nil || !strings.Contains(msg, "again") {
		t.Fatalf("resend: %q %v", msg, err)
	}
	e.waitCallbacks()
	if n := len(e.hooks.Got()); n != 4 {
		t.Fatalf("%d callbacks", n)
	}

	for _, tc := range []struct {
		action, state string
		in            map[string]string
	}{
		{"reject", "REJECTED", map[string]string{"reason": "Face mismatch"}},
		{"reject", "REJECTED", map[string]string{}},
		{"fail", "FAILED", nil},
	} {
		c := e.create("")
		_, _ = e.sim.Advance(c.ID)
		_, _ = e.sim.Advance(c.ID)
		in := map[string]string{"id": strconv.FormatInt(c.ID, 10)}
		for k, v := range tc.in {
			in[k] = v
		}
		if _, err := e.run(tc.action, in); err != nil {
			t.Fatalf("%s: %v", tc.action, err)
		}
		s := e.session(c.ID)
		if s.State != tc.state || s.RejectReason != tc.in["reason"] {
			t.Fatalf("%s: %+v", tc.action, s)
		}
	}
}

func TestActionExpire(t *testing.T) {
	e := setup(t, passportreadersim.Options{})
	c := e.create("")
	id := map[string]string{"id": strconv.FormatInt(c.ID, 10)}
	if msg, err := e.run("expire", id); err != nil || !strings.Contains(msg, "ABORTED") || e.state(c.ID) != "ABORTED" {
		t.Fatalf("expire: %q %v", msg, err)
	}
	_, err := e.run("expire", id)
	simtest.WantValidation(t, err, "id", "The session is ABORTED")
}

func TestActionBadInput(t *testing.T) {
	e := setup(t, passportreadersim.Options{})
	c := e.create("")
	for _, action := range []string{"advance", "approve", "reject", "fail", "expire", "resend_callback"} {
		_, err := e.run(action, map[string]string{})
		simtest.WantValidation(t, err, "id", "required")
		for _, bad := range []string{"abc", "-1", "0", "1.5", "99999999999999999999"} {
			_, err := e.run(action, map[string]string{"id": bad})
			simtest.WantValidation(t, err, "id", "positive whole number")
		}
		_, err = e.run(action, map[string]string{"id": "42"})
		simtest.WantValidation(t, err, "id", "no session")
	}
	_, err := e.run("resend_callback", map[string]string{"id": strconv.FormatInt(c.ID, 10)})
	simtest.WantValidation(t, err, "id", "without a callback_url")
}
