package verifications

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"portal/models"
	"portal/services"
	"portal/services/passportreader"
	"portal/services/pawapass"
	"portal/services/upstream"
)

// MaxWebhookBody is the largest webhook or callback body stored; the web
// layer reads at most one byte more.
const MaxWebhookBody = 1 << 20

// droppedHeaders are never stored: credentials have no place in the inbox.
var droppedHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie", "X-Auth-Key"}

// ReceivePawaPass authenticates a pawaPass webhook by its X-Signature header,
// read from headers (an HMAC-SHA256 of the raw body with PAWAPASS_WEBHOOK_SECRET, compared in
// constant time), stores it raw in the inbox, deduplicated by
// notificationId, and returns. ErrBadSignature (→ 401), ErrBadWebhook
// (→ 400) and ErrWebhookTooLarge (→ 413) store nothing.
func (s *Service) ReceivePawaPass(ctx context.Context, body []byte, headers http.Header) error {
	if len(body) > MaxWebhookBody {
		return ErrWebhookTooLarge
	}
	if !pawapass.VerifySignature(s.opts.PawaPassWebhookSecret, body, headers.Get(pawapass.SignatureHeader)) {
		return ErrBadSignature
	}
	n, err := pawapass.ParseNotification(body)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadWebhook, err)
	}
	return s.store(ctx, string(models.ProviderPawaPass), "notification:"+n.NotificationID, body, headers)
}

// ReceivePassportReader authenticates a PassportReader callback by the
// secret in its URL path and by our reference in its body (PassportReader
// signs nothing), stores it raw and returns. ErrUnknownSecret and
// ErrUnknownReference (→ 404), ErrBadWebhook (→ 400) and
// ErrWebhookTooLarge (→ 413) store nothing; the same body twice is stored
// once.
func (s *Service) ReceivePassportReader(ctx context.Context, secretFromPath string, body []byte, headers http.Header) error {
	got, want := sha256.Sum256([]byte(secretFromPath)), sha256.Sum256([]byte(s.opts.CallbackSecret))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return ErrUnknownSecret
	}
	if len(body) > MaxWebhookBody {
		return ErrWebhookTooLarge
	}
	cb, err := passportreader.ParseCallback(body)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadWebhook, err)
	}
	if cb.SessionReference == "" {
		return ErrUnknownReference
	}
	var n int64
	if err := s.db.WithContext(ctx).Model(&models.Verification{}).
		Where("reference = ? AND provider = ?", cb.SessionReference, models.ProviderPassportReader).Count(&n).Error; err != nil {
		return fmt.Errorf("verifications: callback lookup: %w", err)
	}
	if n == 0 {
		return ErrUnknownReference
	}
	sum := sha256.Sum256(body)
	return s.store(ctx, string(models.ProviderPassportReader), hex.EncodeToString(sum[:]), body, headers)
}

