package pasbysim_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"portal/services/sandbox"
	"portal/services/sandbox/pasbysim"
	"portal/services/sandbox/simtest"
)

// openStore opens the store file at path; the test's cleanup closes it
// (closing twice is harmless).
func openStore(t testing.TB, path string) *sandbox.Store {
	t.Helper()
	st, err := sandbox.OpenStore(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// startOn mounts a new simulator on store st, as a restarted process
// would, sharing the clock and the webhook receiver of the test.
func startOn(t testing.TB, st *sandbox.Store, c *simtest.Clock, hooks *simtest.Receiver, opts pasbysim.Options) *env {
	t.Helper()
	opts.Store, opts.Now = st, c.Now
	e := &env{t: t, clock: c, hooks: hooks}
	e.sim = pasbysim.New(opts)
	e.harness, e.srv, e.base = simtest.Mount(t, e.sim)
	return e
}

// stop closes a simulator and its server, as the end of a process does.
func (e *env) stop() {
	e.t.Helper()
	if err := e.sim.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.srv.Close()
}

func TestRestartKeepsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sandbox.db")
	clock := simtest.NewClock(start)
	hooks := simtest.NewReceiver(t, "/webhooks/pasby/s3cret")
	hooks.SetAnswer(func(n int) int {
		if n == 1 {
			return http.StatusServiceUnavailable // the first webhook is due again after the restart
		}
		return http.StatusOK
	})
	opts := pasbysim.Options{AutoSign: time.Minute, WebhookBackoff: 2 * time.Second}

	st := openStore(t, path)
	e1 := startOn(t, st, clock, hooks, opts)
	signing := e1.createSigning("12345678901", "98765432109")
	review, _ := e1.createReview(jane, john)
	e1.sign(signing.ID, "12345678901")
	// The 503 is recorded: the retry is due after the restart.
	eventually(t, "the first attempt", func() bool { return len(e1.sim.Deliveries()) == 1 })
	tok := e1.token()
	flowID := e1.doc(signing.ID).Signees[1].FlowID
	beforePing := e1.pingDoc(signing.ID)
	beforeFlow := e1.pingFlow(flowID)
	beforeRefresh := e1.refresh(review.ID)
	e1.stop()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	e2 := startOn(t, openStore(t, path), clock, hooks, opts)

	// Found through the API exactly as before.
	if p := e2.pingDoc(signing.ID); !sameJSON(t, p, beforePing) {
		t.Fatalf("ping after the restart\n%+v\nwant\n%+v", p, beforePing)
	}
	if f := e2.pingFlow(flowID); !sameJSON(t, f, beforeFlow) {
		t.Fatalf("flow after the restart\n%+v\nwant\n%+v", f, beforeFlow)
	}
	if r := e2.refresh(review.ID); !sameJSON(t, r, beforeRefresh) {
		t.Fatalf("refresh after the restart\n%+v\nwant\n%+v", r, beforeRefresh)
	}
	// The token from before the restart still verifies.
	if st, b := e2.v1(tok, pasbysim.PathV1Ping, `{"request":"`+signing.ID+`"}`); st != http.StatusOK {
		t.Fatalf("v1 ping with the old token: %d %s", st, b)
	}
	if c := e2.sim.CreateCalls(); c.Signing != 1 || c.Review != 1 {
		t.Fatalf("counts %+v", c)
	}
	if st, _, html := e2.page(e2.base + "/contract/" + review.ID); st != http.StatusOK || !strings.Contains(html, "0 of 2 signed") {
		t.Fatalf("hosted page after the restart: %d\n%s", st, html)
	}

	// The webhook that was due is delivered by the new process, same body.
	got := hooks.WaitFor(t, 2)
	if got[1].Status != http.StatusOK || string(got[1].Body) != string(got[0].Body) {
		t.Fatalf("redelivery %d %s", got[1].Status, got[1].Body)
	}
	e2.waitHooks()
	if ds := e2.sim.Deliveries(); len(ds) != 2 || ds[0].Status != 503 || ds[0].Attempt != 1 || ds[1].Status != 200 || ds[1].Attempt != 2 {
		t.Fatalf("deliveries %+v", ds)
	}

	// The actions work on the old records.
	if msg, err := e2.run(pasbysim.ActionSign, map[string]string{"document_id": signing.ID, "nin": "98765432109"}); err != nil || !strings.Contains(msg, "completed") {
		t.Fatalf("sign action: %q %v", msg, err)
	}
	// Auto-moves that fall due happen without anyone reading: both review
	// signees sign (at 60 s and 120 s), and send their webhooks.
	clock.Advance(5 * time.Minute)
	got = hooks.WaitFor(t, 5)
	if len(got) != 5 {
		t.Fatalf("%d webhooks, want 5", len(got))
	}
	if r := e2.refresh(review.ID); !r.Handled || r.Signee[0].SignedAt != start.Unix()+60 || r.Signee[1].SignedAt != start.Unix()+120 {
		t.Fatalf("review after its AutoSign %+v", r)
	}
	if r := e2.refresh(signing.ID); !r.Handled || len(r.Signatures) != 2 {
		t.Fatalf("signing after the action %+v", r)
	}
}

// sameJSON compares two decoded answers by their JSON.
func sameJSON(t *testing.T, a, b any) bool {
	t.Helper()
	return string(mustJSON(t, a)) == string(mustJSON(t, b))
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// eventually waits up to 10 s for ok.
func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s", what)
		}
	}
}

