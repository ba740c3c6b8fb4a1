package models

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
)

func TestOpenSetsPragmasAndMigrates(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "portal.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckPragmas(ctx, db); err != nil {
		t.Fatal(err)
	}
	var version int
	db.Raw("SELECT MAX(version) FROM schema_migrations").Scan(&version)
	if version != SchemaVersion() {
		t.Fatalf("schema version %d, want %d", version, SchemaVersion())
	}
	sqlDB, _ := db.DB()
	sqlDB.Close()

	// Re-opening applies nothing twice.
	db, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	var n int
	db.Raw("SELECT COUNT(*) FROM schema_migrations").Scan(&n)
	if n != len(migrations) {
		t.Fatalf("%d migration rows, want %d", n, len(migrations))
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "portal.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	db.Exec("INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, 'from the future', ?)", SchemaVersion()+1, time.Now())
	sqlDB, _ := db.DB()
	sqlDB.Close()
	_, err = Open(ctx, path)
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open on a newer schema: err = %v, want refusal", err)
	}
}

func TestAuditEventsAreAppendOnly(t *testing.T) {
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "portal.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Create(&AuditEvent{At: time.Now(), Action: "test"}).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Exec("UPDATE audit_events SET action = 'changed'").Error; err == nil {
		t.Fatal("UPDATE on audit_events succeeded")
	}
	if err := db.Exec("DELETE FROM audit_events").Error; err == nil {
		t.Fatal("DELETE on audit_events succeeded")
	}
}

// Concurrent writers must queue (BEGIN IMMEDIATE + busy_timeout), not fail
// with "database is locked".
func TestConcurrentWritersDoNotFail(t *testing.T) {
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "portal.db"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 4 {
				err := db.Transaction(func(tx *gorm.DB) error {
					var n int64
					if err := tx.Model(&LoginAttempt{}).Count(&n).Error; err != nil {
						return err
					}
					return tx.Create(&LoginAttempt{At: time.Now(), Email: "x", IP: string(rune('a' + i + j))}).Error
				})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent write failed: %v", err)
	}
	var n int64
	db.Model(&LoginAttempt{}).Count(&n)
	if n != 64 {
		t.Fatalf("%d rows, want 64", n)
	}
}

func TestBackup(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(ctx, filepath.Join(dir, "portal.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := Backup(ctx, db, filepath.Join(dir, "backup.db")); err != nil {
		t.Fatal(err)
	}
	copyDB, err := Open(ctx, filepath.Join(dir, "backup.db"))
	if err != nil {
		t.Fatalf("backup does not open: %v", err)
	}
	if err := Ping(ctx, copyDB); err != nil {
		t.Fatal(err)
	}
}

// Times an earlier build wrote in a local zone (or without one) become the
// text the driver writes for the same instant in UTC, so that sorting the
// text sorts the instants and a cursor's RFC 3339 value finds its row.
func TestNormaliseUTCRewritesLocalTimesAsTheDriverWritesUTC(t *testing.T) {
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "portal.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Exec("CREATE TABLE stamps (id INTEGER PRIMARY KEY, updated_at DATETIME)").Error; err != nil {
		t.Fatal(err)
	}
	cases := []struct{ stored, want string }{
		{"2026-12-07 18:35:30.123456789+02:00", "2026-12-07 16:35:30.123+00:00"},
		{"2026-12-07 18:35:30.12+02:00", "2026-12-07 16:35:30.12+00:00"},
		{"2026-12-07 16:35:30", "2026-12-07 16:35:30+00:00"},
		{"2026-12-07 18:35:30-03:30", "2026-12-07 22:05:30+00:00"},
		{"2026-12-07 16:35:30.5+00:00", "2026-12-07 16:35:30.5+00:00"}, // already UTC: untouched
		{"2026-12-07 16:35:30.123456789+00:00", "2026-12-07 16:35:30.123456789+00:00"},
	}
	for i, c := range cases {
		db.Exec("INSERT INTO stamps (id, updated_at) VALUES (?, ?)", i+1, c.stored)
	}
	if err := db.Exec(normaliseUTC("stamps")).Error; err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		var text string
		db.Raw("SELECT CAST(updated_at AS TEXT) FROM stamps WHERE id = ?", i+1).Scan(&text)
		if text != c.want {
			t.Errorf("%q became %q, want %q", c.stored, text, c.want)
		}
		var at time.Time
		db.Raw("SELECT updated_at FROM stamps WHERE id = ?", i+1).Scan(&at)
		if back := at.UTC().Format("2006-01-02 15:04:05.999999999-07:00"); back != text {
			t.Errorf("%q reads back as %q, which the driver would write as %q", c.stored, at, back)
		}
	}
}
