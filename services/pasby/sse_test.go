package pasby

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"portal/services/upstream"
)

// chunkReader returns its chunks one Read at a time.
type chunkReader struct{ chunks []string }

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.chunks) > 0 && r.chunks[0] == "" {
		r.chunks = r.chunks[1:]
	}
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.chunks[0])
	r.chunks[0] = r.chunks[0][n:]
	return n, nil
}

// splitEvery cuts s into pieces of n bytes.
func splitEvery(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

func readAllEvents(t testing.TB, r io.Reader) ([]sseEvent, *sseReader, error) {
	rd := newSSEReader(r)
	var evs []sseEvent
	for {
		ev, err := rd.Next()
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return evs, rd, err
		}
		evs = append(evs, ev)
	}
}

func msg(data string) sseEvent { return sseEvent{Type: "message", Data: data} }

func TestSSEReaderTable(t *testing.T) {
	for _, tc := range []struct {
		name   string
		chunks []string // the stream as the server's writes cut it
		want   []sseEvent
		retry  time.Duration // 0: none
	}{
		{"one event", []string{"data: {\"a\":1}\n\n"}, []sseEvent{msg(`{"a":1}`)}, 0},
		{"two events", []string{"data: 1\n\ndata: 2\n\n"}, []sseEvent{msg("1"), msg("2")}, 0},
		{"CRLF", []string{"data: 1\r\n\r\ndata: 2\r\n\r\n"}, []sseEvent{msg("1"), msg("2")}, 0},
		{"CR only", []string{"data: 1\r\rdata: 2\r\r"}, []sseEvent{msg("1"), msg("2")}, 0},
		{"CR at the end of a read, LF at the start of the next", []string{"data: 1\r", "\n\r", "\ndata: 2\r\n\r\n"}, []sseEvent{msg("1"), msg("2")}, 0},
		{"mixed endings", []string{"data: a\r\ndata: b\rdata: c\n\r\n"}, []sseEvent{msg("a\nb\nc")}, 0},
		{"line split across reads", []string{"da", "ta: {\"req", "uest\":{}}", "\n", "\n"}, []sseEvent{msg(`{"request":{}}`)}, 0},
		{"multi-line data", []string{"data: {\ndata: \"a\": 1\ndata: }\n\n"}, []sseEvent{msg("{\n\"a\": 1\n}")}, 0},
		{"empty data lines", []string{"data\ndata\n\n"}, []sseEvent{msg("\n")}, 0},
		{"data with only a colon", []string{"data:\n\n"}, []sseEvent{msg("")}, 0},
		{"one space dropped, not two", []string{"data:  x\ndata:y\n\n"}, []sseEvent{msg(" x\ny")}, 0},
		{"colon in value", []string{"data: {\"a\":\"b:c\"}\n\n"}, []sseEvent{msg(`{"a":"b:c"}`)}, 0},
		{"comments", []string{": keep-alive\n\n:another\ndata: 1\n: inside\n\n"}, []sseEvent{msg("1")}, 0},
		{"event type", []string{"event: update\ndata: 1\n\ndata: 2\n\n"}, []sseEvent{{Type: "update", Data: "1"}, msg("2")}, 0},
		{"type reset by an event without data", []string{"event: x\n\ndata: 1\n\n"}, []sseEvent{msg("1")}, 0},
		{"id persists", []string{"id: 7\ndata: 1\n\ndata: 2\n\nid\ndata: 3\n\n"}, []sseEvent{{Type: "message", Data: "1", ID: "7"}, {Type: "message", Data: "2", ID: "7"}, msg("3")}, 0},
		{"id with NUL ignored", []string{"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n"}, []sseEvent{{Type: "message", Data: "a", ID: "1"}, {Type: "message", Data: "b", ID: "1"}}, 0},
		{"retry", []string{"retry: 2500\n\ndata: 1\n\n"}, []sseEvent{msg("1")}, 2500 * time.Millisecond},
		{"retry not digits ignored", []string{"retry: 2500\nretry: 1a\nretry: -5\nretry:\nretry: 1.5\n\n"}, nil, 2500 * time.Millisecond},
		{"retry huge capped", []string{"retry: 99999999999999999999999\n\n"}, nil, time.Duration(1<<40) * time.Millisecond},
		{"unknown fields ignored", []string{"foo: bar\ndata: 1\nDATA: 2\n\n"}, []sseEvent{msg("1")}, 0},
		{"field without colon", []string{"data\n\n"}, []sseEvent{msg("")}, 0},
		{"no final blank line: dropped", []string{"data: 1\n\ndata: 2\n"}, []sseEvent{msg("1")}, 0},
		{"no final line ending: dropped", []string{"data: 1\n\ndata: 2"}, []sseEvent{msg("1")}, 0},
		{"BOM", []string{"\xEF\xBB\xBFdata: 1\n\n"}, []sseEvent{msg("1")}, 0},
		{"BOM split", []string{"\xEF", "\xBB", "\xBFdata: 1\n\n"}, []sseEvent{msg("1")}, 0},
		{"second BOM kept", []string{"\xEF\xBB\xBF\xEF\xBB\xBFdata: 1\n\ndata: 2\n\n"}, []sseEvent{msg("2")}, 0},
		{"invalid UTF-8 replaced", []string{"data: a\xffb\n\n"}, []sseEvent{msg("a\uFFFDb")}, 0},
		{"blank lines only", []string{"\n\n\r\n\r\r"}, nil, 0},
		{"empty stream", nil, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			whole := strings.Join(tc.chunks, "")
			for _, split := range []struct {
				name   string
				chunks []string
			}{
				{"as written", append([]string(nil), tc.chunks...)},
				{"byte by byte", splitEvery(whole, 1)},
				{"3 bytes", splitEvery(whole, 3)},
				{"whole", []string{whole}},
			} {
				evs, rd, err := readAllEvents(t, &chunkReader{chunks: split.chunks})
				if err != nil {
					t.Fatalf("%s: %v", split.name, err)
				}
				if fmt.Sprint(evs) != fmt.Sprint(tc.want) {
					t.Errorf("%s: events = %q, want %q", split.name, evs, tc.want)
				}
				r, ok := rd.Retry()
				if ok != (tc.retry != 0) || r != tc.retry {
					t.Errorf("%s: retry = %v %v, want %v", split.name, r, ok, tc.retry)
				}
			}
		})
	}
}

