package sandbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// A Store is where the simulators keep their records: a provider does not
// forget its verifications when we restart, so neither may its simulator.
// It is one SQLite file of its own (sandbox.db beside the portal's
// database, or the standalone sandbox's file), never the portal's tables: a
// provider's database is not ours.
//
// Records are JSON bodies keyed by (simulator, kind, id), read and written
// per request, so start-up reads nothing and memory does not grow with the
// number of records. A record that moves by itself (a recharge that
// settles, a document that signs itself, a webhook to deliver) carries the
// time it is next due, indexed, so a simulator finds the due ones without
// scanning.
//
// The store uses one connection. Every read-modify-write of a simulator runs
// inside Update, which therefore cannot interleave with another; a Tx must
// not be used outside its callback, and nothing inside the callback may use
// the Bucket itself (it would wait for the one connection forever). A file
// store is opened in SQLite's exclusive locking mode: a second process that
// opens the same file gets a clear error instead of a second copy of the
// providers' state.
type Store struct {
	db   *sql.DB
	path string // "" for a memory store

	once    sync.Once
	initErr error
}

// OpenStore opens (creating if needed) the store file at path and prepares
// its tables.
func OpenStore(ctx context.Context, path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sandbox store: create folder: %w", err)
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	// A sandbox must survive a crash of the process, which WAL with
	// synchronous=NORMAL does; a power cut may lose the last moments of
	// simulated upstream state, which is no one's money.
	q.Set("_synchronous", "NORMAL")
	q.Set("_busy_timeout", "2000")
	q.Set("_locking_mode", "EXCLUSIVE")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite3", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sandbox store: open %s: %w", path, err)
	}
	s := newStore(db, path)
	if err := s.ready(ctx); err != nil {
		_ = db.Close()
		var se sqlite3.Error
		if errors.As(err, &se) && se.Code == sqlite3.ErrBusy {
			return nil, fmt.Errorf("sandbox store: %s is in use by another process (one sandbox per store file): %w", path, err)
		}
		return nil, err
	}
	return s, nil
}

var memoryStores atomic.Int64

// MemoryStore returns a store that lives as long as the process: what a
// simulator built without a store (a unit test) uses. Opening it cannot
// fail; a failure to set it up is returned by its first operation.
func MemoryStore() *Store {
	name := fmt.Sprintf("file:sandbox-memory-%d?mode=memory&_txlock=immediate", memoryStores.Add(1))
	db, err := sql.Open("sqlite3", name)
	s := newStore(db, "")
	if err != nil {
		s.once.Do(func() { s.initErr = fmt.Errorf("sandbox store: open memory store: %w", err) })
	}
	return s
}

func newStore(db *sql.DB, path string) *Store {
	if db != nil {
		// One connection: a memory database lives in its connection, and
		// the exclusive lock of a file belongs to one connection too.
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
	}
	return &Store{db: db, path: path}
}

// Path is the store's file, "" for a memory store.
func (s *Store) Path() string { return s.path }

// Close closes the store.
func (s *Store) Close() error {
	if s.db == nil {
		return nil
	}
	return s.db.Close()
}

const storeSchema = `
CREATE TABLE IF NOT EXISTS records (
	sim  TEXT NOT NULL,
	kind TEXT NOT NULL,
	id   TEXT NOT NULL,
	due  INTEGER, -- unix milliseconds when the record next moves by itself
	body BLOB NOT NULL,
	PRIMARY KEY (sim, kind, id)
);
CREATE INDEX IF NOT EXISTS records_due ON records (sim, kind, due) WHERE due IS NOT NULL;
CREATE TABLE IF NOT EXISTS counters (
	sim   TEXT NOT NULL,
	name  TEXT NOT NULL,
	value INTEGER NOT NULL,
	PRIMARY KEY (sim, name)
);`

func (s *Store) ready(ctx context.Context) error {
	s.once.Do(func() {
		if _, err := s.db.ExecContext(ctx, storeSchema); err != nil {
			s.initErr = fmt.Errorf("sandbox store: prepare tables: %w", err)
		}
	})
	return s.initErr
}

// Bucket is simulator sim's part of the store.
func (s *Store) Bucket(sim string) *Bucket { return &Bucket{st: s, sim: sim} }

// A Bucket holds one simulator's records.
type Bucket struct {
	st  *Store
	sim string
}

// Store is the store the bucket belongs to.
func (b *Bucket) Store() *Store { return b.st }

// Update runs f in one write transaction: all of f's writes land, or none.
// f's error is returned as it is.
func (b *Bucket) Update(ctx context.Context, f func(tx *Tx) error) error {
	if err := b.st.ready(ctx); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sandbox store: begin: %w", err)
	}
	// ctx is not the transaction's: database/sql rolls back a transaction
	// whose context ends and throws its connection away, and the one
	// connection of a memory store is its whole database.
	sqlTx, err := b.st.db.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		return fmt.Errorf("sandbox store: begin: %w", err)
	}
	tx := &Tx{q: sqlTx, sim: b.sim}
	if err := f(tx); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("sandbox store: commit: %w", err)
	}
	for _, after := range tx.after {
		after()
	}
	return nil
}

// Get reads one record outside a transaction.
func (b *Bucket) Get(ctx context.Context, kind, id string, v any) (found bool, err error) {
	err = b.Update(ctx, func(tx *Tx) error {
		found, err = tx.Get(kind, id, v)
		return err
	})
	return found, err
}

type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// A Tx reads and writes one simulator's records inside Update. Its
// statements do not take the request's context: the store is local and
// fast, and a client that hangs up must not cut a read-modify-write in half.
type Tx struct {
	q     querier
	sim   string
	after []func()
}

