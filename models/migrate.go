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
	{3, "pasby documents, signees, events, reviews, webhook inbox", []string{
		// reference is our webhook reference: random, unguessable, and the
		// key a webhook is matched by before the pasby id is known.
		// review_decision repeats document_reviews.decision ('' until
		// decided) so the list filter and the review queue are index scans.
		// title is NOCASE so a title prefix search ignores ASCII case and
		// still reads the index.
		`CREATE TABLE documents (
			id INTEGER PRIMARY KEY,
			reference TEXT NOT NULL,
			upstream_id TEXT,
			kind TEXT NOT NULL CHECK (kind IN ('simple','review')),
			title TEXT NOT NULL COLLATE NOCASE,
			file_url TEXT NOT NULL,
			stamped_url TEXT NOT NULL DEFAULT '',
			hosted_link TEXT NOT NULL DEFAULT '',
			state TEXT NOT NULL CHECK (state IN ('queued','submitting','submitted','in_progress','completed','cancelled','expired','failed','unknown')),
			handled INTEGER NOT NULL DEFAULT 0,
			error TEXT NOT NULL DEFAULT '',
			iat DATETIME,
			exp DATETIME,
			lut DATETIME,
			last_upstream_json TEXT NOT NULL DEFAULT '',
			review_decision TEXT NOT NULL DEFAULT '' CHECK (review_decision IN ('','approved','flagged')),
			created_by_id INTEGER REFERENCES users(id),
			created_by_email TEXT NOT NULL DEFAULT '',
			created_at DATETIME NOT NULL,
			updated_at DATETIME NOT NULL,
			completed_at DATETIME,
			next_check_at DATETIME,
			check_attempts INTEGER NOT NULL DEFAULT 0,
			CHECK (review_decision = '' OR state = 'completed')
		)`,
		`CREATE UNIQUE INDEX documents_reference ON documents(reference)`,
		`CREATE UNIQUE INDEX documents_upstream ON documents(upstream_id)`,
		// Lists page newest-first by id; every filter has an index that ends
		// in id so a filtered page is an index range scan, not a sort.
		`CREATE INDEX documents_state ON documents(state, id)`,
		`CREATE INDEX documents_kind ON documents(kind, id)`,
		`CREATE INDEX documents_decision ON documents(review_decision, id)`,
		`CREATE INDEX documents_created ON documents(created_at, id)`,
		`CREATE INDEX documents_title ON documents(title, id)`,
		// next_check_at is set only while pasby is collecting signatures
		// (submitted, in_progress), so the reconciler reads just those.
		`CREATE INDEX documents_due ON documents(next_check_at) WHERE next_check_at IS NOT NULL`,
		// The review queue: equality on both, then oldest completion first.
		`CREATE INDEX documents_review_queue ON documents(review_decision, state, completed_at)`,
		// A final state is final in the database too, whatever code runs.
		`CREATE TRIGGER documents_final_state BEFORE UPDATE OF state ON documents
			WHEN OLD.state IN ('completed','cancelled','expired','failed') AND NEW.state <> OLD.state
			BEGIN SELECT RAISE(ABORT, 'a document in a final state cannot change state'); END`,
		`CREATE TABLE document_signees (
			id INTEGER PRIMARY KEY,
			document_id INTEGER NOT NULL REFERENCES documents(id),
			position INTEGER NOT NULL,
			nin TEXT NOT NULL,
			name TEXT NOT NULL DEFAULT '',
			email TEXT NOT NULL DEFAULT '',
			type TEXT NOT NULL DEFAULT '',
			representing TEXT NOT NULL DEFAULT '',
			title TEXT NOT NULL DEFAULT '',
			status TEXT NOT NULL DEFAULT 'stale' CHECK (status IN ('stale','viewing','signed')),
			signed_at DATETIME,
			signature TEXT NOT NULL DEFAULT '',
			identification TEXT NOT NULL DEFAULT '',
			UNIQUE (document_id, nin)
		)`,
		`CREATE INDEX document_signees_nin ON document_signees(nin, document_id)`,
		`CREATE TABLE document_events (
			id INTEGER PRIMARY KEY,
			document_id INTEGER NOT NULL REFERENCES documents(id),
			at DATETIME NOT NULL,
			from_state TEXT NOT NULL,
			to_state TEXT NOT NULL,
			note TEXT NOT NULL DEFAULT ''
		)`,
		`CREATE INDEX document_events_document ON document_events(document_id, id)`,
		`CREATE TRIGGER document_events_no_update BEFORE UPDATE ON document_events
			BEGIN SELECT RAISE(ABORT, 'document events are append-only'); END`,
		`CREATE TRIGGER document_events_no_delete BEFORE DELETE ON document_events
			BEGIN SELECT RAISE(ABORT, 'document events are append-only'); END`,
		// One decision per document, never rewritten.
		`CREATE TABLE document_reviews (
			id INTEGER PRIMARY KEY,
			document_id INTEGER NOT NULL UNIQUE REFERENCES documents(id),
			decision TEXT NOT NULL CHECK (decision IN ('approved','flagged')),
			note TEXT NOT NULL DEFAULT '',
			reviewer_id INTEGER REFERENCES users(id),
			reviewer_email TEXT NOT NULL,
			decided_at DATETIME NOT NULL
		)`,
		`CREATE TRIGGER document_reviews_no_update BEFORE UPDATE ON document_reviews
			BEGIN SELECT RAISE(ABORT, 'review decisions are final'); END`,
		`CREATE TRIGGER document_reviews_no_delete BEFORE DELETE ON document_reviews
			BEGIN SELECT RAISE(ABORT, 'review decisions are final'); END`,
		// Webhooks are stored raw before anything else happens, so a crash
		// or a bug in processing never loses one; the same body twice is
		// one row.
		`CREATE TABLE webhook_inbox (
			id INTEGER PRIMARY KEY,
			provider TEXT NOT NULL,
			dedupe_key TEXT NOT NULL,
			received_at DATETIME NOT NULL,
			headers TEXT NOT NULL DEFAULT '',
			body BLOB NOT NULL,
			processed_at DATETIME,
			attempts INTEGER NOT NULL DEFAULT 0,
			error TEXT NOT NULL DEFAULT '',
			UNIQUE (provider, dedupe_key)
		)`,
		`CREATE INDEX webhook_inbox_pending ON webhook_inbox(provider, id) WHERE processed_at IS NULL`,
	}},
	{4, "identity verifications (pawaPass, PassportReader), events, reviews, images", []string{
		// reference is ours: random and unguessable. PassportReader gets it
		// as the session reference (its callbacks carry it back); pawaPass
		// gets it in metadata, so a create whose answer was lost can be
		// found again by listing its externalId.
		// upstream_id is pawaPass's id or PassportReader's 64-bit session id
		// in decimal; both are unique per provider.
		`CREATE TABLE verifications (
			id INTEGER PRIMARY KEY,
			provider TEXT NOT NULL CHECK (provider IN ('pawapass','passportreader')),
			reference TEXT NOT NULL,
			external_id TEXT NOT NULL DEFAULT '',
			upstream_id TEXT,
			customer_phone TEXT NOT NULL DEFAULT '',
			country TEXT NOT NULL DEFAULT '',
			requirements TEXT NOT NULL DEFAULT '',
			face_verification INTEGER NOT NULL DEFAULT 0,
			passport_only INTEGER NOT NULL DEFAULT 0,
			success_url TEXT NOT NULL DEFAULT '',
			error_url TEXT NOT NULL DEFAULT '',
			support_url TEXT NOT NULL DEFAULT '',
			link TEXT NOT NULL DEFAULT '',
			state TEXT NOT NULL CHECK (state IN ('queued','submitting','submitted','in_progress','approved','declined','expired','aborted','failed','unknown')),
			provider_status TEXT NOT NULL DEFAULT '',
			error TEXT NOT NULL DEFAULT '',
			expires_at DATETIME,
			document_type TEXT NOT NULL DEFAULT '',
			document_number TEXT NOT NULL DEFAULT '' COLLATE NOCASE,
			document_country TEXT NOT NULL DEFAULT '',
			given_names TEXT NOT NULL DEFAULT '',
			surname TEXT NOT NULL DEFAULT '',
			date_of_birth TEXT NOT NULL DEFAULT '',
			identity_json TEXT NOT NULL DEFAULT '',
			face_result TEXT NOT NULL DEFAULT '',
			review_reason TEXT NOT NULL DEFAULT '',
			last_upstream_json TEXT NOT NULL DEFAULT '',
			review_decision TEXT NOT NULL DEFAULT '' CHECK (review_decision IN ('','approved','flagged')),
			created_by_id INTEGER REFERENCES users(id),
			created_by_email TEXT NOT NULL DEFAULT '',
			created_at DATETIME NOT NULL,
			updated_at DATETIME NOT NULL,
			completed_at DATETIME,
			next_check_at DATETIME,
			check_attempts INTEGER NOT NULL DEFAULT 0,
			CHECK (review_decision = '' OR state IN ('approved','declined'))
		)`,
		`CREATE UNIQUE INDEX verifications_reference ON verifications(reference)`,
		`CREATE UNIQUE INDEX verifications_upstream ON verifications(provider, upstream_id)`,
		// Newest-first lists: every filter's index ends in id. The
		// prefix searches (phone, external id, document number, upstream
		// id) are index ranges.
		`CREATE INDEX verifications_state ON verifications(state, id)`,
		`CREATE INDEX verifications_provider ON verifications(provider, id)`,
		`CREATE INDEX verifications_decision ON verifications(review_decision, id)`,
		`CREATE INDEX verifications_created ON verifications(created_at, id)`,
		`CREATE INDEX verifications_phone ON verifications(customer_phone, id)`,
		`CREATE INDEX verifications_external ON verifications(external_id, id)`,
		`CREATE INDEX verifications_document_number ON verifications(document_number, id)`,
		`CREATE INDEX verifications_upstream_prefix ON verifications(upstream_id, id)`,
		`CREATE INDEX verifications_provider_status ON verifications(provider_status, id)`,
		`CREATE INDEX verifications_due ON verifications(next_check_at) WHERE next_check_at IS NOT NULL`,
		`CREATE INDEX verifications_review_queue ON verifications(review_decision, state, completed_at)`,
		`CREATE TRIGGER verifications_final_state BEFORE UPDATE OF state ON verifications
			WHEN OLD.state IN ('approved','declined','expired','aborted','failed') AND NEW.state <> OLD.state
			BEGIN SELECT RAISE(ABORT, 'a verification in a final state cannot change state'); END`,
		`CREATE TABLE verification_events (
			id INTEGER PRIMARY KEY,
			verification_id INTEGER NOT NULL REFERENCES verifications(id),
			at DATETIME NOT NULL,
			from_state TEXT NOT NULL,
			to_state TEXT NOT NULL,
			provider_status TEXT NOT NULL DEFAULT '',
			note TEXT NOT NULL DEFAULT ''
		)`,
		`CREATE INDEX verification_events_verification ON verification_events(verification_id, id)`,
		`CREATE TRIGGER verification_events_no_update BEFORE UPDATE ON verification_events
			BEGIN SELECT RAISE(ABORT, 'verification events are append-only'); END`,
		`CREATE TRIGGER verification_events_no_delete BEFORE DELETE ON verification_events
			BEGIN SELECT RAISE(ABORT, 'verification events are append-only'); END`,
		`CREATE TABLE verification_reviews (
			id INTEGER PRIMARY KEY,
			verification_id INTEGER NOT NULL UNIQUE REFERENCES verifications(id),
			decision TEXT NOT NULL CHECK (decision IN ('approved','flagged')),
			note TEXT NOT NULL DEFAULT '',
			reviewer_id INTEGER REFERENCES users(id),
			reviewer_email TEXT NOT NULL,
			decided_at DATETIME NOT NULL
		)`,
		`CREATE TRIGGER verification_reviews_no_update BEFORE UPDATE ON verification_reviews
			BEGIN SELECT RAISE(ABORT, 'review decisions are final'); END`,
		`CREATE TRIGGER verification_reviews_no_delete BEFORE DELETE ON verification_reviews
			BEGIN SELECT RAISE(ABORT, 'review decisions are final'); END`,
		// Portraits and face images, kept apart so lists never read them
		// and only when IDV_STORE_IMAGES is on.
		`CREATE TABLE verification_images (
			id INTEGER PRIMARY KEY,
			verification_id INTEGER NOT NULL REFERENCES verifications(id),
			kind TEXT NOT NULL CHECK (kind IN ('portrait','face')),
			content_type TEXT NOT NULL,
			data BLOB NOT NULL,
			created_at DATETIME NOT NULL,
			UNIQUE (verification_id, kind)
		)`,
	}},
	{5, "dashboard: completion time index", []string{
		// The dashboard's median time to complete reads only the documents
		// completed in the last 30 days.
		`CREATE INDEX documents_completed ON documents(completed_at) WHERE completed_at IS NOT NULL`,
	}},
	{6, "replicas: shared settings, claim leases", []string{
		// Secrets every replica must share (the session key, webhook path
		// secrets) when they are not configured: made once by whichever
		// replica comes first.
		`CREATE TABLE settings (
			name TEXT PRIMARY KEY,
			value TEXT NOT NULL,
			created_at DATETIME NOT NULL
		)`,
		// A record being sent upstream (queued, submitting) is claimed by
		// one process until lease_until; recovery takes only claims whose
		// lease ran out, never a live replica's.
		`ALTER TABLE recharges ADD COLUMN claimed_by TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE recharges ADD COLUMN lease_until DATETIME`,
		`ALTER TABLE documents ADD COLUMN claimed_by TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE documents ADD COLUMN lease_until DATETIME`,
		`ALTER TABLE verifications ADD COLUMN claimed_by TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE verifications ADD COLUMN lease_until DATETIME`,
		// A stored webhook is processed by one replica at a time.
		`ALTER TABLE webhook_inbox ADD COLUMN lease_until DATETIME`,
	}},
	{7, "dashboard: figure counts kept by triggers", []string{
		// The dashboard's counts by state, review queues and per-day charts
		// read these instead of the tables: one row per (area, UTC day of
		// creation, state, currency or provider, review decision), kept by
		// triggers in the transaction of every insert, state change and
		// delete, so no code path (a service, a fix by hand, a seeder) can
		// let them drift and a rolled-back write leaves them as they were.
		`CREATE TABLE figure_counts (
			kind TEXT NOT NULL,
			day TEXT NOT NULL,
			state TEXT NOT NULL,
			sub TEXT NOT NULL,
			decision TEXT NOT NULL,
			n INTEGER NOT NULL,
			amount_minor INTEGER NOT NULL,
			PRIMARY KEY (kind, day, state, sub, decision)
		) WITHOUT ROWID`,
		`CREATE TRIGGER recharges_count_insert AFTER INSERT ON recharges
			BEGIN
				INSERT INTO figure_counts VALUES ('recharge', date(NEW.created_at), NEW.state, NEW.currency, '', 1, CAST(round(NEW.amount * 100) AS INTEGER))
				ON CONFLICT (kind, day, state, sub, decision) DO UPDATE SET n = n + excluded.n, amount_minor = amount_minor + excluded.amount_minor;
			END`,
		`CREATE TRIGGER recharges_count_update AFTER UPDATE OF state, created_at, currency, amount ON recharges WHEN OLD.state IS NOT NEW.state OR OLD.created_at IS NOT NEW.created_at OR OLD.currency IS NOT NEW.currency OR OLD.amount IS NOT NEW.amount
			BEGIN
				INSERT INTO figure_counts VALUES ('recharge', date(OLD.created_at), OLD.state, OLD.currency, '', -1, -CAST(round(OLD.amount * 100) AS INTEGER))
				ON CONFLICT (kind, day, state, sub, decision) DO UPDATE SET n = n + excluded.n, amount_minor = amount_minor + excluded.amount_minor;
				INSERT INTO figure_counts VALUES ('recharge', date(NEW.created_at), NEW.state, NEW.currency, '', 1, CAST(round(NEW.amount * 100) AS INTEGER))
				ON CONFLICT (kind, day, state, sub, decision) DO UPDATE SET n = n + excluded.n, amount_minor = amount_minor + excluded.amount_minor;
			END`,
		`CREATE TRIGGER recharges_count_delete AFTER DELETE ON recharges
			BEGIN
				INSERT INTO figure_counts VALUES ('recharge', date(OLD.created_at), OLD.state, OLD.currency, '', -1, -CAST(round(OLD.amount * 100) AS INTEGER))
				ON CONFLICT (kind, day, state, sub, decision) DO UPDATE SET n = n + excluded.n, amount_minor = amount_minor + excluded.amount_minor;
			END`,
		`INSERT INTO figure_counts SELECT 'recharge', date(created_at), state, currency, '', COUNT(*), COALESCE(SUM(CAST(round(amount * 100) AS INTEGER)), 0)
			FROM recharges GROUP BY 2, 3, 4, 5`,
		`CREATE TRIGGER documents_count_insert AFTER INSERT ON documents
			BEGIN
				INSERT INTO figure_counts VALUES ('document', date(NEW.created_at), NEW.state, '', NEW.review_decision, 1, 0)
				ON CONFLICT (kind, day, state, sub, decision) DO UPDATE SET n = n + excluded.n, amount_minor = amount_minor + excluded.amount_minor;
			END`,
		`CREATE TRIGGER documents_count_update AFTER UPDATE OF state, created_at, review_decision ON documents WHEN OLD.state IS NOT NEW.state OR OLD.created_at IS NOT NEW.created_at OR OLD.review_decision IS NOT NEW.review_decision
			BEGIN
				INSERT INTO figure_counts VALUES ('document', date(OLD.created_at), OLD.state, '', OLD.review_decision, -1, 0)
				ON CONFLICT (kind, day, state, sub, decision) DO UPDATE SET n = n + excluded.n, amount_minor = amount_minor + excluded.amount_minor;
				INSERT INTO figure_counts VALUES ('document', date(NEW.created_at), NEW.state, '', NEW.review_decision, 1, 0)
				ON CONFLICT (kind, day, state, sub, decision) DO UPDATE SET n = n + excluded.n, amount_minor = amount_minor + excluded.amount_minor;
			END`,
		`CREATE TRIGGER documents_count_delete AFTER DELETE ON documents
			BEGIN
				INSERT INTO figure_counts VALUES ('document', date(OLD.created_at), OLD.state, '', OLD.review_decision, -1, 0)
				ON CONFLICT (kind, day, state, sub, decision) DO UPDATE SET n = n + excluded.n, amount_minor = amount_minor + excluded.amount_minor;
			END`,
		`INSERT INTO figure_counts SELECT 'document', date(created_at), state, '', review_decision, COUNT(*), 0
			FROM documents GROUP BY 2, 3, 4, 5`,
		`CREATE TRIGGER verifications_count_insert AFTER INSERT ON verifications
			BEGIN
				INSERT INTO figure_counts VALUES ('verification', date(NEW.created_at), NEW.state, NEW.provider, NEW.review_decision, 1, 0)
				ON CONFLICT (kind, day, state, sub, decision) DO UPDATE SET n = n + excluded.n, amount_minor = amount_minor + excluded.amount_minor;
			END`,
		`CREATE TRIGGER verifications_count_update AFTER UPDATE OF state, created_at, provider, review_decision ON verifications WHEN OLD.state IS NOT NEW.state OR OLD.created_at IS NOT NEW.created_at OR OLD.provider IS NOT NEW.provider OR OLD.review_decision IS NOT NEW.review_decision
			BEGIN
				INSERT INTO figure_counts VALUES ('verification', date(OLD.created_at), OLD.state, OLD.provider, OLD.review_decision, -1, 0)
				ON CONFLICT (kind, day, state, sub, decision) DO UPDATE SET n = n + excluded.n, amount_minor = amount_minor + excluded.amount_minor;
				INSERT INTO figure_counts VALUES ('verification', date(NEW.created_at), NEW.state, NEW.provider, NEW.review_decision, 1, 0)
				ON CONFLICT (kind, day, state, sub, decision) DO UPDATE SET n = n + excluded.n, amount_minor = amount_minor + excluded.amount_minor;
			END`,
		`CREATE TRIGGER verifications_count_delete AFTER DELETE ON verifications
			BEGIN
				INSERT INTO figure_counts VALUES ('verification', date(OLD.created_at), OLD.state, OLD.provider, OLD.review_decision, -1, 0)
				ON CONFLICT (kind, day, state, sub, decision) DO UPDATE SET n = n + excluded.n, amount_minor = amount_minor + excluded.amount_minor;
			END`,
		`INSERT INTO figure_counts SELECT 'verification', date(created_at), state, provider, review_decision, COUNT(*), 0
			FROM verifications GROUP BY 2, 3, 4, 5`,
	}},
	{8, "dashboard: completion times kept by triggers", []string{
		// How long documents took from creation to completion, per UTC day
		// of completion, to the minute below 48 hours and to the hour above
		// (the dashboard shows no finer): the median of the last 30 days
		// reads a few rows per day instead of every completed document.
		`CREATE TABLE figure_durations (
			kind TEXT NOT NULL,
			day TEXT NOT NULL,
			minutes INTEGER NOT NULL,
			n INTEGER NOT NULL,
			PRIMARY KEY (kind, day, minutes)
		) WITHOUT ROWID`,
		`CREATE TRIGGER documents_duration_insert AFTER INSERT ON documents WHEN NEW.completed_at IS NOT NULL
			BEGIN
				INSERT INTO figure_durations SELECT 'document', date(NEW.completed_at), CASE WHEN (CAST(round((julianday(NEW.completed_at) - julianday(NEW.created_at)) * 1440) AS INTEGER)) < 2880 THEN (CAST(round((julianday(NEW.completed_at) - julianday(NEW.created_at)) * 1440) AS INTEGER)) ELSE ((CAST(round((julianday(NEW.completed_at) - julianday(NEW.created_at)) * 1440) AS INTEGER)) / 60) * 60 END, 1
				WHERE NEW.completed_at IS NOT NULL AND julianday(NEW.completed_at) >= julianday(NEW.created_at)
				ON CONFLICT (kind, day, minutes) DO UPDATE SET n = n + excluded.n;
			END`,
		`CREATE TRIGGER documents_duration_update AFTER UPDATE OF completed_at, created_at ON documents
			WHEN OLD.completed_at IS NOT NEW.completed_at OR OLD.created_at IS NOT NEW.created_at
			BEGIN
				INSERT INTO figure_durations SELECT 'document', date(OLD.completed_at), CASE WHEN (CAST(round((julianday(OLD.completed_at) - julianday(OLD.created_at)) * 1440) AS INTEGER)) < 2880 THEN (CAST(round((julianday(OLD.completed_at) - julianday(OLD.created_at)) * 1440) AS INTEGER)) ELSE ((CAST(round((julianday(OLD.completed_at) - julianday(OLD.created_at)) * 1440) AS INTEGER)) / 60) * 60 END, -1
				WHERE OLD.completed_at IS NOT NULL AND julianday(OLD.completed_at) >= julianday(OLD.created_at)
				ON CONFLICT (kind, day, minutes) DO UPDATE SET n = n + excluded.n;
				INSERT INTO figure_durations SELECT 'document', date(NEW.completed_at), CASE WHEN (CAST(round((julianday(NEW.completed_at) - julianday(NEW.created_at)) * 1440) AS INTEGER)) < 2880 THEN (CAST(round((julianday(NEW.completed_at) - julianday(NEW.created_at)) * 1440) AS INTEGER)) ELSE ((CAST(round((julianday(NEW.completed_at) - julianday(NEW.created_at)) * 1440) AS INTEGER)) / 60) * 60 END, 1
				WHERE NEW.completed_at IS NOT NULL AND julianday(NEW.completed_at) >= julianday(NEW.created_at)
				ON CONFLICT (kind, day, minutes) DO UPDATE SET n = n + excluded.n;
			END`,
		`CREATE TRIGGER documents_duration_delete AFTER DELETE ON documents WHEN OLD.completed_at IS NOT NULL
			BEGIN
				INSERT INTO figure_durations SELECT 'document', date(OLD.completed_at), CASE WHEN (CAST(round((julianday(OLD.completed_at) - julianday(OLD.created_at)) * 1440) AS INTEGER)) < 2880 THEN (CAST(round((julianday(OLD.completed_at) - julianday(OLD.created_at)) * 1440) AS INTEGER)) ELSE ((CAST(round((julianday(OLD.completed_at) - julianday(OLD.created_at)) * 1440) AS INTEGER)) / 60) * 60 END, -1
				WHERE OLD.completed_at IS NOT NULL AND julianday(OLD.completed_at) >= julianday(OLD.created_at)
				ON CONFLICT (kind, day, minutes) DO UPDATE SET n = n + excluded.n;
			END`,
		`INSERT INTO figure_durations SELECT 'document', date(completed_at), CASE WHEN (CAST(round((julianday(documents.completed_at) - julianday(documents.created_at)) * 1440) AS INTEGER)) < 2880 THEN (CAST(round((julianday(documents.completed_at) - julianday(documents.created_at)) * 1440) AS INTEGER)) ELSE ((CAST(round((julianday(documents.completed_at) - julianday(documents.created_at)) * 1440) AS INTEGER)) / 60) * 60 END, COUNT(*)
			FROM documents WHERE completed_at IS NOT NULL AND julianday(documents.completed_at) >= julianday(documents.created_at) GROUP BY 2, 3`,
	}},
	{9, "staff: two-factor sign-in", []string{
		// The secrets are sealed (AES-GCM) under a key kept outside this
		// table, so a copy of the users table alone yields no codes.
		// '' means none.
		`ALTER TABLE users ADD COLUMN totp_secret TEXT NOT NULL DEFAULT ''`,
		// A secret shown on the enrolment page, not yet confirmed by a code.
		`ALTER TABLE users ADD COLUMN totp_pending TEXT NOT NULL DEFAULT ''`,
		// The last 30-second step whose code was accepted: a code is taken
		// once, and never one older than it.
		`ALTER TABLE users ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE users ADD COLUMN totp_enabled_at DATETIME`,
		`CREATE TABLE recovery_codes (
			id INTEGER PRIMARY KEY,
			user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
			code_hash TEXT NOT NULL,
			used_at DATETIME,
			created_at DATETIME NOT NULL,
			UNIQUE (user_id, code_hash)
		)`,
	}},
	{10, "compliance casework: assignment, reasons, four-eyes", []string{
		// One case per record under review, made when someone takes,
		// is given or decides it. The record's review_decision stays the
		// effective decision; the case says who works on it and whether a
		// second officer still has to confirm.
		`CREATE TABLE review_cases (
			id INTEGER PRIMARY KEY,
			kind TEXT NOT NULL CHECK (kind IN ('document','verification')),
			record_id INTEGER NOT NULL,
			queued_at DATETIME NOT NULL,
			stage TEXT NOT NULL DEFAULT 'open' CHECK (stage IN ('open','second_review','closed')),
			assignee_id INTEGER REFERENCES users(id),
			assignee_email TEXT NOT NULL DEFAULT '',
			assigned_at DATETIME,
			decision TEXT NOT NULL DEFAULT '',
			reason TEXT NOT NULL DEFAULT '',
			note TEXT NOT NULL DEFAULT '',
			decided_by_id INTEGER REFERENCES users(id),
			decided_by_email TEXT NOT NULL DEFAULT '',
			decided_at DATETIME,
			second_outcome TEXT NOT NULL DEFAULT '',
			second_note TEXT NOT NULL DEFAULT '',
			second_by_id INTEGER REFERENCES users(id),
			second_by_email TEXT NOT NULL DEFAULT '',
			second_at DATETIME,
			updated_at DATETIME NOT NULL,
			UNIQUE (kind, record_id)
		)`,
		`CREATE INDEX review_cases_mine ON review_cases(kind, assignee_id, stage, queued_at, record_id)`,
		`CREATE INDEX review_cases_stage ON review_cases(kind, stage, decided_at, record_id)`,
		`ALTER TABLE documents ADD COLUMN compliance_reason TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE verifications ADD COLUMN compliance_reason TEXT NOT NULL DEFAULT ''`,
		// The lists filter by reason, newest first.
		`CREATE INDEX documents_compliance_reason ON documents(compliance_reason, id)`,
		`CREATE INDEX verifications_compliance_reason ON verifications(compliance_reason, id)`,
		`ALTER TABLE document_reviews ADD COLUMN reason TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE verification_reviews ADD COLUMN reason TEXT NOT NULL DEFAULT ''`,
	}},
	{11, "lists: sort recharges by amount", []string{
		// Each order a list offers is read from an index in that order,
		// with and without its state filter.
		`CREATE INDEX recharges_amount ON recharges(CAST(amount AS REAL), id)`,
		`CREATE INDEX recharges_state_amount ON recharges(state, CAST(amount AS REAL), id)`,
	}},
	{12, "lists: sort documents and verifications by their last change", []string{
		`CREATE INDEX documents_updated ON documents(updated_at, id)`,
		`CREATE INDEX documents_state_updated ON documents(state, updated_at, id)`,
		`CREATE INDEX verifications_updated ON verifications(updated_at, id)`,
		`CREATE INDEX verifications_state_updated ON verifications(state, updated_at, id)`,
		// The sorted text must be in one zone: rewrite any updated_at
		// that an earlier build wrote in the server's local zone (or
		// without one) as the driver writes a UTC time.
		normaliseUTC("documents"),
		normaliseUTC("verifications"),
	}},
	{13, "bulk actions: jobs and their records", []string{
		`CREATE TABLE bulk_jobs (
			id INTEGER PRIMARY KEY,
			kind TEXT NOT NULL CHECK (kind IN ('documents','verifications','recharges')),
			action TEXT NOT NULL CHECK (action IN ('refresh','assign')),
			assignee_id INTEGER REFERENCES users(id),
			assignee_email TEXT NOT NULL DEFAULT '',
			scope TEXT NOT NULL CHECK (scope IN ('selected','matching')),
			filter TEXT NOT NULL DEFAULT '',
			total INTEGER NOT NULL,
			created_by_id INTEGER NOT NULL REFERENCES users(id),
			created_by_email TEXT NOT NULL,
			created_by_role TEXT NOT NULL,
			created_at DATETIME NOT NULL,
			claimed_by TEXT NOT NULL DEFAULT '',
			lease_until DATETIME,
			finished_at DATETIME
		)`,
		`CREATE INDEX bulk_jobs_open ON bulk_jobs(id) WHERE finished_at IS NULL`,
		`CREATE INDEX bulk_jobs_creator ON bulk_jobs(created_by_id, id)`,
		`CREATE TABLE bulk_items (
			job_id INTEGER NOT NULL REFERENCES bulk_jobs(id),
			record_id INTEGER NOT NULL,
			outcome TEXT NOT NULL DEFAULT '' CHECK (outcome IN ('','succeeded','failed')),
			reason TEXT NOT NULL DEFAULT '',
			done_at DATETIME,
			PRIMARY KEY (job_id, record_id)
		)`,
		`CREATE INDEX bulk_items_outcome ON bulk_items(job_id, outcome, record_id)`,
	}},
	// SQLite cannot change a CHECK in place: both tables are rebuilt, the
	// child first out and last in, so no foreign key is ever left dangling.
	{14, "bulk actions: resending webhooks in the sandbox", []string{
		`CREATE TABLE bulk_jobs_v14 (
			id INTEGER PRIMARY KEY,
			kind TEXT NOT NULL CHECK (kind IN ('documents','verifications','recharges')),
			action TEXT NOT NULL CHECK (action IN ('refresh','assign','resend_webhook')),
			assignee_id INTEGER REFERENCES users(id),
			assignee_email TEXT NOT NULL DEFAULT '',
			scope TEXT NOT NULL CHECK (scope IN ('selected','matching')),
			filter TEXT NOT NULL DEFAULT '',
			total INTEGER NOT NULL,
			created_by_id INTEGER NOT NULL REFERENCES users(id),
			created_by_email TEXT NOT NULL,
			created_by_role TEXT NOT NULL,
			created_at DATETIME NOT NULL,
			claimed_by TEXT NOT NULL DEFAULT '',
			lease_until DATETIME,
			finished_at DATETIME
		)`,
		`INSERT INTO bulk_jobs_v14 SELECT id, kind, action, assignee_id, assignee_email, scope, filter, total,
			created_by_id, created_by_email, created_by_role, created_at, claimed_by, lease_until, finished_at FROM bulk_jobs`,
		`CREATE TABLE bulk_items_v14 (
			job_id INTEGER NOT NULL REFERENCES bulk_jobs_v14(id),
			record_id INTEGER NOT NULL,
			outcome TEXT NOT NULL DEFAULT '' CHECK (outcome IN ('','succeeded','failed')),
			reason TEXT NOT NULL DEFAULT '',
			done_at DATETIME,
			PRIMARY KEY (job_id, record_id)
		)`,
		`INSERT INTO bulk_items_v14 SELECT job_id, record_id, outcome, reason, done_at FROM bulk_items`,
		`DROP TABLE bulk_items`,
		`DROP TABLE bulk_jobs`,
		// Renaming rewrites bulk_items_v14's reference to the new name.
		`ALTER TABLE bulk_jobs_v14 RENAME TO bulk_jobs`,
		`ALTER TABLE bulk_items_v14 RENAME TO bulk_items`,
		`CREATE INDEX bulk_jobs_open ON bulk_jobs(id) WHERE finished_at IS NULL`,
		`CREATE INDEX bulk_jobs_creator ON bulk_jobs(created_by_id, id)`,
		`CREATE INDEX bulk_items_outcome ON bulk_items(job_id, outcome, record_id)`,
	}},
}

