package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// FaultKind names one way an upstream can misbehave.
type FaultKind string

const (
	// FaultLatency delays the request, which then proceeds normally.
	FaultLatency FaultKind = "latency"
	// FaultStatus answers Fault.Status with a small JSON error body.
	FaultStatus FaultKind = "status"
	// FaultHang never answers: it waits until the client gives up.
	FaultHang FaultKind = "hang"
	// FaultMalformed answers 200 with truncated JSON.
	FaultMalformed FaultKind = "malformed"
	// FaultReset closes the connection without answering.
	FaultReset FaultKind = "reset"
)

// FaultKinds lists every kind in the order the sandbox page offers them.
// It returns a fresh slice so callers may not corrupt it.
func FaultKinds() []FaultKind {
	return []FaultKind{FaultLatency, FaultStatus, FaultHang, FaultMalformed, FaultReset}
}

// Limits enforced by Fault.Validate. They are deliberately generous: they
// exist to catch typos (800 seconds instead of 800 ms), not to restrict tests.
const (
	MinLatency = time.Millisecond
	MaxLatency = 60 * time.Second
	// MinStatus is 200, not 100: net/http sends a 1xx from WriteHeader as an
	// informational response and then an implicit 200, so an injected "100"
	// would silently reach the client as a success.
	MinStatus = 200
	MaxStatus = 599
	MaxTimes  = 10000
)

// Form field names used in ValidationError.Field for fault errors. They are
// the names the sandbox page should give its inputs so errors land next to
// the right one.
const (
	FieldKind      = "kind"
	FieldLatencyMS = "latency_ms"
	FieldStatus    = "status"
	FieldTimes     = "times"
)

// A Fault is injected into matching requests instead of (or, for latency,
// before) the simulator's own handler.
type Fault struct {
	Kind    FaultKind
	Latency time.Duration // FaultLatency only: 1ms..60s
	Status  int           // FaultStatus only: 200..599
	// Times is 0 to keep the fault until it is cleared, or n > 0 to affect
	// only the next n matching requests, after which it clears itself. In a
	// Snapshot it is the number of requests still to be affected.
	Times int
}

// malformedBody is valid-looking JSON cut off mid-token, so a client's decoder
// fails the way it would on a truncated upstream response.
const malformedBody = `{"success": tru`

// injectedBody is what a FaultStatus response carries.
const injectedBody = `{"error":"sandbox: injected fault"}`

// Validate reports whether f is a fault the harness can inject. Values that
// only make sense for another kind are rejected rather than ignored, so a
// test that writes Fault{Kind: FaultStatus, Latency: time.Second} learns it
// is not getting what it asked for.
func (f Fault) Validate() error {
	switch f.Kind {
	case FaultLatency:
		if f.Latency < MinLatency || f.Latency > MaxLatency {
			return &ValidationError{FieldLatencyMS, fmt.Sprintf("latency must be between %d and %d ms", MinLatency.Milliseconds(), MaxLatency.Milliseconds())}
		}
	case FaultStatus:
		if f.Status < MinStatus || f.Status > MaxStatus {
			return &ValidationError{FieldStatus, fmt.Sprintf("status must be an HTTP status code between %d and %d", MinStatus, MaxStatus)}
		}
	case FaultHang, FaultMalformed, FaultReset:
	case "":
		return &ValidationError{FieldKind, "choose a fault kind"}
	default:
		return &ValidationError{FieldKind, fmt.Sprintf("unknown fault kind %q; choose one of %s", clip(string(f.Kind), 20), kindList())}
	}
	if f.Kind != FaultLatency && f.Latency != 0 {
		return &ValidationError{FieldLatencyMS, "latency only applies to latency faults"}
	}
	if f.Kind != FaultStatus && f.Status != 0 {
		return &ValidationError{FieldStatus, "a status code only applies to status faults"}
	}
	if f.Times < 0 || f.Times > MaxTimes {
		return &ValidationError{FieldTimes, fmt.Sprintf("times must be between 0 (until cleared) and %d", MaxTimes)}
	}
	return nil
}

// String describes f for the sandbox page, e.g. "latency 800ms (next 2)".
func (f Fault) String() string {
	var s string
	switch f.Kind {
	case FaultLatency:
		s = "latency " + f.Latency.String()
	case FaultStatus:
		s = "status " + strconv.Itoa(f.Status)
		if t := http.StatusText(f.Status); t != "" {
			s += " " + t
		}
	case "":
		s = "none"
	default:
		s = string(f.Kind)
	}
	if f.Times > 0 {
		s += fmt.Sprintf(" (next %d)", f.Times)
	}
	return s
}

