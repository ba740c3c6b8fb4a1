package documents

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"portal/models"
	"portal/services"
	"portal/services/upstream"
)

// Webhook limits.
const (
	// MaxWebhookBody is the largest webhook body stored; the web layer
	// should read at most one byte more.
	MaxWebhookBody = 1 << 20
	providerPasby  = "pasby"
)

// droppedHeaders are never stored: credentials have no place in the inbox.
var droppedHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie", "X-Api-Key", "X-Access-Secret", "X-Access-Token"}

// ReceiveWebhook authenticates a pasby webhook by the secret in its URL
// path (constant time), stores it raw in the inbox and returns. It answers
// ErrUnknownWebhookSecret (→ 404), ErrWebhookTooLarge (→ 413),
// ErrMalformedWebhook (→ 400) or ErrUnknownWebhookDocument (→ 404) without
// storing anything; the same body twice is stored once (and both are
// answered nil, → 200, so pasby stops retrying). Processing happens later,
// in ProcessInbox.
func (s *Service) ReceiveWebhook(ctx context.Context, secretFromPath string, body []byte, headers http.Header) error {
	// Hashing first makes the comparison constant-time in the length too.
	got, want := sha256.Sum256([]byte(secretFromPath)), sha256.Sum256([]byte(s.opts.WebhookSecret))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return ErrUnknownWebhookSecret
	}
	if len(body) > MaxWebhookBody {
		return ErrWebhookTooLarge
	}
	// Our reference is committed before pasby hears of a document, so a
	// genuine webhook always names a row we have; anything else is refused
	// before it takes space in the inbox.
	known, err := s.namesOurDocument(ctx, body)
	if err != nil {
		return err
	}
	if !known {
		return ErrUnknownWebhookDocument
	}
	kept := headers.Clone()
	for _, h := range droppedHeaders {
		kept.Del(h)
	}
	hb, _ := json.Marshal(kept)
	sum := sha256.Sum256(body)
	row := models.WebhookInbox{
		Provider: providerPasby, DedupeKey: hex.EncodeToString(sum[:]), ReceivedAt: s.now().UTC(),
		Headers: string(hb), Body: append([]byte{}, body...),
	}
	if err := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
		return fmt.Errorf("documents: store webhook: %w", err)
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

func (s *Service) namesOurDocument(ctx context.Context, body []byte) (bool, error) {
	var payload any
	if json.Unmarshal(body, &payload) != nil {
		return false, ErrMalformedWebhook
	}
	ids := candidates(payload, 0, nil)
	if len(ids) == 0 {
		return false, nil
	}
	var n int64
	err := s.db.WithContext(ctx).Model(&models.Document{}).
		Where("reference IN ? OR upstream_id IN ?", ids, ids).Limit(1).Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("documents: webhook lookup: %w", err)
	}
	return n > 0, nil
}

// ProcessInbox processes the stored webhooks not processed yet, oldest
// first, and returns how many it finished. A webhook is a trigger only: it
// names a document (by our reference first, then by pasby's id) and the
// document's state is then fetched from pasby with a refresh. A webhook
// that names no document of ours is finished with an error; one for a
// document already final changes nothing.
func (s *Service) ProcessInbox(ctx context.Context) (int, error) {
	done, err := services.DrainInbox(ctx, s.db, s.now, s.opts.Lease, []string{providerPasby}, s.processWebhook)
	if err != nil {
		return done, fmt.Errorf("documents: %w", err)
	}
	return done, nil
}

// processWebhook returns the error to record ("" when fine) and whether
// trying again later could help.
func (s *Service) processWebhook(ctx context.Context, row models.WebhookInbox) (string, bool) {
	var payload any
	if err := json.Unmarshal(row.Body, &payload); err != nil {
		return "the body is not JSON", false
	}
	ids := candidates(payload, 0, nil)
	if len(ids) == 0 {
		return "the body names no reference or document id", false
	}
	var found []models.Document
	db := s.db.WithContext(ctx)
	if err := db.Where("reference IN ?", ids).Order("id").Limit(1).Find(&found).Error; err != nil {
		return "database: " + err.Error(), true
	}
	if len(found) == 0 {
		if err := db.Where("upstream_id IN ?", ids).Order("id").Limit(1).Find(&found).Error; err != nil {
			return "database: " + err.Error(), true
		}
	}
	if len(found) == 0 {
		return "no document has this reference or pasby id", false
	}
	d := found[0]
	switch {
	case d.State == models.DocumentUnknown && d.UpstreamID == nil:
		return s.resolveUnknown(ctx, d, ids)
	case d.State.Open(), d.State == models.DocumentCompleted && d.StampedURL == "":
		if err := s.check(ctx, d); err != nil {
			return "refresh failed: " + err.Error(), true
		}
		return "", false
	}
	// Late (the document is final already) or early (still being sent,
	// whose answer will say the same): nothing to do.
	return "", false
}

// resolveUnknown learns what became of a document whose create answer was
// lost: the webhook carries pasby's id, and a refresh of that id must name
// our reference before it is believed.
func (s *Service) resolveUnknown(ctx context.Context, d models.Document, ids []string) (string, bool) {
	for _, id := range ids {
		if !strings.HasPrefix(id, "doc_") {
			continue
		}
		answer, err := s.upstream.Refresh(ctx, id)
		if err != nil {
			// Expired or cancelled before we learnt of it: pasby will not
			// show whose it is any more, so a person has to look.
			return "refresh of " + id + " failed: " + err.Error(), errors.Is(err, upstream.ErrUnavailable)
		}
		if subtle.ConstantTimeCompare([]byte(answer.Document.Hook.Reference), []byte(d.Reference)) != 1 {
			return "pasby's document " + id + " does not carry this reference", false
		}
		now := s.now().UTC()
		to := stateAfter(models.DocumentSubmitted, answer.Document, unixTime(answer.Document.Exp), now)
		c := documentChange(answer)
		c.UpstreamID, c.Error, c.NextCheckAt = &id, new(""), new(now.Add(s.opts.FirstCheck))
		_, err = s.transition(ctx, d.ID, []models.DocumentState{models.DocumentUnknown}, to, c,
			"pasby's webhook named this request and a refresh confirmed it reached pasby",
			func(tx *gorm.DB) error { return s.applySignees(tx, d.ID, answer.Document, now) })
		if err != nil {
			return "database: " + err.Error(), true
		}
		return "", false
	}
	return "the document's outcome is unknown and the webhook names no pasby document id", false
}

// idKeys are the JSON keys whose string values may name a document: our
// reference (hook.reference, reference) or pasby's id. pasby does not
// publish the webhook body, so any of them is looked up, at any depth up to
// 4; the lookup itself decides.
var idKeys = map[string]bool{"reference": true, "id": true, "doc": true, "flow": true, "document": true, "request": true}

func candidates(v any, depth int, out []string) []string {
	if depth > 4 || len(out) >= 20 {
		return out
	}
	switch t := v.(type) {
	case map[string]any:
		for k, val := range t {
			if s, ok := val.(string); ok && idKeys[strings.ToLower(k)] && s != "" && len(s) <= 128 {
				out = append(out, s)
				continue
			}
			out = candidates(val, depth+1, out)
		}
	case []any:
		for _, val := range t {
			out = candidates(val, depth+1, out)
		}
	}
	if len(out) > 20 {
		out = out[:20]
	}
	return out
}
