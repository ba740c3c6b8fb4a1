package passportreadersim

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"portal/services/sandbox"
)

// Action names and fields, for sandbox.Harness.Run.
const (
	ActionAdvance = "advance"
	ActionApprove = "approve"
	ActionReject  = "reject"
	ActionFail    = "fail"
	ActionExpire  = "expire"
	ActionResend  = "resend_callback"
	FieldID       = "id"
	FieldReason   = "reason"
)

// Actions are the sandbox page's controls: move a session one step, the
// provider's decisions, expiry, and sending the callback again.
func (s *Sim) Actions() []sandbox.Action {
	id := sandbox.Field{Name: FieldID, Label: "Session id", Placeholder: "e.g. 4611686018427387904", Required: true}
	simple := func(name, label, help string, do func(context.Context, int64) error, done string) sandbox.Action {
		return sandbox.Action{
			Name: name, Label: label, Help: help, Fields: []sandbox.Field{id},
			Run: func(ctx context.Context, in map[string]string) (string, error) {
				n, err := parseID(in[FieldID])
				if err != nil {
					return "", err
				}
				if err := do(ctx, n); err != nil {
					return "", actionError(err)
				}
				return fmt.Sprintf(done, n), nil
			},
		}
	}
	return []sandbox.Action{
		{
			Name:   ActionAdvance,
			Label:  "Advance one step",
			Help:   "Moves the session one step along the happy path: CREATED → INITIATED (opened in the app) → COMPLETED (passport scanned) → APPROVED. A callback is sent.",
			Fields: []sandbox.Field{id},
			Run: func(ctx context.Context, in map[string]string) (string, error) {
				n, err := parseID(in[FieldID])
				if err != nil {
					return "", err
				}
				state, err := s.advanceOne(ctx, n)
				if err != nil {
					return "", actionError(err)
				}
				return fmt.Sprintf("Session %d is %s now.", n, state), nil
			},
		},
		simple(ActionApprove, "Approve", "PassportReader's positive decision on a scanned (COMPLETED) session: APPROVED.",
			s.approve, "Approved session %d."),
		{
			Name:  ActionReject,
			Label: "Reject",
			Help:  "PassportReader's negative decision on a scanned (COMPLETED) session: REJECTED. The reason is kept by the sandbox only: the API has no field for it.",
			Fields: []sandbox.Field{
				id,
				{Name: FieldReason, Label: "Reason (sandbox only)", Placeholder: "e.g. document tampered"},
			},
			Run: func(ctx context.Context, in map[string]string) (string, error) {
				n, err := parseID(in[FieldID])
				if err != nil {
					return "", err
				}
				if err := s.reject(ctx, n, in[FieldReason]); err != nil {
					return "", actionError(err)
				}
				return fmt.Sprintf("Rejected session %d.", n), nil
			},
		},
		simple(ActionFail, "Fail", "Ends a scanned (COMPLETED) session as FAILED: the passport could not be verified.",
			s.fail, "Session %d failed."),
		simple(ActionExpire, "Expire", "Makes a session that is not final expire now: it becomes ABORTED.",
			s.expire, "Session %d expired: it is ABORTED."),
		simple(ActionResend, "Resend callback", "Posts the session's current state to its callback_url again (retried until a 2xx).",
			s.resendCallback, "Sending the callback of session %d again."),
	}
}

func parseID(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, &sandbox.ValidationError{Field: FieldID, Message: "The session id is a positive whole number, as session.create answered it."}
	}
	return n, nil
}

// actionError turns the session errors into messages by the id field; a
// store failure is no fault of the input and is returned as it is.
func actionError(err error) error {
	if !isDomainError(err) {
		return err
	}
	msg := err.Error()
	var se *StateError
	switch {
	case errors.Is(err, ErrUnknownSession):
		msg = "There is no session with that id."
	case errors.As(err, &se):
		msg = fmt.Sprintf("The session is %s: that is only possible when it is %s.", se.State, joinOr(se.From))
	case errors.Is(err, ErrNoCallbackURL):
		msg = "The session was created without a callback_url."
	case errors.Is(err, ErrClosed):
		msg = "The simulator is shutting down."
	}
	return &sandbox.ValidationError{Field: FieldID, Message: msg}
}

func joinOr(states []string) string {
	out := ""
	for i, st := range states {
		switch {
		case i == 0:
		case i == len(states)-1:
			out += " or "
		default:
			out += ", "
		}
		out += st
	}
	return out
}
