package pasbysim_test

import (
	"net/http"
	"strings"
	"testing"

	"portal/services/sandbox/pasbysim"
	"portal/services/sandbox/simtest"
)

// The health check is the SDK's (health.healthCheck): GET /api/health/check
// under the simulator's root, x-api-key only, 200 when up.
func TestHealthCheck(t *testing.T) {
	e := setup(t, pasbysim.Options{})
	key := map[string]string{"x-api-key": pasbysim.DefaultAPIKey}
	for _, tc := range []struct {
		name    string
		method  string
		headers map[string]string
		code    int
		body    string // the whole answer when 200
		reason  string // part of the error's reason otherwise
	}{
		{"key, as the SDK sends it", http.MethodGet, key, http.StatusOK, "OK", ""},
		{"key and secret", http.MethodGet, v2Headers(), http.StatusOK, "OK", ""},
		{"HEAD", http.MethodHead, key, http.StatusOK, "", ""},
		{"no key", http.MethodGet, nil, http.StatusUnauthorized, "", "Missing x-api-key"},
		{"wrong key", http.MethodGet, map[string]string{"x-api-key": "bk-test_nope"}, http.StatusUnauthorized, "", "Invalid API key"},
		{"live key", http.MethodGet, map[string]string{"x-api-key": "bk-live_abc"}, http.StatusUnauthorized, "", "Live API keys"},
		{"wrong secret", http.MethodGet, map[string]string{"x-api-key": pasbysim.DefaultAPIKey, "x-access-secret": "snb_nope"}, http.StatusUnauthorized, "", "Invalid app secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, h, b := e.do(tc.method, pasbysim.PathHealth, tc.headers, "")
			if st != tc.code {
				t.Fatalf("HTTP %d, want %d: %s", st, tc.code, b)
			}
			if st == http.StatusOK {
				if string(b) != tc.body || h.Get("Content-Type") != "text/plain; charset=utf-8" {
					t.Fatalf("answer %q (%s), want %q as plain text", b, h.Get("Content-Type"), tc.body)
				}
				return
			}
			// The usual error envelope, but without a version: the route
			// has none.
			v := decodeEnvelope(t, b)
			if v.Status != "unauthorized" || v.Type != "authorization_error" || v.Version != "" || !strings.Contains(v.Reason, tc.reason) {
				t.Fatalf("error %s, want unauthorized / authorization_error, no version, reason containing %q", b, tc.reason)
			}
			if _, has := simtest.DecodeAny(t, b).(map[string]any)["version"]; has {
				t.Fatalf("error %s has a version", b)
			}
		})
	}
	st, _, _ := e.do(http.MethodPost, pasbysim.PathHealth, key, "")
	if st != http.StatusMethodNotAllowed {
		t.Errorf("POST: HTTP %d, want 405", st)
	}
	// A harness endpoint like the others (the 405 never reached it), so the
	// sandbox page counts and can fault it.
	hits := int64(-1)
	for _, ep := range e.harness.Snapshot()[0].Endpoints {
		if ep.Pattern == "GET "+pasbysim.PathHealth {
			hits = ep.Hits
		}
	}
	if hits != 7 {
		t.Errorf("health check hits %d, want 7", hits)
	}
}
