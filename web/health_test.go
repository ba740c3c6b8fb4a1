package web_test

import (
	"net/http"
	"testing"
)

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	c := p.Client()
	for path, body := range map[string]string{"/healthz": "ok", "/readyz": "ready"} {
		resp := p.Get(t, c, path)
		wantStatus(t, resp, http.StatusOK)
		if resp.Body != body {
			t.Errorf("GET %s: body %q, want %q", path, resp.Body, body)
		}
		// Probes need no session and set none.
		if len(resp.Cookies()) != 0 {
			t.Errorf("GET %s set cookies", path)
		}
	}

	// With the database gone, the portal is alive but not ready.
	sqlDB, err := p.App.DB.DB()
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlDB.Close(); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, p.Get(t, c, "/readyz"), http.StatusServiceUnavailable)
	wantStatus(t, p.Get(t, c, "/healthz"), http.StatusOK)
}
