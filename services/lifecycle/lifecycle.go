// Package lifecycle is the one way a record kind (recharge, document,
// verification) changes state: a move its table lists, made conditionally
// on the state the caller saw, written together with its timeline event and
// audit entry in one transaction. It also holds the one reconciler loop and
// the one resolve-unknown flow, so a rule about when a record may move is
// made once for every kind.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"time"

	"gorm.io/gorm"

	"portal/services"
	"portal/services/upstream"
)

// State is a record kind's state type.
type State interface {
	~string
	Final() bool
}

// Table lists every move a kind may make. Nothing leaves a final state,
// whatever the table says.
type Table[S State] map[S][]S

// Allows reports whether a record may move from one state to another.
func (t Table[S]) Allows(from, to S) bool {
	return !from.Final() && slices.Contains(t[from], to)
}

// Problems lists what is wrong with a table over all of a kind's states: a
// move out of a final state or to the same state, a state the kind does not
// have, a non-final state with no way out (a record stuck for ever).
func (t Table[S]) Problems(all []S) []string {
	var out []string
	for from, tos := range t {
		if !slices.Contains(all, from) {
			out = append(out, fmt.Sprintf("%s is not a state", from))
		}
		if from.Final() && len(tos) > 0 {
			out = append(out, fmt.Sprintf("%s is final but lists moves", from))
		}
		for _, to := range tos {
			if to == from {
				out = append(out, fmt.Sprintf("%s → %s moves to itself", from, to))
			}
			if !slices.Contains(all, to) {
				out = append(out, fmt.Sprintf("%s → %s: %s is not a state", from, to, to))
			}
		}
	}
	for _, s := range all {
		if !s.Final() && len(t[s]) == 0 {
			out = append(out, fmt.Sprintf("%s has no way out", s))
		}
	}
	slices.Sort(out)
	return out
}

// ErrNoMove is a move the kind's table does not list: a bug in the caller,
// never written.
var ErrNoMove = errors.New("move not in the transition table")

// ErrMoved is a record that was not in the state the move expected (any
// more): another request, replica or webhook moved it first.
var ErrMoved = errors.New("record is not in the expected state")

func (t Table[S]) check(from []S, to S) error {
	if len(from) == 0 {
		return fmt.Errorf("%w: no from state for → %s", ErrNoMove, to)
	}
	for _, f := range from {
		if !t.Allows(f, to) {
			return fmt.Errorf("%w: %s → %s", ErrNoMove, f, to)
		}
	}
	return nil
}

// A change is a kind's typed set of column writes: a struct whose fields
// are pointers named like the model's fields; a nil field leaves its column
// as it is. Its columns come from the model's own schema, so a change can
// only name columns the model has, and no column name is spelt twice.
type Change any

// columns turns c into column writes for model's table.
func columns(tx *gorm.DB, model any, c Change) (map[string]any, error) {
	cols := map[string]any{}
	if c == nil {
		return cols, nil
	}
	stmt := &gorm.Statement{DB: tx}
	if err := stmt.Parse(model); err != nil {
		return nil, err
	}
	v := reflect.ValueOf(c)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return cols, nil
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil, fmt.Errorf("a change is a struct, not %s", v.Kind())
	}
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		f := v.Field(i)
		if f.Kind() != reflect.Pointer {
			return nil, fmt.Errorf("change field %s is not a pointer", name)
		}
		if f.IsNil() {
			continue
		}
		sf := stmt.Schema.LookUpField(name)
		if sf == nil || sf.DBName == "" {
			return nil, fmt.Errorf("change field %s is no column of %s", name, stmt.Schema.Table)
		}
		cols[sf.DBName] = f.Elem().Interface()
	}
	return cols, nil
}

// Kind is one record kind's lifecycle.
type Kind[S State] struct {
	// Name is the audit subject's prefix and the error texts' ("recharge").
	Name  string
	Table Table[S]
	// Model returns a pointer to a zero model value: its table is the kind's.
	Model func() any
	// Entering adds to cols what entering a state means for the row itself
	// (no next check once final, a completion time, ...); may be nil.
	Entering func(to S, now time.Time, cols map[string]any)
	// Event is the timeline row of a move, from the state the row was in.
	Event func(m Move[S], from S, at time.Time) any
}

// Move is one state change.
type Move[S State] struct {
	ID     uint
	From   []S // the states the caller saw; the row must still be in one
	To     S
	Change Change // the columns written with the move; may be nil
	// UpstreamStatus is the provider's word for the new state, for the
	// timeline; may be empty.
	UpstreamStatus string
	Note           string
	// Also runs in the transaction after the row moved and before its
	// timeline event, only if it moved.
	Also func(tx *gorm.DB) error
	// Audit, when set, is written in the same transaction.
	Audit *Audit
	// Claim, when set, is the claim the move takes (queued → submitting).
	Claim *Claim
}

