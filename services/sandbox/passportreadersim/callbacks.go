package passportreadersim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"

	"portal/services/sandbox"
)

// Delivery is one callback attempt.
type Delivery struct {
	SessionID int64  `json:"session_id"`
	State     string `json:"state"` // the session_state posted
	// Host is the scheme and host of the callback_url only: its path and
	// query may hold the receiver's secret.
	Host    string    `json:"host"`
	Attempt int       `json:"attempt"` // 1 to Options.CallbackAttempts
	Status  int       `json:"status"`  // the receiver's HTTP status, 0 when the request failed
	Err     string    `json:"err,omitempty"`
	At      time.Time `json:"at"`
}

// maxDeliveries bounds the delivery log.
const maxDeliveries = 200

// callbackUserAgent identifies the simulator's callbacks. [ours]
const callbackUserAgent = "PassportReader-Sandbox-Callback/1"

// How the outbox is worked. [ours]
const (
	// maxParallelCallbacks bounds the posts under way at once: callbacks
	// of different sessions do not wait for each other, up to this many.
	maxParallelCallbacks = 16
	// callbackPoll is how often the worker looks for due callbacks that
	// nothing woke it for: ones left in the store by an earlier process,
	// and claims whose lease lapsed because that process died mid-post.
	callbackPoll = time.Second
	// leaseMargin is added to the post's timeout to make the lease a
	// claim holds: a post never outlives its lease, so a callback is
	// never posted twice at once.
	leaseMargin = 2 * time.Second
	// maxCallbackWait caps the doubling backoff, so a large
	// CallbackAttempts cannot overflow it.
	maxCallbackWait = 24 * time.Hour
)

// Callback statuses in the outbox.
const (
	callbackQueued    = "queued"  // behind an earlier callback of its session
	callbackPending   = "pending" // due: being posted or waiting for its next attempt
	callbackDelivered = "delivered"
	callbackFailed    = "failed" // given up after CallbackAttempts
)

// callbackBody is the callback NOTES.md describes, without a signature.
type callbackBody struct {
	SessionID        int64  `json:"session_id"`
	SessionState     string `json:"session_state"`
	SessionReference string `json:"session_reference"`
}

// legacyCallbackBody spells the reference's key the way an older
// integration read it (NOTES.md), for Options.LegacyReferenceKey.
type legacyCallbackBody struct {
	SessionID        int64  `json:"session_id"`
	SessionState     string `json:"session_state"`
	SessionReference string `json:"session_referenace"`
}

// callbackRecord is one callback of the outbox. Its due, in the store, is
// when its next attempt may start (real time: callback waits are not the
// simulator's clock); while an attempt is under way it is the end of that
// attempt's lease.
type callbackRecord struct {
	ID        int64  `json:"id"`
	SessionID int64  `json:"session_id"`
	State     string `json:"state"`
	Target    string `json:"target"` // the callback_url
	Host      string `json:"host"`   // its scheme and host, for the log
	// Body is the exact JSON posted, made when the change happened so a
	// callback reports the change that caused it. A string, not raw JSON,
	// so the store's encoder cannot re-escape it.
	Body     string     `json:"body"`
	Status   string     `json:"status"`
	Attempts int        `json:"attempts"` // attempts finished
	Results  []Delivery `json:"results,omitempty"`
	// Claim is when the attempt under way was claimed (Unix ns), 0 when
	// none is: an outcome is only recorded for the claim it belongs to.
	Claim int64 `json:"claim,omitempty"`
}

// Deliveries returns the most recent callback attempts (at most 200),
// oldest first. A store failure is logged and gives none.
func (s *Sim) Deliveries() []Delivery {
	var out []Delivery
	err := s.bucket.Update(context.Background(), func(tx *sandbox.Tx) error {
		out = out[:0]
		return tx.Each(kindAttempt, true, maxDeliveries, func(_ string, body []byte) error {
			var d Delivery
			if err := json.Unmarshal(body, &d); err != nil {
				return fmt.Errorf("decode a delivery: %w", err)
			}
			out = append(out, d)
			return nil
		})
	})
	if err != nil {
		s.logger.Error("passportreadersim: read the delivery log", "error", err)
		return nil
	}
	slices.Reverse(out)
	return out
}

