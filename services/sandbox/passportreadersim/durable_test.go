package passportreadersim_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"portal/services/sandbox"
	"portal/services/sandbox/passportreadersim"
	"portal/services/sandbox/simtest"
)

// gateReceiver is a callback receiver that, until opened, answers 503 to
// every callback and holds the ones whose body contains hold until their
// sender gives up: a receiver that is down, and one that never answers.
type gateReceiver struct {
	srv  *httptest.Server
	hold string

	mu     sync.Mutex
	open   bool
	hits   []simtest.Hit
	more   chan struct{}
	holdUp chan struct{} // closed when a held request arrives
}

func newGateReceiver(t *testing.T) *gateReceiver {
	g := &gateReceiver{more: make(chan struct{}), holdUp: make(chan struct{})}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		g.mu.Lock()
		open, hold := g.open, g.hold
		g.mu.Unlock()
		if !open && hold != "" && bytes.Contains(b, []byte(hold)) {
			g.mu.Lock()
			select {
			case <-g.holdUp:
			default:
				close(g.holdUp)
			}
			g.mu.Unlock()
			<-r.Context().Done() // the sender hangs up: nothing is recorded
			return
		}
		status := http.StatusOK
		if !open {
			status = http.StatusServiceUnavailable
		}
		g.mu.Lock()
		g.hits = append(g.hits, simtest.Hit{Body: b, Status: status, At: time.Now()})
		close(g.more)
		g.more = make(chan struct{})
		g.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *gateReceiver) url() string { return g.srv.URL + "/callbacks/passportreader/s3cret" }

// holdBodies makes the receiver hold the callbacks whose body contains sub.
func (g *gateReceiver) holdBodies(sub string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.hold = sub
}

func (g *gateReceiver) openUp() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = true
}

func (g *gateReceiver) got() []simtest.Hit {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]simtest.Hit(nil), g.hits...)
}

// waitFor waits until a hit satisfies ok.
func (g *gateReceiver) waitFor(t *testing.T, what string, ok func(simtest.Hit) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		g.mu.Lock()
		more := g.more
		for _, h := range g.hits {
			if ok(h) {
				g.mu.Unlock()
				return
			}
		}
		g.mu.Unlock()
		select {
		case <-more:
		case <-deadline:
			t.Fatalf("no %s; got %d callbacks", what, len(g.got()))
		}
	}
}

func callbackOf(id int64, state, ref string) string {
	return `{"session_id":` + strconv.FormatInt(id, 10) + `,"session_state":"` + state + `","session_reference":"` + ref + `"}`
}

// mountOn builds a simulator on store and mounts it as setup does.
func mountOn(t *testing.T, store *sandbox.Store, clock *simtest.Clock) *env {
	t.Helper()
	e := &env{t: t, clock: clock}
	e.sim = passportreadersim.New(passportreadersim.Options{
		Store: store, Now: clock.Now, AutoAdvance: time.Minute, CallbackBackoff: 300 * time.Millisecond,
	})
	e.harness, e.srv, e.base = simtest.Mount(t, e.sim)
	return e
}

