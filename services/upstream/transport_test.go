package upstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const vendor Vendor = "acme"

var fastRetry = Retry{Attempts: 3, Base: time.Millisecond, Max: 4 * time.Millisecond}

// server answers with the handlers in turn (the last one repeats) and counts
// the requests it received.
type server struct {
	*httptest.Server
	hits atomic.Int32
}

func newServer(t *testing.T, handlers ...http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(s.hits.Add(1))
		handlers[min(n, len(handlers))-1](w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func status(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}
}

// hangUp reads the request and drops the connection without answering.
func hangUp(w http.ResponseWriter, r *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

func client(base string, mod ...func(*Config)) *Client {
	cfg := Config{Vendor: vendor, BaseURL: base, Retry: fastRetry, Timeout: 2 * time.Second, UserAgent: "portal-test/1",
		Complaint: func(body []byte) (string, string) { return "", string(body) }}
	for _, m := range mod {
		m(&cfg)
	}
	return New(cfg)
}

func TestReadRetriesWhatMayPassAndNothingElse(t *testing.T) {
	tests := []struct {
		name     string
		answers  []http.HandlerFunc
		wantHits int32
		want     error // nil: success
	}{
		{"503 then 200", []http.HandlerFunc{status(503, "busy"), status(200, "{}")}, 2, nil},
		{"429 then 200", []http.HandlerFunc{status(429, "slow down"), status(200, "{}")}, 2, nil},
		{"dropped connection then 200", []http.HandlerFunc{hangUp, status(200, "{}")}, 2, nil},
		{"500 every time", []http.HandlerFunc{status(500, "down")}, 3, ErrUnavailable},
		{"501 is not retried", []http.HandlerFunc{status(501, "no")}, 1, ErrUnavailable},
		{"404", []http.HandlerFunc{status(404, "gone")}, 1, ErrNotFound},
		{"401", []http.HandlerFunc{status(401, "who")}, 1, ErrBadCredentials},
		{"403", []http.HandlerFunc{status(403, "no")}, 1, ErrForbidden},
		{"redirect is not followed", []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}}, 1, ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, tt.answers...)
			res, err := client(s.URL).Read(context.Background(), Request{Method: "GET", Path: "/x"})
			if got := s.hits.Load(); got != tt.wantHits {
				t.Errorf("server saw %d requests, want %d", got, tt.wantHits)
			}
			if tt.want == nil {
				if err != nil || string(res.Body) != "{}" {
					t.Fatalf("Read = %v, %v", res, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "acme: ") {
				t.Errorf("text %q does not name the vendor", err)
			}
		})
	}
}

func TestReadRejectedKeepsCodeAndMessage(t *testing.T) {
	s := newServer(t, status(422, "amount too big"))
	c := client(s.URL, func(cfg *Config) {
		cfg.Complaint = func(body []byte) (string, string) { return "VALIDATION", string(body) }
	})
	_, err := c.Read(context.Background(), Request{Method: "GET", Path: "/x"})
	var rej *RejectedError
	if !errors.As(err, &rej) || rej.Status != 422 || rej.Code != "VALIDATION" || rej.Message != "amount too big" {
		t.Fatalf("err = %#v", err)
	}
	if want := "acme: rejected: HTTP 422 Unprocessable Entity (VALIDATION): amount too big"; err.Error() != want {
		t.Errorf("text %q, want %q", err, want)
	}
	if errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNotSent) {
		t.Error("a rejection matched a sentinel")
	}
}

func TestVendorRulesComeFirst(t *testing.T) {
	expired := errors.New("expired")
	s := newServer(t, status(401, "expired"))
	c := client(s.URL, func(cfg *Config) {
		cfg.Errors = func(res *Response, _, msg string) error {
			if msg == "expired" {
				return vendor.Kind("", nil, expired)
			}
			return nil
		}
	})
	_, err := c.Read(context.Background(), Request{Method: "GET", Path: "/x"})
	if !errors.Is(err, expired) || errors.Is(err, ErrBadCredentials) {
		t.Fatalf("err = %v", err)
	}
}