// WaitCallbacks waits until no callback delivery is under way (each has
// been answered with a 2xx, given up after CallbackAttempts, or stopped by
// Close), or until ctx ends. Callbacks found in the store from before a
// restart count: they are under way.
func (s *Sim) WaitCallbacks(ctx context.Context) error {
	poll := time.NewTicker(50 * time.Millisecond) // in case the store is shared and moved by another
	defer poll.Stop()
	for {
		if s.closed.Load() {
			return nil
		}
		changed := s.settledChan()
		var busy bool
		err := s.bucket.Update(ctx, func(tx *sandbox.Tx) error {
			var err error
			_, busy, err = tx.NextDue(kindCallback)
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return storeError("wait for callbacks", err)
		}
		if !busy {
			return nil
		}
		select {
		case <-changed:
		case <-poll.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// settledChan is closed the next time a callback attempt ends or the
// simulator closes.
func (s *Sim) settledChan() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.settled
}

func (s *Sim) broadcastSettled() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.settled)
	s.settled = make(chan struct{})
}

func (s *Sim) wakeWorker() {
	select {
	case s.wake <- struct{}{}:
	default: // already woken
	}
}

// queueCallback makes rec's current state a callback for put to add to
// the outbox. Nothing is queued without a callback_url, nor once the
// simulator is closed.
func (s *Sim) queueCallback(rec *sessionRecord) {
	if s.closed.Load() || rec.CallbackURL == "" {
		return
	}
	rec.fresh = append(rec.fresh, callbackBody{rec.ID, rec.State, rec.Reference})
}

// enqueue writes one callback of rec to the outbox: due now when it is the
// session's only unfinished one, queued behind the others otherwise.
func (s *Sim) enqueue(o *op, rec *sessionRecord, cb callbackBody) error {
	seq, err := o.tx.Add(counterCallback, 1)
	if err != nil {
		return err
	}
	var body any = cb
	if s.legacyKey {
		body = legacyCallbackBody(cb)
	}
	host := ""
	if u, err := url.Parse(rec.CallbackURL); err == nil {
		host = u.Scheme + "://" + u.Host
	}
	c := callbackRecord{ID: seq, SessionID: rec.ID, State: cb.SessionState, Target: rec.CallbackURL, Host: host,
		Body: string(marshal(body)), Status: callbackQueued}
	var due time.Time
	if len(rec.Outbox) == 0 {
		c.Status, due = callbackPending, time.Now()
	}
	if err := o.tx.Insert(kindCallback, key(seq), c, due); err != nil {
		return err
	}
	rec.Outbox = append(rec.Outbox, seq)
	o.queued = true
	return nil
}

// deliverLoop is the outbox's worker: it starts the due callbacks, then
// sleeps until the next one is due, a callback is queued, an attempt ends
// or the poll ticks.
func (s *Sim) deliverLoop() {
	poll := time.NewTicker(callbackPoll)
	defer poll.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next, err := s.startDue()
		if err != nil {
			s.logger.Error("passportreadersim: claim due callbacks", "error", err)
		}
		timer.Stop()
		if !next.IsZero() {
			timer.Reset(max(time.Until(next), 0))
		}
		select {
		case <-s.wake:
		case <-timer.C:
		case <-poll.C:
		case <-s.ctx.Done():
			return
		}
	}
}

// startDue claims as many due callbacks as there is room for and posts
// each in a goroutine of its own. It returns when the next is due.
func (s *Sim) startDue() (time.Time, error) {
	free := maxParallelCallbacks - int(s.inflight.Load())
	if free <= 0 || s.ctx.Err() != nil {
		return time.Time{}, nil // an attempt that ends wakes the worker
	}
	claimed, next, err := s.claim(free)
	for _, c := range claimed {
		s.inflight.Add(1)
		s.wg.Go(func() {
			s.attempt(c)
			s.inflight.Add(-1)
			s.wakeWorker()
		})
	}
	return next, err
}

// claim takes up to limit due callbacks by moving their due to the end of
// a lease, in one transaction, so none is taken twice and one whose
// process dies mid-post is due again once the lease lapses.
func (s *Sim) claim(limit int) (claimed []callbackRecord, next time.Time, err error) {
	err = s.bucket.Update(s.ctx, func(tx *sandbox.Tx) error {
		claimed = claimed[:0]
		now := time.Now()
		ids, err := tx.Due(kindCallback, now, limit)
		if err != nil {
			return err
		}
		for _, id := range ids {
			var c callbackRecord
			found, err := tx.Get(kindCallback, id, &c)
			if err != nil {
				return err
			}
			if !found {
				continue
			}
			c.Claim = now.UnixNano()
			if err := tx.Put(kindCallback, id, c, dueAt(now.Add(s.lease))); err != nil {
				return err
			}
			claimed = append(claimed, c)
		}
		at, ok, err := tx.NextDue(kindCallback)
		if ok {
			next = at
		}
		return err
	})
	if errors.Is(err, context.Canceled) && s.ctx.Err() != nil {
		err = nil // closing
	}
	return claimed, next, err
}

// attempt posts c once, outside any transaction, and records the outcome.
// An attempt cut short by Close is not one worth recording: its claim is
// released so that the next process posts it at once.
func (s *Sim) attempt(c callbackRecord) {
	ctx, cancel := context.WithTimeout(s.ctx, s.postTimeout)
	status, err := s.post(ctx, c.Target, []byte(c.Body))
	cancel()
	if s.ctx.Err() != nil {
		s.release(c)
		return
	}
	if err := s.record(c, status, err); err != nil {
		s.logger.Error("passportreadersim: record a callback attempt", "session", c.SessionID, "error", err)
	}
	s.broadcastSettled()
}

