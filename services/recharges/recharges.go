// Package recharges owns water-credit recharges through 1flow: customer
// lookup, the idempotent create, the reconciler that follows recharges to a
// final state, and the needs-attention queue for outcomes nobody can know.
//
// The rules that keep money safe:
//   - A recharge row (with its idempotency key, unique) is committed before
//     1flow is called, so a request is never lost and a key never sends twice.
//   - Only the request that moves the row queued → submitting may call 1flow;
//     no transaction is open during the call.
//   - Every state change is a conditional UPDATE from the states it may leave;
//     final states are never in that list, so they can't be left.
//   - An outcome we can't know (timeout after sending, broken connection, a
//     crash mid-call) becomes "unknown" and is never re-sent automatically.
package recharges

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"gorm.io/gorm"

	"portal/models"
	"portal/services"
	"portal/services/oneflow"
	"portal/services/phone"
)

// Upstream is the part of the 1flow client the service uses.
type Upstream interface {
	Lookup(ctx context.Context, q oneflow.LookupQuery) (oneflow.Customer, error)
	Recharge(ctx context.Context, r oneflow.RechargeRequest) (oneflow.Recharge, error)
	GetRecharge(ctx context.Context, id string) (oneflow.Recharge, error)
}

// ErrKeyReused is returned when an idempotency key comes back with a
// different device, card or amount: that is a different recharge wearing an
// old key, and guessing which one was meant would move money.
var ErrKeyReused = errors.New("recharges: idempotency key already used for a different recharge")

// ErrNotUnknown is returned when resolving a recharge that is not unknown.
var ErrNotUnknown = errors.New("recharges: recharge is not waiting for attention")

// ErrNotOpen is a refresh of a recharge 1flow has finished with (or never
// received): there is nothing to ask.
var ErrNotOpen = errors.New("recharges: the recharge is not waiting for 1flow")

// UpstreamError is a 1flow failure in words for staff.
type UpstreamError struct {
	Message string
	Err     error
}

func (e *UpstreamError) Error() string { return e.Message }
func (e *UpstreamError) Unwrap() error { return e.Err }

// NotFound reports whether 1flow said the customer, device or card does not
// exist.
func (e *UpstreamError) NotFound() bool { return errors.Is(e.Err, oneflow.ErrNotFound) }

// Options tune the service; zero values are production defaults.
type Options struct {
	MaxAmount decimal.Decimal
	// FirstCheck is the reconciler's first delay after a recharge is
	// accepted; each later check waits twice as long, up to MaxCheckDelay.
	FirstCheck    time.Duration
	MaxCheckDelay time.Duration
	Logger        *slog.Logger
}

// Service is the recharges use-case.
type Service struct {
	db       *gorm.DB
	upstream Upstream
	now      services.Clock
	opts     Options
}

// New returns the service.
func New(db *gorm.DB, upstream Upstream, now services.Clock, opts Options) *Service {
	if opts.MaxAmount.IsZero() {
		opts.MaxAmount = decimal.NewFromInt(10000)
	}
	if opts.FirstCheck <= 0 {
		opts.FirstCheck = 5 * time.Second
	}
	if opts.MaxCheckDelay <= 0 {
		opts.MaxCheckDelay = 5 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Service{db: db, upstream: upstream, now: now, opts: opts}
}

// MaxAmount is the largest single recharge.
func (s *Service) MaxAmount() decimal.Decimal { return s.opts.MaxAmount }

// NewIdempotencyKey returns a fresh key for a recharge form.
func NewIdempotencyKey() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// plain turns a 1flow error into a sentence for staff.
func plain(err error) *UpstreamError {
	var rejected *oneflow.RejectedError
	var unknown *oneflow.OutcomeUnknownError
	switch {
	case errors.As(err, &unknown):
		return &UpstreamError{"The portal lost contact with 1flow after sending the recharge, so it may or may not have gone through. It will not be sent again; it waits in Needs attention until someone checks with 1flow.", err}
	case errors.As(err, &rejected):
		return &UpstreamError{"1flow refused the recharge: " + rejected.Message, err}
	case errors.Is(err, oneflow.ErrNotFound):
		return &UpstreamError{"1flow does not know this device, card or customer.", err}
	case errors.Is(err, oneflow.ErrBadCredentials):
		return &UpstreamError{"1flow refused the portal's credentials, so nothing was sent. Tell an admin.", err}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, oneflow.ErrUnavailable):
		return &UpstreamError{"1flow is not answering properly right now. Nothing was charged; try again in a few minutes.", err}
	}
	return &UpstreamError{"1flow could not be reached. Try again in a few minutes.", err}
}

