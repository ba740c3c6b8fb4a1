// Package app wires the portal together from a configuration: database,
// services, simulators and the web server. cmd/portal and the integration and
// browser tests build the portal the same way, through New.
package app

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gorm.io/gorm"

	"portal/internal/config"
	"portal/models"
	"portal/services"
	"portal/services/accounts"
	"portal/services/auditlog"
	"portal/services/bulk"
	"portal/services/casework"
	"portal/services/customers"
	"portal/services/dashboard"
	"portal/services/documents"
	"portal/services/oneflow"
	"portal/services/pasby"
	"portal/services/passportreader"
	"portal/services/passwords"
	"portal/services/pawapass"
	"portal/services/recharges"
	"portal/services/sandbox"
	"portal/services/sandbox/oneflowsim"
	"portal/services/sandbox/pasbysim"
	"portal/services/sandbox/passportreadersim"
	"portal/services/sandbox/pawapasssim"
	"portal/services/sessionstore"
	"portal/services/upstream"
	"portal/services/verifications"
	"portal/web"
)

// Options are the knobs tests turn; zero values mean production behaviour.
type Options struct {
	Now            services.Clock
	PasswordParams *passwords.Params
	// Simulators are registered in sandbox mode in addition to the built-in
	// ones (tests add probes here).
	Simulators []sandbox.Simulator
	// OneFlowSim configures the built-in 1flow simulator.
	OneFlowSim oneflowsim.Options
	// OneFlowTimeout bounds each 1flow call (default: the client's).
	OneFlowTimeout time.Duration
	// RechargeFirstCheck is the reconciler's first delay (default 5 s).
	RechargeFirstCheck time.Duration
	// WorkerTick is how often background workers look for due work.
	WorkerTick time.Duration
	// PasbySim configures the built-in pasby simulator (PublicURL and
	// HTTPClient are always set by New).
	PasbySim pasbysim.Options
	// PasbyTimeout bounds each attempt of a pasby call (default: the client's).
	PasbyTimeout time.Duration
	// DocumentFirstCheck is the document reconciler's first delay
	// (default 5 s).
	DocumentFirstCheck time.Duration
	// PawaPassSim and PassportReaderSim configure the built-in identity
	// simulators (PublicURL, webhook targets and HTTPClient are always set
	// by New).
	PawaPassSim       pawapasssim.Options
	PassportReaderSim passportreadersim.Options
	// IDVTimeout bounds each pawaPass and PassportReader call (default:
	// the clients').
	IDVTimeout time.Duration
	// IDVRetry is PassportReader's read retry policy; zero = the client's
	// (the document's 2, 4, 8, 16 s). Tests shorten it.
	IDVRetry upstream.Retry
	// VerificationFirstCheck is the verification reconciler's first delay
	// (default 5 s).
	VerificationFirstCheck time.Duration
	// DashboardTTL is how long dashboard figures are reused (cmd/portal:
	// 15 s; tests: 0, always fresh).
	DashboardTTL time.Duration
}

// App is a wired portal.
type App struct {
	Config   *config.Config
	DB       *gorm.DB
	Server   *web.Server
	Accounts *accounts.Service
	Sessions *sessionstore.Store
	Sandbox  *sandbox.Harness
	// OneFlowSim is the built-in 1flow simulator, nil when 1flow is real.
	OneFlowSim *oneflowsim.Sim
	Recharges  *recharges.Service
	// PasbySim is the built-in pasby simulator, nil when pasby is real.
	PasbySim  *pasbysim.Sim
	Documents *documents.Service
	// PawaPassSim and PassportReaderSim are the built-in identity
	// simulators, nil when the provider is real.
	PawaPassSim       *pawapasssim.Sim
	PassportReaderSim *passportreadersim.Sim
	// SandboxStore holds the simulators' records, nil without a sandbox.
	SandboxStore  *sandbox.Store
	Verifications *verifications.Service
	Casework      *casework.Service
	Bulk          *bulk.Service
	logger        *slog.Logger
	workerTick    time.Duration
}

