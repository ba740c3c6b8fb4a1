package pawapasssim

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"portal/services/sandbox"
	"portal/services/sandbox/simtest"
)

var testStart = time.Date(2025, 8, 20, 9, 0, 0, 0, time.UTC)

func openTestStore(tb testing.TB) *sandbox.Store {
	tb.Helper()
	st, err := sandbox.OpenStore(context.Background(), filepath.Join(tb.TempDir(), "sandbox.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	return st
}

// testVerification is a CREATED verification as the create path would
// store it, due at its expiry a week on.
func testVerification(id string) *verification {
	return &verification{
		ID: id, ExternalID: "user-" + id, Requirements: []Requirement{{Type: RequirementFaceScan}},
		URL: "https://portal.example/sandbox/pawapass/app/portal-sandbox/" + id, Status: StatusCreated,
		SuccessURL: "https://portal.example/done", ErrorURL: "https://portal.example/error", SupportURL: "https://portal.example/help",
		ExpiresAt: testStart.Add(DefaultTTL), CreatedAt: testStart, UpdatedAt: testStart,
	}
}

func TestLapsedClaimIsDeliveredAfterRestart(t *testing.T) {
	// A process claimed a delivery and died mid-post; its lease has
	// lapsed. The next simulator posts it, exactly once.
	st := openTestStore(t)
	hooks := simtest.NewReceiver(t, "/hooks/s3cret")
	d := sandbox.OutboxMessage[hookMeta]{ID: "1", Target: hooks.URL(), Body: []byte(`{"notificationId":"11111111-2222-4333-8444-555555555555"}`),
		Header: http.Header{SignatureHeader: {"abc"}}, State: sandbox.OutboxPending, Claim: 1,
		Meta: hookMeta{NotificationID: "11111111-2222-4333-8444-555555555555", Type: WebhookStatusChange, VerificationID: "aB1cD2eF", Status: StatusStarted}}
	err := st.Bucket("pawapass").Update(t.Context(), func(tx *sandbox.Tx) error {
		return tx.Put(sandbox.OutboxKind, d.ID, d, time.Now().Add(-time.Second))
	})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{Store: st, WebhookURL: hooks.URL(), Now: func() time.Time { return testStart }})
	defer s.Close()
	got := hooks.WaitFor(t, 1)
	if string(got[0].Body) != string(d.Body) || got[0].Header.Get(SignatureHeader) != "abc" {
		t.Fatalf("posted %s %v", got[0].Body, got[0].Header)
	}
	simtest.Settle(t, "webhooks", s.WaitWebhooks)
	if ds := s.Deliveries(); len(ds) != 1 || !ds[0].Delivered || len(ds[0].Attempts) != 1 {
		t.Fatalf("%+v", ds)
	}
	if n := len(hooks.Got()); n != 1 {
		t.Fatalf("%d posts", n)
	}
}

func TestStoreDueRoundsUp(t *testing.T) {
	v := testVerification("x")
	v.NextAuto = testStart.Add(1500 * time.Microsecond)
	if got, want := v.storeDue(), testStart.Add(2*time.Millisecond); !got.Equal(want) {
		t.Fatalf("storeDue %v, want %v", got, want)
	}
	v.Status = StatusApproved
	if !v.storeDue().IsZero() {
		t.Fatal("a final verification is due")
	}
}

// BenchmarkNewWithManyRecords measures New and the first GET on a store
// holding 100,000 verifications beside the same on a store holding one:
// start-up reads nothing, so the two cost the same.
func BenchmarkNewWithManyRecords(b *testing.B) {
	for _, n := range []int{1, 100_000} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			st := openTestStore(b)
			seed(b, st, n)
			benchNewAndGet(b, st, fmt.Sprintf("v%07d", n/2))
		})
	}
}

// seed stores n verifications as the create path would, 5,000 to a
// transaction.
func seed(b *testing.B, st *sandbox.Store, n int) {
	began := time.Now()
	for i := 0; i < n; i += 5000 {
		err := st.Bucket("pawapass").Update(context.Background(), func(tx *sandbox.Tx) error {
			for j := i; j < min(i+5000, n); j++ {
				v := testVerification(fmt.Sprintf("v%07d", j))
				if err := tx.Put(kindVerification, v.ID, v, v.storeDue()); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("seeded %d verifications in %v", n, time.Since(began))
}

func benchNewAndGet(b *testing.B, st *sandbox.Store, id string) {
	b.ReportAllocs()
	for b.Loop() {
		s := New(Options{Store: st, Now: func() time.Time { return testStart }})
		req := httptest.NewRequest(http.MethodGet, PathVerifications+"/"+id, nil)
		req.SetPathValue("id", id)
		req.Header.Set("Authorization", "Bearer "+DefaultAPIKey)
		rec := httptest.NewRecorder()
		s.api(s.handleGet)(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("GET %d %s", rec.Code, rec.Body)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
