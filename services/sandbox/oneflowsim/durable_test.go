package oneflowsim_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"portal/services/sandbox"
	"portal/services/sandbox/oneflowsim"
	"portal/services/sandbox/simtest"
)

// A restart forgets nothing: a token issued before it still works, a
// recharge accepted before it is found after it and settles by itself when
// it is due, and balances keep what settled.
func TestStateSurvivesARestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sandbox.db")
	clock := simtest.NewClock(start)
	store, err := sandbox.OpenStore(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	e := setup(t, oneflowsim.Options{Store: store, Now: clock.Now})
	tok := e.token()
	pending := e.rechargeNow(tok, `{"deviceId":"`+oneflowsim.SeedDeviceID+`","amount":100}`)
	settled := e.rechargeNow(tok, `{"cardId":"`+oneflowsim.SeedCardID+`","amount":10}`)
	if _, err := e.harness.Run(ctx, "oneflow", oneflowsim.ActionComplete, map[string]string{oneflowsim.FieldRechargeID: settled.ID}); err != nil {
		t.Fatal(err)
	}
	cardBalance := e.balanceOf(tok, oneflowsim.SeedCardID)
	e.srv.Close()
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	store, err = sandbox.OpenStore(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	after := setup(t, oneflowsim.Options{Store: store, Now: clock.Now})
	if got := after.verify(tok, pending.ID); got.Status != oneflowsim.StatusPending {
		t.Fatalf("after the restart the recharge is %s, want PENDING", got.Status)
	}
	if got := after.verify(tok, settled.ID); got.Status != oneflowsim.StatusCompleted {
		t.Fatalf("the settled recharge is %s after the restart", got.Status)
	}
	if got := after.balanceOf(tok, oneflowsim.SeedCardID); got != cardBalance {
		t.Fatalf("card balance %s after the restart, was %s", got, cardBalance)
	}
	if n := after.sim.RechargeCalls(); n != 2 {
		t.Fatalf("RechargeCalls = %d after the restart, want 2", n)
	}
	clock.Advance(oneflowsim.DefaultSettleAfter)
	got := after.verify(tok, pending.ID)
	if got.Status != oneflowsim.StatusCompleted || got.Balance.String() != "150231.9" {
		t.Fatalf("the recharge made before the restart settled as %s with balance %s, want COMPLETED 150231.9", got.Status, got.Balance)
	}
	// The seed is not applied twice: the balance is the settled one.
	if got := after.balanceOf(tok, oneflowsim.SeedDeviceID); got != "150231.9" {
		t.Fatalf("device balance %s, want 150231.9", got)
	}
}

// New reads nothing from the store, so a store holding many recharges
// starts as fast, and in as little memory, as one holding few: compare the
// two sizes' ns/op and B/op. Run with
// go test -run '^$' -bench NewWithManyRecords -benchmem ./services/sandbox/oneflowsim/
func BenchmarkNewWithManyRecords(b *testing.B) {
	for _, records := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("records=%d", records), func(b *testing.B) { benchmarkNewWith(b, records) })
	}
}

func benchmarkNewWith(b *testing.B, records int) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "sandbox.db")
	store, err := sandbox.OpenStore(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	sim := oneflowsim.New(oneflowsim.Options{Store: store, SettleAfter: -1})
	e := setupWith(b, sim)
	tok := e.token()
	ids := seedRecharges(b, store, records)
	e.srv.Close()
	if err := store.Close(); err != nil {
		b.Fatal(err)
	}

	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		store, err := sandbox.OpenStore(ctx, path)
		if err != nil {
			b.Fatal(err)
		}
		sim := oneflowsim.New(oneflowsim.Options{Store: store, SettleAfter: -1})
		h := sandbox.New("/sandbox")
		if err := h.Register(sim); err != nil {
			b.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodGet, "/sandbox/oneflow"+oneflowsim.PathRecharge+"/"+ids[i%len(ids)], nil)
		req.Header.Set("Authorization", bearer(tok))
		rec := &statusRecorder{header: http.Header{}}
		h.ServeHTTP(rec, req)
		if rec.status != http.StatusOK {
			b.Fatalf("first GET after start: status %d", rec.status)
		}
		if err := store.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// seedRecharges writes n recharge records straight into the store in the
// simulator's own record format (JSON by kind "recharge"), far faster
// than n POSTs.
func seedRecharges(b *testing.B, store *sandbox.Store, n int) []string {
	b.Helper()
	type rechargeRecord struct {
		ID        string          `json:"id"`
		Device    string          `json:"device"`
		Amount    decimal.Decimal `json:"amount"`
		Status    string          `json:"status"`
		CreatedAt time.Time       `json:"createdAt"`
		SettledAt time.Time       `json:"settledAt"`
		Litres    decimal.Decimal `json:"litres"`
		Balance   decimal.Decimal `json:"balance"`
	}
	ids := make([]string, 0, n)
	bucket := store.Bucket("oneflow")
	for done := 0; done < n; {
		err := bucket.Update(context.Background(), func(tx *sandbox.Tx) error {
			for i := 0; i < 10_000 && done < n; i, done = i+1, done+1 {
				id := fmt.Sprintf("00000000-0000-4000-8000-%012d", done)
				rc := rechargeRecord{ID: id, Device: oneflowsim.SeedDeviceID, Amount: decimal.NewFromInt(10), Status: oneflowsim.StatusCompleted,
					CreatedAt: start, SettledAt: start, Litres: decimal.NewFromInt(20), Balance: decimal.NewFromInt(20)}
				if err := tx.Put("recharge", id, rc, time.Time{}); err != nil {
					return err
				}
				ids = append(ids, id)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return ids
}

type statusRecorder struct {
	header http.Header
	status int
}

func (r *statusRecorder) Header() http.Header { return r.header }
func (r *statusRecorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return len(p), nil
}
func (r *statusRecorder) WriteHeader(code int) { r.status = code }
