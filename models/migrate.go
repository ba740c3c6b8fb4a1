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
	{2, "water-credit recharges", []string{
		// Amounts are decimal strings: SQLite has no decimal type and a REAL
		// would round money.
		`CREATE TABLE recharges (
			id INTEGER PRIMARY KEY,
			idempotency_key TEXT NOT NULL UNIQUE,
			upstream_id TEXT UNIQUE,
			device_id TEXT NOT NULL DEFAULT '',
			card_id TEXT NOT NULL DEFAULT '',
			customer_name TEXT NOT NULL DEFAULT '',
			customer_phone TEXT NOT NULL DEFAULT '',
			amount TEXT NOT NULL,
			currency TEXT NOT NULL DEFAULT '',
			litres TEXT NOT NULL DEFAULT '',
			price_per_litre TEXT NOT NULL DEFAULT '',
			balance_after TEXT NOT NULL DEFAULT '',
			upstream_status TEXT NOT NULL DEFAULT '',
			state TEXT NOT NULL CHECK (state IN ('queued','submitting','submitted','pending','completed','failed','unknown')),
			error TEXT NOT NULL DEFAULT '',
			created_by_id INTEGER REFERENCES users(id),
			created_by_email TEXT NOT NULL DEFAULT '',
			created_at DATETIME NOT NULL,
			updated_at DATETIME NOT NULL,
			submitted_at DATETIME,
			completed_at DATETIME,
			next_check_at DATETIME,
			check_attempts INTEGER NOT NULL DEFAULT 0,
			last_upstream_json TEXT NOT NULL DEFAULT '',
			CHECK ((device_id = '') <> (card_id = ''))
		)`,
		// Lists page newest-first by id; every filter has an index that ends
		// in id so a filtered page is an index range scan, not a sort.
		`CREATE INDEX recharges_state ON recharges(state, id)`,
		`CREATE INDEX recharges_created ON recharges(created_at, id)`,
		`CREATE INDEX recharges_device ON recharges(device_id, id)`,
		`CREATE INDEX recharges_card ON recharges(card_id, id)`,
		`CREATE INDEX recharges_phone ON recharges(customer_phone, id)`,
		`CREATE INDEX recharges_due ON recharges(next_check_at) WHERE state IN ('submitted','pending')`,
		`CREATE TABLE recharge_events (
			id INTEGER PRIMARY KEY,
			recharge_id INTEGER NOT NULL REFERENCES recharges(id),
			at DATETIME NOT NULL,
			from_state TEXT NOT NULL,
			to_state TEXT NOT NULL,
			upstream_status TEXT NOT NULL DEFAULT '',
			note TEXT NOT NULL DEFAULT ''
		)`,
		`CREATE INDEX recharge_events_recharge ON recharge_events(recharge_id, id)`,
		`CREATE INDEX audit_subject ON audit_events(subject, id)`,
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
