package casework

import (
	"slices"
	"time"

	"portal/models"
)

// Reason is one fixed reason a reviewer can give for flagging a record.
type Reason struct{ Code, Label string }

// ReasonOther needs a note: the list did not have the reason.
const ReasonOther = "other"

// kind is what casework needs to know about one record kind: its table,
// which of its states compliance reviews, its reasons and its timeline.
type kind struct {
	name   models.CaseKind
	table  string
	states []string // reviewable states, each read in index order
	// titleSQL is what a queue shows of a record.
	titleSQL string
	reasons  []Reason
	// highRiskSQL is true of a record on which any decision, whatever it
	// is, needs a second officer; read with the record (kind.load).
	highRiskSQL string
	// event is the record's timeline row for a casework step.
	event func(id uint, state string, at time.Time, note string) any
	// review is the record's immutable first-decision row.
	review func(id uint, d decision, at time.Time) any
}

var kinds = map[models.CaseKind]*kind{
	models.CaseDocument: {
		name:     models.CaseDocument,
		table:    "documents",
		states:   []string{string(models.DocumentCompleted)},
		titleSQL: "title",
		reasons: []Reason{
			{"signer_mismatch", "Signer doesn't match the person named"},
			{"document_altered", "Document altered after sending"},
			{"incomplete_signatures", "Signatures incomplete"},
			{"wrong_document", "Wrong document sent"},
			{ReasonOther, "Other (say why in the note)"},
		},
		highRiskSQL: "FALSE",
		event: func(id uint, state string, at time.Time, note string) any {
			s := models.DocumentState(state)
			return &models.DocumentEvent{DocumentID: id, At: at, FromState: s, ToState: s, Note: note}
		},
		review: func(id uint, d decision, at time.Time) any {
			return &models.DocumentReview{DocumentID: id, Decision: d.decision, Reason: d.reason, Note: d.note,
				ReviewerID: d.actor.idPtr(), ReviewerEmail: d.actor.Email, DecidedAt: at}
		},
	},
	models.CaseVerification: {
		name:   models.CaseVerification,
		table:  "verifications",
		states: []string{string(models.VerificationApproved), string(models.VerificationDeclined)},
		titleSQL: "state || ' by ' || CASE provider WHEN 'pawapass' THEN 'pawaPass' ELSE 'PassportReader' END" +
			" || CASE WHEN given_names <> '' OR surname <> '' THEN ' · ' || given_names || ' ' || surname ELSE '' END" +
			" || CASE WHEN document_number <> '' THEN ' · ' || document_number ELSE '' END" +
			" || CASE WHEN customer_phone <> '' THEN ' · ' || customer_phone ELSE '' END",
		reasons: []Reason{
			{"document_expired", "Identity document expired"},
			{"face_mismatch", "Face doesn't match the document"},
			{"data_mismatch", "Details don't match the customer"},
			{"suspected_fraud", "Suspected fraud"},
			{"poor_image_quality", "Poor image quality"},
			{ReasonOther, "Other (say why in the note)"},
		},
		// The provider's own review gave a reason (pawaPass
		// reviewResult.reason): a person there looked at it, so a person
		// here does not decide it alone.
		highRiskSQL: "review_reason <> ''",
		event: func(id uint, state string, at time.Time, note string) any {
			s := models.VerificationState(state)
			return &models.VerificationEvent{VerificationID: id, At: at, FromState: s, ToState: s, Note: note}
		},
		review: func(id uint, d decision, at time.Time) any {
			return &models.VerificationReview{VerificationID: id, Decision: d.decision, Reason: d.reason, Note: d.note,
				ReviewerID: d.actor.idPtr(), ReviewerEmail: d.actor.Email, DecidedAt: at}
		},
	},
}

// Reasons lists the reasons for flagging a record of kind k, "other" last.
func Reasons(k models.CaseKind) []Reason {
	if kd, ok := kinds[k]; ok {
		return kd.reasons
	}
	return nil
}

// ReasonLabel is the words for a reason code ("" for none; the code itself
// for one no longer listed).
func ReasonLabel(k models.CaseKind, code string) string {
	for _, r := range Reasons(k) {
		if r.Code == code {
			return r.Label
		}
	}
	return code
}

// ValidReason reports whether code is one of kind k's reasons.
func ValidReason(k models.CaseKind, code string) bool {
	return slices.ContainsFunc(Reasons(k), func(r Reason) bool { return r.Code == code })
}