// LookupResult is what the customer lookup page shows.
type LookupResult struct {
	Query    string // normalized: E.164 phone or the device id
	ByPhone  bool
	Customer oneflow.Customer
	Recent   []models.Recharge
}

// Lookup finds a customer by phone (any common format) or device id, with
// the recent recharges of their phone and devices.
func (s *Service) Lookup(ctx context.Context, actor services.Actor, q string) (LookupResult, error) {
	res, err := s.LookupCustomer(ctx, actor, q)
	if err != nil {
		return res, err
	}
	ids := []string{}
	for _, d := range res.Customer.Devices {
		ids = append(ids, d.SerialNumber)
	}
	if err := s.db.WithContext(ctx).
		Where("customer_phone = ? OR device_id IN ? OR card_id IN ?", res.Customer.PhoneNumber, ids, ids).
		Order("id DESC").Limit(20).Find(&res.Recent).Error; err != nil {
		return LookupResult{}, fmt.Errorf("recharges: recent: %w", err)
	}
	return res, nil
}

// LookupCustomer asks 1flow for a customer by phone or device id (and
// audits it), without reading our recharges: the customer page reads those
// itself.
func (s *Service) LookupCustomer(ctx context.Context, actor services.Actor, q string) (LookupResult, error) {
	q = strings.TrimSpace(q)
	var query oneflow.LookupQuery
	res := LookupResult{}
	if p, err := phone.Normalize(q); err == nil {
		query.PhoneNumber, res.Query, res.ByPhone = p, p, true
	} else if targetPattern.MatchString(q) {
		query.DeviceID, res.Query = q, q
	} else {
		return LookupResult{}, services.FieldErrors{"q": "Enter a phone number (like 0712 345 678 or +233 24 412 3456) or a device id."}
	}
	customer, err := s.upstream.Lookup(ctx, query)
	if err != nil {
		return LookupResult{}, plain(err)
	}
	res.Customer = customer
	err = services.WithTx(ctx, s.db, func(tx *gorm.DB) error {
		return services.Audit(tx, s.now(), actor, "customer.lookup", res.Query, "found="+customer.PhoneNumber)
	})
	return res, err
}

// Confirmation is what the confirmation step shows before anything is sent.
type Confirmation struct {
	Input        Valid
	CustomerName string
	Phone        string
	DeviceType   string
	Balance      decimal.Decimal
	Known        bool // the device/card was found in 1flow
}

// Prepare validates a recharge and looks its customer up for the
// confirmation step. Nothing is written or sent.
func (s *Service) Prepare(ctx context.Context, in Input) (Confirmation, error) {
	v, err := in.Validate(s.opts.MaxAmount)
	if err != nil {
		return Confirmation{}, err
	}
	c := Confirmation{Input: v}
	var query oneflow.LookupQuery
	switch {
	case v.DeviceID != "":
		query.DeviceID = v.DeviceID
	case v.PhoneNumber != "":
		query.PhoneNumber = v.PhoneNumber
	default:
		// 1flow can't look a card up by itself; the confirmation says so.
		return c, nil
	}
	customer, err := s.upstream.Lookup(ctx, query)
	if errors.Is(err, oneflow.ErrNotFound) {
		field := "device_id"
		if v.CardID != "" {
			field = "card_id"
		}
		return Confirmation{}, services.FieldErrors{field: "1flow has no customer with this " + strings.ReplaceAll(field, "_", " ") + "."}
	}
	if err != nil {
		return Confirmation{}, plain(err)
	}
	c.CustomerName, c.Phone = customer.Name, customer.PhoneNumber
	for _, d := range customer.Devices {
		if d.SerialNumber == v.Target() {
			c.Known, c.DeviceType, c.Balance = true, d.DeviceType, d.Balance
		}
	}
	if !c.Known && v.CardID != "" {
		return Confirmation{}, services.FieldErrors{"card_id": "This customer has no card with this id in 1flow."}
	}
	return c, nil
}