func TestReadAnswerTooLargeIsNotRetried(t *testing.T) {
	s := newServer(t, status(200, strings.Repeat("x", 100)))
	c := client(s.URL, func(cfg *Config) { cfg.MaxBody = 10 })
	_, err := c.Read(context.Background(), Request{Method: "GET", Path: "/x"})
	if !errors.Is(err, ErrUnavailable) || s.hits.Load() != 1 {
		t.Fatalf("err = %v after %d requests", err, s.hits.Load())
	}
	// A bigger bound for one request lets it through.
	if _, err := c.Read(context.Background(), Request{Method: "GET", Path: "/x", MaxBody: 1000}); err != nil {
		t.Fatal(err)
	}
}

// Timeout bounds each attempt, not the call: a slow first try leaves the
// retry its own time.
func TestTimeoutIsPerAttempt(t *testing.T) {
	slow := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	}
	s := newServer(t, slow, status(200, "{}"))
	c := client(s.URL, func(cfg *Config) { cfg.Timeout = 100 * time.Millisecond })
	if _, err := c.Read(context.Background(), Request{Method: "GET", Path: "/x"}); err != nil {
		t.Fatalf("Read after a slow first attempt: %v", err)
	}
	if s.hits.Load() != 2 {
		t.Fatalf("%d requests, want 2", s.hits.Load())
	}
}

func TestReadStopsWhenTheCallerGivesUp(t *testing.T) {
	s := newServer(t, status(503, "busy"))
	c := client(s.URL, func(cfg *Config) { cfg.Retry = Retry{Attempts: 5, Base: time.Hour, Max: time.Hour} })
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	_, err := c.Read(ctx, Request{Method: "GET", Path: "/x"})
	if !errors.Is(err, ErrUnavailable) || time.Since(start) > 500*time.Millisecond {
		t.Fatalf("err = %v after %v: a wait past the deadline must not start", err, time.Since(start))
	}
}

// closedURL is an address nothing listens on.
func closedURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestCreateOutcomes(t *testing.T) {
	tests := []struct {
		name     string
		answer   http.HandlerFunc
		timeout  time.Duration
		maxBody  int64
		unknown  bool
		want     error
		wantHits int32
	}{
		{"2xx", status(201, `{"id":1}`), 0, 0, false, nil, 1},
		{"connection dropped after the request was written", hangUp, 0, 0, true, nil, 1},
		{"no answer in time", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		}, 100 * time.Millisecond, 0, true, nil, 1},
		{"502 from a gateway", status(502, "bad gateway"), 0, 0, true, nil, 1},
		{"504 from a gateway", status(504, "timeout"), 0, 0, true, nil, 1},
		{"2xx too large to read", status(200, strings.Repeat("x", 100)), 0, 10, true, nil, 1},
		{"500: the provider did nothing", status(500, "oops"), 0, 0, false, ErrUnavailable, 1},
		{"409", status(409, "dupe"), 0, 0, false, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, tt.answer)
			c := client(s.URL, func(cfg *Config) {
				if tt.timeout > 0 {
					cfg.Timeout = tt.timeout
				}
				cfg.MaxBody = tt.maxBody
			})
			res, err := c.Create(context.Background(), "thing.create", Request{Method: "POST", Path: "/x", Body: []byte(`{}`)})
			if got := s.hits.Load(); got != tt.wantHits {
				t.Fatalf("create sent %d times, want %d", got, tt.wantHits)
			}
			var unk *OutcomeUnknownError
			if tt.unknown {
				if !errors.As(err, &unk) || unk.Op != "thing.create" {
					t.Fatalf("err = %v, want an unknown outcome", err)
				}
				for _, k := range []error{ErrUnavailable, ErrNotSent, ErrNotFound, ErrBadCredentials, ErrInvalidRequest} {
					if errors.Is(err, k) {
						t.Errorf("unknown outcome matches %v", k)
					}
				}
				return
			}
			if errors.As(err, &unk) {
				t.Fatalf("err = %v: must not be unknown", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.want == nil && tt.answer != nil && res == nil && err == nil {
				t.Fatal("no answer and no error")
			}
		})
	}
}

