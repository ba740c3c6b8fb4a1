package casework_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"portal/models"
	"portal/services/casework"
)

// Each queue lists its cases longest wait first or newest first, the two
// reviewable verification states merged, and the oldest-wait figure is
// the queue's whatever the order and however short the page.
func TestQueuesSortByAgeInQueue(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	ann := f.officer(t, "ann")
	// Finished 1..6 hours ago, the states alternating.
	var byAge []uint // oldest first
	for h := 6; h >= 1; h-- {
		state := []models.VerificationState{models.VerificationApproved, models.VerificationDeclined}[h%2]
		byAge = append(byAge, f.verification(t, state, "", time.Duration(h)*time.Hour))
	}
	oldest := f.c.now().Add(-6 * time.Hour)
	// Ann takes the two oldest.
	for range 2 {
		if _, err := f.svc.TakeNext(ctx, models.CaseVerification, ann); err != nil {
			t.Fatal(err)
		}
	}
	rev := func(ids []uint) []uint {
		out := slices.Clone(ids)
		slices.Reverse(out)
		return out
	}
	for _, c := range []struct {
		who    casework.Who
		sort   string
		limit  int
		want   []uint
		oldest time.Time
	}{
		{casework.Everyone, "", 10, byAge, oldest},
		{casework.Everyone, "-wait", 10, byAge, oldest},
		{casework.Everyone, "wait", 10, rev(byAge), oldest},
		{casework.Everyone, "wait", 3, rev(byAge)[:3], oldest}, // the oldest is not on the page
		{casework.Unassigned, "-wait", 10, byAge[2:], oldest.Add(2 * time.Hour)},
		{casework.Unassigned, "wait", 2, rev(byAge)[:2], oldest.Add(2 * time.Hour)},
		{casework.Mine, "-wait", 10, byAge[:2], oldest},
		{casework.Mine, "wait", 10, rev(byAge[:2]), oldest},
		{casework.Mine, "wait", 1, byAge[1:2], oldest},
	} {
		name := fmt.Sprintf("%s sorted %q, %d a page", c.who, c.sort, c.limit)
		q, err := f.svc.WaitingSorted(ctx, models.CaseVerification, c.who, ann.ID, c.sort, c.limit)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var ids []uint
		for _, it := range q.Items {
			ids = append(ids, it.RecordID)
		}
		if !slices.Equal(ids, c.want) {
			t.Errorf("%s: %v, want %v", name, ids, c.want)
		}
		if !q.OldestSince.Equal(c.oldest) {
			t.Errorf("%s: oldest since %v, want %v", name, q.OldestSince, c.oldest)
		}
		if want := c.sort; q.Sort.String() != want && !(want == "" && q.Sort == casework.DefaultWaitingSort) {
			t.Errorf("%s: says it is sorted %q", name, q.Sort)
		}
	}
	if _, err := f.svc.WaitingSorted(ctx, models.CaseVerification, casework.Everyone, ann.ID, "decided", 10); !isField(err, "sort") {
		t.Errorf("the waiting queue sorted by decision: %v, want a message on sort", err)
	}
}

func TestSecondReviewQueueSortsByDecision(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	ann := f.officer(t, "ann")
	// Flagged in turn, an hour apart, the oldest record last: the order is
	// the decisions', not the records'.
	var decided []uint
	for h := 1; h <= 4; h++ {
		id := f.document(t, time.Duration(10-h)*time.Hour)
		if _, err := f.svc.Decide(ctx, models.CaseDocument, ann, id, "flagged", "other", "check"); err != nil {
			t.Fatal(err)
		}
		decided = append(decided, id)
		f.c.advance(time.Hour)
	}
	oldestQueued := f.caseOf(t, models.CaseDocument, decided[0]).QueuedAt
	for _, c := range []struct {
		sort  string
		limit int
		want  []uint
	}{
		{"", 10, decided},
		{"decided", 10, decided},
		{"-decided", 10, []uint{decided[3], decided[2], decided[1], decided[0]}},
		{"-decided", 2, []uint{decided[3], decided[2]}},
	} {
		q, err := f.svc.AwaitingSecondSorted(ctx, models.CaseDocument, c.sort, c.limit)
		if err != nil {
			t.Fatal(err)
		}
		var ids []uint
		for _, it := range q.Items {
			ids = append(ids, it.RecordID)
		}
		if !slices.Equal(ids, c.want) {
			t.Errorf("sorted %q, %d a page: %v, want %v", c.sort, c.limit, ids, c.want)
		}
		// The oldest decisions' page sets the figure, in either order,
		// also when this page does not hold them.
		if !q.OldestSince.Equal(oldestQueued) {
			t.Errorf("sorted %q, %d a page: oldest since %v, want %v", c.sort, c.limit, q.OldestSince, oldestQueued)
		}
	}
	for _, bad := range []string{"wait", "-reason"} {
		if _, err := f.svc.AwaitingSecondSorted(ctx, models.CaseDocument, bad, 10); !isField(err, "sort") {
			t.Errorf("sorted %q: %v, want a message on sort", bad, err)
		}
	}
}
