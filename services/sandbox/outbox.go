package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// An Outbox is a simulator's durable queue of webhooks (callbacks) to
// POST. A message is written inside the simulator's own transaction, so a
// change of state and the webhook that reports it land together or not at
// all; a worker posts what is due, outside any transaction, and retries
// what failed.
//
// A provider does not forget a webhook it owes because it restarted, so
// neither may its simulator: a message lives in the store until it is
// delivered or given up, and the next process on the store posts what was
// due. While an attempt is under way, the message's due is the end of a
// lease (the post's timeout plus a margin), so a process that dies
// mid-post leaves the message due again once the lease lapses, and no two
// workers post it at once. Each claim carries a token, so the outcome of a
// claim that was taken over is not recorded. Delivery is at least once: a
// post cut off by a crash is made again.
//
// Its records live in the simulator's bucket under the kinds OutboxKind
// (the messages, kept after they finish for the simulator's inspection
// API), OutboxLogKind (the last OutboxLogSize attempts) and an index of
// ordering keys.
type Outbox[M any] struct {
	bucket *Bucket
	opts   OutboxOptions[M]
	lease  time.Duration

	ctx      context.Context // ends at Close: the worker and the posts watch it
	cancel   context.CancelFunc
	wg       sync.WaitGroup // the worker and its posts
	wake     chan struct{}  // holds one wake-up
	inflight atomic.Int32   // posts under way; only the worker adds
	closed   atomic.Bool

	// mu guards settled alone and is never held around a store call: a
	// goroutine holding the store's connection may be waiting for it.
	mu      sync.Mutex
	settled chan struct{} // closed and replaced when an attempt ends, and at Close
}

// OutboxOptions are what differs between the simulators' outboxes. Zero
// values have the defaults given.
type OutboxOptions[M any] struct {
	// Name prefixes the log messages ("pasbysim"); What names a message in
	// them and in errors ("webhook", "callback"). Defaults "sandbox",
	// "webhook".
	Name, What string
	// Client posts the messages. Nil means one with a 10 s timeout.
	Client *http.Client
	// Timeout bounds one attempt. Zero means Client.Timeout, or 10 s.
	Timeout time.Duration
	// LeaseMargin is added to Timeout to make a claim's lease, so a post
	// always gives up before another worker may take the message over.
	// Zero means 2 s.
	LeaseMargin time.Duration
	// MaxInflight bounds the posts under way at once. Zero means 8.
	MaxInflight int
	// Poll is how often the worker looks at the store unasked: for
	// messages an earlier process left due and claims whose lease lapsed.
	// Zero means 1 s.
	Poll time.Duration
	// Attempts is how many attempts a message gets before it is given up.
	// Zero means 5.
	Attempts int
	// Backoff is the wait after the n-th failed attempt (from 1). Nil
	// means 1 s, doubling, capped at an hour.
	Backoff func(n int) time.Duration
	// Delivered tells, from the receiver's status, whether a message has
	// arrived. Nil means any 2xx.
	Delivered func(status int) bool
	// UserAgent is sent with every post.
	UserAgent string
	// Now stamps the attempts (a simulator's clock). Nil means time.Now.
	// Due times always use real time: a retry waits as long whatever the
	// simulated clock says.
	Now func() time.Time
	// Logger receives failed attempts and failures of the store. Nil
	// means none.
	Logger *slog.Logger
	// LogAttrs are the attributes that identify a message in the log
	// (the document, the session).
	LogAttrs func(m *OutboxMessage[M]) []any
}

// Record kinds of an outbox in its simulator's bucket.
const (
	OutboxKind    = "outbox"
	OutboxLogKind = "outbox_log"
	outboxKeyKind = "outbox_key"

	outboxSeq    = "outbox_seq"
	outboxLogSeq = "outbox_log_seq"
)

// OutboxLogSize is how many of the latest attempts the log keeps.
const OutboxLogSize = 200

// States of a message.
const (
	OutboxQueued    = "queued"  // behind an earlier unfinished message of its key
	OutboxPending   = "pending" // due, being posted, or waiting for its next attempt
	OutboxDelivered = "delivered"
	OutboxFailed    = "failed" // given up after Attempts
)

