// Package app wires the portal together from a configuration: database,
// services, simulators and the web server. cmd/portal and the integration and
// browser tests build the portal the same way, through New.
package app

import (
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
	"portal/services/passwords"
	"portal/services/sandbox"
	"portal/services/sessionstore"
	"portal/web"
)

// Options are the knobs tests turn; zero values mean production behaviour.
type Options struct {
	Now            services.Clock
	PasswordParams *passwords.Params
	// Simulators are registered in sandbox mode in addition to the built-in
	// ones (tests add probes here).
	Simulators []sandbox.Simulator
}

// App is a wired portal.
type App struct {
	Config   *config.Config
	DB       *gorm.DB
	Server   *web.Server
	Accounts *accounts.Service
	Sessions *sessionstore.Store
	Sandbox  *sandbox.Harness
	logger   *slog.Logger
}

// New opens the database, applies migrations, creates the first admin if
// needed and builds the HTTP server.
func New(ctx context.Context, cfg *config.Config, logger *slog.Logger, opts Options) (*App, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	params := passwords.Default
	if opts.PasswordParams != nil {
		params = *opts.PasswordParams
	}
	db, err := models.Open(ctx, cfg.DBPath)
	if err != nil {
		return nil, err
	}
	a := &App{Config: cfg, DB: db, logger: logger}
	fail := func(err error) (*App, error) {
		a.Close()
		return nil, err
	}
	if cfg.SessionKey == "" {
		// The key hashes stored session ids; it must survive restarts or
		// every restart would sign everybody out.
		if cfg.SessionKey, err = loadOrCreateKey(filepath.Join(filepath.Dir(cfg.DBPath), "session.key")); err != nil {
			return fail(err)
		}
	}
	a.Accounts, err = accounts.New(db, now, params)
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
	if cfg.SandboxEnabled() {
		a.Sandbox = sandbox.New("/sandbox")
		for _, sim := range opts.Simulators {
			if err := a.Sandbox.Register(sim); err != nil {
				return fail(err)
			}
		}
	}
	a.Server, err = web.New(web.Deps{
		Logger:         logger,
		Now:            now,
		BaseURL:        cfg.BaseURL,
		TrustedProxies: cfg.TrustedProxies,
		Accounts:       a.Accounts,
		Audit:          auditlog.New(db),
		Sessions:       a.Sessions,
		Ready:          func(ctx context.Context) error { return models.Ping(ctx, db) },
		Sandbox:        a.Sandbox,
	})
	if err != nil {
		return fail(err)
	}
	return a, nil
}

// RunJanitor purges timed-out sessions every interval until ctx ends.
func (a *App) RunJanitor(ctx context.Context, interval time.Duration) {
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

// Close releases the database.
func (a *App) Close() {
	if a.DB == nil {
		return
	}
	if sqlDB, err := a.DB.DB(); err == nil {
		_ = sqlDB.Close()
	}
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
		return "", fmt.Errorf("read session key: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	key := hex.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write session key: %w", err)
	}
	return key, nil
}
