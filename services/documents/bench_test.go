package documents

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"portal/internal/dbtest"
	"portal/services"
)

// benchRows is how many documents the benchmark database holds (each with
// two signees); the lists must stay fast at a million.
var benchRows = dbtest.EnvInt("BENCH_DOCUMENTS", 1_000_000)

var (
	benchOnce sync.Once
	benchDB   *gorm.DB
	benchErr  error
)

// seededDB builds the benchmark database once per process: the same rows
// on SQLite (recursive CTE) and on PostgreSQL (generate_series). The last
// change is written as the portal writes it (SQLite keeps the driver's
// text, zone included: what the order's cursors compare with), and not in
// id order: up to 99 × 10 minutes after the document was made.
func seededDB(b *testing.B) *gorm.DB {
	b.Helper()
	benchOnce.Do(func() {
		t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		start := t0.Format("2006-01-02 15:04:05")
		benchDB, benchErr = dbtest.BenchDB("documents-bench", []dbtest.Stmt{
			{SQL: `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
			INSERT INTO documents (id, reference, upstream_id, kind, title, file_url, state, review_decision, created_at, updated_at, completed_at)
			SELECT i, printf('ref%029d', i), printf('doc_%036d', i),
				CASE WHEN i % 3 = 0 THEN 'simple' ELSE 'review' END,
				'Contract ' || (i % 100000) || ' lease', 'https://files.example.com/' || i || '.pdf',
				CASE WHEN i % 1000 = 0 THEN 'unknown' WHEN i % 10 = 0 THEN 'in_progress' ELSE 'completed' END,
				CASE WHEN i % 10 = 0 OR i % 1000 = 0 THEN '' WHEN i % 7 = 0 THEN 'flagged' WHEN i % 2 = 0 THEN 'approved' ELSE '' END,
				datetime(?, '+' || (i * 30) || ' seconds'),
				strftime('%Y-%m-%d %H:%M:%S', ?, '+' || (i * 30 + i % 100 * 600) || ' seconds') || '+00:00',
				CASE WHEN i % 10 = 0 THEN NULL ELSE datetime(?, '+' || (i * 30 + 3600) || ' seconds') END
			FROM n`, Args: []any{benchRows, start, start, start}},
			{SQL: `INSERT INTO document_signees (document_id, position, nin, name, status)
			SELECT id, 0, printf('%011d', id % 300000), 'Signer ' || id, 'signed' FROM documents`},
			{SQL: `INSERT INTO document_signees (document_id, position, nin, name, status)
			SELECT id, 1, printf('%011d', 500000 + id % 300000), 'Witness ' || id, 'signed' FROM documents`},
		}, []dbtest.Stmt{
			{SQL: `INSERT INTO documents (id, reference, upstream_id, kind, title, file_url, state, review_decision, created_at, updated_at, completed_at)
			SELECT i, 'ref' || lpad(i::text, 29, '0'), 'doc_' || lpad(i::text, 36, '0'),
				CASE WHEN i % 3 = 0 THEN 'simple' ELSE 'review' END,
				'Contract ' || (i % 100000) || ' lease', 'https://files.example.com/' || i || '.pdf',
				CASE WHEN i % 1000 = 0 THEN 'unknown' WHEN i % 10 = 0 THEN 'in_progress' ELSE 'completed' END,
				CASE WHEN i % 10 = 0 OR i % 1000 = 0 THEN '' WHEN i % 7 = 0 THEN 'flagged' WHEN i % 2 = 0 THEN 'approved' ELSE '' END,
				CAST(? AS timestamptz) + i * interval '30 seconds', CAST(? AS timestamptz) + (i * 30 + i % 100 * 600) * interval '1 second',
				CASE WHEN i % 10 = 0 THEN NULL ELSE CAST(? AS timestamptz) + (i * 30 + 3600) * interval '1 second' END
			FROM generate_series(1, ?) AS i`, Args: []any{t0, t0, t0, benchRows}},
			{SQL: `INSERT INTO document_signees (document_id, position, nin, name, status)
			SELECT id, 0, lpad((id % 300000)::text, 11, '0'), 'Signer ' || id, 'signed' FROM documents`},
			{SQL: `INSERT INTO document_signees (document_id, position, nin, name, status)
			SELECT id, 1, lpad((500000 + id % 300000)::text, 11, '0'), 'Witness ' || id, 'signed' FROM documents`},
		})
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchDB
}

// TestMain drops the PostgreSQL benchmark database when the run ends.
func TestMain(m *testing.M) { dbtest.Main(m) }

func BenchmarkList(b *testing.B) {
	db := seededDB(b)
	s := &Service{db: db, now: time.Now}
	ctx := context.Background()
	// The middle row, where a deep page starts, by its id and, for the
	// last-change order, its seeded last change.
	mid := uint(benchRows / 2)
	changed := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(mid*30+mid%100*600) * time.Second)
	byChange := services.Cursor{ID: mid, Value: changed.Format(time.RFC3339Nano)}.String()
	byID := services.Cursor{ID: mid}.String()
	cases := []struct {
		name   string
		filter Filter
		next   string
	}{
		{"first page", Filter{}, ""},
		{"deep page", Filter{}, byID},
		{"unknown", Filter{State: "unknown"}, ""},
		{"awaiting decision", Filter{Decision: "none", State: "completed"}, ""},
		{"kind deep page", Filter{Kind: "simple"}, byID},
		{"NIN", Filter{Q: "00000123456"}, ""},
		{"NIN prefix", Filter{Q: "0000012"}, ""},
		{"NIN prefix, in progress", Filter{Q: "0000012", State: "in_progress"}, ""},
		{"title prefix", Filter{Q: "Contract 4242"}, ""},
		{"reference", Filter{Q: "ref00000000000000000000000421337"}, ""},
		{"pasby id", Filter{Q: "doc_000000000000000000000000000000421337"}, ""},
		{"one day", Filter{From: "2025-03-01", To: "2025-03-01"}, ""},
		{"last changed first", Filter{Sort: "-updated"}, ""},
		{"by last change, deep page", Filter{Sort: "-updated"}, byChange},
		{"least recently changed, deep page", Filter{Sort: "updated"}, byChange},
		{"in progress by last change, deep page", Filter{Sort: "-updated", State: "in_progress"}, byChange},
		{"unknown by last change", Filter{Sort: "-updated", State: "unknown"}, ""},
		{"simple kind by last change, deep page", Filter{Sort: "-updated", Kind: "simple"}, byChange},
		{"flagged by last change", Filter{Sort: "-updated", Decision: "flagged"}, ""},
		// No seeded document has a compliance reason: the page walks the
		// whole index, as far as a filter with a non-default order reads.
		{"no match by last change", Filter{Sort: "-updated", Reason: "other"}, ""},
		{"oldest first, deep page", Filter{Sort: "created"}, byID},
		{"oldest first, simple kind, deep page", Filter{Sort: "created", Kind: "simple"}, byID},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := s.List(ctx, c.filter, c.next, "", 50); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkExportInProgress streams a tenth of the table: allocations per
// op show memory does not grow with the row count.
func BenchmarkExportInProgress(b *testing.B) {
	db := seededDB(b)
	s := &Service{db: db, now: time.Now}
	for b.Loop() {
		if err := s.ExportCSV(context.Background(), Filter{State: "in_progress"}, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(benchRows/10), "rows/op")
}
