package contract

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"portal/services/pasby"
	"portal/services/sandbox/pasbysim"
	"portal/services/upstream"
)

// TestCancel: cancelling a document by its id and by a signee's flow id,
// then what ping, refresh and a second cancel say.
func TestCancel(t *testing.T) {
	for _, v := range versions {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, v)
			ctx := ctxFor(t)

			t.Run("document id", func(t *testing.T) {
				e := e.sub(t)
				ref := e.ref()
				iat := e.clk.Unix()
				d := e.signing(ctx, ref, ninA, ninB).Document
				flows := e.flowIDs(d.ID)
				e.clk.Advance(5 * time.Second)

				res, err := e.client.Cancel(ctx, d.ID)
				if err != nil {
					t.Fatalf("simulator or client: Cancel(%s): %v; %s, NOTES.md: \"Cancel answers 201 with data.model (the flow)\"", d.ID, err, flowCancel)
				}
				if res.Version != v || res.Reason == "" {
					t.Errorf("simulator: cancel answer version %q reason %q, want %q and a reason; NOTES.md envelope", res.Version, res.Reason, v)
				}
				if res.Model.ID != d.ID {
					t.Errorf("simulator or client: cancel data.model.id = %q, want the document id %s; NOTES.md (pasby): \"Cancel answers 201 with data.model (the flow)\"", res.Model.ID, d.ID)
				}
				if res.Model.IAT != iat {
					t.Errorf("simulator or client: cancel data.model.iat = %d, want %d", res.Model.IAT, iat)
				}
				if got := e.simDoc(d.ID).State; got != pasbysim.StateCancelled {
					t.Errorf("simulator: document state after cancel is %q, want cancelled", got)
				}

				w := docWant{id: d.ID, ref: ref, mode: pasbysim.ModeAPI, states: []signState{{nin: ninA, status: pasby.StatusStale}, {nin: ninB, status: pasby.StatusStale}}}
				st, err := e.client.Ping(ctx, d.ID)
				if err != nil {
					t.Fatalf("Ping(cancelled document): %v", err)
				}
				checkDocPing(t, e, "ping(cancelled document)", st, w, iat, true)
				for i, nin := range []string{ninA, ninB} {
					st, err := e.client.Ping(ctx, flows[nin])
					if err != nil {
						t.Fatalf("Ping(flow of a cancelled document): %v", err)
					}
					checkFlowPing(t, e, "ping(flow of a cancelled document)", st, flows[nin], iat, w.states[i], true)
				}
				_, err = e.client.Refresh(ctx, d.ID)
				checkErr(t, "Refresh(cancelled)", err, pasby.ErrCancelled, notesErrors+": \"400 cancelled flow\"")
				_, err = e.client.Cancel(ctx, d.ID)
				checkErr(t, "Cancel(cancelled)", err, pasby.ErrCancelled, notesErrors+": \"400 cancelled flow\"")
				if err := e.sim.Sign(d.ID, ninA); !errors.Is(err, pasbysim.ErrCancelled) {
					t.Errorf("simulator: signing a cancelled document: %v, want ErrCancelled", err)
				}
			})

			t.Run("flow id", func(t *testing.T) {
				e := e.sub(t)
				ref := e.ref()
				iat := e.clk.Unix()
				d := e.signing(ctx, ref, ninA, ninB).Document
				flows := e.flowIDs(d.ID)
				res, err := e.client.Cancel(ctx, flows[ninB])
				if err != nil {
					t.Fatalf("Cancel(flow): %v", err)
				}
				// NOTES.md only says data.model is "the flow"; the flow as
				// ping shows it is keyed by "reference" (NOTES.md), the
				// client's FlowModel by "id" ([sdk] in its comment). The
				// flow must be identified by one or the other.
				var raw struct {
					Model map[string]json.RawMessage `json:"model"`
				}
				_ = json.Unmarshal(res.Raw, &raw)
				var rawRef string
				_ = json.Unmarshal(raw.Model["reference"], &rawRef)
				if res.Model.ID != flows[ninB] && rawRef != flows[ninB] {
					t.Errorf("simulator: cancel data.model identifies neither by id nor by reference the flow %s: %s; NOTES.md: \"data.model (the flow)\", %s", flows[ninB], res.Raw, notesPing)
				}
				if res.Model.ID == "" {
					t.Logf("note: cancel of flow request %s: data.model has no \"id\", so the client's CancelResponse.Model.ID is empty (model: %s)", flows[ninB], res.Raw)
				}
				st, err := e.client.Ping(ctx, d.ID)
				if err != nil {
					t.Fatalf("Ping: %v", err)
				}
				w := docWant{id: d.ID, ref: ref, mode: pasbysim.ModeAPI, states: []signState{{nin: ninA, status: pasby.StatusStale}, {nin: ninB, status: pasby.StatusStale}}}
				checkDocPing(t, e, "ping(document whose flow was cancelled)", st, w, iat, true)
			})

			t.Run("completed document", func(t *testing.T) {
				e := e.sub(t)
				d := e.signing(ctx, e.ref(), ninA).Document
				e.sign(d.ID, ninA)
				_, err := e.client.Cancel(ctx, d.ID)
				var rej *upstream.RejectedError
				if !errors.As(err, &rej) || rej.UpstreamStatus != "handled" {
					t.Errorf("Cancel(completed document): %v, want a refusal with status \"handled\"; NOTES.md (pasby): errors carry status (handled, …)", err)
				}
			})
			e.checkRoutes()
		})
	}
}

