package seed_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"portal/internal/dbtest"
	"portal/internal/seed"
	"portal/models"
)

// The seed runs on both databases, makes n of each kind with sequential
// ids, holds the values the load test searches for, and refuses a database
// that already has records.
func TestSeed(t *testing.T) {
	db := dbtest.Open(t)
	ctx := context.Background()
	end := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	const n = 3000
	if err := seed.Seed(ctx, db, n, end); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		table string
		want  int64
	}{{"recharges", n}, {"documents", n}, {"document_signees", 2 * n}, {"verifications", n}} {
		var got, maxID int64
		db.Table(c.table).Count(&got)
		db.Table(c.table).Select("MAX(id)").Scan(&maxID)
		if got != c.want || maxID != c.want {
			t.Errorf("%s: %d rows up to id %d, want %d", c.table, got, maxID, c.want)
		}
	}
	var newest models.Recharge
	db.Order("id DESC").First(&newest)
	if !newest.CreatedAt.UTC().Equal(end) {
		t.Errorf("newest recharge created %v, want %v", newest.CreatedAt, end)
	}
	var hits int64
	db.Model(&models.Recharge{}).Where("device_id = ?", seed.ExactDevice).Count(&hits)
	if hits == 0 {
		t.Errorf("no recharge for the exact device %s", seed.ExactDevice)
	}
	db.Model(&models.DocumentSignee{}).Where("nin >= ? AND nin < ?", seed.NINPrefix, seed.NINPrefix+"\uffff").Count(&hits)
	if hits == 0 {
		t.Errorf("no signee NIN starts with %s", seed.NINPrefix)
	}
	var open int64
	db.Model(&models.Document{}).Where("state IN ?", []string{"submitted", "in_progress"}).Count(&open)
	if open == 0 || open > n/2 {
		t.Errorf("%d open documents of %d: want a few, the newest", open, n)
	}
	if err := seed.Seed(ctx, db, n, end); err == nil || !strings.Contains(err.Error(), "already holds") {
		t.Errorf("seeding twice: %v, want a refusal", err)
	}
}