func TestSSEReaderLimits(t *testing.T) {
	long := "data: " + strings.Repeat("x", maxSSELine+1) + "\n\n"
	if _, _, err := readAllEvents(t, strings.NewReader(long)); !errors.Is(err, errSSETooLarge) {
		t.Errorf("long line: err = %v", err)
	}
	var b strings.Builder
	for b.Len() < maxSSEData*1100/1000 {
		b.WriteString("data: " + strings.Repeat("y", 1000) + "\n")
	}
	b.WriteString("\n")
	if _, _, err := readAllEvents(t, strings.NewReader(b.String())); !errors.Is(err, errSSETooLarge) {
		t.Errorf("big event: err = %v", err)
	}
	// A read error is passed on.
	boom := errors.New("boom")
	rd := newSSEReader(io.MultiReader(strings.NewReader("data: 1\n"), errReader{boom}))
	if _, err := rd.Next(); !errors.Is(err, boom) {
		t.Errorf("err = %v, want the read error", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// sseServer serves /api/v2/flow/sse with a per-connection script.
type sseServer struct {
	*fake
	conns   atomic.Int64
	mu      sync.Mutex
	lastIDs []string // Last-Event-ID per connection
	closed  chan struct{}
}

func newSSEServer(t *testing.T, script func(n int64, w http.ResponseWriter, r *http.Request)) *sseServer {
	s := &sseServer{closed: make(chan struct{}, 64)}
	s.fake = newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		if r.URL.Path != ssePath {
			writeJSON(w, 404, `{"status":"failed","reason":"no route"}`)
			return
		}
		n := s.conns.Add(1)
		s.mu.Lock()
		s.lastIDs = append(s.lastIDs, r.Header.Get("Last-Event-ID"))
		s.mu.Unlock()
		defer func() { s.closed <- struct{}{} }()
		script(n, w, r)
	})
	return s
}

func startStream(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(200)
	w.(http.Flusher).Flush()
}

func send(w http.ResponseWriter, s string) {
	io.WriteString(w, s)
	w.(http.Flusher).Flush()
}

func event(request string) string {
	return "data: " + `{"status":"successful","reason":"ok","data":{"request":` + request + `},"version":"v2"}` + "\n\n"
}

const (
	reqPending = `{"reference":"req_1","requester":"app_1","requestee":"","mode":"signature","cancelled":false,"onsession":false,"iat":1707025000}`
	reqOnPhone = `{"reference":"req_1","requester":"app_1","requestee":"12345678901","mode":"signature","cancelled":false,"onsession":true,"iat":1707025000}`
	reqSigned  = `{"reference":"req_1","requester":"app_1","requestee":"12345678901","mode":"signature","cancelled":false,"onsession":true,"iat":1707025000,"signature":"c2ln","signedAt":1707025100}`
)

type item struct {
	st  FlowState
	err error
}

func collect(c *Client, ctx context.Context, id string) []item {
	var out []item
	for st, err := range c.SSE(ctx, id) {
		out = append(out, item{st, err})
	}
	return out
}

func TestSSEStreamsUntilFinal(t *testing.T) {
	s := newSSEServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		startStream(w)
		send(w, ": hello\n\n")
		send(w, event(reqPending))
		send(w, "data: "+`{"request":`+reqOnPhone+`}`+"\n\n") // the data object alone
		send(w, "data: "+reqSigned[:40])
		send(w, reqSigned[40:]+"\n\n") // the request alone, split across writes
		send(w, event(reqPending))     // never read: the stream ended at the final state
		<-r.Context().Done()
	})
	c := fastClient(s.URL, 5*time.Second)
	items := collect(c, context.Background(), "req_1")
	if len(items) != 3 {
		t.Fatalf("items = %+v, want 3", items)
	}
	for i, it := range items {
		if it.err != nil {
			t.Fatalf("item %d: %v", i, it.err)
		}
		if it.st.Request.Reference != "req_1" || it.st.Final() != (i == 2) {
			t.Errorf("item %d = %+v", i, it.st.Request)
		}
	}
	if items[0].st.Reason != "ok" || items[0].st.Version != "v2" || !items[1].st.Request.OnSession || items[2].st.Request.SignedAt != 1707025100 {
		t.Errorf("states = %+v", items)
	}
	if string(items[2].st.Raw) != reqSigned {
		t.Errorf("Raw = %s", items[2].st.Raw)
	}
	select {
	case <-s.closed:
	case <-time.After(2 * time.Second):
		t.Fatal("the connection was not closed after the final state")
	}
	req := s.lastAPI()
	if req.Method != http.MethodGet || req.Path != "/api/v2/flow/sse" || req.RawQuery != "request=req_1" {
		t.Errorf("request = %s %s?%s", req.Method, req.Path, req.RawQuery)
	}
	if req.Header.Get("x-api-key") != testKey || req.Header.Get("x-access-secret") != testSecret || req.Header.Get("x-access-token") != "" {
		t.Errorf("headers = %v", req.Header)
	}
	if req.Header.Get("Accept") != "text/event-stream" || req.Header.Get("Last-Event-ID") != "" {
		t.Errorf("headers = %v", req.Header)
	}
	if s.conns.Load() != 1 {
		t.Errorf("connections = %d", s.conns.Load())
	}
}

