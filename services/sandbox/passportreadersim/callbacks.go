package passportreadersim

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

// Delivery is one callback attempt.
type Delivery struct {
	SessionID int64
	State     string // the session_state posted
	// Host is the scheme and host of the callback_url only: its path and
	// query may hold the receiver's secret.
	Host    string
	Attempt int    // 1 to Options.CallbackAttempts
	Status  int    // the receiver's HTTP status, 0 when the request failed
	Err     string // why the request failed, "" when the receiver answered
	At      time.Time
}

// maxDeliveries bounds the delivery log.
const maxDeliveries = 200

// callbackUserAgent identifies the simulator's callbacks. [ours]
const callbackUserAgent = "PassportReader-Sandbox-Callback/1"

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

type callback struct {
	sessionID int64
	state     string
	target    string // the callback_url
	host      string // its scheme and host, for the log
	body      []byte
}

// Deliveries returns the most recent callback attempts (at most 200),
// oldest first.
func (s *Sim) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.deliveries)
}

// WaitCallbacks waits until no callback delivery is under way (each has
// been answered with a 2xx, given up after CallbackAttempts, or stopped by
// Close), or until ctx ends.
func (s *Sim) WaitCallbacks(ctx context.Context) error {
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

// queueCallbackLocked queues ss's current state for its callback_url and
// makes sure a goroutine is delivering the session's queue. The body is
// made now, so a callback reports the change that caused it even if the
// session has moved on by the time it leaves.
func (s *Sim) queueCallbackLocked(ss *session) {
	if s.closed || ss.callbackURL == "" {
		return
	}
	var body any = callbackBody{ss.id, ss.state, ss.reference}
	if s.legacyKey {
		body = legacyCallbackBody{ss.id, ss.state, ss.reference}
	}
	host := ""
	if u, err := url.Parse(ss.callbackURL); err == nil {
		host = u.Scheme + "://" + u.Host
	}
	ss.outbox = append(ss.outbox, callback{ss.id, ss.state, ss.callbackURL, host, marshal(body)})
	if ss.sending {
		return
	}
	ss.sending = true
	s.inflight++
	if s.inflight == 1 {
		s.idle = make(chan struct{})
	}
	s.wg.Add(1) // not closed, under s.mu: Close's Wait has not started
	go s.drain(ss)
}

// drain delivers ss's queued callbacks one after the other, so a receiver
// sees a session's changes in order. [ours]
func (s *Sim) drain(ss *session) {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		if len(ss.outbox) == 0 || s.ctx.Err() != nil {
			ss.outbox = nil
			ss.sending = false
			if s.inflight--; s.inflight == 0 {
				close(s.idle)
			}
			s.mu.Unlock()
			return
		}
		cb := ss.outbox[0]
		ss.outbox = ss.outbox[1:]
		s.mu.Unlock()
		s.deliver(cb)
	}
}

// deliver POSTs one callback until the receiver answers with a 2xx, at
// most CallbackAttempts times, waiting CallbackBackoff after the first
// failure and twice as long after each further one. [ours]
func (s *Sim) deliver(cb callback) {
	wait := s.backoff
	for attempt := 1; ; attempt++ {
		status, err := s.post(cb.target, cb.body)
		if s.ctx.Err() != nil {
			return // closed mid-request: not an attempt worth recording
		}
		rec := Delivery{SessionID: cb.sessionID, State: cb.state, Host: cb.host, Attempt: attempt, Status: status, At: s.now()}
		if err != nil {
			rec.Err = err.Error()
		}
		s.mu.Lock()
		s.deliveries = append(s.deliveries, rec)
		if n := len(s.deliveries) - maxDeliveries; n > 0 {
			s.deliveries = slices.Delete(s.deliveries, 0, n)
		}
		s.mu.Unlock()
		if status >= 200 && status <= 299 {
			return
		}
		s.logger.Warn("passportreadersim: callback not delivered",
			"session", cb.sessionID, "state", cb.state, "attempt", attempt, "status", status, "error", rec.Err)
		if attempt >= s.attempts {
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
