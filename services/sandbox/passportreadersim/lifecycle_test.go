package passportreadersim_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"portal/services/sandbox/passportreadersim"
)

// states lists a session's timeline.
func states(s passportreadersim.Session) []string {
	var out []string
	for _, c := range s.Changes {
		out = append(out, c.State)
	}
	return out
}

func TestLifecycleGoMethods(t *testing.T) {
	type step struct {
		name string
		do   func(s *passportreadersim.Sim, id int64) error
	}
	var (
		initiate = step{"initiate", func(s *passportreadersim.Sim, id int64) error { return s.Initiate(id) }}
		complete = step{"complete", func(s *passportreadersim.Sim, id int64) error { return s.Complete(id) }}
		approve  = step{"approve", func(s *passportreadersim.Sim, id int64) error { return s.Approve(id) }}
		reject   = step{"reject", func(s *passportreadersim.Sim, id int64) error { return s.Reject(id, "  tampered chip  ") }}
		fail     = step{"fail", func(s *passportreadersim.Sim, id int64) error { return s.Fail(id) }}
		abort    = step{"abort", func(s *passportreadersim.Sim, id int64) error { return s.Abort(id) }}
		expire   = step{"expire", func(s *passportreadersim.Sim, id int64) error { return s.Expire(id) }}
	)
	for _, tc := range []struct {
		name  string
		steps []step
		want  []string
	}{
		{"approved", []step{initiate, complete, approve}, []string{"CREATED", "INITIATED", "COMPLETED", "APPROVED"}},
		{"rejected", []step{initiate, complete, reject}, []string{"CREATED", "INITIATED", "COMPLETED", "REJECTED"}},
		{"failed", []step{initiate, complete, fail}, []string{"CREATED", "INITIATED", "COMPLETED", "FAILED"}},
		{"aborted before opening", []step{abort}, []string{"CREATED", "ABORTED"}},
		{"aborted in the app", []step{initiate, abort}, []string{"CREATED", "INITIATED", "ABORTED"}},
		{"aborted after the scan", []step{initiate, complete, abort}, []string{"CREATED", "INITIATED", "COMPLETED", "ABORTED"}},
		{"expired", []step{initiate, expire}, []string{"CREATED", "INITIATED", "ABORTED"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t, passportreadersim.Options{})
			c := e.createWithCallback("ref-"+tc.name, false)
			for i, st := range tc.steps {
				e.clock.Advance(time.Minute)
				if err := st.do(e.sim, c.ID); err != nil {
					t.Fatalf("%s: %v", st.name, err)
				}
				if got := e.state(c.ID); got != tc.want[i+1] {
					t.Fatalf("after %s: %s, want %s", st.name, got, tc.want[i+1])
				}
			}
			s := e.session(c.ID)
			if !slices.Equal(states(s), tc.want) {
				t.Fatalf("timeline %v, want %v", states(s), tc.want)
			}
			for i, ch := range s.Changes {
				if !ch.At.Equal(start.Add(time.Duration(i) * time.Minute)) {
					t.Fatalf("change %d at %v", i, ch.At)
				}
			}
			if tc.name == "rejected" && s.RejectReason != "tampered chip" {
				t.Fatalf("reason %q", s.RejectReason)
			}
			// A final session refuses everything but a resent callback.
			for _, st := range []step{initiate, complete, approve, reject, fail, abort, expire} {
				err := st.do(e.sim, c.ID)
				var se *passportreadersim.StateError
				if !errors.Is(err, passportreadersim.ErrWrongState) || !errors.As(err, &se) || se.State != s.State || se.ID != c.ID {
					t.Fatalf("%s on a %s session: %v", st.name, s.State, err)
				}
			}
			if _, err := e.sim.Advance(c.ID); !errors.Is(err, passportreadersim.ErrWrongState) {
				t.Fatalf("advance on a final session: %v", err)
			}
			if !passportreadersim.IsFinal(s.State) {
				t.Fatalf("%s is not final", s.State)
			}
			// One callback per change, in order.
			e.waitCallbacks()
			var got []string
			for _, h := range e.hooks.Got() {
				var b struct {
					State string `json:"session_state"`
				}
				_ = json.Unmarshal(h.Body, &b)
				got = append(got, b.State)
			}
			if !slices.Equal(got, tc.want[1:]) {
				t.Fatalf("callbacks %v, want %v", got, tc.want[1:])
			}
		})
	}
}

