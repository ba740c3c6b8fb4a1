package passportreadersim_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"portal/services/sandbox"
	"portal/services/sandbox/passportreadersim"
	"portal/services/sandbox/simtest"
)

func TestCallbackBody(t *testing.T) {
	for _, tc := range []struct {
		legacy bool
		key    string
	}{
		{false, "session_reference"},
		{true, "session_referenace"}, // the older integration's spelling (NOTES.md)
	} {
		t.Run(tc.key, func(t *testing.T) {
			e := setup(t, passportreadersim.Options{LegacyReferenceKey: tc.legacy})
			c := e.createWithCallback("ref-"+tc.key, false)
			e.waitCallbacks()
			if n := len(e.hooks.Got()); n != 0 {
				t.Fatalf("%d callbacks for the creation", n)
			}
			e.must(e.sim.Initiate(c.ID))
			e.must(e.sim.Complete(c.ID))
			e.must(e.sim.Approve(c.ID))
			e.waitCallbacks()
			got := e.hooks.Got()
			if len(got) != 3 {
				t.Fatalf("%d callbacks, want one per change", len(got))
			}
			for i, st := range []string{"INITIATED", "COMPLETED", "APPROVED"} {
				h := got[i]
				want := `{"session_id":` + idString(c.ID) + `,"session_state":"` + st + `","` + tc.key + `":"ref-` + tc.key + `"}`
				if string(h.Body) != want {
					t.Fatalf("callback %d: %s\nwant %s", i, h.Body, want)
				}
				// The id is a JSON integer, whatever its size.
				if v := decodeNumbers(t, h.Body); len(v) != 3 || v["session_id"] != jsonInt(c.ID) {
					t.Fatalf("callback %d: %s", i, h.Body)
				}
				if h.Path != "/callbacks/passportreader/s3cret?k=v" || h.Header.Get("Content-Type") != "application/json" {
					t.Fatalf("callback %d: %s %v", i, h.Path, h.Header)
				}
				// "no signature" (NOTES.md): nothing that looks like one.
				for k := range h.Header {
					if lk := strings.ToLower(k); strings.Contains(lk, "signature") || strings.Contains(lk, "hmac") || lk == "authorization" {
						t.Fatalf("callback %d has header %s", i, k)
					}
				}
			}
		})
	}
}

func TestCallbackEmptyReference(t *testing.T) {
	e := setup(t, passportreadersim.Options{})
	c := e.create(`{"callback_url":"` + e.hooks.URL() + `"}`)
	e.must(e.sim.Abort(c.ID))
	e.waitCallbacks()
	got := e.hooks.Got()
	want := `{"session_id":` + idString(c.ID) + `,"session_state":"ABORTED","session_reference":""}`
	if len(got) != 1 || string(got[0].Body) != want {
		t.Fatalf("%d callbacks: %v", len(got), got)
	}
}

func TestNoCallbackURL(t *testing.T) {
	e := setup(t, passportreadersim.Options{})
	c := e.create("")
	_, _ = e.sim.Advance(c.ID)
	e.waitCallbacks()
	if len(e.sim.Deliveries()) != 0 {
		t.Fatal("a callback without callback_url")
	}
	if err := e.sim.ResendCallback(c.ID); !errors.Is(err, passportreadersim.ErrNoCallbackURL) {
		t.Fatalf("resend: %v", err)
	}
}

func TestCallbackRetriedUntil2xx(t *testing.T) {
	e := setup(t, passportreadersim.Options{})
	e.hooks.SetAnswer(func(n int) int {
		switch n {
		case 1:
			return http.StatusInternalServerError
		case 2:
			return http.StatusFound // not a 2xx either
		}
		return http.StatusNoContent // any 2xx counts
	})
	c := e.createWithCallback("r", false)
	e.must(e.sim.Initiate(c.ID))
	e.waitCallbacks()
	got := e.hooks.Got()
	if len(got) != 3 || string(got[0].Body) != string(got[2].Body) {
		t.Fatalf("%d attempts", len(got))
	}
	ds := e.sim.Deliveries()
	if len(ds) != 3 {
		t.Fatalf("deliveries %+v", ds)
	}
	for i, want := range []int{500, 302, 204} {
		d := ds[i]
		if d.SessionID != c.ID || d.State != "INITIATED" || d.Attempt != i+1 || d.Status != want || d.Err != "" || !d.At.Equal(start) {
			t.Fatalf("delivery %d: %+v", i, d)
		}
		// Only the scheme and host: the path and query hold the secret.
		if d.Host != e.hooks.Server.URL || strings.Contains(d.Host, "s3cret") {
			t.Fatalf("delivery %d host %q", i, d.Host)
		}
	}
}

