package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"portal/services/sandbox/oneflowsim"
)

func TestLoadConfig(t *testing.T) {
	ok := map[string]string{"SANDBOX_PORTAL_URL": "http://127.0.0.1:8080"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range ok {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		wantVar string // "" = valid
	}{
		{"defaults on loopback", ok, ""},
		{"no portal url", map[string]string{}, "SANDBOX_PORTAL_URL"},
		{"portal url with a path", with("SANDBOX_PORTAL_URL", "http://portal/x"), "SANDBOX_PORTAL_URL"},
		{"portal url not http", with("SANDBOX_PORTAL_URL", "ftp://portal"), "SANDBOX_PORTAL_URL"},
		{"bad addr", with("SANDBOX_ADDR", "9090"), "SANDBOX_ADDR"},
		{"public address without a token", with("SANDBOX_ADDR", "0.0.0.0:9090"), "SANDBOX_CONTROL_TOKEN"},
		{"public address with a token", with("SANDBOX_ADDR", "0.0.0.0:9090", "SANDBOX_CONTROL_TOKEN", strings.Repeat("t", 24)), ""},
		{"short token", with("SANDBOX_CONTROL_TOKEN", "short"), "SANDBOX_CONTROL_TOKEN"},
		{"settle after in range", with("SANDBOX_SETTLE_AFTER", "2s"), ""},
		{"settle after too short", with("SANDBOX_SETTLE_AFTER", "10ms"), "SANDBOX_SETTLE_AFTER"},
		{"auto sign not a duration", with("SANDBOX_AUTO_SIGN", "soon"), "SANDBOX_AUTO_SIGN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig(func(k string) string { return tc.env[k] })
			switch {
			case tc.wantVar == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantVar != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.wantVar+": ")):
				t.Fatalf("error %v, want one about %s", err, tc.wantVar)
			}
		})
	}
}

func TestControlAPI(t *testing.T) {
	store := filepath.Join(t.TempDir(), "sandbox.db")
	c, err := loadConfig(func(k string) string {
		return map[string]string{"SANDBOX_PORTAL_URL": "http://127.0.0.1:1", "SANDBOX_CONTROL_TOKEN": "a-control-token-of-length", "SANDBOX_STORE": store}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	h, closers, err := simulators(t.Context(), c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, s := range closers {
			_ = s.Close()
		}
	}()
	srv := httptest.NewServer(routes(h, c.controlToken))
	defer srv.Close()
	post := func(path, token string, form url.Values) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	fault := url.Values{"sim": {"oneflow"}, "endpoint": {"*"}, "kind": {"status"}, "status": {"503"}}
	for _, tc := range []struct {
		name, path, token string
		form              url.Values
		want              int
	}{
		{"no token", "/_control/faults", "", fault, http.StatusUnauthorized},
		{"wrong token", "/_control/faults", "a-control-token-of-lengtX", fault, http.StatusUnauthorized},
		{"fault set", "/_control/faults", c.controlToken, fault, http.StatusOK},
		{"bad fault", "/_control/faults", c.controlToken, url.Values{"sim": {"oneflow"}, "endpoint": {"*"}, "kind": {"status"}, "status": {"42"}}, http.StatusUnprocessableEntity},
		{"unknown simulator", "/_control/faults", c.controlToken, url.Values{"sim": {"nope"}, "endpoint": {"*"}, "kind": {"hang"}}, http.StatusNotFound},
		{"unknown action", "/_control/actions", c.controlToken, url.Values{"sim": {"oneflow"}, "action": {"nope"}}, http.StatusNotFound},
		{"clear", "/_control/faults/clear", c.controlToken, url.Values{}, http.StatusOK},
	} {
		if got, body := post(tc.path, tc.token, tc.form); got != tc.want {
			t.Errorf("%s: %d (%s), want %d", tc.name, got, body, tc.want)
		}
	}
	// The simulators answer under /sandbox/<name>/ as inside the portal.
	resp, err := http.Post(srv.URL+"/sandbox/oneflow"+oneflowsim.PathToken, "application/x-www-form-urlencoded", strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("token without credentials: %d, want 401 from the 1flow simulator", resp.StatusCode)
	}
}

// The store file belongs to one sandbox process: a second one on the same
// file is refused with a message that says why, and the file opens again
// once the first has stopped.
func TestOneSandboxPerStore(t *testing.T) {
	store := filepath.Join(t.TempDir(), "sandbox.db")
	c, err := loadConfig(func(k string) string {
		return map[string]string{"SANDBOX_PORTAL_URL": "http://127.0.0.1:1", "SANDBOX_STORE": store}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	closeAll := func(closers []interface{ Close() error }) {
		for _, s := range closers {
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		}
	}
	_, closers, err := simulators(t.Context(), c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := simulators(t.Context(), c, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		closeAll(closers)
		t.Fatalf("a second sandbox on the same store: %v, want refused as in use", err)
	}
	closeAll(closers)
	_, closers, err = simulators(t.Context(), c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("the store does not open again after the first sandbox stopped: %v", err)
	}
	closeAll(closers)
}
