package models_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"gorm.io/gorm"

	"portal/internal/dbtest"
	"portal/models"
)

type bucket struct {
	Kind, Day, State, Sub, Decision string
	N, AmountMinor                  int64
}

// kept is what the triggers keep, without buckets that went back to zero.
func kept(t *testing.T, db *gorm.DB) []bucket {
	t.Helper()
	day := "day"
	if models.DialectOf(db).Postgres() {
		day = "to_char(day, 'YYYY-MM-DD')"
	}
	var out []bucket
	if err := db.Raw("SELECT kind, " + day + " AS day, state, sub, decision, n, amount_minor FROM figure_counts WHERE n <> 0 OR amount_minor <> 0 ORDER BY 1, 2, 3, 4, 5").Scan(&out).Error; err != nil {
		t.Fatal(err)
	}
	return out
}

// recount counts the tables themselves.
func recount(t *testing.T, db *gorm.DB) []bucket {
	t.Helper()
	d := models.DialectOf(db)
	amount := "CAST(round(amount * 100) AS INTEGER)"
	if d.Postgres() {
		amount = "(amount * 100)::bigint"
	}
	var out []bucket
	q := "SELECT 'document' AS kind, " + d.Day("created_at") + " AS day, state, '' AS sub, review_decision AS decision, COUNT(*) AS n, 0 AS amount_minor FROM documents GROUP BY 2, 3, 4, 5 " +
		"UNION ALL SELECT 'recharge', " + d.Day("created_at") + ", state, currency, '', COUNT(*), SUM(" + amount + ") FROM recharges GROUP BY 2, 3, 4, 5 " +
		"UNION ALL SELECT 'verification', " + d.Day("created_at") + ", state, provider, review_decision, COUNT(*), 0 FROM verifications GROUP BY 2, 3, 4, 5 " +
		"ORDER BY 1, 2, 3, 4, 5"
	if err := db.Raw(q).Scan(&out).Error; err != nil {
		t.Fatal(err)
	}
	return out
}

func checkCounts(t *testing.T, db *gorm.DB, when string) {
	t.Helper()
	got, want := kept(t, db), recount(t, db)
	if !slices.Equal(got, want) {
		t.Fatalf("%s: the kept figure counts differ from a recount:\nkept    %v\nrecount %v", when, got, want)
	}
	gotD, wantD := keptDurations(t, db), recountDurations(t, db)
	if !slices.Equal(gotD, wantD) {
		t.Fatalf("%s: the kept completion times differ from a recount:\nkept    %v\nrecount %v", when, gotD, wantD)
	}
}

type durationBin struct {
	Day     string
	Minutes int64
	N       int64
}

func keptDurations(t *testing.T, db *gorm.DB) []durationBin {
	t.Helper()
	day := "day"
	if models.DialectOf(db).Postgres() {
		day = "to_char(day, 'YYYY-MM-DD')"
	}
	var out []durationBin
	if err := db.Raw("SELECT " + day + " AS day, minutes, n FROM figure_durations WHERE n <> 0 ORDER BY 1, 2").Scan(&out).Error; err != nil {
		t.Fatal(err)
	}
	return out
}

// recountDurations reads every completed document and bins it in Go, the
// way the triggers are meant to.
func recountDurations(t *testing.T, db *gorm.DB) []durationBin {
	t.Helper()
	var docs []models.Document
	if err := db.Where("completed_at IS NOT NULL").Find(&docs).Error; err != nil {
		t.Fatal(err)
	}
	counts := map[durationBin]int64{}
	for _, d := range docs {
		if d.CompletedAt.Before(d.CreatedAt) {
			continue
		}
		m := int64(d.CompletedAt.Sub(d.CreatedAt).Round(time.Minute) / time.Minute)
		if m >= 2880 {
			m = m / 60 * 60
		}
		counts[durationBin{Day: d.CompletedAt.UTC().Format("2006-01-02"), Minutes: m}]++
	}
	out := make([]durationBin, 0, len(counts))
	for k, n := range counts {
		out = append(out, durationBin{k.Day, k.Minutes, n})
	}
	slices.SortFunc(out, func(a, b durationBin) int {
		if a.Day != b.Day {
			return strings.Compare(a.Day, b.Day)
		}
		return int(a.Minutes - b.Minutes)
	})
	return out
}

var (
	rechargeStates = []models.RechargeState{models.RechargeQueued, models.RechargeSubmitting, models.RechargeSubmitted, models.RechargePending,
		models.RechargeCompleted, models.RechargeFailed, models.RechargeUnknown}
	documentStates = []models.DocumentState{models.DocumentQueued, models.DocumentSubmitted, models.DocumentInProgress, models.DocumentCompleted,
		models.DocumentCancelled, models.DocumentFailed, models.DocumentUnknown}
	verificationStates = []models.VerificationState{models.VerificationQueued, models.VerificationSubmitted, models.VerificationInProgress,
		models.VerificationApproved, models.VerificationDeclined, models.VerificationFailed, models.VerificationUnknown}
)