func TestCallbackGivesUp(t *testing.T) {
	e := setup(t, passportreadersim.Options{CallbackAttempts: 3})
	e.hooks.SetAnswer(func(int) int { return http.StatusServiceUnavailable })
	c := e.createWithCallback("r", false)
	e.must(e.sim.Initiate(c.ID))
	e.must(e.sim.Abort(c.ID))
	e.waitCallbacks()
	got := e.hooks.Got()
	if len(got) != 6 {
		t.Fatalf("%d attempts, want 3 for each of 2 changes", len(got))
	}
	// In order: the second change waits for the first to be given up.
	for i, h := range got {
		want := "INITIATED"
		if i >= 3 {
			want = "ABORTED"
		}
		if !strings.Contains(string(h.Body), want) {
			t.Fatalf("attempt %d: %s", i, h.Body)
		}
	}
}

func TestCallbackDefaultAttempts(t *testing.T) {
	e := setup(t, passportreadersim.Options{})
	e.hooks.SetAnswer(func(int) int { return http.StatusBadGateway })
	c := e.createWithCallback("r", false)
	e.must(e.sim.Initiate(c.ID))
	e.waitCallbacks()
	if n := len(e.hooks.Got()); n != 5 || passportreadersim.DefaultCallbackAttempts != 5 {
		t.Fatalf("%d attempts, want 5", n)
	}
}

func TestCallbackBackoffDoubles(t *testing.T) {
	e := setup(t, passportreadersim.Options{CallbackBackoff: 20 * time.Millisecond, CallbackAttempts: 4})
	e.hooks.SetAnswer(func(int) int { return http.StatusInternalServerError })
	c := e.createWithCallback("r", false)
	e.must(e.sim.Initiate(c.ID))
	e.waitCallbacks()
	simtest.CheckBackoff(t, e.hooks.Got(), 4, 20*time.Millisecond) // 20, 40, 80 ms
}

func TestCallbackUnreachable(t *testing.T) {
	e := setup(t, passportreadersim.Options{CallbackAttempts: 2})
	dead := e.hooks.Server.URL + "/secret-path"
	e.hooks.Server.Close() // nothing listens there any more
	c := e.create(`{"callback_url":"` + dead + `"}`)
	e.must(e.sim.Initiate(c.ID))
	e.waitCallbacks()
	ds := e.sim.Deliveries()
	if len(ds) != 2 || ds[0].Status != 0 || ds[0].Err == "" || strings.Contains(ds[0].Err, "secret-path") {
		t.Fatalf("deliveries %+v", ds)
	}
}

func TestResendCallback(t *testing.T) {
	e := setup(t, passportreadersim.Options{})
	c := e.createWithCallback("again", false)
	e.must(e.sim.Initiate(c.ID))
	e.must(e.sim.ResendCallback(c.ID))
	e.waitCallbacks()
	got := e.hooks.Got()
	if len(got) != 2 || string(got[0].Body) != string(got[1].Body) {
		t.Fatalf("%d callbacks", len(got))
	}
	// A final session can be resent too.
	e.must(e.sim.Abort(c.ID))
	e.must(e.sim.ResendCallback(c.ID))
	e.waitCallbacks()
	if got := e.hooks.Got(); len(got) != 4 || string(got[2].Body) != string(got[3].Body) {
		t.Fatalf("%d callbacks", len(got))
	}
}

func TestCloseStopsCallbacks(t *testing.T) {
	// A store of the test's own: the simulator closes only a store it
	// made, and this one must outlive Close for the calls after it.
	store := sandbox.MemoryStore()
	t.Cleanup(func() { _ = store.Close() })
	e := setup(t, passportreadersim.Options{CallbackBackoff: time.Hour, Store: store})
	e.hooks.SetAnswer(func(int) int { return http.StatusInternalServerError })
	c := e.createWithCallback("r", false)
	seen := e.hooks.Watch(1)
	e.must(e.sim.Initiate(c.ID))
	select {
	case <-seen:
	case <-time.After(10 * time.Second):
		t.Fatal("no first attempt")
	}
	e.must(e.sim.ResendCallback(c.ID)) // queued behind the waiting one
	// Close returns although a delivery is waiting an hour to retry.
	if err := e.sim.Close(); err != nil {
		t.Fatal(err)
	}
	e.waitCallbacks()
	if err := e.sim.ResendCallback(c.ID); !errors.Is(err, passportreadersim.ErrClosed) {
		t.Fatalf("resend after close: %v", err)
	}
	// Changes after Close are still made, without callbacks.
	n := len(e.hooks.Got())
	e.must(e.sim.Abort(c.ID))
	e.waitCallbacks()
	if len(e.hooks.Got()) != n || e.state(c.ID) != "ABORTED" {
		t.Fatal("a callback after Close")
	}
	if err := e.sim.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
}
