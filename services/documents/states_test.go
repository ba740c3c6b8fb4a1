package documents

import (
	"context"
	"testing"

	"portal/models"
)

func TestTransitionTable(t *testing.T) {
	if p := documentLifecycle.Table.Problems(models.DocumentStates); len(p) > 0 {
		t.Fatalf("the table: %q", p)
	}
	allowed := map[[2]models.DocumentState]bool{}
	for from, tos := range documentLifecycle.Table {
		for _, to := range tos {
			allowed[[2]models.DocumentState{from, to}] = true
		}
	}
	for _, from := range models.DocumentStates {
		for _, to := range models.DocumentStates {
			got := CanTransition(from, to)
			if from.Final() && got {
				t.Errorf("%s → %s allowed out of a final state", from, to)
			}
			if got != allowed[[2]models.DocumentState{from, to}] {
				t.Errorf("CanTransition(%s, %s) = %v disagrees with the table", from, to, got)
			}
			if from == to && got {
				t.Errorf("%s → %s: a state change to itself", from, to)
			}
		}
	}
	// Every non-final state can end somewhere final, so nothing is stuck
	// for ever (unknown waits for a person or a webhook, but can move).
	for _, s := range models.DocumentStates {
		if !s.Final() && len(documentLifecycle.Table[s]) == 0 {
			t.Errorf("%s has no way out", s)
		}
	}
	cases := []struct {
		from, to models.DocumentState
		want     bool
	}{
		{models.DocumentQueued, models.DocumentSubmitting, true},
		{models.DocumentQueued, models.DocumentSubmitted, false}, // must be claimed first
		{models.DocumentSubmitting, models.DocumentUnknown, true},
		{models.DocumentSubmitted, models.DocumentInProgress, true},
		{models.DocumentInProgress, models.DocumentSubmitted, false}, // never backwards
		{models.DocumentInProgress, models.DocumentCompleted, true},
		{models.DocumentUnknown, models.DocumentSubmitting, false}, // never re-sent
		{models.DocumentUnknown, models.DocumentQueued, false},
		{models.DocumentUnknown, models.DocumentInProgress, true},
		{models.DocumentUnknown, models.DocumentFailed, true}, // a person confirmed it never arrived
		{models.DocumentCompleted, models.DocumentCancelled, false},
		{models.DocumentCancelled, models.DocumentCompleted, false},
		{models.DocumentExpired, models.DocumentCompleted, false},
		{models.DocumentFailed, models.DocumentSubmitting, false},
	}
	for _, c := range cases {
		if got := CanTransition(c.from, c.to); got != c.want {
			t.Errorf("CanTransition(%s, %s) = %v, want %v", c.from, c.to, got, c.want)
		}
	}
}

// Neither the service nor a hand-written UPDATE can move a document out of
// a final state.
func TestFinalStatesStayFinal(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := e.clock.Now()
	for _, st := range []models.DocumentState{models.DocumentCompleted, models.DocumentCancelled, models.DocumentExpired, models.DocumentFailed} {
		d := models.Document{Reference: NewReference(), Kind: models.DocumentKindSimple, Title: "T", FileURL: "https://files.example.com/a.pdf",
			State: st, CreatedAt: now, UpdatedAt: now}
		if err := e.db.Create(&d).Error; err != nil {
			t.Fatal(err)
		}
		for _, to := range models.DocumentStates {
			if changed, err := e.svc.transition(ctx, d.ID, []models.DocumentState{st}, to, nil, "", nil); changed || err == nil {
				t.Errorf("transition %s → %s: changed=%v err=%v", st, to, changed, err)
			}
			if to != st {
				if err := e.db.Exec("UPDATE documents SET state = ? WHERE id = ?", to, d.ID).Error; err == nil {
					t.Errorf("the database let %s become %s", st, to)
				}
			}
		}
		wantState(t, e.get(d.ID).Document, st)
	}
	// A stale read can't do it either: the UPDATE is conditional.
	d := e.create(simpleInput(ninA))
	e.sign(d, ninA)
	e.reconcile()
	if changed, err := e.svc.transition(ctx, d.ID, []models.DocumentState{models.DocumentSubmitted, models.DocumentInProgress}, models.DocumentCancelled, nil, "", nil); changed || err != nil {
		t.Errorf("cancel after completion: changed=%v err=%v", changed, err)
	}
	wantState(t, e.get(d.ID).Document, models.DocumentCompleted)
}
