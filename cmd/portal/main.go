// Command portal runs the back-office portal.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"portal/internal/app"
	"portal/internal/config"
	"portal/services/sandbox/oneflowsim"
	"portal/services/sandbox/pasbysim"
	"portal/services/sandbox/passportreadersim"
	"portal/services/sandbox/pawapasssim"
)

func main() {
	os.Exit(run())
}

func run() int {
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "portal: invalid configuration:", err)
		return 2
	}
	level := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}[cfg.LogLevel]
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	logger.Info("starting", cfg.Masked()...)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	// In sandbox mode the simulated customers act by themselves after a
	// while, so the demo is alive; a person on the simulators' pages (or
	// the sandbox page) is faster.
	a, err := app.New(ctx, cfg, logger, app.Options{
		OneFlowSim:        oneflowsim.Options{SettleAfter: cfg.SandboxSettleAfter},
		PasbySim:          pasbysim.Options{AutoSign: cfg.SandboxAutoSign},
		PawaPassSim:       pawapasssim.Options{AutoAdvance: cfg.SandboxAutoAdvance},
		PassportReaderSim: passportreadersim.Options{AutoAdvance: cfg.SandboxAutoAdvance},
		DashboardTTL:      15 * time.Second,
	})
	if err != nil {
		logger.Error("start-up failed", "err", err)
		return 1
	}
	defer a.Close()

	srv := &http.Server{
		Addr:              cfg.Addr,
		Handler:           a.Server,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Long enough for an SSE stream or a large CSV export to keep going.
		WriteTimeout:   0,
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 64 << 10,
	}
	srv.RegisterOnShutdown(a.Server.CloseStreams)
	a.Start(ctx)

	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	logger.Info("listening", "url", cfg.BaseURL.String(), "sandbox", cfg.SandboxEnabled())

	select {
	case err := <-errc:
		logger.Error("server stopped", "err", err)
		return 1
	case <-ctx.Done():
	}
	logger.Info("shutting down: letting in-flight requests finish")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Error("shutdown", "err", err)
		return 1
	}
	logger.Info("stopped")
	return 0
}