func TestRestartDeliversAClaimCutOff(t *testing.T) {
	// A process that dies mid-post leaves its delivery claimed: the lease
	// lapses and the next process delivers it.
	path := filepath.Join(t.TempDir(), "sandbox.db")
	clock := simtest.NewClock(start)
	hooks := simtest.NewReceiver(t, "/webhooks/pasby/s3cret")
	entered, unblock := make(chan struct{}), make(chan struct{})
	var once sync.Once
	hang := &http.Client{Timeout: 200 * time.Millisecond, Transport: simtest.RoundTripFunc(func(*http.Request) (*http.Response, error) {
		once.Do(func() { close(entered) })
		<-unblock
		return nil, errors.New("the process died")
	})}

	st := openStore(t, path)
	e1 := startOn(t, st, clock, hooks, pasbysim.Options{HTTPClient: hang})
	d := e1.createSigning("12345678901")
	e1.sign(d.ID, "12345678901")
	<-entered
	// The store goes away under the post: nothing about the attempt can be
	// written any more, as when the process is killed.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	close(unblock)
	e1.stop()

	t0 := time.Now()
	e2 := startOn(t, openStore(t, path), clock, hooks, pasbysim.Options{})
	got := hooks.WaitFor(t, 1)
	if len(got) != 1 || got[0].Status != http.StatusOK || !strings.Contains(string(got[0].Body), d.ID) {
		t.Fatalf("webhooks %+v", got)
	}
	e2.waitHooks()
	if ds := e2.sim.Deliveries(); len(ds) != 1 || ds[0].Attempt != 1 || ds[0].Status != 200 {
		t.Fatalf("deliveries %+v (the cut-off attempt is not one)", ds)
	}
	// Not before the lease (200 ms + margin) lapsed: no second worker
	// posts a delivery that another may still be posting.
	if waited := time.Since(t0); waited < 500*time.Millisecond {
		t.Fatalf("redelivered after %v, before the lease lapsed", waited)
	}
	if p := e2.pingDoc(d.ID); p.Signature == "" || !p.Handled {
		t.Fatalf("ping %+v", p)
	}
}

