package pasbysim

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// Delivery is one webhook attempt.
type Delivery struct {
	DocumentID string
	Reference  string // webhook.reference
	// Host is the scheme and host of webhook.host only: its path may hold
	// the receiver's secret.
	Host    string
	Attempt int    // 1 to WebhookAttempts
	Status  int    // the receiver's HTTP status, 0 when the request failed
	Err     string // why the request failed, "" when the receiver answered
	At      time.Time
}

// maxDeliveries bounds the delivery log.
const maxDeliveries = 200

// webhookUserAgent identifies the simulator's webhook requests. [ours]
const webhookUserAgent = "pasby-sandbox-webhook/1"

// Deliveries returns the most recent webhook attempts (at most 200),
// oldest first.
func (s *Sim) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.deliveries)
}

// WaitWebhooks waits until no webhook delivery is under way (each has been
// answered 200, given up after WebhookAttempts, or stopped by Close), or
// until ctx ends.
func (s *Sim) WaitWebhooks(ctx context.Context) error {
	s.mu.Lock()
	busy, idle := s.inflight > 0, s.idle
	s.mu.Unlock()
	if !busy {
		return nil
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sendWebhookLocked starts delivering d's current state to webhook.host:
// the refresh document object, as JSON, without a signature header
// (NOTES.md). [ours for the payload]
func (s *Sim) sendWebhookLocked(d *document) {
	if s.closed || d.hookHost == "" {
		return
	}
	body := marshal(d.refreshJSON())
	host := d.hookHost
	if u, err := url.Parse(host); err == nil {
		host = u.Scheme + "://" + u.Host
	}
	s.inflight++
	if s.inflight == 1 {
		s.idle = make(chan struct{})
	}
	s.wg.Add(1) // not closed, under s.mu: Close's Wait has not started
	go s.deliver(d.id, d.hookRef, d.hookHost, host, body)
}

// deliver POSTs body to target until the receiver answers exactly 200, at
// most WebhookAttempts times, waiting WebhookBackoff after the first
// failure and twice as long after each further one. [ours for the
// schedule]
func (s *Sim) deliver(docID, ref, target, host string, body []byte) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		if s.inflight--; s.inflight == 0 {
			close(s.idle)
		}
		s.mu.Unlock()
	}()
	wait := s.webhookBackoff
	for attempt := 1; ; attempt++ {
		status, err := s.post(target, body)
		if s.ctx.Err() != nil {
			return // closed mid-request: not an attempt worth recording
		}
		rec := Delivery{DocumentID: docID, Reference: ref, Host: host, Attempt: attempt, Status: status, At: s.now()}
		if err != nil {
			rec.Err = err.Error()
		}
		s.mu.Lock()
		s.deliveries = append(s.deliveries, rec)
		if n := len(s.deliveries) - maxDeliveries; n > 0 {
			s.deliveries = slices.Delete(s.deliveries, 0, n)
		}
		s.mu.Unlock()
		if status == http.StatusOK {
			return
		}
		s.logger.Warn("pasbysim: webhook not delivered", "document", docID, "attempt", attempt, "status", status, "error", rec.Err)
		if attempt == WebhookAttempts {
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return
		}
		wait *= 2
	}
}

// post sends one attempt. The error never contains the URL, whose path may
// hold the receiver's secret.
func (s *Sim) post(target string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, target, bytes.NewReader(body))
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
