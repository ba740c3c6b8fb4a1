package pawapasssim_test

import (
	"errors"
	"testing"
	"time"

	"portal/services/sandbox/pawapasssim"
)

func TestLifecycleGoMethods(t *testing.T) {
	e := setup(t, pawapasssim.Options{})
	v := e.create(set("country", "GH"))
	id := v.ID
	step := func(name string, f func() error, status string) wire {
		t.Helper()
		e.clock.Advance(time.Minute)
		if err := f(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := e.get(id)
		if got.Status != status {
			t.Fatalf("after %s: status %s, want %s", name, got.Status, status)
		}
		if want := e.clock.Now().UTC().Format("2006-01-02T15:04:05.000Z"); got.UpdatedAt != want {
			t.Fatalf("after %s: updatedAt %s, want %s", name, got.UpdatedAt, want)
		}
		return got
	}

	// Nothing but Start is possible while CREATED.
	for name, f := range map[string]func() error{
		"SubmitDocument": func() error { return e.sim.SubmitDocument(id) },
		"SubmitFace":     func() error { return e.sim.SubmitFace(id) },
		"Collect":        func() error { return e.sim.Collect(id) },
		"Review":         func() error { return e.sim.Review(id) },
		"Approve":        func() error { return e.sim.Approve(id) },
		"Decline":        func() error { return e.sim.Decline(id, pawapasssim.ReasonGeneric) },
	} {
		if err := f(); !errors.Is(err, pawapasssim.ErrWrongState) {
			t.Errorf("%s while CREATED: %v", name, err)
		}
	}

	step("Start", func() error { return e.sim.Start(id) }, "STARTED")
	if err := e.sim.Start(id); !errors.Is(err, pawapasssim.ErrWrongState) {
		t.Fatalf("Start twice: %v", err)
	}
	if err := e.sim.Collect(id); !errors.Is(err, pawapasssim.ErrIncomplete) {
		t.Fatalf("Collect before the scans: %v", err)
	}
	got := step("SubmitDocument", func() error { return e.sim.SubmitDocument(id) }, "STARTED")
	d := got.IdentityDocument
	if d == nil || d.Type != "NATIONAL_ID" || d.Country != "GH" || d.PlaceOfIssue != "Accra" || d.FirstName == "" || d.CreatedAt != got.UpdatedAt {
		t.Fatalf("identityDocument %+v", d)
	}
	if got.FaceScan != nil || got.ReviewResult != nil {
		t.Fatalf("%+v", got)
	}
	if err := e.sim.Collect(id); !errors.Is(err, pawapasssim.ErrIncomplete) {
		t.Fatalf("Collect before the face scan: %v", err)
	}
	got = step("SubmitFace", func() error { return e.sim.SubmitFaceWith(id, "OVER_21") }, "STARTED")
	if got.FaceScan == nil || got.FaceScan.AgeEstimation != "OVER_21" {
		t.Fatalf("faceScan %+v", got.FaceScan)
	}
	if err := e.sim.SubmitFaceWith(id, "OLD"); !errors.Is(err, pawapasssim.ErrBadInput) {
		t.Fatalf("bad age: %v", err)
	}
	// A second scan with other values replaces the document.
	got = step("SubmitDocumentWith", func() error {
		return e.sim.SubmitDocumentWith(id, pawapasssim.IdentityDocument{Type: "PASSPORT", FirstName: "Ama", LastName: "Owusu", DateOfBirth: "1990-01-02"})
	}, "STARTED")
	if d2 := got.IdentityDocument; d2.Type != "PASSPORT" || d2.FirstName != "Ama" || d2.DateOfBirth != "1990-01-02" ||
		d2.CreatedAt != d.CreatedAt || d2.UpdatedAt != got.UpdatedAt || d2.SerialNo != d.SerialNo {
		t.Fatalf("rescanned identityDocument %+v (first %+v)", d2, d)
	}
	step("Collect", func() error { return e.sim.Collect(id) }, "USER_DATA_COLLECTED")
	if err := e.sim.SubmitDocument(id); !errors.Is(err, pawapasssim.ErrWrongState) {
		t.Fatalf("scan after collect: %v", err)
	}
	step("Review", func() error { return e.sim.Review(id) }, "REVIEW")
	got = step("Approve", func() error { return e.sim.Approve(id) }, "APPROVED")
	if got.ReviewResult != nil {
		t.Fatalf("reviewResult on APPROVED: %+v", got.ReviewResult)
	}
	for name, f := range map[string]func() error{
		"Review":  func() error { return e.sim.Review(id) },
		"Approve": func() error { return e.sim.Approve(id) },
		"Decline": func() error { return e.sim.Decline(id, pawapasssim.ReasonGeneric) },
		"Expire":  func() error { return e.sim.Expire(id) },
		"Start":   func() error { return e.sim.Start(id) },
	} {
		if err := f(); !errors.Is(err, pawapasssim.ErrWrongState) {
			t.Errorf("%s when APPROVED: %v", name, err)
		}
	}
	if _, err := e.sim.Advance(id); !errors.Is(err, pawapasssim.ErrWrongState) {
		t.Errorf("Advance when APPROVED: %v", err)
	}

	snap, ok := e.sim.Verification(id)
	if !ok || snap.Status != "APPROVED" || snap.Country != "GH" || snap.IdentityDocument.FirstName != "Ama" || snap.FaceScan.AgeEstimation != "OVER_21" {
		t.Fatalf("snapshot %+v", snap)
	}
}

func TestDecline(t *testing.T) {
	e := setup(t, pawapasssim.Options{})
	for _, reason := range pawapasssim.ReviewReasons() {
		t.Run(reason, func(t *testing.T) {
			id := e.create().ID
			for range 2 { // STARTED, USER_DATA_COLLECTED: declining without REVIEW is allowed
				_, err := e.sim.Advance(id)
				e.must(err)
			}
			e.must(e.sim.Decline(id, reason))
			if got := e.get(id); got.Status != "DECLINED" || got.ReviewResult == nil || got.ReviewResult.Reason != reason {
				t.Fatalf("%+v", got)
			}
		})
	}
	id := e.create().ID
	for range 3 {
		_, err := e.sim.Advance(id)
		e.must(err)
	}
	for _, bad := range []string{"", "capture_issue", "FRAUD"} {
		if err := e.sim.Decline(id, bad); !errors.Is(err, pawapasssim.ErrBadInput) {
			t.Errorf("reason %q: %v", bad, err)
		}
	}
	if got := e.get(id); got.Status != "REVIEW" {
		t.Fatalf("status %s", got.Status)
	}
}

func TestRequirementsDecideSteps(t *testing.T) {
	e := setup(t, pawapasssim.Options{})
	faceOnly := e.create(set("requirements", []any{map[string]any{"type": "FACE_SCAN"}})).ID
	e.must(e.sim.Start(faceOnly))
	if err := e.sim.SubmitDocument(faceOnly); !errors.Is(err, pawapasssim.ErrNotRequired) {
		t.Fatalf("document on a face-only verification: %v", err)
	}
	e.must(e.sim.SubmitFace(faceOnly))
	e.must(e.sim.Collect(faceOnly))
	if got := e.get(faceOnly); got.IdentityDocument != nil || got.FaceScan == nil {
		t.Fatalf("%+v", got)
	}

	docOnly := e.create(set("requirements", []any{map[string]any{"type": "DOCUMENT_SCAN"}})).ID
	e.must(e.sim.Start(docOnly))
	if err := e.sim.SubmitFace(docOnly); !errors.Is(err, pawapasssim.ErrNotRequired) {
		t.Fatalf("face on a document-only verification: %v", err)
	}
	// Advance generates only what is required.
	if st, err := e.sim.Advance(docOnly); err != nil || st != "USER_DATA_COLLECTED" {
		t.Fatalf("%s %v", st, err)
	}
	if got := e.get(docOnly); got.IdentityDocument == nil || got.FaceScan != nil || got.IdentityDocument.Country != "KE" {
		t.Fatalf("%+v", got)
	}
}

func TestMethodsUnknownID(t *testing.T) {
	e := setup(t, pawapasssim.Options{})
	for name, f := range map[string]func() error{
		"Start":          func() error { return e.sim.Start("nope") },
		"SubmitDocument": func() error { return e.sim.SubmitDocument("nope") },
		"SubmitFace":     func() error { return e.sim.SubmitFace("nope") },
		"Collect":        func() error { return e.sim.Collect("nope") },
		"Review":         func() error { return e.sim.Review("nope") },
		"Approve":        func() error { return e.sim.Approve("nope") },
		"Decline":        func() error { return e.sim.Decline("nope", "GENERIC") },
		"Expire":         func() error { return e.sim.Expire("nope") },
		"ResendWebhook":  func() error { return e.sim.ResendWebhook("nope") },
		"Advance":        func() error { _, err := e.sim.Advance("nope"); return err },
	} {
		if err := f(); !errors.Is(err, pawapasssim.ErrNotFound) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, ok := e.sim.Verification("nope"); ok {
		t.Error("Verification of an unknown id")
	}
}

func TestBadDocumentInput(t *testing.T) {
	e := setup(t, pawapasssim.Options{})
	id := e.create().ID
	e.must(e.sim.Start(id))
	for _, d := range []pawapasssim.IdentityDocument{
		{Type: "LIBRARY_CARD"},
		{DateOfBirth: "10/05/1997"},
		{DateOfBirth: "2030-01-01"},
		{DateOfBirth: "1800-01-01"},
		{FirstName: "Ama\nOwusu"},
		{SerialNo: "<script>"},
		{Country: "Kenya"},
		{IssuedAt: "2020-01-01", ExpiryAt: "2019-01-01"},
	} {
		if err := e.sim.SubmitDocumentWith(id, d); !errors.Is(err, pawapasssim.ErrBadInput) {
			t.Errorf("%+v: %v", d, err)
		}
	}
	if got := e.get(id); got.IdentityDocument != nil {
		t.Fatalf("a rejected scan was kept: %+v", got.IdentityDocument)
	}
}

// --- expiry ---

func TestExpiryAtExpiresAt(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prepare func(e *env, id string)
		status  string
	}{
		{"CREATED", func(*env, string) {}, "CREATED"},
		{"STARTED", func(e *env, id string) { e.must(e.sim.Start(id)) }, "STARTED"},
		{"REVIEW", func(e *env, id string) {
			for range 3 {
				_, err := e.sim.Advance(id)
				e.must(err)
			}
		}, "REVIEW"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t, pawapasssim.Options{Tick: time.Hour})
			v := e.create(set("expiresAt", "2025-08-20T10:00:00.000Z"))
			tc.prepare(e, v.ID)
			e.clock.Advance(time.Hour - time.Millisecond)
			if got := e.get(v.ID); got.Status != tc.status {
				t.Fatalf("a millisecond before: %s", got.Status)
			}
			e.clock.Advance(3 * time.Hour) // the clock jumps well past expiresAt
			got := e.get(v.ID)
			if got.Status != "EXPIRED" || got.UpdatedAt != "2025-08-20T10:00:00.000Z" || got.ExpiresAt != got.UpdatedAt {
				t.Fatalf("after: %s updatedAt %s", got.Status, got.UpdatedAt)
			}
			if err := e.sim.Start(v.ID); !errors.Is(err, pawapasssim.ErrWrongState) {
				t.Fatalf("Start after expiry: %v", err)
			}
			e.waitHooks()
			p := findHook(t, e.hooks.Got(), func(p payload) bool { return p.Data.Status == "EXPIRED" })
			if p.CreatedAt != "2025-08-20T10:00:00.000Z" || p.Type != "VERIFICATION.STATUS_CHANGE" {
				t.Fatalf("expiry webhook %+v", p)
			}
		})
	}
}

