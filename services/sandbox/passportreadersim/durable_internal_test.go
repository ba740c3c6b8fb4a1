package passportreadersim

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"portal/services/sandbox"
)

var testStart = time.Date(2026, 5, 4, 9, 1, 41, 0, time.UTC)

// seedSession writes a CREATED session and its token as create would.
func seedSession(tx *sandbox.Tx, id int64) error {
	rec := &sessionRecord{
		ID: id, Token: "tok-" + key(id), Created: testStart, Expires: testStart.Add(100 * 365 * 24 * time.Hour),
		State: StateInitiated, ChangedAt: testStart, Reference: "seeded", CallbackURL: "http://unused.invalid/cb",
		Changes: []Change{{StateCreated, testStart}, {StateInitiated, testStart}},
	}
	if err := tx.Put(kindToken, rec.Token, tokenRecord{id}, time.Time{}); err != nil {
		return err
	}
	return tx.Put(kindSession, key(id), rec, rec.Expires)
}

// A process killed mid-post leaves its claim in the store, due at the end
// of the lease; once that has passed, the next simulator delivers it.
func TestLapsedClaimIsDelivered(t *testing.T) {
	got := make(chan string, 4)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- string(b)
	}))
	t.Cleanup(rcv.Close)
	ctx := context.Background()
	store, err := sandbox.OpenStore(ctx, filepath.Join(t.TempDir(), "sandbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	body := `{"session_id":7,"session_state":"INITIATED","session_reference":"seeded"}`
	err = store.Bucket("passportreader").Update(ctx, func(tx *sandbox.Tx) error {
		if err := seedSession(tx, 7); err != nil {
			return err
		}
		c := sandbox.OutboxMessage[callbackMeta]{ID: "1", Key: key(7), Target: rcv.URL + "/cb", Body: []byte(body),
			Meta: callbackMeta{SessionID: 7, State: StateInitiated, Host: rcv.URL}, State: sandbox.OutboxPending, Claim: 1}
		return tx.Put(sandbox.OutboxKind, c.ID, c, time.Now().Add(-time.Second)) // the lease lapsed a second ago
	})
	if err != nil {
		t.Fatal(err)
	}
	sim := New(Options{Store: store, Now: func() time.Time { return testStart }})
	t.Cleanup(func() { _ = sim.Close() })
	select {
	case b := <-got:
		if b != body {
			t.Fatalf("posted %s, want %s", b, body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the lapsed claim was never delivered")
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sim.WaitCallbacks(wctx); err != nil {
		t.Fatal(err)
	}
	if ds := sim.Deliveries(); len(ds) != 1 || ds[0].SessionID != 7 || ds[0].Attempt != 1 || ds[0].Status != http.StatusOK {
		t.Fatalf("deliveries %+v", ds)
	}
	// Delivered once: the callback is finished, nothing is due.
	s, ok := sim.Session(7)
	if !ok || s.State != StateInitiated {
		t.Fatalf("session %+v", s)
	}
	err = store.Bucket("passportreader").Update(ctx, func(tx *sandbox.Tx) error {
		var c sandbox.OutboxMessage[callbackMeta]
		if _, err := tx.Get(sandbox.OutboxKind, "1", &c); err != nil {
			return err
		}
		if c.State != sandbox.OutboxDelivered || len(c.Tries) != 1 {
			return fmt.Errorf("callback %+v after delivery", c)
		}
		if _, due, err := tx.NextDue(sandbox.OutboxKind); err != nil || due {
			return fmt.Errorf("a callback is still due (%v)", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// While a callback is being posted its due is the end of a lease longer
// than the post may take, so no one claims it again meanwhile.
func TestClaimHoldsALease(t *testing.T) {
	posted := make(chan struct{})
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body) // the server notices a hang-up only once the body is read
		close(posted)
		<-r.Context().Done()
	}))
	t.Cleanup(rcv.Close)
	store := sandbox.MemoryStore()
	t.Cleanup(func() { _ = store.Close() })
	client := &http.Client{Timeout: 3 * time.Second}
	sim := New(Options{Store: store, HTTPClient: client, Now: func() time.Time { return testStart }})
	t.Cleanup(func() { _ = sim.Close() })
	ctx := context.Background()
	var id int64
	err := sim.update(ctx, func(o *op) error {
		rec, err := sim.create(o, newSessionInput{callbackURL: rcv.URL + "/cb"})
		if err != nil {
			return err
		}
		id = rec.ID
		sim.initiate(rec, o.now, sandboxIP, sandboxUserAgent)
		return sim.put(o, rec)
	})
	if err != nil {
		t.Fatal(err)
	}
	claimedBy := time.Now()
	select {
	case <-posted:
	case <-time.After(10 * time.Second):
		t.Fatal("never posted")
	}
	err = sim.bucket.Update(ctx, func(tx *sandbox.Tx) error {
		at, ok, err := tx.NextDue(sandbox.OutboxKind)
		if err != nil || !ok {
			return fmt.Errorf("no due callback while posting (%v)", err)
		}
		if lease := at.Sub(claimedBy); lease < client.Timeout || lease > client.Timeout+leaseMargin+time.Second {
			return fmt.Errorf("lease of %v, want the client's %v plus a margin", lease, client.Timeout)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Closing mid-post releases the claim for the next simulator: due now.
	if err := sim.Close(); err != nil {
		t.Fatal(err)
	}
	err = sim.bucket.Update(ctx, func(tx *sandbox.Tx) error {
		at, ok, err := tx.NextDue(sandbox.OutboxKind)
		if err != nil || !ok || time.Until(at) > 0 {
			return fmt.Errorf("after Close the callback is due at %v (%v, %v), want now", at, ok, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if ds := sim.Deliveries(); len(ds) != 0 {
		t.Fatalf("an attempt cut short by Close was recorded: %+v (session %d)", ds, id)
	}
}

// New reads nothing from the store, so a store holding 100,000 sessions
// starts as fast, and in as little memory, as one holding 1,000: compare
// the two sizes' ns/op and B/op. Run with
// go test -run '^$' -bench NewWithManyRecords -benchmem ./services/sandbox/passportreadersim/
func BenchmarkNewWithManyRecords(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) { benchmarkNewWith(b, n) })
	}
}

func benchmarkNewWith(b *testing.B, n int) {
	ctx := context.Background()
	store, err := sandbox.OpenStore(ctx, filepath.Join(b.TempDir(), "sandbox.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = store.Close() })
	seedStart := time.Now()
	bucket := store.Bucket("passportreader")
	const batch = 10_000
	for done := 0; done < n; done += batch {
		err := bucket.Update(ctx, func(tx *sandbox.Tx) error {
			for i := done; i < min(done+batch, n); i++ {
				if err := seedSession(tx, int64(i+1)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("seeded %d sessions in %v", n, time.Since(seedStart))

	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		sim := New(Options{Store: store, Now: func() time.Time { return testStart }})
		h := sandbox.New("/sandbox")
		if err := h.Register(sim); err != nil {
			b.Fatal(err)
		}
		id := int64(i%n + 1)
		i++
		req := httptest.NewRequest(http.MethodPost, "/sandbox/passportreader"+PathGet, strings.NewReader(`{"id":`+strconv.FormatInt(id, 10)+`}`))
		req.SetBasicAuth(DefaultPublicKey, DefaultSecret)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("first session.get after New: %d %s", rec.Code, rec.Body)
		}
		if err := sim.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