// SchemaVersion is the newest schema this build knows.
func SchemaVersion() int { return migrations[len(migrations)-1].version }

// Migrate applies pending migrations, each in its own transaction together
// with its row in schema_migrations, and refuses a database written by a newer
// build: running old code on a newer schema is how data gets half-written.
// On PostgreSQL it holds an advisory lock from reading the version to the
// last migration, so replicas started together migrate once and none reads
// a version another is about to change.
func Migrate(ctx context.Context, db *gorm.DB) error {
	list, ddl := migrations, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY,
		name TEXT NOT NULL,
		applied_at DATETIME NOT NULL
	)`
	if DialectOf(db).Postgres() {
		list, ddl = postgresMigrations, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY,
		name TEXT NOT NULL,
		applied_at TIMESTAMPTZ NOT NULL
	)`
	}
	return WithLock(ctx, db, "portal: schema migrations", func() error {
		conn := db.WithContext(ctx)
		if err := conn.Exec(ddl).Error; err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		var current int
		if err := conn.Raw("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&current).Error; err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if current > SchemaVersion() {
			return fmt.Errorf("database schema version %d is newer than this build knows (%d): run a newer portal", current, SchemaVersion())
		}
		for _, m := range list {
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
	})
}

// normaliseUTC rewrites table's updated_at that is not already UTC text
// as UTC, in the driver's format ("2006-01-02 15:04:05.999+00:00", no
// trailing zeros), to millisecond precision: SQLite's date
// functions keep no finer, and the same instant in a zone no longer sorts
// as text among the others.
func normaliseUTC(table string) string {
	return `UPDATE ` + table + ` SET updated_at = rtrim(rtrim(strftime('%Y-%m-%d %H:%M:%f', updated_at), '0'), '.') || '+00:00'
		WHERE updated_at NOT LIKE '%+00:00'`
}
