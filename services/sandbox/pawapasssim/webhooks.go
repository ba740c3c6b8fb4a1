package pawapasssim

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"portal/services/sandbox"
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
	Status int       `json:"status"`          // the receiver's HTTP status, 0 when the request failed
	Err    string    `json:"error,omitempty"` // why the request failed, "" when the receiver answered
	At     time.Time `json:"at"`
}

// maxDeliveries is how many of the latest deliveries Deliveries reports.
const maxDeliveries = 200

// maxPosts bounds the webhook posts under way at once. [ours]
const maxPosts = 8

// leaseMargin is added to the post timeout to make a claim's lease: a
// claimed delivery is due again only once its post has surely given up
// (or the process that claimed it is gone).
const leaseMargin = 5 * time.Second

// webhookUserAgent identifies the simulator's webhook requests. [ours]
const webhookUserAgent = "pawapass-sandbox-webhook/1"

// SignatureHeader carries the hex HMAC-SHA256 of the raw body (NOTES.md;
// hex is our reading [ours]).
const SignatureHeader = "X-Signature"

// hookMeta is what Deliveries reports of a webhook besides its attempts.
// A retry or a resend posts the same bytes, so notificationId and
// signature stay the same.
type hookMeta struct {
	NotificationID string `json:"notificationId"`
	Type           string `json:"type"`
	VerificationID string `json:"verificationId"`
	Status         string `json:"status"`
}

// newOutbox starts the webhook outbox, which looks at the store every tick
// unasked: delivered on a 2xx, given up after WebhookAttempts, retried
// after retryDelay.
func (s *Sim) newOutbox(tick time.Duration) *sandbox.Outbox[hookMeta] {
	return sandbox.NewOutbox(s.bucket, sandbox.OutboxOptions[hookMeta]{
		Name: "pawapasssim", What: "webhook",
		Client: s.client, Timeout: orDur(s.client.Timeout, DefaultWebhookTimeout), LeaseMargin: leaseMargin,
		MaxInflight: maxPosts, Poll: tick,
		Attempts:  s.webhookAttempts,
		Backoff:   func(n int) time.Duration { return retryDelay(n, s.webhookBackoff, rand.Float64()) },
		Delivered: func(status int) bool { return status >= 200 && status < 300 },
		UserAgent: webhookUserAgent, Now: s.now, Logger: s.logger,
		LogAttrs: func(m *sandbox.OutboxMessage[hookMeta]) []any {
			return []any{"notification", m.Meta.NotificationID, "verification", m.Meta.VerificationID}
		},
	})
}

func public(m *sandbox.OutboxMessage[hookMeta]) Delivery {
	d := Delivery{
		NotificationID: m.Meta.NotificationID, Type: m.Meta.Type, VerificationID: m.Meta.VerificationID, Status: m.Meta.Status,
		URL: redactURL(m.Target), Delivered: m.State == sandbox.OutboxDelivered, Done: m.Done(),
	}
	for _, r := range m.Tries {
		d.Attempts = append(d.Attempts, Attempt{Status: r.Status, Err: r.Err, At: r.At})
	}
	return d
}

// notify adds webhook typ for v's current state to v's outbox, which save
// queues. Its createdAt is when the change happened (a step applied late
// keeps its due time). [ours]
func (s *Sim) notify(v *verification, typ string, at time.Time) {
	if s.webhookURL == "" {
		return
	}
	meta := hookMeta{NotificationID: newUUIDv4(), Type: typ, VerificationID: v.ID, Status: v.Status}
	body := marshal(webhookJSON{
		NotificationID: meta.NotificationID, Type: typ, Object: "VERIFICATION", CreatedAt: formatTime(at), Data: v.wire(),
	})
	mac := hmac.New(sha256.New, s.webhookSecret)
	mac.Write(body)
	v.outbox = append(v.outbox, sandbox.OutboxMessage[hookMeta]{
		Target: s.webhookURL, Body: body, Meta: meta,
		Header: http.Header{SignatureHeader: {hex.EncodeToString(mac.Sum(nil))}},
	})
}

// queue puts v's outbox in the store.
func (s *Sim) queue(t *txn, v *verification) error {
	for _, m := range v.outbox {
		id, err := s.outbox.Enqueue(t.tx, m)
		if err != nil {
			return err
		}
		v.LastDelivery = id
	}
	v.outbox = nil
	return nil
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
func (s *Sim) ResendWebhook(id string) error { return s.resend(context.Background(), id) }

func (s *Sim) resend(ctx context.Context, id string) error {
	return s.update(ctx, func(t *txn) error {
		v, err := s.load(t, id)
		switch {
		case err != nil:
			return err
		case v == nil:
			return fmt.Errorf("%w: %q", ErrNotFound, clip(id, 40))
		case s.webhookURL == "":
			return ErrNoWebhooks
		case s.closed.Load():
			return ErrClosed
		}
		var last sandbox.OutboxMessage[hookMeta]
		found := false
		if v.LastDelivery != "" {
			if last, found, err = s.outbox.Message(t.tx, v.LastDelivery); err != nil {
				return err
			}
		}
		if !found {
			s.notify(v, WebhookStatusChange, stamp(t.now))
			return s.save(t, v)
		}
		_, err = s.outbox.Enqueue(t.tx, sandbox.OutboxMessage[hookMeta]{
			Target: s.webhookURL, Header: last.Header, Body: last.Body, Meta: last.Meta,
		})
		return err
	})
}

// Deliveries returns the most recent webhook notifications (at most 200),
// oldest first, with their attempts so far. A store failure is logged and
// reported as no deliveries.
func (s *Sim) Deliveries() []Delivery {
	ms, err := s.outbox.Recent(context.Background(), maxDeliveries)
	if err != nil {
		s.logger.Error("pawapasssim: reading the deliveries", "error", err)
		return nil
	}
	out := make([]Delivery, 0, len(ms))
	for i := range ms {
		out = append(out, public(&ms[i]))
	}
	return out
}

// WaitWebhooks waits until no webhook delivery is pending (each has been
// answered 2xx or given up), the simulator is closed, or ctx ends.
func (s *Sim) WaitWebhooks(ctx context.Context) error {
	if s.closed.Load() {
		return nil
	}
	return s.outbox.Wait(ctx)
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
