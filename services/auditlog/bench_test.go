package auditlog

import (
	"context"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"portal/internal/dbtest"
	"portal/services"
)

// benchRows is how many events the benchmark log holds; the log must stay
// fast to page at a million.
var benchRows = dbtest.EnvInt("BENCH_AUDIT", 1_000_000)

var (
	benchOnce sync.Once
	benchDB   *gorm.DB
	benchErr  error
)

// seededDB builds the benchmark log once per process, the same rows on
// SQLite and PostgreSQL: one event every 30 s, forty actors, four actions.
func seededDB(b *testing.B) *gorm.DB {
	b.Helper()
	benchOnce.Do(func() {
		start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		benchDB, benchErr = dbtest.BenchDB("audit-bench", []dbtest.Stmt{{SQL: `
			WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
			INSERT INTO audit_events (at, actor_email, action, subject, ip, details)
			SELECT datetime(?, '+' || (i * 30) || ' seconds'), 'staff' || (i % 40) || '@example.com',
				CASE i % 4 WHEN 0 THEN 'login.success' WHEN 1 THEN 'customer.lookup' WHEN 2 THEN 'recharge.created' ELSE 'logout' END,
				'subject-' || i, '10.0.0.1', ''
			FROM n`, Args: []any{benchRows, start.Format("2006-01-02 15:04:05")}}},
			[]dbtest.Stmt{{SQL: `
			INSERT INTO audit_events (at, actor_email, action, subject, ip, details)
			SELECT CAST(? AS timestamptz) + i * interval '30 seconds', 'staff' || (i % 40) || '@example.com',
				CASE i % 4 WHEN 0 THEN 'login.success' WHEN 1 THEN 'customer.lookup' WHEN 2 THEN 'recharge.created' ELSE 'logout' END,
				'subject-' || i, '10.0.0.1', ''
			FROM generate_series(1, ?) AS i`, Args: []any{start, benchRows}}})
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchDB
}

// TestMain drops the PostgreSQL benchmark database when the run ends.
func TestMain(m *testing.M) { dbtest.Main(m) }

func BenchmarkList(b *testing.B) {
	r := New(seededDB(b))
	ctx := context.Background()
	mid := services.Cursor{ID: uint(benchRows / 2)}.String()
	cases := []struct {
		name   string
		filter Filter
		next   string
	}{
		{"newest first", Filter{}, ""},
		{"newest first, deep page", Filter{}, mid},
		{"oldest first", Filter{Sort: "at"}, ""},
		{"oldest first, deep page", Filter{Sort: "at"}, mid},
		{"oldest first, one action, deep page", Filter{Sort: "at", Action: "logout"}, mid},
		{"oldest first, one actor, deep page", Filter{Sort: "at", Actor: "staff7@example.com"}, mid},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := r.List(ctx, c.filter, c.next, "", 50); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