// The dashboard's counts are kept by triggers: after any mix of inserts,
// state moves, review decisions, refused writes and rolled-back
// transactions they equal a count of the tables.
func TestFigureCountsEqualARecount(t *testing.T) {
	db := dbtest.Open(t)
	rng := rand.New(rand.NewPCG(7, 11))
	base := time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC)
	at := func() time.Time { return base.Add(time.Duration(rng.IntN(5*24*60)) * time.Minute) }
	pick := func(n int) int { return rng.IntN(n) }
	var rIDs, dIDs, vIDs []uint
	for i := range 60 {
		created := at()
		r := models.Recharge{IdempotencyKey: fmt.Sprintf("k%d", i), DeviceID: "68750000000001", Amount: decimal.New(int64(100+pick(90000)), -2), Currency: []string{"KES", "GHS"}[pick(2)],
			State: rechargeStates[pick(len(rechargeStates))], CreatedAt: created, UpdatedAt: created}
		if err := db.Create(&r).Error; err != nil {
			t.Fatal(err)
		}
		rIDs = append(rIDs, r.ID)
		d := models.Document{Reference: fmt.Sprintf("ref%d", i), Kind: models.DocumentKindSimple, Title: "T", FileURL: "https://example.com/f.pdf",
			State: documentStates[pick(len(documentStates))], CreatedAt: created, UpdatedAt: created}
		if err := db.Create(&d).Error; err != nil {
			t.Fatal(err)
		}
		dIDs = append(dIDs, d.ID)
		v := models.Verification{Provider: []models.VerificationProvider{models.ProviderPawaPass, models.ProviderPassportReader}[pick(2)],
			Reference: fmt.Sprintf("vref%d", i), State: verificationStates[pick(len(verificationStates))], CreatedAt: created, UpdatedAt: created}
		if err := db.Create(&v).Error; err != nil {
			t.Fatal(err)
		}
		vIDs = append(vIDs, v.ID)
	}
	checkCounts(t, db, "after the inserts")

	refused := 0
	for i := range 400 {
		var err error
		switch pick(6) {
		case 0, 1:
			err = db.Model(&models.Recharge{}).Where("id = ?", rIDs[pick(len(rIDs))]).Update("state", rechargeStates[pick(len(rechargeStates))]).Error
		case 2:
			err = db.Model(&models.Recharge{}).Where("id = ?", rIDs[pick(len(rIDs))]).Updates(map[string]any{
				"amount": decimal.New(int64(pick(100000)), -2), "created_at": at()}).Error
		case 3:
			// Final documents refuse to move and a decision needs a
			// completed document: refused writes must leave no count.
			err = db.Model(&models.Document{}).Where("id = ?", dIDs[pick(len(dIDs))]).Update("state", documentStates[pick(len(documentStates))]).Error
		case 4:
			if pick(2) == 0 {
				err = db.Model(&models.Document{}).Where("id = ?", dIDs[pick(len(dIDs))]).Update("review_decision", []string{"approved", "flagged"}[pick(2)]).Error
				break
			}
			// A completion time, sometimes before the creation.
			err = db.Model(&models.Document{}).Where("id = ?", dIDs[pick(len(dIDs))]).Update("completed_at", at().Add(time.Duration(pick(5000))*time.Minute)).Error
		case 5:
			err = db.Model(&models.Verification{}).Where("id = ?", vIDs[pick(len(vIDs))]).Update("state", verificationStates[pick(len(verificationStates))]).Error
		}
		if err != nil {
			refused++
		}
		if i%100 == 99 {
			checkCounts(t, db, fmt.Sprintf("after %d changes (%d refused)", i+1, refused))
		}
	}
	if refused == 0 {
		t.Error("no write was refused: the mix does not exercise the final-state rules")
	}

	// A transaction that dies halfway (as a crashed process's does) leaves
	// the counts as they were.
	errCrash := errors.New("crash")
	err := db.Transaction(func(tx *gorm.DB) error {
		created := at()
		if err := tx.Create(&models.Recharge{IdempotencyKey: "lost", DeviceID: "68750000000001", Amount: decimal.RequireFromString("5"), Currency: "KES",
			State: models.RechargeQueued, CreatedAt: created, UpdatedAt: created}).Error; err != nil {
			return err
		}
		if err := tx.Model(&models.Recharge{}).Where("id = ?", rIDs[0]).Update("state", models.RechargeUnknown).Error; err != nil {
			return err
		}
		return errCrash
	})
	if !errors.Is(err, errCrash) {
		t.Fatal(err)
	}
	checkCounts(t, db, "after a rolled-back transaction")
}
