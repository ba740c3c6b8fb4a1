// Package recharges owns water-credit recharges through 1flow: the
// idempotent create (this file), the reconciler that follows recharges to a
// final state (sync.go), and the needs-attention queue for outcomes nobody
// can know (resolve.go). Looking a customer up by phone or device is the
// customers package's; a recharge only asks 1flow whose device it is.
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
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"gorm.io/gorm"

	"portal/models"
	"portal/services"
	"portal/services/lifecycle"
	"portal/services/oneflow"
	"portal/services/phone"
	"portal/services/upstream"
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

// Options tune the service; zero values are production defaults.
type Options struct {
	MaxAmount decimal.Decimal
	// FirstCheck is the reconciler's first delay after a recharge is
	// accepted; each later check waits twice as long, up to MaxCheckDelay.
	FirstCheck    time.Duration
	MaxCheckDelay time.Duration
	// Lease is how long this process holds a recharge it sends or checks
	// (lifecycle.DefaultLease when zero); the call itself gives up before
	// it runs out.
	Lease  time.Duration
	Logger *slog.Logger
}

// Service is the recharges use-case.
type Service struct {
	db       *gorm.DB
	upstream Upstream
	now      services.Clock
	opts     Options
	// backoff is how long after its attempt-th check a recharge is checked
	// again.
	backoff func(attempt int) time.Duration
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
	if opts.Lease <= 0 {
		opts.Lease = lifecycle.DefaultLease
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Service{db: db, upstream: upstream, now: now, opts: opts,
		backoff: lifecycle.CheckSchedule(opts.FirstCheck, opts.MaxCheckDelay)}
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
	var rejected *upstream.RejectedError
	switch {
	case upstream.IsUnknown(err):
		return &UpstreamError{"The portal lost contact with 1flow after sending the recharge, so it may or may not have gone through. It will not be sent again; it waits in Needs attention until someone checks with 1flow.", err}
	case errors.As(err, &rejected):
		return &UpstreamError{"1flow refused the recharge: " + rejected.Reason(), err}
	case errors.Is(err, upstream.ErrNotFound):
		return &UpstreamError{"1flow does not know this device, card or customer.", err}
	case errors.Is(err, upstream.ErrBadCredentials):
		return &UpstreamError{"1flow refused the portal's credentials, so nothing was sent. Tell an admin.", err}
	case errors.Is(err, upstream.ErrForbidden):
		return &UpstreamError{"1flow does not let the portal's account do this, so nothing was sent. Tell an admin.", err}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, upstream.ErrUnavailable):
		return &UpstreamError{"1flow is not answering properly right now. Nothing was charged; try again in a few minutes.", err}
	}
	return &UpstreamError{"1flow could not be reached. Try again in a few minutes.", err}
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
	if errors.Is(err, upstream.ErrNotFound) {
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
	claim := lifecycle.NewClaim(now, s.opts.Lease)
	rec = models.Recharge{
		IdempotencyKey: v.IdempotencyKey, DeviceID: v.DeviceID, CardID: v.CardID, CustomerName: name,
		CustomerPhone: phoneNumber, Amount: v.Amount, Currency: CurrencyFor(phoneNumber),
		State: models.RechargeQueued, CreatedByEmail: actor.Email, CreatedAt: now, UpdatedAt: now,
		ClaimedBy: claim.By, LeaseUntil: &claim.Until,
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
		return services.Audit(tx, now, actor, "recharge.created", rechargeLifecycle.Subject(rec.ID),
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
	claim := lifecycle.NewClaim(s.now(), s.opts.Lease)
	claimed, err := rechargeLifecycle.Transition(ctx, s.db, s.now(), lifecycle.Move[models.RechargeState]{
		ID: rec.ID, From: []models.RechargeState{models.RechargeQueued}, To: models.RechargeSubmitting, Note: "sending to 1flow", Claim: &claim})
	if err != nil || !claimed {
		r, gerr := s.Get(ctx, rec.ID)
		if gerr != nil {
			return rec, gerr
		}
		return r, err
	}
	callCtx, cancel := context.WithTimeout(ctx, lifecycle.CallTimeout(s.opts.Lease))
	answer, callErr := s.upstream.Recharge(callCtx, oneflow.RechargeRequest{DeviceID: rec.DeviceID, CardID: rec.CardID, Amount: rec.Amount})
	cancel()
	now := s.now().UTC()
	switch {
	case callErr == nil:
		c := answerChange(answer)
		c.SubmittedAt, c.NextCheckAt, c.UpstreamID = &now, new(now.Add(s.opts.FirstCheck)), &answer.ID
		to := models.RechargeSubmitted
		if st := stateFor(answer.Status); st.Final() {
			to = st
		}
		_, err = s.answer(ctx, rec.ID, to, c, answer.Status, "1flow accepted the recharge")
	case upstream.IsUnknown(callErr):
		msg := plain(callErr).Message
		s.opts.Logger.Warn("recharge outcome unknown", "recharge_id", rec.ID, "err", callErr)
		_, err = s.answer(ctx, rec.ID, models.RechargeUnknown, &change{Error: &msg}, "", "no answer from 1flow after sending")
	default:
		msg := plain(callErr).Message
		s.opts.Logger.Warn("recharge refused", "recharge_id", rec.ID, "err", callErr)
		_, err = s.answer(ctx, rec.ID, models.RechargeFailed, &change{Error: &msg, CompletedAt: &now}, "", msg)
	}
	r, gerr := s.Get(ctx, rec.ID)
	if err == nil {
		err = gerr
	}
	return r, err
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

// rechargeLifecycle is how a recharge changes state: only the moves in its
// table, each with its timeline event.
var rechargeLifecycle = &lifecycle.Kind[models.RechargeState]{
	Name: "recharge",
	Table: lifecycle.Table[models.RechargeState]{
		models.RechargeQueued: {models.RechargeSubmitting, models.RechargeFailed},
		// 1flow answers PENDING, but an answer that is already final is
		// taken as it is.
		models.RechargeSubmitting: {models.RechargeSubmitted, models.RechargeCompleted, models.RechargeFailed, models.RechargeUnknown},
		// Unknown: 1flow no longer knows the id, so a person has to look.
		models.RechargeSubmitted: {models.RechargePending, models.RechargeCompleted, models.RechargeFailed, models.RechargeUnknown},
		models.RechargePending:   {models.RechargeCompleted, models.RechargeFailed, models.RechargeUnknown},
		// Only a person who checked with 1flow settles an unknown recharge:
		// its 1flow id (followed from then on) or "never arrived". Never
		// back to queued or submitting: it is never sent again.
		models.RechargeUnknown: {models.RechargeSubmitted, models.RechargeFailed},
	},
	Model: func() any { return &models.Recharge{} },
	Entering: func(to models.RechargeState, _ time.Time, cols map[string]any) {
		if to.Final() {
			cols["next_check_at"] = nil
		}
	},
	Event: func(m lifecycle.Move[models.RechargeState], from models.RechargeState, at time.Time) any {
		return &models.RechargeEvent{RechargeID: m.ID, At: at, FromState: from, ToState: m.To, UpstreamStatus: m.UpstreamStatus, Note: m.Note}
	},
}

// change is what a recharge move or update writes besides its state; a nil
// field leaves its column as it is.
type change struct {
	UpstreamID       *string
	UpstreamStatus   *string
	CustomerName     *string
	CustomerPhone    *string
	Currency         *string
	Litres           *string
	PricePerLitre    *string
	BalanceAfter     *string
	Error            *string
	SubmittedAt      *time.Time
	CompletedAt      *time.Time
	NextCheckAt      *time.Time
	CheckAttempts    *int
	LastUpstreamJSON *string
}

// CanTransition reports whether a recharge may move from one state to
// another.
func CanTransition(from, to models.RechargeState) bool {
	return rechargeLifecycle.Table.Allows(from, to)
}

// transition moves a recharge from one of from to to, if it is still
// there, with its timeline event. It reports whether this call made the
// change.
func (s *Service) transition(ctx context.Context, id uint, from []models.RechargeState, to models.RechargeState, c *change, upstreamStatus, note string) (bool, error) {
	return rechargeLifecycle.Transition(ctx, s.db, s.now(), lifecycle.Move[models.RechargeState]{
		ID: id, From: from, To: to, Change: c, UpstreamStatus: upstreamStatus, Note: note})
}

// answer writes what the one 1flow call for a recharge answered (see
// lifecycle.TransitionAnswer).
func (s *Service) answer(ctx context.Context, id uint, to models.RechargeState, c *change, upstreamStatus, note string) (bool, error) {
	return rechargeLifecycle.TransitionAnswer(ctx, s.db, s.now(), lifecycle.Move[models.RechargeState]{
		ID: id, To: to, Change: c, UpstreamStatus: upstreamStatus, Note: note},
		models.RechargeSubmitting, models.RechargeUnknown, models.RechargeSubmitted)
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
	if d.Audit, err = services.AuditTrail(ctx, s.db, rechargeLifecycle.Subject(id)); err != nil {
		return Detail{}, fmt.Errorf("recharges: %w", err)
	}
	return d, nil
}
