package pawapasssim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"portal/services/sandbox"
)

// What the simulator keeps in its bucket of the sandbox store.
const (
	// kindVerification records are verifications, keyed by id, due when
	// the clock next moves them (AutoAdvance, expiry).
	kindVerification = "verification"

	counterCreateCalls = "create_calls"
)

// dueBatch is how many due verifications one catch-up step reads: the
// background loop commits after each, so requests are not held up behind a
// long catch-up (after a restart, say).
const dueBatch = 100

// txn is one store transaction of the simulator.
type txn struct {
	tx  *sandbox.Tx
	now time.Time // the simulator's clock when the transaction began
}

// update runs f in one store transaction.
func (s *Sim) update(ctx context.Context, f func(t *txn) error) error {
	return s.bucket.Update(ctx, func(tx *sandbox.Tx) error {
		return f(&txn{tx: tx, now: s.now()})
	})
}

// read returns verification id as stored, nil when there is none.
func read(t *txn, id string) (*verification, error) {
	var v verification
	found, err := t.tx.Get(kindVerification, id, &v)
	if err != nil {
		return nil, fmt.Errorf("pawapasssim: read verification: %w", err)
	}
	if !found {
		return nil, nil
	}
	return &v, nil
}

// load returns verification id after applying the clock to it (saving it
// when that moved it), nil when there is none.
func (s *Sim) load(t *txn, id string) (*verification, error) {
	v, err := read(t, id)
	if err != nil || v == nil {
		return nil, err
	}
	if s.applyClock(v, t.now) {
		if err := s.save(t, v); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// save writes v and queues the webhooks of its change.
func (s *Sim) save(t *txn, v *verification) error {
	if err := s.queue(t, v); err != nil {
		return err
	}
	if err := t.tx.Put(kindVerification, v.ID, v, v.storeDue()); err != nil {
		return fmt.Errorf("pawapasssim: save verification: %w", err)
	}
	return nil
}

// insert writes a new verification under a fresh id; pageBase is the URL
// its hosted page's id is appended to.
func (s *Sim) insert(t *txn, v *verification, pageBase string) error {
	for {
		v.ID = newID()
		v.URL = pageBase + v.ID
		err := t.tx.Insert(kindVerification, v.ID, v, v.storeDue())
		if errors.Is(err, sandbox.ErrExists) {
			continue // 62^8 ids: a clash is rare, and the next one is free
		}
		if err != nil {
			return fmt.Errorf("pawapasssim: create verification: %w", err)
		}
		return nil
	}
}

// advanceDue applies the clock to at most limit of the verifications due
// by t.now and reports how many of them moved.
func (s *Sim) advanceDue(t *txn, limit int) (moved int, err error) {
	ids, err := t.tx.Due(kindVerification, t.now, limit)
	if err != nil {
		return 0, fmt.Errorf("pawapasssim: due verifications: %w", err)
	}
	for _, id := range ids {
		v, err := read(t, id)
		if err != nil {
			return moved, err
		}
		if v == nil || !s.applyClock(v, t.now) {
			continue
		}
		if err := s.save(t, v); err != nil {
			return moved, err
		}
		moved++
	}
	return moved, nil
}

// catchUp applies the clock to every due verification inside one
// transaction, for a read that filters on status. A batch in which not
// everything moved is the last: whatever is left would only be found
// again.
func (s *Sim) catchUp(t *txn) error {
	for {
		moved, err := s.advanceDue(t, dueBatch)
		if err != nil || moved < dueBatch {
			return err
		}
	}
}

// advanceAll applies the clock to every due verification, a transaction
// per batch, so that a long catch-up (after a restart, say) does not hold
// the store's one connection.
func (s *Sim) advanceAll(ctx context.Context) error {
	for {
		var moved int
		err := s.update(ctx, func(t *txn) error {
			var err error
			moved, err = s.advanceDue(t, dueBatch)
			return err
		})
		if err != nil || moved < dueBatch {
			return err
		}
	}
}

// tick is the background loop's turn: what came due moves, and its
// webhooks go out, without anyone reading.
func (s *Sim) tick() {
	if err := s.advanceAll(s.ctx); err != nil && s.ctx.Err() == nil {
		s.logger.Error("pawapasssim: applying the clock", "error", err)
	}
}

// listKey is what a filtered list needs of a stored verification: decoding
// only this is much cheaper than the whole record.
type listKey struct {
	ID         string `json:"id"`
	ExternalID string `json:"externalId"`
	Status     string `json:"status"`
}

func decodeVerification(body []byte) (*verification, error) {
	var v verification
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("pawapasssim: decode verification: %w", err)
	}
	return &v, nil
}
