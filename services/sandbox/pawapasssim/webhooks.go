package pawapasssim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
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

// deliveryRecord is one webhook to post, as the outbox keeps it (kind
// kindDelivery). A retry or a resend posts the same bytes, so
// notificationId and signature stay the same.
type deliveryRecord struct {
	NotificationID string    `json:"notificationId"`
	Type           string    `json:"type"`
	VerificationID string    `json:"verificationId"`
	Status         string    `json:"status"`
	Target         string    `json:"target"` // the webhook URL, its secret path included
	Body           []byte    `json:"body"`   // the exact bytes signed
	Signature      string    `json:"signature"`
	Attempts       []Attempt `json:"attempts,omitempty"`
	Delivered      bool      `json:"delivered,omitempty"`
	Done           bool      `json:"done,omitempty"`
	// Claim counts the claims, so that the outcome of a claim whose lease
	// lapsed, and which was claimed again, is not recorded.
	Claim int `json:"claim,omitempty"`
}

func (d *deliveryRecord) public() Delivery {
	return Delivery{
		NotificationID: d.NotificationID, Type: d.Type, VerificationID: d.VerificationID, Status: d.Status,
		URL: redactURL(d.Target), Attempts: slices.Clone(d.Attempts), Delivered: d.Delivered, Done: d.Done,
	}
}

// notify adds webhook typ for v's current state to v's outbox, which save
// queues. Its createdAt is when the change happened (a step applied late
// keeps its due time). [ours]
func (s *Sim) notify(v *verification, typ string, at time.Time) {
	if s.webhookURL == "" {
		return
	}
	d := deliveryRecord{NotificationID: newUUIDv4(), Type: typ, VerificationID: v.ID, Status: v.Status, Target: s.webhookURL}
	d.Body = marshal(webhookJSON{
		NotificationID: d.NotificationID, Type: typ, Object: "VERIFICATION", CreatedAt: formatTime(at), Data: v.wire(),
	})
	mac := hmac.New(sha256.New, s.webhookSecret)
	mac.Write(d.Body)
	d.Signature = hex.EncodeToString(mac.Sum(nil))
	v.outbox = append(v.outbox, d)
}

// queue puts v's outbox in the store.
func (s *Sim) queue(t *txn, v *verification) error {
	for _, d := range v.outbox {
		id, err := s.enqueue(t, d)
		if err != nil {
			return err
		}
		v.LastDelivery = id
	}
	v.outbox = nil
	return nil
}

// enqueue stores d as a new delivery, due at once.
func (s *Sim) enqueue(t *txn, d deliveryRecord) (string, error) {
	n, err := t.tx.Add(counterDeliveries, 1)
	if err != nil {
		return "", fmt.Errorf("pawapasssim: queue a webhook: %w", err)
	}
	id := strconv.FormatInt(n, 10)
	if err := t.tx.Insert(kindDelivery, id, d, s.wall()); err != nil {
		return "", fmt.Errorf("pawapasssim: queue a webhook: %w", err)
	}
	t.queued = true
	return id, nil
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
		var last deliveryRecord
		found := false
		if v.LastDelivery != "" {
			if found, err = t.tx.Get(kindDelivery, v.LastDelivery, &last); err != nil {
				return fmt.Errorf("pawapasssim: read the last webhook: %w", err)
			}
		}
		if !found {
			s.notify(v, WebhookStatusChange, stamp(t.now))
			return s.save(t, v)
		}
		again := deliveryRecord{NotificationID: last.NotificationID, Type: last.Type, VerificationID: last.VerificationID,
			Status: last.Status, Target: s.webhookURL, Body: last.Body, Signature: last.Signature}
		_, err = s.enqueue(t, again)
		return err
	})
}

// Deliveries returns the most recent webhook notifications (at most 200),
// oldest first, with their attempts so far. A store failure is logged and
// reported as no deliveries.
func (s *Sim) Deliveries() []Delivery {
	out := make([]Delivery, 0, maxDeliveries)
	err := s.bucket.Update(context.Background(), func(tx *sandbox.Tx) error {
		out = out[:0]
		return tx.Each(kindDelivery, true, maxDeliveries, func(_ string, body []byte) error {
			var d deliveryRecord
			if err := unmarshalDelivery(body, &d); err != nil {
				return err
			}
			out = append(out, d.public())
			return nil
		})
	})
	if err != nil {
		s.logger.Error("pawapasssim: reading the deliveries", "error", err)
		return nil
	}
	slices.Reverse(out)
	return out
}

