package documents

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"gorm.io/gorm"

	"portal/models"
	"portal/services"
	"portal/services/lifecycle"
	"portal/services/pasby"
)

// A document whose create answer was lost ("unknown") is never re-sent: the
// signers may already have been asked to sign. Usually pasby's first webhook
// resolves it (resolveUnknown); when none comes, a person asks pasby and
// records the answer here.

// upstreamDocIDPattern is pasby's document id: doc_ and a UUID (NOTES.md),
// with some slack for the shorter ids the documents show.
var upstreamDocIDPattern = regexp.MustCompile(`^doc_[A-Za-z0-9-]{8,64}$`)

// ResolveWithUpstreamID records pasby's id for an unknown document once a
// refresh of that id shows our webhook reference, so a typo or another
// request's id cannot be adopted. The document then moves to whatever
// state pasby reports and the reconciler follows it.
func (s *Service) ResolveWithUpstreamID(ctx context.Context, actor services.Actor, id uint, upstreamID string) (models.Document, error) {
	upstreamID = strings.TrimSpace(upstreamID)
	if !upstreamDocIDPattern.MatchString(upstreamID) {
		return models.Document{}, services.FieldErrors{"upstream_id": "Enter the document id pasby gave, like doc_0b6b2a8e-5a1c-11ef-8f3e-0242ac120002."}
	}
	d, err := s.Get(ctx, id)
	if err != nil {
		return models.Document{}, err
	}
	if d.State != models.DocumentUnknown {
		return d, ErrNotUnknown
	}
	var other models.Document
	err = s.db.WithContext(ctx).Select("id").Where("upstream_id = ? AND id <> ?", upstreamID, id).Take(&other).Error
	if err == nil {
		return models.Document{}, services.FieldErrors{"upstream_id": fmt.Sprintf("Document #%d already has this pasby id.", other.ID)}
	}
	if !errors.Is(err, gorm.ErrRecordNotFound) {
		return models.Document{}, fmt.Errorf("documents: resolve %d: %w", id, err)
	}
	answer, err := s.upstream.Refresh(context.WithoutCancel(ctx), upstreamID)
	switch {
	case errors.Is(err, pasby.ErrUnknownFlow):
		return models.Document{}, services.FieldErrors{"upstream_id": "pasby has no document with this id. Check it with pasby."}
	case err != nil:
		return models.Document{}, plain(err)
	}
	if subtle.ConstantTimeCompare([]byte(answer.Document.Hook.Reference), []byte(d.Reference)) != 1 {
		return models.Document{}, services.FieldErrors{"upstream_id": "pasby's document " + upstreamID + " was not sent by this request (its webhook reference differs)."}
	}
	now := s.now().UTC()
	to := stateAfter(models.DocumentSubmitted, answer.Document, unixTime(answer.Document.Exp), now)
	c := documentChange(answer)
	c.UpstreamID, c.Error, c.NextCheckAt = &upstreamID, new(""), new(now.Add(s.opts.FirstCheck))
	return s.resolve(ctx, lifecycle.Move[models.DocumentState]{ID: id, To: to, Change: c,
		Note:  "pasby id entered by " + actor.Email + " and confirmed by a refresh",
		Also:  func(tx *gorm.DB) error { return s.applySignees(tx, id, answer.Document, now) },
		Audit: &lifecycle.Audit{Actor: actor, Action: "document.resolved_upstream_id", Details: "upstream_id=" + upstreamID}})
}

// MarkNotSent closes an unknown document that pasby confirmed it never
// received.
func (s *Service) MarkNotSent(ctx context.Context, actor services.Actor, id uint, note string) (models.Document, error) {
	note = strings.TrimSpace(note)
	if note == "" || len(note) > 500 {
		return models.Document{}, services.FieldErrors{"note": "Say how you checked, for example “pasby support found no document with our reference”."}
	}
	d, err := s.Get(ctx, id)
	if err != nil {
		return models.Document{}, err
	}
	if d.State != models.DocumentUnknown {
		return d, ErrNotUnknown
	}
	msg := "Not sent: " + actor.Email + " checked with pasby: " + note
	return s.resolve(ctx, lifecycle.Move[models.DocumentState]{ID: id, To: models.DocumentFailed, Change: &change{Error: &msg}, Note: msg,
		Audit: &lifecycle.Audit{Actor: actor, Action: "document.resolved_not_sent", Details: note}})
}

// resolve makes a person's move out of unknown and returns the document as
// it then stands.
func (s *Service) resolve(ctx context.Context, m lifecycle.Move[models.DocumentState]) (models.Document, error) {
	err := documentLifecycle.Resolve(ctx, s.db, s.now(), models.DocumentUnknown, m)
	switch {
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return models.Document{}, services.FieldErrors{"upstream_id": "Another document already has this pasby id."}
	case errors.Is(err, lifecycle.ErrMoved):
		d, _ := s.Get(ctx, m.ID)
		return d, ErrNotUnknown
	case err != nil:
		return models.Document{}, err
	}
	return s.Get(ctx, m.ID)
}
