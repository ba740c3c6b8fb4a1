package documents

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"portal/internal/dbtest"
	"portal/models"
	"portal/services"
	"portal/services/pasby"
	"portal/services/sandbox"
	"portal/services/sandbox/pasbysim"
	"portal/services/upstream"
)

const testSecret = "hook-secret-0123456789abcdef"

var (
	operator   = services.Actor{ID: 0, Email: "op@example.com", Role: models.RoleOperator, IP: "192.0.2.1"}
	compliance = services.Actor{ID: 0, Email: "co@example.com", Role: models.RoleCompliance, IP: "192.0.2.2"}
)

// clock is a fake clock shared by the service and the simulator.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is the service over real HTTP: one httptest server holding the
// sandbox harness with the pasby simulator at /sandbox/pasby and the
// portal's webhook route at /webhooks/pasby/{secret}, as the web layer
// will wire it.
type env struct {
	t       *testing.T
	db      *gorm.DB
	svc     *Service
	sim     *pasbysim.Sim
	harness *sandbox.Harness
	srv     *httptest.Server
	clock   *clock
	client  *pasby.Client
	// dropHooks makes the webhook route answer 200 without storing, as if
	// the webhook were lost on the way.
	dropHooks atomic.Bool
	hookCodes sync.Map // status code → count, as answered to pasby
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db := dbtest.Open(t)
	e := &env{t: t, db: db, clock: &clock{t: time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)}}
	e.sim = pasbysim.New(pasbysim.Options{Now: e.clock.Now, WebhookBackoff: 5 * time.Millisecond})
	e.harness = sandbox.New("/sandbox")
	if err := e.harness.Register(e.sim); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/sandbox/", e.harness)
	mux.HandleFunc("POST /webhooks/pasby/{secret}", e.webhook)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	t.Cleanup(func() { _ = e.sim.Close() }) // before srv.Close: LIFO
	e.client = pasby.New(pasby.Config{
		BaseURL: e.srv.URL + "/sandbox/pasby", APIKey: pasbysim.DefaultAPIKey, AppSecret: pasbysim.DefaultAppSecret,
		Timeout: 500 * time.Millisecond,
	})
	e.useUpstream(e.client)
	return e
}

// useUpstream rebuilds the service over u; call it before anything runs.
func (e *env) useUpstream(u Upstream) {
	e.t.Helper()
	svc, err := New(e.db, u, e.clock.Now, Options{
		BaseURL: e.srv.URL, WebhookSecret: testSecret, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.svc = svc
}

// lostAnswers is pasby whose create answers are lost on the way back: the
// request is sent and acted on, the caller hears "outcome unknown" (what
// the client returns for a connection broken after the request was
// written, which the harness can't stage: its faults stop before pasby).
type lostAnswers struct{ Upstream }

func (l lostAnswers) Review(ctx context.Context, r pasby.ReviewRequest) (pasby.DocumentResponse, error) {
	if _, err := l.Upstream.Review(ctx, r); err != nil {
		return pasby.DocumentResponse{}, err
	}
	return pasby.DocumentResponse{}, &upstream.OutcomeUnknownError{Vendor: "pasby", Op: "review", Err: errors.New("connection reset after the request was sent")}
}

// webhook is what web/ will do: read a bounded body, hand it over, map the
// typed errors.
func (e *env) webhook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxWebhookBody+1))
	code := http.StatusOK
	switch {
	case err != nil:
		code = http.StatusBadRequest
	case e.dropHooks.Load():
	default:
		err = e.svc.ReceiveWebhook(r.Context(), r.PathValue("secret"), body, r.Header)
		switch {
		case errors.Is(err, ErrUnknownWebhookSecret):
			code = http.StatusNotFound
		case errors.Is(err, ErrWebhookTooLarge):
			code = http.StatusRequestEntityTooLarge
		case err != nil:
			code = http.StatusInternalServerError
		}
	}
	n, _ := e.hookCodes.LoadOrStore(code, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
	w.WriteHeader(code)
}

func (e *env) hookCount(code int) int64 {
	n, ok := e.hookCodes.Load(code)
	if !ok {
		return 0
	}
	return n.(*atomic.Int64).Load()
}

// hits is how many requests reached endpoint pattern of the simulator.
func (e *env) hits(pattern string) int64 {
	for _, s := range e.harness.Snapshot() {
		for _, ep := range s.Endpoints {
			if ep.Pattern == pattern {
				return ep.Hits
			}
		}
	}
	e.t.Fatalf("no endpoint %q", pattern)
	return 0
}

const (
	epSigning = "POST " + pasbysim.PathV2Signing
	epReview  = "POST " + pasbysim.PathV2Review
	epRefresh = "POST " + pasbysim.PathV2Refresh
	epCancel  = "POST " + pasbysim.PathV2Cancel
)

func (e *env) fault(endpoint string, f sandbox.Fault) {
	e.t.Helper()
	if err := e.harness.SetFault("pasby", endpoint, f); err != nil {
		e.t.Fatal(err)
	}
}

// waitHooks waits for the simulator's webhook deliveries, then processes
// the inbox.
func (e *env) waitHooks() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.sim.WaitWebhooks(ctx); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.svc.ProcessInbox(ctx); err != nil {
		e.t.Fatal(err)
	}
}

// reconcile moves the clock past every scheduled check and runs the
// reconciler once.
func (e *env) reconcile() {
	e.t.Helper()
	e.clock.Advance(6 * time.Minute)
	if _, err := e.svc.ReconcileOnce(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

var (
	ninA = "12345678901"
	ninB = "23456789012"
	ninC = "34567890123"
)

func simpleInput(nins string) Input {
	return Input{Kind: "simple", NINs: nins, FileURL: "https://files.example.com/contract.pdf", Title: "Loan agreement"}
}

func reviewInput() Input {
	return Input{Kind: "review", FileURL: "https://files.example.com/lease.pdf", Title: "Office lease", Signees: []SigneeInput{
		{Name: "Ada Obi", Type: "person", Email: "ada@example.com", NIN: ninA},
		{Name: "Bola Ade", Type: "business", Email: "bola@example.com", NIN: ninB, Representing: "Acme Ltd", Title: "CEO"},
	}}
}

func (e *env) create(in Input) models.Document {
	e.t.Helper()
	d, err := e.svc.Create(context.Background(), operator, in)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

func (e *env) get(id uint) Detail {
	e.t.Helper()
	d, err := e.svc.GetDetail(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

func (e *env) sign(d models.Document, nin string) {
	e.t.Helper()
	if err := e.sim.Sign(*d.UpstreamID, nin); err != nil {
		e.t.Fatal(err)
	}
}

func wantState(t *testing.T, d models.Document, want models.DocumentState) {
	t.Helper()
	if d.State != want {
		t.Fatalf("document %d is %s (error %q), want %s", d.ID, d.State, d.Error, want)
	}
}

func (e *env) count(model any, where string, args ...any) int64 {
	e.t.Helper()
	var n int64
	q := e.db.Model(model)
	if where != "" {
		q = q.Where(where, args...)
	}
	if err := q.Count(&n).Error; err != nil {
		e.t.Fatal(err)
	}
	return n
}