func TestSSECancelledIsFinal(t *testing.T) {
	s := newSSEServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		startStream(w)
		send(w, event(`{"reference":"req_1","cancelled":true}`))
		<-r.Context().Done()
	})
	items := collect(fastClient(s.URL, 5*time.Second), context.Background(), "req_1")
	if len(items) != 1 || items[0].err != nil || !items[0].st.Request.Cancelled || !items[0].st.Final() {
		t.Fatalf("items = %+v", items)
	}
}

func TestSSEDocumentCompletedIsFinal(t *testing.T) {
	doc := func(status, stamped string) string {
		return `{"id":"` + docID40() + `","to":["12345678901"],"handled":false,"file":{"source":"https://x/a.pdf","name":"A","stamped":"` + stamped + `"},"statusLog":[{"nin":"12345678901","status":"` + status + `","lut":1}]}`
	}
	s := newSSEServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		startStream(w)
		send(w, event(doc("viewing", "")))
		send(w, event(doc("signed", "https://cdn/s.pdf")))
		<-r.Context().Done()
	})
	items := collect(fastClient(s.URL, 5*time.Second), context.Background(), docID40())
	if len(items) != 2 || items[0].st.Document == nil || items[0].st.Final() || !items[1].st.Final() {
		t.Fatalf("items = %+v", items)
	}
	if items[1].st.Document.File.Stamped != "https://cdn/s.pdf" || items[1].st.Request.Reference != docID40() {
		t.Errorf("doc = %+v", items[1].st.Document)
	}
}

