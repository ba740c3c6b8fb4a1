package verifications

import (
	"testing"

	"portal/models"
)

func TestTransitionTable(t *testing.T) {
	if p := verificationLifecycle.Table.Problems(models.VerificationStates); len(p) > 0 {
		t.Fatalf("the table: %q", p)
	}
	for _, c := range []struct {
		from, to models.VerificationState
		want     bool
	}{
		{models.VerificationQueued, models.VerificationSubmitting, true},
		{models.VerificationQueued, models.VerificationSubmitted, false}, // must be claimed first
		{models.VerificationSubmitting, models.VerificationApproved, true},
		{models.VerificationSubmitting, models.VerificationUnknown, true},
		{models.VerificationSubmitted, models.VerificationUnknown, false},    // only a lost create answer makes one unknown
		{models.VerificationInProgress, models.VerificationSubmitted, false}, // never backwards
		{models.VerificationInProgress, models.VerificationFailed, false},    // failed means never created
		{models.VerificationUnknown, models.VerificationSubmitting, false},   // never re-sent
		{models.VerificationUnknown, models.VerificationQueued, false},
		{models.VerificationUnknown, models.VerificationApproved, true},
		{models.VerificationUnknown, models.VerificationFailed, true},
		{models.VerificationApproved, models.VerificationDeclined, false},
		{models.VerificationDeclined, models.VerificationApproved, false},
		{models.VerificationExpired, models.VerificationInProgress, false},
		{models.VerificationFailed, models.VerificationSubmitting, false},
	} {
		if got := CanTransition(c.from, c.to); got != c.want {
			t.Errorf("CanTransition(%s, %s) = %v, want %v", c.from, c.to, got, c.want)
		}
	}
	for _, from := range models.VerificationStates {
		for _, to := range models.VerificationStates {
			if from.Final() && CanTransition(from, to) {
				t.Errorf("%s → %s allowed out of a final state", from, to)
			}
		}
	}
}