// Create records and sends a recharge, once per idempotency key. It returns
// the recharge as it stands after the attempt; created is false when the key
// had already been used (the caller shows that recharge instead).
func (s *Service) Create(ctx context.Context, actor services.Actor, in Input) (rec models.Recharge, created bool, err error) {
	v, err := in.Validate(s.opts.MaxAmount)
	if err != nil {
		return models.Recharge{}, false, err
	}
	// A repeat of a key we know needs no lookup: it lands on its recharge.
	if existing, err := s.byKey(ctx, v.IdempotencyKey); err == nil {
		if existing.DeviceID != v.DeviceID || existing.CardID != v.CardID || !existing.Amount.Equal(v.Amount) {
			return existing, false, ErrKeyReused
		}
		return existing, false, nil
	}
	name, phoneNumber := s.customerOf(ctx, v)
	now := s.now().UTC()
	rec = models.Recharge{
		IdempotencyKey: v.IdempotencyKey, DeviceID: v.DeviceID, CardID: v.CardID, CustomerName: name,
		CustomerPhone: phoneNumber, Amount: v.Amount, Currency: CurrencyFor(phoneNumber),
		State: models.RechargeQueued, CreatedByEmail: actor.Email, CreatedAt: now, UpdatedAt: now,
	}
	if actor.ID != 0 {
		id := actor.ID
		rec.CreatedByID = &id
	}
	err = services.WithTx(ctx, s.db, func(tx *gorm.DB) error {
		if err := tx.Create(&rec).Error; err != nil {
			return err
		}
		if err := tx.Create(&models.RechargeEvent{RechargeID: rec.ID, At: now, ToState: models.RechargeQueued, Note: "created by " + actor.Email}).Error; err != nil {
			return err
		}
		return services.Audit(tx, now, actor, "recharge.created", rechargeSubject(rec.ID),
			fmt.Sprintf("target=%s amount=%s", v.Target(), v.Amount))
	})
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		existing, gerr := s.byKey(ctx, v.IdempotencyKey)
		if gerr != nil {
			return models.Recharge{}, false, gerr
		}
		if existing.DeviceID != v.DeviceID || existing.CardID != v.CardID || !existing.Amount.Equal(v.Amount) {
			return existing, false, ErrKeyReused
		}
		return existing, false, nil
	}
	if err != nil {
		return models.Recharge{}, false, fmt.Errorf("recharges: record: %w", err)
	}
	// The call outlives the browser: a closed tab must not cancel a recharge
	// halfway, which would turn a clean answer into an unknown outcome.
	rec, err = s.send(context.WithoutCancel(ctx), rec)
	return rec, true, err
}