func TestCreateThatCannotConnectIsNotSentAndTriedOnceMore(t *testing.T) {
	var dials atomic.Int32
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}}
	c := client(closedURL(t), func(cfg *Config) { cfg.HTTPClient = hc })
	_, err := c.Create(context.Background(), "thing.create", Request{Method: "POST", Path: "/x", Body: []byte(`{}`)})
	if !errors.Is(err, ErrNotSent) || !errors.Is(err, ErrUnavailable) || IsUnknown(err) {
		t.Fatalf("err = %v, want not sent", err)
	}
	if !strings.Contains(err.Error(), "acme: unavailable (request not sent): could not connect") {
		t.Errorf("text %q", err)
	}
	if dials.Load() != createAttempts {
		t.Errorf("%d dials, want %d", dials.Load(), createAttempts)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Behind a transport we cannot trace, only a dial error proves nothing left.
func TestOpaqueTransportOnlyTrustsDialErrors(t *testing.T) {
	for _, tt := range []struct {
		name    string
		err     error
		unknown bool
	}{
		{"dial refused", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, false},
		{"DNS", &net.DNSError{Err: "no such host", Name: "x"}, false},
		{"anything else", errors.New("stream reset"), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := client("http://provider.test", func(cfg *Config) {
				cfg.HTTPClient = &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, tt.err })}
			})
			_, err := c.Create(context.Background(), "op", Request{Method: "POST", Path: "/x", Body: []byte(`{}`)})
			if IsUnknown(err) != tt.unknown || (!tt.unknown && !errors.Is(err, ErrNotSent)) {
				t.Fatalf("err = %v, unknown want %v", err, tt.unknown)
			}
		})
	}
}

func TestBadConfigurationSendsNothing(t *testing.T) {
	s := newServer(t, status(200, "{}"))
	for _, c := range []*Client{
		client("ftp://" + strings.TrimPrefix(s.URL, "http://")),
		client(s.URL + "?x=1"),
		client(s.URL, func(cfg *Config) { cfg.ConfigErr = vendor.InvalidRequest("no API key") }),
	} {
		_, err := c.Create(context.Background(), "op", Request{Method: "POST", Path: "/x"})
		if !errors.Is(err, ErrInvalidRequest) || !errors.Is(err, ErrNotSent) {
			t.Errorf("err = %v", err)
		}
	}
	if s.hits.Load() != 0 {
		t.Fatalf("%d requests sent", s.hits.Load())
	}
}

func TestRequestCarriesHeadersAndCredentials(t *testing.T) {
	var got http.Header
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		_, _ = w.Write([]byte("{}"))
	})
	c := client(s.URL, func(cfg *Config) { cfg.Auth = Bearer("k1") })
	if _, err := c.Read(context.Background(), Request{Method: "POST", Path: "/x", Body: []byte("{}"), Header: http.Header{"X-Extra": {"1"}}}); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"Authorization": "Bearer k1", "Content-Type": "application/json",
		"Accept": "application/json", "User-Agent": "portal-test/1", "X-Extra": "1"} {
		if got.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, got.Get(k), want)
		}
	}
	if _, err := c.Read(context.Background(), Request{Method: "GET", Path: "/x", Auth: Basic("u", "p")}); err != nil {
		t.Fatal(err)
	}
	if u, p, ok := (&http.Request{Header: got}).BasicAuth(); !ok || u != "u" || p != "p" {
		t.Errorf("basic auth = %q %q %v", u, p, ok)
	}
}

func TestSecretsNeverReachTheText(t *testing.T) {
	s := newServer(t, status(400, "bad key sk-123 and token tok-9"))
	tok := &Token{Vendor: vendor, Fetch: func(context.Context) (string, time.Time, error) { return "tok-9", time.Time{}, nil },
		Set: func(h http.Header, t string) { h.Set("X-Token", t) }}
	c := client(s.URL, func(cfg *Config) { cfg.Auth = tok; cfg.Secrets = []string{"sk-123"} })
	_, err := c.Read(context.Background(), Request{Method: "GET", Path: "/x"})
	if err == nil || strings.Contains(err.Error(), "sk-123") || strings.Contains(err.Error(), "tok-9") {
		t.Fatalf("err = %v", err)
	}
}

