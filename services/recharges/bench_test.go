package recharges

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"portal/internal/dbtest"
	"portal/services"
)

// benchRows is how many recharges the benchmark database holds; the lists
// must stay fast at a million.
var benchRows = dbtest.EnvInt("BENCH_RECHARGES", 1_000_000)

var (
	benchOnce sync.Once
	benchDB   *gorm.DB
	benchErr  error
)

// seededDB builds the benchmark database once per process: on SQLite with
// a recursive CTE (seconds, not minutes, for a million rows), on
// PostgreSQL with generate_series; both make the same rows.
func seededDB(b *testing.B) *gorm.DB {
	b.Helper()
	benchOnce.Do(func() {
		start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		benchDB, benchErr = dbtest.BenchDB("recharge-bench", []dbtest.Stmt{{SQL: `
			WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
			INSERT INTO recharges (idempotency_key, upstream_id, device_id, card_id, customer_name, customer_phone, amount, currency,
				state, created_at, updated_at)
			SELECT 'key-' || i, 'up-' || printf('%08d', i),
				CASE WHEN i % 5 = 0 THEN '' ELSE printf('6875%010d', i % 50000) END,
				CASE WHEN i % 5 = 0 THEN printf('30%08d', i % 20000) ELSE '' END,
				'Customer ' || (i % 40000), printf('+2547%08d', i % 40000), '100.50', 'KES',
				CASE WHEN i % 1000 = 0 THEN 'unknown' WHEN i % 10 = 0 THEN 'failed' ELSE 'completed' END,
				datetime(?, '+' || (i * 30) || ' seconds'), datetime(?, '+' || (i * 30) || ' seconds')
			FROM n`, Args: []any{benchRows, start.Format("2006-01-02 15:04:05"), start.Format("2006-01-02 15:04:05")}}},
			[]dbtest.Stmt{{SQL: `
			INSERT INTO recharges (idempotency_key, upstream_id, device_id, card_id, customer_name, customer_phone, amount, currency,
				state, created_at, updated_at)
			SELECT 'key-' || i, 'up-' || lpad(i::text, 8, '0'),
				CASE WHEN i % 5 = 0 THEN '' ELSE '6875' || lpad((i % 50000)::text, 10, '0') END,
				CASE WHEN i % 5 = 0 THEN '30' || lpad((i % 20000)::text, 8, '0') ELSE '' END,
				'Customer ' || (i % 40000), '+2547' || lpad((i % 40000)::text, 8, '0'), 100.50, 'KES',
				CASE WHEN i % 1000 = 0 THEN 'unknown' WHEN i % 10 = 0 THEN 'failed' ELSE 'completed' END,
				CAST(? AS timestamptz) + i * interval '30 seconds', CAST(? AS timestamptz) + i * interval '30 seconds'
			FROM generate_series(1, ?) AS i`, Args: []any{start, start, benchRows}}})
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
	s := New(db, nil, time.Now, Options{})
	ctx := context.Background()
	// The seeded amounts are all 100.50: a deep page by amount starts in
	// the middle of one run of a million equal values, the worst case.
	tie := func(id uint) string { return services.Cursor{ID: id, Value: "100.5"}.String() }
	cases := []struct {
		name   string
		filter Filter
		before uint
		cursor string // for the sorted orders
	}{
		{"first page", Filter{}, 0, ""},
		{"deep page", Filter{}, uint(benchRows / 2), ""},
		{"needs attention", Filter{State: "unknown"}, 0, ""},
		{"failed deep page", Filter{State: "failed"}, uint(benchRows / 2), ""},
		{"device prefix", Filter{Q: "68750000012"}, 0, ""},
		{"phone", Filter{Q: "0700012345"}, 0, ""},
		{"one day", Filter{From: "2025-03-01", To: "2025-03-01"}, 0, ""},
		{"largest amount first", Filter{Sort: "-amount"}, 0, ""},
		{"by amount, deep page", Filter{Sort: "-amount"}, 0, tie(uint(benchRows / 2))},
		{"failed by amount, deep page", Filter{Sort: "amount", State: "failed"}, 0, tie(uint(benchRows / 2))},
		{"oldest first, deep page", Filter{Sort: "created"}, 0, services.Cursor{ID: uint(benchRows / 2)}.String()},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				next := c.cursor
				if next == "" {
					next = services.Cursor{ID: c.before}.String()
				}
				if _, err := s.List(ctx, c.filter, next, "", 50); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStatus reads one recharge as the status fragment does every
// 2 s while a recharge is open (GetLive: the row by id and its events).
func BenchmarkStatus(b *testing.B) {
	db := seededDB(b)
	s := New(db, nil, time.Now, Options{})
	ctx := context.Background()
	id := uint(benchRows / 2)
	for b.Loop() {
		if _, err := s.GetLive(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExport streams every failed recharge (a tenth of the table): the
// allocation figure per op shows memory does not grow with the row count.
func BenchmarkExportFailed(b *testing.B) {
	db := seededDB(b)
	s := New(db, nil, time.Now, Options{})
	for b.Loop() {
		if err := s.ExportCSV(context.Background(), Filter{State: "failed"}, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(benchRows/10), "rows/op")
}

func ExampleParseAmount() {
	d, msg := ParseAmount("1500.5", max)
	fmt.Println(d.StringFixed(2), msg == "")
	// Output: 1500.50 true
}