// WaitWebhooks waits until no webhook delivery is pending (each has been
// answered 2xx or given up), the simulator is closed, or ctx ends.
func (s *Sim) WaitWebhooks(ctx context.Context) error {
	for {
		changed := s.changes()
		if s.closed.Load() {
			return nil
		}
		var pending bool
		err := s.bucket.Update(ctx, func(tx *sandbox.Tx) error {
			var err error
			_, pending, err = tx.NextDue(kindDelivery)
			return err
		})
		if err != nil {
			return fmt.Errorf("pawapasssim: wait for webhooks: %w", err)
		}
		if !pending {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// changes returns a channel closed at the next recorded outcome of a post
// (or Close).
func (s *Sim) changes() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// announce closes the channel of changes and makes the next one.
func (s *Sim) announce() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Sim) wakeWorker() {
	select {
	case s.wake <- struct{}{}:
	default: // a wake-up is already waiting
	}
}

// claim is a delivery this process has claimed for one post.
type claim struct {
	id    string
	claim int
	d     deliveryRecord
}

// worker posts due deliveries until Close: woken when one is queued or a
// post ends, at the next due time, and by the ticker (which also finds
// what a previous process left due, its lapsed claims included).
func (s *Sim) worker(tick time.Duration) {
	defer close(s.workerDone)
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		if wait, ok := s.claimDue(); ok {
			timer.Reset(wait)
		}
		select {
		case <-s.wake:
		case <-timer.C:
		case <-ticker.C:
		case <-s.ctx.Done():
			timer.Stop()
			return
		}
		timer.Stop()
	}
}

// claimDue claims as many due deliveries as there are free post slots and
// starts their posts. It returns how long until the next delivery is due,
// ok false when there is none or no slot is free (a post that ends wakes
// the worker).
func (s *Sim) claimDue() (wait time.Duration, ok bool) {
	free := cap(s.slots) - len(s.slots) // only the worker fills slots: free only grows meanwhile
	if free == 0 {
		return 0, false
	}
	var (
		claims []claim
		next   time.Time
	)
	err := s.bucket.Update(s.ctx, func(tx *sandbox.Tx) error {
		claims = claims[:0]
		now := s.wall()
		ids, err := tx.Due(kindDelivery, now, free)
		if err != nil {
			return err
		}
		for _, id := range ids {
			c, found, err := claimOne(tx, id, now.Add(s.lease))
			if err != nil {
				return err
			}
			if found {
				claims = append(claims, c)
			}
		}
		if len(ids) == free {
			return nil
		}
		next, ok, err = tx.NextDue(kindDelivery)
		return err
	})
	if err != nil {
		if s.ctx.Err() == nil {
			s.logger.Error("pawapasssim: claiming webhooks", "error", err)
		}
		return 0, false
	}
	for _, c := range claims {
		s.slots <- struct{}{}
		s.wg.Add(1) // only the worker adds, and Close waits for it first
		go s.attempt(c)
	}
	return max(next.Sub(s.wall()), time.Millisecond), ok
}

// claimOne moves delivery id's due time to the end of its lease, so no
// one else posts it meanwhile.
func claimOne(tx *sandbox.Tx, id string, leaseEnd time.Time) (claim, bool, error) {
	var d deliveryRecord
	found, err := tx.Get(kindDelivery, id, &d)
	if err != nil || !found {
		return claim{}, false, err
	}
	d.Claim++
	if err := tx.Put(kindDelivery, id, d, leaseEnd); err != nil {
		return claim{}, false, err
	}
	return claim{id: id, claim: d.Claim, d: d}, true, nil
}

// attempt posts a claimed delivery once and records the outcome.
func (s *Sim) attempt(c claim) {
	defer s.wg.Done()
	defer func() {
		<-s.slots
		s.wakeWorker()
		s.announce()
	}()
	status, err := s.post(c.d)
	if err != nil && s.ctx.Err() != nil {
		// Cut short by Close: not an attempt worth recording. The
		// delivery is due again at once for whoever opens the store next.
		s.settle(c, func(d *deliveryRecord) time.Time { return s.wall() })
		return
	}
	a := Attempt{Status: status, At: s.now()}
	if err != nil {
		a.Err = err.Error()
	}
	ok := status >= 200 && status < 300
	n := 0
	s.settle(c, func(d *deliveryRecord) time.Time {
		d.Attempts = append(d.Attempts, a)
		d.Delivered = ok
		n = len(d.Attempts)
		if ok || n >= s.webhookAttempts {
			d.Done = true
			return time.Time{}
		}
		return s.wall().Add(retryDelay(n, s.webhookBackoff, rand.Float64()))
	})
	if !ok {
		s.logger.Warn("pawapasssim: webhook not delivered", "notification", c.d.NotificationID, "verification", c.d.VerificationID,
			"attempt", n, "status", status, "error", a.Err)
	}
}

// settle applies f to claimed delivery c, unless it was claimed again
// since, and stores it due at the time f returns (zero: never again). It
// uses its own context: the outcome of a post must be recorded even when
// Close has just been called.
func (s *Sim) settle(c claim, f func(d *deliveryRecord) time.Time) {
	err := s.bucket.Update(context.Background(), func(tx *sandbox.Tx) error {
		var d deliveryRecord
		found, err := tx.Get(kindDelivery, c.id, &d)
		if err != nil || !found || d.Claim != c.claim {
			return err
		}
		due := f(&d)
		return tx.Put(kindDelivery, c.id, d, due)
	})
	if err != nil {
		s.logger.Error("pawapasssim: recording a webhook attempt", "notification", c.d.NotificationID, "error", err)
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

// post sends one attempt, giving up when the lease is nearly over. The
// error never contains the URL, whose path may hold the receiver's secret.
func (s *Sim) post(d deliveryRecord) (int, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.postTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.Target, bytes.NewReader(d.Body))
	if err != nil {
		return 0, errors.New("invalid webhook URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", webhookUserAgent)
	req.Header.Set(SignatureHeader, d.Signature)
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

func unmarshalDelivery(body []byte, d *deliveryRecord) error {
	if err := json.Unmarshal(body, d); err != nil {
		return fmt.Errorf("pawapasssim: decode delivery: %w", err)
	}
	return nil
}
