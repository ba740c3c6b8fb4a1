package pasbysim

import (
	"net/http"
	"time"
)

// handleSSE is GET /api/v2/flow/sse?request=<flow-id>: a text/event-stream
// of "data: <json>\n\n" events, one right away and then one every
// SSEInterval, until the flow is final, the client goes away or the
// simulator is closed.
//
// Each event's JSON is the envelope ping would answer, so a client decodes
// both alike. A flow that expires while streaming gets the 401 error body
// as its last event. Errors found before the stream starts (unknown id,
// expired, bad key) are plain JSON answers with their status. [ours]
func (s *Sim) handleSSE(w http.ResponseWriter, r *http.Request, version string) {
	id := r.URL.Query().Get("request")
	view, final, e, err := s.flowView(r.Context(), id)
	if err != nil {
		s.internalError(w, version, "read a flow", err)
		return
	}
	if e != nil {
		writeError(w, version, e)
		return
	}
	if !s.holdStream() {
		final = true // closed: the first event is the last
	} else {
		defer s.streams.Done()
	}
	rc := http.NewResponseController(w)
	// A stream outlives any server write timeout; it ends by itself.
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // tell a proxy not to buffer the stream
	w.WriteHeader(http.StatusOK)

	send := func(payload []byte) bool {
		buf := make([]byte, 0, len(payload)+8)
		buf = append(buf, "data: "...)
		buf = append(buf, payload...)
		buf = append(buf, "\n\n"...)
		if _, err := w.Write(buf); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send(marshal(envelope{"successful", reasonFlow, requestData{view}, version})) || final {
		return
	}
	t := time.NewTicker(s.sseInterval)
	defer t.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		// Each event reads the store afresh: another process's change, or
		// one made before a restart, shows as well as this one's.
		view, final, e, err = s.flowView(r.Context(), id)
		payload := marshal(envelope{"successful", reasonFlow, requestData{view}, version})
		switch {
		case err != nil:
			s.logger.Error("pasbysim: read a flow for SSE", "request", id, "error", err)
			payload, final = marshal(errInternal.body(version)), true
		case e != nil:
			payload = marshal(e.body(version))
		}
		if !send(payload) || final {
			return
		}
	}
}

// handlePolling is the legacy long-held POST flow/polling: it answers as
// ping does as soon as the flow is final ("data.request.cancelled is true
// or data.request.signature is present"), looking every PollingInterval
// and on every change. After PollingHold, or when the simulator is closed,
// it answers with the state as it is, final or not. [ours for the hold]
func (s *Sim) handlePolling(w http.ResponseWriter, r *http.Request, version string) {
	id, e := requestID(w, r)
	if e != nil {
		writeError(w, version, e)
		return
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.pollingHold + 10*time.Second))
	hold := time.NewTimer(s.pollingHold)
	defer hold.Stop()
	tick := time.NewTicker(s.pollingInterval)
	defer tick.Stop()
	last := !s.holdStream() // closed: answer at once
	if !last {
		defer s.streams.Done()
	}
	for {
		// The channel is taken before the read, so a change that lands
		// after the read closes it.
		s.mu.Lock()
		changed := s.changed
		s.mu.Unlock()
		view, final, e, err := s.flowView(r.Context(), id)
		if err != nil {
			s.internalError(w, version, "read a flow", err)
			return
		}
		if e != nil {
			writeError(w, version, e)
			return
		}
		if final || last {
			writeOK(w, http.StatusOK, version, reasonFlow, requestData{view})
			return
		}
		select {
		case <-changed:
		case <-tick.C:
		case <-hold.C:
			last = true
		case <-s.ctx.Done():
			last = true
		case <-r.Context().Done():
			return
		}
	}
}