// sseItem is one item of the client's SSE sequence.
type sseItem struct {
	st  pasby.FlowState
	err error
}

type stream struct {
	t  *testing.T
	ch chan sseItem
}

// openSSE ranges over the client's SSE sequence in a goroutine.
func (e *env) openSSE(ctx context.Context, id string) *stream {
	ctx, cancel := context.WithCancel(ctx)
	s := &stream{t: e.t, ch: make(chan sseItem)}
	go func() {
		defer close(s.ch)
		for st, err := range e.client.SSE(ctx, id) {
			select {
			case s.ch <- sseItem{st, err}:
			case <-ctx.Done():
				return
			}
		}
	}()
	e.t.Cleanup(func() {
		cancel()
		for range s.ch {
		}
	})
	return s
}

// next returns the next item; ok is false when the sequence ended.
func (s *stream) next() (sseItem, bool) {
	s.t.Helper()
	select {
	case it, ok := <-s.ch:
		return it, ok
	case <-time.After(5 * time.Second):
		s.t.Fatalf("no SSE item within 5 s; %s: \"Server-Sent Events stream (~every 2 seconds)\"", flowSSE)
		return sseItem{}, false
	}
}

// until reads states until cond holds, failing on an error or the end.
func (s *stream) until(what string, cond func(pasby.FlowState) bool) pasby.FlowState {
	s.t.Helper()
	for {
		it, ok := s.next()
		switch {
		case !ok:
			s.t.Fatalf("SSE ended before %s", what)
		case it.err != nil:
			s.t.Fatalf("SSE yielded %v before %s", it.err, what)
		case cond(it.st):
			return it.st
		}
	}
}

// ended checks the sequence is over (nothing after a final state or an
// error).
func (s *stream) ended(what string) {
	s.t.Helper()
	if it, ok := s.next(); ok {
		s.t.Errorf("SSE went on after %s: %+v %v; %s and the client's SSE comment: a final state ends the sequence", what, it.st.Request, it.err, flowSSE)
	}
}

func statusOf(d *pasby.Document, nin string) string {
	if d == nil {
		return ""
	}
	for _, s := range d.StatusLog {
		if s.NIN == nin {
			return s.Status
		}
	}
	return ""
}