func TestExpiryDefaultTTL(t *testing.T) {
	e := setup(t, pawapasssim.Options{DefaultTTL: 30 * time.Minute, Tick: time.Hour})
	v := e.create()
	if v.ExpiresAt != "2025-08-20T09:30:00.000Z" {
		t.Fatalf("expiresAt %s", v.ExpiresAt)
	}
	e.clock.Advance(30 * time.Minute)
	// Any read applies it: list, the snapshot, the hosted page.
	if a := e.list("?statuses=EXPIRED"); a.Count != 1 {
		t.Fatalf("list %+v", a)
	}
}

func TestExpiryWithoutReads(t *testing.T) {
	// The background loop expires verifications (and sends the webhook)
	// even when nobody reads.
	e := setup(t, pawapasssim.Options{Tick: time.Millisecond})
	v := e.create()
	e.clock.Advance(8 * 24 * time.Hour)
	got := e.hooks.WaitFor(t, 1)
	if p := payloadOf(t, got[0].Body); p.Data.ID != v.ID || p.Data.Status != "EXPIRED" || p.Type != "VERIFICATION.STATUS_CHANGE" {
		t.Fatalf("webhook %s", got[0].Body)
	}
}

func TestExpireNow(t *testing.T) {
	e := setup(t, pawapasssim.Options{})
	v := e.create()
	e.clock.Advance(time.Minute)
	e.must(e.sim.Expire(v.ID))
	got := e.get(v.ID)
	if got.Status != "EXPIRED" || got.ExpiresAt != "2025-08-20T09:01:00.000Z" || got.UpdatedAt != got.ExpiresAt {
		t.Fatalf("%+v", got)
	}
	if err := e.sim.Expire(v.ID); !errors.Is(err, pawapasssim.ErrWrongState) {
		t.Fatalf("Expire twice: %v", err)
	}
}

