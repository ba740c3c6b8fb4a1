package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testSim is a minimal simulator: an echo endpoint that reports what it saw,
// a token endpoint that reads its body, and one action.
type testSim struct {
	name  string
	calls atomic.Int64 // requests that reached a simulator handler

	mu      sync.Mutex
	lastRun map[string]string
}

func (s *testSim) Name() string  { return s.name }
func (s *testSim) Title() string { return "Test " + s.name }

func (s *testSim) Routes(r *Routes) {
	r.HandleFunc("GET /echo/{id}", func(w http.ResponseWriter, r *http.Request) {
		s.calls.Add(1)
		writeJSON(w, map[string]string{
			"path":    r.URL.Path,
			"escaped": r.URL.EscapedPath(),
			"id":      r.PathValue("id"),
			"pattern": r.Pattern,
		})
	})
	r.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) {
		s.calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		writeJSON(w, map[string]string{"access_token": "tok", "body": string(body)})
	})
	r.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) {
		s.calls.Add(1)
		writeJSON(w, map[string]string{"ok": "yes"})
	})
}

func (s *testSim) Actions() []Action {
	return []Action{{
		Name:  "complete",
		Label: "Complete session",
		Help:  "Marks a session as done.",
		Fields: []Field{
			{Name: "ref", Label: "Reference", Required: true},
			{Name: "outcome", Label: "Outcome", Options: []string{"approved", "declined"}},
		},
		Run: func(ctx context.Context, in map[string]string) (string, error) {
			s.mu.Lock()
			s.lastRun = in
			s.mu.Unlock()
			return "completed " + in["ref"], nil
		},
	}}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// setup returns a harness with testSim "test" mounted at /sandbox, a server
// for it, and a channel that receives once per request after the harness's
// ServeHTTP has returned, so tests can prove no handler is left running.
func setup(t *testing.T) (*Harness, *testSim, *httptest.Server, <-chan struct{}) {
	t.Helper()
	h := New("/sandbox")
	sim := &testSim{name: "test"}
	if err := h.Register(sim); err != nil {
		t.Fatal(err)
	}
	returned := make(chan struct{}, 1000)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { returned <- struct{}{} }()
		h.ServeHTTP(w, r)
	}))
	// srv.Close waits for running handlers, so if a fault ever failed to
	// notice its client leaving, the test would deadlock instead of failing.
	// Cancelling every request context first (cleanups run last-in
	// first-out) releases such a handler.
	base, cancel := context.WithCancel(context.Background())
	srv.Config.BaseContext = func(net.Listener) context.Context { return base }
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(cancel)
	return h, sim, srv, returned
}

func mustSet(t *testing.T, h *Harness, endpoint string, f Fault) {
	t.Helper()
	if err := h.SetFault("test", endpoint, f); err != nil {
		t.Fatal(err)
	}
}

