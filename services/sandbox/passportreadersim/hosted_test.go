package passportreadersim_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"portal/services/sandbox/passportreadersim"
	"portal/services/sandbox/simtest"
)

// checkPageHeaders checks the page's own security headers and that it has
// no script of any kind.
func checkPageHeaders(t *testing.T, h http.Header, html string) {
	t.Helper()
	if h.Get("Content-Type") != "text/html; charset=utf-8" || h.Get("Cache-Control") != "no-store" || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("headers %v", h)
	}
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "style-src 'self'", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Fatalf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") || strings.Contains(csp, "script-src") {
		t.Fatalf("CSP %q", csp)
	}
	lower := strings.ToLower(html)
	for _, bad := range []string{"<script", " onclick", " onsubmit", "style=", "<style", "javascript:", `http-equiv="refresh"`} {
		if strings.Contains(lower, bad) {
			t.Fatalf("page contains %q", bad)
		}
	}
}

func TestOpenPageHappyPath(t *testing.T) {
	e := setup(t, passportreadersim.Options{})
	c := e.createWithCallback("secret-reference-9f3", true)
	redirect := "https://portal.example/verify/done?x=1&y=2"
	page := e.openURL(c.Token, redirect)

	st, h, html := e.page(page)
	if st != http.StatusOK {
		t.Fatalf("page: %d", st)
	}
	checkPageHeaders(t, h, html)
	if strings.Contains(html, "secret-reference-9f3") {
		t.Fatal("the page shows the reference, which may be the callback's secret")
	}
	if strings.Contains(html, redirect) || strings.Contains(html, "Return to the service") {
		t.Fatal("the return link is shown before a final state")
	}
	if !slices.Equal(simtest.Buttons(html), []string{"Open in the PassportReader app", "Abort verification"}) {
		t.Fatalf("buttons %q", simtest.Buttons(html))
	}
	// The stylesheet it links is served.
	css := regexp.MustCompile(`<link rel="stylesheet" href="([^"]+)">`).FindStringSubmatch(html)
	if css == nil || css[1] != "/sandbox/passportreader/assets/open.css" {
		t.Fatalf("stylesheet link %v", css)
	}
	if st, h, _ := e.page(e.srv.URL + css[1]); st != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/css") {
		t.Fatalf("stylesheet: %d %v", st, h)
	}

	// Open in the app: INITIATED, from this browser.
	st, html = e.submit(page, "Open in the PassportReader app", nil)
	if st != http.StatusOK || !strings.Contains(html, "Opened in the PassportReader app") || !strings.Contains(html, "INITIATED") {
		t.Fatalf("after open: %d\n%s", st, html)
	}
	d := e.get(c.ID)
	if d.State != "INITIATED" || d.UserIP != "127.0.0.1" || d.UserAgent != "PassportReaderTest/1.0 (phone)" || d.Surname != "" {
		t.Fatalf("after open %+v", d)
	}

	// Scan: the form is prefilled with the values the chip would give.
	f := e.findForm(page, "Scan passport")
	for _, k := range []string{"given_names", "surname", "nationality", "sex", "date_of_birth", "document_type", "document_number", "expiry_date", "issuing_country", "issuer"} {
		if f.Values.Get(k) == "" {
			t.Fatalf("scan form: %s is empty: %v", k, f.Values)
		}
	}
	if f.Values.Get("document_type") != "PASSPORT" {
		t.Fatalf("document_type %q", f.Values.Get("document_type"))
	}
	prefilled := f.Values.Get("document_number")
	st, html = e.submit(page, "Scan passport", map[string]string{"surname": "MUSTERMANN"})
	if st != http.StatusOK || !strings.Contains(html, "Passport scanned.") || !strings.Contains(html, "MUSTERMANN") {
		t.Fatalf("after scan: %d\n%s", st, html)
	}
	d = e.get(c.ID)
	if d.State != "COMPLETED" || d.Surname != "MUSTERMANN" || d.DocumentNumber != prefilled || d.Portrait == "" || d.Face == "" {
		t.Fatalf("after scan %+v", d)
	}
	// The photos are shown as data: URLs, which the CSP allows.
	if n := strings.Count(html, `src="data:image/png;base64,`); n != 2 {
		t.Fatalf("%d images on the page", n)
	}
	if !slices.Equal(simtest.Buttons(html), []string{"Approve (sandbox)", "Fail (sandbox)", "Reject (sandbox)", "Abort verification"}) {
		t.Fatalf("buttons %q", simtest.Buttons(html))
	}

	// The provider's decision.
	st, html = e.submit(page, "Approve (sandbox)", nil)
	if st != http.StatusOK || !strings.Contains(html, "APPROVED") || len(simtest.Forms(html)) != 0 {
		t.Fatalf("after approve: %d\n%s", st, html)
	}
	if e.state(c.ID) != "APPROVED" {
		t.Fatal("not approved")
	}
	// Now the return link: plain, never followed by itself.
	link := regexp.MustCompile(`<a href="([^"]+)"[^>]*>Return to the service</a>`).FindStringSubmatch(html)
	if link == nil || unescape(link[1]) != redirect {
		t.Fatalf("return link %v in\n%s", link, html)
	}
	e.waitCallbacks()
	if n := len(e.hooks.Got()); n != 3 {
		t.Fatalf("%d callbacks", n)
	}
}