func TestWrongStateErrors(t *testing.T) {
	e := setup(t, passportreadersim.Options{})
	c := e.create("")
	for _, tc := range []struct {
		name string
		err  error
		from []string
	}{
		{"complete before opening", e.sim.Complete(c.ID), []string{"INITIATED"}},
		{"approve before the scan", e.sim.Approve(c.ID), []string{"COMPLETED"}},
		{"reject before the scan", e.sim.Reject(c.ID, "x"), []string{"COMPLETED"}},
		{"fail before the scan", e.sim.Fail(c.ID), []string{"COMPLETED"}},
	} {
		var se *passportreadersim.StateError
		if !errors.As(tc.err, &se) || se.State != "CREATED" || !slices.Equal(se.From, tc.from) || !errors.Is(tc.err, passportreadersim.ErrWrongState) {
			t.Errorf("%s: %v", tc.name, tc.err)
		}
	}
	e.must(e.sim.Initiate(c.ID))
	if err := e.sim.Initiate(c.ID); !errors.Is(err, passportreadersim.ErrWrongState) {
		t.Fatalf("initiate twice: %v", err)
	}
	if s := e.session(c.ID); len(s.Changes) != 2 {
		t.Fatalf("a refused action changed the session: %v", states(s))
	}
}

func TestAdvance(t *testing.T) {
	e := setup(t, passportreadersim.Options{})
	c := e.create("")
	for _, want := range []string{"INITIATED", "COMPLETED", "APPROVED"} {
		got, err := e.sim.Advance(c.ID)
		if err != nil || got != want || e.state(c.ID) != want {
			t.Fatalf("advance: %q %v, want %s", got, err, want)
		}
	}
	if d := e.get(c.ID); d.Surname == "" || d.UserIP != "203.0.113.10" {
		t.Fatalf("after advancing %+v", d)
	}
}

func TestCompleteWith(t *testing.T) {
	e := setup(t, passportreadersim.Options{})
	c := e.create(`{"face_verification":true}`)
	e.must(e.sim.Initiate(c.ID))
	ident := passportreadersim.Identity{
		GivenNames: " Ada Lovelace ", Surname: "BYRON", Nationality: "gb", Sex: "female", DateOfBirth: "1815-12-10",
		DocumentType: "passport", DocumentNumber: "x1234567", ExpiryDate: "2031-01-01", IssuingCountry: "GB", Issuer: "HM PASSPORT OFFICE",
	}
	for field, bad := range map[string]func(*passportreadersim.Identity){
		"surname":         func(i *passportreadersim.Identity) { i.Surname = " " },
		"nationality":     func(i *passportreadersim.Identity) { i.Nationality = "GBR" },
		"sex":             func(i *passportreadersim.Identity) { i.Sex = "X" },
		"date_of_birth":   func(i *passportreadersim.Identity) { i.DateOfBirth = "1815-02-30" },
		"expiry_date":     func(i *passportreadersim.Identity) { i.ExpiryDate = "01/01/2031" },
		"document_number": func(i *passportreadersim.Identity) { i.DocumentNumber = "AB-12" },
		"personal_number": func(i *passportreadersim.Identity) { i.PersonalNumber = "123 456" },
		"document_type":   func(i *passportreadersim.Identity) { i.DocumentType = "" },
		"issuing_country": func(i *passportreadersim.Identity) { i.IssuingCountry = "1A" },
		"given_names":     func(i *passportreadersim.Identity) { i.GivenNames = "A\x00B" },
		"issuer":          func(i *passportreadersim.Identity) { i.Issuer = string(make([]byte, 101)) },
	} {
		id := ident
		bad(&id)
		err := e.sim.CompleteWith(c.ID, id)
		var ie *passportreadersim.IdentityError
		if !errors.As(err, &ie) || ie.Field != field || !errors.Is(err, passportreadersim.ErrInvalidIdentity) {
			t.Errorf("%s: %v", field, err)
		}
	}
	if e.state(c.ID) != "INITIATED" {
		t.Fatal("a refused scan changed the state")
	}
	e.must(e.sim.CompleteWith(c.ID, ident))
	d := e.get(c.ID)
	if d.GivenNames != "Ada Lovelace" || d.Nationality != "GB" || d.Sex != "FEMALE" || d.DocumentType != "PASSPORT" ||
		d.DocumentNumber != "X1234567" || d.PersonalNumber != "" || d.Face == "" {
		t.Fatalf("%+v", d)
	}
}

