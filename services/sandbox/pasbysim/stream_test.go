package pasbysim_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"portal/services/sandbox/pasbysim"
)

// stream is an open SSE response read with a raw bufio reader.
type stream struct {
	t    testing.TB
	resp *http.Response
	rd   *bufio.Reader
}

// openSSE opens the v2 SSE stream of id with headers; the caller checks
// the status.
func (e *env) openSSE(id string, headers map[string]string) *stream {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	e.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.base+pasbysim.PathV2SSE+"?request="+id, nil)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	return &stream{t: e.t, resp: resp, rd: bufio.NewReader(resp.Body)}
}

// next reads one event: its lines up to the blank line that ends it. It
// returns the data payload, or io.EOF when the server closed the stream.
func (s *stream) next() ([]byte, error) {
	s.t.Helper()
	var data []byte
	for {
		line, err := s.rd.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) && line == "" && data == nil {
				return nil, io.EOF
			}
			return nil, err
		}
		if !strings.HasSuffix(line, "\n") {
			s.t.Fatalf("line without a newline: %q", line)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if data == nil {
				s.t.Fatal("empty event")
			}
			return data, nil
		case strings.HasPrefix(line, "data: "):
			if data != nil {
				s.t.Fatalf("two data lines in one event: %q", line)
			}
			data = []byte(strings.TrimPrefix(line, "data: "))
		default:
			s.t.Fatalf("unexpected line %q", line)
		}
	}
}

func (s *stream) event() (env envelope, doc docData) {
	s.t.Helper()
	b, err := s.next()
	if err != nil {
		s.t.Fatalf("reading an event: %v", err)
	}
	if err := json.Unmarshal(b, &env); err != nil {
		s.t.Fatalf("event is not JSON: %v: %s", err, b)
	}
	if env.Status == "successful" {
		var d struct {
			Request docData `json:"request"`
		}
		if err := json.Unmarshal(env.Data, &d); err != nil {
			s.t.Fatalf("event data: %v: %s", err, b)
		}
		doc = d.Request
	}
	return env, doc
}

func (s *stream) wantEOF() {
	s.t.Helper()
	if b, err := s.next(); !errors.Is(err, io.EOF) {
		s.t.Fatalf("stream not closed: %q %v", b, err)
	}
}

func keyOnly() map[string]string { return map[string]string{"x-api-key": pasbysim.DefaultAPIKey} }

func TestSSEStreamsUntilSigned(t *testing.T) {
	e := setup(t, pasbysim.Options{SSEInterval: 20 * time.Millisecond})
	d := e.createSigning("12345678901")
	s := e.openSSE(d.ID, keyOnly()) // the secret is optional
	if s.resp.StatusCode != http.StatusOK || s.resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("SSE: %d %v", s.resp.StatusCode, s.resp.Header)
	}
	for i := range 3 {
		env, doc := s.event()
		if env.Version != "v2" || doc.ID != d.ID || doc.Reference != d.ID || *doc.Cancelled || doc.Signature != "" {
			t.Fatalf("event %d: %+v %+v", i, env, doc)
		}
	}
	if err := e.sim.Open(d.ID, "12345678901"); err != nil {
		t.Fatal(err)
	}
	for {
		_, doc := s.event()
		if doc.StatusLog[0].Status == "viewing" {
			break
		}
	}
	e.sign(d.ID, "12345678901")
	for {
		_, doc := s.event()
		if doc.Signature != "" {
			if !doc.Handled || doc.StatusLog[0].Status != "signed" {
				t.Fatalf("final event %+v", doc)
			}
			break
		}
	}
	s.wantEOF()
}

