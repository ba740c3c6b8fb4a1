package pawapasssim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// Delivery is one webhook notification and its attempts.
type Delivery struct {
	NotificationID string
	Type           string // WebhookStatusChange or WebhookIdentityDocumentChange
	VerificationID string
	Status         string // the verification's status in the payload
	// URL is the scheme and host of Options.WebhookURL only: its path may
	// hold the receiver's secret.
	URL       string
	Attempts  []Attempt
	Delivered bool // a 2xx answer was received
	Done      bool // no further attempt will be made
}

// Attempt is one POST of a Delivery.
type Attempt struct {
	Status int    // the receiver's HTTP status, 0 when the request failed
	Err    string // why the request failed, "" when the receiver answered
	At     time.Time
}

// maxDeliveries bounds the delivery log.
const maxDeliveries = 200

// webhookUserAgent identifies the simulator's webhook requests. [ours]
const webhookUserAgent = "pawapass-sandbox-webhook/1"

// SignatureHeader carries the hex HMAC-SHA256 of the raw body (NOTES.md;
// hex is our reading [ours]).
const SignatureHeader = "X-Signature"

// notification is a webhook as first sent: a retry or a resend posts the
// same bytes, so notificationId and signature stay the same.
type notification struct {
	id, typ, verificationID, status string
	body                            []byte
	signature                       string
}

type delivery struct {
	n         *notification
	url       string
	attempts  []Attempt
	delivered bool
	done      bool
}

// notifyLocked sends webhook typ for v's current state. Its createdAt is
// when the change happened (a step applied late keeps its due time). [ours]
func (s *Sim) notifyLocked(v *verification, typ string, at time.Time) {
	if s.webhookURL == "" || s.closed {
		return
	}
	n := &notification{id: newUUIDv4(), typ: typ, verificationID: v.id, status: v.status}
	n.body = marshal(webhookJSON{
		NotificationID: n.id, Type: typ, Object: "VERIFICATION", CreatedAt: formatTime(at), Data: v.wire(),
	})
	mac := hmac.New(sha256.New, s.webhookSecret)
	mac.Write(n.body)
	n.signature = hex.EncodeToString(mac.Sum(nil))
	v.last = n
	s.dispatchLocked(n)
}

func (s *Sim) dispatchLocked(n *notification) {
	d := &delivery{n: n, url: redactURL(s.webhookURL)}
	s.deliveries = append(s.deliveries, d)
	if k := len(s.deliveries) - maxDeliveries; k > 0 {
		s.deliveries = slices.Delete(s.deliveries, 0, k)
	}
	s.inflight++
	if s.inflight == 1 {
		s.idle = make(chan struct{})
	}
	s.wg.Add(1) // not closed, under s.mu: Close's Wait has not started
	go s.deliver(d)
}

// redactURL keeps the scheme and host of a webhook URL.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	return u.Scheme + "://" + u.Host
}

// ResendWebhook posts verification id's last webhook again, with the same
// notificationId and body (as pawaPass's own retries do), or, when none
// has been sent yet, a STATUS_CHANGE with its current state. [ours]
func (s *Sim) ResendWebhook(id string) error {
	return s.act(id, func(v *verification, now time.Time) error {
		switch {
		case s.webhookURL == "":
			return ErrNoWebhooks
		case s.closed:
			return ErrClosed
		case v.last == nil:
			s.notifyLocked(v, WebhookStatusChange, stamp(now))
		default:
			s.dispatchLocked(v.last)
		}
		return nil
	})
}

// Deliveries returns the most recent webhook notifications (at most 200),
// oldest first, with their attempts so far.
func (s *Sim) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Delivery, 0, len(s.deliveries))
	for _, d := range s.deliveries {
		out = append(out, Delivery{
			NotificationID: d.n.id, Type: d.n.typ, VerificationID: d.n.verificationID, Status: d.n.status,
			URL: d.url, Attempts: slices.Clone(d.attempts), Delivered: d.delivered, Done: d.done,
		})
	}
	return out
}

// WaitWebhooks waits until no webhook delivery is under way (each has
// been answered 2xx, given up, or stopped by Close), or until ctx ends.
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

// deliver posts d until the receiver answers 2xx, at most webhookAttempts
// times, waiting retryDelay between attempts (NOTES.md).
func (s *Sim) deliver(d *delivery) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		d.done = true
		if s.inflight--; s.inflight == 0 {
			close(s.idle)
		}
		s.mu.Unlock()
	}()
	for attempt := 1; ; attempt++ {
		status, err := s.post(d.n)
		if s.ctx.Err() != nil {
			return // closed mid-request: not an attempt worth recording
		}
		a := Attempt{Status: status, At: s.now()}
		if err != nil {
			a.Err = err.Error()
		}
		ok := status >= 200 && status < 300
		s.mu.Lock()
		d.attempts = append(d.attempts, a)
		d.delivered = ok
		s.mu.Unlock()
		if ok {
			return
		}
		s.logger.Warn("pawapasssim: webhook not delivered", "notification", d.n.id, "verification", d.n.verificationID,
			"attempt", attempt, "status", status, "error", a.Err)
		if attempt >= s.webhookAttempts {
			return
		}
		t := time.NewTimer(retryDelay(attempt, s.webhookBackoff, rand.Float64()))
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return
		}
	}
}

// retryDelay is the wait after failed attempt n (from 1): base doubled
// n-1 times, capped at MaxWebhookBackoff, then ±25 % by jitter (in
// [0, 1)) (NOTES.md: "1 s doubling, 4 h cap, ±25 % jitter").
func retryDelay(n int, base time.Duration, jitter float64) time.Duration {
	d := MaxWebhookBackoff
	if n-1 < 40 && base<<(n-1) < MaxWebhookBackoff && base<<(n-1) > 0 {
		d = base << (n - 1)
	}
	return time.Duration(float64(d) * (0.75 + 0.5*jitter))
}

// post sends one attempt. The error never contains the URL, whose path may
// hold the receiver's secret.
func (s *Sim) post(n *notification) (int, error) {
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, s.webhookURL, bytes.NewReader(n.body))
	if err != nil {
		return 0, errors.New("invalid webhook URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", webhookUserAgent)
	req.Header.Set(SignatureHeader, n.signature)
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
