// Command sandbox runs the four upstream simulators as one process of their
// own, for a portal that runs as several replicas: every replica must talk
// to the same providers, so the simulators and their store (SANDBOX_STORE,
// a SQLite file only this process opens) live in one process. A single
// portal does not need it (PORTAL_SANDBOX=auto mounts the simulators inside
// the portal).
//
// The replicas run with PORTAL_SANDBOX=off and the provider settings this
// command prints at start-up, exactly as they would point at the real
// providers. Webhooks and callbacks go to SANDBOX_PORTAL_URL (the load
// balancer in front of the replicas) and nowhere else.
package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"portal/services/sandbox"
	"portal/services/sandbox/oneflowsim"
	"portal/services/sandbox/pasbysim"
	"portal/services/sandbox/passportreadersim"
	"portal/services/sandbox/pawapasssim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(ctx, os.Getenv, logger, os.Stdout); err != nil {
		var cfgErr *configError
		if errors.As(err, &cfgErr) {
			fmt.Fprintln(os.Stderr, "sandbox: invalid configuration:", err)
			os.Exit(2)
		}
		logger.Error("sandbox stopped", "err", err)
		os.Exit(1)
	}
}

type configError struct{ name, message string }

func (e *configError) Error() string { return e.name + ": " + e.message }

// config is what the sandbox process reads from the environment.
type config struct {
	addr          string
	storePath     string   // the simulators' records, kept across restarts
	publicURL     *url.URL // how the replicas and customers' browsers reach this process
	portalURL     *url.URL // the load balancer in front of the replicas
	controlToken  string
	webhookSecret string // pawaPass's X-Signature key, shared with the replicas
	settleAfter   time.Duration
	autoSign      time.Duration
	autoAdvance   time.Duration
}

func loadConfig(getenv func(string) string) (*config, error) {
	c := &config{
		addr:          cmpOr(getenv("SANDBOX_ADDR"), "127.0.0.1:9090"),
		storePath:     cmpOr(getenv("SANDBOX_STORE"), "./data/sandbox.db"),
		controlToken:  getenv("SANDBOX_CONTROL_TOKEN"),
		webhookSecret: cmpOr(getenv("PAWAPASS_WEBHOOK_SECRET"), pawapasssim.DefaultWebhookSecret),
	}
	host, _, err := net.SplitHostPort(c.addr)
	if err != nil {
		return nil, &configError{"SANDBOX_ADDR", "must be host:port, for example 127.0.0.1:9090"}
	}
	if c.publicURL, err = absoluteURL(cmpOr(getenv("SANDBOX_PUBLIC_URL"), "http://"+c.addr)); err != nil {
		return nil, &configError{"SANDBOX_PUBLIC_URL", "must be an http or https URL without a path, for example http://sandbox.internal:9090"}
	}
	raw := getenv("SANDBOX_PORTAL_URL")
	if raw == "" {
		return nil, &configError{"SANDBOX_PORTAL_URL", "must be set to the portal's address (its load balancer), where webhooks are sent, for example http://portal.internal:8080"}
	}
	if c.portalURL, err = absoluteURL(raw); err != nil {
		return nil, &configError{"SANDBOX_PORTAL_URL", "must be an http or https URL without a path, for example http://portal.internal:8080"}
	}
	// The control API can sign documents and settle recharges: off loopback
	// it must not be open to anyone who can reach the port.
	if c.controlToken == "" && !isLoopback(host) {
		return nil, &configError{"SANDBOX_CONTROL_TOKEN", "must be set (at least 20 characters) when SANDBOX_ADDR is not a loopback address"}
	}
	if c.controlToken != "" && len(c.controlToken) < 20 {
		return nil, &configError{"SANDBOX_CONTROL_TOKEN", "must be at least 20 characters"}
	}
	for _, d := range []struct {
		name string
		to   *time.Duration
		def  time.Duration
	}{
		{"SANDBOX_SETTLE_AFTER", &c.settleAfter, oneflowsim.DefaultSettleAfter},
		{"SANDBOX_AUTO_SIGN", &c.autoSign, 3 * time.Minute},
		{"SANDBOX_AUTO_ADVANCE", &c.autoAdvance, 90 * time.Second},
	} {
		*d.to = d.def
		if v := getenv(d.name); v != "" {
			if *d.to, err = time.ParseDuration(v); err != nil || *d.to < time.Second || *d.to > 24*time.Hour {
				return nil, &configError{d.name, "must be a duration between 1s and 24h, for example 20s"}
			}
		}
	}
	return c, nil
}

func absoluteURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("not an absolute URL without a path")
	}
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func cmpOr(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// simulators builds the four simulators mounted under /sandbox, as inside
// the portal, so their URLs look the same in both set-ups.
func simulators(ctx context.Context, c *config, logger *slog.Logger) (*sandbox.Harness, []interface{ Close() error }, error) {
	store, err := sandbox.OpenStore(ctx, c.storePath)
	if err != nil {
		return nil, nil, err
	}
	base := c.publicURL.String() + "/sandbox"
	hooks := func(timeout time.Duration) *http.Client {
		return sandbox.WebhookClient(c.portalURL.Scheme, c.portalURL.Host, timeout)
	}
	pasbySim := pasbysim.New(pasbysim.Options{Store: store, PublicURL: base + "/pasby", AutoSign: c.autoSign, Logger: logger,
		HTTPClient: hooks(pasbysim.DefaultWebhookTimeout)})
	pawaSim := pawapasssim.New(pawapasssim.Options{Store: store, PublicURL: base + "/pawapass", AutoAdvance: c.autoAdvance, Logger: logger,
		WebhookURL: c.portalURL.String() + "/webhooks/pawapass", WebhookSecret: c.webhookSecret,
		HTTPClient: hooks(pawapasssim.DefaultWebhookTimeout)})
	readerSim := passportreadersim.New(passportreadersim.Options{Store: store, PublicURL: base + "/passportreader", AutoAdvance: c.autoAdvance, Logger: logger,
		HTTPClient: hooks(passportreadersim.DefaultCallbackTimeout)})
	closers := []interface{ Close() error }{pasbySim, pawaSim, readerSim, store} // the store last
	h := sandbox.New("/sandbox")
	for _, sim := range []sandbox.Simulator{oneflowsim.New(oneflowsim.Options{Store: store, SettleAfter: c.settleAfter, Logger: logger}), pasbySim, pawaSim, readerSim} {
		if err := h.Register(sim); err != nil {
			for _, cl := range closers {
				_ = cl.Close()
			}
			return nil, nil, err
		}
	}
	return h, closers, nil
}

// portalEnv is what every replica needs to use this sandbox.
func portalEnv(c *config) []string {
	base := c.publicURL.String() + "/sandbox"
	return []string{
		"PORTAL_SANDBOX=off",
		"PASBY_BASE_URL=" + base + "/pasby",
		"PASBY_API_KEY=" + pasbysim.DefaultAPIKey,
		"PASBY_APP_SECRET=" + pasbysim.DefaultAppSecret,
		"IDV_BASE_URL=" + base + "/passportreader",
		"IDV_PUBLIC_KEY=" + passportreadersim.DefaultPublicKey,
		"IDV_SECRET=" + passportreadersim.DefaultSecret,
		"PAWAPASS_BASE_URL=" + base + "/pawapass/v2",
		"PAWAPASS_API_KEY=" + pawapasssim.DefaultAPIKey,
		"PAWAPASS_WEBHOOK_SECRET=" + c.webhookSecret,
		"ONEFLOW_BASE_URL=" + base + "/oneflow",
		"ONEFLOW_CLIENT_ID=" + oneflowsim.DefaultClientID,
		"ONEFLOW_CLIENT_SECRET=" + oneflowsim.DefaultClientSecret,
	}
}

func run(ctx context.Context, getenv func(string) string, logger *slog.Logger, envOut io.Writer) error {
	c, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	h, closers, err := simulators(ctx, c, logger)
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range closers {
			_ = s.Close()
		}
	}()
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.addr, err)
	}
	srv := &http.Server{Handler: routes(h, c.controlToken), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	fmt.Fprintln(envOut, "# environment for every portal replica:")
	for _, kv := range portalEnv(c) {
		fmt.Fprintln(envOut, kv)
	}
	logger.Info("sandbox listening", "addr", ln.Addr().String(), "store", c.storePath, "public_url", c.publicURL.String(), "portal_url", c.portalURL.String(),
		"control_api", c.publicURL.String()+"/_control/state", "control_token", c.controlToken != "")

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// routes serves the simulators' APIs under /sandbox/<name>/ and a small
// control API under /_control/ that does what the portal's sandbox page does
// when the simulators run inside the portal: inject faults, run actions
// (sign, approve, complete a recharge) and read hit counts.
func routes(h *sandbox.Harness, token string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/sandbox/", h)
	control := func(f func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if token != "" {
				got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
				if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
					w.Header().Set("WWW-Authenticate", `Bearer realm="sandbox control"`)
					http.Error(w, "send the SANDBOX_CONTROL_TOKEN as Authorization: Bearer <token>", http.StatusUnauthorized)
					return
				}
			}
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			f(w, r)
		}
	}
	mux.HandleFunc("GET /_control/state", control(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(h.Snapshot())
	}))
	mux.HandleFunc("POST /_control/faults", control(func(w http.ResponseWriter, r *http.Request) {
		f, err := sandbox.ParseFault(r.PostFormValue("kind"), r.PostFormValue("latency_ms"), r.PostFormValue("status"), r.PostFormValue("times"))
		if err == nil {
			err = h.SetFault(r.PostFormValue("sim"), r.PostFormValue("endpoint"), f)
		}
		answer(w, "fault set: "+f.String(), err)
	}))
	mux.HandleFunc("POST /_control/faults/clear", control(func(w http.ResponseWriter, r *http.Request) {
		if sim := r.PostFormValue("sim"); sim != "" {
			h.ClearFault(sim, cmpOr(r.PostFormValue("endpoint"), sandbox.AllEndpoints))
		} else {
			h.ClearAll()
		}
		answer(w, "faults cleared", nil)
	}))
	mux.HandleFunc("POST /_control/actions", control(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			answer(w, "", &sandbox.ValidationError{Field: "form", Message: "the body must be a URL-encoded form"})
			return
		}
		in := make(map[string]string, len(r.PostForm))
		for k := range r.PostForm {
			in[k] = r.PostForm.Get(k)
		}
		msg, err := h.Run(r.Context(), r.PostForm.Get("sim"), r.PostForm.Get("action"), in)
		answer(w, msg, err)
	}))
	return mux
}

// answer writes the outcome of a control request as one line of text.
func answer(w http.ResponseWriter, msg string, err error) {
	var ve *sandbox.ValidationError
	switch {
	case err == nil:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, msg)
	case errors.As(err, &ve):
		http.Error(w, ve.Field+": "+ve.Message, http.StatusUnprocessableEntity)
	case errors.Is(err, sandbox.ErrUnknownSimulator), errors.Is(err, sandbox.ErrUnknownEndpoint), errors.Is(err, sandbox.ErrUnknownAction):
		// These name only what the caller sent.
		http.Error(w, err.Error(), http.StatusNotFound)
	default:
		// An action that failed (no such document, already signed) says
		// why in words meant for the person on the sandbox page.
		http.Error(w, err.Error(), http.StatusConflict)
	}
}
