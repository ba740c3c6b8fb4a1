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
	"testing"

	"gorm.io/gorm"

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

// BenchDB opens a fresh database (migrated, in a new temporary folder named
// after prefix), runs the seeding statements — recursive CTEs make a
// million rows in seconds — and ANALYZE, so the planner sees realistic
// statistics.
func BenchDB(prefix string, seed ...Stmt) (*gorm.DB, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, err
	}
	db, err := models.Open(context.Background(), filepath.Join(dir, "bench.db"))
	if err != nil {
		return nil, err
	}
	for _, st := range append(seed, Stmt{SQL: "ANALYZE"}) {
		if err := db.Exec(st.SQL, st.Args...).Error; err != nil {
			return nil, err
		}
	}
	return db, nil
}
