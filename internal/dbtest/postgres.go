package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for the admin connection
	"gorm.io/gorm"

	"portal/models"
)

// EnvPostgres names the PostgreSQL server the tests run on (any database
// on it: each test gets a database of its own). scripts/with-postgres.sh
// sets it; unset, the tests run on SQLite.
const EnvPostgres = "PORTAL_TEST_DATABASE_URL"

// OnPostgres reports whether this test run is on PostgreSQL.
func OnPostgres() bool { return os.Getenv(EnvPostgres) != "" }

// Open is a fresh, migrated, empty database for t on the run's database
// (SQLite in t's temporary folder, or a new PostgreSQL database), closed
// and removed when t ends.
func Open(t testing.TB) *gorm.DB {
	t.Helper()
	ctx := context.Background()
	var db *gorm.DB
	var err error
	if OnPostgres() {
		db, err = models.OpenPostgres(ctx, NewPostgresURL(t))
	} else {
		db, err = models.Open(ctx, filepath.Join(t.TempDir(), "portal.db"))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if sqlDB, err := db.DB(); err == nil {
			_ = sqlDB.Close()
		}
	})
	return db
}

// DatabaseURL is what a whole portal under test is given as DATABASE_URL:
// a new PostgreSQL database on a PostgreSQL run, "" (SQLite) otherwise.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	if !OnPostgres() {
		return ""
	}
	return NewPostgresURL(t)
}

var templateOnce sync.Map // server URL → template name, once per test binary

// NewPostgresURL creates an empty, migrated database for t, cloned from a
// template migrated once per schema version, and drops it when t ends
// (after everything t registered later, such as closing its pool).
func NewPostgresURL(t testing.TB) string {
	t.Helper()
	server := os.Getenv(EnvPostgres)
	var name string
	err := withTemplateLock(server, func(ctx context.Context, conn *sql.Conn) error {
		tmpl, err := ensureTemplate(ctx, conn, server)
		if err != nil {
			return err
		}
		name, err = createDatabase(ctx, conn, "portal_test_", " TEMPLATE "+tmpl)
		return err
	})
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	t.Cleanup(func() { dropDatabase(server, name) })
	return withDatabase(t, server, name)
}

// EmptyPostgresURL creates a database with no tables at all, for a test of
// what a first start-up does, and drops it when t ends.
func EmptyPostgresURL(t testing.TB) string {
	t.Helper()
	server := os.Getenv(EnvPostgres)
	var name string
	err := withAdmin(server, func(ctx context.Context, conn *sql.Conn) (err error) {
		name, err = createDatabase(ctx, conn, "portal_test_", "")
		return err
	})
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	t.Cleanup(func() { dropDatabase(server, name) })
	return withDatabase(t, server, name)
}

// withAdmin runs fn on one connection to server (the database named in
// EnvPostgres), where databases are created and dropped.
func withAdmin(server string, fn func(ctx context.Context, conn *sql.Conn) error) error {
	admin, err := sql.Open("pgx", server)
	if err != nil {
		return err
	}
	defer admin.Close()
	ctx := context.Background()
	conn, err := admin.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return fn(ctx, conn)
}

// withTemplateLock is withAdmin holding the lock that serializes what
// touches the template: test binaries run in parallel, one makes the
// template, and clones are made one at a time (a clone fails while anyone
// is connected to its template).
func withTemplateLock(server string, fn func(ctx context.Context, conn *sql.Conn) error) error {
	return withAdmin(server, func(ctx context.Context, conn *sql.Conn) error {
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(hashtext('portal tests: template'))"); err != nil {
			return err
		}
		defer func() {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(hashtext('portal tests: template'))")
		}()
		return fn(ctx, conn)
	})
}

// ensureTemplate returns the name of the migrated template database,
// making it first if this schema version has none; the lock is held.
func ensureTemplate(ctx context.Context, conn *sql.Conn, server string) (string, error) {
	tmpl := fmt.Sprintf("portal_template_v%d", models.SchemaVersion())
	if _, ok := templateOnce.Load(server); ok {
		return tmpl, nil
	}
	var exists bool
	if err := conn.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", tmpl).Scan(&exists); err != nil {
		return "", err
	}
	if !exists {
		if _, err := conn.ExecContext(ctx, "CREATE DATABASE "+tmpl); err != nil {
			return "", fmt.Errorf("create template: %w", err)
		}
		u, err := databaseURL(server, tmpl)
		if err != nil {
			return "", err
		}
		db, err := models.OpenPostgres(ctx, u)
		if err != nil {
			_, _ = conn.ExecContext(ctx, "DROP DATABASE "+tmpl)
			return "", fmt.Errorf("migrate template: %w", err)
		}
		if sqlDB, err := db.DB(); err == nil {
			_ = sqlDB.Close()
		}
	}
	templateOnce.Store(server, tmpl)
	return tmpl, nil
}