// get fetches url and returns the status and body, failing the test on a
// transport error.
func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func waitReturned(t *testing.T, returned <-chan struct{}) {
	t.Helper()
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("server handler still running 5s after the client gave up")
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestParseFault(t *testing.T) {
	tests := []struct {
		kind, latency, status, times string
		want                         Fault
		wantField                    string // "" = no error
	}{
		{"latency", "800", "", "", Fault{Kind: FaultLatency, Latency: 800 * time.Millisecond}, ""},
		{" Latency ", " 1 ", "999", "2", Fault{Kind: FaultLatency, Latency: time.Millisecond, Times: 2}, ""}, // status ignored
		{"latency", "60000", "", "0", Fault{Kind: FaultLatency, Latency: time.Minute}, ""},
		{"status", "", "503", "", Fault{Kind: FaultStatus, Status: 503}, ""},
		{"status", "abc", "200", "10000", Fault{Kind: FaultStatus, Status: 200, Times: 10000}, ""}, // latency ignored
		{"hang", "5", "5", "", Fault{Kind: FaultHang}, ""},
		{"malformed", "", "", "1", Fault{Kind: FaultMalformed, Times: 1}, ""},
		{"RESET", "", "", "", Fault{Kind: FaultReset}, ""},

		{"", "", "", "", Fault{}, FieldKind},
		{"explode", "", "", "", Fault{}, FieldKind},
		{"latency", "", "", "", Fault{}, FieldLatencyMS},
		{"latency", "0", "", "", Fault{}, FieldLatencyMS},
		{"latency", "60001", "", "", Fault{}, FieldLatencyMS},
		{"latency", "1.5", "", "", Fault{}, FieldLatencyMS},
		{"latency", "-5", "", "", Fault{}, FieldLatencyMS},
		{"latency", "99999999999999999999999", "", "", Fault{}, FieldLatencyMS},
		{"status", "", "", "", Fault{}, FieldStatus},
		{"status", "", "100", "", Fault{}, FieldStatus},
		{"status", "", "600", "", Fault{}, FieldStatus},
		{"status", "", "5O3", "", Fault{}, FieldStatus},
		{"hang", "", "", "-1", Fault{}, FieldTimes},
		{"hang", "", "", "10001", Fault{}, FieldTimes},
		{"hang", "", "", "twice", Fault{}, FieldTimes},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%q/%q/%q/%q", tt.kind, tt.latency, tt.status, tt.times)
		t.Run(name, func(t *testing.T) {
			got, err := ParseFault(tt.kind, tt.latency, tt.status, tt.times)
			if tt.wantField == "" {
				if err != nil || got != tt.want {
					t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.wantField || ve.Message == "" {
				t.Fatalf("got %+v, %v; want a ValidationError for %q", got, err, tt.wantField)
			}
			if got != (Fault{}) {
				t.Errorf("got %+v alongside an error", got)
			}
		})
	}
}

func TestSetFaultValidation(t *testing.T) {
	h, _, _, _ := setup(t)
	tests := []struct {
		name      string
		sim, ep   string
		f         Fault
		wantIs    error
		wantField string
	}{
		{"ok specific", "test", "GET /ping", Fault{Kind: FaultHang}, nil, ""},
		{"ok wildcard", "test", "*", Fault{Kind: FaultStatus, Status: 500, Times: 3}, nil, ""},
		{"ok non-canonical spacing", "test", "POST \t /oauth/token", Fault{Kind: FaultReset}, nil, ""},
		{"unknown sim", "nope", "GET /ping", Fault{Kind: FaultHang}, ErrUnknownSimulator, ""},
		{"unknown endpoint", "test", "GET /pong", Fault{Kind: FaultHang}, ErrUnknownEndpoint, ""},
		{"wrong method", "test", "POST /ping", Fault{Kind: FaultHang}, ErrUnknownEndpoint, ""},
		{"empty kind", "test", "*", Fault{}, nil, FieldKind},
		{"unknown kind", "test", "*", Fault{Kind: "boom"}, nil, FieldKind},
		{"zero latency", "test", "*", Fault{Kind: FaultLatency}, nil, FieldLatencyMS},
		{"sub-ms latency", "test", "*", Fault{Kind: FaultLatency, Latency: time.Microsecond}, nil, FieldLatencyMS},
		{"latency too long", "test", "*", Fault{Kind: FaultLatency, Latency: 61 * time.Second}, nil, FieldLatencyMS},
		{"status 1xx", "test", "*", Fault{Kind: FaultStatus, Status: 101}, nil, FieldStatus},
		{"status 600", "test", "*", Fault{Kind: FaultStatus, Status: 600}, nil, FieldStatus},
		{"latency on status", "test", "*", Fault{Kind: FaultStatus, Status: 500, Latency: time.Second}, nil, FieldLatencyMS},
		{"status on hang", "test", "*", Fault{Kind: FaultHang, Status: 500}, nil, FieldStatus},
		{"negative times", "test", "*", Fault{Kind: FaultReset, Times: -1}, nil, FieldTimes},
		// Validation comes first, so an invalid fault is reported as such
		// even for an unknown simulator.
		{"invalid and unknown", "nope", "*", Fault{Kind: "boom"}, nil, FieldKind},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := h.SetFault(tt.sim, tt.ep, tt.f)
			switch {
			case tt.wantIs != nil:
				if !errors.Is(err, tt.wantIs) {
					t.Fatalf("got %v, want %v", err, tt.wantIs)
				}
			case tt.wantField != "":
				var ve *ValidationError
				if !errors.As(err, &ve) || ve.Field != tt.wantField {
					t.Fatalf("got %v, want ValidationError for %q", err, tt.wantField)
				}
			case err != nil:
				t.Fatal(err)
			}
		})
	}
}

func TestFaultString(t *testing.T) {
	tests := []struct {
		f    Fault
		want string
	}{
		{Fault{Kind: FaultLatency, Latency: 800 * time.Millisecond, Times: 2}, "latency 800ms (next 2)"},
		{Fault{Kind: FaultLatency, Latency: 1500 * time.Millisecond}, "latency 1.5s"},
		{Fault{Kind: FaultStatus, Status: 503}, "status 503 Service Unavailable"},
		{Fault{Kind: FaultStatus, Status: 599}, "status 599"},
		{Fault{Kind: FaultHang, Times: 1}, "hang (next 1)"},
		{Fault{Kind: FaultMalformed}, "malformed"},
		{Fault{Kind: FaultReset}, "reset"},
		{Fault{}, "none"},
	}
	for _, tt := range tests {
		if got := tt.f.String(); got != tt.want {
			t.Errorf("%+v: got %q, want %q", tt.f, got, tt.want)
		}
	}
}

func TestRegisterErrors(t *testing.T) {
	ok := func(r *Routes) { r.HandleFunc("GET /x", func(http.ResponseWriter, *http.Request) {}) }
	noop := func(context.Context, map[string]string) (string, error) { return "", nil }
	tests := []struct {
		name    string
		sim     Simulator
		wantErr string
	}{
		{"empty name", &fakeSim{name: "", routes: ok}, "invalid simulator name"},
		{"uppercase", &fakeSim{name: "OneFlow", routes: ok}, "invalid simulator name"},
		{"dash", &fakeSim{name: "one-flow", routes: ok}, "invalid simulator name"},
		{"slash", &fakeSim{name: "a/b", routes: ok}, "invalid simulator name"},
		{"duplicate", &fakeSim{name: "test", routes: ok}, "registered twice"},
		{"relative path", &fakeSim{name: "bad", routes: func(r *Routes) { r.HandleFunc("GET x", ok404) }}, "without a host"},
		{"host", &fakeSim{name: "bad", routes: func(r *Routes) { r.HandleFunc("GET example.com/x", ok404) }}, "without a host"},
		{"nil handler", &fakeSim{name: "bad", routes: func(r *Routes) { r.Handle("GET /x", nil) }}, "nil handler"},
		{"bad method", &fakeSim{name: "bad", routes: func(r *Routes) { r.HandleFunc("G(T /x", ok404) }}, "G(T /x"},
		{"bad wildcard", &fakeSim{name: "bad", routes: func(r *Routes) { r.HandleFunc("GET /x/{", ok404) }}, "GET /x/{"},
		{"same pattern twice", &fakeSim{name: "bad", routes: func(r *Routes) {
			r.HandleFunc("GET /x", ok404)
			r.HandleFunc("GET  /x", ok404)
		}}, "registered twice"},
		{"conflicting patterns", &fakeSim{name: "bad", routes: func(r *Routes) {
			r.HandleFunc("GET /x/{a}", ok404)
			r.HandleFunc("GET /x/{b}", ok404)
		}}, "conflicts"},
		{"action without name", &fakeSim{name: "bad", routes: ok, actions: []Action{{Run: noop}}}, "empty name"},
		{"action without run", &fakeSim{name: "bad", routes: ok, actions: []Action{{Name: "a"}}}, "no Run"},
		{"duplicate action", &fakeSim{name: "bad", routes: ok, actions: []Action{{Name: "a", Run: noop}, {Name: "a", Run: noop}}}, "declared twice"},
		{"duplicate field", &fakeSim{name: "bad", routes: ok, actions: []Action{{Name: "a", Run: noop, Fields: []Field{{Name: "f"}, {Name: "f"}}}}}, "duplicate field"},
	}
	h, _, srv, _ := setup(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := h.Register(tt.sim)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
	// Failed registrations left nothing behind, and the name is still free.
	if n := len(h.Snapshot()); n != 1 {
		t.Fatalf("%d simulators after failed registrations, want 1", n)
	}
	if code, _ := get(t, srv.Client(), srv.URL+"/sandbox/bad/x"); code != http.StatusNotFound {
		t.Fatalf("half-registered simulator answered %d", code)
	}
	if err := h.Register(&fakeSim{name: "bad", routes: ok}); err != nil {
		t.Fatal(err)
	}
}

func ok404(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }

type fakeSim struct {
	name    string
	routes  func(*Routes)
	actions []Action
}

func (s *fakeSim) Name() string      { return s.name }
func (s *fakeSim) Title() string     { return "" }
func (s *fakeSim) Routes(r *Routes)  { s.routes(r) }
func (s *fakeSim) Actions() []Action { return s.actions }

func TestRoutesAfterRegisterPanics(t *testing.T) {
	var kept *Routes
	h := New("/sandbox")
	if err := h.Register(&fakeSim{name: "x", routes: func(r *Routes) { kept = r }}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	kept.HandleFunc("GET /late", ok404)
}

func TestNewNormalisesPrefix(t *testing.T) {
	for in, want := range map[string]string{"/sandbox": "/sandbox", "sandbox/": "/sandbox", "/a/b/": "/a/b", "": "", "/": ""} {
		if got := New(in).Prefix(); got != want {
			t.Errorf("New(%q).Prefix() = %q, want %q", in, got, want)
		}
	}
	for _, bad := range []string{"/a//b", "/a/../b", "/{x}", "/a b", "/a/./b"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New(%q) did not panic", bad)
				}
			}()
			New(bad)
		}()
	}
}