// Audit is who asked for a move and why.
type Audit struct {
	Actor   services.Actor
	Action  string
	Details string
}

// Subject is the audit subject of one record: "recharge:12".
func (k *Kind[S]) Subject(id uint) string {
	return k.Name + ":" + strconv.FormatUint(uint64(id), 10)
}

// Transition makes m if the row is still in one of m.From. The state, the
// columns, the timeline event and the audit entry commit together or not
// at all. It reports whether this call moved the row; a move the table does
// not list is refused with ErrNoMove before anything is read.
func (k *Kind[S]) Transition(ctx context.Context, db *gorm.DB, now time.Time, m Move[S]) (bool, error) {
	if err := k.Table.check(m.From, m.To); err != nil {
		return false, fmt.Errorf("%ss: %d: %w", k.Name, m.ID, err)
	}
	now = now.UTC()
	moved := false
	err := services.WithTx(ctx, db, func(tx *gorm.DB) error {
		var current []S
		if err := tx.Model(k.Model()).Where("id = ?", m.ID).Limit(1).Pluck("state", &current).Error; err != nil {
			return err
		}
		if len(current) == 0 {
			return gorm.ErrRecordNotFound
		}
		cols, err := columns(tx, k.Model(), m.Change)
		if err != nil {
			return err
		}
		cols["state"], cols["updated_at"] = m.To, now
		if m.Claim != nil {
			cols["claimed_by"], cols["lease_until"] = m.Claim.By, m.Claim.Until
		}
		if k.Entering != nil {
			k.Entering(m.To, now, cols)
		}
		res := tx.Model(k.Model()).Where("id = ? AND state IN ?", m.ID, m.From).Updates(cols)
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		moved = true
		if m.Also != nil {
			if err := m.Also(tx); err != nil {
				return err
			}
		}
		if err := tx.Create(k.Event(m, current[0], now)).Error; err != nil {
			return err
		}
		if m.Audit != nil {
			return services.Audit(tx, now, m.Audit.Actor, m.Audit.Action, k.Subject(m.ID), m.Audit.Details)
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("%ss: %d → %s: %w", k.Name, m.ID, m.To, err)
	}
	return moved, nil
}

// Update writes c to a row still in one of states, without moving it, and
// runs also in the same transaction if it did. It reports whether it did.
func (k *Kind[S]) Update(ctx context.Context, db *gorm.DB, now time.Time, id uint, states []S, c Change, also func(tx *gorm.DB) error) (bool, error) {
	done := false
	err := services.WithTx(ctx, db, func(tx *gorm.DB) error {
		cols, err := columns(tx, k.Model(), c)
		if err != nil {
			return err
		}
		if len(cols) == 0 {
			return nil
		}
		cols["updated_at"] = now.UTC()
		res := tx.Model(k.Model()).Where("id = ? AND state IN ?", id, states).Updates(cols)
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		done = true
		if also != nil {
			return also(tx)
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("%ss: update %d: %w", k.Name, id, err)
	}
	return done, nil
}

// Resolve is the one resolve-unknown flow: a person who checked with the
// provider moves a record out of the unknown state, audited. It returns
// ErrMoved when the record is not unknown (any more), and whatever the
// table refuses as ErrNoMove.
func (k *Kind[S]) Resolve(ctx context.Context, db *gorm.DB, now time.Time, unknown S, m Move[S]) error {
	m.From = []S{unknown}
	if m.Audit == nil {
		return fmt.Errorf("%ss: resolving %d needs an audit entry", k.Name, m.ID)
	}
	moved, err := k.Transition(ctx, db, now, m)
	if err != nil {
		return err
	}
	if !moved {
		return ErrMoved
	}
	return nil
}

// CheckSchedule is when a reconciler looks at a record again: the shared
// retry policy's doubling from first, capped at most, ±20 % so records
// created together don't poll together forever.
func CheckSchedule(first, most time.Duration) func(attempt int) time.Duration {
	r := upstream.Retry{Base: first, Max: most, Jitter: 0.2}
	return r.Delay
}

// Step is one part of a reconciler's round: it returns how many records
// it looked at.
type Step struct {
	Name string
	Run  func(context.Context) (int, error)
}

// RunReconciler runs every step now, then again every tick or when wake
// fires (a webhook arrived, say; nil never fires), until ctx ends. A step
// that fails is logged and the others still run.
func RunReconciler(ctx context.Context, tick time.Duration, wake <-chan struct{}, log *slog.Logger, steps ...Step) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		for _, st := range steps {
			if _, err := st.Run(ctx); err != nil && ctx.Err() == nil {
				log.Error(st.Name, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		}
	}
}
