package dashboard

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"gorm.io/gorm"

	"portal/internal/dbtest"
	"portal/models"
	"portal/services/documents"
)

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func openDB(t *testing.T) *gorm.DB {
	t.Helper()
	db := dbtest.Open(t)
	t.Cleanup(func() {
		if s, err := db.DB(); err == nil {
			s.Close()
		}
	})
	return db
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var seq int

func recharge(t *testing.T, db *gorm.DB, state models.RechargeState, at time.Time, amount, currency string) {
	t.Helper()
	seq++
	must(t, db.Create(&models.Recharge{IdempotencyKey: "k" + itoa(seq), DeviceID: "68750000000001", Amount: decimal.RequireFromString(amount),
		Currency: currency, State: state, CreatedAt: at, UpdatedAt: at}).Error)
}

func document(t *testing.T, db *gorm.DB, state models.DocumentState, created time.Time, completed *time.Time, lastEvent time.Time) uint {
	t.Helper()
	seq++
	d := models.Document{Reference: "ref" + itoa(seq), Kind: models.DocumentKindSimple, Title: "Doc", FileURL: "https://x.example/a.pdf",
		State: state, CreatedAt: created, UpdatedAt: created, CompletedAt: completed}
	must(t, db.Create(&d).Error)
	must(t, db.Create(&models.DocumentEvent{DocumentID: d.ID, At: lastEvent, FromState: "queued", ToState: state}).Error)
	return d.ID
}

func verification(t *testing.T, db *gorm.DB, p models.VerificationProvider, state models.VerificationState, status string, created time.Time, completed *time.Time) {
	t.Helper()
	seq++
	must(t, db.Create(&models.Verification{Provider: p, Reference: "vref" + itoa(seq), State: state, ProviderStatus: status,
		CreatedAt: created, UpdatedAt: created, CompletedAt: completed}).Error)
}

func itoa(n int) string {
	return decimal.NewFromInt(int64(n)).String()
}

func ptr(t time.Time) *time.Time { return &t }

func TestFiguresMatchSeededData(t *testing.T) {
	db := openDB(t)
	day := 24 * time.Hour
	// Recharges: today 2 completed KES (100.50 + 20) and 1 failed; 3 days
	// ago 1 completed GHS and 1 unknown; 40 days ago (outside the chart).
	recharge(t, db, models.RechargeCompleted, now.Add(-time.Hour), "100.50", "KES")
	recharge(t, db, models.RechargeCompleted, now.Add(-2*time.Hour), "20", "KES")
	recharge(t, db, models.RechargeFailed, now.Add(-3*time.Hour), "5", "KES")
	recharge(t, db, models.RechargeCompleted, now.Add(-3*day), "7.25", "GHS")
	recharge(t, db, models.RechargeUnknown, now.Add(-3*day), "9", "KES")
	recharge(t, db, models.RechargeCompleted, now.Add(-40*day), "1000", "KES")

	// Documents: completed in 2 h and 6 h (median 4 h); one open with an
	// event 2 days ago (stalled); one open with an event an hour ago.
	document(t, db, models.DocumentCompleted, now.Add(-10*time.Hour), ptr(now.Add(-8*time.Hour)), now.Add(-8*time.Hour))
	document(t, db, models.DocumentCompleted, now.Add(-2*day), ptr(now.Add(-2*day+6*time.Hour)), now.Add(-2*day))
	document(t, db, models.DocumentInProgress, now.Add(-3*day), nil, now.Add(-2*day))
	document(t, db, models.DocumentSubmitted, now.Add(-2*time.Hour), nil, now.Add(-time.Hour))
	must(t, db.Model(&models.Document{}).Where("id = 2").Update("review_decision", "approved").Error)

	// Verifications.
	verification(t, db, models.ProviderPawaPass, models.VerificationApproved, "APPROVED", now.Add(-day), ptr(now.Add(-20*time.Hour)))
	verification(t, db, models.ProviderPawaPass, models.VerificationDeclined, "DECLINED", now.Add(-2*day), ptr(now.Add(-47*time.Hour)))
	verification(t, db, models.ProviderPawaPass, models.VerificationInProgress, "REVIEW", now.Add(-time.Hour), nil)
	verification(t, db, models.ProviderPassportReader, models.VerificationApproved, "APPROVED", now.Add(-time.Hour), ptr(now.Add(-30*time.Minute)))
	verification(t, db, models.ProviderPassportReader, models.VerificationFailed, "", now.Add(-time.Hour), nil)

	f, err := New(db, func() time.Time { return now }, 0).Figures(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want int64
	}{
		{"recharges completed", f.Recharges["completed"], 4},
		{"unknown recharges", f.UnknownRecharges, 1},
		{"failed recharges today", f.FailedRecharges, 1},
		{"documents completed", f.Documents["completed"], 2},
		{"stalled documents", f.StalledDocuments, 1},
		{"document queue", f.DocumentQueue.Count, 1},
		{"verifications in REVIEW", f.InReview, 1},
		{"verification queue", f.VerificationQueue.Count, 3},
		{"failed verifications today", f.FailedVerifications, 1},
		{"pawaPass approved", f.Outcomes[models.ProviderPawaPass]["approved"], 1},
		{"pawaPass declined", f.Outcomes[models.ProviderPawaPass]["declined"], 1},
		{"PassportReader approved", f.Outcomes[models.ProviderPassportReader]["approved"], 1},
		{"PassportReader failed", f.Outcomes[models.ProviderPassportReader]["failed"], 1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if f.DocumentQueue.Oldest == nil || !f.DocumentQueue.Oldest.Equal(now.Add(-8*time.Hour)) {
		t.Errorf("oldest document in queue %v", f.DocumentQueue.Oldest)
	}
	if f.VerificationQueue.Oldest == nil || !f.VerificationQueue.Oldest.Equal(now.Add(-47*time.Hour)) {
		t.Errorf("oldest verification in queue %v", f.VerificationQueue.Oldest)
	}
	if len(f.RechargeDays) != Days {
		t.Fatalf("%d days", len(f.RechargeDays))
	}
	today, threeAgo := f.RechargeDays[Days-1], f.RechargeDays[Days-4]
	if today.Count != 3 || today.Completed != 2 || !today.Amounts["KES"].Equal(decimal.RequireFromString("120.50")) {
		t.Errorf("today: %+v", today)
	}
	if threeAgo.Count != 2 || !threeAgo.Amounts["GHS"].Equal(decimal.RequireFromString("7.25")) {
		t.Errorf("three days ago: %+v", threeAgo)
	}
	var total int64
	for _, d := range f.RechargeDays {
		total += d.Count
	}
	if total != 5 {
		t.Errorf("%d recharges in 30 days, want 5 (the 40-day-old one is out)", total)
	}
	if f.MainCurrency != "KES" {
		t.Errorf("main currency %q", f.MainCurrency)
	}
	if f.DocMedian != 4*time.Hour || f.DocCompleted != 2 {
		t.Errorf("median %v of %d, want 4h of 2", f.DocMedian, f.DocCompleted)
	}
}

func TestMedian(t *testing.T) {
	h := time.Hour
	cases := []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{[]time.Duration{h}, h},
		{[]time.Duration{3 * h, h, 2 * h}, 2 * h},
		{[]time.Duration{4 * h, h, 2 * h, 3 * h}, 2*h + h/2},
	}
	for _, c := range cases {
		if got := Median(c.in); got != c.want {
			t.Errorf("Median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestCacheReusesFiguresForTTL(t *testing.T) {
	db := openDB(t)
	clock := now
	s := New(db, func() time.Time { return clock }, 15*time.Second)
	ctx := context.Background()
	if _, err := s.Figures(ctx); err != nil {
		t.Fatal(err)
	}
	recharge(t, db, models.RechargeUnknown, now, "1", "KES")
	if f, _ := s.Figures(ctx); f.UnknownRecharges != 0 {
		t.Error("figures recomputed within the TTL")
	}
	clock = clock.Add(16 * time.Second)
	if f, _ := s.Figures(ctx); f.UnknownRecharges != 1 {
		t.Error("figures not recomputed after the TTL")
	}
}

// The median of kept completion-time bins is the median of the durations
// they stand for.
func TestWeightedMedianIsTheMedianOfTheBins(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	for range 200 {
		var bins []documents.CompletionTime
		var all []time.Duration
		for range 1 + rng.IntN(12) {
			b := documents.CompletionTime{Took: time.Duration(rng.IntN(3000)) * time.Minute, N: int64(1 + rng.IntN(5))}
			bins = append(bins, b)
			for range b.N {
				all = append(all, b.Took)
			}
		}
		if got, want := weightedMedian(bins), Median(all); got != want {
			t.Fatalf("weightedMedian(%v) = %v, want %v", bins, got, want)
		}
	}
	if weightedMedian(nil) != 0 {
		t.Error("no bins: want 0")
	}
}