// A restart forgets nothing: sessions, tokens and the create count are
// found as they were, callbacks that were due (one refused with a 503, one
// cut off mid-post) are delivered by the new simulator, the moves that
// fell due happen, and the actions work.
func TestStateSurvivesARestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sandbox.db")
	clock := simtest.NewClock(start)
	store, err := sandbox.OpenStore(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	hooks := newGateReceiver(t)
	before := mountOn(t, store, clock)
	withCallback := `{"callback_url":"` + hooks.url() + `","reference":"%s","face_verification":true}`
	refused := before.create(strings.Replace(withCallback, "%s", "refused", 1))
	cutOff := before.create(strings.Replace(withCallback, "%s", "cut-off", 1))
	scanned := before.create(`{"reference":"scanned","face_verification":true}`)
	hooks.holdBodies(`"session_reference":"cut-off"`)
	before.must(before.sim.Initiate(refused.ID))
	before.must(before.sim.Initiate(cutOff.ID))
	before.must(before.sim.Initiate(scanned.ID))
	before.must(before.sim.Complete(scanned.ID))
	hooks.waitFor(t, "503 for the first callback", func(h simtest.Hit) bool {
		return string(h.Body) == callbackOf(refused.ID, "INITIATED", "refused")
	})
	select {
	case <-hooks.holdUp:
	case <-time.After(10 * time.Second):
		t.Fatal("the second callback was never posted")
	}
	_, scannedBefore := before.call(passportreadersim.PathGet, idBody(scanned.ID))
	if st, _, _ := before.page(before.openURL(scanned.Token, "")); st != http.StatusOK {
		t.Fatalf("/open before the restart: %d", st)
	}
	// Stopped while one callback waits for its retry and another is being
	// posted.
	if err := before.sim.Close(); err != nil {
		t.Fatal(err)
	}
	before.srv.Close()
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	hooks.openUp()
	store, err = sandbox.OpenStore(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	after := mountOn(t, store, clock)

	// Found exactly as before, by id and by token.
	if st, b := after.call(passportreadersim.PathGet, idBody(scanned.ID)); st != http.StatusOK || !bytes.Equal(b, scannedBefore) {
		t.Fatalf("session.get after the restart: %d %s\nbefore: %s", st, b, scannedBefore)
	}
	if st, _, html := after.page(after.openURL(scanned.Token, "")); st != http.StatusOK || !strings.Contains(html, strconv.FormatInt(scanned.ID, 10)) {
		t.Fatalf("/open after the restart: %d", st)
	}
	if n := after.sim.CreateCalls(); n != 3 {
		t.Fatalf("CreateCalls %d after the restart, want 3", n)
	}

	// The callbacks that were due are delivered by the new simulator.
	after.waitCallbacks()
	delivered := func(id int64, state, ref string) func(simtest.Hit) bool {
		return func(h simtest.Hit) bool {
			return h.Status == http.StatusOK && string(h.Body) == callbackOf(id, state, ref)
		}
	}
	hooks.waitFor(t, "delivery of the refused callback", delivered(refused.ID, "INITIATED", "refused"))
	hooks.waitFor(t, "delivery of the cut-off callback", delivered(cutOff.ID, "INITIATED", "cut-off"))
	// The delivery log is durable too, and attempts go on counting.
	var refusedAttempts []passportreadersim.Delivery
	for _, d := range after.sim.Deliveries() {
		if d.SessionID == refused.ID {
			refusedAttempts = append(refusedAttempts, d)
		}
	}
	if n := len(refusedAttempts); n < 2 || refusedAttempts[0].Status != http.StatusServiceUnavailable ||
		refusedAttempts[n-1].Status != http.StatusOK || refusedAttempts[n-1].Attempt != n {
		t.Fatalf("attempts of the refused callback: %+v", refusedAttempts)
	}

	// What fell due moves by itself, with its callback, unasked.
	clock.Advance(time.Minute)
	hooks.waitFor(t, "the callback of an AutoAdvance step after the restart", delivered(refused.ID, "COMPLETED", "refused"))
	for _, tc := range []struct {
		id   int64
		want string
	}{{refused.ID, "COMPLETED"}, {cutOff.ID, "COMPLETED"}, {scanned.ID, "APPROVED"}} {
		if got := after.state(tc.id); got != tc.want {
			t.Fatalf("session %d is %s after the restart, want %s", tc.id, got, tc.want)
		}
	}
	// The actions work on sessions made before the restart.
	if _, err := after.run(passportreadersim.ActionReject, map[string]string{"id": strconv.FormatInt(cutOff.ID, 10), "reason": "late"}); err != nil {
		t.Fatal(err)
	}
	after.waitCallbacks()
	var order []string
	for _, h := range hooks.got() {
		if h.Status == http.StatusOK && strings.Contains(string(h.Body), `"cut-off"`) {
			order = append(order, string(h.Body))
		}
	}
	want := []string{callbackOf(cutOff.ID, "INITIATED", "cut-off"), callbackOf(cutOff.ID, "COMPLETED", "cut-off"), callbackOf(cutOff.ID, "REJECTED", "cut-off")}
	if strings.Join(order, "\n") != strings.Join(want, "\n") {
		t.Fatalf("callbacks of the cut-off session, in order:\n%s\nwant\n%s", strings.Join(order, "\n"), strings.Join(want, "\n"))
	}
	// A new session gets a new id.
	if c := after.create(""); c.ID == refused.ID || c.ID == cutOff.ID || c.ID == scanned.ID {
		t.Fatalf("id %d handed out again", c.ID)
	}
}
