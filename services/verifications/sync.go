package verifications

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"portal/models"
	"portal/services"
	"portal/services/lifecycle"
	"portal/services/passportreader"
	"portal/services/pawapass"
)

// stateFor maps a provider status onto our state; an unknown status keeps
// cur (a provider adding a status must not break the portal).
func stateFor(p models.VerificationProvider, status string, cur models.VerificationState) models.VerificationState {
	switch p {
	case models.ProviderPawaPass:
		switch status {
		case pawapass.StatusCreated:
			return models.VerificationSubmitted
		case pawapass.StatusStarted, pawapass.StatusUserDataCollected, pawapass.StatusReview:
			return models.VerificationInProgress
		case pawapass.StatusApproved:
			return models.VerificationApproved
		case pawapass.StatusDeclined:
			return models.VerificationDeclined
		case pawapass.StatusExpired:
			return models.VerificationExpired
		}
	case models.ProviderPassportReader:
		switch status {
		case passportreader.StateCreated:
			return models.VerificationSubmitted
		case passportreader.StateInitiated, passportreader.StateCompleted:
			return models.VerificationInProgress
		case passportreader.StateApproved:
			return models.VerificationApproved
		case passportreader.StateRejected, passportreader.StateFailed:
			return models.VerificationDeclined
		case passportreader.StateAborted:
			return models.VerificationAborted
		}
	}
	return cur
}

// IdentityField is one line of the identity data a provider extracted,
// labelled for people, in the provider's order.
type IdentityField struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

func encodeIdentity(fields []IdentityField) string {
	kept := fields[:0:0]
	for _, f := range fields {
		if f.Value != "" {
			kept = append(kept, f)
		}
	}
	if len(kept) == 0 {
		return ""
	}
	b, _ := json.Marshal(kept)
	return string(b)
}

func decodeIdentity(s string) []IdentityField {
	var out []IdentityField
	if s != "" {
		_ = json.Unmarshal([]byte(s), &out)
	}
	return out
}

// pawaChange is what a pawaPass verification fills.
func pawaChange(a pawapass.Verification) *change {
	c := &change{ProviderStatus: &a.Status, LastUpstreamJSON: new(string(a.Raw))}
	if a.URL != "" {
		c.Link = &a.URL
	}
	if !a.ExpiresAt.IsZero() {
		c.ExpiresAt = new(a.ExpiresAt.UTC())
	}
	if d := a.IdentityDocument; d != nil {
		c.DocumentType, c.DocumentNumber, c.DocumentCountry = &d.Type, new(firstNonEmpty(d.NationalNo, d.SerialNo)), &d.Country
		c.GivenNames, c.Surname, c.DateOfBirth = &d.FirstName, &d.LastName, &d.DateOfBirth
		c.IdentityJSON = new(encodeIdentity([]IdentityField{
			{"Document type", d.Type}, {"Country", d.Country}, {"National number", d.NationalNo}, {"Serial number", d.SerialNo},
			{"First name", d.FirstName}, {"Last name", d.LastName}, {"Date of birth", d.DateOfBirth},
			{"Place of birth", d.PlaceOfBirth}, {"Nationality", d.Nationality}, {"Issued", d.IssuedAt},
			{"Expires", d.ExpiryAt}, {"Issuing authority", d.IssuingAuthority}, {"Place of issue", d.PlaceOfIssue},
		}))
	}
	if a.FaceScan != nil {
		c.FaceResult = &a.FaceScan.AgeEstimation
	}
	if a.ReviewResult != nil {
		c.ReviewReason = &a.ReviewResult.Reason
	}
	return c
}

// readerChange is what a PassportReader session fills. Images never go
// into last_upstream_json: they are stored apart, or not at all.
func readerChange(sess passportreader.Session) *change {
	c := &change{ProviderStatus: &sess.State, LastUpstreamJSON: new(withoutImages(sess.Raw))}
	if !sess.Expires.IsZero() {
		c.ExpiresAt = new(sess.Expires.UTC())
	}
	if sess.DocumentNumber != "" || sess.Surname != "" {
		c.DocumentType, c.DocumentNumber, c.DocumentCountry = &sess.DocumentType, &sess.DocumentNumber, &sess.IssuingCountry
		c.GivenNames, c.Surname, c.DateOfBirth = &sess.GivenNames, &sess.Surname, &sess.DateOfBirth
		c.IdentityJSON = new(encodeIdentity([]IdentityField{
			{"Document type", sess.DocumentType}, {"Document number", sess.DocumentNumber}, {"Issuing country", sess.IssuingCountry},
			{"Issuer", sess.Issuer}, {"Given names", sess.GivenNames}, {"Surname", sess.Surname}, {"Nationality", sess.Nationality},
			{"Sex", sess.Sex}, {"Date of birth", sess.DateOfBirth}, {"Personal number", sess.PersonalNumber},
			{"Document expires", sess.ExpiryDate},
		}))
	}
	if len(sess.Face) > 0 {
		c.FaceResult = new("face captured")
	}
	return c
}

