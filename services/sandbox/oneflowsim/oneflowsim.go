// Package oneflowsim simulates the 1flow partner API (water credit: token,
// customer lookup, recharge, verify) for the sandbox harness.
//
// It is written from the provider's document
// (../shared/upstream-docs/oneflow-partner-api.txt) and the 1flow section of
// NOTES.md beside it, never from the portal's 1flow client, so that a field
// the client misreads shows up as a failing contract test instead of being
// mirrored on both sides.
//
// The document specifies little beyond the happy path. Every behaviour it
// does not specify is our own assumption and is marked "[ours]" where it is
// implemented. The main ones:
//
//   - Errors use the documented envelope with "success": false, a message a
//     person can act on, and "data": null; 400 for bad input, 401 for bad
//     client credentials or a missing, unknown or expired token, 404 for an
//     unknown customer, device, card or recharge. [ours]
//   - The lookup answer is {"customer":{"name","phoneNumber"},
//     "devices":[{"serialNumber","deviceType","balance"}]}, cards included
//     with deviceType "CARD" (NOTES.md). [ours]
//   - Device serials are 14 digits (like the document's 68753500140920);
//     card ids are 10 digits. [ours]
//   - A recharge is PENDING for SettleAfter, then COMPLETED, or FAILED when
//     its device or card is suspended. It settles lazily, when anything is
//     read, so no goroutine runs. [ours]
//   - Balances are litres of water: a completed recharge adds
//     amount / pricePerLitre (rounded to 2 decimals) to the device's balance,
//     and "balance" in the verify answer is the balance right after that
//     recharge. [ours]
//   - Currency and price per litre follow the customer's country: +254 is
//     KES at 0.5 per litre, +233 is GHS at 5 per litre (the document's
//     example shows GHS at 5). [ours]
//
// Customers, devices, recharges, tokens and the call count live in the
// sandbox store (see sandbox.Store), so a restart of the process forgets
// nothing: a recharge accepted before it settles after it, and a token
// issued before it still works.
package oneflowsim

import (
	"context"
	"log/slog"
	"math"
	"time"

	"github.com/shopspring/decimal"

	"portal/services/sandbox"
)

// Defaults for Options.
const (
	DefaultClientID     = "sandbox-client-id"
	DefaultClientSecret = "sandbox-client-secret"
	// DefaultTokenTTL is the document's "expires_in": 3600.
	DefaultTokenTTL = 3600 * time.Second
	// DefaultSettleAfter keeps the demo alive: a recharge settles by itself
	// 20 s after it was accepted. [ours] (the document's example took ten
	// minutes)
	DefaultSettleAfter = 20 * time.Second
)

// Values the API uses.
const (
	DeviceTypeDevice = "DEVICE" // the document's deviceType
	DeviceTypeCard   = "CARD"   // [ours] (NOTES.md)

	StatusPending   = "PENDING"
	StatusCompleted = "COMPLETED"
	StatusFailed    = "FAILED"
)

// Paths of the endpoints, relative to the simulator's root, exactly as the
// document gives them.
const (
	PathToken    = "/v1/access/partners/token"
	PathLookup   = "/v1/access/partners/lookup"
	PathRecharge = "/v1/access/partners/recharge"
)

// Options configure a Sim. The zero value is a working demo simulator.
type Options struct {
	// ClientID and ClientSecret are the HTTP Basic credentials the token
	// endpoint accepts. Empty means DefaultClientID / DefaultClientSecret.
	ClientID     string
	ClientSecret string
	// TokenTTL is how long an access token stays valid. Zero means
	// DefaultTokenTTL. expires_in is TokenTTL in whole seconds, rounded up.
	TokenTTL time.Duration
	// SettleAfter is how long a recharge stays PENDING before it moves to
	// COMPLETED or FAILED by itself. Zero means DefaultSettleAfter; a
	// negative value turns automatic settling off, so only the sandbox
	// actions settle recharges. [ours]
	SettleAfter time.Duration
	// Now is the clock. Nil means time.Now. Tests pass a fake clock to
	// expire tokens and settle recharges without sleeping.
	Now func() time.Time
	// Seed is the initial set of customers. Nil means DefaultSeed(); an
	// empty, non-nil slice starts with no customers. Entries AddCustomer
	// would refuse (bad phone or id, duplicates) are skipped, so a seed
	// given again to a store that holds it changes nothing.
	Seed []Customer
	// Store keeps the simulator's records. Nil means a memory store of its
	// own, which Close closes; a given store is the caller's to close.
	Store *sandbox.Store
	// Logger gets the store errors answered 500. Nil discards them.
	Logger *slog.Logger
}