// OutboxMessage is one message as the store keeps it.
type OutboxMessage[M any] struct {
	ID string `json:"id"`
	// Key, when set, orders the messages that share it: one is only due
	// once every earlier one of its key has finished.
	Key string `json:"key,omitempty"`
	// Target is the URL posted to, a secret path included: never log it.
	Target string         `json:"target"`
	Header http.Header    `json:"header,omitempty"` // besides Content-Type and User-Agent
	Body   []byte         `json:"body"`             // the exact bytes posted (and signed)
	Meta   M              `json:"meta"`             // the simulator's own fields
	State  string         `json:"state"`
	Tries  []OutboxResult `json:"tries,omitempty"`
	Claim  int64          `json:"claim,omitempty"` // counts the claims: see claimed
}

// Done reports whether no further attempt will be made.
func (m *OutboxMessage[M]) Done() bool { return m.State == OutboxDelivered || m.State == OutboxFailed }

// OutboxResult is the outcome of one attempt.
type OutboxResult struct {
	Status int       `json:"status"` // the receiver's HTTP status, 0 when the request failed
	Err    string    `json:"err,omitempty"`
	At     time.Time `json:"at"`
}

// OutboxAttempt is one entry of the attempt log: the message it was of
// (its Meta copied, so reading the log reads nothing else) and its
// outcome.
type OutboxAttempt[M any] struct {
	MessageID string `json:"message_id"`
	Meta      M      `json:"meta"`
	Attempt   int    `json:"attempt"` // from 1
	OutboxResult
}

// outboxQueue lists the unfinished messages of an ordering key, oldest
// first.
type outboxQueue struct {
	IDs []string `json:"ids"`
}

