// Package models holds the GORM models, the database connection and the
// versioned schema migrations.
package models

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// ErrNotFound is returned by lookups that find nothing, so callers never get
// (nil, nil).
var ErrNotFound = errors.New("not found")

// OpenConfigured opens PostgreSQL when databaseURL is set and the SQLite
// file at path otherwise: SQLite is the embedded default, PostgreSQL is for
// several replicas on one database.
func OpenConfigured(ctx context.Context, databaseURL, path string) (*gorm.DB, error) {
	if databaseURL != "" {
		return OpenPostgres(ctx, databaseURL)
	}
	return Open(ctx, path)
}

// OpenPostgres connects to the PostgreSQL database at url (a postgres://
// URL or a key=value DSN), checks the settings the portal relies on and
// applies pending migrations, under an advisory lock so that replicas
// started together migrate once.
func OpenPostgres(ctx context.Context, url string) (*gorm.DB, error) {
	db, err := gorm.Open(postgres.New(postgres.Config{DSN: url}), &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
		TranslateError:         true,
		NowFunc:                utcNow,
	})
	if err != nil {
		return nil, fmt.Errorf("open database: %w", redactedURLError{err})
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	sqlDB.SetMaxOpenConns(16)
	sqlDB.SetMaxIdleConns(8)
	if err := checkPostgres(ctx, db); err != nil {
		_ = sqlDB.Close()
		return nil, err
	}
	if err := Migrate(ctx, db); err != nil {
		_ = sqlDB.Close()
		return nil, err
	}
	return db, nil
}

// redactedURLError keeps a connection string's password out of logs: pgx
// quotes the DSN in some of its errors.
type redactedURLError struct{ err error }

func (e redactedURLError) Error() string {
	msg := e.err.Error()
	if i := strings.Index(msg, "://"); i >= 0 {
		if j := strings.Index(msg[i+3:], "@"); j >= 0 {
			msg = msg[:i+3] + "…" + msg[i+3+j:]
		}
	}
	return msg
}

func (e redactedURLError) Unwrap() error { return e.err }

// checkPostgres refuses a server too old for the SQL the portal writes, or
// one that would not make a commit durable.
func checkPostgres(ctx context.Context, db *gorm.DB) error {
	var version int
	if err := db.WithContext(ctx).Raw("SELECT current_setting('server_version_num')::int").Scan(&version).Error; err != nil {
		return fmt.Errorf("database: %w", redactedURLError{err})
	}
	if version < 150000 {
		return fmt.Errorf("database: PostgreSQL %d.%d is too old, the portal needs 15 or newer", version/10000, version%10000/100)
	}
	var syncCommit, fsync string
	if err := db.WithContext(ctx).Raw("SELECT current_setting('synchronous_commit'), current_setting('fsync')").Row().Scan(&syncCommit, &fsync); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if syncCommit == "off" || fsync == "off" {
		return fmt.Errorf("database: synchronous_commit=%s fsync=%s: a committed recharge could be lost on a crash", syncCommit, fsync)
	}
	return nil
}

// WithLock runs fn while holding the database-wide lock named key, so that
// one replica at a time does it (the first admin, a migration). On SQLite
// one process owns the file and its write transactions queue anyway.
func WithLock(ctx context.Context, db *gorm.DB, key string, fn func() error) error {
	if !DialectOf(db).Postgres() {
		return fn()
	}
	// An advisory lock belongs to a session, so it is taken and released on
	// one pinned connection while fn works through the pool.
	return db.WithContext(ctx).Connection(func(conn *gorm.DB) error {
		if err := conn.Exec("SELECT pg_advisory_lock(hashtext(?))", key).Error; err != nil {
			return fmt.Errorf("lock %s: %w", key, err)
		}
		defer conn.Session(&gorm.Session{Context: context.WithoutCancel(ctx)}).Exec("SELECT pg_advisory_unlock(hashtext(?))", key)
		return fn()
	})
}

// Open opens (creating if needed) the SQLite database at path with the pragmas
// the portal relies on, checks that they took effect, and applies pending
// migrations.
func Open(ctx context.Context, path string) (*gorm.DB, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create database folder: %w", err)
		}
	}
	// Staff data and money movements: readable by the portal's user only.
	// SQLite gives the -wal and -shm files the database file's mode.
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create database file: %w", err)
	}
	_ = f.Close()
	// The pragmas go in the DSN so that every pooled connection gets them,
	// not only the first. _txlock=immediate makes every BEGIN an IMMEDIATE
	// one: two writers queue on busy_timeout instead of one failing with
	// SQLITE_BUSY when it upgrades a read lock.
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_busy_timeout", "10000")
	q.Set("_foreign_keys", "on")
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	db, err := gorm.Open(sqlite.Open(dsn), &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true, // our writes choose their own transactions
		TranslateError:         true,
		NowFunc:                utcNow,
	})
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	sqlDB.SetMaxOpenConns(8)
	sqlDB.SetMaxIdleConns(8)
	if err := CheckPragmas(ctx, db); err != nil {
		_ = sqlDB.Close()
		return nil, err
	}
	if err := Migrate(ctx, db); err != nil {
		_ = sqlDB.Close()
		return nil, err
	}
	return db, nil
}

// CheckPragmas verifies the durability and integrity settings, because a
// driver that silently ignored a DSN option would lose money on a power cut.
func CheckPragmas(ctx context.Context, db *gorm.DB) error {
	var journal string
	var synchronous, foreignKeys, busy int
	conn := db.WithContext(ctx)
	if err := conn.Raw("PRAGMA journal_mode").Scan(&journal).Error; err != nil {
		return fmt.Errorf("read journal_mode: %w", err)
	}
	if err := conn.Raw("PRAGMA synchronous").Scan(&synchronous).Error; err != nil {
		return fmt.Errorf("read synchronous: %w", err)
	}
	if err := conn.Raw("PRAGMA foreign_keys").Scan(&foreignKeys).Error; err != nil {
		return fmt.Errorf("read foreign_keys: %w", err)
	}
	if err := conn.Raw("PRAGMA busy_timeout").Scan(&busy).Error; err != nil {
		return fmt.Errorf("read busy_timeout: %w", err)
	}
	switch {
	case journal != "wal":
		return fmt.Errorf("database: journal_mode is %q, want wal", journal)
	case synchronous != 2:
		return fmt.Errorf("database: synchronous is %d, want 2 (FULL)", synchronous)
	case foreignKeys != 1:
		return errors.New("database: foreign_keys is off")
	case busy <= 0:
		return errors.New("database: busy_timeout is not set")
	}
	return nil
}

// Ping checks that the database answers, for /readyz.
func Ping(ctx context.Context, db *gorm.DB) error {
	var one int
	return db.WithContext(ctx).Raw("SELECT 1").Scan(&one).Error
}

// Backup writes a consistent copy of the live SQLite database to path with
// VACUUM INTO; copying the file while WAL is active could capture a torn
// state. PostgreSQL is backed up with its own tools (pg_dump, or base
// backups with WAL archiving), never by the portal.
func Backup(ctx context.Context, db *gorm.DB, path string) error {
	if DialectOf(db).Postgres() {
		return errors.New("backup: on PostgreSQL use pg_dump or a base backup with WAL archiving")
	}
	return db.WithContext(ctx).Exec("VACUUM INTO ?", path).Error
}

// utcNow is when GORM stamps created_at and updated_at: in UTC, so that
// SQLite's text of every stored time is in one zone and sorts as text.
func utcNow() time.Time { return time.Now().UTC() }
