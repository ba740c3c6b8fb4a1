// Package static embeds the portal's stylesheets, scripts and vendored
// assets and serves them with content-hash cache busting.
//
// Templates link assets through URL, which appends ?v=<hash>; the handler
// answers such versioned requests with a one-year immutable cache policy and
// everything else with no-cache, so a deploy never serves stale CSS/JS.
package static

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// Prefix is the URL path under which Handler expects to be mounted.
const Prefix = "/static/"

// Only asset types are embedded: the Go sources and VERSIONS.md stay out of
// the binary and can never be served. Add a pattern here when adding a new
// kind of asset (an unmatched pattern is a compile error, so list only
// types that exist).
//
//go:embed *.css *.js *.txt *.svg
var files embed.FS

// contentTypes pins the types we care about rather than trusting the host's
// mime.types, which on some systems maps .js to text/plain or worse.
var contentTypes = map[string]string{
	".css":   "text/css; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".txt":   "text/plain; charset=utf-8",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".ico":   "image/x-icon",
	".woff2": "font/woff2",
	".json":  "application/json",
	".map":   "application/json",
}

type asset struct {
	data        []byte
	version     string // first 12 hex chars of the SHA-256, used in ?v=
	etag        string // quoted full SHA-256
	contentType string
}

// assets is built once at init and read-only afterwards, so it is safe for
// concurrent use without locking.
var assets = load(files)

func load(fsys fs.FS) map[string]asset {
	m := make(map[string]asset)
	// Errors cannot happen with an embed.FS; skipping keeps init panic-free.
	_ = fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil
		}
		sum := sha256.Sum256(data)
		full := hex.EncodeToString(sum[:])
		ct, ok := contentTypes[path.Ext(name)]
		if !ok {
			ct = mime.TypeByExtension(path.Ext(name))
		}
		if ct == "" {
			ct = http.DetectContentType(data)
		}
		m[name] = asset{data: data, version: full[:12], etag: `"` + full + `"`, contentType: ct}
		return nil
	})
	return m
}

// URL returns the cache-busting URL of the named asset, e.g.
// "/static/app.css?v=0123456789ab". An unknown name yields the plain path
// (no panic) so a typo surfaces as a 404 rather than a crash.
func URL(name string) string {
	name = strings.TrimPrefix(name, "/")
	a, ok := assets[name]
	if !ok {
		return Prefix + name
	}
	return Prefix + name + "?v=" + a.version
}

// Handler serves the embedded assets. It expects the full request path,
// i.e. it must be mounted at Prefix without stripping it, e.g.
//
//	mux.Handle("/static/", static.Handler())
//	r.GET("/static/*filepath", gin.WrapH(static.Handler()))
//
// Requests whose v query matches the asset's hash are cached for a year as
// immutable; any other request gets no-cache (revalidated via the ETag).
// Unknown names and directories (including /static/ itself) are 404.
func Handler() http.Handler {
	return http.HandlerFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, Prefix)
	// Exact map lookup: "..", "./x", "dir/" and the empty name simply miss.
	a, found := assets[name]
	if !ok || !found {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", a.etag)
	if r.URL.Query().Get("v") == a.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	// Zero modtime: embedded files have none, so validation relies on ETag.
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.data))
}