func (s *Service) store(ctx context.Context, provider, key string, body []byte, headers http.Header) error {
	kept := headers.Clone()
	for _, h := range droppedHeaders {
		kept.Del(h)
	}
	hb, _ := json.Marshal(kept)
	row := models.WebhookInbox{Provider: provider, DedupeKey: key, ReceivedAt: s.now().UTC(), Headers: string(hb), Body: append([]byte{}, body...)}
	if err := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
		return fmt.Errorf("verifications: store webhook: %w", err)
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// ProcessInbox processes the stored webhooks and callbacks not processed
// yet, oldest first, and returns how many it finished. Each is a trigger:
// the verification it names is fetched from its provider.
func (s *Service) ProcessInbox(ctx context.Context) (int, error) {
	done, err := services.DrainInbox(ctx, s.db, s.now, s.opts.Lease, []string{string(models.ProviderPawaPass), string(models.ProviderPassportReader)},
		func(ctx context.Context, row models.WebhookInbox) (string, bool) {
			if row.Provider == string(models.ProviderPawaPass) {
				return s.processPawaPass(ctx, row)
			}
			return s.processPassportReader(ctx, row)
		})
	if err != nil {
		return done, fmt.Errorf("verifications: %w", err)
	}
	return done, nil
}

func (s *Service) processPawaPass(ctx context.Context, row models.WebhookInbox) (string, bool) {
	n, err := pawapass.ParseNotification(row.Body)
	if err != nil {
		return "unreadable notification", false
	}
	var found []models.Verification
	db := s.db.WithContext(ctx)
	if err := db.Where("provider = ? AND upstream_id = ?", models.ProviderPawaPass, n.Data.ID).Limit(1).Find(&found).Error; err != nil {
		return "database: " + err.Error(), true
	}
	if len(found) == 0 {
		// A verification whose create answer was lost carries our
		// reference in its metadata; the reconciler's list by externalId
		// confirms it with pawaPass.
		var meta map[string]any
		_ = json.Unmarshal(n.Data.Metadata, &meta)
		ref, _ := meta[metadataKey].(string)
		if ref == "" {
			return "no verification of ours has pawaPass id " + n.Data.ID, false
		}
		if err := db.Where("reference = ? AND provider = ? AND state = ?", ref, models.ProviderPawaPass, models.VerificationUnknown).Limit(1).Find(&found).Error; err != nil {
			return "database: " + err.Error(), true
		}
		if len(found) == 0 {
			return "no verification of ours has pawaPass id " + n.Data.ID, false
		}
	}
	v := found[0]
	if v.State == models.VerificationFailed || v.State == models.VerificationQueued || v.State == models.VerificationSubmitting {
		return "", false
	}
	if err := s.check(ctx, v); err != nil {
		return "fetch failed: " + err.Error(), errors.Is(err, upstream.ErrUnavailable)
	}
	return "", false
}

func (s *Service) processPassportReader(ctx context.Context, row models.WebhookInbox) (string, bool) {
	cb, err := passportreader.ParseCallback(row.Body)
	if err != nil {
		return "unreadable callback", false
	}
	var v models.Verification
	err = s.db.WithContext(ctx).Where("reference = ? AND provider = ?", cb.SessionReference, models.ProviderPassportReader).Take(&v).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return "no verification has this reference", false
	}
	if err != nil {
		return "database: " + err.Error(), true
	}
	switch {
	case v.State == models.VerificationUnknown && v.UpstreamID == nil:
		return s.adoptSession(ctx, v, cb.SessionID)
	case v.State.Open(), v.State.Reviewable():
		if err := s.check(ctx, v); err != nil {
			return "fetch failed: " + err.Error(), errors.Is(err, upstream.ErrUnavailable)
		}
	}
	return "", false
}

// adoptSession learns the session of a create whose answer was lost: the
// callback names the session, and session.get must show our reference.
func (s *Service) adoptSession(ctx context.Context, v models.Verification, id int64) (string, bool) {
	if id <= 0 {
		return "the callback names no session id", false
	}
	sess, err := s.reader.GetSession(ctx, id)
	if err != nil {
		return "session.get failed: " + err.Error(), errors.Is(err, upstream.ErrUnavailable)
	}
	if subtle.ConstantTimeCompare([]byte(sess.Reference), []byte(v.Reference)) != 1 {
		return "PassportReader's session does not carry this reference", false
	}
	now := s.now().UTC()
	c := readerChange(sess)
	c.UpstreamID, c.Error, c.NextCheckAt = new(strconv.FormatInt(id, 10)), new(""), new(now.Add(s.opts.FirstCheck))
	to := stateFor(v.Provider, sess.State, models.VerificationSubmitted)
	_, err = s.transition(ctx, v.ID, []models.VerificationState{models.VerificationUnknown}, to, c, sess.State,
		"PassportReader's callback named this request and session.get confirmed it",
		func(tx *gorm.DB) error { return s.storeImages(tx, v.ID, sess, now) })
	if err != nil {
		return "database: " + err.Error(), true
	}
	return "", false
}
