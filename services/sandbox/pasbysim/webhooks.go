package pasbysim

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

// Delivery is one webhook attempt.
type Delivery struct {
	DocumentID string `json:"document_id"`
	Reference  string `json:"reference"` // webhook.reference
	// Host is the scheme and host of webhook.host only: its path may hold
	// the receiver's secret.
	Host    string    `json:"host"`
	Attempt int       `json:"attempt"` // 1 to WebhookAttempts
	Status  int       `json:"status"`  // the receiver's HTTP status, 0 when the request failed
	Err     string    `json:"err,omitempty"`
	At      time.Time `json:"at"`
}

// maxDeliveries bounds the attempt log Deliveries reads.
const maxDeliveries = 200

// webhookUserAgent identifies the simulator's webhook requests. [ours]
const webhookUserAgent = "pasby-sandbox-webhook/1"

// The outbox: how many deliveries post at once, how often the worker looks
// at the store unasked (for deliveries found there after a restart, leases
// that lapsed, and documents nobody reads that move by themselves), and
// how long a claimed attempt may take beyond the HTTP timeout before
// another worker may take it over.
const (
	maxInflight  = 32
	workerTick   = time.Second
	leaseMargin  = 2 * time.Second
	drainBatches = 100 // of advanceBatch documents per tick at most
)

// Delivery states.
const (
	hookPending   = "pending"
	hookDelivered = "delivered"
	hookFailed    = "failed"
)

// outgoing is the persisted record of one webhook to deliver
// (kindDelivery). Its due is when the next attempt starts, or until when
// the attempt under way holds it; none once delivered or given up.
type outgoing struct {
	ID         string `json:"id"`
	DocumentID string `json:"document_id"`
	Reference  string `json:"reference"`
	// Target is webhook.host as given, secret path and all; Host is what
	// the attempts report.
	Target   string     `json:"target"`
	Host     string     `json:"host"`
	Body     string     `json:"body"`
	Attempts int        `json:"attempts"`
	Status   string     `json:"status"`
	Results  []Delivery `json:"results"`
}

// Deliveries returns the most recent webhook attempts (at most 200),
// oldest first. A failure of the store is logged and gives none.
func (s *Sim) Deliveries() []Delivery {
	var out []Delivery
	err := s.bucket.Update(context.Background(), func(tx *sandbox.Tx) error {
		out = out[:0]
		return tx.Each(kindAttempt, true, maxDeliveries, func(_ string, body []byte) error {
			var d Delivery
			if err := json.Unmarshal(body, &d); err != nil {
				return fmt.Errorf("decode a webhook attempt: %w", err)
			}
			out = append(out, d)
			return nil
		})
	})
	if err != nil {
		s.logger.Error("pasbysim: list webhook attempts", "error", err)
		return nil
	}
	slices.Reverse(out)
	return out
}

