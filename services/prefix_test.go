package services_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"gorm.io/gorm"

	"portal/internal/dbtest"
	"portal/models"
	"portal/services"
)

// When a dense prefix's matches are all far back, the walk gives up after
// PrefixWalkLimit ids and reads the rest through the indexes; the pages are
// still exactly the matches, newest first, both ways.
func TestPrefixWalkFallsBackToTheIndexes(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds several thousand rows")
	}
	db := dbtest.Open(t)
	oldWalk, oldProbe := services.PrefixWalkLimit, services.PrefixProbeLimit
	services.PrefixWalkLimit, services.PrefixProbeLimit = 4000, 5000
	t.Cleanup(func() { services.PrefixWalkLimit, services.PrefixProbeLimit = oldWalk, oldProbe })
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var rows []models.Recharge
	for i := 1; i <= services.PrefixProbeLimit+6000; i++ {
		r := models.Recharge{IdempotencyKey: fmt.Sprintf("k%d", i), Amount: decimal.RequireFromString("1"), Currency: "KES",
			State: models.RechargeCompleted, CreatedAt: at, UpdatedAt: at}
		if i <= services.PrefixProbeLimit+200 {
			r.DeviceID = fmt.Sprintf("6875%010d", i) // the oldest rows only
		} else {
			r.CardID = fmt.Sprintf("30%08d", i)
		}
		rows = append(rows, r)
	}
	if err := db.CreateInBatches(rows, 500).Error; err != nil {
		t.Fatal(err)
	}
	var want []uint
	for i := services.PrefixProbeLimit + 200; i >= 1; i-- {
		want = append(want, uint(i))
	}
	keys := []services.PrefixKey{services.PrefixRange(models.DialectOf(db), "recharges", "device_id", "6875")}
	base := func() *gorm.DB { return db.Model(&models.Recharge{}) }
	const size = 700
	var got []uint
	var pages [][]uint
	before := uint(0)
	for {
		ids, err := services.PrefixIDs(base(), keys, before, 0, size)
		if err != nil {
			t.Fatal(err)
		}
		page := ids[:min(len(ids), size)]
		got = append(got, page...)
		pages = append(pages, page)
		if len(ids) <= size {
			break
		}
		before = page[len(page)-1]
	}
	if !slices.Equal(got, want) {
		t.Fatalf("walking back found %d ids, want %d (first %v)", len(got), len(want), got[:min(5, len(got))])
	}
	for i := len(pages) - 1; i > 0; i-- {
		ids, err := services.PrefixIDs(base(), keys, 0, pages[i][0], size)
		if err != nil {
			t.Fatal(err)
		}
		ids = ids[:min(len(ids), size)]
		slices.Reverse(ids)
		if !slices.Equal(ids, pages[i-1]) {
			t.Fatalf("page %d going forward: %v…, want %v…", i-1, ids[:min(5, len(ids))], pages[i-1][:5])
		}
	}
}
