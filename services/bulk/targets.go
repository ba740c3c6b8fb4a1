package bulk

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"portal/models"
	"portal/services"
	"portal/services/casework"
	"portal/services/documents"
	"portal/services/recharges"
	"portal/services/sandbox"
	"portal/services/sandbox/pasbysim"
	"portal/services/sandbox/passportreadersim"
	"portal/services/sandbox/pawapasssim"
	"portal/services/verifications"
)

// Targets are the lists bulk actions work on, keyed by the list's path
// name. Recharges are refreshed only: nothing that moves money is done in
// bulk.
func Targets(docs *documents.Service, vers *verifications.Service, rech *recharges.Service, cases *casework.Service) map[string]Target {
	return map[string]Target{
		"documents": {
			Noun: "document", Subject: subjectOf("document"),
			Refresh: func(ctx context.Context, a services.Actor, id uint) error {
				_, err := docs.Refresh(ctx, a, id)
				return err
			},
			Assign: func(ctx context.Context, a services.Actor, id, to uint) error {
				return cases.Assign(ctx, models.CaseDocument, a, id, to)
			},
			Explain: func(err error) (string, bool) {
				var u *documents.UpstreamError
				switch {
				case errors.Is(err, documents.ErrNotOpen):
					return "pasby is no longer working on it: there is nothing to refresh.", true
				case errors.As(err, &u):
					return u.Message, true
				}
				return "", false
			},
		},
		"verifications": {
			Noun: "verification", Subject: subjectOf("verification"),
			Refresh: func(ctx context.Context, a services.Actor, id uint) error {
				_, err := vers.Refresh(ctx, a, id)
				return err
			},
			Assign: func(ctx context.Context, a services.Actor, id, to uint) error {
				return cases.Assign(ctx, models.CaseVerification, a, id, to)
			},
			Explain: func(err error) (string, bool) {
				var u *verifications.UpstreamError
				switch {
				case errors.Is(err, verifications.ErrNotOpen):
					return "The provider is no longer working on it: there is nothing to refresh.", true
				case errors.As(err, &u):
					return u.Message, true
				}
				return "", false
			},
		},
		"recharges": {
			Noun: "recharge", Subject: subjectOf("recharge"),
			Refresh: func(ctx context.Context, a services.Actor, id uint) error {
				_, err := rech.Refresh(ctx, a, id)
				return err
			},
			Explain: func(err error) (string, bool) {
				var u *recharges.UpstreamError
				switch {
				case errors.Is(err, recharges.ErrNotOpen):
					return "1flow has finished with it: there is nothing to refresh.", true
				case errors.As(err, &u):
					return u.Message, true
				}
				return "", false
			},
		},
	}
}

func subjectOf(noun string) func(id uint) string {
	return func(id uint) string { return noun + ":" + strconv.FormatUint(uint64(id), 10) }
}

// ErrNeverSent is a record that never reached its provider, which so has
// no webhook to send.
var ErrNeverSent = errors.New("bulk: the record never reached its provider")

// A SandboxRunner runs a simulator's control action, as the sandbox page
// does; the sandbox harness is one.
type SandboxRunner interface {
	Run(ctx context.Context, sim, action string, in map[string]string) (string, error)
}

// WithSandboxResend lets documents and verifications have their webhooks
// sent again through the simulators' own "resend" controls. Only the
// sandbox offers it: no real provider has such a call, so against real
// providers the action is simply not there.
func WithSandboxResend(targets map[string]Target, sb SandboxRunner, docs *documents.Service, vers *verifications.Service) {
	resend := func(kind string, do func(ctx context.Context, id uint) error) {
		t := targets[kind]
		explain := t.Explain
		t.Resend = do
		t.Explain = func(err error) (string, bool) {
			var ve *sandbox.ValidationError
			switch {
			case errors.Is(err, ErrNeverSent):
				return "It never reached the provider: there is no webhook to send.", true
			case errors.As(err, &ve):
				return "The simulator refused: " + ve.Message, true
			}
			return explain(err)
		}
		targets[kind] = t
	}
	// run asks simulator sim to resend the record it knows as upstream.
	run := func(ctx context.Context, upstream *string, sim, action, field string) error {
		if upstream == nil {
			return ErrNeverSent
		}
		_, err := sb.Run(ctx, sim, action, map[string]string{field: *upstream})
		return err
	}
	resend("documents", func(ctx context.Context, id uint) error {
		d, err := docs.Get(ctx, id)
		if err != nil {
			return err
		}
		return run(ctx, d.UpstreamID, "pasby", pasbysim.ActionResend, pasbysim.FieldDocument)
	})
	resend("verifications", func(ctx context.Context, id uint) error {
		v, err := vers.Get(ctx, id)
		if err != nil {
			return err
		}
		switch v.Provider {
		case models.ProviderPassportReader:
			return run(ctx, v.UpstreamID, "passportreader", passportreadersim.ActionResend, passportreadersim.FieldID)
		case models.ProviderPawaPass:
			return run(ctx, v.UpstreamID, "pawapass", pawapasssim.ActionResend, pawapasssim.FieldID)
		}
		return fmt.Errorf("bulk: verification %d has unknown provider %q", id, v.Provider)
	})
}
