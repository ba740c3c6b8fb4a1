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

	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// ErrNotFound is returned by lookups that find nothing, so callers never get
// (nil, nil).
var ErrNotFound = errors.New("not found")

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

// Backup writes a consistent copy of the live database to path with VACUUM
// INTO; copying the file while WAL is active could capture a torn state.
func Backup(ctx context.Context, db *gorm.DB, path string) error {
	return db.WithContext(ctx).Exec("VACUUM INTO ?", path).Error
}