// WaitWebhooks waits until no webhook delivery is under way (each has been
// answered 200, given up after WebhookAttempts, or stopped by Close), or
// until ctx ends.
func (s *Sim) WaitWebhooks(ctx context.Context) error {
	for {
		s.mu.Lock()
		closed, settled := s.closed, s.settled
		s.mu.Unlock()
		if closed {
			return nil
		}
		var busy bool
		err := s.bucket.Update(ctx, func(tx *sandbox.Tx) (err error) {
			_, busy, err = tx.NextDue(kindDelivery)
			return err
		})
		if err != nil {
			return fmt.Errorf("pasbysim: wait for webhooks: %w", err)
		}
		if !busy {
			return nil
		}
		select {
		case <-settled:
		case <-s.ctx.Done():
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// queueWebhook queues d's current state for webhook.host: the refresh
// document object, as JSON, without a signature header (NOTES.md). [ours
// for the payload] The worker posts it once the transaction has landed.
func (o *op) queueWebhook(d *document) error {
	if d.HookHost == "" {
		return nil
	}
	host := d.HookHost
	if u, err := url.Parse(host); err == nil {
		host = u.Scheme + "://" + u.Host
	}
	n, err := o.tx.Add(counterDelivery, 1)
	if err != nil {
		return err
	}
	w := outgoing{
		ID: seqID(n), DocumentID: d.ID, Reference: d.HookRef, Target: d.HookHost, Host: host,
		Body: string(marshal(d.refreshJSON())), Status: hookPending,
	}
	if err := o.tx.Insert(kindDelivery, w.ID, &w, ceilMilli(time.Now())); err != nil {
		return err
	}
	o.queued = true
	return nil
}

func (s *Sim) wakeWorker() {
	select {
	case s.wake <- struct{}{}:
	default: // already woken
	}
}

// run is the delivery worker: it moves documents along that are due and
// posts the webhooks that are due, until Close. Webhook waits use real
// time, whatever Options.Now says.
func (s *Sim) run() {
	defer s.wg.Done()
	tick := time.NewTicker(workerTick)
	defer tick.Stop()
	next := time.NewTimer(time.Hour)
	defer next.Stop()
	s.advanceAll()
	for {
		if at, ok := s.deliverDue(); ok {
			next.Reset(max(time.Until(at), 0))
		} else {
			next.Stop()
		}
		select {
		case <-s.ctx.Done():
			return
		case <-s.wake:
		case <-next.C:
		case <-tick.C:
			s.advanceAll()
		}
	}
}

// advanceAll moves along the documents that are due, a batch per
// transaction, so AutoSign sends its webhooks without anyone reading.
func (s *Sim) advanceAll() {
	for range drainBatches {
		var n int
		err := s.update(s.ctx, func(o *op) (err error) {
			n, err = o.advanceDue(advanceBatch)
			return err
		})
		if err != nil {
			if s.ctx.Err() == nil {
				s.logger.Error("pasbysim: move due documents along", "error", err)
			}
			return
		}
		if n < advanceBatch {
			return
		}
	}
}

// deliverDue claims the deliveries that are due, as many as may post at
// once, and posts each in its own goroutine. It returns when the next one
// is due.
func (s *Sim) deliverDue() (next time.Time, ok bool) {
	var claimed []outgoing
	now := time.Now()
	lease := s.attemptTimeout() + leaseMargin
	err := s.bucket.Update(s.ctx, func(tx *sandbox.Tx) error {
		claimed = claimed[:0]
		if free := maxInflight - int(s.inflight.Load()); free > 0 {
			ids, err := tx.Due(kindDelivery, now, free)
			if err != nil {
				return err
			}
			for _, id := range ids {
				var w outgoing
				found, err := tx.Get(kindDelivery, id, &w)
				if err != nil {
					return err
				}
				if !found {
					continue
				}
				// The lease: a worker that dies mid-post leaves the
				// delivery due again once it lapses.
				if err := tx.Put(kindDelivery, id, &w, ceilMilli(now.Add(lease))); err != nil {
					return err
				}
				claimed = append(claimed, w)
			}
		}
		var err error
		next, ok, err = tx.NextDue(kindDelivery)
		return err
	})
	if err != nil {
		if s.ctx.Err() == nil {
			s.logger.Error("pasbysim: claim due webhooks", "error", err)
		}
		return time.Now().Add(workerTick), true
	}
	for _, w := range claimed {
		s.inflight.Add(1)
		s.wg.Add(1) // the worker itself is counted: Close's Wait is not at zero
		go s.attempt(w)
	}
	return next, ok
}

// attemptTimeout bounds one attempt, so it ends before its lease does.
func (s *Sim) attemptTimeout() time.Duration {
	if s.client.Timeout > 0 {
		return s.client.Timeout
	}
	return DefaultWebhookTimeout
}

// attempt POSTs a claimed delivery once and records the outcome: delivered
// when the receiver answers exactly 200; else the next attempt is due
// WebhookBackoff after the first failure and twice as long after each
// further one, until WebhookAttempts. [ours for the schedule]
func (s *Sim) attempt(w outgoing) {
	defer s.wg.Done()
	defer s.inflight.Add(-1)
	ctx, cancel := context.WithTimeout(s.ctx, s.attemptTimeout())
	status, err := s.post(ctx, w.Target, []byte(w.Body))
	cancel()
	// The outcome is written even while Close runs: the store outlives
	// this simulator, and Close waits for it.
	store := context.WithoutCancel(s.ctx)
	if s.ctx.Err() != nil {
		// Closed mid-request: not an attempt worth recording. Due at once,
		// so whoever opens the store next delivers it.
		s.release(store, w)
		return
	}
	rec := Delivery{DocumentID: w.DocumentID, Reference: w.Reference, Host: w.Host, Attempt: w.Attempts + 1, Status: status, At: s.now()}
	if err != nil {
		rec.Err = err.Error()
	}
	if status != http.StatusOK {
		s.logger.Warn("pasbysim: webhook not delivered", "document", w.DocumentID, "attempt", rec.Attempt, "status", status, "error", rec.Err)
	}
	if err := s.record(store, w, rec); err != nil {
		s.logger.Error("pasbysim: record a webhook attempt", "document", w.DocumentID, "error", err)
	}
	s.mu.Lock()
	close(s.settled)
	s.settled = make(chan struct{})
	s.mu.Unlock()
	s.wakeWorker()
}

// record writes the outcome of the attempt at w, unless the delivery moved
// on without it (its lease lapsed and another attempt was recorded).
func (s *Sim) record(ctx context.Context, w outgoing, rec Delivery) error {
	return s.bucket.Update(ctx, func(tx *sandbox.Tx) error {
		var cur outgoing
		found, err := tx.Get(kindDelivery, w.ID, &cur)
		if err != nil || !found || cur.Attempts != w.Attempts || cur.Status != hookPending {
			return err
		}
		cur.Attempts = rec.Attempt
		cur.Results = append(cur.Results, rec)
		var due time.Time
		switch {
		case rec.Status == http.StatusOK:
			cur.Status = hookDelivered
		case cur.Attempts >= WebhookAttempts:
			cur.Status = hookFailed
		default:
			due = ceilMilli(time.Now().Add(s.webhookBackoff << (cur.Attempts - 1)))
		}
		if err := tx.Put(kindDelivery, cur.ID, &cur, due); err != nil {
			return err
		}
		return logAttempt(tx, rec)
	})
}

// logAttempt appends rec to the attempt log and drops the attempt that
// falls out of its last maxDeliveries.
func logAttempt(tx *sandbox.Tx, rec Delivery) error {
	n, err := tx.Add(counterAttempt, 1)
	if err != nil {
		return err
	}
	if err := tx.Put(kindAttempt, seqID(n), rec, time.Time{}); err != nil {
		return err
	}
	if n > maxDeliveries {
		return tx.Delete(kindAttempt, seqID(n-maxDeliveries))
	}
	return nil
}

// release makes a claimed delivery due again now.
func (s *Sim) release(ctx context.Context, w outgoing) {
	err := s.bucket.Update(ctx, func(tx *sandbox.Tx) error {
		var cur outgoing
		found, err := tx.Get(kindDelivery, w.ID, &cur)
		if err != nil || !found || cur.Attempts != w.Attempts || cur.Status != hookPending {
			return err
		}
		return tx.Put(kindDelivery, cur.ID, &cur, ceilMilli(time.Now()))
	})
	if err != nil {
		s.logger.Error("pasbysim: release a webhook", "document", w.DocumentID, "error", err)
	}
}

// post sends one attempt. The error never contains the URL, whose path may
// hold the receiver's secret.
func (s *Sim) post(ctx context.Context, target string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, errors.New("invalid webhook URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", webhookUserAgent)
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