func TestOpenPageDecisions(t *testing.T) {
	for _, tc := range []struct {
		button, state string
		fields        map[string]string
		scan          bool
	}{
		{"Reject (sandbox)", "REJECTED", map[string]string{"reason": "Chip signature invalid"}, true},
		{"Fail (sandbox)", "FAILED", nil, true},
		{"Abort verification", "ABORTED", nil, false},
	} {
		t.Run(tc.state, func(t *testing.T) {
			e := setup(t, passportreadersim.Options{})
			c := e.create("")
			page := e.openURL(c.Token, "")
			if tc.scan {
				e.submit(page, "Open in the PassportReader app", nil)
				e.submit(page, "Scan passport", nil)
			}
			st, html := e.submit(page, tc.button, tc.fields)
			if st != http.StatusOK || !strings.Contains(html, tc.state) || len(simtest.Forms(html)) != 0 {
				t.Fatalf("%d\n%s", st, html)
			}
			if strings.Contains(html, "Return to the service") {
				t.Fatal("a return link without redirect_url")
			}
			s := e.session(c.ID)
			if s.State != tc.state {
				t.Fatalf("state %s", s.State)
			}
			if tc.state == "REJECTED" {
				if s.RejectReason != "Chip signature invalid" || !strings.Contains(html, "Chip signature invalid") {
					t.Fatalf("reason %q", s.RejectReason)
				}
				// The API has no field for it.
				if _, b := e.call(passportreadersim.PathGet, idBody(c.ID)); strings.Contains(string(b), "Chip signature") {
					t.Fatalf("the reason leaked into session.get: %s", b)
				}
			}
		})
	}
}

func TestOpenPageScanValidation(t *testing.T) {
	e := setup(t, passportreadersim.Options{})
	c := e.create("")
	page := e.openURL(c.Token, "")
	e.submit(page, "Open in the PassportReader app", nil)
	st, html := e.submit(page, "Scan passport", map[string]string{"date_of_birth": "1990-02-31", "surname": "KEPT <b>"})
	if st != http.StatusBadRequest || !strings.Contains(html, "Date of birth must be a date, YYYY-MM-DD") {
		t.Fatalf("%d\n%s", st, html)
	}
	// What was typed is kept, escaped.
	f := simtest.Forms(html)
	i := slices.IndexFunc(f, func(f simtest.Form) bool { return f.Button == "Scan passport" })
	if i < 0 || f[i].Values.Get("surname") != "KEPT <b>" || f[i].Values.Get("date_of_birth") != "1990-02-31" || strings.Contains(html, "KEPT <b>") {
		t.Fatalf("form not refilled:\n%s", html)
	}
	if e.state(c.ID) != "INITIATED" {
		t.Fatal("a bad scan changed the state")
	}
	// Unknown steps are refused.
	st, _, _ = e.postForm(page, page, url.Values{"step": {"teleport"}})
	if st != http.StatusBadRequest {
		t.Fatalf("unknown step: %d", st)
	}
}

