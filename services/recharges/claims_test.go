package recharges

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"portal/internal/dbtest"
	"portal/models"
	"portal/services"
	"portal/services/oneflow"
)

// heldUpstream is a 1flow whose recharge and get calls wait until released,
// so a test can act while a call is in flight.
type heldUpstream struct {
	recharges, gets atomic.Int32
	inFlight        chan struct{} // receives once per call that started
	release         chan struct{} // closed to let the calls answer
	mu              sync.Mutex
	deadline        time.Time // of the last recharge call's context
}

func newHeldUpstream() *heldUpstream {
	return &heldUpstream{inFlight: make(chan struct{}, 16), release: make(chan struct{})}
}

func (u *heldUpstream) Lookup(context.Context, oneflow.LookupQuery) (oneflow.Customer, error) {
	return oneflow.Customer{}, errors.New("no lookups here")
}

func (u *heldUpstream) Recharge(ctx context.Context, r oneflow.RechargeRequest) (oneflow.Recharge, error) {
	u.recharges.Add(1)
	u.mu.Lock()
	u.deadline, _ = ctx.Deadline()
	u.mu.Unlock()
	u.inFlight <- struct{}{}
	<-u.release
	return oneflow.Recharge{ID: "rch_late", Status: "PENDING", Amount: r.Amount, Raw: []byte(`{}`)}, nil
}

func (u *heldUpstream) GetRecharge(ctx context.Context, id string) (oneflow.Recharge, error) {
	if u.gets.Add(1) > 1 {
		// A second check while the first is held: answer at once so the
		// test fails on the count instead of hanging.
		return oneflow.Recharge{ID: id, Status: "PENDING", Raw: []byte(`{}`)}, nil
	}
	u.inFlight <- struct{}{}
	<-u.release
	return oneflow.Recharge{ID: id, Status: "PENDING", Raw: []byte(`{}`)}, nil
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var operator = services.Actor{Email: "op@example.com", Role: models.RoleOperator}

// A replica's recovery never takes a recharge another replica is still
// sending; once that claim lapses it does, and the answer that then comes
// late is still written, with 1flow's id, instead of being lost.
func TestRecoveryLeavesLiveClaimsAndLateAnswersLand(t *testing.T) {
	db := dbtest.Open(t)
	clock := &fakeClock{t: time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)}
	up := newHeldUpstream()
	const lease = time.Minute
	sender := New(db, up, clock.Now, Options{Lease: lease})
	other := New(db, up, clock.Now, Options{Lease: lease}) // the second replica

	type result struct {
		rec models.Recharge
		err error
	}
	done := make(chan result, 1)
	go func() {
		rec, _, err := sender.Create(context.Background(), operator, Input{DeviceID: "68753500140920", Amount: "100", IdempotencyKey: NewIdempotencyKey()})
		done <- result{rec, err}
	}()
	<-up.inFlight

	var rec models.Recharge
	if err := db.Take(&rec).Error; err != nil {
		t.Fatal(err)
	}
	if rec.State != models.RechargeSubmitting || rec.ClaimedBy == "" || rec.LeaseUntil == nil || !rec.LeaseUntil.Equal(clock.Now().Add(lease)) {
		t.Fatalf("in flight: state %s claimed by %q until %v", rec.State, rec.ClaimedBy, rec.LeaseUntil)
	}
	up.mu.Lock()
	deadline := up.deadline
	up.mu.Unlock()
	if deadline.IsZero() || !deadline.Before(time.Now().Add(lease)) {
		t.Errorf("the call may run until %v, past its claim's lease of %v", deadline, lease)
	}

	clock.Advance(lease - time.Second)
	if n, err := other.RecoverLapsed(context.Background()); err != nil || n != 0 {
		t.Fatalf("recovery during a live claim: %d, %v", n, err)
	}
	if got, _ := other.Get(context.Background(), rec.ID); got.State != models.RechargeSubmitting {
		t.Fatalf("a live claim was taken: %s", got.State)
	}

	clock.Advance(2 * time.Second)
	if n, err := other.RecoverLapsed(context.Background()); err != nil || n != 1 {
		t.Fatalf("recovery after the lease: %d, %v", n, err)
	}
	if got, _ := other.Get(context.Background(), rec.ID); got.State != models.RechargeUnknown {
		t.Fatalf("after the lease ran out: %s, want unknown", got.State)
	}

	close(up.release)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.rec.State != models.RechargeSubmitted || r.rec.UpstreamID == nil || *r.rec.UpstreamID != "rch_late" {
		t.Fatalf("the late answer: state %s, 1flow id %v", r.rec.State, r.rec.UpstreamID)
	}
	var events []models.RechargeEvent
	if err := db.Where("recharge_id = ?", rec.ID).Order("id").Find(&events).Error; err != nil {
		t.Fatal(err)
	}
	last := events[len(events)-1]
	if last.FromState != models.RechargeUnknown || !strings.Contains(last.Note, "lapsed") {
		t.Errorf("last event %+v", last)
	}
	if n := up.recharges.Load(); n != 1 {
		t.Errorf("1flow got %d recharge calls", n)
	}
}

// Two replicas' reconcilers: a due recharge one of them is checking is not
// due for the other.
func TestReconcilersCheckADueRechargeOnce(t *testing.T) {
	db := dbtest.Open(t)
	clock := &fakeClock{t: time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)}
	up := newHeldUpstream()
	a := New(db, up, clock.Now, Options{})
	b := New(db, up, clock.Now, Options{})
	now := clock.Now()
	id := "rch_1"
	rec := models.Recharge{IdempotencyKey: NewIdempotencyKey(), DeviceID: "68753500140920", Amount: decimal.NewFromInt(5),
		State: models.RechargeSubmitted, UpstreamID: &id, NextCheckAt: new(now.Add(-time.Second)), CreatedAt: now, UpdatedAt: now}
	if err := db.Create(&rec).Error; err != nil {
		t.Fatal(err)
	}
	checked := make(chan int, 1)
	go func() {
		n, err := a.ReconcileOnce(context.Background())
		if err != nil {
			t.Error(err)
		}
		checked <- n
	}()
	<-up.inFlight
	if n, err := b.ReconcileOnce(context.Background()); err != nil || n != 0 {
		t.Errorf("the second replica checked %d (%v) while the first was checking", n, err)
	}
	close(up.release)
	if n := <-checked; n != 1 {
		t.Errorf("the first replica checked %d", n)
	}
	if n := up.gets.Load(); n != 1 {
		t.Errorf("1flow was asked %d times", n)
	}
	got, _ := a.Get(context.Background(), rec.ID)
	if got.NextCheckAt == nil || !got.NextCheckAt.After(now) || got.CheckAttempts != 1 {
		t.Errorf("after the check: next %v, attempts %d", got.NextCheckAt, got.CheckAttempts)
	}
}
