package pawapasssim

import (
	"context"
	"errors"
	"fmt"

	"portal/services/sandbox"
)

// Action and field names, for sandbox.Harness.Run.
const (
	ActionAdvance = "advance"
	ActionApprove = "approve"
	ActionDecline = "decline"
	ActionExpire  = "expire"
	ActionResend  = "resend_webhook"
	FieldID       = "id"
	FieldReason   = "reason"
)

// Actions are the sandbox page's controls: move a verification one step,
// approve, decline, expire, and send its webhook again.
func (s *Sim) Actions() []sandbox.Action {
	id := sandbox.Field{Name: FieldID, Label: "Verification id", Placeholder: "aB1cD2eF", Required: true}
	return []sandbox.Action{
		{
			Name:   ActionAdvance,
			Label:  "Advance one step",
			Help:   "Moves the verification one step: CREATED → STARTED → USER_DATA_COLLECTED (with made-up document and face scans) → REVIEW → APPROVED. A webhook is sent for each status change.",
			Fields: []sandbox.Field{id},
			Run: func(ctx context.Context, in map[string]string) (string, error) {
				status, err := s.advance(ctx, in[FieldID])
				if err != nil {
					return "", actionError(err)
				}
				return fmt.Sprintf("Verification %s is now %s.", in[FieldID], status), nil
			},
		},
		{
			Name:   ActionApprove,
			Label:  "Approve",
			Help:   "Approves the verification as pawaPass's reviewer would (from USER_DATA_COLLECTED or REVIEW).",
			Fields: []sandbox.Field{id},
			Run: func(ctx context.Context, in map[string]string) (string, error) {
				if err := s.approve(ctx, in[FieldID]); err != nil {
					return "", actionError(err)
				}
				return "Approved " + in[FieldID] + ".", nil
			},
		},
		{
			Name:  ActionDecline,
			Label: "Decline",
			Help:  "Declines the verification as pawaPass's reviewer would (from USER_DATA_COLLECTED or REVIEW); the reason becomes reviewResult.reason.",
			Fields: []sandbox.Field{
				id,
				{Name: FieldReason, Label: "Reason", Options: ReviewReasons(), Required: true},
			},
			Run: func(ctx context.Context, in map[string]string) (string, error) {
				if err := s.decline(ctx, in[FieldID], in[FieldReason]); err != nil {
					return "", actionError(err)
				}
				return fmt.Sprintf("Declined %s (%s).", in[FieldID], in[FieldReason]), nil
			},
		},
		{
			Name:   ActionExpire,
			Label:  "Expire",
			Help:   "Makes the verification expire now: expiresAt becomes the current time and the status EXPIRED.",
			Fields: []sandbox.Field{id},
			Run: func(ctx context.Context, in map[string]string) (string, error) {
				if err := s.act(ctx, in[FieldID], s.expire); err != nil {
					return "", actionError(err)
				}
				return "Expired " + in[FieldID] + ".", nil
			},
		},
		{
			Name:   ActionResend,
			Label:  "Resend webhook",
			Help:   "Posts the verification's last webhook again, with the same notificationId (a STATUS_CHANGE with its current state if none was sent yet).",
			Fields: []sandbox.Field{id},
			Run: func(ctx context.Context, in map[string]string) (string, error) {
				if err := s.resend(ctx, in[FieldID]); err != nil {
					return "", actionError(err)
				}
				return "Sending the webhook of " + in[FieldID] + " again.", nil
			},
		},
	}
}

// actionError turns the simulator's errors into messages by the form
// field. Anything else (the store failing) is returned as it is: it is
// not the form's fault.
func actionError(err error) error {
	field, msg := FieldID, ""
	switch {
	case errors.Is(err, ErrNotFound):
		msg = "There is no verification with that id."
	case errors.Is(err, ErrWrongState):
		msg = "Not possible in the verification's current state: " + detail(err, ErrWrongState) + "."
	case errors.Is(err, ErrBadInput):
		field, msg = FieldReason, detail(err, ErrBadInput)
	case errors.Is(err, ErrNoWebhooks):
		msg = "No webhook URL is configured for the pawaPass simulator."
	case errors.Is(err, ErrClosed):
		msg = "The simulator is shutting down."
	case errors.Is(err, ErrIncomplete), errors.Is(err, ErrNotRequired):
		msg = err.Error()
	default:
		return err
	}
	return &sandbox.ValidationError{Field: field, Message: msg}
}
