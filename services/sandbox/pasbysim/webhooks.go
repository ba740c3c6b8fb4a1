package pasbysim

import (
	"context"
	"net/http"
	"net/url"
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

// hookMeta is what the attempts of a webhook report about it.
type hookMeta struct {
	DocumentID string `json:"document_id"`
	Reference  string `json:"reference"`
	Host       string `json:"host"`
}

// newOutbox starts the webhook outbox: delivered when the receiver answers
// exactly 200; else the next attempt is due WebhookBackoff after the first
// failure and twice as long after each further one, until
// WebhookAttempts. [ours for the schedule]
func (s *Sim) newOutbox() *sandbox.Outbox[hookMeta] {
	return sandbox.NewOutbox(s.bucket, sandbox.OutboxOptions[hookMeta]{
		Name: "pasbysim", What: "webhook",
		Client: s.client, Timeout: orDur(s.client.Timeout, DefaultWebhookTimeout), LeaseMargin: leaseMargin,
		MaxInflight: maxInflight, Poll: workerTick,
		Attempts:  WebhookAttempts,
		Backoff:   func(n int) time.Duration { return s.webhookBackoff << (n - 1) },
		Delivered: func(status int) bool { return status == http.StatusOK },
		UserAgent: webhookUserAgent, Now: s.now, Logger: s.logger,
		LogAttrs: func(m *sandbox.OutboxMessage[hookMeta]) []any { return []any{"document", m.Meta.DocumentID} },
	})
}

// Deliveries returns the most recent webhook attempts (at most 200),
// oldest first. A failure of the store is logged and gives none.
func (s *Sim) Deliveries() []Delivery {
	log, err := s.outbox.Log(context.Background())
	if err != nil {
		s.logger.Error("pasbysim: list webhook attempts", "error", err)
		return nil
	}
	out := make([]Delivery, 0, len(log))
	for _, a := range log {
		out = append(out, Delivery{DocumentID: a.Meta.DocumentID, Reference: a.Meta.Reference, Host: a.Meta.Host,
			Attempt: a.Attempt, Status: a.Status, Err: a.Err, At: a.At})
	}
	return out
}

// WaitWebhooks waits until no webhook delivery is under way (each has been
// answered 200, given up after WebhookAttempts, or stopped by Close), or
// until ctx ends.
func (s *Sim) WaitWebhooks(ctx context.Context) error {
	if s.isClosed() {
		return nil
	}
	return s.outbox.Wait(ctx)
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
	_, err := o.s.outbox.Enqueue(o.tx, sandbox.OutboxMessage[hookMeta]{
		Target: d.HookHost, Body: marshal(d.refreshJSON()),
		Meta: hookMeta{DocumentID: d.ID, Reference: d.HookRef, Host: host},
	})
	return err
}

// advanceLoop moves documents along that are due, until Close, so AutoSign
// sends its webhooks without anyone reading.
func (s *Sim) advanceLoop() {
	tick := time.NewTicker(workerTick)
	defer tick.Stop()
	for {
		s.advanceAll()
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// advanceAll moves along the documents that are due, a batch per
// transaction, so no request waits long behind it.
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
