package models

import (
	"context"
	"path/filepath"
	"testing"
)

// Migration 14 rebuilds the bulk tables on SQLite to widen a CHECK: a
// database at 13 with jobs in it keeps every job and record, the records
// still reference their jobs, and the new action is accepted.
func TestMigration14KeepsBulkJobsAndTheirReferences(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "portal.db"))
	if err != nil {
		t.Fatal(err)
	}
	exec := func(sql string, args ...any) {
		t.Helper()
		if err := db.Exec(sql, args...).Error; err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	// Back to schema 13, as a database written by the previous build.
	exec(`DROP TABLE bulk_items`)
	exec(`DROP TABLE bulk_jobs`)
	exec(`DELETE FROM schema_migrations WHERE version >= 14`)
	if migrations[12].version != 13 {
		t.Fatalf("migrations[12] is %d, want 13", migrations[12].version)
	}
	for _, stmt := range migrations[12].sql {
		exec(stmt)
	}
	u := User{Email: "a@example.com", Name: "A", Role: RoleAdmin, PasswordHash: "x"}
	if err := db.Create(&u).Error; err != nil {
		t.Fatal(err)
	}
	user := u.ID
	exec(`INSERT INTO bulk_jobs(id, kind, action, scope, total, created_by_id, created_by_email, created_by_role, created_at)
		VALUES (7, 'documents', 'refresh', 'selected', 2, ?, 'a@example.com', 'admin', '2026-12-07 10:00:00+00:00')`, user)
	exec(`INSERT INTO bulk_items(job_id, record_id, outcome, reason) VALUES (7, 1, 'failed', 'gone'), (7, 2, '', '')`)
	if err := db.Exec(`INSERT INTO bulk_jobs(kind, action, scope, total, created_by_id, created_by_email, created_by_role, created_at)
		VALUES ('documents', 'resend_webhook', 'selected', 1, ?, 'a@example.com', 'admin', '2026-12-07 10:00:00+00:00')`, user).Error; err == nil {
		t.Fatal("schema 13 accepted resend_webhook: the test is not starting from 13")
	}

	if err := Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	var items []BulkItem
	if err := db.Where("job_id = 7").Order("record_id").Find(&items).Error; err != nil || len(items) != 2 || items[0].Reason != "gone" {
		t.Fatalf("the job's records after the migration: %+v, %v", items, err)
	}
	var job BulkJob
	if err := db.Take(&job, 7).Error; err != nil || job.Total != 2 || job.CreatedByEmail != "a@example.com" {
		t.Fatalf("the job after the migration: %+v, %v", job, err)
	}
	exec(`INSERT INTO bulk_jobs(kind, action, scope, total, created_by_id, created_by_email, created_by_role, created_at)
		VALUES ('documents', 'resend_webhook', 'selected', 1, ?, 'a@example.com', 'admin', '2026-12-07 10:00:00+00:00')`, user)
	if err := db.Exec(`INSERT INTO bulk_items(job_id, record_id) VALUES (999, 1)`).Error; err == nil {
		t.Error("a record of a job that does not exist was accepted: the foreign key was lost")
	}
	var parent string
	db.Raw(`SELECT "table" FROM pragma_foreign_key_list('bulk_items')`).Scan(&parent)
	if parent != "bulk_jobs" {
		t.Errorf("bulk_items references %q, want bulk_jobs", parent)
	}
	var indexes int64
	db.Raw(`SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name IN ('bulk_jobs_open', 'bulk_jobs_creator', 'bulk_items_outcome')`).Scan(&indexes)
	if indexes != 3 {
		t.Errorf("%d of the 3 bulk indexes after the rebuild", indexes)
	}
}