// customerOf looks the owner up so that even a recharge whose outcome ends
// unknown says whose it is. It is best effort: 1flow's answer to the recharge
// fills the name in too, and a lookup failure must not block the recharge.
func (s *Service) customerOf(ctx context.Context, v Valid) (name, phoneNumber string) {
	phoneNumber = v.PhoneNumber
	q := oneflow.LookupQuery{DeviceID: v.DeviceID}
	if v.DeviceID == "" {
		if v.PhoneNumber == "" {
			return "", ""
		}
		q = oneflow.LookupQuery{PhoneNumber: v.PhoneNumber}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := s.upstream.Lookup(ctx, q)
	if err != nil {
		s.opts.Logger.Warn("recharge: customer lookup before sending failed", "err", err)
		return "", phoneNumber
	}
	return c.Name, cmp.Or(c.PhoneNumber, phoneNumber)
}

func rechargeSubject(id uint) string { return "recharge:" + strconv.FormatUint(uint64(id), 10) }

func (s *Service) byKey(ctx context.Context, key string) (models.Recharge, error) {
	var r models.Recharge
	if err := s.db.WithContext(ctx).Where("idempotency_key = ?", key).Take(&r).Error; err != nil {
		return models.Recharge{}, fmt.Errorf("recharges: by key: %w", err)
	}
	return r, nil
}

// send claims a queued recharge and calls 1flow. Only one caller can win the
// claim, so only one upstream call can ever happen per row.
func (s *Service) send(ctx context.Context, rec models.Recharge) (models.Recharge, error) {
	claimed, err := s.transition(ctx, rec.ID, []models.RechargeState{models.RechargeQueued}, models.RechargeSubmitting, nil, "", "sending to 1flow")
	if err != nil || !claimed {
		r, gerr := s.Get(ctx, rec.ID)
		if gerr != nil {
			return rec, gerr
		}
		return r, err
	}
	answer, callErr := s.upstream.Recharge(ctx, oneflow.RechargeRequest{DeviceID: rec.DeviceID, CardID: rec.CardID, Amount: rec.Amount})
	now := s.now().UTC()
	from := []models.RechargeState{models.RechargeSubmitting}
	var unknown *oneflow.OutcomeUnknownError
	switch {
	case callErr == nil:
		next := now.Add(s.opts.FirstCheck)
		upd := answerUpdates(answer)
		upd["submitted_at"] = now
		upd["next_check_at"] = next
		upd["upstream_id"] = answer.ID
		to := models.RechargeSubmitted
		if st := stateFor(answer.Status); st.Final() {
			to = st
		}
		_, err = s.transition(ctx, rec.ID, from, to, upd, answer.Status, "1flow accepted the recharge")
	case errors.As(callErr, &unknown):
		msg := plain(callErr).Message
		s.opts.Logger.Warn("recharge outcome unknown", "recharge_id", rec.ID, "err", callErr)
		_, err = s.transition(ctx, rec.ID, from, models.RechargeUnknown, map[string]any{"error": msg}, "", "no answer from 1flow after sending")
	default:
		msg := plain(callErr).Message
		s.opts.Logger.Warn("recharge refused", "recharge_id", rec.ID, "err", callErr)
		_, err = s.transition(ctx, rec.ID, from, models.RechargeFailed, map[string]any{"error": msg, "completed_at": now}, "", msg)
	}
	r, gerr := s.Get(ctx, rec.ID)
	if err == nil {
		err = gerr
	}
	return r, err
}

func stateFor(upstreamStatus string) models.RechargeState {
	switch strings.ToUpper(upstreamStatus) {
	case "COMPLETED":
		return models.RechargeCompleted
	case "FAILED":
		return models.RechargeFailed
	}
	return models.RechargePending
}

// CurrencyFor is the currency a customer with this phone is charged in.
func CurrencyFor(e164 string) string {
	// [ours] until 1flow reports the currency on completion: 1flow prices in
	// the customer's national currency.
	switch phone.Country(e164) {
	case "KE":
		return "KES"
	case "GH":
		return "GHS"
	}
	return ""
}

func nullDecimal(d decimal.NullDecimal) string {
	if !d.Valid {
		return ""
	}
	return d.Decimal.String()
}

// answerUpdates are the columns an upstream answer fills.
func answerUpdates(a oneflow.Recharge) map[string]any {
	upd := map[string]any{
		"upstream_status":    a.Status,
		"last_upstream_json": string(a.Raw),
	}
	if a.Customer.Name != "" {
		upd["customer_name"] = a.Customer.Name
	}
	if a.Customer.PhoneNumber != "" {
		upd["customer_phone"] = a.Customer.PhoneNumber
	}
	if a.Currency != "" {
		upd["currency"] = a.Currency
	}
	if v := nullDecimal(a.Litres); v != "" {
		upd["litres"] = v
	}
	if v := nullDecimal(a.PricePerLitre); v != "" {
		upd["price_per_litre"] = v
	}
	if v := nullDecimal(a.Balance); v != "" {
		upd["balance_after"] = v
	}
	if a.CompletedAt != nil {
		upd["completed_at"] = a.CompletedAt.UTC()
	}
	return upd
}

// transition moves a recharge from one of from to to, conditionally, and
// records the event. It reports whether this call made the change.
func (s *Service) transition(ctx context.Context, id uint, from []models.RechargeState, to models.RechargeState, upd map[string]any, upstreamStatus, note string) (bool, error) {
	for _, f := range from {
		if f.Final() {
			return false, fmt.Errorf("recharges: transition out of final state %s", f)
		}
	}
	now := s.now().UTC()
	changed := false
	err := services.WithTx(ctx, s.db, func(tx *gorm.DB) error {
		var current models.Recharge
		if err := tx.Select("id", "state").Take(&current, id).Error; err != nil {
			return err
		}
		cols := map[string]any{"state": to, "updated_at": now}
		for k, v := range upd {
			cols[k] = v
		}
		if to.Final() {
			cols["next_check_at"] = nil
		}
		res := tx.Model(&models.Recharge{}).Where("id = ? AND state IN ?", id, from).Updates(cols)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return nil
		}
		changed = true
		return tx.Create(&models.RechargeEvent{RechargeID: id, At: now, FromState: current.State, ToState: to, UpstreamStatus: upstreamStatus, Note: note}).Error
	})
	if err != nil {
		return false, fmt.Errorf("recharges: %d → %s: %w", id, to, err)
	}
	return changed, nil
}