// AfterCommit has f run once the transaction has committed, outside it
// (never after a rollback): a worker woken from inside could look before
// the write is there, and nothing inside may wait for another goroutine
// that needs the store's one connection.
func (t *Tx) AfterCommit(f func()) { t.after = append(t.after, f) }

// ErrExists is returned by Insert when the id is taken.
var ErrExists = errors.New("sandbox store: record exists")

var bg = context.Background() // see Tx

// Get decodes record (kind, id) into v. found is false, and v untouched,
// when there is none.
func (t *Tx) Get(kind, id string, v any) (found bool, err error) {
	var body []byte
	err = t.q.QueryRowContext(bg, `SELECT body FROM records WHERE sim = ? AND kind = ? AND id = ?`, t.sim, kind, id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sandbox store: read %s %s: %w", kind, id, err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return false, fmt.Errorf("sandbox store: decode %s %s: %w", kind, id, err)
	}
	return true, nil
}

// Put writes record (kind, id), replacing any earlier body. due is when the
// record next moves by itself; the zero time means never.
func (t *Tx) Put(kind, id string, v any, due time.Time) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("sandbox store: encode %s %s: %w", kind, id, err)
	}
	_, err = t.q.ExecContext(bg, `INSERT INTO records (sim, kind, id, due, body) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (sim, kind, id) DO UPDATE SET due = excluded.due, body = excluded.body`,
		t.sim, kind, id, dueValue(due), body)
	if err != nil {
		return fmt.Errorf("sandbox store: write %s %s: %w", kind, id, err)
	}
	return nil
}

// Insert writes a new record (kind, id), or returns ErrExists when the id
// is taken: how a unique key (a phone number, an idempotency key) is kept.
func (t *Tx) Insert(kind, id string, v any, due time.Time) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("sandbox store: encode %s %s: %w", kind, id, err)
	}
	res, err := t.q.ExecContext(bg, `INSERT INTO records (sim, kind, id, due, body) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (sim, kind, id) DO NOTHING`, t.sim, kind, id, dueValue(due), body)
	if err != nil {
		return fmt.Errorf("sandbox store: write %s %s: %w", kind, id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: %s %s", ErrExists, kind, id)
	}
	return nil
}

// Delete removes record (kind, id) if there is one.
func (t *Tx) Delete(kind, id string) error {
	if _, err := t.q.ExecContext(bg, `DELETE FROM records WHERE sim = ? AND kind = ? AND id = ?`, t.sim, kind, id); err != nil {
		return fmt.Errorf("sandbox store: delete %s %s: %w", kind, id, err)
	}
	return nil
}

// Due returns the ids of at most limit records of kind due at or before
// now, the earliest due first.
func (t *Tx) Due(kind string, now time.Time, limit int) ([]string, error) {
	rows, err := t.q.QueryContext(bg, `SELECT id FROM records WHERE sim = ? AND kind = ? AND due IS NOT NULL AND due <= ?
		ORDER BY due, id LIMIT ?`, t.sim, kind, now.UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("sandbox store: due %s: %w", kind, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("sandbox store: due %s: %w", kind, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sandbox store: due %s: %w", kind, err)
	}
	return ids, nil
}

// NextDue is the earliest due time of a record of kind; ok is false when
// none is scheduled.
func (t *Tx) NextDue(kind string) (at time.Time, ok bool, err error) {
	var ms sql.NullInt64
	err = t.q.QueryRowContext(bg, `SELECT MIN(due) FROM records WHERE sim = ? AND kind = ? AND due IS NOT NULL`, t.sim, kind).Scan(&ms)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("sandbox store: next due %s: %w", kind, err)
	}
	if !ms.Valid {
		return time.Time{}, false, nil
	}
	return time.UnixMilli(ms.Int64), true, nil
}

// Each calls f with the body of every record of kind, newest first (the
// latest written first when newestFirst, else the oldest written first),
// at most limit of them (0 means all). Records are ordered by when they
// were first written.
func (t *Tx) Each(kind string, newestFirst bool, limit int, f func(id string, body []byte) error) error {
	order := "ASC"
	if newestFirst {
		order = "DESC"
	}
	if limit <= 0 {
		limit = -1
	}
	rows, err := t.q.QueryContext(bg, `SELECT id, body FROM records WHERE sim = ? AND kind = ? ORDER BY rowid `+order+` LIMIT ?`, t.sim, kind, limit)
	if err != nil {
		return fmt.Errorf("sandbox store: list %s: %w", kind, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var body []byte
		if err := rows.Scan(&id, &body); err != nil {
			return fmt.Errorf("sandbox store: list %s: %w", kind, err)
		}
		if err := f(id, body); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sandbox store: list %s: %w", kind, err)
	}
	return nil
}

// Count is the number of records of kind.
func (t *Tx) Count(kind string) (int, error) {
	var n int
	if err := t.q.QueryRowContext(bg, `SELECT COUNT(*) FROM records WHERE sim = ? AND kind = ?`, t.sim, kind).Scan(&n); err != nil {
		return 0, fmt.Errorf("sandbox store: count %s: %w", kind, err)
	}
	return n, nil
}

// Add adds delta to counter name (which starts at 0) and returns the new
// value: id sequences and call counts that must survive a restart.
func (t *Tx) Add(name string, delta int64) (int64, error) {
	var v int64
	err := t.q.QueryRowContext(bg, `INSERT INTO counters (sim, name, value) VALUES (?, ?, ?)
		ON CONFLICT (sim, name) DO UPDATE SET value = value + excluded.value RETURNING value`, t.sim, name, delta).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("sandbox store: counter %s: %w", name, err)
	}
	return v, nil
}

func dueValue(due time.Time) any {
	if due.IsZero() {
		return nil
	}
	return due.UnixMilli()
}
