package pawapasssim_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"portal/services/sandbox"
	"portal/services/sandbox/pawapasssim"
	"portal/services/sandbox/simtest"
)

// The simulator's state lives in the sandbox store, so a simulator built
// on the store another one used carries on where that one stopped.

const restartPublicURL = "https://portal.example/sandbox/pawapass"

// openStore opens the store file at path; the test's cleanup closes it
// (again: closing twice is harmless).
func openStore(t *testing.T, path string) *sandbox.Store {
	t.Helper()
	st, err := sandbox.OpenStore(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// mountOn is setup for a simulator on store st with the given clock and
// receiver, so that two simulators in a row share them.
func mountOn(t *testing.T, st *sandbox.Store, clock *simtest.Clock, hooks *simtest.Receiver, opts pawapasssim.Options) *env {
	t.Helper()
	opts.Store, opts.Now, opts.WebhookURL, opts.WebhookSecret, opts.PublicURL = st, clock.Now, hooks.URL(), testSecret, restartPublicURL
	e := &env{t: t, clock: clock, hooks: hooks, sim: pawapasssim.New(opts)}
	e.harness, e.srv, e.base = simtest.Mount(t, e.sim)
	return e
}

// restart closes e's simulator and store and builds a new simulator on
// the reopened store file.
func restart(t *testing.T, e *env, st *sandbox.Store, opts pawapasssim.Options) (*env, *sandbox.Store) {
	t.Helper()
	if err := e.sim.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = openStore(t, st.Path())
	return mountOn(t, st, e.clock, e.hooks, opts), st
}

// waitAttempts waits until the simulator has recorded n attempts of its
// first delivery.
func waitAttempts(t *testing.T, sim *pawapasssim.Sim, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ds := sim.Deliveries(); len(ds) > 0 && len(ds[0].Attempts) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %d attempts recorded: %+v", n, sim.Deliveries())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRestartCarriesOn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sandbox.db")
	st := openStore(t, path)
	hooks := simtest.NewReceiver(t, "/webhooks/pawapass/s3cret")
	hooks.SetAnswer(func(n int) int {
		if n == 1 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	// The retry after the 503 is due 0.75–1.25 s later: after the restart.
	opts := pawapasssim.Options{AutoAdvance: time.Hour, Tick: time.Hour, WebhookBackoff: time.Second}
	e := mountOn(t, st, simtest.NewClock(start), hooks, opts)

	a := e.create(set("externalId", "user-a"))
	b := e.create(set("externalId", "user-b"))
	e.clock.Advance(time.Minute)
	e.must(e.sim.Start(a.ID))
	hooks.WaitFor(t, 1)
	waitAttempts(t, e.sim, 1)
	beforeA, beforeB := mustGet(t, e, a.ID), mustGet(t, e, b.ID)

	e, st = restart(t, e, st, opts)

	// Found exactly as before, by id and in the list.
	if got := mustGet(t, e, a.ID); string(got) != string(beforeA) {
		t.Fatalf("after the restart\n%s\nwant\n%s", got, beforeA)
	}
	if got := mustGet(t, e, b.ID); string(got) != string(beforeB) {
		t.Fatalf("after the restart\n%s\nwant\n%s", got, beforeB)
	}
	if l := e.list(""); l.Count != 2 || ids(l.Items)[0] != b.ID || ids(l.Items)[1] != a.ID {
		t.Fatalf("list %+v", l)
	}
	if l := e.list("?statuses=STARTED"); l.Count != 1 || l.Items[0].ID != a.ID {
		t.Fatalf("list of STARTED %+v", l)
	}
	if n := e.sim.CreateCalls(); n != 2 {
		t.Fatalf("CreateCalls %d, want 2", n)
	}

	// The webhook the receiver refused is posted again, the same bytes.
	e.waitHooks()
	got := hooks.Got()
	if len(got) != 2 || string(got[1].Body) != string(got[0].Body) || got[1].Header.Get("X-Signature") != got[0].Header.Get("X-Signature") ||
		got[1].Header.Get("X-Signature") != sign(got[1].Body, testSecret) {
		t.Fatalf("%d webhooks after the restart", len(got))
	}
	ds := e.sim.Deliveries()
	if len(ds) != 1 || !ds[0].Delivered || !ds[0].Done || len(ds[0].Attempts) != 2 ||
		ds[0].Attempts[0].Status != http.StatusServiceUnavailable || ds[0].Attempts[1].Status != http.StatusOK {
		t.Fatalf("deliveries %+v", ds)
	}

	// The lifecycle goes on: AutoAdvance steps that came due while nobody
	// looked happen at their due time, and the actions work.
	e.clock.Advance(time.Hour)
	if got := e.get(b.ID); got.Status != "STARTED" || got.UpdatedAt != "2025-08-20T10:00:00.000Z" {
		t.Fatalf("b after its due step: %s at %s", got.Status, got.UpdatedAt)
	}
	if got := e.get(a.ID); got.Status != "USER_DATA_COLLECTED" || got.IdentityDocument == nil || got.FaceScan == nil {
		t.Fatalf("a after its due step: %+v", got)
	}
	e.must(e.sim.Approve(a.ID))
	if got := e.get(a.ID); got.Status != "APPROVED" {
		t.Fatalf("a after Approve: %s", got.Status)
	}
	if st, _, page := e.page(e.base + "/app/portal-sandbox/" + a.ID); st != http.StatusOK || !strings.Contains(page, "Approved") {
		t.Fatalf("hosted page %d %s", st, page)
	}
	// ResendWebhook finds the last webhook sent before the restart's
	// moves: APPROVED, sent just now.
	e.waitHooks()
	e.must(e.sim.ResendWebhook(a.ID))
	e.waitHooks()
	var approved []string
	for _, h := range hooks.Got() {
		if p := payloadOf(t, h.Body); p.Data.ID == a.ID && p.Data.Status == "APPROVED" {
			approved = append(approved, string(h.Body))
		}
	}
	if len(approved) != 2 || approved[0] != approved[1] {
		t.Fatalf("APPROVED webhooks of a %q, want the same twice", approved)
	}
}

func TestRestartMidPost(t *testing.T) {
	// The process stops while a webhook is being posted: the post is not
	// an attempt, and the next simulator posts it.
	path := filepath.Join(t.TempDir(), "sandbox.db")
	st := openStore(t, path)
	hooks := simtest.NewReceiver(t, "/webhooks/pawapass/s3cret")
	posting := make(chan struct{}, 1)
	hanging := &http.Client{Transport: simtest.RoundTripFunc(func(r *http.Request) (*http.Response, error) {
		posting <- struct{}{}
		<-r.Context().Done()
		return nil, r.Context().Err()
	})}
	e := mountOn(t, st, simtest.NewClock(start), hooks, pawapasssim.Options{HTTPClient: hanging})
	v := e.create()
	e.must(e.sim.Start(v.ID))
	<-posting
	simtest.Within(t, 10*time.Second, "Close", func() { _ = e.sim.Close() })
	if ds := e.sim.Deliveries(); len(ds) != 1 || len(ds[0].Attempts) != 0 || ds[0].Done {
		t.Fatalf("after Close %+v", ds)
	}

	e, _ = restart(t, e, st, pawapasssim.Options{})
	got := hooks.WaitFor(t, 1)
	if p := payloadOf(t, got[0].Body); p.Data.ID != v.ID || p.Data.Status != "STARTED" {
		t.Fatalf("webhook %s", got[0].Body)
	}
	e.waitHooks()
	if ds := e.sim.Deliveries(); len(ds) != 1 || len(ds[0].Attempts) != 1 || !ds[0].Delivered {
		t.Fatalf("deliveries %+v", ds)
	}
	if n := len(hooks.Got()); n != 1 {
		t.Fatalf("%d posts, want 1", n)
	}
}

func TestOwnStoreClosedByClose(t *testing.T) {
	// Without Options.Store the simulator makes a memory store and closes
	// it in Close: afterwards requests fail as a store failure does.
	e := setup(t, pawapasssim.Options{})
	v := e.create()
	e.must(e.sim.Close())
	st, b := e.api(http.MethodGet, "/v2/verifications/"+v.ID, "")
	wantError(t, st, b, http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "The verification store is unavailable")
	st, b = e.api(http.MethodPost, "/v2/verifications/", body())
	wantError(t, st, b, http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "The verification store is unavailable")
	err := e.sim.Start(v.ID)
	if err == nil || errors.Is(err, pawapasssim.ErrNotFound) {
		t.Fatalf("Start on a closed store: %v", err)
	}
	_, err = e.run("advance", map[string]string{"id": v.ID})
	var ve *sandbox.ValidationError
	if err == nil || errors.As(err, &ve) {
		t.Fatalf("action on a closed store: %v, want a store error, not a form error", err)
	}
	if st, _, page := e.page(v.URL); st != http.StatusInternalServerError || !strings.Contains(page, "Something went wrong") {
		t.Fatalf("hosted page %d", st)
	}
}