// createDatabase creates a database named prefix and a random suffix,
// from template (" TEMPLATE name", or "" for an empty one).
func createDatabase(ctx context.Context, conn *sql.Conn, prefix, template string) (string, error) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := prefix + hex.EncodeToString(b[:])
	if _, err := conn.ExecContext(ctx, "CREATE DATABASE "+name+template); err != nil {
		return "", fmt.Errorf("create database: %w", err)
	}
	return name, nil
}

// dropDatabase drops name on server, whoever is still connected; it is
// cleanup, so a failure only leaves a database behind.
func dropDatabase(server, name string) {
	admin, err := sql.Open("pgx", server)
	if err != nil {
		return
	}
	defer admin.Close()
	_, _ = admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
}

func withDatabase(t testing.TB, server, name string) string {
	t.Helper()
	u, err := databaseURL(server, name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func databaseURL(server, name string) (string, error) {
	u, err := url.Parse(server)
	if err != nil {
		return "", fmt.Errorf("%s: %w", EnvPostgres, err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

var bench struct {
	sync.Mutex
	server string
	dbs    map[string]*gorm.DB // name → pool
}

// benchPostgres is BenchDB on PostgreSQL. Databases left by a benchmark
// run that was killed before Main could drop them are dropped first: bench
// databases nobody is connected to. A live run always is, as its pool
// keeps idle connections, and it connects before the lock that the sweep
// also takes is released.
func benchPostgres(prefix string, seed []Stmt) (*gorm.DB, error) {
	server := os.Getenv(EnvPostgres)
	var db *gorm.DB
	var name string
	err := withTemplateLock(server, func(ctx context.Context, conn *sql.Conn) error {
		rows, err := conn.QueryContext(ctx, `SELECT datname FROM pg_database d WHERE datname LIKE 'portal\_bench\_%'
			AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datid = d.oid)`)
		if err != nil {
			return err
		}
		var stale []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return err
			}
			stale = append(stale, n)
		}
		rows.Close()
		for _, n := range stale {
			// Without FORCE: if someone connected since, it is theirs.
			_, _ = conn.ExecContext(ctx, "DROP DATABASE IF EXISTS "+n)
		}
		tmpl, err := ensureTemplate(ctx, conn, server)
		if err != nil {
			return err
		}
		name, err = createDatabase(ctx, conn, "portal_bench_"+strings.Map(identChar, prefix)+"_", " TEMPLATE "+tmpl)
		if err != nil {
			return err
		}
		u, err := databaseURL(server, name)
		if err != nil {
			return err
		}
		if db, err = models.OpenPostgres(ctx, u); err != nil {
			dropDatabase(server, name)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	bench.Lock()
	bench.server = server
	if bench.dbs == nil {
		bench.dbs = map[string]*gorm.DB{}
	}
	bench.dbs[name] = db
	bench.Unlock()
	// VACUUM as well: a freshly loaded table has no visibility map (no
	// index-only scans) and autovacuum would otherwise do it in the middle
	// of the timings.
	for _, st := range append(seed, Stmt{SQL: "VACUUM ANALYZE"}) {
		if err := db.Exec(st.SQL, st.Args...).Error; err != nil {
			return nil, err
		}
	}
	return db, nil
}

func identChar(r rune) rune {
	if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
		return r
	}
	return '_'
}

// Main runs a package's tests and benchmarks (m.Run) and then drops the
// PostgreSQL databases BenchDB made, which hold a million rows each; a
// bench_test.go calls it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	bench.Lock()
	for name, db := range bench.dbs {
		if sqlDB, err := db.DB(); err == nil {
			_ = sqlDB.Close()
		}
		dropDatabase(bench.server, name)
	}
	bench.Unlock()
	os.Exit(code)
}

// SQLiteOnly skips t on a PostgreSQL run, saying why.
func SQLiteOnly(t testing.TB, why string) {
	t.Helper()
	if OnPostgres() {
		t.Skip("SQLite only: " + why)
	}
}
