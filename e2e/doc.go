// Package e2e holds the browser tests: a headless Chromium (Debian's
// chromium package, /usr/bin/chromium, or CHROMIUM_PATH) driven with chromedp
// against a whole portal started by internal/apptest. The tests save full-page
// screenshots in e2e/screenshots/ (git-ignored) for a person to look at.
//
// Run them with `make test` (which installs chromium when it is missing) or
// `go test -race ./e2e/`. Without a browser the tests fail, so CI cannot pass
// by skipping them; only `go test -short` skips them when the browser is absent.
package e2e