// --- AutoAdvance ---

func TestAutoAdvance(t *testing.T) {
	e := setup(t, pawapasssim.Options{AutoAdvance: time.Minute, Tick: time.Hour})
	id := e.create().ID
	for i, want := range []string{"STARTED", "USER_DATA_COLLECTED", "REVIEW", "APPROVED", "APPROVED"} {
		e.clock.Advance(time.Minute)
		got := e.get(id)
		if got.Status != want {
			t.Fatalf("step %d: %s, want %s", i+1, got.Status, want)
		}
		if i == 1 && (got.IdentityDocument == nil || got.FaceScan == nil) {
			t.Fatalf("collected without data: %+v", got)
		}
	}
	// Steps happen at their due time, however late someone looks.
	id2 := e.create().ID
	e.clock.Advance(10 * time.Minute)
	got := e.get(id2)
	if got.Status != "APPROVED" || got.UpdatedAt != formatAt(e.clock.Now().Add(-10*time.Minute+4*time.Minute)) {
		t.Fatalf("%s at %s", got.Status, got.UpdatedAt)
	}
	e.waitHooks()
	// STARTED, IDENTITY_DOCUMENT_CHANGE, USER_DATA_COLLECTED, REVIEW, APPROVED for each.
	if n := len(e.hooks.Got()); n != 10 {
		t.Fatalf("%d webhooks, want 10", n)
	}
}