func TestTokenIsFetchedOnceForManyCallers(t *testing.T) {
	var fetches atomic.Int32
	// Fetch n waits for gates[n-1], so a test decides when each flight lands.
	gates := []chan struct{}{make(chan struct{}), make(chan struct{})}
	tok := &Token{Vendor: vendor, Fetch: func(context.Context) (string, time.Time, error) {
		n := fetches.Add(1)
		<-gates[n-1]
		return fmt.Sprintf("t%d", n), time.Now().Add(time.Hour), nil
	}}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if got, err := tok.Credential(context.Background()); err != nil || got != "t1" {
				t.Errorf("Credential = %q, %v", got, err)
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	close(gates[0])
	wg.Wait()
	if fetches.Load() != 1 {
		t.Fatalf("%d fetches, want 1", fetches.Load())
	}
	// A caller that stops waiting does not stop the flight: the token it
	// started still arrives for the next caller.
	tok.Forget("t1")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tok.Credential(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("cancelled wait: %v", err)
	}
	close(gates[1])
	if got, err := tok.Credential(context.Background()); err != nil || got != "t2" {
		t.Fatalf("after a cancelled wait: %q, %v", got, err)
	}
	if fetches.Load() != 2 {
		t.Fatalf("%d fetches, want 2", fetches.Load())
	}
}

func TestTokenIsRenewedBeforeItExpires(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	n := 0
	tok := &Token{Vendor: vendor, Now: func() time.Time { return now }, Fetch: func(context.Context) (string, time.Time, error) {
		n++
		return "t" + string(rune('0'+n)), now.Add(100 * time.Second), nil
	}}
	first, _ := tok.Credential(context.Background())
	now = now.Add(89 * time.Second) // margin: 10 % of 100 s
	if got, _ := tok.Credential(context.Background()); got != first {
		t.Fatalf("renewed too early: %q", got)
	}
	now = now.Add(2 * time.Second)
	if got, _ := tok.Credential(context.Background()); got == first {
		t.Fatal("not renewed inside the margin")
	}
}

func TestRefusedTokenIsRefetchedOnce(t *testing.T) {
	var issued atomic.Int32
	tok := &Token{Vendor: vendor, Fetch: func(context.Context) (string, time.Time, error) {
		return "t" + string(rune('0'+issued.Add(1))), time.Time{}, nil
	}, Set: func(h http.Header, t string) { h.Set("X-Token", t) }}

	t.Run("fresh token accepted", func(t *testing.T) {
		s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Token") == "t1" {
				w.WriteHeader(401)
				return
			}
			_, _ = w.Write([]byte("{}"))
		})
		c := client(s.URL, func(cfg *Config) { cfg.Auth = tok })
		if _, err := c.Create(context.Background(), "op", Request{Method: "POST", Path: "/x"}); err != nil {
			t.Fatal(err)
		}
		if s.hits.Load() != 2 {
			t.Fatalf("%d requests", s.hits.Load())
		}
	})
	t.Run("fresh token refused too", func(t *testing.T) {
		s := newServer(t, status(401, "no"))
		c := client(s.URL, func(cfg *Config) { cfg.Auth = tok })
		_, err := c.Read(context.Background(), Request{Method: "GET", Path: "/x"})
		if !errors.Is(err, ErrBadCredentials) || !strings.Contains(err.Error(), "after a fresh access token") {
			t.Fatalf("err = %v", err)
		}
		if s.hits.Load() != 2 {
			t.Fatalf("%d requests, want 2", s.hits.Load())
		}
	})
}

func TestCreateWithoutATokenIsNotSent(t *testing.T) {
	s := newServer(t, status(200, "{}"))
	tok := &Token{Vendor: vendor, Fetch: func(context.Context) (string, time.Time, error) {
		return "", time.Time{}, vendor.Unavailable("token endpoint down", nil)
	}}
	c := client(s.URL, func(cfg *Config) { cfg.Auth = tok })
	_, err := c.Create(context.Background(), "op", Request{Method: "POST", Path: "/x"})
	if !errors.Is(err, ErrNotSent) || s.hits.Load() != 0 {
		t.Fatalf("err = %v, %d requests", err, s.hits.Load())
	}
}

func TestOpenLeavesTheStreamToTheCaller(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write([]byte("data: 1\n\n"))
	})
	c := client(s.URL, func(cfg *Config) { cfg.Timeout = time.Nanosecond })
	resp, err := c.Open(context.Background(), Request{Method: "GET", Path: "/events", Accept: "text/event-stream"})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}
