package passportreadersim

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"portal/services/sandbox"
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

// sessionRecord is a session as the store keeps it.
type sessionRecord struct {
	ID               int64     `json:"id"`
	Token            string    `json:"token"`
	Created          time.Time `json:"created"`
	Expires          time.Time `json:"expires"`
	State            string    `json:"state"`
	ChangedAt        time.Time `json:"changed_at"`
	Reference        string    `json:"reference"`
	CallbackURL      string    `json:"callback_url,omitempty"`
	FaceVerification bool      `json:"face_verification,omitempty"`
	PassportOnly     bool      `json:"passport_only,omitempty"`
	UserIP           string    `json:"user_ip,omitempty"`
	UserAgent        string    `json:"user_agent,omitempty"`
	Identity         Identity  `json:"identity"`
	Portrait         []byte    `json:"portrait,omitempty"` // PNG; nil until scanned
	Face             []byte    `json:"face,omitempty"`
	RejectReason     string    `json:"reject_reason,omitempty"`
	Changes          []Change  `json:"changes"`

	// fresh are the callbacks the changes since the read caused, which
	// put adds to the outbox; dirty says the record must be written.
	fresh []callbackBody
	dirty bool
}

func (rec *sessionRecord) snapshot() Session {
	return Session{
		ID: rec.ID, Token: rec.Token, Created: rec.Created, Expires: rec.Expires, State: rec.State,
		Reference: rec.Reference, CallbackURL: rec.CallbackURL,
		FaceVerification: rec.FaceVerification, PassportOnly: rec.PassportOnly,
		UserIP: rec.UserIP, UserAgent: rec.UserAgent, Identity: rec.Identity,
		Portrait: rec.Portrait, Face: rec.Face,
		RejectReason: rec.RejectReason, Changes: rec.Changes,
	}
}

// newSessionInput is a validated session.create request.
type newSessionInput struct {
	callbackURL      string
	reference        string
	faceVerification bool
	passportOnly     bool
}

