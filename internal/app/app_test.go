package app

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"portal/internal/config"
)

func TestWebhookSecretGeneratedOnceAndKept(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"PORTAL_DB": filepath.Join(dir, "portal.db"), "PORTAL_SANDBOX": "on", "PORTAL_ADMIN_PASSWORD": "first staff password"}
	load := func() *config.Config {
		c, err := config.Load(func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	first := load()
	a, err := New(t.Context(), first, discardLogger(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	secret := first.Pasby.WebhookSecret
	if !config.WebhookSecretPattern.MatchString(secret) {
		t.Fatalf("generated secret %q does not match the pattern", secret)
	}
	st, err := os.Stat(filepath.Join(dir, "pasby-webhook.secret"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v, mode %v", err, st)
	}
	second := load()
	b, err := New(t.Context(), second, discardLogger(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	if second.Pasby.WebhookSecret != secret {
		t.Fatal("the webhook secret changed across restarts")
	}
	if b.PasbySim == nil {
		t.Fatal("sandbox without pasby credentials has no simulator")
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