// storeCtx is for the store writes that finish work already done: they
// must land even while Close cancels s.ctx.
func (s *Sim) storeCtx() context.Context { return context.WithoutCancel(s.ctx) }

// release makes a claimed callback due again now.
func (s *Sim) release(c callbackRecord) {
	err := s.bucket.Update(s.storeCtx(), func(tx *sandbox.Tx) error {
		var cur callbackRecord
		found, err := tx.Get(kindCallback, key(c.ID), &cur)
		if err != nil || !found || cur.Claim != c.Claim {
			return err
		}
		cur.Claim = 0
		return tx.Put(kindCallback, key(c.ID), cur, time.Now())
	})
	if err != nil {
		s.logger.Error("passportreadersim: release a callback", "session", c.SessionID, "error", err)
	}
}

// record writes the outcome of c's attempt: delivered on a 2xx, given up
// after CallbackAttempts, otherwise due again after CallbackBackoff,
// doubled for each earlier failure. [ours]
func (s *Sim) record(c callbackRecord, status int, postErr error) error {
	var d Delivery
	err := s.bucket.Update(s.storeCtx(), func(tx *sandbox.Tx) error {
		var cur callbackRecord
		found, err := tx.Get(kindCallback, key(c.ID), &cur)
		if err != nil || !found || cur.Claim != c.Claim {
			return err // a claim that is no longer ours records nothing
		}
		d = Delivery{SessionID: cur.SessionID, State: cur.State, Host: cur.Host, Attempt: cur.Attempts + 1, Status: status, At: s.now()}
		if postErr != nil {
			d.Err = postErr.Error()
		}
		cur.Attempts, cur.Claim = d.Attempt, 0
		cur.Results = append(cur.Results, d)
		if err := logAttempt(tx, d); err != nil {
			return err
		}
		switch {
		case status >= 200 && status <= 299:
			cur.Status = callbackDelivered
		case cur.Attempts >= s.attempts:
			cur.Status = callbackFailed
		default:
			return tx.Put(kindCallback, key(cur.ID), cur, dueAt(time.Now().Add(s.retryWait(cur.Attempts))))
		}
		return s.finish(tx, cur)
	})
	if err == nil && d.Attempt > 0 && (status < 200 || status > 299) {
		s.logger.Warn("passportreadersim: callback not delivered",
			"session", d.SessionID, "state", d.State, "attempt", d.Attempt, "status", status, "error", d.Err)
	}
	return err
}

// retryWait is the wait after the n-th failed attempt.
func (s *Sim) retryWait(n int) time.Duration {
	wait := s.backoff
	for range n - 1 {
		if wait >= maxCallbackWait/2 {
			return maxCallbackWait
		}
		wait *= 2
	}
	return wait
}

// logAttempt appends d to the delivery log and drops what fell off its end,
// so the log stays maxDeliveries long however long the simulator runs.
func logAttempt(tx *sandbox.Tx, d Delivery) error {
	seq, err := tx.Add(counterAttempt, 1)
	if err != nil {
		return err
	}
	if err := tx.Put(kindAttempt, key(seq), d, time.Time{}); err != nil {
		return err
	}
	return tx.Delete(kindAttempt, key(seq-maxDeliveries))
}

// finish writes c as done and makes the next callback of its session due.
func (s *Sim) finish(tx *sandbox.Tx, c callbackRecord) error {
	if err := tx.Put(kindCallback, key(c.ID), c, time.Time{}); err != nil {
		return err
	}
	var rec sessionRecord
	found, err := tx.Get(kindSession, key(c.SessionID), &rec)
	if err != nil || !found {
		return err
	}
	rec.Outbox = slices.DeleteFunc(rec.Outbox, func(id int64) bool { return id == c.ID })
	for len(rec.Outbox) > 0 {
		var next callbackRecord
		found, err := tx.Get(kindCallback, key(rec.Outbox[0]), &next)
		if err != nil {
			return err
		}
		if found {
			next.Status = callbackPending
			if err := tx.Put(kindCallback, key(next.ID), next, time.Now()); err != nil {
				return err
			}
			break
		}
		rec.Outbox = rec.Outbox[1:] // cannot happen; must not block the rest
	}
	// The session is not advanced here: the clock is applied when it is
	// read, and its due time does not depend on its outbox.
	return tx.Put(kindSession, key(rec.ID), &rec, s.sessionDue(&rec))
}

// post sends one attempt. The error never contains the URL, whose path may
// hold the receiver's secret.
func (s *Sim) post(ctx context.Context, target string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, errors.New("invalid callback URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", callbackUserAgent)
	resp, err := s.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}
