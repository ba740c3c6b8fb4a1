package recharges

import (
	"testing"

	"portal/models"
)

func TestTransitionTable(t *testing.T) {
	if p := rechargeLifecycle.Table.Problems(models.RechargeStates); len(p) > 0 {
		t.Fatalf("the table: %q", p)
	}
	for _, c := range []struct {
		from, to models.RechargeState
		want     bool
	}{
		{models.RechargeQueued, models.RechargeSubmitting, true},
		{models.RechargeQueued, models.RechargeSubmitted, false}, // must be claimed first
		{models.RechargeQueued, models.RechargeUnknown, false},   // never sent, so never unknown
		{models.RechargeSubmitting, models.RechargeSubmitted, true},
		{models.RechargeSubmitting, models.RechargeCompleted, true},
		{models.RechargeSubmitting, models.RechargeUnknown, true},
		{models.RechargeSubmitted, models.RechargePending, true},
		{models.RechargeSubmitted, models.RechargeUnknown, true},   // 1flow forgot the id
		{models.RechargePending, models.RechargeSubmitted, false},  // never backwards
		{models.RechargeUnknown, models.RechargeSubmitting, false}, // never re-sent
		{models.RechargeUnknown, models.RechargeQueued, false},
		{models.RechargeUnknown, models.RechargeCompleted, false}, // only via its 1flow id, followed by the reconciler
		{models.RechargeUnknown, models.RechargeSubmitted, true},
		{models.RechargeUnknown, models.RechargeFailed, true},
		{models.RechargeCompleted, models.RechargeFailed, false},
		{models.RechargeFailed, models.RechargeSubmitting, false},
		{models.RechargeFailed, models.RechargeCompleted, false},
	} {
		if got := CanTransition(c.from, c.to); got != c.want {
			t.Errorf("CanTransition(%s, %s) = %v, want %v", c.from, c.to, got, c.want)
		}
	}
	for _, from := range models.RechargeStates {
		for _, to := range models.RechargeStates {
			if from.Final() && CanTransition(from, to) {
				t.Errorf("%s → %s allowed out of a final state", from, to)
			}
		}
	}
}