// ParseFault builds a Fault from the sandbox page's form values. Inputs that
// do not apply to the chosen kind are ignored, because the form posts every
// field whatever kind is selected. Errors are *ValidationError with a message
// meant for a human; ParseFault never panics, and a Fault it accepts always
// passes Validate.
func ParseFault(kind, latencyMS, status, times string) (Fault, error) {
	f := Fault{Kind: FaultKind(strings.ToLower(strings.TrimSpace(kind)))}
	switch f.Kind {
	case FaultLatency:
		ms, err := parseInt(FieldLatencyMS, latencyMS, "latency (ms)",
			int(MinLatency.Milliseconds()), int(MaxLatency.Milliseconds()))
		if err != nil {
			return Fault{}, err
		}
		f.Latency = time.Duration(ms) * time.Millisecond
	case FaultStatus:
		code, err := parseInt(FieldStatus, status, "status", MinStatus, MaxStatus)
		if err != nil {
			return Fault{}, err
		}
		f.Status = code
	}
	if strings.TrimSpace(times) != "" {
		n, err := parseInt(FieldTimes, times, "times", 0, MaxTimes)
		if err != nil {
			return Fault{}, err
		}
		f.Times = n
	}
	// Validate also rejects an empty or unknown kind.
	if err := f.Validate(); err != nil {
		return Fault{}, err
	}
	return f, nil
}

// parseInt reads a whole number in [lo, hi] for form field field; name is
// how the messages refer to it.
func parseInt(field, s, name string, lo, hi int) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, &ValidationError{field, name + " is required"}
	}
	n, err := strconv.Atoi(s)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, &ValidationError{field, name + " must be a whole number"}
	}
	if err != nil || n < lo || n > hi {
		return 0, &ValidationError{field, fmt.Sprintf("%s must be between %d and %d", name, lo, hi)}
	}
	return n, nil
}

func kindList() string {
	var b strings.Builder
	for i, k := range FaultKinds() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(k))
	}
	return b.String()
}

// clip shortens s to at most n runes so hostile form input cannot blow up an
// error message shown on the page.
func clip(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i] + "…"
		}
		n--
	}
	return s
}

// maxBuffered bounds how much of a request body inject reads ahead.
const maxBuffered = 1 << 20

// inject makes f happen to the request. next is the simulator's handler,
// which only latency ever calls.
func (f Fault) inject(w http.ResponseWriter, r *http.Request, next http.Handler) {
	// Mark injected answers so a puzzled developer can tell them from the
	// simulator's own in the browser's network tab.
	label := f
	label.Times = 0
	mark := func() { w.Header().Set("X-Sandbox-Fault", label.String()) }
	switch f.Kind {
	case FaultLatency:
		// Reading the body first lets net/http notice a client that hangs
		// up (see readAhead), so the sleep below can stop early.
		if readAhead(r) != nil {
			return
		}
		t := time.NewTimer(f.Latency)
		defer t.Stop()
		select {
		case <-t.C:
			mark()
			next.ServeHTTP(w, r)
		case <-r.Context().Done():
			// Nobody is listening any more; answering would be pointless.
		}
	case FaultStatus:
		mark()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.Status)
		if bodyAllowed(f.Status) {
			_, _ = io.WriteString(w, injectedBody)
		}
	case FaultHang:
		// Without reading the body, net/http would never notice the client
		// going away (see readAhead) and this handler would block forever.
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	case FaultMalformed:
		mark()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, malformedBody)
	case FaultReset:
		reset(w)
	}
}

// readAhead buffers up to maxBuffered bytes of r's body and puts them back in
// front of the rest. This matters because an HTTP/1 server only watches the
// connection for the client hanging up (and cancels r.Context()) once the
// handler has read the body to EOF; a fault that waits on a POST would
// otherwise wait out its full duration even after the client is gone.
func readAhead(r *http.Request) error {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, maxBuffered))
	if err != nil {
		return err
	}
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
	return nil
}

// reset drops the connection without a response. It hijacks the connection
// rather than panicking with http.ErrAbortHandler, because recovery
// middleware in front of the harness would turn that panic into a 500.
// SO_LINGER 0 makes the close a TCP RST, like a crashed or firewalled peer.
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// HTTP/2 and some wrappers cannot hijack; aborting the handler is
		// the closest thing (it resets the stream or closes the connection).
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// bodyAllowed mirrors net/http's rule for which statuses may carry a body.
func bodyAllowed(status int) bool {
	return status != http.StatusNoContent && status != http.StatusNotModified && (status < 100 || status > 199)
}