func TestRouting(t *testing.T) {
	_, sim, srv, _ := setup(t)
	c := srv.Client()

	// The simulator sees paths relative to its root, and path values work.
	code, body := get(t, c, srv.URL+"/sandbox/test/echo/42")
	var got map[string]string
	if err := json.Unmarshal([]byte(body), &got); err != nil || code != 200 {
		t.Fatalf("%d %s %v", code, body, err)
	}
	want := map[string]string{"path": "/echo/42", "escaped": "/echo/42", "id": "42", "pattern": "GET /echo/{id}"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}

	// Escaped slashes survive the stripping (RawPath is stripped too).
	_, body = get(t, c, srv.URL+"/sandbox/test/echo/a%2Fb")
	got = nil
	_ = json.Unmarshal([]byte(body), &got)
	if got["id"] != "a/b" || got["escaped"] != "/echo/a%2Fb" {
		t.Errorf("escaped path: got %v", got)
	}

	noRedirect := *c
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, tt := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/sandbox/nope/echo/1", http.StatusNotFound},  // unknown simulator
		{"GET", "/sandbox/Test/echo/1", http.StatusNotFound},  // names are exact
		{"GET", "/sandbox/", http.StatusNotFound},             // no simulator named
		{"GET", "/sandbox", http.StatusNotFound},              // outside the prefix
		{"GET", "/other/test/echo/1", http.StatusNotFound},    // outside the prefix
		{"GET", "/sandbox/test/nothing", http.StatusNotFound}, // unknown endpoint
		{"GET", "/sandbox/test", http.StatusNotFound},         // simulator root not routed
		{"GET", "/sandbox/test/oauth/token", 405},             // ServeMux's own 405
		{"GET", "/sandbox/test/x/../echo/1", 0},               // redirect, cleaned with the full path
		{"POST", "/sandbox/test/oauth/token", http.StatusOK},  // sanity
		{"GET", "/sandbox/test/echo/1/extra", http.StatusNotFound},
	} {
		req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
		req.URL.Opaque = tt.path // keep ".." for the cleaning case
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if tt.want == 0 { // ServeMux's redirect code varies across Go versions
			if resp.StatusCode/100 != 3 {
				t.Errorf("%s %s: got %d, want a redirect", tt.method, tt.path, resp.StatusCode)
			}
			if loc := resp.Header.Get("Location"); loc != "/sandbox/test/echo/1" {
				t.Errorf("redirect to %q, want the full cleaned path", loc)
			}
		} else if resp.StatusCode != tt.want {
			t.Errorf("%s %s: got %d, want %d", tt.method, tt.path, resp.StatusCode, tt.want)
		}
	}
	if n := sim.calls.Load(); n != 3 {
		t.Errorf("simulator handlers ran %d times, want 3", n)
	}
}

