package dashboard

import (
	"context"
	"testing"
	"time"

	"portal/internal/dbtest"
)

// TestMain drops the PostgreSQL benchmark database when the run ends.
func TestMain(m *testing.M) { dbtest.Main(m) }

// BenchmarkFigures computes the whole dashboard over a million recharges,
// documents and verifications each (BENCH_DASHBOARD rows per table), the
// cache off.
func BenchmarkFigures(b *testing.B) {
	rows := dbtest.EnvInt("BENCH_DASHBOARD", 1_000_000)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	// Rows one every 30 s back from now: a million cover about a year, so
	// the 30-day figures read 86,400 of them.
	t0 := now.Add(-time.Duration(rows) * 30 * time.Second)
	start := t0.Format("2006-01-02 15:04:05")
	// A reviewed share, so the queues are not the whole table.
	reviewed := dbtest.Stmt{SQL: `UPDATE verifications SET review_decision = 'approved' WHERE id % 2 = 0 AND state IN ('approved','declined')`}
	db, err := dbtest.BenchDB("dashboard-bench", []dbtest.Stmt{
		{SQL: `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO recharges (idempotency_key, device_id, amount, currency, state, created_at, updated_at)
		SELECT 'k' || i, '68750000000001', '100.50', CASE WHEN i % 4 = 0 THEN 'GHS' ELSE 'KES' END,
			CASE WHEN i % 1000 = 0 THEN 'unknown' WHEN i % 10 = 0 THEN 'failed' ELSE 'completed' END,
			datetime(?, '+' || (i * 30) || ' seconds'), datetime(?, '+' || (i * 30) || ' seconds') FROM n`,
			Args: []any{rows, start, start}},
		{SQL: `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO documents (reference, kind, title, file_url, state, created_at, updated_at, completed_at)
		SELECT 'r' || i, 'simple', 'Doc', 'https://x.example/a.pdf',
			CASE WHEN i % 100 = 0 THEN 'in_progress' ELSE 'completed' END,
			datetime(?, '+' || (i * 30) || ' seconds'), datetime(?, '+' || (i * 30) || ' seconds'),
			CASE WHEN i % 100 = 0 THEN NULL ELSE datetime(?, '+' || (i * 30 + 3600 + i % 7200) || ' seconds') END FROM n`,
			Args: []any{rows, start, start, start}},
		{SQL: `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO verifications (provider, reference, state, provider_status, created_at, updated_at, completed_at)
		SELECT CASE WHEN i % 3 = 0 THEN 'passportreader' ELSE 'pawapass' END, 'v' || i,
			CASE WHEN i % 20 = 0 THEN 'in_progress' WHEN i % 7 = 0 THEN 'declined' ELSE 'approved' END,
			CASE WHEN i % 40 = 0 THEN 'REVIEW' ELSE '' END,
			datetime(?, '+' || (i * 30) || ' seconds'), datetime(?, '+' || (i * 30) || ' seconds'),
			CASE WHEN i % 20 = 0 THEN NULL ELSE datetime(?, '+' || (i * 30 + 600) || ' seconds') END FROM n`,
			Args: []any{rows, start, start, start}},
		reviewed,
	}, []dbtest.Stmt{
		{SQL: `INSERT INTO recharges (idempotency_key, device_id, amount, currency, state, created_at, updated_at)
		SELECT 'k' || i, '68750000000001', 100.50, CASE WHEN i % 4 = 0 THEN 'GHS' ELSE 'KES' END,
			CASE WHEN i % 1000 = 0 THEN 'unknown' WHEN i % 10 = 0 THEN 'failed' ELSE 'completed' END,
			CAST(? AS timestamptz) + i * interval '30 seconds', CAST(? AS timestamptz) + i * interval '30 seconds'
		FROM generate_series(1, ?) AS i`, Args: []any{t0, t0, rows}},
		{SQL: `INSERT INTO documents (reference, kind, title, file_url, state, created_at, updated_at, completed_at)
		SELECT 'r' || i, 'simple', 'Doc', 'https://x.example/a.pdf',
			CASE WHEN i % 100 = 0 THEN 'in_progress' ELSE 'completed' END,
			CAST(? AS timestamptz) + i * interval '30 seconds', CAST(? AS timestamptz) + i * interval '30 seconds',
			CASE WHEN i % 100 = 0 THEN NULL ELSE CAST(? AS timestamptz) + (i * 30 + 3600 + i % 7200) * interval '1 second' END
		FROM generate_series(1, ?) AS i`, Args: []any{t0, t0, t0, rows}},
		{SQL: `INSERT INTO verifications (provider, reference, state, provider_status, created_at, updated_at, completed_at)
		SELECT CASE WHEN i % 3 = 0 THEN 'passportreader' ELSE 'pawapass' END, 'v' || i,
			CASE WHEN i % 20 = 0 THEN 'in_progress' WHEN i % 7 = 0 THEN 'declined' ELSE 'approved' END,
			CASE WHEN i % 40 = 0 THEN 'REVIEW' ELSE '' END,
			CAST(? AS timestamptz) + i * interval '30 seconds', CAST(? AS timestamptz) + i * interval '30 seconds',
			CASE WHEN i % 20 = 0 THEN NULL ELSE CAST(? AS timestamptz) + (i * 30 + 600) * interval '1 second' END
		FROM generate_series(1, ?) AS i`, Args: []any{t0, t0, t0, rows}},
		reviewed,
	})
	if err != nil {
		b.Fatal(err)
	}
	s := New(db, func() time.Time { return now }, 0)
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Figures(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
