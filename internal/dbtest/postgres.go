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
	admin, err := sql.Open("pgx", server)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	defer admin.Close()
	ctx := context.Background()
	conn, err := admin.Conn(ctx)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	defer conn.Close()
	// Test binaries run in parallel: one makes the template, and clones
	// are made one at a time (a clone fails while anyone is connected to
	// its template).
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(hashtext('portal tests: template'))"); err != nil {
		t.Fatalf("postgres: %v", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(hashtext('portal tests: template'))")

	tmpl := fmt.Sprintf("portal_template_v%d", models.SchemaVersion())
	if _, ok := templateOnce.Load(server); !ok {
		var exists bool
		if err := conn.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", tmpl).Scan(&exists); err != nil {
			t.Fatalf("postgres: %v", err)
		}
		if !exists {
			if _, err := conn.ExecContext(ctx, "CREATE DATABASE "+tmpl); err != nil {
				t.Fatalf("postgres: create template: %v", err)
			}
			db, err := models.OpenPostgres(ctx, withDatabase(t, server, tmpl))
			if err != nil {
				_, _ = conn.ExecContext(ctx, "DROP DATABASE "+tmpl)
				t.Fatalf("postgres: migrate template: %v", err)
			}
			if sqlDB, err := db.DB(); err == nil {
				_ = sqlDB.Close()
			}
		}
		templateOnce.Store(server, tmpl)
	}
	return createDatabase(t, conn, server, " TEMPLATE "+tmpl)
}

// EmptyPostgresURL creates a database with no tables at all, for a test of
// what a first start-up does, and drops it when t ends.
func EmptyPostgresURL(t testing.TB) string {
	t.Helper()
	server := os.Getenv(EnvPostgres)
	admin, err := sql.Open("pgx", server)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	defer admin.Close()
	conn, err := admin.Conn(context.Background())
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	defer conn.Close()
	return createDatabase(t, conn, server, "")
}

func createDatabase(t testing.TB, conn *sql.Conn, server, template string) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "portal_test_" + hex.EncodeToString(b[:])
	if _, err := conn.ExecContext(context.Background(), "CREATE DATABASE "+name+template); err != nil {
		t.Fatalf("postgres: create database: %v", err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", server)
		if err != nil {
			return
		}
		defer admin.Close()
		_, _ = admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	return withDatabase(t, server, name)
}

func withDatabase(t testing.TB, server, name string) string {
	t.Helper()
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("%s: %v", EnvPostgres, err)
	}
	u.Path = "/" + name
	return u.String()
}

// SQLiteOnly skips t on a PostgreSQL run, saying why.
func SQLiteOnly(t testing.TB, why string) {
	t.Helper()
	if OnPostgres() {
		t.Skip("SQLite only: " + why)
	}
}