func TestEmptyPrefix(t *testing.T) {
	h := New("")
	if err := h.Register(&testSim{name: "test"}); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/test/echo/7", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"path":"/echo/7"`) {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if base := h.Snapshot()[0].Base; base != "/test/" {
		t.Errorf("Base = %q", base)
	}
}

func TestFaultLatency(t *testing.T) {
	h, sim, srv, _ := setup(t)
	const latency = 50 * time.Millisecond
	mustSet(t, h, "GET /ping", Fault{Kind: FaultLatency, Latency: latency})

	start := time.Now()
	resp, err := srv.Client().Get(srv.URL + "/sandbox/test/ping")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if elapsed := time.Since(start); elapsed < latency {
		t.Errorf("request took %v, want at least %v", elapsed, latency)
	}
	// After the delay the request proceeds normally.
	if resp.StatusCode != 200 || sim.calls.Load() != 1 {
		t.Errorf("status %d, %d handler calls", resp.StatusCode, sim.calls.Load())
	}
	if got := resp.Header.Get("X-Sandbox-Fault"); got != "latency 50ms" {
		t.Errorf("X-Sandbox-Fault = %q", got)
	}
}

// A client that gives up during the delay frees the handler at once, even for
// a POST whose body the simulator never got to read.
func TestFaultLatencyStopsWhenClientLeaves(t *testing.T) {
	h, sim, srv, returned := setup(t)
	mustSet(t, h, "POST /oauth/token", Fault{Kind: FaultLatency, Latency: 60 * time.Second})
	c := &http.Client{Timeout: 100 * time.Millisecond}
	_, err := c.Post(srv.URL+"/sandbox/test/oauth/token", "application/x-www-form-urlencoded", strings.NewReader("grant_type=client_credentials"))
	if !isTimeout(err) {
		t.Fatalf("got %v, want a timeout", err)
	}
	waitReturned(t, returned)
	if n := sim.calls.Load(); n != 0 {
		t.Errorf("simulator ran %d times for an abandoned request", n)
	}
}