func TestSSEReconnectsAfterDropHonouringRetry(t *testing.T) {
	var dropped, reconnected atomic.Int64 // UnixNano
	s := newSSEServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		startStream(w)
		switch n {
		case 1:
			send(w, "retry: 150\nid: ev-1\n"+event(reqPending))
			dropped.Store(time.Now().UnixNano())
			// return: the server drops the connection
		default:
			reconnected.Store(time.Now().UnixNano())
			send(w, "id: ev-2\n"+event(reqSigned))
			<-r.Context().Done()
		}
	})
	items := collect(fastClient(s.URL, 5*time.Second), context.Background(), "req_1")
	if len(items) != 2 || items[0].err != nil || items[1].err != nil || !items[1].st.Final() {
		t.Fatalf("items = %+v", items)
	}
	if s.conns.Load() != 2 {
		t.Fatalf("connections = %d", s.conns.Load())
	}
	s.mu.Lock()
	ids := s.lastIDs
	s.mu.Unlock()
	if ids[0] != "" || ids[1] != "ev-1" {
		t.Errorf("Last-Event-ID per connection = %q", ids)
	}
	if d := time.Duration(reconnected.Load() - dropped.Load()); d < 150*time.Millisecond {
		t.Errorf("reconnected after %v, want at least the retry: 150 ms", d)
	}
}

func TestSSEReconnectsAfterIdleTimeout(t *testing.T) {
	s := newSSEServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		startStream(w)
		if n == 1 {
			send(w, event(reqPending))
			<-r.Context().Done() // silent until the client gives up
			return
		}
		send(w, event(reqSigned))
		<-r.Context().Done()
	})
	c := fastClient(s.URL, 5*time.Second, func(cfg *Config) { cfg.StreamIdleTimeout = 200 * time.Millisecond })
	start := time.Now()
	items := collect(c, context.Background(), "req_1")
	if len(items) != 2 || items[1].err != nil || !items[1].st.Final() || s.conns.Load() != 2 {
		t.Fatalf("items = %+v, connections = %d", items, s.conns.Load())
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 3*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestSSEKeepAlivesKeepTheStream(t *testing.T) {
	s := newSSEServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		startStream(w)
		send(w, event(reqPending))
		for range 6 {
			time.Sleep(50 * time.Millisecond)
			send(w, ": ping\n")
		}
		send(w, event(reqSigned))
		<-r.Context().Done()
	})
	c := fastClient(s.URL, 5*time.Second, func(cfg *Config) { cfg.StreamIdleTimeout = 150 * time.Millisecond })
	items := collect(c, context.Background(), "req_1")
	if len(items) != 2 || s.conns.Load() != 1 {
		t.Fatalf("items = %+v, connections = %d (comments must reset the idle timer)", items, s.conns.Load())
	}
}