// New opens the database, applies migrations, creates the first admin if
// needed and builds the HTTP server.
func New(ctx context.Context, cfg *config.Config, logger *slog.Logger, opts Options) (*App, error) {
	clock := opts.Now
	if clock == nil {
		clock = time.Now
	}
	// Every time the portal writes is UTC: SQLite keeps a time as text in
	// the zone it was written in, and lists sorted by a time compare that
	// text, which orders correctly only when all of it is in one zone.
	now := func() time.Time { return clock().UTC() }
	params := passwords.Default
	if opts.PasswordParams != nil {
		params = *opts.PasswordParams
	}
	db, err := models.OpenConfigured(ctx, cfg.DatabaseURL, cfg.DBPath)
	if err != nil {
		return nil, err
	}
	a := &App{Config: cfg, DB: db, logger: logger, workerTick: opts.WorkerTick}
	if a.workerTick <= 0 {
		a.workerTick = time.Second
	}
	fail := func(err error) (*App, error) {
		a.Close()
		return nil, err
	}
	if cfg.SessionKey == "" {
		// The key hashes stored session ids; it must survive restarts or
		// every restart would sign everybody out.
		if cfg.SessionKey, err = a.secret(ctx, "session.key"); err != nil {
			return fail(err)
		}
	}
	if cfg.Pasby.WebhookSecret == "" {
		// Part of the webhook URL pasby holds for open documents: it must
		// survive restarts too.
		if cfg.Pasby.WebhookSecret, err = a.secret(ctx, "pasby-webhook.secret"); err != nil {
			return fail(err)
		}
	}
	if cfg.IDV.CallbackSecret == "" {
		// Part of the callback URL PassportReader holds for open sessions.
		if cfg.IDV.CallbackSecret, err = a.secret(ctx, "passportreader-callback.secret"); err != nil {
			return fail(err)
		}
	}
	// Seals second-factor secrets: kept apart from the users table (beside
	// the SQLite file, or in settings on PostgreSQL) and across restarts.
	totpKey, err := a.secret(ctx, "totp.key")
	if err != nil {
		return fail(err)
	}
	a.Accounts, err = accounts.New(db, now, params, []byte(totpKey))
	if err != nil {
		return fail(err)
	}
	generated, created, err := a.Accounts.EnsureAdmin(ctx, cfg.AdminEmail, cfg.AdminPassword)
	if err != nil {
		return fail(fmt.Errorf("create first admin: %w", err))
	}
	if created && generated != "" {
		// Printed once, on purpose: this is the only way to learn it.
		logger.Warn("created the first admin with a generated password; sign in and change it",
			"email", cfg.AdminEmail, "password", generated)
	} else if created {
		logger.Info("created the first admin", "email", cfg.AdminEmail)
	}
	a.Sessions = sessionstore.New(db, now, sessionstore.Options{
		CookieName:      sessionstore.CookieName(cfg.Secure()),
		Secure:          cfg.Secure(),
		IdleTimeout:     cfg.IdleTimeout,
		AbsoluteTimeout: cfg.AbsoluteTimeout,
		Key:             []byte(cfg.SessionKey),
	})
	oneflowCfg := oneflow.Config{BaseURL: cfg.OneFlow.BaseURL, ClientID: cfg.OneFlow.ClientID, ClientSecret: cfg.OneFlow.ClientSecret, Timeout: opts.OneFlowTimeout}
	pasbyCfg := pasby.Config{BaseURL: cfg.Pasby.BaseURL, APIVersion: cfg.Pasby.APIVersion, APIKey: cfg.Pasby.APIKey,
		AppSecret: cfg.Pasby.AppSecret, Timeout: opts.PasbyTimeout, Now: now}
	pawaCfg := pawapass.Config{BaseURL: cfg.PawaPass.BaseURL, APIKey: cfg.PawaPass.APIKey, Timeout: opts.IDVTimeout}
	readerCfg := passportreader.Config{BaseURL: cfg.IDV.BaseURL, PublicKey: cfg.IDV.PublicKey, Secret: cfg.IDV.Secret,
		Timeout: opts.IDVTimeout, Retry: opts.IDVRetry}
	if cfg.SandboxEnabled() {
		a.Sandbox = sandbox.New("/sandbox")
		// The simulators' records outlive the process, as a provider's
		// would, in a file of their own: a provider's database is not ours.
		if a.SandboxStore, err = sandbox.OpenStore(ctx, a.SandboxStorePath()); err != nil {
			return fail(err)
		}
		sims := opts.Simulators
		// A provider without credentials talks to its simulator, over real
		// HTTP through this same server, exactly as it would to the real one.
		if !cfg.OneFlow.Configured() {
			simOpts := opts.OneFlowSim
			if simOpts.Now == nil {
				simOpts.Now = now
			}
			simOpts.Store = a.SandboxStore
			if simOpts.Logger == nil {
				simOpts.Logger = logger
			}
			a.OneFlowSim = oneflowsim.New(simOpts)
			sims = append(sims, a.OneFlowSim)
			oneflowCfg = oneflow.Config{BaseURL: cfg.BaseURL.String() + "/sandbox/oneflow",
				ClientID: cmp.Or(simOpts.ClientID, oneflowsim.DefaultClientID), ClientSecret: cmp.Or(simOpts.ClientSecret, oneflowsim.DefaultClientSecret),
				Timeout: opts.OneFlowTimeout}
		}
		if !cfg.Pasby.Configured() {
			simOpts := opts.PasbySim
			if simOpts.Now == nil {
				simOpts.Now = now
			}
			if simOpts.Logger == nil {
				simOpts.Logger = logger
			}
			simOpts.PublicURL = cfg.BaseURL.String() + "/sandbox/pasby"
			// Anyone may create a sandbox document with any webhook host:
			// the simulator may only ever POST back to this portal.
			simOpts.HTTPClient = sandbox.WebhookClient(cfg.BaseURL.Scheme, cfg.BaseURL.Host, pasbysim.DefaultWebhookTimeout)
			simOpts.Store = a.SandboxStore
			a.PasbySim = pasbysim.New(simOpts)
			sims = append(sims, a.PasbySim)
			pasbyCfg = pasby.Config{BaseURL: simOpts.PublicURL, APIVersion: cfg.Pasby.APIVersion,
				APIKey: cmp.Or(simOpts.APIKey, pasbysim.DefaultAPIKey), AppSecret: cmp.Or(simOpts.AppSecret, pasbysim.DefaultAppSecret),
				Timeout: opts.PasbyTimeout, Now: now}
		}
		if !cfg.PawaPass.Configured() {
			simOpts := opts.PawaPassSim
			if simOpts.Now == nil {
				simOpts.Now = now
			}
			if simOpts.Logger == nil {
				simOpts.Logger = logger
			}
			if cfg.PawaPass.WebhookSecret == "" {
				// pawaPass's back office holds the secret; in the sandbox
				// the portal makes one for both sides.
				if cfg.PawaPass.WebhookSecret, err = a.secret(ctx, "pawapass-webhook.secret"); err != nil {
					return fail(err)
				}
			}
			simOpts.PublicURL = cfg.BaseURL.String() + "/sandbox/pawapass"
			simOpts.WebhookURL = cfg.BaseURL.String() + "/webhooks/pawapass"
			simOpts.WebhookSecret = cfg.PawaPass.WebhookSecret
			simOpts.HTTPClient = sandbox.WebhookClient(cfg.BaseURL.Scheme, cfg.BaseURL.Host, pawapasssim.DefaultWebhookTimeout)
			simOpts.Store = a.SandboxStore
			a.PawaPassSim = pawapasssim.New(simOpts)
			sims = append(sims, a.PawaPassSim)
			pawaCfg = pawapass.Config{BaseURL: simOpts.PublicURL + "/v2", APIKey: cmp.Or(simOpts.APIKey, pawapasssim.DefaultAPIKey),
				Timeout: opts.IDVTimeout, Retry: pawaCfg.Retry}
		}
		if !cfg.IDV.Configured() {
			simOpts := opts.PassportReaderSim
			if simOpts.Now == nil {
				simOpts.Now = now
			}
			if simOpts.Logger == nil {
				simOpts.Logger = logger
			}
			simOpts.PublicURL = cfg.BaseURL.String() + "/sandbox/passportreader"
			simOpts.HTTPClient = sandbox.WebhookClient(cfg.BaseURL.Scheme, cfg.BaseURL.Host, passportreadersim.DefaultCallbackTimeout)
			simOpts.Store = a.SandboxStore
			a.PassportReaderSim = passportreadersim.New(simOpts)
			sims = append(sims, a.PassportReaderSim)
			readerCfg = passportreader.Config{BaseURL: simOpts.PublicURL, PublicKey: cmp.Or(simOpts.PublicKey, passportreadersim.DefaultPublicKey),
				Secret: cmp.Or(simOpts.Secret, passportreadersim.DefaultSecret), Timeout: opts.IDVTimeout, Retry: opts.IDVRetry}
		}
		for _, sim := range sims {
			if err := a.Sandbox.Register(sim); err != nil {
				return fail(err)
			}
		}
	}
	// One 1flow client (one token cache) for recharges and the customer
	// lookup.
	oneflowClient := oneflow.New(oneflowCfg)
	a.Recharges = recharges.New(db, oneflowClient, now, recharges.Options{
		MaxAmount: cfg.MaxRecharge, FirstCheck: opts.RechargeFirstCheck, Lease: cfg.ClaimLease, Logger: logger,
	})
	a.Documents, err = documents.New(db, pasby.New(pasbyCfg), now, documents.Options{
		BaseURL: cfg.BaseURL.String(), WebhookSecret: cfg.Pasby.WebhookSecret, FirstCheck: opts.DocumentFirstCheck, Lease: cfg.ClaimLease, Logger: logger,
	})
	if err != nil {
		return fail(err)
	}
	base := cfg.BaseURL.String()
	a.Verifications, err = verifications.New(db, pawapass.New(pawaCfg), passportreader.New(readerCfg), now, verifications.Options{
		BaseURL: base, CallbackSecret: cfg.IDV.CallbackSecret, PawaPassWebhookSecret: cfg.PawaPass.WebhookSecret,
		StoreImages: cfg.StoreIDVImages(), FirstCheck: opts.VerificationFirstCheck, Lease: cfg.ClaimLease, Logger: logger,
		DefaultURLs: verifications.DefaultURLs{
			Success: cmp.Or(cfg.PawaPass.SuccessURL, base+"/kyc/done"),
			Error:   cmp.Or(cfg.PawaPass.ErrorURL, base+"/kyc/error"),
			Support: cmp.Or(cfg.PawaPass.SupportURL, base+"/kyc/help"),
		},
	})
	if err != nil {
		return fail(err)
	}
	a.Casework = casework.New(db, now, cfg.ReviewSLA)
	targets := bulk.Targets(a.Documents, a.Verifications, a.Recharges, a.Casework)
	if a.Sandbox != nil {
		bulk.WithSandboxResend(targets, a.Sandbox, a.Documents, a.Verifications)
	}
	a.Bulk = bulk.New(db, now, targets, a.Casework.Reviewer,
		bulk.Options{Logger: logger, Lease: cfg.ClaimLease})
	a.Server, err = web.New(web.Deps{
		Logger:         logger,
		BaseURL:        cfg.BaseURL,
		TrustedProxies: cfg.TrustedProxies,
		Accounts:       a.Accounts,
		Audit:          auditlog.New(db),
		Sessions:       a.Sessions,
		Recharges:      a.Recharges,
		Documents:      a.Documents,
		Casework:       a.Casework,
		Bulk:           a.Bulk,
		Verifications:  a.Verifications,
		Customers:      customers.New(db, oneflowClient, now),
		Dashboard:      dashboard.New(db, now, opts.DashboardTTL),
		Ready:          func(ctx context.Context) error { return models.Ping(ctx, db) },
		Sandbox:        a.Sandbox,
	})
	if err != nil {
		return fail(err)
	}
	return a, nil
}