// The body is buffered for latency faults; the simulator must still get it.
func TestFaultLatencyKeepsBody(t *testing.T) {
	h, _, srv, _ := setup(t)
	mustSet(t, h, "POST /oauth/token", Fault{Kind: FaultLatency, Latency: time.Millisecond})
	resp, err := srv.Client().Post(srv.URL+"/sandbox/test/oauth/token", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || got["body"] != "hello" {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestFaultStatus(t *testing.T) {
	h, sim, srv, _ := setup(t)
	mustSet(t, h, "GET /ping", Fault{Kind: FaultStatus, Status: 503})
	resp, err := srv.Client().Get(srv.URL + "/sandbox/test/ping")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 503 || body["error"] != "sandbox: injected fault" || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("got %d %v %q", resp.StatusCode, body, resp.Header.Get("Content-Type"))
	}
	if sim.calls.Load() != 0 {
		t.Error("simulator ran despite the fault")
	}

	// A status that forbids a body still works.
	mustSet(t, h, "GET /ping", Fault{Kind: FaultStatus, Status: 204})
	if code, b := get(t, srv.Client(), srv.URL+"/sandbox/test/ping"); code != 204 || b != "" {
		t.Errorf("got %d %q", code, b)
	}
}

func TestFaultMalformed(t *testing.T) {
	h, _, srv, _ := setup(t)
	mustSet(t, h, "GET /ping", Fault{Kind: FaultMalformed})
	resp, err := srv.Client().Get(srv.URL + "/sandbox/test/ping")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("got %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var v any
	if err := json.NewDecoder(resp.Body).Decode(&v); err == nil {
		t.Errorf("malformed body decoded fine: %v", v)
	}
}

func TestFaultHang(t *testing.T) {
	for _, method := range []string{"GET /ping", "POST /oauth/token"} {
		t.Run(method, func(t *testing.T) {
			h, sim, srv, returned := setup(t)
			mustSet(t, h, method, Fault{Kind: FaultHang})
			m, path, _ := strings.Cut(method, " ")
			var body io.Reader
			if m == "POST" { // unread bodies are the tricky case, see readAhead
				body = strings.NewReader("a=b")
			}
			req, _ := http.NewRequest(m, srv.URL+"/sandbox/test"+path, body)
			c := &http.Client{Timeout: 100 * time.Millisecond}
			start := time.Now()
			_, err := c.Do(req)
			if !isTimeout(err) {
				t.Fatalf("got %v, want a timeout", err)
			}
			if time.Since(start) < 100*time.Millisecond {
				t.Error("returned before the client's timeout")
			}
			// The hanging handler notices the client left and returns.
			waitReturned(t, returned)
			if sim.calls.Load() != 0 {
				t.Error("simulator ran despite the fault")
			}
		})
	}
}

func TestFaultReset(t *testing.T) {
	h, sim, srv, returned := setup(t)
	mustSet(t, h, "POST /oauth/token", Fault{Kind: FaultReset})
	resp, err := srv.Client().Post(srv.URL+"/sandbox/test/oauth/token", "text/plain", strings.NewReader("x"))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got %d, want a transport error", resp.StatusCode)
	}
	waitReturned(t, returned)
	if sim.calls.Load() != 0 {
		t.Error("simulator ran despite the fault")
	}
	// The server is fine afterwards.
	h.ClearAll()
	if code, _ := get(t, srv.Client(), srv.URL+"/sandbox/test/ping"); code != 200 {
		t.Errorf("after reset: %d", code)
	}
}

func TestFaultTimesClearsItself(t *testing.T) {
	h, _, srv, _ := setup(t)
	mustSet(t, h, "GET /ping", Fault{Kind: FaultStatus, Status: 502, Times: 2})
	var codes []int
	for range 3 {
		code, _ := get(t, srv.Client(), srv.URL+"/sandbox/test/ping")
		codes = append(codes, code)
		if len(codes) == 1 {
			if f := endpointView(t, h, "GET /ping").Fault; f == nil || f.Times != 1 || f.String() != "status 502 Bad Gateway (next 1)" {
				t.Errorf("after one request the snapshot shows %v", f)
			}
		}
	}
	if fmt.Sprint(codes) != "[502 502 200]" {
		t.Errorf("got %v", codes)
	}
	if ev := endpointView(t, h, "GET /ping"); ev.Fault != nil || ev.Hits != 3 {
		t.Errorf("got %+v, want no fault and 3 hits", ev)
	}
}

// n concurrent requests consume exactly n uses of a limited fault.
func TestFaultTimesConcurrent(t *testing.T) {
	h, _, srv, _ := setup(t)
	mustSet(t, h, "*", Fault{Kind: FaultStatus, Status: 500, Times: 20})
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			resp, err := srv.Client().Get(srv.URL + "/sandbox/test/ping")
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode == 500 {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if failed.Load() != 20 {
		t.Errorf("%d requests failed, want 20", failed.Load())
	}
}

func TestWildcardPrecedence(t *testing.T) {
	h, _, srv, _ := setup(t)
	c := srv.Client()
	ping, echo := srv.URL+"/sandbox/test/ping", srv.URL+"/sandbox/test/echo/1"

	mustSet(t, h, "*", Fault{Kind: FaultStatus, Status: 500})
	mustSet(t, h, "GET /ping", Fault{Kind: FaultStatus, Status: 418})
	if code, _ := get(t, c, ping); code != 418 {
		t.Errorf("specific fault: got %d", code)
	}
	if code, _ := get(t, c, echo); code != 500 {
		t.Errorf("wildcard fault: got %d", code)
	}
	h.ClearFault("test", "GET /ping")
	if code, _ := get(t, c, ping); code != 500 {
		t.Errorf("wildcard after clearing the specific fault: got %d", code)
	}
	h.ClearFault("test", "*")
	if code, _ := get(t, c, ping); code != 200 {
		t.Errorf("after clearing both: got %d", code)
	}

	// A limited wildcard is used up only by endpoints it actually hits.
	mustSet(t, h, "*", Fault{Kind: FaultStatus, Status: 500, Times: 1})
	mustSet(t, h, "GET /ping", Fault{Kind: FaultStatus, Status: 418})
	get(t, c, ping)
	if code, _ := get(t, c, echo); code != 500 {
		t.Errorf("limited wildcard consumed by an endpoint with its own fault: got %d", code)
	}
	if code, _ := get(t, c, echo); code != 200 {
		t.Errorf("limited wildcard not cleared: got %d", code)
	}

	// ClearAll and unknown names.
	mustSet(t, h, "*", Fault{Kind: FaultHang})
	h.ClearFault("nope", "*")
	h.ClearFault("test", "GET /nope")
	h.ClearAll()
	if code, _ := get(t, c, ping); code != 200 {
		t.Errorf("after ClearAll: got %d", code)
	}
}

func TestConcurrentFaultsAndRequests(t *testing.T) {
	h, _, srv, _ := setup(t)
	c := srv.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	faults := []Fault{
		{Kind: FaultStatus, Status: 503, Times: 2},
		{Kind: FaultLatency, Latency: time.Millisecond},
		{Kind: FaultMalformed, Times: 1},
	}
	for i := range 4 {
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				ep := []string{"*", "GET /ping", "GET /echo/{id}"}[(i+n)%3]
				if err := h.SetFault("test", ep, faults[n%len(faults)]); err != nil {
					t.Error(err)
					return
				}
				_ = h.Snapshot()
				if n%5 == 0 {
					h.ClearFault("test", ep)
				}
				if n%17 == 0 {
					h.ClearAll()
				}
			}
		})
		wg.Go(func() {
			for ctx.Err() == nil {
				for _, p := range []string{"/sandbox/test/ping", "/sandbox/test/echo/9"} {
					resp, err := c.Get(srv.URL + p)
					if err != nil {
						t.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		})
	}
	wg.Go(func() {
		for ctx.Err() == nil {
			_ = h.Register(&testSim{name: fmt.Sprintf("late%d", time.Now().UnixNano()%1000)})
		}
	})
	wg.Wait()
}

func TestRun(t *testing.T) {
	h, sim, _, _ := setup(t)
	ctx := context.Background()

	msg, err := h.Run(ctx, "test", "complete", map[string]string{"ref": "  abc ", "outcome": "approved", "csrf": "zzz"})
	if err != nil || msg != "completed abc" {
		t.Fatalf("got %q, %v", msg, err)
	}
	sim.mu.Lock()
	got := fmt.Sprint(sim.lastRun)
	sim.mu.Unlock()
	if got != "map[outcome:approved ref:abc]" {
		t.Errorf("action got %s, want only its declared, trimmed fields", got)
	}

	// Optional fields may be left out; they arrive as "".
	if _, err := h.Run(ctx, "test", "complete", map[string]string{"ref": "x"}); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name, sim, action string
		in                map[string]string
		wantIs            error
		wantField         string
	}{
		{"missing required", "test", "complete", map[string]string{"outcome": "approved"}, nil, "ref"},
		{"blank required", "test", "complete", map[string]string{"ref": "   "}, nil, "ref"},
		{"nil input", "test", "complete", nil, nil, "ref"},
		{"not an option", "test", "complete", map[string]string{"ref": "x", "outcome": "maybe"}, nil, "outcome"},
		{"unknown action", "test", "explode", nil, ErrUnknownAction, ""},
		{"unknown simulator", "nope", "complete", nil, ErrUnknownSimulator, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.Run(ctx, tt.sim, tt.action, tt.in)
			if tt.wantIs != nil {
				if !errors.Is(err, tt.wantIs) {
					t.Fatalf("got %v, want %v", err, tt.wantIs)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.wantField {
				t.Fatalf("got %v, want ValidationError for %q", err, tt.wantField)
			}
		})
	}
}

func TestSnapshot(t *testing.T) {
	h := New("/sandbox")
	for _, name := range []string{"zeta", "alpha"} {
		if err := h.Register(&testSim{name: name}); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.SetFault("alpha", "GET /ping", Fault{Kind: FaultLatency, Latency: 800 * time.Millisecond, Times: 2}); err != nil {
		t.Fatal(err)
	}
	if err := h.SetFault("zeta", "*", Fault{Kind: FaultReset}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/sandbox/alpha/echo/1", nil))
	}

	snap := h.Snapshot()
	if len(snap) != 2 || snap[0].Name != "alpha" || snap[1].Name != "zeta" {
		t.Fatalf("got %+v", snap)
	}
	a := snap[0]
	if a.Title != "Test alpha" || a.Base != "/sandbox/alpha/" || a.Wildcard != nil {
		t.Errorf("got %+v", a)
	}
	var eps []string
	for _, e := range a.Endpoints {
		eps = append(eps, fmt.Sprintf("%s hits=%d fault=%v", e.Pattern, e.Hits, e.Fault))
	}
	want := "[GET /echo/{id} hits=2 fault=<nil> POST /oauth/token hits=0 fault=<nil> GET /ping hits=0 fault=latency 800ms (next 2)]"
	if fmt.Sprint(eps) != want {
		t.Errorf("endpoints:\n got %v\nwant %s", eps, want)
	}
	if len(a.Actions) != 1 {
		t.Fatalf("actions: %+v", a.Actions)
	}
	act := a.Actions[0]
	if act.Name != "complete" || act.Label != "Complete session" || act.Help == "" || len(act.Fields) != 2 ||
		!act.Fields[0].Required || act.Fields[1].Options[1] != "declined" {
		t.Errorf("action: %+v", act)
	}
	if w := snap[1].Wildcard; w == nil || w.Kind != FaultReset {
		t.Errorf("zeta wildcard: %v", w)
	}

	// A snapshot is a copy: editing it changes nothing in the harness.
	a.Endpoints[2].Fault.Times = 99
	act.Fields[1].Options[1] = "hacked"
	snap[1].Wildcard.Kind = FaultHang
	again := h.Snapshot()
	if again[0].Endpoints[2].Fault.Times != 2 || again[0].Actions[0].Fields[1].Options[1] != "declined" || again[1].Wildcard.Kind != FaultReset {
		t.Error("snapshot shares state with the harness")
	}
}

func endpointView(t *testing.T, h *Harness, pattern string) EndpointView {
	t.Helper()
	for _, s := range h.Snapshot() {
		for _, e := range s.Endpoints {
			if s.Name == "test" && e.Pattern == pattern {
				return e
			}
		}
	}
	t.Fatalf("no endpoint %q", pattern)
	return EndpointView{}
}

func FuzzParseFault(f *testing.F) {
	f.Add("latency", "800", "", "2")
	f.Add("status", "", "503", "")
	f.Add("hang", "", "", "0")
	f.Add("RESET", "x", "y", " 1 ")
	f.Add("malformed", "-1", "99999999999999999999", "1e3")
	f.Add("", "", "", "")
	f.Add("latency\x00", "\xff", "０", "+5")
	f.Fuzz(func(t *testing.T, kind, latency, status, times string) {
		got, err := ParseFault(kind, latency, status, times)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field == "" || ve.Message == "" {
				t.Fatalf("error %v is not a useful ValidationError", err)
			}
			if len(ve.Message) > 200 {
				t.Fatalf("message too long for the page: %q", ve.Message)
			}
			return
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("ParseFault accepted %+v, which fails Validate: %v", got, err)
		}
		if got.String() == "" {
			t.Fatal("empty description")
		}
	})
}