func TestOpenPageStaleForm(t *testing.T) {
	e := setup(t, passportreadersim.Options{})
	c := e.create("")
	page := e.openURL(c.Token, "")
	open := e.findForm(page, "Open in the PassportReader app")
	e.must(e.sim.Abort(c.ID))
	st, _, html := e.postForm(page, open.Action, open.Values)
	if st != http.StatusConflict || !strings.Contains(html, "The session is ABORTED now") {
		t.Fatalf("%d\n%s", st, html)
	}
	// Approving a session nobody scanned is refused too.
	c2 := e.create("")
	st, _, _ = e.postForm(page, e.openURL(c2.Token, ""), url.Values{"step": {"approve"}})
	if st != http.StatusConflict || e.state(c2.ID) != "CREATED" {
		t.Fatalf("approve before the scan: %d", st)
	}
}

func TestOpenPageNotFound(t *testing.T) {
	e := setup(t, passportreadersim.Options{})
	for _, u := range []string{e.openURL("no-such-token", ""), e.base + passportreadersim.PathOpen} {
		st, h, html := e.page(u)
		if st != http.StatusNotFound || !strings.Contains(html, "Session not found") {
			t.Fatalf("%s: %d", u, st)
		}
		checkPageHeaders(t, h, html)
		st, _, _ = e.postForm(u, u, url.Values{"step": {"open"}})
		if st != http.StatusNotFound {
			t.Fatalf("POST %s: %d", u, st)
		}
	}
}

func TestOpenPageRedirectURL(t *testing.T) {
	e := setup(t, passportreadersim.Options{})
	for _, tc := range []struct {
		redirect string
		shown    bool
	}{
		{"https://portal.example/done", true},
		{"http://localhost:8080/done?a=\"b\"", true},
		{"javascript:alert(1)", false},
		{"/relative/done", false},
		{"data:text/html,hi", false},
	} {
		c := e.create("")
		e.must(e.sim.Abort(c.ID))
		_, _, html := e.page(e.openURL(c.Token, tc.redirect))
		if strings.Contains(html, "Return to the service") != tc.shown {
			t.Fatalf("%q: shown is %v\n%s", tc.redirect, !tc.shown, html)
		}
		if strings.Contains(strings.ToLower(html), "javascript:") || strings.Contains(html, `"b"`) {
			t.Fatalf("%q not escaped:\n%s", tc.redirect, html)
		}
	}
}

func TestOpenPagePublicURL(t *testing.T) {
	e := setup(t, passportreadersim.Options{PublicURL: "https://portal.example/sandbox/passportreader/"})
	c := e.create("")
	st, h, html := e.page(e.openURL(c.Token, "https://portal.example/done"))
	f := simtest.Forms(html)
	if st != http.StatusOK || len(f) == 0 || !strings.HasPrefix(f[0].Action, "https://portal.example/sandbox/passportreader/open?") {
		t.Fatalf("%d forms %+v", st, f)
	}
	u, _ := url.Parse(f[0].Action)
	if u.Query().Get("token") != c.Token || u.Query().Get("redirect_url") != "https://portal.example/done" {
		t.Fatalf("action %s", f[0].Action)
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' https://portal.example;") {
		t.Fatalf("CSP %q", csp)
	}
}

// unescape is html.UnescapeString, for the tests whose page is a
// variable named html.
func unescape(s string) string { return html.UnescapeString(s) }