// TestSSE: the v2 stream yields a document's states until it completes,
// a flow's until it is signed or cancelled, and ends with ErrExpired when
// the document expires; v1 has no SSE route.
func TestSSE(t *testing.T) {
	for _, v := range versions {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, v)
			ctx := ctxFor(t)

			if v == pasby.V1 {
				d := e.signing(ctx, e.ref(), ninA).Document
				n := 0
				for _, err := range e.client.SSE(ctx, d.ID) {
					n++
					checkErr(t, "SSE on v1", err, upstream.ErrInvalidRequest, flowSSE+": \"No v1 SSE route\"")
				}
				if n != 1 {
					t.Errorf("client: SSE on v1 yielded %d items, want one error", n)
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.base+"/api/v1/flow/sse?request="+d.ID, nil)
				req.Header.Set("x-api-key", pasbysim.DefaultAPIKey)
				req.Header.Set("x-access-secret", pasbysim.DefaultAppSecret)
				resp, err := browser.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
					t.Errorf("simulator: GET /api/v1/flow/sse answered %d, want no such route; %s: \"No v1 SSE route\"", resp.StatusCode, flowSSE)
				}
				e.checkRoutes()
				return
			}

			t.Run("document completes", func(t *testing.T) {
				e := e.sub(t)
				ref := e.ref()
				iat := e.clk.Unix()
				d := e.signing(ctx, ref, ninA, ninB).Document
				w := docWant{id: d.ID, ref: ref, mode: pasbysim.ModeAPI, states: []signState{{nin: ninA, status: pasby.StatusStale}, {nin: ninB, status: pasby.StatusStale}}}
				s := e.openSSE(ctx, d.ID)
				first := s.until("a first state", func(pasby.FlowState) bool { return true })
				checkDocPing(t, e, "first SSE event", first, w, iat, false)

				e.clk.Advance(10 * time.Second)
				w.states[0] = signState{nin: ninA, status: pasby.StatusSigned, signedAt: e.clk.Unix()}
				e.sign(d.ID, ninA)
				mid := s.until("A's signature", func(st pasby.FlowState) bool { return statusOf(st.Document, ninA) == pasby.StatusSigned })
				checkDocPing(t, e, "SSE event after A signed", mid, w, iat, false)

				e.clk.Advance(10 * time.Second)
				w.states[1] = signState{nin: ninB, status: pasby.StatusSigned, signedAt: e.clk.Unix()}
				w.completed = true
				e.sign(d.ID, ninB)
				last := s.until("completion", func(st pasby.FlowState) bool { return statusOf(st.Document, ninB) == pasby.StatusSigned })
				checkDocPing(t, e, "SSE event after both signed", last, w, iat, false)
				s.ended("the completed document's state")
			})

			t.Run("flow signed", func(t *testing.T) {
				e := e.sub(t)
				iat := e.clk.Unix()
				d := e.signing(ctx, e.ref(), ninA, ninB).Document
				flow := e.flowIDs(d.ID)[ninB]
				s := e.openSSE(ctx, flow)
				first := s.until("a first state", func(pasby.FlowState) bool { return true })
				checkFlowPing(t, e, "first SSE event (flow)", first, flow, iat, signState{nin: ninB, status: pasby.StatusStale}, false)
				e.clk.Advance(3 * time.Second)
				at := e.clk.Unix()
				e.sign(d.ID, ninB)
				last := s.until("B's signature", func(st pasby.FlowState) bool { return st.Request.OnSession })
				checkFlowPing(t, e, "SSE event after B signed (flow)", last, flow, iat, signState{nin: ninB, status: pasby.StatusSigned, signedAt: at}, false)
				s.ended("the signed flow's state")
			})

			t.Run("flow cancelled", func(t *testing.T) {
				e := e.sub(t)
				iat := e.clk.Unix()
				d := e.signing(ctx, e.ref(), ninA, ninB).Document
				flow := e.flowIDs(d.ID)[ninA]
				s := e.openSSE(ctx, flow)
				s.until("a first state", func(pasby.FlowState) bool { return true })
				if _, err := e.client.Cancel(ctx, d.ID); err != nil {
					t.Fatalf("Cancel: %v", err)
				}
				last := s.until("the cancellation", func(st pasby.FlowState) bool { return st.Request.Cancelled })
				checkFlowPing(t, e, "SSE event after cancel (flow)", last, flow, iat, signState{nin: ninA, status: pasby.StatusStale}, true)
				s.ended("the cancelled flow's state")
			})

			t.Run("document expires", func(t *testing.T) {
				e := e.sub(t)
				d := e.signing(ctx, e.ref(), ninA).Document
				s := e.openSSE(ctx, d.ID)
				s.until("a first state", func(pasby.FlowState) bool { return true })
				e.clk.Advance(signingTTL*time.Second + time.Second)
				for {
					it, ok := s.next()
					if !ok {
						t.Fatalf("SSE ended without an error after the document expired; %s: \"401 expired flow\"", notesErrors)
					}
					if it.err != nil {
						checkErr(t, "SSE after expiry", it.err, pasby.ErrExpired, notesErrors+": \"401 expired flow (status:\\\"expiration\\\", type:\\\"session_expiry\\\")\"")
						break
					}
					if it.st.Final() {
						t.Fatalf("simulator or client: SSE yielded a final state %+v for an expiring document", it.st.Request)
					}
				}
				s.ended("the expiry error")
			})

			t.Run("refused before streaming", func(t *testing.T) {
				e := e.sub(t)
				for _, tc := range []struct {
					id   string
					want error
				}{
					{unknownDocID, pasby.ErrUnknownFlow},
					{unknownFlowID, pasby.ErrUnknownFlow},
				} {
					n := 0
					for _, err := range e.client.SSE(ctx, tc.id) {
						n++
						checkErr(t, "SSE("+tc.id+")", err, tc.want, notesErrors+": \"400 unknown flow id\"")
					}
					if n != 1 {
						t.Errorf("SSE(%s) yielded %d items, want one error", tc.id, n)
					}
				}
			})
			e.checkRoutes()
		})
	}
}

