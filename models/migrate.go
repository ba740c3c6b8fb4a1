package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// A migration is frozen once released: it is raw SQL for the schema as it was
// at that version, never generated from today's structs, so changing a model
// can't silently rewrite history.
type migration struct {
	version int
	name    string
	sql     []string
}

var migrations = []migration{
	{1, "staff accounts, sessions, audit log, login attempts", []string{
		`CREATE TABLE users (
			id INTEGER PRIMARY KEY,
			email TEXT NOT NULL UNIQUE,
			name TEXT NOT NULL,
			role TEXT NOT NULL CHECK (role IN ('admin','operator','compliance','support')),
			password_hash TEXT NOT NULL,
			disabled INTEGER NOT NULL DEFAULT 0,
			password_changed_at DATETIME NOT NULL,
			created_at DATETIME NOT NULL,
			updated_at DATETIME NOT NULL
		)`,
		// The primary key is a hash of the cookie's id, so a copy of the
		// database (a backup, a support dump) does not hand out live sessions.
		`CREATE TABLE sessions (
			id_hash TEXT PRIMARY KEY,
			user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,
			data TEXT NOT NULL DEFAULT '{}',
			created_at DATETIME NOT NULL,
			last_seen_at DATETIME NOT NULL
		)`,
		`CREATE INDEX sessions_user ON sessions(user_id)`,
		`CREATE INDEX sessions_last_seen ON sessions(last_seen_at)`,
		`CREATE TABLE audit_events (
			id INTEGER PRIMARY KEY,
			at DATETIME NOT NULL,
			actor_id INTEGER,
			actor_email TEXT NOT NULL DEFAULT '',
			action TEXT NOT NULL,
			subject TEXT NOT NULL DEFAULT '',
			ip TEXT NOT NULL DEFAULT '',
			details TEXT NOT NULL DEFAULT ''
		)`,
		`CREATE INDEX audit_at ON audit_events(at)`,
		`CREATE INDEX audit_actor ON audit_events(actor_email, id)`,
		`CREATE INDEX audit_action ON audit_events(action, id)`,
		// The audit log is append-only at the database level too, so no
		// future code path (or hand-written SQL in a hurry) can rewrite it.
		`CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
			BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END`,
		`CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
			BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END`,
		`CREATE TABLE login_attempts (
			id INTEGER PRIMARY KEY,
			at DATETIME NOT NULL,
			email TEXT NOT NULL,
			ip TEXT NOT NULL,
			success INTEGER NOT NULL
		)`,
		`CREATE INDEX login_attempts_email_at ON login_attempts(email, at)`,
		`CREATE INDEX login_attempts_ip_at ON login_attempts(ip, at)`,
	}},
}

// SchemaVersion is the newest schema this build knows.
func SchemaVersion() int { return migrations[len(migrations)-1].version }

// Migrate applies pending migrations, each in its own transaction together
// with its row in schema_migrations, and refuses a database written by a newer
// build: running old code on a newer schema is how data gets half-written.
func Migrate(ctx context.Context, db *gorm.DB) error {
	conn := db.WithContext(ctx)
	if err := conn.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY,
		name TEXT NOT NULL,
		applied_at DATETIME NOT NULL
	)`).Error; err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var current int
	if err := conn.Raw("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&current).Error; err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if current > SchemaVersion() {
		return fmt.Errorf("database schema version %d is newer than this build knows (%d): run a newer portal", current, SchemaVersion())
	}
	for _, m := range migrations {
		if m.version <= current {
			continue
		}
		err := conn.Transaction(func(tx *gorm.DB) error {
			for _, stmt := range m.sql {
				if err := tx.Exec(stmt).Error; err != nil {
					return err
				}
			}
			return tx.Exec("INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)",
				m.version, m.name, time.Now().UTC()).Error
		})
		if err != nil {
			return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
		}
	}
	return nil
}