// Get returns one recharge or models.ErrNotFound.
func (s *Service) Get(ctx context.Context, id uint) (models.Recharge, error) {
	var r models.Recharge
	err := s.db.WithContext(ctx).Take(&r, id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return models.Recharge{}, models.ErrNotFound
	}
	if err != nil {
		return models.Recharge{}, fmt.Errorf("recharges: get %d: %w", id, err)
	}
	return r, nil
}

// Detail is a recharge with its timeline and audit trail.
type Detail struct {
	Recharge models.Recharge
	Events   []models.RechargeEvent
	Audit    []models.AuditEvent
}

// GetLive is the detail without the audit trail: what the status
// fragment renders every 2 s.
func (s *Service) GetLive(ctx context.Context, id uint) (Detail, error) {
	r, err := s.Get(ctx, id)
	if err != nil {
		return Detail{}, err
	}
	d := Detail{Recharge: r}
	if err := s.db.WithContext(ctx).Where("recharge_id = ?", id).Order("id").Find(&d.Events).Error; err != nil {
		return Detail{}, fmt.Errorf("recharges: events: %w", err)
	}
	return d, nil
}

// GetDetail returns everything the detail page shows.
func (s *Service) GetDetail(ctx context.Context, id uint) (Detail, error) {
	d, err := s.GetLive(ctx, id)
	if err != nil {
		return Detail{}, err
	}
	if d.Audit, err = services.AuditTrail(ctx, s.db, rechargeSubject(id)); err != nil {
		return Detail{}, fmt.Errorf("recharges: %w", err)
	}
	return d, nil
}

// ResolveWithUpstreamID records the 1flow id of an unknown recharge after
// 1flow confirmed it exists; the reconciler then follows it as usual.
func (s *Service) ResolveWithUpstreamID(ctx context.Context, actor services.Actor, id uint, upstreamID string) (models.Recharge, error) {
	upstreamID = strings.TrimSpace(upstreamID)
	if !upstreamIDPattern.MatchString(upstreamID) {
		return models.Recharge{}, services.FieldErrors{"upstream_id": "Enter the recharge id 1flow gave, like 98466062-2548-4dca-9ef9-f1b4b09c92dc."}
	}
	var other models.Recharge
	err := s.db.WithContext(ctx).Where("upstream_id = ? AND id <> ?", upstreamID, id).Take(&other).Error
	if err == nil {
		return models.Recharge{}, services.FieldErrors{"upstream_id": fmt.Sprintf("Recharge #%d already has this 1flow id.", other.ID)}
	}
	rec, err := s.Get(ctx, id)
	if err != nil {
		return models.Recharge{}, err
	}
	if rec.State != models.RechargeUnknown {
		return rec, ErrNotUnknown
	}
	// Ask 1flow before believing the id: a typo, or someone else's
	// recharge, would otherwise be "tracked" forever or completed as if it
	// were this one.
	answer, err := s.upstream.GetRecharge(ctx, upstreamID)
	if errors.Is(err, oneflow.ErrNotFound) {
		return models.Recharge{}, services.FieldErrors{"upstream_id": "1flow has no recharge with this id. Check it with 1flow."}
	}
	if err != nil {
		return models.Recharge{}, plain(err)
	}
	if answer.SerialNumber != "" && answer.SerialNumber != rec.Target() || !answer.Amount.Equal(rec.Amount) {
		return models.Recharge{}, services.FieldErrors{"upstream_id": fmt.Sprintf(
			"That 1flow recharge is for %s and %s, not for %s and %s.", answer.SerialNumber, answer.Amount, rec.Target(), rec.Amount)}
	}
	now := s.now().UTC()
	return s.resolve(ctx, actor, id, models.RechargeSubmitted,
		map[string]any{"upstream_id": upstreamID, "next_check_at": now, "check_attempts": 0, "error": ""},
		"recharge.resolved_upstream_id", "upstream_id="+upstreamID, "1flow id entered by "+actor.Email)
}

