package e2e

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"portal/internal/proctest"
)

// defaultChromium is where Debian's chromium package puts its launcher.
const defaultChromium = "/usr/bin/chromium"

// browserFlags are the only switches the browser is started with (plus the
// user data dir, and the debugging pipe chromedp adds). chromedp's
// DefaultExecAllocatorOptions are deliberately not used: this list is the
// whole story, and none of it makes the browser talk to anything but the
// portal on 127.0.0.1.
var browserFlags = []string{
	"headless",
	"no-sandbox",
	"disable-gpu",
	"disable-quic",
	"no-first-run",
	"disable-background-networking",
	"disable-component-update",
	"disable-sync",
}

// Desktop and phone viewports for the screenshots.
const (
	desktopWidth, desktopHeight = 1280, 900
	phoneWidth, phoneHeight     = 390, 844
)

// stepTimeout bounds one step; the journey as a whole has its own.
const stepTimeout = 15 * time.Second

// screenshotDir is relative to the package folder, where go test runs.
const screenshotDir = "screenshots"

// chromiumPath is the browser to drive: CHROMIUM_PATH, or Debian's.
func chromiumPath() string {
	if p := os.Getenv("CHROMIUM_PATH"); p != "" {
		return p
	}
	return defaultChromium
}

// browser is one headless Chromium with one tab, watched for console errors.
type browser struct {
	t       *testing.T
	ctx     context.Context
	console *consoleWatch
	output  *proctest.Buffer // the browser's own output, for failure messages
}

// startBrowser starts Chromium with a fresh profile; it is closed when the
// test ends (or when parent is done). A missing browser fails the test, so a
// CI without it cannot pass silently; only -short skips.
func startBrowser(t *testing.T, parent context.Context) *browser {
	t.Helper()
	path := chromiumPath()
	if _, err := exec.LookPath(path); err != nil {
		msg := fmt.Sprintf("no Chromium at %s (%v): run `make test`, which installs it, or set CHROMIUM_PATH", path, err)
		if testing.Short() {
			t.Skip(msg)
		}
		t.Fatal(msg)
	}

	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	output := &proctest.Buffer{}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		// The browser gets a clean environment: none of the test process's
		// variables (tokens, proxies), a throwaway HOME so nothing is written
		// to the real one, and a fixed zone and language so screenshots are
		// the same on every machine.
		chromedp.NoInheritEnv,
		chromedp.Env(browserEnv(home)...),
		chromedp.CombinedOutput(output),
	}
	for _, f := range browserFlags {
		opts = append(opts, chromedp.Flag(f, true))
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(parent, opts...)
	t.Cleanup(cancelAlloc) // also waits for the browser process to exit

	console := &consoleWatch{}
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithListener(console.record))
	t.Cleanup(cancel)

	b := &browser{t: t, ctx: ctx, console: console, output: output}
	start := time.Now()
	// Hidden scrollbars (set over the protocol, not with a flag) keep full-page
	// screenshots exactly as wide as the viewport.
	hideScrollbars := chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetScrollbarsHidden, emulation.SetScrollbarsHiddenParams{Hidden: true})
		return err
	})
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(desktopWidth, desktopHeight), hideScrollbars); err != nil {
		t.Fatalf("start %s: %v\nbrowser output:\n%s", path, err, output)
	}
	t.Logf("browser started in %v", time.Since(start).Round(time.Millisecond))
	return b
}

func browserEnv(home string) []string {
	path := os.Getenv("PATH") // the Debian launcher is a shell script
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	env := []string{"HOME=" + home, "PATH=" + path, "TZ=UTC", "LANG=en_US.UTF-8"}
	if tmp := os.Getenv("TMPDIR"); tmp != "" {
		env = append(env, "TMPDIR="+tmp)
	}
	return env
}

// step runs actions as one named step of a journey; console messages are
// tagged with the step, and a failure saves a screenshot of the page.
func (b *browser) step(name string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	b.console.setStep(name)
	start := time.Now()
	// A step gets its own deadline, shorter than the journey's, so that the
	// browser is still there to take the failure screenshot.
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail(name, err)
	}
	b.t.Logf("step %-28q %v", name, time.Since(start).Round(time.Millisecond))
}

// fail reports where the browser was, keeps a picture of it and stops.
func (b *browser) fail(name string, err error) {
	b.t.Helper()
	// The browser lives as long as b.ctx; if that expired, this fails too.
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	file := "failure-" + strings.NewReplacer(" ", "-", "/", "-").Replace(name) + ".png"
	if buf, serr := chromedp.Run(ctx, fullPagePNG()); serr == nil {
		_ = os.WriteFile(filepath.Join(screenshotDir, file), buf, 0o644)
	} else {
		file = "(no screenshot: " + serr.Error() + ")"
	}
	b.t.Fatalf("step %q: %v\nlocation: %s\nscreenshot: %s\nconsole:\n%s", name, err, loc, file, b.console.dump())
}

// text returns the visible text of the first element matching css.
func (b *browser) text(css string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(css)))
	if err != nil {
		b.fail("read text of "+css, err)
	}
	return strings.TrimSpace(s)
}

// value returns the value property of the first element matching css.
func (b *browser) value(css string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.CSS(css)))
	if err != nil {
		b.fail("read value of "+css, err)
	}
	return s
}

// location returns the address of the page.
func (b *browser) location() string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.fail("read location", err)
	}
	return s
}

// eval runs a JavaScript expression in the page.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.fail("evaluate "+expr, err)
	}
	return v
}

// screenshot saves a full-page PNG at the current viewport width.
func (b *browser) screenshot(name string) string {
	b.t.Helper()
	buf, err := chromedp.Run(b.ctx, fullPagePNG())
	if err != nil {
		b.fail("screenshot "+name, err)
	}
	path := filepath.Join(screenshotDir, name)
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		b.t.Fatalf("save %s: %v", path, err)
	}
	return path
}

