package casework_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"portal/internal/dbtest"
	"portal/models"
	"portal/services/casework"
)

// benchRows is how many verifications the benchmark database holds; the
// queues must stay fast at a million.
var benchRows = dbtest.EnvInt("BENCH_VERIFICATIONS", 1_000_000)

var (
	benchOnce sync.Once
	benchDB   *gorm.DB
	benchErr  error
)

// seededDB builds the benchmark database once per process, the same rows
// on SQLite and PostgreSQL: a million verifications finished 30 s apart, a
// quarter of them (about 200,000 reviewable) waiting for a decision;
// 25,000 of those are officer 1's cases, and 25,000 decided ones wait for
// a second review. Times are written as the portal writes them.
func seededDB(b *testing.B) *gorm.DB {
	b.Helper()
	benchOnce.Do(func() {
		t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		start := t0.Format("2006-01-02 15:04:05")
		at := func(offset string) string {
			return "strftime('%Y-%m-%d %H:%M:%S', ?, '+' || (" + offset + ") || ' seconds') || '+00:00'"
		}
		user := dbtest.Stmt{SQL: `INSERT INTO users (id, email, name, role, password_hash, password_changed_at, created_at, updated_at)
			VALUES (1, 'officer@example.com', 'Officer', 'compliance', 'x', ?, ?, ?)`, Args: []any{t0, t0, t0}}
		benchDB, benchErr = dbtest.BenchDB("casework-bench", []dbtest.Stmt{user, {SQL: `
			WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
			INSERT INTO verifications (id, provider, reference, state, review_decision, created_at, updated_at, completed_at)
			SELECT i, 'pawapass', printf('ref%029d', i),
				CASE WHEN i % 10 = 0 THEN 'in_progress' WHEN i % 7 = 0 THEN 'declined' ELSE 'approved' END,
				CASE WHEN i % 4 = 0 OR i % 10 = 0 THEN '' ELSE 'approved' END,
				` + at("i * 30") + `, ` + at("i * 30 + 600") + `,
				CASE WHEN i % 10 = 0 THEN NULL ELSE ` + at("i * 30 + 600") + ` END
			FROM n`, Args: []any{benchRows, start, start, start}}, {SQL: `
			WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
			INSERT INTO review_cases (kind, record_id, queued_at, stage, assignee_id, assignee_email, assigned_at, decision,
				decided_by_id, decided_by_email, decided_at, updated_at)
			SELECT 'verification', i, ` + at("i * 30 + 600") + `,
				CASE WHEN i % 40 = 4 THEN 'open' ELSE 'second_review' END,
				CASE WHEN i % 40 = 4 THEN 1 END, CASE WHEN i % 40 = 4 THEN 'officer@example.com' ELSE '' END,
				CASE WHEN i % 40 = 4 THEN ` + at("i * 30 + 1200") + ` END,
				CASE WHEN i % 40 = 4 THEN '' ELSE 'approved' END,
				CASE WHEN i % 40 = 1 THEN 1 END, CASE WHEN i % 40 = 1 THEN 'officer@example.com' ELSE '' END,
				CASE WHEN i % 40 = 1 THEN ` + at("i * 30 + 1200 + i % 97 * 60") + ` END,
				` + at("i * 30 + 1200") + `
			FROM n WHERE i % 40 IN (1, 4)`, Args: []any{benchRows, start, start, start, start}}},
			[]dbtest.Stmt{user, {SQL: `
			INSERT INTO verifications (id, provider, reference, state, review_decision, created_at, updated_at, completed_at)
			SELECT i, 'pawapass', 'ref' || lpad(i::text, 29, '0'),
				CASE WHEN i % 10 = 0 THEN 'in_progress' WHEN i % 7 = 0 THEN 'declined' ELSE 'approved' END,
				CASE WHEN i % 4 = 0 OR i % 10 = 0 THEN '' ELSE 'approved' END,
				CAST(? AS timestamptz) + i * interval '30 seconds', CAST(? AS timestamptz) + (i * 30 + 600) * interval '1 second',
				CASE WHEN i % 10 = 0 THEN NULL ELSE CAST(? AS timestamptz) + (i * 30 + 600) * interval '1 second' END
			FROM generate_series(1, ?) AS i`, Args: []any{t0, t0, t0, benchRows}}, {SQL: `
			INSERT INTO review_cases (kind, record_id, queued_at, stage, assignee_id, assignee_email, assigned_at, decision,
				decided_by_id, decided_by_email, decided_at, updated_at)
			SELECT 'verification', i, CAST(? AS timestamptz) + (i * 30 + 600) * interval '1 second',
				CASE WHEN i % 40 = 4 THEN 'open' ELSE 'second_review' END,
				CASE WHEN i % 40 = 4 THEN 1 END, CASE WHEN i % 40 = 4 THEN 'officer@example.com' ELSE '' END,
				CASE WHEN i % 40 = 4 THEN CAST(? AS timestamptz) + (i * 30 + 1200) * interval '1 second' END,
				CASE WHEN i % 40 = 4 THEN '' ELSE 'approved' END,
				CASE WHEN i % 40 = 1 THEN 1 END, CASE WHEN i % 40 = 1 THEN 'officer@example.com' ELSE '' END,
				CASE WHEN i % 40 = 1 THEN CAST(? AS timestamptz) + (i * 30 + 1200 + i % 97 * 60) * interval '1 second' END,
				CAST(? AS timestamptz) + (i * 30 + 1200) * interval '1 second'
			FROM generate_series(1, ?) AS i WHERE i % 40 IN (1, 4)`, Args: []any{t0, t0, t0, t0, benchRows}}})
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchDB
}

// BenchmarkQueue reads the first page (100 cases) of each verification
// queue in each order it offers.
func BenchmarkQueue(b *testing.B) {
	svc := casework.New(seededDB(b), time.Now, 0)
	ctx := context.Background()
	cases := []struct {
		name string
		read func() (casework.Queue, error)
	}{
		{"everyone's, longest wait first", func() (casework.Queue, error) {
			return svc.WaitingSorted(ctx, models.CaseVerification, casework.Everyone, 1, "", 100)
		}},
		{"everyone's, newest first", func() (casework.Queue, error) {
			return svc.WaitingSorted(ctx, models.CaseVerification, casework.Everyone, 1, "wait", 100)
		}},
		{"unassigned, longest wait first", func() (casework.Queue, error) {
			return svc.WaitingSorted(ctx, models.CaseVerification, casework.Unassigned, 1, "", 100)
		}},
		{"unassigned, newest first", func() (casework.Queue, error) {
			return svc.WaitingSorted(ctx, models.CaseVerification, casework.Unassigned, 1, "wait", 100)
		}},
		{"mine, longest wait first", func() (casework.Queue, error) {
			return svc.WaitingSorted(ctx, models.CaseVerification, casework.Mine, 1, "", 100)
		}},
		{"mine, newest first", func() (casework.Queue, error) {
			return svc.WaitingSorted(ctx, models.CaseVerification, casework.Mine, 1, "wait", 100)
		}},
		{"second review, oldest decision first", func() (casework.Queue, error) {
			return svc.AwaitingSecondSorted(ctx, models.CaseVerification, "", 100)
		}},
		{"second review, newest decision first", func() (casework.Queue, error) {
			return svc.AwaitingSecondSorted(ctx, models.CaseVerification, "-decided", 100)
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				q, err := c.read()
				if err != nil {
					b.Fatal(err)
				}
				if len(q.Items) != 100 {
					b.Fatalf("%d cases, want a full page", len(q.Items))
				}
			}
		})
	}
}
