package passportreadersim

import (
	"context"
	"net/url"
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

// callbackMeta is what the attempts of a callback report about it.
type callbackMeta struct {
	SessionID int64  `json:"session_id"`
	State     string `json:"state"`
	Host      string `json:"host"` // the callback_url's scheme and host, for the log
}

// newOutbox starts the callback outbox: delivered on a 2xx, given up after
// CallbackAttempts, otherwise due again after CallbackBackoff, doubled for
// each earlier failure. [ours]
func (s *Sim) newOutbox() *sandbox.Outbox[callbackMeta] {
	timeout := s.client.Timeout
	if timeout <= 0 {
		timeout = DefaultCallbackTimeout
	}
	return sandbox.NewOutbox(s.bucket, sandbox.OutboxOptions[callbackMeta]{
		Name: "passportreadersim", What: "callback",
		Client: s.client, Timeout: timeout, LeaseMargin: leaseMargin,
		MaxInflight: maxParallelCallbacks, Poll: callbackPoll,
		Attempts: s.attempts, Backoff: s.retryWait,
		Delivered: func(status int) bool { return status >= 200 && status <= 299 },
		UserAgent: callbackUserAgent, Now: s.now, Logger: s.logger,
		LogAttrs: func(m *sandbox.OutboxMessage[callbackMeta]) []any {
			return []any{"session", m.Meta.SessionID, "state", m.Meta.State}
		},
	})
}

// Deliveries returns the most recent callback attempts (at most 200),
// oldest first. A store failure is logged and gives none.
func (s *Sim) Deliveries() []Delivery {
	log, err := s.outbox.Log(context.Background())
	if err != nil {
		s.logger.Error("passportreadersim: read the delivery log", "error", err)
		return nil
	}
	out := make([]Delivery, 0, len(log))
	for _, a := range log {
		out = append(out, Delivery{SessionID: a.Meta.SessionID, State: a.Meta.State, Host: a.Meta.Host,
			Attempt: a.Attempt, Status: a.Status, Err: a.Err, At: a.At})
	}
	return out
}

// WaitCallbacks waits until no callback delivery is under way (each has
// been answered with a 2xx, given up after CallbackAttempts, or stopped by
// Close), or until ctx ends. Callbacks found in the store from before a
// restart count: they are under way.
func (s *Sim) WaitCallbacks(ctx context.Context) error {
	if s.closed.Load() {
		return nil
	}
	return s.outbox.Wait(ctx)
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

// enqueue writes one callback of rec to the outbox. The session is its
// ordering key: a session's callbacks are posted one after the other, in
// order, so a receiver never sees a state after the one that followed it.
func (s *Sim) enqueue(o *op, rec *sessionRecord, cb callbackBody) error {
	var body any = cb
	if s.legacyKey {
		body = legacyCallbackBody(cb)
	}
	host := ""
	if u, err := url.Parse(rec.CallbackURL); err == nil {
		host = u.Scheme + "://" + u.Host
	}
	_, err := s.outbox.Enqueue(o.tx, sandbox.OutboxMessage[callbackMeta]{
		Key: key(rec.ID), Target: rec.CallbackURL, Body: marshal(body),
		Meta: callbackMeta{SessionID: rec.ID, State: cb.SessionState, Host: host},
	})
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
