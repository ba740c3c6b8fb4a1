package verifications

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"portal/internal/dbtest"
	"portal/models"
	"portal/services"
	"portal/services/casework"
)

// benchRows is how many verifications the benchmark database holds.
var benchRows = dbtest.EnvInt("BENCH_VERIFICATIONS", 1_000_000)

var (
	benchOnce sync.Once
	benchDB   *gorm.DB
	benchErr  error
)

// seededDB builds the benchmark database once per process: the same rows
// on SQLite (recursive CTE) and on PostgreSQL (generate_series). The last
// change is written as the portal writes it (SQLite keeps the driver's
// text, zone included: what the order's cursors compare with), and not in
// id order: up to 99 × 10 minutes after the verification was made.
func seededDB(b *testing.B) *gorm.DB {
	b.Helper()
	benchOnce.Do(func() {
		t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		start := t0.Format("2006-01-02 15:04:05")
		benchDB, benchErr = dbtest.BenchDB("verifications-bench", []dbtest.Stmt{{SQL: `
			WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
			INSERT INTO verifications (id, provider, reference, external_id, upstream_id, customer_phone, country, state, provider_status,
				document_number, given_names, surname, review_decision, created_at, updated_at, completed_at)
			SELECT i, CASE WHEN i % 3 = 0 THEN 'passportreader' ELSE 'pawapass' END,
				printf('ref%029d', i), CASE WHEN i % 3 = 0 THEN '' ELSE printf('cust-%07d', i % 400000) END,
				CASE WHEN i % 3 = 0 THEN printf('%d', 4000000000000000000 + i) ELSE printf('pp%08d', i) END,
				printf('+2547%08d', i % 300000), 'KE',
				CASE WHEN i % 1000 = 0 THEN 'unknown' WHEN i % 10 = 0 THEN 'in_progress' WHEN i % 7 = 0 THEN 'declined' ELSE 'approved' END,
				CASE WHEN i % 1000 = 0 THEN '' WHEN i % 20 = 0 THEN 'REVIEW' WHEN i % 10 = 0 THEN 'STARTED' ELSE 'APPROVED' END,
				printf('A%08d', i), 'Given ' || (i % 5000), 'Surname ' || (i % 7000),
				CASE WHEN i % 1000 = 0 OR i % 10 = 0 OR i % 4 = 0 THEN '' ELSE 'approved' END,
				datetime(?, '+' || (i * 30) || ' seconds'),
				strftime('%Y-%m-%d %H:%M:%S', ?, '+' || (i * 30 + i % 100 * 600) || ' seconds') || '+00:00',
				CASE WHEN i % 10 = 0 THEN NULL ELSE datetime(?, '+' || (i * 30 + 600) || ' seconds') END
			FROM n`, Args: []any{benchRows, start, start, start}}}, []dbtest.Stmt{{SQL: `
			INSERT INTO verifications (id, provider, reference, external_id, upstream_id, customer_phone, country, state, provider_status,
				document_number, given_names, surname, review_decision, created_at, updated_at, completed_at)
			SELECT i, CASE WHEN i % 3 = 0 THEN 'passportreader' ELSE 'pawapass' END,
				'ref' || lpad(i::text, 29, '0'), CASE WHEN i % 3 = 0 THEN '' ELSE 'cust-' || lpad((i % 400000)::text, 7, '0') END,
				CASE WHEN i % 3 = 0 THEN (4000000000000000000 + i)::text ELSE 'pp' || lpad(i::text, 8, '0') END,
				'+2547' || lpad((i % 300000)::text, 8, '0'), 'KE',
				CASE WHEN i % 1000 = 0 THEN 'unknown' WHEN i % 10 = 0 THEN 'in_progress' WHEN i % 7 = 0 THEN 'declined' ELSE 'approved' END,
				CASE WHEN i % 1000 = 0 THEN '' WHEN i % 20 = 0 THEN 'REVIEW' WHEN i % 10 = 0 THEN 'STARTED' ELSE 'APPROVED' END,
				'A' || lpad(i::text, 8, '0'), 'Given ' || (i % 5000), 'Surname ' || (i % 7000),
				CASE WHEN i % 1000 = 0 OR i % 10 = 0 OR i % 4 = 0 THEN '' ELSE 'approved' END,
				CAST(? AS timestamptz) + i * interval '30 seconds', CAST(? AS timestamptz) + (i * 30 + i % 100 * 600) * interval '1 second',
				CASE WHEN i % 10 = 0 THEN NULL ELSE CAST(? AS timestamptz) + (i * 30 + 600) * interval '1 second' END
			FROM generate_series(1, ?) AS i`, Args: []any{t0, t0, t0, benchRows}}})
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
		{"in REVIEW", Filter{Status: "REVIEW"}, ""},
		{"provider deep page", Filter{Provider: "passportreader"}, byID},
		{"not reviewed", Filter{Decision: "none"}, ""},
		{"phone", Filter{Q: "0700123456"}, ""},
		{"external id prefix", Filter{Q: "cust-01234"}, ""},
		{"document number", Filter{Q: "A00421337"}, ""},
		{"upstream id", Filter{Q: "pp00421337"}, ""},
		{"one day", Filter{From: "2025-03-01", To: "2025-03-01"}, ""},
		{"last changed first", Filter{Sort: "-updated"}, ""},
		{"by last change, deep page", Filter{Sort: "-updated"}, byChange},
		{"least recently changed, deep page", Filter{Sort: "updated"}, byChange},
		{"in progress by last change, deep page", Filter{Sort: "-updated", State: "in_progress"}, byChange},
		{"unknown by last change", Filter{Sort: "-updated", State: "unknown"}, ""},
		{"provider by last change, deep page", Filter{Sort: "-updated", Provider: "passportreader"}, byChange},
		{"in REVIEW by last change", Filter{Sort: "-updated", Status: "REVIEW"}, ""},
		// No seeded verification has a compliance reason: the page walks
		// the whole index, as far as a filter with a non-default order
		// reads.
		{"no match by last change", Filter{Sort: "-updated", Reason: "face_mismatch"}, ""},
		{"oldest first, deep page", Filter{Sort: "created"}, byID},
		{"oldest first, provider, deep page", Filter{Sort: "created", Provider: "passportreader"}, byID},
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

// BenchmarkReviewQueue reads the first page of the compliance queue
// (services/casework) over the seeded table: everyone's and unassigned.
func BenchmarkReviewQueue(b *testing.B) {
	db := seededDB(b)
	cw := casework.New(db, time.Now, 0)
	for _, who := range []casework.Who{casework.Everyone, casework.Unassigned} {
		b.Run(string(who), func(b *testing.B) {
			for b.Loop() {
				if _, err := cw.Waiting(context.Background(), models.CaseVerification, who, 1, 100); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkExportInProgress streams a tenth of the table with flat memory.
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
