package static

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, req)
	return rec
}

func fileHash(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func TestURL(t *testing.T) {
	re := regexp.MustCompile(`^/static/app\.css\?v=[0-9a-f]{12}$`)
	u := URL("app.css")
	if !re.MatchString(u) {
		t.Fatalf("URL(app.css) = %q, want /static/app.css?v=<12 hex>", u)
	}
	if u2 := URL("app.css"); u2 != u {
		t.Errorf("URL not stable: %q then %q", u, u2)
	}
	for _, name := range []string{"app.css", "app.js", "htmx.min.js", "htmx.LICENSE.txt"} {
		want := "/static/" + name + "?v=" + fileHash(t, name)[:12]
		if got := URL(name); got != want {
			t.Errorf("URL(%q) = %q, want %q", name, got, want)
		}
	}
	if URL("app.css") == URL("app.js") {
		t.Error("different files share a version")
	}
}

func TestURLMissingDoesNotPanic(t *testing.T) {
	for name, want := range map[string]string{
		"nope.css":    "/static/nope.css",
		"static.go":   "/static/static.go",
		"VERSIONS.md": "/static/VERSIONS.md",
	} {
		if got := URL(name); got != want {
			t.Errorf("URL(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestCachingHeaders(t *testing.T) {
	cases := []struct {
		file, target, cache string
	}{
		{"app.js", URL("app.js"), "public, max-age=31536000, immutable"},
		{"htmx.min.js", URL("htmx.min.js"), "public, max-age=31536000, immutable"},
		{"app.js", "/static/app.js?v=000000000000", "no-cache"},
		{"app.js", "/static/app.js?v=" + fileHash(t, "app.js")[:11], "no-cache"},
		{"app.js", "/static/app.js?v=", "no-cache"},
		{"app.js", "/static/app.js", "no-cache"},
		{"app.css", "/static/app.css" + strings.TrimPrefix(URL("app.js"), "/static/app.js"), "no-cache"}, // another file's version
	}
	for _, c := range cases {
		rec := get(t, http.MethodGet, c.target, nil)
		if rec.Code != http.StatusOK {
			t.Errorf("%s: status %d", c.target, rec.Code)
			continue
		}
		if got := rec.Header().Get("Cache-Control"); got != c.cache {
			t.Errorf("%s: Cache-Control = %q, want %q", c.target, got, c.cache)
		}
		if want := `"` + fileHash(t, c.file) + `"`; rec.Header().Get("ETag") != want {
			t.Errorf("%s: ETag = %q, want %q", c.target, rec.Header().Get("ETag"), want)
		}
	}
}

func TestBodyMatchesFile(t *testing.T) {
	rec := get(t, http.MethodGet, URL("app.css"), nil)
	data, _ := os.ReadFile("app.css")
	if rec.Body.String() != string(data) {
		t.Error("served app.css differs from the file on disk")
	}
}

func TestETagRevalidation(t *testing.T) {
	etag := get(t, http.MethodGet, "/static/app.css", nil).Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	rec := get(t, http.MethodGet, "/static/app.css", map[string]string{"If-None-Match": etag})
	if rec.Code != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d, want 304", rec.Code)
	}
}

func TestContentTypes(t *testing.T) {
	for target, want := range map[string]string{
		"/static/app.js":           "text/javascript; charset=utf-8",
		"/static/htmx.min.js":      "text/javascript; charset=utf-8",
		"/static/app.css":          "text/css; charset=utf-8",
		"/static/htmx.LICENSE.txt": "text/plain; charset=utf-8",
	} {
		rec := get(t, http.MethodGet, target, nil)
		if got := rec.Header().Get("Content-Type"); got != want {
			t.Errorf("%s: Content-Type = %q, want %q", target, got, want)
		}
		if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options = %q", target, got)
		}
	}
}

func TestNotFound(t *testing.T) {
	for _, target := range []string{
		"/static/",
		"/static",
		"/static/?v=abc",
		"/static/nope.js",
		"/static/static.go",
		"/static/static_test.go",
		"/static/VERSIONS.md",
		"/static/./app.css",
		"/static//app.css",
		"/static/../static/app.css",
		"/static/app.css/",
		"/static/.",
		"/app.css",
		"/other/app.css",
	} {
		if rec := get(t, http.MethodGet, target, nil); rec.Code != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", target, rec.Code)
		}
	}
}

func TestMethods(t *testing.T) {
	rec := get(t, http.MethodHead, URL("app.css"), nil)
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD: status %d, body %d bytes", rec.Code, rec.Body.Len())
	}
	rec = get(t, http.MethodPost, "/static/app.css", nil)
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") == "" {
		t.Errorf("POST: status %d, Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
}

// The templates rely on these class names; fail loudly if one is renamed.
func TestCSSDefinesClasses(t *testing.T) {
	data, err := os.ReadFile("app.css")
	if err != nil {
		t.Fatal(err)
	}
	css := string(data)
	classes := []string{
		"app-header", "brand", "nav", "user-menu", "banner-sandbox", "main", "page-header", "footer",
		"card", "card-title", "grid", "grid-2", "grid-3", "stats", "stat", "stat-value", "stat-label",
		"muted", "mono", "nowrap", "sr-only", "right", "stack", "row",
		"table-wrap", "table", "num",
		"btn", "btn-primary", "btn-secondary", "btn-danger", "btn-small", "btn-link", "actions",
		"form", "form-wide", "field", "hint", "field-error", "has-error", "inline-form", "filters",
		"flash", "flash-success", "flash-error", "flash-info", "flash-warning", "empty-state", "error-page",
		"badge", "badge-ok", "badge-warn", "badge-bad", "badge-info", "badge-muted", "badge-live",
		"pager", "login-page", "login-box", "details", "timeline", "kv",
		"htmx-indicator", "htmx-request",
	}
	for _, c := range classes {
		if !regexp.MustCompile(`\.` + regexp.QuoteMeta(c) + `([^\w-]|$)`).MatchString(css) {
			t.Errorf("app.css does not define .%s", c)
		}
	}
	for _, sel := range []string{"button[disabled]", `a[aria-disabled="true"]`, "time[data-utc]", "prefers-reduced-motion", ":focus-visible"} {
		if !strings.Contains(css, sel) {
			t.Errorf("app.css lacks %s", sel)
		}
	}
	if strings.Contains(css, "@import") || strings.Contains(css, "url(") {
		t.Error("app.css must not load external resources")
	}
}

// VERSIONS.md must describe what is actually vendored.
func TestVersionsChecksums(t *testing.T) {
	data, err := os.ReadFile("VERSIONS.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`(?m)^\|\s*(\S+)\s*\|\s*(\S+)\s*\|\s*(\S+)\s*\|\s*([0-9a-f]{64})\s*\|$`)
	seen := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(string(data), -1) {
		seen[m[1]] = true
		if got := fileHash(t, m[1]); got != m[4] {
			t.Errorf("VERSIONS.md: %s sha256 %s, file has %s", m[1], m[4], got)
		}
	}
	for _, name := range []string{"htmx.min.js", "htmx.LICENSE.txt"} {
		if !seen[name] {
			t.Errorf("VERSIONS.md has no row for %s", name)
		}
	}
	htmx, _ := os.ReadFile("htmx.min.js")
	if v := regexp.MustCompile(`version:"([^"]+)"`).FindSubmatch(htmx); v == nil || !strings.Contains(string(data), "| "+string(v[1])+" |") {
		t.Errorf("htmx.min.js version not recorded in VERSIONS.md")
	}
}
