// Package e2e holds the browser tests: a headless Chromium (Debian's
// chromium package, /usr/bin/chromium, or CHROMIUM_PATH) driven with chromedp
// against a whole portal started by internal/apptest. The tests save full-page
// screenshots in e2e/screenshots/ (git-ignored) for a person to look at.
//
// The accessibility tour (a11y_test.go) checks every page with axe-core,
// which it installs from the npm project in e2e/axe (an exact version, the
// lockfile committed) with `npm ci` and injects into each page; the portal
// never serves it. `make test` installs node and npm (make node-deps).
//
// Run them with `make test` (which installs chromium when it is missing) or
// `go test -race ./e2e/`. Without a browser the tests fail, so CI cannot pass
// by skipping them; only `go test -short` skips them when the browser is absent.
package e2e