// withoutImages replaces the base64 images of a session answer with their
// size, so the stored JSON (shown to every role) holds no biometrics.
func withoutImages(raw json.RawMessage) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return ""
	}
	for _, k := range []string{"portrait", "face"} {
		if v, ok := m[k]; ok && len(v) > 2 {
			m[k], _ = json.Marshal(fmt.Sprintf("(image, %d bytes of base64, not stored here)", len(v)-2))
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(m) != nil {
		return ""
	}
	return string(bytes.TrimSpace(buf.Bytes()))
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// storeImages keeps a session's images (when StoreImages is on), once.
func (s *Service) storeImages(tx *gorm.DB, id uint, sess passportreader.Session, now time.Time) error {
	if !s.opts.StoreImages {
		return nil
	}
	for kind, data := range map[string][]byte{"portrait": sess.Portrait, "face": sess.Face} {
		if len(data) == 0 {
			continue
		}
		ct := http.DetectContentType(data)
		if ct != "image/png" && ct != "image/jpeg" && ct != "image/webp" && ct != "image/gif" {
			continue // not an image we would dare serve
		}
		img := models.VerificationImage{VerificationID: id, Kind: kind, ContentType: ct, Data: data, CreatedAt: now}
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&img).Error; err != nil {
			return err
		}
	}
	return nil
}

// check fetches one verification from its provider and records what it
// says. The error is the provider's when it could not tell.
func (s *Service) check(ctx context.Context, v models.Verification) error {
	if v.State == models.VerificationUnknown {
		if v.Provider == models.ProviderPawaPass {
			return s.findLostPawaPass(ctx, v)
		}
		return nil
	}
	if v.UpstreamID == nil {
		return nil
	}
	switch v.Provider {
	case models.ProviderPawaPass:
		answer, err := s.pawa.Get(ctx, *v.UpstreamID)
		if err != nil {
			return s.checkFailed(ctx, v, err)
		}
		return s.record(ctx, v, answer.Status, pawaChange(answer), nil)
	case models.ProviderPassportReader:
		id, err := strconv.ParseInt(*v.UpstreamID, 10, 64)
		if err != nil {
			return fmt.Errorf("verifications: session id %q: %w", *v.UpstreamID, err)
		}
		sess, err := s.reader.GetSession(ctx, id)
		if err != nil {
			return s.checkFailed(ctx, v, err)
		}
		now := s.now().UTC()
		return s.record(ctx, v, sess.State, readerChange(sess), func(tx *gorm.DB) error { return s.storeImages(tx, v.ID, sess, now) })
	}
	return nil
}

// checkFailed reschedules an open verification whose check failed.
func (s *Service) checkFailed(ctx context.Context, v models.Verification, err error) error {
	s.opts.Logger.Warn("verification check failed", "verification_id", v.ID, "err", err)
	if v.State.Open() {
		if uerr := s.update(ctx, v.ID, []models.VerificationState{v.State}, &change{
			NextCheckAt: new(s.now().UTC().Add(s.backoff(v.CheckAttempts + 1))), CheckAttempts: new(v.CheckAttempts + 1),
		}, nil, nil); uerr != nil {
			return errors.Join(err, uerr)
		}
	}
	return err
}

// record applies a provider's answer: a state change, or fresh data and
// the next check.
func (s *Service) record(ctx context.Context, v models.Verification, status string, c *change, also func(tx *gorm.DB) error) error {
	now := s.now().UTC()
	from := []models.VerificationState{v.State}
	to := stateFor(v.Provider, status, v.State)
	if to != v.State && CanTransition(v.State, to) {
		c.CheckAttempts, c.NextCheckAt = new(0), new(now.Add(s.opts.FirstCheck))
		_, err := s.transition(ctx, v.ID, from, to, c, status, noteFor(v.Provider, status), also)
		return err
	}
	if v.State.Open() {
		attempts := v.CheckAttempts + 1
		if status != v.ProviderStatus {
			attempts = 0 // progress inside a state: look again soon
		}
		c.CheckAttempts, c.NextCheckAt = &attempts, new(now.Add(s.backoff(attempts)))
	} else if !v.State.Final() || v.State == models.VerificationFailed {
		return nil
	}
	var ev *models.VerificationEvent
	if status != v.ProviderStatus && status != "" {
		ev = &models.VerificationEvent{VerificationID: v.ID, At: now, FromState: v.State, ToState: v.State, ProviderStatus: status, Note: noteFor(v.Provider, status)}
	}
	return s.update(ctx, v.ID, from, c, ev, also)
}

func noteFor(p models.VerificationProvider, status string) string {
	switch status {
	case pawapass.StatusStarted, passportreader.StateInitiated:
		return "the customer opened the link"
	case pawapass.StatusUserDataCollected:
		return "the customer finished the scans"
	case passportreader.StateCompleted:
		return "the passport was scanned; waiting for PassportReader's decision"
	case pawapass.StatusReview:
		return "pawaPass is reviewing the data"
	case pawapass.StatusApproved:
		return p.Label() + " approved the identity"
	case pawapass.StatusDeclined, passportreader.StateRejected:
		return p.Label() + " declined the identity"
	case passportreader.StateFailed:
		return "the passport could not be verified"
	case passportreader.StateAborted:
		return "the customer abandoned the session"
	case pawapass.StatusExpired:
		return "the link expired before the customer finished"
	}
	return p.Label() + " reports " + status
}

// findLostPawaPass looks for a pawaPass verification whose create answer
// was lost: same externalId, and our reference in its metadata. Found, it
// is adopted; not found yet, the next look is scheduled with backoff.
func (s *Service) findLostPawaPass(ctx context.Context, v models.Verification) error {
	res, err := s.pawa.List(ctx, pawapass.ListQuery{ExternalID: v.ExternalID, Limit: pawapass.MaxListLimit})
	if err == nil {
		for _, item := range res.Items {
			var meta map[string]any
			_ = json.Unmarshal(item.Metadata, &meta)
			ref, _ := meta[metadataKey].(string)
			if subtle.ConstantTimeCompare([]byte(ref), []byte(v.Reference)) != 1 {
				continue
			}
			c := pawaChange(item)
			c.UpstreamID, c.Error, c.CheckAttempts, c.NextCheckAt = &item.ID, new(""), new(0), new(s.now().UTC().Add(s.opts.FirstCheck))
			to := stateFor(v.Provider, item.Status, models.VerificationSubmitted)
			_, terr := s.transition(ctx, v.ID, []models.VerificationState{models.VerificationUnknown}, to, c, item.Status,
				"found at pawaPass by its externalId and our reference after the create answer was lost", nil)
			return terr
		}
	}
	attempts := v.CheckAttempts + 1
	if uerr := s.update(ctx, v.ID, []models.VerificationState{models.VerificationUnknown},
		&change{CheckAttempts: &attempts, NextCheckAt: new(s.now().UTC().Add(s.backoff(attempts)))}, nil, nil); uerr != nil {
		return errors.Join(err, uerr)
	}
	return err
}

// ReconcileOnce checks every verification that is due and returns how
// many it checked.
func (s *Service) ReconcileOnce(ctx context.Context) (int, error) {
	now := s.now().UTC()
	var due []models.Verification
	if err := dueQuery(s.db.WithContext(ctx), now).Find(&due).Error; err != nil {
		return 0, err
	}
	checked := 0
	for _, v := range due {
		if ctx.Err() != nil {
			return checked, ctx.Err()
		}
		if !v.State.Open() && v.State != models.VerificationUnknown {
			if err := s.db.WithContext(ctx).Model(&models.Verification{}).Where("id = ? AND state = ?", v.ID, v.State).
				Update("next_check_at", nil).Error; err != nil {
				return checked, err
			}
			continue
		}
		// Another replica may have taken it since the query.
		mine, err := verificationLifecycle.ClaimDue(ctx, s.db, now, v.ID, s.opts.Lease)
		if err != nil {
			return checked, err
		}
		if mine {
			_ = s.check(ctx, v) // logged and rescheduled inside
			checked++
		}
	}
	return checked, nil
}

// dueQuery is the reconciler's query: next_check_at is set only on open
// (and lost pawaPass) verifications, so its partial index holds just them.
func dueQuery(db *gorm.DB, now time.Time) *gorm.DB {
	return db.Model(&models.Verification{}).Where("next_check_at <= ?", now).Order("next_check_at").Limit(50)
}

// Refresh fetches a verification from its provider now ("refresh now") and
// audits that staff asked.
func (s *Service) Refresh(ctx context.Context, actor services.Actor, id uint) (models.Verification, error) {
	v, err := s.Get(ctx, id)
	if err != nil {
		return models.Verification{}, err
	}
	if v.UpstreamID == nil && !(v.State == models.VerificationUnknown && v.Provider == models.ProviderPawaPass) {
		return v, ErrNotOpen
	}
	if v.State == models.VerificationFailed {
		return v, ErrNotOpen
	}
	checkErr := s.check(context.WithoutCancel(ctx), v)
	details := "ok"
	if checkErr != nil {
		details = "failed: " + checkErr.Error()
	}
	if err := services.WithTx(ctx, s.db, func(tx *gorm.DB) error {
		return services.Audit(tx, s.now(), actor, "verification.refreshed", verificationLifecycle.Subject(id), details)
	}); err != nil {
		return v, err
	}
	v, err = s.Get(ctx, id)
	if err != nil {
		return v, err
	}
	if checkErr != nil {
		return v, plain(v.Provider, checkErr)
	}
	return v, nil
}

// RunReconciler processes the webhook inbox and checks due verifications
// every tick, and at once when a webhook arrives, until ctx ends.
func (s *Service) RunReconciler(ctx context.Context, tick time.Duration) {
	lifecycle.RunReconciler(ctx, tick, s.wake, s.opts.Logger,
		lifecycle.Step{Name: "verification recovery", Run: s.RecoverLapsed},
		lifecycle.Step{Name: "verification webhook inbox", Run: s.ProcessInbox},
		lifecycle.Step{Name: "verification reconciler", Run: s.ReconcileOnce})
}
