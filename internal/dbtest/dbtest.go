// Package dbtest holds what the services' database tests share: reading
// SQLite's query plan of a GORM query, so a test can check that a list
// stays an index search at a million rows without timing anything.
package dbtest

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"portal/models"
)

// Plan returns SQLite's EXPLAIN QUERY PLAN of the query q builds, its
// steps joined by " | ".
func Plan(t testing.TB, db *gorm.DB, q func(tx *gorm.DB) *gorm.DB) string {
	t.Helper()
	return PlanSQL(t, db, db.ToSQL(q))
}

// PlanSQL is Plan for SQL already written out (with its arguments inlined
// or passed in vars).
func PlanSQL(t testing.TB, db *gorm.DB, sql string, vars ...any) string {
	t.Helper()
	var rows []struct{ Detail string }
	if err := db.Session(&gorm.Session{NewDB: true}).Raw("EXPLAIN QUERY PLAN "+sql, vars...).Scan(&rows).Error; err != nil {
		t.Fatalf("explain %s: %v", sql, err)
	}
	details := make([]string, 0, len(rows))
	for _, r := range rows {
		details = append(details, r.Detail)
	}
	return strings.Join(details, " | ")
}

// EnvInt is a benchmark's size from the environment (e.g.
// BENCH_RECHARGES), def when unset or not a positive number.
func EnvInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// Stmt is one seeding statement.
type Stmt struct {
	SQL  string
	Args []any
}

// BenchDB opens a fresh, migrated database for a benchmark on the run's
// database and seeds it: on SQLite a file in a new temporary folder named
// after prefix, seeded with sqlite (recursive CTEs make a million rows in
// seconds); on a PostgreSQL run (OnPostgres) a new database cloned from
// the test template, seeded with postgres, which must make the same rows
// (generate_series). Then ANALYZE, so the planner sees realistic
// statistics. A package whose benchmarks use it runs them through Main,
// which drops PostgreSQL's databases at the end.
func BenchDB(prefix string, sqlite, postgres []Stmt) (*gorm.DB, error) {
	if OnPostgres() {
		return benchPostgres(prefix, postgres)
	}
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, err
	}
	db, err := models.Open(context.Background(), filepath.Join(dir, "bench.db"))
	if err != nil {
		return nil, err
	}
	for _, st := range append(sqlite, Stmt{SQL: "ANALYZE"}) {
		if err := db.Exec(st.SQL, st.Args...).Error; err != nil {
			return nil, err
		}
	}
	return db, nil
}

// Recorder is a GORM logger that keeps every statement run through it,
// with its arguments inlined, so a test can read the plan of each query a
// service call makes (several, for a prefix search).
type Recorder struct {
	logger.Interface
	mu    sync.Mutex
	stmts []string
}

// Record returns a session of db whose statements r keeps.
func Record(db *gorm.DB) (*gorm.DB, *Recorder) {
	r := &Recorder{Interface: logger.Discard}
	return db.Session(&gorm.Session{Logger: r}), r
}

// Trace implements logger.Interface.
func (r *Recorder) Trace(_ context.Context, _ time.Time, fc func() (string, int64), _ error) {
	sql, _ := fc()
	r.mu.Lock()
	r.stmts = append(r.stmts, sql)
	r.mu.Unlock()
}

// Take returns the statements kept since the last Take and forgets them.
func (r *Recorder) Take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.stmts
	r.stmts = nil
	return out
}
