package passportreadersim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"portal/services/sandbox"
)

// Record kinds and counters in the simulator's bucket of the sandbox store.
// A session is one record; its token has a record of its own so the /open
// page finds the session without a scan. The callbacks are the outbox's
// (sandbox.Outbox), in the same bucket.
const (
	kindSession = "session"
	kindToken   = "token"

	counterCreateCalls = "create_calls"
)

// requestDueBatch is how many due sessions a request moves before doing its
// own work: the sweeper does the rest, so a request stays quick after a long
// downtime, yet a test that moves the clock sees what it caused at once.
const requestDueBatch = 20

// sweepDueBatch is how many due sessions one sweeper transaction moves.
const sweepDueBatch = 100

// tokenRecord finds a session by its token.
type tokenRecord struct {
	SessionID int64 `json:"session_id"`
}

// op is one read-modify-write of the store: what Sim.update hands its
// function.
type op struct {
	tx  *sandbox.Tx
	now time.Time
}

func key(id int64) string { return strconv.FormatInt(id, 10) }

// dueAt rounds t up to the store's millisecond: a record found due is then
// never early, so moving it always does something and a backoff is never
// cut short.
func dueAt(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	ms := t.Truncate(time.Millisecond)
	if ms.Before(t) {
		ms = ms.Add(time.Millisecond)
	}
	return ms
}

// update runs f in one store transaction, after applying what the clock
// says has happened to a few due sessions. f's error rolls everything back, so domain
// refusals are not returned through it: a lazily applied expiry must stay.
func (s *Sim) update(ctx context.Context, f func(o *op) error) error {
	return s.transact(ctx, func(o *op) error {
		if _, err := s.applyDue(o, requestDueBatch); err != nil {
			return err
		}
		return f(o)
	})
}

// transact is update without the due sessions: what the sweeper uses.
func (s *Sim) transact(ctx context.Context, f func(o *op) error) error {
	return s.bucket.Update(ctx, func(tx *sandbox.Tx) error {
		return f(&op{tx: tx, now: s.now()})
	})
}

// applyDue moves at most limit sessions whose due time has come and
// returns how many it found.
func (s *Sim) applyDue(o *op, limit int) (int, error) {
	ids, err := o.tx.Due(kindSession, o.now, limit)
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		var rec sessionRecord
		found, err := o.tx.Get(kindSession, id, &rec)
		if err != nil {
			return 0, err
		}
		if !found {
			continue
		}
		s.advance(&rec, o.now)
		// Written even when nothing moved: its due is recomputed, so a
		// record due under other Options (AutoAdvance changed across a
		// restart) is not found due again and again.
		if err := s.put(o, &rec); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

// load reads session id and applies the clock to it. The caller saves it.
func (s *Sim) load(o *op, id int64) (*sessionRecord, bool, error) {
	var rec sessionRecord
	found, err := o.tx.Get(kindSession, key(id), &rec)
	if err != nil || !found {
		return nil, false, err
	}
	s.advance(&rec, o.now)
	return &rec, true, nil
}

// loadByToken is load for the token session.create answered.
func (s *Sim) loadByToken(o *op, token string) (*sessionRecord, bool, error) {
	if token == "" {
		return nil, false, nil
	}
	var t tokenRecord
	found, err := o.tx.Get(kindToken, token, &t)
	if err != nil || !found {
		return nil, false, err
	}
	return s.load(o, t.SessionID)
}

// save writes rec if anything changed since it was read.
func (s *Sim) save(o *op, rec *sessionRecord) error {
	if rec == nil || !rec.dirty {
		return nil
	}
	return s.put(o, rec)
}

// put queues rec's new callbacks in the outbox and writes rec with its
// next due time.
func (s *Sim) put(o *op, rec *sessionRecord) error {
	for _, cb := range rec.fresh {
		if err := s.enqueue(o, rec, cb); err != nil {
			return err
		}
	}
	rec.fresh, rec.dirty = nil, false
	return o.tx.Put(kindSession, key(rec.ID), rec, s.sessionDue(rec))
}

// sessionDue is when rec next moves by itself: its next AutoAdvance step
// or its expiry, whichever is first; never once it is final.
func (s *Sim) sessionDue(rec *sessionRecord) time.Time {
	if IsFinal(rec.State) {
		return time.Time{}
	}
	due := rec.Expires
	if at, ok := s.autoDue(rec); ok && at.Before(due) {
		due = at
	}
	return dueAt(due)
}

// errNameInternal is the error_name of a store failure. [ours]
const errNameInternal = "InternalError"

// storeFailed answers a request whose store read or write failed, in the
// API's error shape, and logs why: the message never shows the cause.
func (s *Sim) storeFailed(w http.ResponseWriter, what string, err error) {
	s.logger.Error("passportreadersim: store failed", "during", what, "error", err)
	writeError(w, &apiError{http.StatusInternalServerError, errNameInternal,
		"The sandbox could not read or write its state; try again"})
}

// isDomainError tells a refusal of the action (answered as the caller's
// mistake) from a failure of the store (answered as ours).
func isDomainError(err error) bool {
	return errors.Is(err, ErrUnknownSession) || errors.Is(err, ErrWrongState) ||
		errors.Is(err, ErrNoCallbackURL) || errors.Is(err, ErrClosed) || errors.Is(err, ErrInvalidIdentity)
}

func storeError(what string, err error) error {
	return fmt.Errorf("passportreadersim: %s: %w", what, err)
}
