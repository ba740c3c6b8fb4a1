package casework_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"portal/internal/dbtest"
	"portal/models"
	"portal/services"
	"portal/services/casework"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var refs atomic.Int64

type fixture struct {
	db  *gorm.DB
	c   *clock
	svc *casework.Service
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	db := dbtest.Open(t)
	c := &clock{t: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)}
	return fixture{db, c, casework.New(db, c.now, 24*time.Hour)}
}

// officer adds a compliance officer.
func (f fixture) officer(t *testing.T, name string) services.Actor {
	t.Helper()
	u := models.User{Email: name + "@example.com", Name: name, Role: models.RoleCompliance, PasswordHash: "x",
		CreatedAt: f.c.now(), UpdatedAt: f.c.now()}
	if err := f.db.Create(&u).Error; err != nil {
		t.Fatal(err)
	}
	return services.Actor{ID: u.ID, Email: u.Email, Role: u.Role}
}

// document adds a completed document that finished ago before now.
func (f fixture) document(t *testing.T, ago time.Duration) uint {
	t.Helper()
	now := f.c.now()
	done := now.Add(-ago)
	d := models.Document{Reference: fmt.Sprintf("ref-%d", refs.Add(1)), Kind: models.DocumentKindSimple,
		Title: "Contract", FileURL: "https://files.example.com/a.pdf", State: models.DocumentCompleted,
		CreatedAt: done.Add(-time.Hour), UpdatedAt: done, CompletedAt: &done}
	if err := f.db.Create(&d).Error; err != nil {
		t.Fatal(err)
	}
	return d.ID
}

// verification adds a verification the provider decided ago before now;
// providerReason is pawaPass's own review reason (high risk when set).
func (f fixture) verification(t *testing.T, state models.VerificationState, providerReason string, ago time.Duration) uint {
	t.Helper()
	now := f.c.now()
	done := now.Add(-ago)
	v := models.Verification{Provider: models.ProviderPawaPass, Reference: fmt.Sprintf("v-%d", refs.Add(1)),
		State: state, ReviewReason: providerReason, CreatedAt: done.Add(-time.Hour), UpdatedAt: done, CompletedAt: &done}
	if err := f.db.Create(&v).Error; err != nil {
		t.Fatal(err)
	}
	return v.ID
}

func (f fixture) caseOf(t *testing.T, k models.CaseKind, id uint) models.ReviewCase {
	t.Helper()
	c, ok, err := f.svc.Case(context.Background(), k, id)
	if err != nil || !ok {
		t.Fatalf("case of %s %d: %v, found %t", k, id, err, ok)
	}
	return c
}

func TestTenOfficersTakingAtOnceGetTenDifferentCases(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var officers []services.Actor
	for i := range 10 {
		officers = append(officers, f.officer(t, fmt.Sprintf("officer%d", i)))
		f.document(t, time.Duration(i+1)*time.Minute)
	}
	got := make([]uint, len(officers))
	errs := make([]error, len(officers))
	var wg sync.WaitGroup
	for i, o := range officers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = f.svc.TakeNext(context.Background(), models.CaseDocument, o)
		}()
	}
	wg.Wait()
	seen := map[uint]bool{}
	for i, id := range got {
		if errs[i] != nil {
			t.Fatalf("officer %d: %v", i, errs[i])
		}
		if seen[id] {
			t.Fatalf("document %d went to two officers: %v", id, got)
		}
		seen[id] = true
		if c := f.caseOf(t, models.CaseDocument, id); c.AssigneeID == nil || *c.AssigneeID != officers[i].ID {
			t.Errorf("document %d: assignee %v, want officer %d", id, c.AssigneeID, officers[i].ID)
		}
	}
	if _, err := f.svc.TakeNext(context.Background(), models.CaseDocument, officers[0]); !errors.Is(err, casework.ErrNothingToTake) {
		t.Errorf("an eleventh take: %v, want ErrNothingToTake", err)
	}
	var steps int64
	f.db.Model(&models.AuditEvent{}).Where("action = ?", "case.taken").Count(&steps)
	if steps != 10 {
		t.Errorf("%d case.taken audit events, want 10", steps)
	}
}

