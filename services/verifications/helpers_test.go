package verifications

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"portal/internal/dbtest"
	"portal/models"
	"portal/services"
	"portal/services/passportreader"
	"portal/services/pawapass"
	"portal/services/sandbox"
	"portal/services/sandbox/passportreadersim"
	"portal/services/sandbox/pawapasssim"
	"portal/services/upstream"
)

const (
	testCallbackSecret = "callback-secret-0123456789abcdef"
	testPawaSecret     = "pawapass-webhook-secret-for-tests"
)

var (
	operator   = services.Actor{Email: "op@example.com", Role: models.RoleOperator, IP: "192.0.2.1"}
	compliance = services.Actor{Email: "co@example.com", Role: models.RoleCompliance, IP: "192.0.2.2"}
)

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

// env is the service over real HTTP: one httptest server with both
// simulators under /sandbox/ and the portal's webhook and callback routes,
// wired as the web layer wires them.
type env struct {
	t       *testing.T
	db      *gorm.DB
	svc     *Service
	pawa    *pawapasssim.Sim
	reader  *passportreadersim.Sim
	harness *sandbox.Harness
	srv     *httptest.Server
	clock   *clock

	pawaClient   *pawapass.Client
	readerClient *passportreader.Client
	storeImages  bool
	// dropHooks answers 200 without storing: the webhook is lost.
	dropHooks atomic.Bool
	hookCodes sync.Map // status code → count
}

type envOption func(*env, *pawapasssim.Options, *passportreadersim.Options)

func legacyReferenceKey() envOption {
	return func(_ *env, _ *pawapasssim.Options, o *passportreadersim.Options) { o.LegacyReferenceKey = true }
}

func imagesOff() envOption {
	return func(e *env, _ *pawapasssim.Options, _ *passportreadersim.Options) { e.storeImages = false }
}

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	db := dbtest.Open(t)
	e := &env{t: t, db: db, clock: &clock{t: time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)}, storeImages: true}
	mux := http.NewServeMux()
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	pawaOpts := pawapasssim.Options{Now: e.clock.Now, WebhookBackoff: 5 * time.Millisecond, WebhookAttempts: 3,
		WebhookURL: e.srv.URL + "/webhooks/pawapass", WebhookSecret: testPawaSecret}
	readerOpts := passportreadersim.Options{Now: e.clock.Now, CallbackBackoff: 5 * time.Millisecond, CallbackAttempts: 3}
	for _, o := range opts {
		o(e, &pawaOpts, &readerOpts)
	}
	e.pawa = pawapasssim.New(pawaOpts)
	e.reader = passportreadersim.New(readerOpts)
	t.Cleanup(func() { _ = e.pawa.Close(); _ = e.reader.Close() })
	e.harness = sandbox.New("/sandbox")
	for _, s := range []sandbox.Simulator{e.pawa, e.reader} {
		if err := e.harness.Register(s); err != nil {
			t.Fatal(err)
		}
	}
	mux.Handle("/sandbox/", e.harness)
	mux.HandleFunc("POST /webhooks/pawapass", e.hook(func(r *http.Request, body []byte) error {
		return e.svc.ReceivePawaPass(r.Context(), body, r.Header)
	}))
	mux.HandleFunc("POST /webhooks/passportreader/{secret}", e.hook(func(r *http.Request, body []byte) error {
		return e.svc.ReceivePassportReader(r.Context(), r.PathValue("secret"), body, r.Header)
	}))
	e.pawaClient = pawapass.New(pawapass.Config{BaseURL: e.srv.URL + "/sandbox/pawapass/v2", APIKey: pawapasssim.DefaultAPIKey,
		Timeout: 500 * time.Millisecond, Retry: upstream.Retry{Attempts: 4, Base: time.Millisecond, Max: 10 * time.Millisecond}})
	e.readerClient = passportreader.New(passportreader.Config{BaseURL: e.srv.URL + "/sandbox/passportreader",
		PublicKey: passportreadersim.DefaultPublicKey, Secret: passportreadersim.DefaultSecret,
		Timeout: 500 * time.Millisecond, Retry: upstream.Retry{Attempts: 2, Base: time.Millisecond, Max: time.Millisecond}})
	e.use(e.pawaClient, e.readerClient)
	return e
}

