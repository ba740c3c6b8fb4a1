package pasbysim

import (
	"context"
	"errors"
	"fmt"

	"portal/services/sandbox"
)

// Action names, for sandbox.Harness.Run.
const (
	ActionSign    = "sign"
	ActionCancel  = "cancel"
	ActionExpire  = "expire"
	ActionResend  = "resend_webhook"
	FieldDocument = "document_id"
	FieldNIN      = "nin"
)

// Actions are the sandbox page's controls: sign as a signee, cancel,
// expire, and send the webhook again.
func (s *Sim) Actions() []sandbox.Action {
	doc := sandbox.Field{Name: FieldDocument, Label: "Document id", Placeholder: "doc_…", Required: true}
	return []sandbox.Action{
		{
			Name:  ActionSign,
			Label: "Sign as signee",
			Help:  "Signs the document as the signee with this NIN, as they would in the pasby app. The last signature completes the document. A webhook is sent.",
			Fields: []sandbox.Field{
				doc,
				{Name: FieldNIN, Label: "Signee NIN (11 digits)", Placeholder: "12345678901", Required: true},
			},
			Run: func(ctx context.Context, in map[string]string) (string, error) {
				id, nin := in[FieldDocument], in[FieldNIN]
				completed, err := s.signAs(ctx, id, nin, autoSignIP)
				if err != nil {
					return "", actionError(err)
				}
				if completed {
					return fmt.Sprintf("Signed %s as the signee ending %s: everyone has signed, the document is completed.", id, last4(nin)), nil
				}
				return fmt.Sprintf("Signed %s as the signee ending %s.", id, last4(nin)), nil
			},
		},
		{
			Name:   ActionCancel,
			Label:  "Cancel document",
			Help:   "Cancels the document, as POST flow/cancel does.",
			Fields: []sandbox.Field{doc},
			Run: func(ctx context.Context, in map[string]string) (string, error) {
				if err := s.cancelDoc(ctx, in[FieldDocument]); err != nil {
					return "", actionError(err)
				}
				return "Cancelled " + in[FieldDocument] + ".", nil
			},
		},
		{
			Name:   ActionExpire,
			Label:  "Expire document",
			Help:   "Makes the document expire now: ping, refresh and cancel answer 401 expiration from then on.",
			Fields: []sandbox.Field{doc},
			Run: func(ctx context.Context, in map[string]string) (string, error) {
				if err := s.expireDoc(ctx, in[FieldDocument]); err != nil {
					return "", actionError(err)
				}
				return "Expired " + in[FieldDocument] + ".", nil
			},
		},
		{
			Name:   ActionResend,
			Label:  "Resend webhook",
			Help:   "Posts the document's current state to its webhook again (up to 5 attempts, until answered 200).",
			Fields: []sandbox.Field{doc},
			Run: func(ctx context.Context, in map[string]string) (string, error) {
				if err := s.resend(ctx, in[FieldDocument]); err != nil {
					return "", actionError(err)
				}
				return "Sending the webhook of " + in[FieldDocument] + " again.", nil
			},
		},
	}
}

// actionError turns the document errors into messages by the form field;
// a failure of the store is no fault of the form and stays as it is
// (wrapped by the method that met it).
func actionError(err error) error {
	if !isDocErr(err) {
		return err
	}
	field, msg := FieldDocument, err.Error()
	switch {
	case errors.Is(err, ErrUnknownDocument):
		msg = "There is no document with that id."
	case errors.Is(err, ErrUnknownSignee):
		field, msg = FieldNIN, "No signee of that document has this NIN."
	case errors.Is(err, ErrAlreadySigned):
		field, msg = FieldNIN, "That signee has already signed."
	case errors.Is(err, ErrCancelled):
		msg = "The document has been cancelled."
	case errors.Is(err, ErrExpired):
		msg = "The document has expired."
	case errors.Is(err, ErrCompleted):
		msg = "Everyone has already signed the document."
	case errors.Is(err, ErrClosed):
		msg = "The simulator is shutting down."
	}
	return &sandbox.ValidationError{Field: field, Message: msg}
}

func last4(nin string) string {
	if len(nin) <= 4 {
		return nin
	}
	return nin[len(nin)-4:]
}