// TestPolling: the legacy long-held poll, on both versions (it sends
// x-access-token even on v2): it answers once the flow is signed or
// cancelled.
func TestPolling(t *testing.T) {
	for _, v := range versions {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, v)
			ctx := ctxFor(t)
			pattern := "POST /api/" + v + "/flow/polling"

			// poll runs Polling in a goroutine and waits until the
			// simulator holds it.
			poll := func(e *env, id string) <-chan sseItem {
				before := e.hits()[pattern]
				ch := make(chan sseItem, 1)
				go func() {
					st, err := e.client.Polling(ctx, id)
					ch <- sseItem{st, err}
				}()
				deadline := time.Now().Add(5 * time.Second)
				for e.hits()[pattern] == before {
					if time.Now().After(deadline) {
						e.t.Fatalf("the polling request never reached the simulator")
					}
					time.Sleep(5 * time.Millisecond)
				}
				time.Sleep(20 * time.Millisecond) // let the handler take its first look
				return ch
			}
			wait := func(t *testing.T, ch <-chan sseItem) sseItem {
				select {
				case it := <-ch:
					return it
				case <-time.After(6 * time.Second):
					t.Fatalf("Polling did not return once the flow was final; %s", flowPolling)
					return sseItem{}
				}
			}

			t.Run("document signed", func(t *testing.T) {
				e := e.sub(t)
				ref := e.ref()
				iat := e.clk.Unix()
				d := e.signing(ctx, ref, ninA, ninB).Document
				ch := poll(e, d.ID)
				e.clk.Advance(time.Minute)
				at := e.clk.Unix()
				e.sign(d.ID, ninA)
				e.sign(d.ID, ninB)
				it := wait(t, ch)
				if it.err != nil {
					t.Fatalf("Polling: %v", it.err)
				}
				w := docWant{id: d.ID, ref: ref, mode: pasbysim.ModeAPI, completed: true, states: []signState{
					{nin: ninA, status: pasby.StatusSigned, signedAt: at}, {nin: ninB, status: pasby.StatusSigned, signedAt: at},
				}}
				checkDocPing(t, e, "polling(document)", it.st, w, iat, false)
			})

			t.Run("flow signed", func(t *testing.T) {
				e := e.sub(t)
				iat := e.clk.Unix()
				d := e.signing(ctx, e.ref(), ninA, ninB).Document
				flow := e.flowIDs(d.ID)[ninA]
				ch := poll(e, flow)
				e.clk.Advance(time.Minute)
				at := e.clk.Unix()
				e.sign(d.ID, ninA)
				it := wait(t, ch)
				if it.err != nil {
					t.Fatalf("Polling: %v", it.err)
				}
				checkFlowPing(t, e, "polling(flow)", it.st, flow, iat, signState{nin: ninA, status: pasby.StatusSigned, signedAt: at}, false)
			})

			t.Run("flow cancelled", func(t *testing.T) {
				e := e.sub(t)
				iat := e.clk.Unix()
				d := e.signing(ctx, e.ref(), ninA).Document
				flow := e.flowIDs(d.ID)[ninA]
				ch := poll(e, flow)
				if _, err := e.client.Cancel(ctx, flow); err != nil {
					t.Fatalf("Cancel: %v", err)
				}
				it := wait(t, ch)
				if it.err != nil {
					t.Fatalf("Polling: %v", it.err)
				}
				checkFlowPing(t, e, "polling(cancelled flow)", it.st, flow, iat, signState{nin: ninA, status: pasby.StatusStale}, true)
			})

			t.Run("still pending", func(t *testing.T) {
				e := e.sub(t)
				// The simulator gives up holding after PollingHold and
				// answers the state as it is [ours]; the client returns
				// it, not final.
				d := e.signing(ctx, e.ref(), ninA).Document
				st, err := e.client.Polling(ctx, d.ID)
				if err != nil {
					t.Fatalf("Polling: %v", err)
				}
				if st.Final() || st.Request.Reference != d.ID {
					t.Errorf("Polling(pending) = %+v, want the pending document", st.Request)
				}
			})
			e.checkRoutes()
		})
	}
}