// use rebuilds the service over the given upstreams.
func (e *env) use(p PawaPass, r PassportReader) {
	e.t.Helper()
	svc, err := New(e.db, p, r, e.clock.Now, Options{
		BaseURL: e.srv.URL, CallbackSecret: testCallbackSecret, PawaPassWebhookSecret: testPawaSecret,
		StoreImages: e.storeImages, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.svc = svc
}

func (e *env) hook(receive func(r *http.Request, body []byte) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxWebhookBody+1))
		code := http.StatusOK
		switch {
		case err != nil:
			code = http.StatusBadRequest
		case e.dropHooks.Load():
		default:
			err = receive(r, body)
			switch {
			case errors.Is(err, ErrBadSignature):
				code = http.StatusUnauthorized
			case errors.Is(err, ErrUnknownSecret), errors.Is(err, ErrUnknownReference):
				code = http.StatusNotFound
			case errors.Is(err, ErrBadWebhook):
				code = http.StatusBadRequest
			case err != nil:
				code = http.StatusInternalServerError
			}
		}
		n, _ := e.hookCodes.LoadOrStore(code, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		w.WriteHeader(code)
	}
}

func (e *env) hookCount(code int) int64 {
	n, ok := e.hookCodes.Load(code)
	if !ok {
		return 0
	}
	return n.(*atomic.Int64).Load()
}

func (e *env) fault(sim, endpoint string, f sandbox.Fault) {
	e.t.Helper()
	if err := e.harness.SetFault(sim, endpoint, f); err != nil {
		e.t.Fatal(err)
	}
}

// settle waits for the simulators' deliveries, then processes the inbox.
func (e *env) settle() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.pawa.WaitWebhooks(ctx); err != nil {
		e.t.Fatal(err)
	}
	if err := e.reader.WaitCallbacks(ctx); err != nil {
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

func pawaInput() Input {
	return Input{Provider: "pawapass", ExternalID: "cust-0042", Requirements: []string{"DOCUMENT_SCAN", "FACE_SCAN"},
		Country: "ZM", PhoneNo: "+260971234567", SuccessURL: "https://example.com/done", ErrorURL: "https://example.com/error",
		SupportURL: "https://example.com/help"}
}

func readerInput() Input {
	return Input{Provider: "passportreader", FaceVerification: true, PhoneNo: "0712345678"}
}

func (e *env) create(in Input) models.Verification {
	e.t.Helper()
	v, err := e.svc.Create(context.Background(), operator, in)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

func (e *env) get(id uint) models.Verification {
	e.t.Helper()
	v, err := e.svc.Get(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

func wantState(t *testing.T, v models.Verification, want models.VerificationState) {
	t.Helper()
	if v.State != want {
		t.Fatalf("verification %d is %s (provider %s, error %q), want %s", v.ID, v.State, v.ProviderStatus, v.Error, want)
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

// pawaSteps walks a pawaPass verification to approval on the simulator.
func (e *env) pawaApprove(id string) {
	e.t.Helper()
	for _, step := range []func(string) error{e.pawa.Start, e.pawa.SubmitDocument, e.pawa.SubmitFace, e.pawa.Collect, e.pawa.Approve} {
		if err := step(id); err != nil {
			e.t.Fatal(err)
		}
	}
}

func sessionID(t *testing.T, v models.Verification) int64 {
	t.Helper()
	if v.UpstreamID == nil {
		t.Fatal("no session id")
	}
	id, err := strconv.ParseInt(*v.UpstreamID, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// signedHeader is the header of a pawaPass webhook carrying sig.
func signedHeader(sig string) http.Header {
	h := http.Header{}
	h.Set(pawapass.SignatureHeader, sig)
	return h
}