// Start runs the background workers until ctx ends: the recharge and
// document reconcilers and the session janitor.
func (a *App) Start(ctx context.Context) {
	go a.Recharges.RunReconciler(ctx, a.workerTick)
	go a.Documents.RunReconciler(ctx, a.workerTick)
	go a.Verifications.RunReconciler(ctx, a.workerTick)
	go a.Bulk.Run(ctx, a.workerTick)
	go a.runJanitor(ctx, 10*time.Minute)
}

// runJanitor purges timed-out sessions every interval until ctx ends.
func (a *App) runJanitor(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := a.Sessions.Purge(ctx); err != nil && !errors.Is(err, context.Canceled) {
				a.logger.Error("purge sessions", "err", err)
			} else if n > 0 {
				a.logger.Info("purged timed-out sessions", "count", n)
			}
		}
	}
}

// SandboxStorePath is the simulators' store: sandbox.db beside the
// portal's database file (or where it would be, on PostgreSQL).
func (a *App) SandboxStorePath() string {
	return filepath.Join(filepath.Dir(a.Config.DBPath), "sandbox.db")
}

// Close stops the simulators (their webhook deliveries) and releases the
// databases.
func (a *App) Close() {
	if a.PasbySim != nil {
		_ = a.PasbySim.Close()
	}
	if a.PawaPassSim != nil {
		_ = a.PawaPassSim.Close()
	}
	if a.PassportReaderSim != nil {
		_ = a.PassportReaderSim.Close()
	}
	if a.SandboxStore != nil {
		_ = a.SandboxStore.Close()
	}
	if a.DB == nil {
		return
	}
	if sqlDB, err := a.DB.DB(); err == nil {
		_ = sqlDB.Close()
	}
}

// secret is the generated secret name: on SQLite a file next to the
// database (one process owns both), on PostgreSQL a settings row, so that
// every replica signs sessions and accepts webhooks with the same one.
func (a *App) secret(ctx context.Context, name string) (string, error) {
	if a.Config.DatabaseURL != "" {
		return models.SharedSecret(ctx, a.DB, name)
	}
	return loadOrCreateKey(filepath.Join(filepath.Dir(a.Config.DBPath), name))
}

func loadOrCreateKey(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if key := strings.TrimSpace(string(b)); len(key) >= 32 {
			return key, nil
		}
		return "", fmt.Errorf("%s is shorter than 32 characters: delete it to generate a new one", path)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", filepath.Base(path), err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	key := hex.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return key, nil
}
