// Package apptest starts a whole portal (temporary SQLite database, sandbox
// on, real HTTP server) for integration and browser tests.
package apptest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"portal/internal/app"
	"portal/internal/config"
	"portal/internal/dbtest"
	"portal/models"
	"portal/services"
	"portal/services/accounts"
	"portal/services/passwords"
	"portal/services/sandbox"
	"portal/services/sandbox/oneflowsim"
	"portal/services/sandbox/pasbysim"
	"portal/services/sandbox/passportreadersim"
	"portal/services/sandbox/pawapasssim"
	"portal/services/upstream"
)

// AdminEmail and AdminPassword are the first admin of every test portal.
const (
	AdminEmail    = "admin@example.com"
	AdminPassword = "first staff password for tests"
)

// FastPasswords keeps argon2id but at a cost that lets a test sign in dozens
// of times; the production parameters are tested in services/passwords.
var FastPasswords = passwords.Params{MemoryKiB: 1024, Iterations: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// Clock runs with real time and can be jumped forward, so background workers
// and browsers see time pass while a test can skip half an hour at once.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// Portal is a running test portal.
type Portal struct {
	App    *app.App
	Server *httptest.Server
	URL    string
	Clock  *Clock
	// PasbySim is the portal's built-in pasby simulator.
	PasbySim *pasbysim.Sim
	// Logs holds everything the portal logged, for tests that check no
	// secret is ever written.
	Logs *SyncBuffer
	// Authenticator holds the second factors of the portal's staff, on the
	// portal's clock.
	Authenticator *Authenticator
}

// SyncBuffer is a goroutine-safe bytes.Buffer for captured logs.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Config tweaks the environment a test portal starts with.
type Config struct {
	Env        map[string]string
	Simulators []sandbox.Simulator
	// OneFlowSim configures the built-in 1flow simulator (its clock is the
	// portal's unless set).
	OneFlowSim oneflowsim.Options
	// OneFlowTimeout bounds each 1flow call; default 2 s so hang faults
	// resolve quickly.
	OneFlowTimeout time.Duration
	// PasbySim configures the built-in pasby simulator (its clock is the
	// portal's unless set; webhook retries start after 50 ms unless set).
	PasbySim pasbysim.Options
	// PawaPassSim and PassportReaderSim configure the identity simulators
	// (webhook and callback retries start after 50 ms unless set).
	PawaPassSim       pawapasssim.Options
	PassportReaderSim passportreadersim.Options
}

// Start runs a portal until the test ends.
func Start(t testing.TB, cfg Config) *Portal {
	t.Helper()
	env := map[string]string{
		"PORTAL_DB":             filepath.Join(t.TempDir(), "portal.db"),
		"PORTAL_ADMIN_EMAIL":    AdminEmail,
		"PORTAL_ADMIN_PASSWORD": AdminPassword,
		"PORTAL_SANDBOX":        "on",
	}
	if url := dbtest.DatabaseURL(t); url != "" {
		env["DATABASE_URL"] = url
	}
	for k, v := range cfg.Env {
		env[k] = v
	}
	// The server's address is only known once it listens, so the handler is
	// swapped in after the portal is built with the final base URL.
	var handler atomic.Pointer[http.Handler]
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*handler.Load()).ServeHTTP(w, r)
	}))
	srv.Start()
	t.Cleanup(srv.Close)
	if _, ok := env["PORTAL_BASE_URL"]; !ok {
		env["PORTAL_BASE_URL"] = srv.URL
	}
	c, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	clock := &Clock{}
	logs := &SyncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	params := FastPasswords
	timeout := cfg.OneFlowTimeout
	if timeout == 0 {
		timeout = 2 * time.Second
	}
	pasbyOpts := cfg.PasbySim
	if pasbyOpts.WebhookBackoff == 0 {
		pasbyOpts.WebhookBackoff = 50 * time.Millisecond
	}
	pawaOpts := cfg.PawaPassSim
	if pawaOpts.WebhookBackoff == 0 {
		pawaOpts.WebhookBackoff = 50 * time.Millisecond
	}
	readerOpts := cfg.PassportReaderSim
	if readerOpts.CallbackBackoff == 0 {
		readerOpts.CallbackBackoff = 50 * time.Millisecond
	}
	a, err := app.New(context.Background(), c, logger, app.Options{
		Now: clock.Now, PasswordParams: &params, Simulators: cfg.Simulators,
		OneFlowSim: cfg.OneFlowSim, OneFlowTimeout: timeout,
		RechargeFirstCheck: 100 * time.Millisecond, WorkerTick: 50 * time.Millisecond,
		PasbySim: pasbyOpts, PasbyTimeout: timeout, DocumentFirstCheck: 100 * time.Millisecond,
		PawaPassSim: pawaOpts, PassportReaderSim: readerOpts, IDVTimeout: timeout,
		IDVRetry: upstream.Retry{Attempts: 3, Base: 10 * time.Millisecond, Max: 20 * time.Millisecond}, VerificationFirstCheck: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("app: %v", err)
	}
	t.Cleanup(a.Close)
	ctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	a.Start(ctx)
	var h http.Handler = a.Server
	handler.Store(&h)
	return &Portal{App: a, Server: srv, URL: srv.URL, Clock: clock, PasbySim: a.PasbySim, Logs: logs,
		Authenticator: &Authenticator{Now: clock.Now, Wait: clock.Advance}}
}

// Client returns an HTTP client with its own cookie jar that does not follow
// redirects, so tests see each 303.
func (p *Portal) Client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// CreateUser adds a staff member directly through the service.
func (p *Portal) CreateUser(t testing.TB, email, password string, role models.Role) models.User {
	t.Helper()
	u, err := p.App.Accounts.CreateUser(context.Background(), services.System, accounts.NewUser{
		Email: email, Name: strings.Split(email, "@")[0], Role: role, Password: password,
	})
	if err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	return u
}

// Login signs client in and fails the test unless it worked; admins and
// compliance set their second factor up or enter a code (Authenticator).
func (p *Portal) Login(t testing.TB, client *http.Client, email, password string) {
	t.Helper()
	p.Authenticator.SignIn(t, email, password, func(method, path string, form url.Values) (int, string, string) {
		var resp *Response
		if method == http.MethodGet {
			resp = p.Get(t, client, path)
		} else {
			resp = p.PostForm(t, client, path, form)
		}
		return resp.StatusCode, resp.Header.Get("Location"), resp.Body
	})
}

// Get performs a GET and returns the response with its body read into Body.
func (p *Portal) Get(t testing.TB, client *http.Client, path string) *Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, p.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p.Do(t, client, req)
}

// PostForm posts a same-origin form (as a browser would, with Sec-Fetch-Site).
func (p *Portal) PostForm(t testing.TB, client *http.Client, path string, form url.Values) *Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, p.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", p.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return p.Do(t, client, req)
}

// Response is an http.Response with its body already read.
type Response struct {
	*http.Response
	Body string
}

// Do sends req and reads the whole body.
func (p *Portal) Do(t testing.TB, client *http.Client, req *http.Request) *Response {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return &Response{Response: resp, Body: string(b)}
}
