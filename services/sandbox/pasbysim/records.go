package pasbysim

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"portal/services/sandbox"
)

// Record kinds in the simulator's bucket of the sandbox store.
const (
	// kindDoc is a document, keyed by its doc_ id. Its due is when it next
	// moves by itself (an AutoSign step or expiry); none once final.
	kindDoc = "doc"
	// kindFlow is a signee's signature flow request, keyed by its req_ id;
	// the body is the owning document's id, so ping, polling, SSE and
	// cancel find the document of either kind of id.
	kindFlow = "flow"
	// kindKeys holds the simulator's keys (one record, idKeys).
	kindKeys = "keys"
	idKeys   = "v1"
)

// Counters.
const (
	counterSigning  = "create_signing"
	counterReview   = "create_review"
	counterRejected = "create_rejected"
)

// advanceBatch is how many other due documents each store transaction
// moves along besides the ones it reads, so that documents nobody reads
// still send their AutoSign webhooks at about their time (as the whole
// scan of the in-memory simulator did), without one request paying for a
// backlog. The worker drains the rest.
const advanceBatch = 16

// ceilMilli rounds t up to the store's millisecond: a record found due at
// a millisecond is then never early, so moving it always moves its due.
func ceilMilli(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	if r := t.Truncate(time.Millisecond); !r.Equal(t) {
		return r.Add(time.Millisecond)
	}
	return t
}

// simKeys are the keys that outlive a request: tokens from authorize must
// verify, and signatures stay the simulator's, after a restart. [ours]
type simKeys struct {
	JWT  []byte `json:"jwt"`          // HMAC key of the v1 access tokens
	Seed []byte `json:"ed25519_seed"` // of the key signing signatures
	sign ed25519.PrivateKey
}

// keysFor returns the simulator's keys, made and stored on first use. They
// are kept in memory once read: one small record, not one per request.
func (s *Sim) keysFor(ctx context.Context) (*simKeys, error) {
	if k := s.keys.Load(); k != nil {
		return k, nil
	}
	var k simKeys
	err := s.bucket.Update(ctx, func(tx *sandbox.Tx) error {
		found, err := tx.Get(kindKeys, idKeys, &k)
		if err != nil || found {
			return err
		}
		k = simKeys{JWT: make([]byte, 32), Seed: make([]byte, ed25519.SeedSize)}
		_, _ = rand.Read(k.JWT) // never fails (crypto/rand)
		_, _ = rand.Read(k.Seed)
		return tx.Put(kindKeys, idKeys, &k, time.Time{})
	})
	if err != nil {
		return nil, fmt.Errorf("pasbysim: keys: %w", err)
	}
	if len(k.JWT) == 0 || len(k.Seed) != ed25519.SeedSize {
		return nil, errors.New("pasbysim: keys: the stored keys are malformed")
	}
	k.sign = ed25519.NewKeyFromSeed(k.Seed)
	// Only stored after the commit: a key that a rollback dropped must not
	// sign anything.
	s.keys.CompareAndSwap(nil, &k)
	return s.keys.Load(), nil
}

// op is one read-modify-write of the simulator's records, inside one store
// transaction, and what it did that must be told once it has landed.
type op struct {
	s    *Sim
	tx   *sandbox.Tx
	now  time.Time
	keys *simKeys

	changed bool // a document changed: wake held polling requests
}

// update runs f in one store transaction, after moving along a batch of
// due documents. The wake-ups happen after the commit, outside it: nothing
// inside may take the simulator's mutex.
func (s *Sim) update(ctx context.Context, f func(o *op) error) error {
	keys, err := s.keysFor(ctx)
	if err != nil {
		return err
	}
	o := &op{s: s, now: s.now(), keys: keys}
	err = s.bucket.Update(ctx, func(tx *sandbox.Tx) error {
		o.tx, o.changed = tx, false
		if _, err := o.advanceDue(advanceBatch); err != nil {
			return err
		}
		return f(o)
	})
	if err != nil {
		return err
	}
	if o.changed {
		s.notify()
	}
	return nil
}

// advanceDue moves along at most limit documents that are due, and says
// how many it found.
func (o *op) advanceDue(limit int) (int, error) {
	ids, err := o.tx.Due(kindDoc, o.now, limit)
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		if _, err := o.doc(id); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

// doc reads document id and applies what the clock says has happened to
// it. It is nil when there is none.
func (o *op) doc(id string) (*document, error) {
	var d document
	found, err := o.tx.Get(kindDoc, id, &d)
	if err != nil || !found {
		return nil, err
	}
	d.relink()
	moved, err := o.advance(&d)
	if err != nil {
		return nil, err
	}
	if moved {
		if err := o.save(&d); err != nil {
			return nil, err
		}
	}
	return &d, nil
}

// flowDoc finds the document of a signature flow request id and its
// signee; both are nil when id is no flow request.
func (o *op) flowDoc(id string) (*document, *signee, error) {
	var docID string
	found, err := o.tx.Get(kindFlow, id, &docID)
	if err != nil || !found {
		return nil, nil, err
	}
	d, err := o.doc(docID)
	if err != nil || d == nil {
		return nil, nil, err
	}
	for _, sg := range d.Signees {
		if sg.FlowID == id {
			return d, sg, nil
		}
	}
	return nil, nil, nil
}

// lookup finds id as a document or as a signature flow request: sg is nil
// for a document id.
func (o *op) lookup(id string) (*document, *signee, error) {
	d, err := o.doc(id)
	if err != nil || d != nil {
		return d, nil, err
	}
	return o.flowDoc(id)
}

// save writes d with its next due time.
func (o *op) save(d *document) error {
	return o.tx.Put(kindDoc, d.ID, d, ceilMilli(d.due()))
}

// exists reports whether record (kind, id) is there.
func (o *op) exists(kind, id string) (bool, error) {
	var raw json.RawMessage
	return o.tx.Get(kind, id, &raw)
}

// count reads counter name.
func (o *op) count(name string) (int, error) {
	n, err := o.tx.Add(name, 0)
	return int(n), err
}