func TestSSEFlowRequest(t *testing.T) {
	e := setup(t, pasbysim.Options{SSEInterval: 10 * time.Millisecond})
	d := e.createSigning("12345678901", "98765432109")
	flowID := e.doc(d.ID).Signees[0].FlowID
	s := e.openSSE(flowID, v2Headers())
	b, err := s.next()
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Data struct {
			Request flowData `json:"request"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &f); err != nil || f.Data.Request.Reference != flowID {
		t.Fatalf("event %s", b)
	}
	// The flow is final once its signee signed, though the document is not.
	e.sign(d.ID, "12345678901")
	for {
		b, err := s.next()
		if err != nil {
			t.Fatal(err)
		}
		_ = json.Unmarshal(b, &f)
		if f.Data.Request.Signature != "" {
			break
		}
	}
	s.wantEOF()
}

func TestSSECancelled(t *testing.T) {
	e := setup(t, pasbysim.Options{SSEInterval: 10 * time.Millisecond})
	d := e.createSigning("12345678901")
	s := e.openSSE(d.ID, keyOnly())
	s.event()
	if err := e.sim.Cancel(d.ID); err != nil {
		t.Fatal(err)
	}
	for {
		_, doc := s.event()
		if *doc.Cancelled {
			break
		}
	}
	s.wantEOF()
}

func TestSSEExpires(t *testing.T) {
	e := setup(t, pasbysim.Options{SSEInterval: 10 * time.Millisecond})
	d := e.createSigning("12345678901")
	s := e.openSSE(d.ID, keyOnly())
	s.event()
	e.clock.Advance(3 * time.Hour)
	for {
		env, _ := s.event()
		if env.Status != "successful" {
			if env.Status != "expiration" || env.Type != "session_expiry" {
				t.Fatalf("last event %+v", env)
			}
			break
		}
	}
	s.wantEOF()
}

func TestSSEAlreadyFinal(t *testing.T) {
	e := setup(t, pasbysim.Options{SSEInterval: time.Hour})
	d := e.createSigning("12345678901")
	e.sign(d.ID, "12345678901")
	s := e.openSSE(d.ID, keyOnly())
	if _, doc := s.event(); doc.Signature == "" {
		t.Fatalf("event %+v", doc)
	}
	s.wantEOF()
}

func TestSSEEndsOnClose(t *testing.T) {
	e := setup(t, pasbysim.Options{SSEInterval: time.Hour})
	d := e.createSigning("12345678901")
	s := e.openSSE(d.ID, keyOnly())
	s.event()
	done := make(chan struct{})
	go func() {
		_ = e.sim.Close()
		close(done)
	}()
	s.wantEOF()
	<-done
}

func TestSSEErrors(t *testing.T) {
	e := setup(t, pasbysim.Options{})
	d := e.createSigning("12345678901")
	for _, tc := range []struct {
		name, id string
		headers  map[string]string
		code     int
		status   string
	}{
		{"unknown id", "doc_nope", keyOnly(), 400, "failed"},
		{"no id", "", keyOnly(), 400, "failed"},
		{"no key", d.ID, map[string]string{}, 401, "unauthorized"},
		{"wrong secret", d.ID, map[string]string{"x-api-key": pasbysim.DefaultAPIKey, "x-access-secret": "snb_wrong"}, 401, "unauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, h, b := e.do(http.MethodGet, pasbysim.PathV2SSE+"?request="+tc.id, tc.headers, "")
			if st != tc.code || h.Get("Content-Type") != "application/json" || decodeEnvelope(t, b).Status != tc.status {
				t.Fatalf("%d %v %s", st, h, b)
			}
		})
	}
	// Expired before the stream starts: a plain 401.
	if err := e.sim.Expire(d.ID); err != nil {
		t.Fatal(err)
	}
	st, _, b := e.do(http.MethodGet, pasbysim.PathV2SSE+"?request="+d.ID, keyOnly(), "")
	wantError(t, st, b, http.StatusUnauthorized, "expiration", "session_expiry", "expired")
	// There is no v1 SSE route.
	if st, _, _ := e.do(http.MethodGet, "/api/v1/flow/sse?request="+d.ID, tokenHeaders(e.token()), ""); st != http.StatusNotFound {
		t.Fatalf("v1 SSE: %d", st)
	}
}

// --- polling ---

type pollResult struct {
	code int
	body []byte
	took time.Duration
}

func (e *env) pollAsync(path string, headers map[string]string, id string) <-chan pollResult {
	ch := make(chan pollResult, 1)
	go func() {
		t0 := time.Now()
		req, _ := http.NewRequest(http.MethodPost, e.base+path, strings.NewReader(`{"request":"`+id+`"}`))
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			ch <- pollResult{code: -1, body: []byte(err.Error())}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		ch <- pollResult{resp.StatusCode, b, time.Since(t0)}
	}()
	return ch
}

func pollDoc(t *testing.T, r pollResult) docData {
	t.Helper()
	if r.code != http.StatusOK {
		t.Fatalf("polling: %d %s", r.code, r.body)
	}
	var d struct {
		Request docData `json:"request"`
	}
	decodeData(t, r.body, &d)
	return d.Request
}

func TestPollingHeldUntilSigned(t *testing.T) {
	e := setup(t, pasbysim.Options{PollingInterval: time.Hour, PollingHold: 10 * time.Second})
	d := e.createSigning("12345678901")
	ch := e.pollAsync(pasbysim.PathV2Polling, tokenHeaders(e.token()), d.ID)
	select {
	case r := <-ch:
		t.Fatalf("answered before the flow was final: %d %s", r.code, r.body)
	case <-time.After(100 * time.Millisecond):
	}
	e.sign(d.ID, "12345678901") // wakes it at once: no need to wait for the interval
	select {
	case r := <-ch:
		if doc := pollDoc(t, r); doc.Signature == "" || !doc.Handled {
			t.Fatalf("polling answer %+v", doc)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("polling not answered after the signature")
	}
}

func TestPollingV1Cancelled(t *testing.T) {
	e := setup(t, pasbysim.Options{PollingHold: 10 * time.Second})
	tok := e.token()
	d := e.createSigning("12345678901")
	ch := e.pollAsync(pasbysim.PathV1Polling, tokenHeaders(tok), d.ID)
	time.Sleep(20 * time.Millisecond)
	if err := e.sim.Cancel(d.ID); err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if doc := pollDoc(t, r); !*doc.Cancelled || decodeEnvelope(t, r.body).Version != "v1" {
		t.Fatalf("polling answer %s", r.body)
	}
}

func TestPollingHoldRunsOut(t *testing.T) {
	e := setup(t, pasbysim.Options{PollingInterval: 10 * time.Millisecond, PollingHold: 100 * time.Millisecond})
	d := e.createSigning("12345678901")
	r := <-e.pollAsync(pasbysim.PathV2Polling, tokenHeaders(e.token()), d.ID)
	if doc := pollDoc(t, r); doc.Signature != "" || *doc.Cancelled || r.took < 100*time.Millisecond {
		t.Fatalf("after the hold: %+v in %v", doc, r.took)
	}
}

func TestPollingExpiresWhileHeld(t *testing.T) {
	e := setup(t, pasbysim.Options{PollingInterval: 10 * time.Millisecond, PollingHold: 10 * time.Second})
	d := e.createSigning("12345678901")
	ch := e.pollAsync(pasbysim.PathV2Polling, tokenHeaders(e.token()), d.ID)
	time.Sleep(20 * time.Millisecond)
	e.clock.Advance(3 * time.Hour) // seen at the next interval
	r := <-ch
	wantError(t, r.code, r.body, http.StatusUnauthorized, "expiration", "session_expiry", "expired")
}

func TestPollingFinalAnswersAtOnce(t *testing.T) {
	e := setup(t, pasbysim.Options{PollingHold: time.Hour})
	d := e.createSigning("12345678901")
	e.sign(d.ID, "12345678901")
	r := <-e.pollAsync(pasbysim.PathV2Polling, tokenHeaders(e.token()), d.ID)
	if doc := pollDoc(t, r); doc.Signature == "" || r.took > 5*time.Second {
		t.Fatalf("%+v in %v", doc, r.took)
	}
	r = <-e.pollAsync(pasbysim.PathV2Polling, tokenHeaders(e.token()), "req_1-abcd")
	wantError(t, r.code, r.body, http.StatusBadRequest, "failed", "invalid_request", "does not exists")
}

func TestPollingAnsweredOnClose(t *testing.T) {
	e := setup(t, pasbysim.Options{PollingHold: time.Hour})
	d := e.createSigning("12345678901")
	ch := e.pollAsync(pasbysim.PathV2Polling, tokenHeaders(e.token()), d.ID)
	time.Sleep(20 * time.Millisecond)
	_ = e.sim.Close()
	select {
	case r := <-ch:
		if doc := pollDoc(t, r); doc.Signature != "" {
			t.Fatalf("%+v", doc)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the held request")
	}
}
