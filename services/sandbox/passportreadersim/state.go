package passportreadersim

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Errors of the methods that act on a session. A refused transition is a
// *StateError, which matches ErrWrongState with errors.Is.
var (
	ErrUnknownSession = errors.New("passportreadersim: no session with that id")
	ErrWrongState     = errors.New("passportreadersim: the session's state does not allow this")
	ErrNoCallbackURL  = errors.New("passportreadersim: the session has no callback_url")
	ErrClosed         = errors.New("passportreadersim: the simulator is closed")
)

// StateError reports an action the session's current state does not allow,
// such as approving a session that has not been scanned yet.
type StateError struct {
	ID     int64
	Action string   // "initiate", "complete", "approve", …
	State  string   // the session's state
	From   []string // the states the action is allowed from
}

func (e *StateError) Error() string {
	return fmt.Sprintf("passportreadersim: cannot %s session %d: it is %s, and that is only possible from %s",
		e.Action, e.ID, e.State, joinOr(e.From))
}

// Unwrap makes errors.Is(err, ErrWrongState) true.
func (e *StateError) Unwrap() error { return ErrWrongState }

// Where the sandbox's own moves (Go methods, actions, AutoAdvance) open a
// session from: a documentation address (RFC 5737) and a made-up app user
// agent. [ours]
const (
	sandboxIP        = "203.0.113.10"
	sandboxUserAgent = "PassportReader/1.0 (sandbox simulator)"
)

// maxRejectReason bounds a rejection reason. [ours]
const maxRejectReason = 500

type session struct {
	id               int64
	token            string
	created          time.Time
	expires          time.Time
	state            string
	changedAt        time.Time
	reference        string
	callbackURL      string
	faceVerification bool
	passportOnly     bool
	userIP           string
	userAgent        string
	identity         Identity
	portrait, face   []byte // PNG; nil until scanned
	rejectReason     string
	changes          []Change

	// Callbacks waiting to be delivered, oldest first, and whether a
	// goroutine is delivering them: one at a time keeps them in order.
	outbox  []callback
	sending bool
}

func (ss *session) snapshot() Session {
	return Session{
		ID: ss.id, Token: ss.token, Created: ss.created, Expires: ss.expires, State: ss.state,
		Reference: ss.reference, CallbackURL: ss.callbackURL,
		FaceVerification: ss.faceVerification, PassportOnly: ss.passportOnly,
		UserIP: ss.userIP, UserAgent: ss.userAgent, Identity: ss.identity,
		Portrait: slices.Clone(ss.portrait), Face: slices.Clone(ss.face),
		RejectReason: ss.rejectReason, Changes: slices.Clone(ss.changes),
	}
}

// newSessionInput is a validated session.create request.
type newSessionInput struct {
	callbackURL      string
	reference        string
	faceVerification bool
	passportOnly     bool
}

func (s *Sim) createLocked(in newSessionInput, now time.Time) *session {
	ss := &session{
		id:               s.newIDLocked(),
		token:            s.newTokenLocked(),
		created:          now,
		expires:          now.Add(s.ttl),
		state:            StateCreated,
		changedAt:        now,
		reference:        in.reference,
		callbackURL:      in.callbackURL,
		faceVerification: in.faceVerification,
		passportOnly:     in.passportOnly,
		changes:          []Change{{StateCreated, now}},
	}
	s.sessions[ss.id] = ss
	s.byToken[ss.token] = ss
	s.open[ss.id] = ss
	return ss
}

// setStateLocked moves ss to state at time at and queues its callback.
func (s *Sim) setStateLocked(ss *session, state string, at time.Time) {
	ss.state = state
	ss.changedAt = at
	ss.changes = append(ss.changes, Change{state, at})
	if IsFinal(state) {
		delete(s.open, ss.id)
	}
	s.queueCallbackLocked(ss)
}