func TestCloseReleasesAClaim(t *testing.T) {
	// Close during a post gives the delivery back at once (no attempt
	// counted), and a store from Options stays open for the next one.
	path := filepath.Join(t.TempDir(), "sandbox.db")
	clock := simtest.NewClock(start)
	hooks := simtest.NewReceiver(t, "/webhooks/pasby/s3cret")
	entered := make(chan struct{})
	var once sync.Once
	hang := &http.Client{Timeout: time.Minute, Transport: simtest.RoundTripFunc(func(r *http.Request) (*http.Response, error) {
		once.Do(func() { close(entered) })
		<-r.Context().Done()
		return nil, r.Context().Err()
	})}
	st := openStore(t, path)
	e1 := startOn(t, st, clock, hooks, pasbysim.Options{HTTPClient: hang})
	d := e1.createSigning("12345678901")
	e1.sign(d.ID, "12345678901")
	<-entered
	simtest.Within(t, 5*time.Second, "Close", e1.stop)

	// The same store, a new simulator: delivered at once, not after the
	// minute-long lease.
	e2 := startOn(t, st, clock, hooks, pasbysim.Options{})
	simtest.Within(t, 5*time.Second, "redelivery", func() { hooks.WaitFor(t, 1) })
	e2.waitHooks()
	if ds := e2.sim.Deliveries(); len(ds) != 1 || ds[0].Attempt != 1 {
		t.Fatalf("deliveries %+v", ds)
	}
}

func TestStoreErrorsAnswer500(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "sandbox.db"))
	e := startOn(t, st, simtest.NewClock(start), simtest.NewReceiver(t, "/hook"), pasbysim.Options{})
	d := e.createSigning("12345678901")
	tok := e.token()
	_ = st.Close()
	for _, c := range []struct{ path, body string }{
		{pasbysim.PathV2Signing, e.signingBody("r", "12345678901")},
		{pasbysim.PathV2Ping, `{"request":"` + d.ID + `"}`},
		{pasbysim.PathV2Refresh, `{"flow":"` + d.ID + `"}`},
		{pasbysim.PathV2Cancel, `{"request":"` + d.ID + `"}`},
	} {
		st, b := e.v2(c.path, c.body)
		wantError(t, st, b, http.StatusInternalServerError, "failed", "internal_error", "sandbox")
	}
	st2, b := e.v1(tok, pasbysim.PathV1Polling, `{"request":"`+d.ID+`"}`)
	wantError(t, st2, b, http.StatusInternalServerError, "failed", "internal_error", "sandbox")
	if st, _, _ := e.page(e.base + "/contract/" + d.ID); st != http.StatusInternalServerError {
		t.Fatalf("hosted page: %d", st)
	}
	if err := e.sim.Sign(d.ID, "12345678901"); err == nil || errors.Is(err, pasbysim.ErrUnknownDocument) || !strings.HasPrefix(err.Error(), "pasbysim: sign: ") {
		t.Fatalf("Sign on a closed store: %v", err)
	}
	if _, err := e.run(pasbysim.ActionCancel, map[string]string{"document_id": d.ID}); err == nil {
		t.Fatal("cancel action on a closed store")
	} else if ve := (*sandbox.ValidationError)(nil); errors.As(err, &ve) {
		t.Fatalf("a store failure reported as a form error: %v", err)
	}
}

// BenchmarkNewWithManyRecords measures a start on a store that holds
// 100,000 documents (and their 200,000 flow requests): New and the first
// page. Start-up reads nothing, so it costs what BenchmarkNewEmpty does.
func BenchmarkNewWithManyRecords(b *testing.B) { benchmarkNew(b, 100_000) }

// BenchmarkNewEmpty is the same start on a store with one document.
func BenchmarkNewEmpty(b *testing.B) { benchmarkNew(b, 1) }

func benchmarkNew(b *testing.B, records int) {
	ctx := context.Background()
	st := openStore(b, filepath.Join(b.TempDir(), "sandbox.db"))
	t0 := time.Now()
	id, err := pasbysim.SeedReviewDocuments(ctx, st, records, start)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d documents in %v", records, time.Since(t0).Round(time.Millisecond))
	b.ReportAllocs()
	for b.Loop() {
		sim := pasbysim.New(pasbysim.Options{Store: st, Now: func() time.Time { return start }})
		h := sandbox.New("/sandbox")
		if err := h.Register(sim); err != nil {
			b.Fatal(err)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/sandbox/pasby/contract/"+id, nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("page: %d %s", rec.Code, rec.Body)
		}
		if err := sim.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
