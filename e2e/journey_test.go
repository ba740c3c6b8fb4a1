package e2e

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"portal/internal/apptest"
	"portal/models"
)

// journeyTimeout bounds the whole journey, browser start included.
const journeyTimeout = 60 * time.Second

// TestAdminJourney drives the portal as an admin would in a real browser:
// sign in through the redirect, look at the dashboard, create a staff member,
// change their role in place (htmx), see a form error rendered next to its
// field (htmx swapping a 422), sign out. Along the way it saves screenshots
// and fails on any JavaScript error or CSP violation the page reports.
func TestAdminJourney(t *testing.T) {
	started := time.Now()
	p := apptest.Start(t, apptest.Config{})
	ctx, cancel := context.WithTimeout(t.Context(), journeyTimeout)
	defer cancel()
	b := startBrowser(t, ctx)

	const (
		newName     = "Nadia Okafor"
		newEmail    = "nadia.okafor@example.com"
		newPassword = "a long enough password"
	)

	// 1. A protected page sends a visitor to sign in, remembering where to.
	b.step("open /users signed out",
		chromedp.Navigate(p.URL+"/users"),
		chromedp.WaitVisible(chromedp.CSS(".login-box #f-email")),
	)
	if loc := b.location(); !strings.Contains(loc, "/login?next=") {
		t.Fatalf("signed-out /users landed on %s, want /login?next=...", loc)
	}
	if next := b.value(`input[name="next"]`); next != "/users" {
		t.Errorf("login form carries next=%q, want /users", next)
	}
	b.screenshot("login.png")

	// 2. Sign in; the portal returns to the page that was asked for.
	b.step("sign in",
		chromedp.SendKeys(chromedp.CSS("#f-email"), apptest.AdminEmail),
		chromedp.SendKeys(chromedp.CSS("#f-password"), apptest.AdminPassword),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
	)
	// A fresh portal's admin sets a second factor up before getting in.
	secondStep(b, p, apptest.AdminEmail, "sign-in-two-factor-setup.png")
	b.step("the page asked for", chromedp.WaitVisible(chromedp.CSS("main .table-wrap table.table")))
	if loc := b.location(); loc != p.URL+"/users" {
		t.Fatalf("after sign-in landed on %s, want %s/users", loc, p.URL)
	}

	// 3. Dashboard: what needs attention, the queues and the charts, each
	// figure a link to the list behind it; the viewer's role in the header.
	b.step("dashboard",
		chromedp.Navigate(p.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("main .page-header h1")),
		chromedp.WaitVisible(chromedp.CSS("main #chart-recharges, main figure.chart")),
	)
	if h := b.text("main .page-header h1"); h != "Dashboard" {
		t.Errorf("dashboard heading %q, want Dashboard", h)
	}
	for _, want := range []string{"Needs attention", "Compliance queues", "Recharges per day", "Verification outcomes by provider", "By state"} {
		if !strings.Contains(b.text("main"), want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	if n := eval[int](b, `document.querySelectorAll('main section[aria-labelledby="attention-title"] a.stat[href^="/recharges?state=unknown"]').length`); n != 1 {
		t.Errorf("%d links to the unknown recharges, want 1", n)
	}
	if role := b.text(".app-header .user-menu .badge"); role != "admin" {
		t.Errorf("header shows role %q, want admin", role)
	}
	b.screenshot("dashboard.png")

	// 4. Create a staff member; the form posts over htmx and the portal
	// answers with HX-Redirect to the list, which shows a success flash.
	b.step("create user",
		chromedp.Navigate(p.URL+"/users/new"),
		chromedp.WaitVisible(chromedp.CSS("#f-name")),
		chromedp.SendKeys(chromedp.CSS("#f-name"), newName),
		chromedp.SendKeys(chromedp.CSS("#f-email"), newEmail),
		chromedp.SetValue(chromedp.CSS("#f-role"), "support"),
		chromedp.SendKeys(chromedp.CSS("#f-password"), newPassword),
		chromedp.Click(chromedp.CSS(`form[action="/users"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("main .flash.flash-success")),
	)
	if loc := b.location(); loc != p.URL+"/users" {
		t.Errorf("after create landed on %s, want %s/users", loc, p.URL)
	}
	if flash := b.text("main .flash.flash-success"); !strings.Contains(flash, newEmail) || !strings.Contains(flash, "support") {
		t.Errorf("success flash %q, want it to name %s and support", flash, newEmail)
	}
	rowID := eval[string](b, `(() => {
		const cell = [...document.querySelectorAll("main tbody tr td.mono")]
			.find(td => td.textContent.trim() === `+jsString(newEmail)+`);
		return cell ? cell.closest("tr").id : "";
	})()`)
	if !strings.HasPrefix(rowID, "user-") {
		t.Fatalf("no row for %s in the staff table", newEmail)
	}
	row := "#" + rowID
	selectID := "#role-" + strings.TrimPrefix(rowID, "user-")
	if got := b.text(row + " td:first-child"); got != newName {
		t.Errorf("new row name %q, want %q", got, newName)
	}
	if got := b.value(selectID); got != "support" {
		t.Errorf("new row role %q, want support", got)
	}
	b.screenshot("users.png")

	// 5. Change the role with the row's own form: htmx swaps the row in
	// place, the page does not navigate. Markers on the window and on the old
	// row tell a swap from a reload.
	eval[bool](b, `(() => {
		window.__e2eSamePage = true;
		document.querySelector(`+jsString(row)+`).dataset.e2eOld = "1";
		return true;
	})()`)
	b.step("change role",
		chromedp.SetValue(chromedp.CSS(selectID), "compliance"),
		chromedp.Click(chromedp.CSS(row+` button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(row+":not([data-e2e-old])")),
		chromedp.WaitReady(chromedp.CSS(row+` option[value="compliance"][selected]`)),
	)
	if !eval[bool](b, `window.__e2eSamePage === true`) {
		t.Errorf("changing the role reloaded the page; want an in-place htmx swap")
	}
	if got := b.value(selectID); got != "compliance" {
		t.Errorf("row role after change %q, want compliance", got)
	}
	if n := eval[int](b, `document.querySelectorAll("main .flash").length`); n != 1 {
		t.Errorf("%d flash messages after the role change, want only the earlier one", n)
	}
	if loc := b.location(); loc != p.URL+"/users" {
		t.Errorf("after role change at %s, want %s/users", loc, p.URL)
	}
	id, err := parseRowID(rowID)
	if err != nil {
		t.Fatal(err)
	}
	if u, err := p.App.Accounts.Get(ctx, id); err != nil || u.Role != models.RoleCompliance {
		t.Errorf("stored user %d: role %q, err %v; want compliance", id, u.Role, err)
	}
	b.screenshot("users-role-changed.png")

	// 6. The same list on a phone.
	b.step("users on a phone",
		chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateMobile),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS("main .table-wrap")),
	)
	if w := eval[int](b, `document.documentElement.clientWidth`); w != phoneWidth {
		t.Errorf("phone viewport is %d px wide, want %d", w, phoneWidth)
	}
	// Only the table may scroll sideways (it sits in .table-wrap); the page
	// itself must fit the phone.
	if sw := eval[int](b, `document.documentElement.scrollWidth`); sw > phoneWidth {
		t.Errorf("users page is %d px wide on a %d px phone: the page scrolls sideways", sw, phoneWidth)
	}
	b.screenshot("users-phone.png")
	b.step("back to desktop", chromedp.EmulateViewport(desktopWidth, desktopHeight))

	// 7. A bad email: the portal answers 422 with the form and its errors,
	// and htmx swaps it in place, keeping what was typed.
	before, err := p.App.Accounts.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b.step("invalid user form",
		chromedp.Navigate(p.URL+"/users/new"),
		chromedp.WaitVisible(chromedp.CSS("#f-name")),
		chromedp.Evaluate[chromedp.Void](`window.__e2eSamePage = true`),
		chromedp.SendKeys(chromedp.CSS("#f-name"), "Bad Address"),
		chromedp.SendKeys(chromedp.CSS("#f-email"), "not-an-email"),
		chromedp.SetValue(chromedp.CSS("#f-role"), "operator"),
		chromedp.SendKeys(chromedp.CSS("#f-password"), newPassword),
		chromedp.Click(chromedp.CSS(`form[action="/users"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".field.has-error #e-email")),
	)
	if msg := b.text("#e-email"); msg == "" {
		t.Errorf("email error message is empty")
	}
	if got := eval[string](b, `document.querySelector("#f-email").getAttribute("aria-describedby") || ""`); got != "e-email" {
		t.Errorf("email input aria-describedby %q, want e-email", got)
	}
	if got := b.value("#f-email"); got != "not-an-email" {
		t.Errorf("email field kept %q, want what was typed", got)
	}
	if got := b.value("#f-name"); got != "Bad Address" {
		t.Errorf("name field kept %q, want what was typed", got)
	}
	if got := b.value("#f-role"); got != "operator" {
		t.Errorf("role field kept %q, want operator", got)
	}
	if !eval[bool](b, `window.__e2eSamePage === true`) {
		t.Errorf("the 422 reloaded the page; want htmx to swap the form in place")
	}
	if loc := b.location(); loc != p.URL+"/users/new" {
		t.Errorf("after the 422 at %s, want %s/users/new", loc, p.URL)
	}
	if n := eval[int](b, `document.querySelectorAll("main form.form").length`); n != 1 {
		t.Errorf("%d forms on the page after the swap, want 1 (no nesting)", n)
	}
	if after, err := p.App.Accounts.List(ctx); err != nil || len(after) != len(before) {
		t.Errorf("invalid form changed the users: %d → %d (err %v)", len(before), len(after), err)
	}
	b.screenshot("user-form-errors.png")

	// The sandbox control page: the 1flow simulator, its endpoints and
	// actions, and a fault injected from the page's own form.
	b.step("sandbox page",
		chromedp.Navigate(p.URL+"/sandbox"),
		chromedp.WaitVisible(chromedp.CSS("#sim-oneflow")),
		chromedp.SetValue(chromedp.CSS(`#sim-oneflow select[name="endpoint"]`), "POST /v1/access/partners/recharge"),
		chromedp.SetValue(chromedp.CSS(`#sim-oneflow select[name="kind"]`), "latency"),
		chromedp.SendKeys(chromedp.CSS(`#sim-oneflow input[name="latency_ms"]`), "800"),
		chromedp.Click(chromedp.CSS(`#sim-oneflow form[action="/sandbox/faults"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".flash-success")),
	)
	if got := b.text("#sim-oneflow"); !strings.Contains(got, "latency 800ms") {
		t.Errorf("sandbox page does not show the injected fault:\n%s", got)
	}
	b.screenshot("sandbox.png")

	// 8. Sign out from the header.
	b.step("sign out",
		chromedp.Click(chromedp.CSS(`.app-header .user-menu form[action="/logout"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".login-box #f-email")),
	)
	if loc := b.location(); !strings.HasPrefix(loc, p.URL+"/login") {
		t.Errorf("after sign-out at %s, want the login page", loc)
	}
	if n := eval[int](b, `document.querySelectorAll(".app-header").length`); n != 0 {
		t.Errorf("signed-out page still shows the signed-in header")
	}

	// 9. The session is really gone.
	b.step("open /users after sign-out",
		chromedp.Navigate(p.URL+"/users"),
		chromedp.WaitVisible(chromedp.CSS(".login-box #f-email")),
	)
	if loc := b.location(); !strings.Contains(loc, "/login?next=") {
		t.Errorf("/users after sign-out landed on %s, want /login?next=...", loc)
	}

	// 10. Canary: prove the console watch does see CSP refusals, so "no
	// violations" above means something. An inline script must be refused.
	b.step("csp canary")
	ran := eval[bool](b, `(() => {
		const s = document.createElement("script");
		s.textContent = "window.__e2eInlineRan = true";
		document.head.appendChild(s);
		return window.__e2eInlineRan === true;
	})()`)
	if ran {
		t.Errorf("an inline script ran: the CSP does not forbid inline scripts")
	}
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	b.console.waitFor(wctx, func(e consoleEntry) bool { return e.Step == "csp canary" && isCSPRefusal(e) })
	wcancel()

	unexpected, unmet := b.console.problems([]allowance{
		{
			step: "invalid user form",
			what: "the browser's network error for the expected 422 of POST /users",
			match: func(e consoleEntry) bool {
				return e.Kind == "log" && e.Source == "network" && strings.Contains(e.Text, "status of 422") &&
					strings.HasSuffix(e.URL, "/users")
			},
		},
		{
			step:  "csp canary",
			what:  "the CSP refusal of the injected inline script",
			match: isCSPRefusal,
		},
	})
	for _, e := range unexpected {
		t.Errorf("browser reported: %s", e)
	}
	for _, a := range unmet {
		t.Errorf("expected the browser to report %s in step %q; it did not (console:\n%s)", a.what, a.step, b.console.dump())
	}
	t.Logf("journey took %v", time.Since(started).Round(time.Millisecond))
}

// isCSPRefusal matches the report of the canary's blocked inline script.
// Chromium's wording changes ("Refused to execute inline script because it
// violates ..." in older releases, "Executing inline script violates ..." in
// 156), so match on what stays: a security entry naming the CSP and inline
// script.
func isCSPRefusal(e consoleEntry) bool {
	return e.Kind == "log" && e.Source == "security" &&
		strings.Contains(e.Text, "Content Security Policy") && strings.Contains(strings.ToLower(e.Text), "inline script")
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func parseRowID(rowID string) (uint, error) {
	id, err := strconv.ParseUint(strings.TrimPrefix(rowID, "user-"), 10, 64)
	return uint(id), err
}