// advanceLocked applies, in time order per session, everything the clock
// says has happened to sessions that are not final: AutoAdvance steps, then
// expiry. Events happen at their due time, not when someone looked, so a
// jump of the clock gives the same timeline as waiting. [ours]
func (s *Sim) advanceLocked(now time.Time) {
	for _, ss := range s.open {
		for !IsFinal(ss.state) {
			if at, ok := s.autoDue(ss); ok && at.Before(ss.expires) && !at.After(now) {
				s.stepLocked(ss, at, sandboxIP, sandboxUserAgent)
				continue
			}
			if !now.Before(ss.expires) {
				s.setStateLocked(ss, StateAborted, ss.expires)
			}
			break
		}
	}
}

// autoDue is when AutoAdvance moves ss next, if it does.
func (s *Sim) autoDue(ss *session) (time.Time, bool) {
	if s.autoAdvance <= 0 || IsFinal(ss.state) {
		return time.Time{}, false
	}
	return ss.changedAt.Add(s.autoAdvance), true
}

// stepLocked moves ss one step along the happy path: CREATED → INITIATED
// → COMPLETED → APPROVED. The caller has checked that ss is not final.
func (s *Sim) stepLocked(ss *session, at time.Time, ip, userAgent string) {
	switch ss.state {
	case StateCreated:
		s.initiateLocked(ss, at, ip, userAgent)
	case StateInitiated:
		s.completeLocked(ss, at, generateIdentity(ss.id, ss.created))
	case StateCompleted:
		s.setStateLocked(ss, StateApproved, at)
	}
}

func (s *Sim) initiateLocked(ss *session, at time.Time, ip, userAgent string) {
	ss.userIP = ip
	ss.userAgent = clip(userAgent, maxUserAgent)
	s.setStateLocked(ss, StateInitiated, at)
}

// completeLocked records the scan: the identity read from the chip, its
// portrait and, when asked for, the selfie.
func (s *Sim) completeLocked(ss *session, at time.Time, id Identity) {
	ss.identity = id
	ss.portrait = drawPortrait(ss.id, false)
	if ss.faceVerification {
		ss.face = drawPortrait(ss.id, true)
	}
	s.setStateLocked(ss, StateCompleted, at)
}

// act runs do on session id when its state is one of from (any state that
// is not final when from is nil), after applying the clock.
func (s *Sim) act(id int64, action string, from []string, do func(ss *session, now time.Time)) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked(now)
	ss := s.sessions[id]
	if ss == nil {
		return fmt.Errorf("%w: %d", ErrUnknownSession, id)
	}
	if from == nil && IsFinal(ss.state) || from != nil && !slices.Contains(from, ss.state) {
		allowed := from
		if allowed == nil {
			allowed = []string{StateCreated, StateInitiated, StateCompleted}
		}
		return &StateError{ID: id, Action: action, State: ss.state, From: allowed}
	}
	do(ss, now)
	return nil
}

// Initiate opens session id in the app: CREATED → INITIATED. user_ip and
// user_agent become the sandbox's own.
func (s *Sim) Initiate(id int64) error {
	return s.initiateFrom(id, sandboxIP, sandboxUserAgent)
}

func (s *Sim) initiateFrom(id int64, ip, userAgent string) error {
	return s.act(id, "initiate", []string{StateCreated}, func(ss *session, now time.Time) {
		s.initiateLocked(ss, now, ip, userAgent)
	})
}

// Complete scans the passport of session id with generated identity data:
// INITIATED → COMPLETED.
func (s *Sim) Complete(id int64) error {
	return s.act(id, "complete", []string{StateInitiated}, func(ss *session, now time.Time) {
		s.completeLocked(ss, now, generateIdentity(ss.id, ss.created))
	})
}

// CompleteWith is Complete with the identity read from the passport given.
// It is checked and normalised as the /open page's scan form is; a bad
// value is an *IdentityError.
func (s *Sim) CompleteWith(id int64, ident Identity) error {
	ident, err := ident.normalise()
	if err != nil {
		return err
	}
	return s.act(id, "complete", []string{StateInitiated}, func(ss *session, now time.Time) {
		s.completeLocked(ss, now, ident)
	})
}