func TestExpiry(t *testing.T) {
	e := setup(t, passportreadersim.Options{})
	fresh := e.createWithCallback("fresh", false)
	scanned := e.createWithCallback("scanned", false)
	done := e.createWithCallback("done", false)
	e.must(e.sim.Initiate(scanned.ID))
	e.must(e.sim.Complete(scanned.ID))
	_, _ = e.sim.Advance(done.ID)
	_, _ = e.sim.Advance(done.ID)
	_, _ = e.sim.Advance(done.ID)

	e.clock.Advance(24*time.Hour - time.Second)
	if e.state(fresh.ID) != "CREATED" || e.state(scanned.ID) != "COMPLETED" {
		t.Fatal("expired early")
	}
	e.clock.Advance(time.Hour) // expiry happened at expires, not now
	for _, id := range []int64{fresh.ID, scanned.ID} {
		if st := e.state(id); st != "ABORTED" {
			t.Fatalf("state %s, want ABORTED", st)
		}
		s := e.session(id)
		if last := s.Changes[len(s.Changes)-1]; !last.At.Equal(s.Expires) || !s.Expires.Equal(start.Add(24*time.Hour)) {
			t.Fatalf("aborted at %v, expires %v", last.At, s.Expires)
		}
		if err := e.sim.Approve(id); !errors.Is(err, passportreadersim.ErrWrongState) {
			t.Fatalf("approve after expiry: %v", err)
		}
	}
	if st := e.state(done.ID); st != "APPROVED" {
		t.Fatalf("a final session expired: %s", st)
	}
	e.waitCallbacks()
	aborted := 0
	for _, h := range e.hooks.Got() {
		if string(h.Body) == `{"session_id":`+idString(fresh.ID)+`,"session_state":"ABORTED","session_reference":"fresh"}` ||
			string(h.Body) == `{"session_id":`+idString(scanned.ID)+`,"session_state":"ABORTED","session_reference":"scanned"}` {
			aborted++
		}
	}
	if aborted != 2 {
		t.Fatalf("%d ABORTED callbacks, want 2", aborted)
	}
}

func TestSessionTTLOption(t *testing.T) {
	e := setup(t, passportreadersim.Options{SessionTTL: 15 * time.Minute})
	c := e.create("")
	if d := e.get(c.ID); d.Expires != "2026-05-04T09:16:41Z" {
		t.Fatalf("expires %s", d.Expires)
	}
	e.clock.Advance(15 * time.Minute)
	if st := e.state(c.ID); st != "ABORTED" {
		t.Fatalf("state %s", st)
	}
}

func TestExpireMethod(t *testing.T) {
	e := setup(t, passportreadersim.Options{})
	c := e.create("")
	e.clock.Advance(time.Hour)
	e.must(e.sim.Expire(c.ID))
	s := e.session(c.ID)
	if s.State != "ABORTED" || !s.Expires.Equal(start.Add(time.Hour)) {
		t.Fatalf("%+v", s)
	}
	if d := e.get(c.ID); d.Expires != "2026-05-04T10:01:41Z" {
		t.Fatalf("expires %s", d.Expires)
	}
}