// MarkNotSent closes an unknown recharge that 1flow confirmed it never
// received.
func (s *Service) MarkNotSent(ctx context.Context, actor services.Actor, id uint, note string) (models.Recharge, error) {
	note = strings.TrimSpace(note)
	if note == "" || len(note) > 500 {
		return models.Recharge{}, services.FieldErrors{"note": "Say how you checked, for example “1flow support confirmed no recharge for this device today”."}
	}
	msg := "Not sent: " + actor.Email + " checked with 1flow: " + note
	return s.resolve(ctx, actor, id, models.RechargeFailed,
		map[string]any{"error": msg, "completed_at": s.now().UTC()},
		"recharge.resolved_not_sent", note, msg)
}

var upstreamIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{7,63}$`)

func (s *Service) resolve(ctx context.Context, actor services.Actor, id uint, to models.RechargeState, upd map[string]any, action, details, note string) (models.Recharge, error) {
	r, err := s.Get(ctx, id)
	if err != nil {
		return models.Recharge{}, err
	}
	if r.State != models.RechargeUnknown {
		return r, ErrNotUnknown
	}
	now := s.now().UTC()
	err = services.WithTx(ctx, s.db, func(tx *gorm.DB) error {
		cols := map[string]any{"state": to, "updated_at": now}
		for k, v := range upd {
			cols[k] = v
		}
		res := tx.Model(&models.Recharge{}).Where("id = ? AND state = ?", id, models.RechargeUnknown).Updates(cols)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotUnknown
		}
		if err := tx.Create(&models.RechargeEvent{RechargeID: id, At: now, FromState: models.RechargeUnknown, ToState: to, Note: note}).Error; err != nil {
			return err
		}
		return services.Audit(tx, now, actor, action, rechargeSubject(id), details)
	})
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return models.Recharge{}, services.FieldErrors{"upstream_id": "Another recharge already has this 1flow id."}
	}
	if errors.Is(err, ErrNotUnknown) {
		r, _ = s.Get(ctx, id)
		return r, ErrNotUnknown
	}
	if err != nil {
		return models.Recharge{}, fmt.Errorf("recharges: resolve %d: %w", id, err)
	}
	return s.Get(ctx, id)
}

// Refresh asks 1flow about an open recharge now (the "refresh now" button
// support uses with a customer on the phone) and audits that staff asked;
// the answer is recorded as the reconciler would.
func (s *Service) Refresh(ctx context.Context, actor services.Actor, id uint) (models.Recharge, error) {
	r, err := s.Get(ctx, id)
	if err != nil {
		return models.Recharge{}, err
	}
	if r.UpstreamID == nil || (r.State != models.RechargeSubmitted && r.State != models.RechargePending) {
		return r, ErrNotOpen
	}
	s.check(context.WithoutCancel(ctx), r)
	if err := services.WithTx(ctx, s.db, func(tx *gorm.DB) error {
		return services.Audit(tx, s.now(), actor, "recharge.refreshed", rechargeSubject(id), "")
	}); err != nil {
		return r, err
	}
	return s.Get(ctx, id)
}

// RecoverAfterRestart settles what a crash left mid-way: a recharge still
// "submitting" may have reached 1flow, so it becomes unknown; one still
// "queued" was never claimed, so never sent, and fails with a note.
func (s *Service) RecoverAfterRestart(ctx context.Context) error {
	var stuck []models.Recharge
	if err := s.db.WithContext(ctx).Where("state IN ?", []models.RechargeState{models.RechargeSubmitting, models.RechargeQueued}).Find(&stuck).Error; err != nil {
		return fmt.Errorf("recharges: recover: %w", err)
	}
	for _, r := range stuck {
		var err error
		if r.State == models.RechargeSubmitting {
			_, err = s.transition(ctx, r.ID, []models.RechargeState{models.RechargeSubmitting}, models.RechargeUnknown,
				map[string]any{"error": "The portal stopped while sending this recharge to 1flow, so it may or may not have gone through. It will not be sent again; check with 1flow."},
				"", "portal restarted during the call")
		} else {
			_, err = s.transition(ctx, r.ID, []models.RechargeState{models.RechargeQueued}, models.RechargeFailed,
				map[string]any{"error": "Not sent: the portal stopped before sending it. Start a new recharge if it is still needed.", "completed_at": s.now().UTC()},
				"", "portal restarted before sending")
		}
		if err != nil {
			return err
		}
		s.opts.Logger.Warn("recovered recharge after restart", "recharge_id", r.ID, "was", r.State)
	}
	return nil
}

// CountUnknown is the size of the needs-attention queue.
func (s *Service) CountUnknown(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&models.Recharge{}).Where("state = ?", models.RechargeUnknown).Count(&n).Error
	return n, err
}

// ReconcileOnce checks every recharge that is due and returns how many it
// checked.
func (s *Service) ReconcileOnce(ctx context.Context) (int, error) {
	now := s.now().UTC()
	var due []models.Recharge
	if err := s.db.WithContext(ctx).
		Where("state IN ? AND next_check_at <= ?", []models.RechargeState{models.RechargeSubmitted, models.RechargePending}, now).
		Order("next_check_at").Limit(50).Find(&due).Error; err != nil {
		return 0, fmt.Errorf("recharges: due: %w", err)
	}
	for _, r := range due {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		s.check(ctx, r)
	}
	return len(due), nil
}

// check polls one recharge and schedules the next check with backoff.
func (s *Service) check(ctx context.Context, r models.Recharge) {
	if r.UpstreamID == nil {
		return
	}
	answer, err := s.upstream.GetRecharge(ctx, *r.UpstreamID)
	now := s.now().UTC()
	next := now.Add(s.backoff(r.CheckAttempts + 1))
	from := []models.RechargeState{models.RechargeSubmitted, models.RechargePending}
	if errors.Is(err, oneflow.ErrNotFound) {
		// 1flow says this id does not exist: nobody knows what happened to
		// the money, so a person has to look.
		if _, terr := s.transition(ctx, r.ID, []models.RechargeState{models.RechargeSubmitted, models.RechargePending}, models.RechargeUnknown,
			map[string]any{"error": "1flow no longer knows this recharge id. Check with 1flow what happened to it."}, "", "1flow answered 404 for the recharge id"); terr != nil {
			s.opts.Logger.Error("recharge update", "recharge_id", r.ID, "err", terr)
		}
		return
	}
	if err != nil {
		s.opts.Logger.Warn("recharge check failed", "recharge_id", r.ID, "err", err)
		// The state stays; only the schedule moves.
		if uerr := s.db.WithContext(ctx).Model(&models.Recharge{}).Where("id = ? AND state IN ?", r.ID, from).
			Updates(map[string]any{"next_check_at": next, "check_attempts": r.CheckAttempts + 1}).Error; uerr != nil {
			s.opts.Logger.Error("recharge reschedule", "recharge_id", r.ID, "err", uerr)
		}
		return
	}
	to := stateFor(answer.Status)
	upd := answerUpdates(answer)
	upd["check_attempts"] = r.CheckAttempts + 1
	upd["next_check_at"] = next
	if to == models.RechargeFailed {
		upd["error"] = "1flow reported the recharge as failed."
	}
	if to == r.State {
		// Nothing new: no timeline entry, just the next check.
		if uerr := s.db.WithContext(ctx).Model(&models.Recharge{}).Where("id = ? AND state = ?", r.ID, r.State).Updates(upd).Error; uerr != nil {
			s.opts.Logger.Error("recharge reschedule", "recharge_id", r.ID, "err", uerr)
		}
		return
	}
	if _, err := s.transition(ctx, r.ID, from, to, upd, answer.Status, "1flow reports "+answer.Status); err != nil {
		s.opts.Logger.Error("recharge update", "recharge_id", r.ID, "err", err)
	}
}

// backoff is FirstCheck·2^(attempt-1), capped at MaxCheckDelay, with ±20 %
// jitter so recharges created together don't poll together forever.
func (s *Service) backoff(attempt int) time.Duration {
	return services.CheckDelay(s.opts.FirstCheck, s.opts.MaxCheckDelay, attempt)
}

// RunReconciler checks due recharges every tick until ctx ends.
func (s *Service) RunReconciler(ctx context.Context, tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		if _, err := s.ReconcileOnce(ctx); err != nil && ctx.Err() == nil {
			s.opts.Logger.Error("recharge reconciler", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