func TestAutoAdvanceStopsAtExpiry(t *testing.T) {
	e := setup(t, pawapasssim.Options{AutoAdvance: time.Hour, Tick: time.Hour})
	id := e.create(set("expiresAt", "2025-08-20T11:30:00.000Z")).ID
	e.clock.Advance(10 * time.Hour)
	if got := e.get(id); got.Status != "EXPIRED" || got.UpdatedAt != "2025-08-20T11:30:00.000Z" || got.IdentityDocument == nil {
		t.Fatalf("%+v", got)
	}
}

func TestAutoAdvanceAlongsideAPerson(t *testing.T) {
	e := setup(t, pawapasssim.Options{AutoAdvance: time.Minute, Tick: time.Hour})
	id := e.create().ID
	e.must(e.sim.Start(id)) // the person was faster
	e.clock.Advance(time.Minute)
	if got := e.get(id); got.Status != "USER_DATA_COLLECTED" {
		t.Fatalf("%s", got.Status)
	}
}

func formatAt(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func TestReviewFromStarted(t *testing.T) {
	// Start, the scans, Review: the person's submit and the move to
	// REVIEW in one call.
	e := setup(t, pawapasssim.Options{})
	id := e.create().ID
	e.must(e.sim.Start(id))
	e.must(e.sim.SubmitDocument(id))
	if err := e.sim.Review(id); !errors.Is(err, pawapasssim.ErrIncomplete) {
		t.Fatalf("Review before the face scan: %v", err)
	}
	e.must(e.sim.SubmitFace(id))
	e.must(e.sim.Review(id))
	if got := e.get(id); got.Status != "REVIEW" {
		t.Fatal(got.Status)
	}
	e.waitHooks()
	findHook(t, e.hooks.Got(), func(p payload) bool { return p.Data.Status == "USER_DATA_COLLECTED" })
	findHook(t, e.hooks.Got(), func(p payload) bool { return p.Data.Status == "REVIEW" })
}