// fullPagePNG captures the whole page, not only the viewport, as a PNG at
// the viewport's width. chromedp.FullScreenshot in v0.23 sends no clip, so
// Chromium returns just the viewport (and any quality below 100 makes a
// JPEG); this clips to the page's content height as Puppeteer's fullPage
// does.
func fullPagePNG() chromedp.Action[[]byte] {
	return func(ctx context.Context, t *chromedp.Target) ([]byte, error) {
		m, err := cdp.Call(ctx, t, page.GetLayoutMetrics, cdp.Empty{})
		if err != nil {
			return nil, err
		}
		if m.CSSLayoutViewport == nil || m.CSSContentSize == nil {
			return nil, fmt.Errorf("layout metrics without viewport or content size")
		}
		width := float64(m.CSSLayoutViewport.ClientWidth)
		height := max(math.Ceil(m.CSSContentSize.Height), float64(m.CSSLayoutViewport.ClientHeight))
		res, err := cdp.Call(ctx, t, page.CaptureScreenshot, page.CaptureScreenshotParams{
			Format:                page.CaptureScreenshotFormatPng,
			CaptureBeyondViewport: new(true),
			FromSurface:           new(true),
			Clip:                  &page.Viewport{Width: width, Height: height, Scale: 1},
		})
		if err != nil {
			return nil, err
		}
		return res.Data, nil
	}
}

// consoleEntry is one message from the page: a console API call, an
// uncaught exception, or a browser log entry (network, security/CSP, ...).
type consoleEntry struct {
	Step   string
	Kind   string // "console", "exception" or "log"
	Level  string // console type or log level
	Source string // log source, e.g. "network", "security"
	URL    string
	Text   string
}

func (e consoleEntry) String() string {
	s := fmt.Sprintf("[%s] %s.%s", e.Step, e.Kind, e.Level)
	if e.Source != "" {
		s += "(" + e.Source + ")"
	}
	s += ": " + e.Text
	if e.URL != "" {
		s += " <" + e.URL + ">"
	}
	return s
}

// isProblem says whether a message means the page is broken: any error, an
// uncaught exception, or a CSP violation at whatever level Chrome reports it
// (report-only policies log warnings; older Chromium says "Refused to ...",
// 156 says "... violates the following Content Security Policy directive").
func (e consoleEntry) isProblem() bool {
	switch {
	case e.Kind == "exception":
		return true
	case e.Level == "error" || e.Level == "assert":
		return true
	case strings.Contains(e.Text, "Refused to"), strings.Contains(e.Text, "Content Security Policy"),
		e.Source == "security":
		return true
	}
	return false
}

// allowance is a problem that one step is expected to produce.
type allowance struct {
	step  string
	what  string
	match func(consoleEntry) bool
}

// consoleWatch records every message the tab reports. record runs inside
// chromedp's read loop, so it only appends under a lock.
type consoleWatch struct {
	mu      sync.Mutex
	step    string
	entries []consoleEntry
}

func (w *consoleWatch) setStep(s string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.step = s
}

func (w *consoleWatch) record(ev any) {
	var e consoleEntry
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		e.Kind, e.Level = "exception", "error"
		if d := ev.ExceptionDetails; d != nil {
			e.Text, e.URL = d.Text, d.URL
			if d.Exception != nil && d.Exception.Description != "" {
				e.Text += " " + d.Exception.Description
			}
		}
	case *runtime.EventConsoleAPICalled:
		e.Kind, e.Level = "console", string(ev.Type)
		parts := make([]string, 0, len(ev.Args))
		for _, a := range ev.Args {
			switch {
			case a.Description != "":
				parts = append(parts, a.Description)
			case len(a.Value) > 0:
				parts = append(parts, string(a.Value))
			default:
				parts = append(parts, string(a.Type))
			}
		}
		e.Text = strings.Join(parts, " ")
	case *log.EventEntryAdded:
		if ev.Entry == nil {
			return
		}
		e.Kind, e.Level, e.Source = "log", string(ev.Entry.Level), string(ev.Entry.Source)
		e.Text, e.URL = ev.Entry.Text, ev.Entry.URL
	default:
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	e.Step = w.step
	w.entries = append(w.entries, e)
}

// problems returns the problem messages no allowance covers, and the
// allowances that never matched (an expected message that did not appear
// means the check itself is not seeing what it should).
func (w *consoleWatch) problems(allowed []allowance) (unexpected []consoleEntry, unmet []allowance) {
	w.mu.Lock()
	defer w.mu.Unlock()
	met := make([]bool, len(allowed))
	for _, e := range w.entries {
		if !e.isProblem() {
			continue
		}
		ok := false
		for i, a := range allowed {
			if a.step == e.Step && a.match(e) {
				met[i], ok = true, true
				break
			}
		}
		if !ok {
			unexpected = append(unexpected, e)
		}
	}
	for i, a := range allowed {
		if !met[i] {
			unmet = append(unmet, a)
		}
	}
	return unexpected, unmet
}

// waitFor polls the recorded messages until one matches (the CSP report
// can arrive just after the command that caused it returns).
func (w *consoleWatch) waitFor(ctx context.Context, match func(consoleEntry) bool) bool {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		w.mu.Lock()
		for _, e := range w.entries {
			if match(e) {
				w.mu.Unlock()
				return true
			}
		}
		w.mu.Unlock()
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}

func (w *consoleWatch) dump() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var sb strings.Builder
	for _, e := range w.entries {
		sb.WriteString("  " + e.String() + "\n")
	}
	if sb.Len() == 0 {
		return "  (none)\n"
	}
	return sb.String()
}
