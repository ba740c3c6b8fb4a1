package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestDefaults(t *testing.T) {
	c, err := Load(env())
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8080" || c.DBPath != "./data/portal.db" || c.BaseURL.String() != "http://127.0.0.1:8080" {
		t.Fatalf("defaults: %+v", c)
	}
	if !c.SandboxEnabled() || c.Secure() || c.IdleTimeout != 30*time.Minute || c.AbsoluteTimeout != 12*time.Hour {
		t.Fatalf("defaults: sandbox=%v secure=%v idle=%v abs=%v", c.SandboxEnabled(), c.Secure(), c.IdleTimeout, c.AbsoluteTimeout)
	}
	if c.Pasby.APIVersion != "v2" || c.MaxRecharge.String() != "10000" || !c.StoreIDVImages() {
		t.Fatalf("defaults: pasby=%s max=%s images=%v", c.Pasby.APIVersion, c.MaxRecharge, c.StoreIDVImages())
	}
}

func TestInvalidValuesNameTheVariable(t *testing.T) {
	cases := []struct {
		name string
		env  []string
	}{
		{"PORTAL_ADDR", []string{"PORTAL_ADDR", "8080"}},
		{"PORTAL_BASE_URL", []string{"PORTAL_BASE_URL", "ftp://x"}},
		{"PORTAL_BASE_URL", []string{"PORTAL_BASE_URL", "https://x.example/sub"}},
		{"PORTAL_SESSION_KEY", []string{"PORTAL_SESSION_KEY", "short"}},
		{"PORTAL_ADMIN_EMAIL", []string{"PORTAL_ADMIN_EMAIL", "not-an-email"}},
		{"PORTAL_ADMIN_PASSWORD", []string{"PORTAL_ADMIN_PASSWORD", "1234567"}},
		{"PORTAL_SANDBOX", []string{"PORTAL_SANDBOX", "maybe"}},
		{"PORTAL_TRUSTED_PROXIES", []string{"PORTAL_TRUSTED_PROXIES", "10.0.0.0/8, not-an-ip"}},
		{"PORTAL_SESSION_IDLE_TIMEOUT", []string{"PORTAL_SESSION_IDLE_TIMEOUT", "soon"}},
		{"PORTAL_SESSION_ABSOLUTE_TIMEOUT", []string{"PORTAL_SESSION_IDLE_TIMEOUT", "2h", "PORTAL_SESSION_ABSOLUTE_TIMEOUT", "1h"}},
		{"PORTAL_LOG_LEVEL", []string{"PORTAL_LOG_LEVEL", "loud"}},
		{"PORTAL_CLAIM_LEASE", []string{"PORTAL_CLAIM_LEASE", "1s"}},
		{"PORTAL_CLAIM_LEASE", []string{"PORTAL_CLAIM_LEASE", "2h"}},
		{"PORTAL_MAX_RECHARGE", []string{"PORTAL_MAX_RECHARGE", "10.001"}},
		{"PORTAL_MAX_RECHARGE", []string{"PORTAL_MAX_RECHARGE", "-5"}},
		{"IDV_STORE_IMAGES", []string{"IDV_STORE_IMAGES", "perhaps"}},
		{"PASBY_API_VERSION", []string{"PASBY_API_VERSION", "v3"}},
		{"PASBY_WEBHOOK_SECRET", []string{"PASBY_WEBHOOK_SECRET", "too-short"}},
		{"PASBY_WEBHOOK_SECRET", []string{"PASBY_WEBHOOK_SECRET", "has/a/slash/in/it/0123456789"}},
		{"PASBY_BASE_URL", []string{"PASBY_BASE_URL", "not a url"}},
		{"PASBY_API_KEY", []string{"PASBY_BASE_URL", "https://s.pasby.example"}},
		{"ONEFLOW_BASE_URL", []string{"ONEFLOW_CLIENT_ID", "id"}},
		{"PORTAL_SANDBOX", []string{"PORTAL_SANDBOX", "off"}},
	}
	for _, c := range cases {
		_, err := Load(env(c.env...))
		var ce *Error
		if !errors.As(err, &ce) {
			t.Errorf("%v: err = %v, want *Error", c.env, err)
			continue
		}
		if ce.Var != c.name || !strings.HasPrefix(err.Error(), c.name+": ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error %q should be one line naming %s", c.env, err, c.name)
		}
	}
}

func TestProviderConfiguredTurnsAutoSandboxOffAndUsesIt(t *testing.T) {
	c, err := Load(env("ONEFLOW_BASE_URL", "https://partner.example/api/", "ONEFLOW_CLIENT_ID", "id", "ONEFLOW_CLIENT_SECRET", "secret", "PORTAL_SANDBOX", "on"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.OneFlow.Configured() || c.OneFlow.BaseURL != "https://partner.example/api" || !c.SandboxEnabled() {
		t.Fatalf("oneflow=%+v sandbox=%v", c.OneFlow, c.SandboxEnabled())
	}
	c, err = Load(env("ONEFLOW_BASE_URL", "https://partner.example", "ONEFLOW_CLIENT_ID", "id", "ONEFLOW_CLIENT_SECRET", "secret"))
	if err == nil || c != nil {
		t.Fatal("auto sandbox with only one provider configured should refuse to start half-configured")
	}
}

func TestHTTPSBaseURLIsSecure(t *testing.T) {
	c, err := Load(env("PORTAL_BASE_URL", "https://portal.example.com/"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Secure() || c.BaseURL.String() != "https://portal.example.com" {
		t.Fatalf("secure=%v base=%s", c.Secure(), c.BaseURL)
	}
}

func TestMaskedHidesSecrets(t *testing.T) {
	secrets := []string{"a-very-long-session-key-0123456789abcdef", "bk-test_key", "snb_secret", "public-key-x", "secret-y", "pawa-key", "hook-secret", "client-id", "client-secret", "pasby_webhook_secret_0123456789"}
	c, err := Load(env(
		"PORTAL_SESSION_KEY", secrets[0], "PORTAL_SANDBOX", "on",
		"PASBY_BASE_URL", "https://s.pasby.example", "PASBY_API_KEY", secrets[1], "PASBY_APP_SECRET", secrets[2],
		"IDV_BASE_URL", "https://idv.example", "IDV_PUBLIC_KEY", secrets[3], "IDV_SECRET", secrets[4],
		"PAWAPASS_BASE_URL", "https://pawa.example", "PAWAPASS_API_KEY", secrets[5], "PAWAPASS_WEBHOOK_SECRET", secrets[6],
		"ONEFLOW_BASE_URL", "https://oneflow.example", "ONEFLOW_CLIENT_ID", secrets[7], "ONEFLOW_CLIENT_SECRET", secrets[8],
		"PASBY_WEBHOOK_SECRET", secrets[9],
	))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, v := range c.Masked() {
		b.WriteString(strings.TrimSpace(strings.ReplaceAll(toString(v), "\n", " ")))
		b.WriteByte(' ')
	}
	for _, s := range secrets {
		if strings.Contains(b.String(), s) {
			t.Errorf("Masked() reveals %q", s)
		}
	}
}

func toString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []string:
		return strings.Join(v, ",")
	}
	return ""
}

func TestDurationMessagesReadAsTyped(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Minute: "1m", 10 * time.Minute: "10m", 2 * time.Second: "2s",
		720 * time.Hour: "720h", time.Hour: "1h", 90 * time.Second: "1m30s"} {
		if got := short(d); got != want {
			t.Errorf("short(%v) = %q, want %q", d, got, want)
		}
	}
}