func TestAutoAdvance(t *testing.T) {
	e := setup(t, passportreadersim.Options{AutoAdvance: 10 * time.Second})
	c := e.createWithCallback("auto", true)
	e.clock.Advance(9 * time.Second)
	if st := e.state(c.ID); st != "CREATED" {
		t.Fatalf("at 9 s: %s", st)
	}
	e.clock.Advance(time.Second)
	if st := e.state(c.ID); st != "INITIATED" {
		t.Fatalf("at 10 s: %s", st)
	}
	e.clock.Advance(time.Hour) // everything is due: it happened at its own time
	s := e.session(c.ID)
	if !slices.Equal(states(s), []string{"CREATED", "INITIATED", "COMPLETED", "APPROVED"}) {
		t.Fatalf("timeline %v", states(s))
	}
	for i, ch := range s.Changes {
		if !ch.At.Equal(start.Add(time.Duration(i) * 10 * time.Second)) {
			t.Fatalf("change %d at %v", i, ch.At)
		}
	}
	if d := e.get(c.ID); d.Surname == "" || d.Face == "" {
		t.Fatalf("auto scan %+v", d)
	}
	e.waitCallbacks()
	if n := len(e.hooks.Got()); n != 3 {
		t.Fatalf("%d callbacks", n)
	}

	// A step someone takes restarts the wait; a final state stops it.
	c2 := e.create("")
	e.clock.Advance(5 * time.Second)
	e.must(e.sim.Initiate(c2.ID))
	e.clock.Advance(9 * time.Second)
	if st := e.state(c2.ID); st != "INITIATED" {
		t.Fatalf("%s", st)
	}
	e.clock.Advance(time.Second)
	if st := e.state(c2.ID); st != "COMPLETED" {
		t.Fatalf("%s", st)
	}
	e.must(e.sim.Reject(c2.ID, ""))
	e.clock.Advance(time.Hour)
	if st := e.state(c2.ID); st != "REJECTED" {
		t.Fatalf("%s", st)
	}
}

func TestAutoAdvanceStopsAtExpiry(t *testing.T) {
	e := setup(t, passportreadersim.Options{AutoAdvance: 50 * time.Second, SessionTTL: time.Minute})
	c := e.create("")
	e.clock.Advance(time.Hour)
	if s := e.session(c.ID); !slices.Equal(states(s), []string{"CREATED", "INITIATED", "ABORTED"}) {
		t.Fatalf("timeline %v", states(s))
	}
}

// TestAutoAdvanceByItself checks that the sweeper moves sessions and sends
// their callbacks without anyone asking about them.
func TestAutoAdvanceByItself(t *testing.T) {
	e := setup(t, passportreadersim.Options{AutoAdvance: 5 * time.Millisecond, Now: time.Now})
	seen := e.hooks.Watch(10)
	c := e.createWithCallback("alive", false)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	want := `{"session_id":` + idString(c.ID) + `,"session_state":"APPROVED","session_reference":"alive"}`
	for {
		select {
		case h := <-seen:
			if string(h.Body) == want {
				return
			}
		case <-ctx.Done():
			t.Fatalf("no APPROVED callback; got %d callbacks", len(e.hooks.Got()))
		}
	}
}

func TestSessionsAndTokens(t *testing.T) {
	e := setup(t, passportreadersim.Options{})
	a := e.create(`{"reference":"a"}`)
	e.clock.Advance(time.Second)
	b := e.create(`{"reference":"b"}`)
	all := e.sim.Sessions()
	if len(all) != 2 || all[0].ID != b.ID || all[1].ID != a.ID {
		t.Fatalf("sessions %+v", all)
	}
	s, ok := e.sim.SessionByToken(a.Token)
	if !ok || s.ID != a.ID || s.Token != a.Token || s.Reference != "a" {
		t.Fatalf("by token %+v", s)
	}
	// Snapshots are copies.
	s.Changes[0].State = "MUTATED"
	if e.session(a.ID).Changes[0].State != "CREATED" {
		t.Fatal("a snapshot shares its timeline")
	}
}

func idString(id int64) string { return string(jsonInt(id)) }
