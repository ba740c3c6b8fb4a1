package main

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"portal/internal/npmtest"
	"portal/services/sandbox/pasbysim"
	"portal/services/sandbox/simtest"
)

// sdkDir holds the Node project that runs pasby's own SDK
// (@finsel-dgi/pasby, pinned in its package.json and package-lock.json).
var sdkDir = filepath.Join("..", "..", "contract", "pasby-sdk")

// nodeSummary is the spec reporter's closing count of passed and failed
// tests.
var nodeSummary = regexp.MustCompile(`(?m)^\S* ?(tests|pass|fail) (\d+)$`)

// TestPasbySDK runs contract/pasby-sdk/sdk.test.js against this command's
// own server (the simulators and the control API a person or script uses):
// pasby's SDK checks health, creates, pings, signs through the control API,
// cancels and authorizes over real HTTP. Where the SDK and the documents
// disagree the script expects the documented answer (see the pasbysim
// package doc).
func TestPasbySDK(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Node (and npm ci when node_modules is stale): not in -short")
	}
	node := nodeTool(t, "node")
	dir, err := filepath.Abs(sdkDir)
	if err != nil {
		t.Fatal(err)
	}
	nodeTool(t, "npm")
	if err := npmtest.Install(t.Context(), dir); err != nil {
		t.Fatalf("install the pasby SDK: %v", err)
	}

	hooks := simtest.NewReceiver(t, "/webhooks/pasby/sdk-contract")
	portal, err := url.Parse(hooks.URL())
	if err != nil {
		t.Fatal(err)
	}
	const token = "sdk-contract-control-token"
	store := filepath.Join(t.TempDir(), "sandbox.db")
	c, err := loadConfig(func(k string) string {
		return map[string]string{"SANDBOX_PORTAL_URL": portal.Scheme + "://" + portal.Host, "SANDBOX_CONTROL_TOKEN": token, "SANDBOX_STORE": store}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	h, closers, err := simulators(t.Context(), c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(routes(h, c.controlToken))
	t.Cleanup(srv.Close)
	// Registered after srv.Close so they run first: a simulator's Close
	// ends the streams srv.Close would otherwise wait for.
	t.Cleanup(func() {
		for _, s := range closers {
			_ = s.Close()
		}
	})

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test-reporter=spec", "sdk.test.js")
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	// Appended last, so these win over anything a developer's .env exported
	// under the same names.
	cmd.Env = append(os.Environ(),
		"PASBY_BASE_URL="+srv.URL+"/sandbox/pasby",
		"PASBY_API_KEY="+pasbysim.DefaultAPIKey,
		"PASBY_APP_SECRET="+pasbysim.DefaultAppSecret,
		"SANDBOX_CONTROL_URL="+srv.URL+"/_control",
		"SANDBOX_CONTROL_TOKEN="+token,
		"PASBY_WEBHOOK_URL="+hooks.URL(),
		"NO_COLOR=1",
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the pasby SDK contract failed (%v):\n%s", err, out)
	}
	t.Logf("pasby SDK contract:\n%s", out)
	// A runner that found no tests exits 0 too.
	counts := map[string]int{}
	for _, m := range nodeSummary.FindAllSubmatch(out, -1) {
		counts[string(m[1])], _ = strconv.Atoi(string(m[2]))
	}
	if counts["tests"] == 0 || counts["pass"] != counts["tests"] || counts["fail"] != 0 {
		t.Errorf("the SDK contract ran %d tests, %d passed, %d failed: want all of at least one to pass", counts["tests"], counts["pass"], counts["fail"])
	}
}

// nodeTool finds name on PATH. Without it the test is skipped on a
// developer's machine, but on CI (CI=true) that would hide the contract, so
// it fails there.
func nodeTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed, and CI=true: the pasby SDK contract test must run on CI. "+
			"Install Debian's nodejs and npm (make node-deps does, as root): apt-get install nodejs npm", name)
	}
	t.Skipf("%s is not installed: skipping the pasby SDK contract test (install nodejs and npm, or run make node-deps)", name)
	return ""
}
