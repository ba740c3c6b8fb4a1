package services_test

import (
	"context"
	"testing"
	"time"

	"portal/internal/dbtest"
	"portal/models"
	"portal/services"
)

func TestDrainInbox(t *testing.T) {
	ctx := context.Background()
	db := dbtest.Open(t)
	if err := models.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if sqlDB, err := db.DB(); err == nil {
			sqlDB.Close()
		}
	})
	now := func() time.Time { return time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC) }
	rows := []models.WebhookInbox{
		{Provider: "a", DedupeKey: "ok", Body: []byte("ok")},
		{Provider: "a", DedupeKey: "bad", Body: []byte("bad")},
		{Provider: "a", DedupeKey: "flaky", Body: []byte("flaky")},
		{Provider: "a", DedupeKey: "down", Body: []byte("down")},
		{Provider: "other", DedupeKey: "theirs", Body: []byte("ok")},
	}
	if err := db.Create(&rows).Error; err != nil {
		t.Fatal(err)
	}
	calls := map[string]int{}
	handle := func(_ context.Context, row models.WebhookInbox) (string, bool) {
		calls[string(row.Body)]++
		switch string(row.Body) {
		case "bad":
			return "the body is not JSON", false
		case "flaky":
			if calls["flaky"] == 1 {
				return "upstream unavailable", true
			}
			return "", false
		case "down":
			return "upstream unavailable", true
		}
		return "", false
	}
	for pass := 1; pass <= services.MaxInboxAttempts+1; pass++ {
		if _, err := services.DrainInbox(ctx, db, now, time.Minute, []string{"a"}, handle); err != nil {
			t.Fatalf("pass %d: %v", pass, err)
		}
	}
	want := map[string]struct {
		attempts  int
		err       string
		processed bool
	}{
		"ok":     {1, "", true},
		"bad":    {1, "the body is not JSON", true},
		"flaky":  {2, "", true}, // the second, successful attempt clears the first one's message
		"down":   {services.MaxInboxAttempts, "upstream unavailable", true},
		"theirs": {0, "", false},
	}
	var got []models.WebhookInbox
	if err := db.Order("id").Find(&got).Error; err != nil {
		t.Fatal(err)
	}
	for _, r := range got {
		w := want[r.DedupeKey]
		if r.Attempts != w.attempts || r.Error != w.err || (r.ProcessedAt != nil) != w.processed {
			t.Errorf("%s: attempts=%d error=%q processed=%v, want %d %q %v", r.DedupeKey, r.Attempts, r.Error, r.ProcessedAt != nil, w.attempts, w.err, w.processed)
		}
	}
	if calls["down"] != services.MaxInboxAttempts {
		t.Errorf("a failing webhook was tried %d times, want %d", calls["down"], services.MaxInboxAttempts)
	}
}