// Approve is the provider's positive decision: COMPLETED → APPROVED.
func (s *Sim) Approve(id int64) error {
	return s.act(id, "approve", []string{StateCompleted}, func(ss *session, now time.Time) {
		s.setStateLocked(ss, StateApproved, now)
	})
}

// Reject is the provider's negative decision: COMPLETED → REJECTED. reason
// is kept in the snapshot and logged; the API has no field for it.
func (s *Sim) Reject(id int64, reason string) error {
	return s.act(id, "reject", []string{StateCompleted}, func(ss *session, now time.Time) {
		ss.rejectReason = clip(strings.TrimSpace(reason), maxRejectReason)
		s.logger.Info("passportreadersim: session rejected", "session", ss.id, "reason", ss.rejectReason)
		s.setStateLocked(ss, StateRejected, now)
	})
}

// Fail ends a scanned session as failed (the passport could not be
// verified): COMPLETED → FAILED.
func (s *Sim) Fail(id int64) error {
	return s.act(id, "fail", []string{StateCompleted}, func(ss *session, now time.Time) {
		s.setStateLocked(ss, StateFailed, now)
	})
}

// Abort is the person giving up: any state that is not final → ABORTED.
func (s *Sim) Abort(id int64) error {
	return s.act(id, "abort", nil, func(ss *session, now time.Time) {
		s.setStateLocked(ss, StateAborted, now)
	})
}

// Expire makes session id expire now (expires becomes the current time),
// which aborts it. [ours]
func (s *Sim) Expire(id int64) error {
	return s.act(id, "expire", nil, func(ss *session, now time.Time) {
		ss.expires = now
		s.advanceLocked(now)
	})
}

// Advance moves session id one step along the happy path (CREATED →
// INITIATED → COMPLETED → APPROVED), as AutoAdvance does, and returns the
// new state.
func (s *Sim) Advance(id int64) (state string, err error) {
	err = s.act(id, "advance", nil, func(ss *session, now time.Time) {
		s.stepLocked(ss, now, sandboxIP, sandboxUserAgent)
		state = ss.state
	})
	return state, err
}

// ResendCallback posts session id's current state to its callback_url
// again, whatever the state.
func (s *Sim) ResendCallback(id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked(s.now())
	ss := s.sessions[id]
	switch {
	case ss == nil:
		return fmt.Errorf("%w: %d", ErrUnknownSession, id)
	case ss.callbackURL == "":
		return fmt.Errorf("%w: session %d", ErrNoCallbackURL, id)
	case s.closed:
		return ErrClosed
	}
	s.queueCallbackLocked(ss)
	return nil
}

// --- ids and tokens ---

// newIDLocked returns a random positive int64 not used yet: 63 random bits,
// so nearly always above 2^53, where a float64 loses digits. [ours]
func (s *Sim) newIDLocked() int64 {
	for {
		var b [8]byte
		_, _ = rand.Read(b[:]) // never fails (crypto/rand)
		id := int64(binary.BigEndian.Uint64(b[:]) >> 1)
		if _, dup := s.sessions[id]; id > 0 && !dup {
			return id
		}
	}
}

// newTokenLocked returns 24 random bytes as unpadded URL-safe base64: safe
// in a query string without escaping, like the document's "i_dI5hs7m…".
// [ours]
func (s *Sim) newTokenLocked() string {
	for {
		var b [24]byte
		_, _ = rand.Read(b[:])
		tok := base64.RawURLEncoding.EncodeToString(b[:])
		if _, dup := s.byToken[tok]; !dup {
			return tok
		}
	}
}

// clip shortens s to at most n runes so hostile input cannot blow up a
// message or a record.
func clip(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i] + "…"
		}
		n--
	}
	return s
}