func TestTakeNextGivesTheOldestFreeCase(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	ann, bob := f.officer(t, "ann"), f.officer(t, "bob")
	newer := f.document(t, time.Hour)
	older := f.document(t, 3*time.Hour)
	if id, err := f.svc.TakeNext(ctx, models.CaseDocument, ann); err != nil || id != older {
		t.Fatalf("first take = %d, %v; want the older document %d", id, err, older)
	}
	if id, err := f.svc.TakeNext(ctx, models.CaseDocument, bob); err != nil || id != newer {
		t.Fatalf("second take = %d, %v; want %d", id, err, newer)
	}
	// Queues by whose.
	for _, tc := range []struct {
		who  casework.Who
		as   services.Actor
		want []uint
	}{
		{casework.Everyone, ann, []uint{older, newer}},
		{casework.Mine, ann, []uint{older}},
		{casework.Mine, bob, []uint{newer}},
		{casework.Unassigned, ann, nil},
	} {
		q, err := f.svc.Waiting(ctx, models.CaseDocument, tc.who, tc.as.ID, 50)
		if err != nil {
			t.Fatal(err)
		}
		var ids []uint
		for _, it := range q.Items {
			ids = append(ids, it.RecordID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(tc.want) {
			t.Errorf("%s queue as %s: %v, want %v", tc.who, tc.as.Email, ids, tc.want)
		}
	}
	// Bob cannot release Ann's case; she can, and then it is free again.
	if err := f.svc.Release(ctx, models.CaseDocument, bob, older, false); err == nil {
		t.Error("bob released ann's case")
	}
	if err := f.svc.Release(ctx, models.CaseDocument, ann, older, false); err != nil {
		t.Fatal(err)
	}
	if id, err := f.svc.TakeNext(ctx, models.CaseDocument, bob); err != nil || id != older {
		t.Fatalf("take after release = %d, %v; want %d", id, err, older)
	}
	// Deciding someone else's case is refused, naming who has it.
	var assigned *casework.AssignedError
	if _, err := f.svc.Decide(ctx, models.CaseDocument, ann, older, "approved", "", ""); !errors.As(err, &assigned) || assigned.Email != bob.Email {
		t.Errorf("ann deciding bob's case: %v, want AssignedError naming bob", err)
	}
	// An admin gives it back to Ann.
	admin := services.Actor{ID: 0, Email: "system"}
	if err := f.svc.Assign(ctx, models.CaseDocument, admin, older, ann.ID); err != nil {
		t.Fatal(err)
	}
	if c := f.caseOf(t, models.CaseDocument, older); *c.AssigneeID != ann.ID {
		t.Errorf("after reassigning: assignee %d, want ann", *c.AssigneeID)
	}
}

func TestDecisionReasonsAndFourEyes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	ann, bob := f.officer(t, "ann"), f.officer(t, "bob")

	cases := []struct {
		name, decision, reason, note string
		field                        string
	}{
		{"no decision", "", "", "", "decision"},
		{"flagged without a reason", "flagged", "", "", "reason"},
		{"a reason not on the list", "flagged", "face_mismatch", "", "reason"}, // a verification reason
		{"other without a note", "flagged", "other", " ", "note"},
	}
	doc := f.document(t, time.Hour)
	for _, tc := range cases {
		_, err := f.svc.Decide(ctx, models.CaseDocument, ann, doc, tc.decision, tc.reason, tc.note)
		if fe, ok := services.AsFieldErrors(err); !ok || fe[tc.field] == "" {
			t.Errorf("%s: %v, want a message on %s", tc.name, err, tc.field)
		}
	}

	// Approving a plain document closes it at once.
	out, err := f.svc.Decide(ctx, models.CaseDocument, ann, doc, "approved", "", "all signatures match")
	if err != nil || out.SecondReview {
		t.Fatalf("approve = %+v, %v; want closed", out, err)
	}
	if c := f.caseOf(t, models.CaseDocument, doc); c.Stage != models.CaseClosed {
		t.Errorf("stage %s after approval, want closed", c.Stage)
	}
	if _, err := f.svc.Decide(ctx, models.CaseDocument, bob, doc, "flagged", "other", "again"); !errors.Is(err, casework.ErrAlreadyDecided) {
		t.Errorf("a second decision: %v, want ErrAlreadyDecided", err)
	}

	// Flagging waits for a second officer; the first cannot confirm.
	flagged := f.document(t, 2*time.Hour)
	out, err = f.svc.Decide(ctx, models.CaseDocument, ann, flagged, "flagged", "other", "the stamp looks pasted")
	if err != nil || !out.SecondReview {
		t.Fatalf("flag = %+v, %v; want a second review", out, err)
	}
	var d models.Document
	f.db.Take(&d, flagged)
	if d.ReviewDecision != models.ReviewFlagged || d.ComplianceReason != "other" {
		t.Errorf("record after flagging: %s/%s", d.ReviewDecision, d.ComplianceReason)
	}
	var forbidden *services.ErrForbidden
	if err := f.svc.SecondReview(ctx, models.CaseDocument, ann, flagged, "confirmed", "", ""); !errors.As(err, &forbidden) {
		t.Errorf("ann confirming her own decision: %v, want ErrForbidden", err)
	}
	if q, _ := f.svc.AwaitingSecond(ctx, models.CaseDocument, 10); len(q.Items) != 1 || q.Items[0].RecordID != flagged {
		t.Errorf("second-review queue: %+v, want the flagged document", q.Items)
	}
	if err := f.svc.SecondReview(ctx, models.CaseDocument, bob, flagged, "overturned", "", ""); !isField(err, "note") {
		t.Errorf("overturn without a note: %v, want a note message", err)
	}
	if err := f.svc.SecondReview(ctx, models.CaseDocument, bob, flagged, "overturned", "", "the stamp is the provider's"); err != nil {
		t.Fatal(err)
	}
	f.db.Take(&d, flagged)
	if d.ReviewDecision != models.ReviewApproved || d.ComplianceReason != "" {
		t.Errorf("record after overturning: %s/%q, want approved without a reason", d.ReviewDecision, d.ComplianceReason)
	}
	if err := f.svc.SecondReview(ctx, models.CaseDocument, bob, flagged, "confirmed", "", ""); !errors.Is(err, casework.ErrNotAwaitingSecond) {
		t.Errorf("a second confirmation: %v, want ErrNotAwaitingSecond", err)
	}
	var events []models.DocumentEvent
	f.db.Where("document_id = ?", flagged).Order("id").Find(&events)
	if len(events) != 2 {
		t.Errorf("timeline of the flagged document: %+v, want the decision and the overturn", events)
	}

	// A verification pawaPass reviewed by hand needs four eyes even when
	// approved.
	risky := f.verification(t, models.VerificationApproved, "IMAGE_QUALITY", time.Hour)
	if out, err := f.svc.Decide(ctx, models.CaseVerification, ann, risky, "approved", "", ""); err != nil || !out.SecondReview {
		t.Errorf("approving a high-risk verification = %+v, %v; want a second review", out, err)
	}
	plain := f.verification(t, models.VerificationDeclined, "", time.Hour)
	if out, err := f.svc.Decide(ctx, models.CaseVerification, ann, plain, "approved", "", ""); err != nil || out.SecondReview {
		t.Errorf("approving a plain verification = %+v, %v; want it closed", out, err)
	}
	if err := f.svc.SecondReview(ctx, models.CaseVerification, bob, risky, "overturned", "", "the portrait is someone else"); !isField(err, "reason") {
		t.Errorf("overturning to flagged without a reason: %v, want a reason message", err)
	}
	if err := f.svc.SecondReview(ctx, models.CaseVerification, bob, risky, "overturned", "face_mismatch", "the portrait is someone else"); err != nil {
		t.Fatal(err)
	}
	var v models.Verification
	f.db.Take(&v, risky)
	if v.ReviewDecision != models.ReviewFlagged || v.ComplianceReason != "face_mismatch" {
		t.Errorf("verification after overturning: %s/%s", v.ReviewDecision, v.ComplianceReason)
	}
}

func TestLateCasesAgainstTheSLA(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.document(t, 23*time.Hour)
	f.document(t, 25*time.Hour)
	f.verification(t, models.VerificationApproved, "", 30*time.Hour)
	f.verification(t, models.VerificationDeclined, "", time.Hour)
	want := map[models.CaseKind]int64{models.CaseDocument: 1, models.CaseVerification: 1}
	for k, n := range want {
		if got, err := f.svc.Late(ctx, k); err != nil || got != n {
			t.Errorf("late %s = %d, %v; want %d", k, got, err, n)
		}
	}
	f.c.advance(2 * time.Hour)
	want[models.CaseDocument] = 2
	for k, n := range want {
		if got, err := f.svc.Late(ctx, k); err != nil || got != n {
			t.Errorf("two hours on, late %s = %d, %v; want %d", k, got, err, n)
		}
	}
	// A flagged decision waiting for its second officer still counts.
	ann := f.officer(t, "ann")
	q, _ := f.svc.Waiting(ctx, models.CaseDocument, casework.Everyone, ann.ID, 10)
	if _, err := f.svc.Decide(ctx, models.CaseDocument, ann, q.Items[0].RecordID, "flagged", "document_altered", ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.svc.Late(ctx, models.CaseDocument); got != 2 {
		t.Errorf("late documents with one awaiting a second review = %d, want 2", got)
	}
}

func isField(err error, field string) bool {
	fe, ok := services.AsFieldErrors(err)
	return ok && fe[field] != ""
}
