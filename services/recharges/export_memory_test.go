package recharges

import (
	"context"
	"io"
	"testing"
	"time"

	"portal/internal/dbtest"
	"portal/internal/memwatch"
)

// An export streams: the heap it holds does not grow with the rows. The
// same export of 10,000 and of 100,000 recharges must hold about the same
// memory (one batch), far below the size of the CSV it writes.
func TestExportMemoryStaysFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 100,000 rows")
	}
	db := dbtest.Open(t)
	t.Cleanup(func() {
		if s, err := db.DB(); err == nil {
			s.Close()
		}
	})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	start := t0.Format("2006-01-02 15:04:05")
	seed := db.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
		INSERT INTO recharges (idempotency_key, upstream_id, device_id, customer_name, customer_phone, amount, currency, state, created_at, updated_at)
		SELECT 'key-' || i, printf('up-%08d', i), printf('6875%010d', i), 'Customer ' || i, printf('+2547%08d', i), '100.50', 'KES',
			CASE WHEN i <= 10000 THEN 'failed' ELSE 'completed' END,
			datetime(?, '+' || i || ' minutes'), datetime(?, '+' || i || ' minutes') FROM n`, start, start)
	if dbtest.OnPostgres() {
		seed = db.Exec(`INSERT INTO recharges (idempotency_key, upstream_id, device_id, customer_name, customer_phone, amount, currency, state, created_at, updated_at)
		SELECT 'key-' || i, 'up-' || lpad(i::text, 8, '0'), '6875' || lpad(i::text, 10, '0'), 'Customer ' || i, '+2547' || lpad(i::text, 8, '0'), 100.50, 'KES',
			CASE WHEN i <= 10000 THEN 'failed' ELSE 'completed' END,
			CAST(? AS timestamptz) + i * interval '1 minute', CAST(? AS timestamptz) + i * interval '1 minute'
		FROM generate_series(1, 100000) AS i`, t0, t0)
	}
	if err := seed.Error; err != nil {
		t.Fatal(err)
	}
	s := New(db, nil, time.Now, Options{})
	export := func(f Filter) (uint64, int64) {
		peak, n, err := memwatch.PeakHeap(func(w io.Writer) error { return s.ExportCSV(context.Background(), f, w) })
		if err != nil {
			t.Fatal(err)
		}
		return peak, n
	}
	small, smallBytes := export(Filter{State: "failed"}) // 10,000 rows
	large, largeBytes := export(Filter{})                // 100,000 rows
	t.Logf("10k rows: %d KiB CSV, peak heap +%d KiB; 100k rows: %d KiB CSV, peak heap +%d KiB",
		smallBytes>>10, small>>10, largeBytes>>10, large>>10)
	if largeBytes < 9*smallBytes {
		t.Fatalf("the large export wrote %d bytes, the small %d: the seed is wrong", largeBytes, smallBytes)
	}
	// One batch is a few hundred KiB; allow the collector some slack, but
	// nothing near ten times the small export's peak or the CSV's size.
	if limit := 2*small + 4<<20; large > limit {
		t.Errorf("exporting 10x the rows held %d KiB of heap, over %d KiB: memory grows with the rows", large>>10, limit>>10)
	}
	if uint64(largeBytes) < 4*large {
		t.Errorf("peak heap %d KiB is a large part of the %d KiB written: the export buffers", large>>10, largeBytes>>10)
	}
}