func TestSSEConnectTimeout(t *testing.T) {
	s := newSSEServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			<-r.Context().Done() // no headers
			return
		}
		startStream(w)
		send(w, event(reqSigned))
		<-r.Context().Done()
	})
	c := fastClient(s.URL, 150*time.Millisecond)
	items := collect(c, context.Background(), "req_1")
	if len(items) != 1 || items[0].err != nil || s.conns.Load() != 2 {
		t.Fatalf("items = %+v, connections = %d", items, s.conns.Load())
	}
}

func TestSSEStreamOutlivesTimeout(t *testing.T) {
	s := newSSEServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		startStream(w)
		for range 5 {
			send(w, event(reqPending))
			time.Sleep(60 * time.Millisecond)
		}
		send(w, event(reqSigned))
		<-r.Context().Done()
	})
	c := fastClient(s.URL, 100*time.Millisecond, func(cfg *Config) { cfg.HTTPClient = &http.Client{Timeout: 100 * time.Millisecond} })
	items := collect(c, context.Background(), "req_1")
	if len(items) != 6 || s.conns.Load() != 1 {
		t.Fatalf("items = %d, connections = %d: Timeout must not bound the stream", len(items), s.conns.Load())
	}
}

func TestSSEGivesUpAfterFailedAttempts(t *testing.T) {
	s := newSSEServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 503, `{"status":"failed","reason":"maintenance"}`)
	})
	retry := fastRetry
	retry.Attempts = 5
	items := collect(fastClient(s.URL, 5*time.Second, func(cfg *Config) { cfg.Retry = retry }), context.Background(), "req_1")
	if len(items) != 1 || !errors.Is(items[0].err, upstream.ErrUnavailable) {
		t.Fatalf("items = %+v, want one upstream.ErrUnavailable", items)
	}
	checkErrText(t, items[0].err)
	if n := s.conns.Load(); n != 5 {
		t.Errorf("connections = %d, want Config.Retry.Attempts, 5", n)
	}
}

func TestSSEFailuresCountedInARowOnly(t *testing.T) {
	// Each connection gives one event and drops: the stream keeps going
	// well past five connections.
	s := newSSEServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		startStream(w)
		if n < 8 {
			send(w, event(reqPending))
			return
		}
		send(w, event(reqSigned))
	})
	items := collect(fastClient(s.URL, 5*time.Second), context.Background(), "req_1")
	if len(items) != 8 || items[7].err != nil || !items[7].st.Final() {
		t.Fatalf("items = %d %+v", len(items), items[len(items)-1])
	}
}

func TestSSETerminalErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script func(w http.ResponseWriter, r *http.Request)
		want   error
		items  int
	}{
		{"401 expired", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 401, errExpired) }, ErrExpired, 1},
		{"400 unknown", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 400, errUnknown) }, ErrUnknownFlow, 1},
		{"401 unauthorized", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 401, `{"status":"unauthorized","reason":"bad key","type":"authorization_error"}`)
		}, upstream.ErrBadCredentials, 1},
		{"expiry inside the stream", func(w http.ResponseWriter, r *http.Request) {
			startStream(w)
			send(w, event(reqPending))
			send(w, "data: "+errExpired+"\n\n")
			<-r.Context().Done()
		}, ErrExpired, 2},
		{"JSON instead of a stream", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, errUnknown) }, ErrUnknownFlow, 1},
		{"204", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }, upstream.ErrUnavailable, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSSEServer(t, func(n int64, w http.ResponseWriter, r *http.Request) { tc.script(w, r) })
			items := collect(fastClient(s.URL, 5*time.Second), context.Background(), "req_1")
			if len(items) != tc.items {
				t.Fatalf("items = %+v", items)
			}
			last := items[len(items)-1]
			if !errors.Is(last.err, tc.want) {
				t.Fatalf("err = %v, want %v", last.err, tc.want)
			}
			checkErrText(t, last.err)
			if s.conns.Load() != 1 {
				t.Errorf("connections = %d, want 1 (not retried)", s.conns.Load())
			}
		})
	}
}