// NewOutbox starts the outbox of bucket's simulator. It reads nothing: its
// worker finds what is due. Close stops it.
func NewOutbox[M any](bucket *Bucket, opts OutboxOptions[M]) *Outbox[M] {
	if opts.Name == "" {
		opts.Name = "sandbox"
	}
	if opts.What == "" {
		opts.What = "webhook"
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = opts.Client.Timeout
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.LeaseMargin <= 0 {
		opts.LeaseMargin = 2 * time.Second
	}
	if opts.MaxInflight <= 0 {
		opts.MaxInflight = 8
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 5
	}
	if opts.Backoff == nil {
		opts.Backoff = defaultBackoff
	}
	if opts.Delivered == nil {
		opts.Delivered = func(status int) bool { return status >= 200 && status <= 299 }
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.LogAttrs == nil {
		opts.LogAttrs = func(*OutboxMessage[M]) []any { return nil }
	}
	o := &Outbox[M]{
		bucket: bucket, opts: opts, lease: opts.Timeout + opts.LeaseMargin,
		wake: make(chan struct{}, 1), settled: make(chan struct{}),
	}
	o.ctx, o.cancel = context.WithCancel(context.Background())
	o.wg.Go(o.run)
	return o
}

func defaultBackoff(n int) time.Duration {
	d := time.Second
	for range n - 1 {
		if d >= time.Hour/2 {
			return time.Hour
		}
		d *= 2
	}
	return d
}

// Close stops the worker and waits for it and the posts under way. A post
// cut short is not an attempt: its claim is released, due at once, so the
// next process on the store posts it without waiting for the lease.
// Waiting messages stay in the store. Safe to call more than once.
func (o *Outbox[M]) Close() {
	if o.closed.Swap(true) {
		return
	}
	o.cancel()
	o.wg.Wait()
	o.broadcast()
}

// Enqueue adds m to the outbox inside tx, the simulator's transaction: it
// lands with the change it reports, and the worker is woken once tx has
// committed. Target, Header, Body, Meta and Key are m's; its ID is given
// and returned, and it is due at once unless an earlier message of its
// Key is unfinished.
func (o *Outbox[M]) Enqueue(tx *Tx, m OutboxMessage[M]) (string, error) {
	n, err := tx.Add(outboxSeq, 1)
	if err != nil {
		return "", fmt.Errorf("%s: queue a %s: %w", o.opts.Name, o.opts.What, err)
	}
	m.ID, m.State, m.Tries, m.Claim = outboxID(n), OutboxPending, nil, 0
	due := time.Now()
	if m.Key != "" {
		var q outboxQueue
		if _, err := tx.Get(outboxKeyKind, m.Key, &q); err != nil {
			return "", fmt.Errorf("%s: queue a %s: %w", o.opts.Name, o.opts.What, err)
		}
		if len(q.IDs) > 0 {
			m.State, due = OutboxQueued, time.Time{}
		}
		q.IDs = append(q.IDs, m.ID)
		if err := tx.Put(outboxKeyKind, m.Key, q, time.Time{}); err != nil {
			return "", fmt.Errorf("%s: queue a %s: %w", o.opts.Name, o.opts.What, err)
		}
	}
	if err := tx.Insert(OutboxKind, m.ID, m, due); err != nil {
		return "", fmt.Errorf("%s: queue a %s: %w", o.opts.Name, o.opts.What, err)
	}
	tx.AfterCommit(o.Wake)
	return m.ID, nil
}

// outboxID formats a sequence number so that ids sort as numbers do.
func outboxID(n int64) string { return fmt.Sprintf("%012d", n) }

// Message reads message id inside tx.
func (o *Outbox[M]) Message(tx *Tx, id string) (m OutboxMessage[M], found bool, err error) {
	found, err = tx.Get(OutboxKind, id, &m)
	if err != nil {
		return m, false, fmt.Errorf("%s: read a %s: %w", o.opts.Name, o.opts.What, err)
	}
	return m, found, nil
}

// Recent returns the latest limit messages, oldest first.
func (o *Outbox[M]) Recent(ctx context.Context, limit int) ([]OutboxMessage[M], error) {
	var out []OutboxMessage[M]
	err := o.bucket.Update(ctx, func(tx *Tx) error {
		out = out[:0]
		return tx.Each(OutboxKind, true, limit, func(id string, _ []byte) error {
			m, _, err := o.Message(tx, id)
			out = append(out, m)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("%s: list the %ss: %w", o.opts.Name, o.opts.What, err)
	}
	slices.Reverse(out)
	return out, nil
}

// Log returns the latest OutboxLogSize attempts, oldest first.
func (o *Outbox[M]) Log(ctx context.Context) ([]OutboxAttempt[M], error) {
	var out []OutboxAttempt[M]
	err := o.bucket.Update(ctx, func(tx *Tx) error {
		out = out[:0]
		return tx.Each(OutboxLogKind, true, OutboxLogSize, func(id string, _ []byte) error {
			var a OutboxAttempt[M]
			_, err := tx.Get(OutboxLogKind, id, &a)
			out = append(out, a)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("%s: read the %s attempts: %w", o.opts.Name, o.opts.What, err)
	}
	slices.Reverse(out)
	return out, nil
}

// Wait waits until no message is due or under way (each delivered, given
// up, or left by Close), or until ctx ends. Messages an earlier process
// left due count.
func (o *Outbox[M]) Wait(ctx context.Context) error {
	// In case the store is shared and another process moves it.
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	for {
		if o.closed.Load() {
			return nil
		}
		settled := o.settledChan()
		var busy bool
		err := o.bucket.Update(ctx, func(tx *Tx) (err error) {
			_, busy, err = tx.NextDue(OutboxKind)
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%s: wait for %ss: %w", o.opts.Name, o.opts.What, err)
		}
		if !busy {
			return nil
		}
		select {
		case <-settled:
		case <-poll.C:
		case <-o.ctx.Done():
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Wake has the worker look at the store now.
func (o *Outbox[M]) Wake() {
	select {
	case o.wake <- struct{}{}:
	default: // already woken
	}
}

func (o *Outbox[M]) settledChan() <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.settled
}

func (o *Outbox[M]) broadcast() {
	o.mu.Lock()
	defer o.mu.Unlock()
	close(o.settled)
	o.settled = make(chan struct{})
}

// run is the worker: it starts the due posts, then sleeps until the next
// message is due, one is queued, a post ends or the poll ticks.
func (o *Outbox[M]) run() {
	poll := time.NewTicker(o.opts.Poll)
	defer poll.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		timer.Stop()
		if next, ok := o.startDue(); ok {
			timer.Reset(max(time.Until(next), 0))
		}
		select {
		case <-o.wake:
		case <-timer.C:
		case <-poll.C:
		case <-o.ctx.Done():
			return
		}
	}
}

// startDue claims as many due messages as there is room for and posts
// each in a goroutine of its own. ok is false when nothing is scheduled,
// or no room is free (a post that ends wakes the worker).
func (o *Outbox[M]) startDue() (next time.Time, ok bool) {
	free := o.opts.MaxInflight - int(o.inflight.Load())
	if free <= 0 {
		return time.Time{}, false
	}
	claimed, next, ok, err := o.claim(free)
	if err != nil {
		if o.ctx.Err() == nil {
			o.opts.Logger.Error(o.opts.Name+": claim due "+o.opts.What+"s", "error", err)
		}
		return time.Now().Add(o.opts.Poll), true
	}
	for _, m := range claimed {
		o.inflight.Add(1)
		o.wg.Go(func() {
			defer o.Wake()
			defer o.inflight.Add(-1)
			o.attempt(m)
		})
	}
	return next, ok
}

// claim takes up to limit due messages, in one transaction, by moving
// their due to the end of a lease and counting the claim.
func (o *Outbox[M]) claim(limit int) (claimed []OutboxMessage[M], next time.Time, ok bool, err error) {
	err = o.bucket.Update(o.ctx, func(tx *Tx) error {
		claimed = claimed[:0]
		now := time.Now()
		ids, err := tx.Due(OutboxKind, now, limit)
		if err != nil {
			return err
		}
		for _, id := range ids {
			m, found, err := o.Message(tx, id)
			if err != nil {
				return err
			}
			if !found {
				continue
			}
			m.Claim++
			if err := tx.Put(OutboxKind, id, m, ceilMilli(now.Add(o.lease))); err != nil {
				return err
			}
			claimed = append(claimed, m)
		}
		next, ok, err = tx.NextDue(OutboxKind)
		return err
	})
	return claimed, next, ok, err
}

// attempt posts claimed message m once and records the outcome.
func (o *Outbox[M]) attempt(m OutboxMessage[M]) {
	defer o.broadcast()
	ctx, cancel := context.WithTimeout(o.ctx, o.opts.Timeout)
	status, postErr := o.post(ctx, &m)
	cancel()
	// The outcome is written even while Close runs: the store outlives the
	// outbox, and Close waits for it.
	store := context.WithoutCancel(o.ctx)
	if postErr != nil && o.ctx.Err() != nil {
		// Cut short by Close: not an attempt worth recording.
		if err := o.release(store, m); err != nil {
			o.opts.Logger.Error(o.opts.Name+": release a "+o.opts.What, append(o.opts.LogAttrs(&m), "error", err)...)
		}
		return
	}
	res := OutboxResult{Status: status, At: o.opts.Now()}
	if postErr != nil {
		res.Err = postErr.Error()
	}
	n, err := o.record(store, m, res)
	if err != nil {
		o.opts.Logger.Error(o.opts.Name+": record a "+o.opts.What+" attempt", append(o.opts.LogAttrs(&m), "error", err)...)
		return
	}
	if n > 0 && !o.opts.Delivered(status) {
		o.opts.Logger.Warn(o.opts.Name+": "+o.opts.What+" not delivered",
			append(o.opts.LogAttrs(&m), "attempt", n, "status", status, "error", res.Err)...)
	}
}

// claimed reads message m as it is now, found only while m's claim is
// still the latest: the outcome of a claim that lapsed and was taken over
// is the later claim's to record.
func (o *Outbox[M]) claimed(tx *Tx, m OutboxMessage[M]) (OutboxMessage[M], bool, error) {
	cur, found, err := o.Message(tx, m.ID)
	if err != nil || !found || cur.Claim != m.Claim || cur.State != OutboxPending {
		return cur, false, err
	}
	return cur, true, nil
}

// release makes claimed message m due again now.
func (o *Outbox[M]) release(ctx context.Context, m OutboxMessage[M]) error {
	return o.bucket.Update(ctx, func(tx *Tx) error {
		cur, ok, err := o.claimed(tx, m)
		if err != nil || !ok {
			return err
		}
		return tx.Put(OutboxKind, cur.ID, cur, time.Now())
	})
}

// record writes the outcome of the attempt at claimed message m: delivered,
// given up after Attempts, or due again after Backoff. It returns the
// attempt's number, 0 when the claim was no longer m's.
func (o *Outbox[M]) record(ctx context.Context, m OutboxMessage[M], res OutboxResult) (n int, err error) {
	err = o.bucket.Update(ctx, func(tx *Tx) error {
		n = 0
		cur, ok, err := o.claimed(tx, m)
		if err != nil || !ok {
			return err
		}
		cur.Tries = append(cur.Tries, res)
		var due time.Time
		switch {
		case o.opts.Delivered(res.Status):
			cur.State = OutboxDelivered
		case len(cur.Tries) >= o.opts.Attempts:
			cur.State = OutboxFailed
		default:
			due = ceilMilli(time.Now().Add(o.opts.Backoff(len(cur.Tries))))
		}
		if err := tx.Put(OutboxKind, cur.ID, cur, due); err != nil {
			return err
		}
		if cur.Done() && cur.Key != "" {
			if err := o.next(tx, cur); err != nil {
				return err
			}
		}
		if err := o.logAttempt(tx, &cur, res); err != nil {
			return err
		}
		n = len(cur.Tries)
		return nil
	})
	if err != nil {
		n = 0
	}
	return n, err
}

// next takes finished message m off its key's queue and makes the next
// one due.
func (o *Outbox[M]) next(tx *Tx, m OutboxMessage[M]) error {
	var q outboxQueue
	if _, err := tx.Get(outboxKeyKind, m.Key, &q); err != nil {
		return err
	}
	q.IDs = slices.DeleteFunc(q.IDs, func(id string) bool { return id == m.ID })
	for len(q.IDs) > 0 {
		nm, found, err := o.Message(tx, q.IDs[0])
		if err != nil {
			return err
		}
		if found && !nm.Done() {
			if nm.State == OutboxQueued {
				nm.State = OutboxPending
				if err := tx.Put(OutboxKind, nm.ID, nm, time.Now()); err != nil {
					return err
				}
			}
			break
		}
		q.IDs = q.IDs[1:] // cannot happen; must not hold up the rest
	}
	if len(q.IDs) == 0 {
		return tx.Delete(outboxKeyKind, m.Key)
	}
	return tx.Put(outboxKeyKind, m.Key, q, time.Time{})
}

// logAttempt appends an attempt at m to the log and drops the one that
// falls out of its last OutboxLogSize, so the log stays that long however
// long the simulator runs.
func (o *Outbox[M]) logAttempt(tx *Tx, m *OutboxMessage[M], res OutboxResult) error {
	n, err := tx.Add(outboxLogSeq, 1)
	if err != nil {
		return err
	}
	a := OutboxAttempt[M]{MessageID: m.ID, Meta: m.Meta, Attempt: len(m.Tries), OutboxResult: res}
	if err := tx.Put(OutboxLogKind, outboxID(n), a, time.Time{}); err != nil {
		return err
	}
	if n > OutboxLogSize {
		return tx.Delete(OutboxLogKind, outboxID(n-OutboxLogSize))
	}
	return nil
}

// post sends one attempt. The error never contains the URL, whose path may
// hold the receiver's secret.
func (o *Outbox[M]) post(ctx context.Context, m *OutboxMessage[M]) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.Target, bytes.NewReader(m.Body))
	if err != nil {
		return 0, errors.New("invalid " + o.opts.What + " URL")
	}
	for k, vs := range m.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Content-Type", "application/json")
	if o.opts.UserAgent != "" {
		req.Header.Set("User-Agent", o.opts.UserAgent)
	}
	resp, err := o.opts.Client.Do(req)
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

// ceilMilli rounds a later due up to the store's millisecond: a message
// found due is then never early, so a backoff or a lease is never cut
// short. A due of now is left to round down: it is due at once either way.
func ceilMilli(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	if r := t.Truncate(time.Millisecond); !r.Equal(t) {
		return r.Add(time.Millisecond)
	}
	return t
}