// Sim is the 1flow simulator. It implements sandbox.Simulator and is safe
// for concurrent use.
type Sim struct {
	clientID, clientSecret string
	tokenTTL               time.Duration
	settleAfter            time.Duration
	now                    func() time.Time

	bucket   *sandbox.Bucket
	ownStore *sandbox.Store // closed by Close; nil when the caller owns the store
	logger   *slog.Logger
}

// bg is the context of the simulator's store calls, which are local and
// short (see sandbox.Tx).
var bg = context.Background()

var _ sandbox.Simulator = (*Sim)(nil)

// New returns a simulator configured by opts, seeded with opts.Seed.
func New(opts Options) *Sim {
	s := &Sim{
		clientID:     opts.ClientID,
		clientSecret: opts.ClientSecret,
		tokenTTL:     opts.TokenTTL,
		settleAfter:  opts.SettleAfter,
		now:          opts.Now,
		logger:       opts.Logger,
	}
	store := opts.Store
	if store == nil {
		store = sandbox.MemoryStore()
		s.ownStore = store
	}
	s.bucket = store.Bucket(s.Name())
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.clientID == "" {
		s.clientID = DefaultClientID
	}
	if s.clientSecret == "" {
		s.clientSecret = DefaultClientSecret
	}
	if s.tokenTTL <= 0 {
		s.tokenTTL = DefaultTokenTTL
	}
	if s.settleAfter == 0 {
		s.settleAfter = DefaultSettleAfter
	}
	if s.now == nil {
		s.now = time.Now
	}
	seed := opts.Seed
	if seed == nil {
		seed = DefaultSeed()
	}
	for _, c := range seed {
		_ = s.AddCustomer(c) // documented: invalid seed entries are skipped
	}
	return s
}

// Name is the URL segment: the simulator is mounted at <prefix>/oneflow/.
func (s *Sim) Name() string { return "oneflow" }

// Title is shown on the sandbox page.
func (s *Sim) Title() string { return "1flow water credit" }

// Routes registers the four documented endpoints.
func (s *Sim) Routes(r *sandbox.Routes) {
	r.HandleFunc("POST "+PathToken, s.handleToken)
	r.HandleFunc("POST "+PathLookup, s.authed(s.handleLookup))
	r.HandleFunc("POST "+PathRecharge, s.authed(s.handleRecharge))
	r.HandleFunc("GET "+PathRecharge+"/{id}", s.authed(s.handleVerify))
}

// Close closes the simulator's own memory store, if it made one.
func (s *Sim) Close() error {
	if s.ownStore == nil {
		return nil
	}
	return s.ownStore.Close()
}

// RechargeCalls reports how many recharge POSTs were accepted (answered
// 202), since the store was made. Rejected ones (400, 401, 404) do not
// count.
func (s *Sim) RechargeCalls() int {
	var n int64
	err := s.bucket.Update(bg, func(tx *sandbox.Tx) (err error) {
		n, err = tx.Add(counterAccepted, 0)
		return err
	})
	if err != nil {
		s.logger.Error("oneflowsim: read the call count", "err", err)
	}
	return int(n)
}

// Recharge reports the status of recharge id (PENDING, COMPLETED or FAILED),
// settling it first if it is due, as a verify call would. ok is false for an
// unknown id.
func (s *Sim) Recharge(id string) (status string, ok bool, err error) {
	err = s.bucket.Update(bg, func(tx *sandbox.Tx) error {
		if err := settleDue(tx, s.now()); err != nil {
			return err
		}
		var rc recharge
		found, err := tx.Get(kindRecharge, id, &rc)
		status, ok = rc.Status, found
		return err
	})
	return status, ok, err
}

// Balance reports the balance (litres) of a device or card, settling due
// recharges first. ok is false for an unknown id.
func (s *Sim) Balance(deviceOrCardID string) (balance decimal.Decimal, ok bool, err error) {
	err = s.bucket.Update(bg, func(tx *sandbox.Tx) error {
		if err := settleDue(tx, s.now()); err != nil {
			return err
		}
		var d device
		found, err := tx.Get(kindDevice, deviceOrCardID, &d)
		balance, ok = d.Balance, found
		return err
	})
	return balance, ok, err
}

// expiresIn is the token lifetime in whole seconds, rounded up so that a
// sub-second TTL in a test still reads as 1, never 0. [ours]
func (s *Sim) expiresIn() int64 {
	return int64(math.Ceil(s.tokenTTL.Seconds()))
}