func TestSSEMalformedEventReconnects(t *testing.T) {
	s := newSSEServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		startStream(w)
		if n == 1 {
			send(w, "event: ping\ndata: keep-alive\n\n") // a named non-JSON event: ignored
			send(w, "data: {not json\n\n")
			<-r.Context().Done()
			return
		}
		send(w, event(reqSigned))
		<-r.Context().Done()
	})
	items := collect(fastClient(s.URL, 5*time.Second), context.Background(), "req_1")
	if len(items) != 1 || items[0].err != nil || !items[0].st.Final() || s.conns.Load() != 2 {
		t.Fatalf("items = %+v, connections = %d", items, s.conns.Load())
	}
}

func TestSSENamedJSONEventIsRead(t *testing.T) {
	s := newSSEServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		startStream(w)
		send(w, "event: update\n"+event(reqSigned))
		<-r.Context().Done()
	})
	items := collect(fastClient(s.URL, 5*time.Second), context.Background(), "req_1")
	if len(items) != 1 || !items[0].st.Final() {
		t.Fatalf("items = %+v", items)
	}
}

func TestSSECallerStopsAndContextEnds(t *testing.T) {
	s := newSSEServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		startStream(w)
		for {
			send(w, event(reqPending))
			select {
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	c := fastClient(s.URL, 5*time.Second)
	for _, err := range c.SSE(context.Background(), "req_1") {
		if err != nil {
			t.Fatal(err)
		}
		break
	}
	select {
	case <-s.closed:
	case <-time.After(2 * time.Second):
		t.Fatal("connection not closed when the caller stopped")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	items := collect(c, ctx, "req_1")
	if len(items) < 2 {
		t.Fatalf("items = %d", len(items))
	}
	for _, it := range items {
		if it.err != nil {
			t.Fatalf("ctx end yielded an error: %v", it.err)
		}
	}
	select {
	case <-s.closed:
	case <-time.After(2 * time.Second):
		t.Fatal("connection not closed when the context ended")
	}
}

func TestSSEContextEndsDuringBackoff(t *testing.T) {
	s := newSSEServer(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		startStream(w)
		send(w, "retry: 10000\n"+event(reqPending))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	items := collect(fastClient(s.URL, 5*time.Second), ctx, "req_1")
	if len(items) != 1 || time.Since(start) > 2*time.Second {
		t.Fatalf("items = %+v after %v", items, time.Since(start))
	}
}

func TestSSEOnV1(t *testing.T) {
	c := fastClient("http://127.0.0.1:1", time.Second, v1)
	items := collect(c, context.Background(), "req_1")
	if len(items) != 1 || !errors.Is(items[0].err, upstream.ErrInvalidRequest) {
		t.Fatalf("items = %+v", items)
	}
	items = collect(fastClient("http://127.0.0.1:1", time.Second), context.Background(), " ")
	if len(items) != 1 || !errors.Is(items[0].err, upstream.ErrInvalidRequest) {
		t.Fatalf("empty id: items = %+v", items)
	}
}

func TestSSEReconnectDelay(t *testing.T) {
	r := upstream.Retry{Attempts: 5, Base: 100 * time.Millisecond, Max: time.Second}
	for _, tc := range []struct {
		failures    int
		serverRetry time.Duration
		want        time.Duration
	}{
		{1, 0, 100 * time.Millisecond},
		{3, 0, 400 * time.Millisecond},
		{30, 0, time.Second},
		{1, 300 * time.Millisecond, 300 * time.Millisecond}, // never sooner than retry:
		{3, 300 * time.Millisecond, 400 * time.Millisecond},
		{9, 5 * time.Second, 5 * time.Second}, // retry: above the cap wins
	} {
		if got := reconnectDelay(r, tc.failures, tc.serverRetry); got != tc.want {
			t.Errorf("reconnectDelay(%d, %v) = %v, want %v", tc.failures, tc.serverRetry, got, tc.want)
		}
	}
}