// create makes a session with a new id and token, both unique in the
// store, so neither is handed out twice, before a restart or after it.
func (s *Sim) create(o *op, in newSessionInput) (*sessionRecord, error) {
	rec := &sessionRecord{
		Created:          o.now,
		Expires:          o.now.Add(s.ttl),
		State:            StateCreated,
		ChangedAt:        o.now,
		Reference:        in.reference,
		CallbackURL:      in.callbackURL,
		FaceVerification: in.faceVerification,
		PassportOnly:     in.passportOnly,
		Changes:          []Change{{StateCreated, o.now}},
	}
	for {
		rec.ID, rec.Token = newID(), newToken()
		err := o.tx.Insert(kindToken, rec.Token, tokenRecord{rec.ID}, time.Time{})
		if errors.Is(err, sandbox.ErrExists) {
			continue
		}
		if err != nil {
			return nil, err
		}
		err = o.tx.Insert(kindSession, key(rec.ID), rec, s.sessionDue(rec))
		if errors.Is(err, sandbox.ErrExists) {
			if err := o.tx.Delete(kindToken, rec.Token); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		return rec, nil
	}
}

// setState moves rec to state at time at and queues its callback.
func (s *Sim) setState(rec *sessionRecord, state string, at time.Time) {
	rec.State = state
	rec.ChangedAt = at
	rec.Changes = append(rec.Changes, Change{state, at})
	rec.dirty = true
	s.queueCallback(rec)
}

// advance applies, in time order, everything the clock says has happened
// to rec if it is not final: AutoAdvance steps, then expiry. Events happen
// at their due time, not when someone looked, so a jump of the clock gives
// the same timeline as waiting. [ours]
func (s *Sim) advance(rec *sessionRecord, now time.Time) {
	for !IsFinal(rec.State) {
		if at, ok := s.autoDue(rec); ok && at.Before(rec.Expires) && !at.After(now) {
			s.step(rec, at, sandboxIP, sandboxUserAgent)
			continue
		}
		if !now.Before(rec.Expires) {
			s.setState(rec, StateAborted, rec.Expires)
		}
		break
	}
}

// autoDue is when AutoAdvance moves rec next, if it does.
func (s *Sim) autoDue(rec *sessionRecord) (time.Time, bool) {
	if s.autoAdvance <= 0 || IsFinal(rec.State) {
		return time.Time{}, false
	}
	return rec.ChangedAt.Add(s.autoAdvance), true
}

// step moves rec one step along the happy path: CREATED → INITIATED →
// COMPLETED → APPROVED. The caller has checked that rec is not final.
func (s *Sim) step(rec *sessionRecord, at time.Time, ip, userAgent string) {
	switch rec.State {
	case StateCreated:
		s.initiate(rec, at, ip, userAgent)
	case StateInitiated:
		s.complete(rec, at, generateIdentity(rec.ID, rec.Created))
	case StateCompleted:
		s.setState(rec, StateApproved, at)
	}
}

func (s *Sim) initiate(rec *sessionRecord, at time.Time, ip, userAgent string) {
	rec.UserIP = ip
	rec.UserAgent = clip(userAgent, maxUserAgent)
	s.setState(rec, StateInitiated, at)
}

// complete records the scan: the identity read from the chip, its
// portrait and, when asked for, the selfie.
func (s *Sim) complete(rec *sessionRecord, at time.Time, id Identity) {
	rec.Identity = id
	rec.Portrait = drawPortrait(rec.ID, false)
	if rec.FaceVerification {
		rec.Face = drawPortrait(rec.ID, true)
	}
	s.setState(rec, StateCompleted, at)
}

// notFinal are the states an action given no list is allowed from.
var notFinal = []string{StateCreated, StateInitiated, StateCompleted}

// act runs do on session id when its state is one of from (any state that
// is not final when from is nil), after applying the clock, in one store
// transaction. A refusal is returned as it is, a store failure wrapped.
func (s *Sim) act(ctx context.Context, id int64, action string, from []string, do func(rec *sessionRecord, now time.Time)) error {
	var refused error
	err := s.update(ctx, func(o *op) error {
		rec, found, err := s.load(o, id)
		if err != nil {
			return err
		}
		switch {
		case !found:
			refused = fmt.Errorf("%w: %d", ErrUnknownSession, id)
			return nil
		case from == nil && IsFinal(rec.State) || from != nil && !slices.Contains(from, rec.State):
			allowed := from
			if allowed == nil {
				allowed = notFinal
			}
			refused = &StateError{ID: id, Action: action, State: rec.State, From: slices.Clone(allowed)}
			return s.save(o, rec)
		}
		do(rec, o.now)
		rec.dirty = true
		return s.put(o, rec)
	})
	if err != nil {
		return storeError(action+" session "+key(id), err)
	}
	return refused
}

// The exported methods have no request to take a context from; the
// actions and the /open page call the ctx variants below with theirs.

// Initiate opens session id in the app: CREATED → INITIATED. user_ip and
// user_agent become the sandbox's own.
func (s *Sim) Initiate(id int64) error {
	return s.initiateFrom(context.Background(), id, sandboxIP, sandboxUserAgent)
}

func (s *Sim) initiateFrom(ctx context.Context, id int64, ip, userAgent string) error {
	return s.act(ctx, id, "initiate", []string{StateCreated}, func(rec *sessionRecord, now time.Time) {
		s.initiate(rec, now, ip, userAgent)
	})
}

// Complete scans the passport of session id with generated identity data:
// INITIATED → COMPLETED.
func (s *Sim) Complete(id int64) error {
	return s.act(context.Background(), id, "complete", []string{StateInitiated}, func(rec *sessionRecord, now time.Time) {
		s.complete(rec, now, generateIdentity(rec.ID, rec.Created))
	})
}

// CompleteWith is Complete with the identity read from the passport given.
// It is checked and normalised as the /open page's scan form is; a bad
// value is an *IdentityError.
func (s *Sim) CompleteWith(id int64, ident Identity) error {
	return s.completeWith(context.Background(), id, ident)
}

func (s *Sim) completeWith(ctx context.Context, id int64, ident Identity) error {
	ident, err := ident.normalise()
	if err != nil {
		return err
	}
	return s.act(ctx, id, "complete", []string{StateInitiated}, func(rec *sessionRecord, now time.Time) {
		s.complete(rec, now, ident)
	})
}

// Approve is the provider's positive decision: COMPLETED → APPROVED.
func (s *Sim) Approve(id int64) error { return s.approve(context.Background(), id) }

func (s *Sim) approve(ctx context.Context, id int64) error {
	return s.act(ctx, id, "approve", []string{StateCompleted}, func(rec *sessionRecord, now time.Time) {
		s.setState(rec, StateApproved, now)
	})
}

// Reject is the provider's negative decision: COMPLETED → REJECTED. reason
// is kept in the snapshot and logged; the API has no field for it.
func (s *Sim) Reject(id int64, reason string) error {
	return s.reject(context.Background(), id, reason)
}

func (s *Sim) reject(ctx context.Context, id int64, reason string) error {
	return s.act(ctx, id, "reject", []string{StateCompleted}, func(rec *sessionRecord, now time.Time) {
		rec.RejectReason = clip(strings.TrimSpace(reason), maxRejectReason)
		s.logger.Info("passportreadersim: session rejected", "session", rec.ID, "reason", rec.RejectReason)
		s.setState(rec, StateRejected, now)
	})
}

// Fail ends a scanned session as failed (the passport could not be
// verified): COMPLETED → FAILED.
func (s *Sim) Fail(id int64) error { return s.fail(context.Background(), id) }

func (s *Sim) fail(ctx context.Context, id int64) error {
	return s.act(ctx, id, "fail", []string{StateCompleted}, func(rec *sessionRecord, now time.Time) {
		s.setState(rec, StateFailed, now)
	})
}

// Abort is the person giving up: any state that is not final → ABORTED.
func (s *Sim) Abort(id int64) error { return s.abort(context.Background(), id) }

func (s *Sim) abort(ctx context.Context, id int64) error {
	return s.act(ctx, id, "abort", nil, func(rec *sessionRecord, now time.Time) {
		s.setState(rec, StateAborted, now)
	})
}

// Expire makes session id expire now (expires becomes the current time),
// which aborts it. [ours]
func (s *Sim) Expire(id int64) error { return s.expire(context.Background(), id) }

func (s *Sim) expire(ctx context.Context, id int64) error {
	return s.act(ctx, id, "expire", nil, func(rec *sessionRecord, now time.Time) {
		rec.Expires = now
		s.advance(rec, now)
	})
}

// Advance moves session id one step along the happy path (CREATED →
// INITIATED → COMPLETED → APPROVED), as AutoAdvance does, and returns the
// new state.
func (s *Sim) Advance(id int64) (state string, err error) {
	return s.advanceOne(context.Background(), id)
}

func (s *Sim) advanceOne(ctx context.Context, id int64) (state string, err error) {
	err = s.act(ctx, id, "advance", nil, func(rec *sessionRecord, now time.Time) {
		s.step(rec, now, sandboxIP, sandboxUserAgent)
		state = rec.State
	})
	return state, err
}

// ResendCallback posts session id's current state to its callback_url
// again, whatever the state.
func (s *Sim) ResendCallback(id int64) error { return s.resendCallback(context.Background(), id) }

func (s *Sim) resendCallback(ctx context.Context, id int64) error {
	var refused error
	err := s.update(ctx, func(o *op) error {
		rec, found, err := s.load(o, id)
		if err != nil {
			return err
		}
		switch {
		case !found:
			refused = fmt.Errorf("%w: %d", ErrUnknownSession, id)
		case rec.CallbackURL == "":
			refused = fmt.Errorf("%w: session %d", ErrNoCallbackURL, id)
		case s.closed.Load():
			refused = ErrClosed
		default:
			s.queueCallback(rec)
			rec.dirty = true
		}
		return s.save(o, rec)
	})
	if err != nil {
		return storeError("resend the callback of session "+key(id), err)
	}
	return refused
}

// --- ids and tokens ---

// newID returns a random positive int64: 63 random bits, so nearly always
// above 2^53, where a float64 loses digits. The caller makes sure it is
// unused. [ours]
func newID() int64 {
	for {
		var b [8]byte
		_, _ = rand.Read(b[:]) // never fails (crypto/rand)
		if id := int64(binary.BigEndian.Uint64(b[:]) >> 1); id > 0 {
			return id
		}
	}
}

// newToken returns 24 random bytes as unpadded URL-safe base64: safe in a
// query string without escaping, like the document's "i_dI5hs7m…". The
// caller makes sure it is unused. [ours]
func newToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
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
