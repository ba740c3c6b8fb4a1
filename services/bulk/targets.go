package bulk

import (
	"context"
	"errors"
	"strconv"

	"portal/models"
	"portal/services"
	"portal/services/casework"
	"portal/services/documents"
	"portal/services/recharges"
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
