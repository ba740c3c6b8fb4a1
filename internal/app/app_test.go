package app

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"portal/internal/config"
)

// The sandbox simulator's webhook client may only reach the portal itself:
// anyone can create a sandbox document naming any webhook host.
func TestOwnHostOnlyClientRefusesOtherHosts(t *testing.T) {
	own := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer own.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		t.Error("the other host was reached")
	}))
	defer other.Close()
	hc := ownHostOnlyClient("http", strings.TrimPrefix(own.URL, "http://"), 5*time.Second)
	resp, err := hc.Post(own.URL+"/webhooks/pasby/x", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatalf("own host: %v", err)
	}
	resp.Body.Close()
	for _, target := range []string{other.URL + "/hook", "https://" + strings.TrimPrefix(own.URL, "http://") + "/hook", "http://169.254.169.254/latest"} {
		if resp, err := hc.Post(target, "application/json", strings.NewReader("{}")); err == nil {
			resp.Body.Close()
			t.Errorf("%s: reached, want refused", target)
		}
	}
}

func TestWebhookSecretGeneratedOnceAndKept(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"PORTAL_DB": filepath.Join(dir, "portal.db"), "PORTAL_SANDBOX": "on", "PORTAL_ADMIN_PASSWORD": "admin password"}
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
