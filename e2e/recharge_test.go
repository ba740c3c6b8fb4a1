package e2e

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"portal/internal/apptest"
	"portal/models"
	"portal/services/sandbox"
	"portal/services/sandbox/oneflowsim"
	"portal/templates"
)

// rechargeJourneyTimeout bounds the whole recharge journey: it waits out one
// 1flow timeout (2 s in tests) and a few 2 s status polls on top of the
// browser work.
const rechargeJourneyTimeout = 90 * time.Second

// rechargeEndpoint is the simulator's recharge endpoint, as the harness
// names it for fault injection.
const rechargeEndpoint = "POST " + oneflowsim.PathRecharge

// rechargeURL matches the address of a recharge's page and captures its id.
var rechargeURL = regexp.MustCompile(`/recharges/([0-9]+)$`)

// TestSupportRechargeJourney is a support agent with a customer on the
// phone: sign in, look the customer up by a locally written phone number,
// recharge one of their devices (first with an amount the form refuses),
// confirm, and watch the recharge's status change from pending to completed
// on the open page, without reloading, once 1flow settles it. Then 1flow
// stops answering: a second recharge ends with an unknown outcome, which
// the navigation flags and the "Needs attention" list and the recharge's
// page offer to resolve. Screenshots of each page are saved, and any
// JavaScript error or CSP violation fails the test.
func TestSupportRechargeJourney(t *testing.T) {
	started := time.Now()
	p := apptest.Start(t, apptest.Config{})
	sim := p.App.OneFlowSim
	if sim == nil {
		t.Fatal("the test portal has no 1flow simulator")
	}
	const (
		agentEmail    = "grace.wanjiru@example.com"
		agentPassword = "a support agent's long password"
		localPhone    = "0712 345 678"
	)
	p.CreateUser(t, agentEmail, agentPassword, models.RoleSupport)

	ctx, cancel := context.WithTimeout(t.Context(), rechargeJourneyTimeout)
	defer cancel()
	b := startBrowser(t, ctx)

	// 1. Sign in through the form; support lands on the dashboard.
	b.step("sign in as support",
		chromedp.Navigate(p.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS(".login-box #f-email")),
		chromedp.SendKeys(chromedp.CSS("#f-email"), agentEmail),
		chromedp.SendKeys(chromedp.CSS("#f-password"), agentPassword),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".app-header .user-menu")),
	)
	if role := b.text(".app-header .user-menu .badge"); role != "support" {
		t.Errorf("header shows role %q, want support", role)
	}

	// 2. Customers, from the navigation; look Jane Doe up by her phone
	// number as she would say it, in the local format.
	b.step("open customers",
		chromedp.Click(chromedp.CSS(`.app-header nav a[href="/customers/lookup"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/customers/lookup"] #f-q`)),
	)
	b.step("look up by local phone",
		chromedp.SendKeys(chromedp.CSS("#f-q"), localPhone),
		chromedp.Click(chromedp.CSS(`form[action="/customers/lookup"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("main section.card h2.card-title")),
	)
	if loc := b.location(); !strings.Contains(loc, "/customers/lookup?q=") {
		t.Errorf("lookup landed on %s, want /customers/lookup?q=...", loc)
	}
	if h := b.text("main section.card h2.card-title"); !strings.Contains(h, oneflowsim.SeedCustomerName) || !strings.Contains(h, oneflowsim.SeedPhone) {
		t.Errorf("lookup heading %q, want %s and the number in E.164 (%s)", h, oneflowsim.SeedCustomerName, oneflowsim.SeedPhone)
	}
	devices := eval[[]string](b, `[...document.querySelectorAll("main section.card tbody tr td.mono")].map(td => td.textContent.trim())`)
	if !containsAll(devices, oneflowsim.SeedDeviceID, oneflowsim.SeedCardID) {
		t.Errorf("lookup lists %q, want device %s and card %s", devices, oneflowsim.SeedDeviceID, oneflowsim.SeedCardID)
	}
	deviceButton := `main section.card a.btn[href*="device_id=` + oneflowsim.SeedDeviceID + `"]`
	if got := b.text(deviceButton); got != "Recharge" {
		t.Errorf("device %s's button reads %q, want Recharge", oneflowsim.SeedDeviceID, got)
	}
	b.screenshot("recharge-lookup.png")

	// 3. The device's Recharge button opens the form, prefilled.
	b.step("open recharge form",
		chromedp.Click(chromedp.CSS(deviceButton)),
		chromedp.WaitVisible(chromedp.CSS("#f-amount")),
	)
	if got := b.value("#f-device_id"); got != oneflowsim.SeedDeviceID {
		t.Errorf("form device id %q, want %s", got, oneflowsim.SeedDeviceID)
	}
	if got := b.value(`input[name="phone_number"]`); got != oneflowsim.SeedPhone {
		t.Errorf("form carries phone %q, want %s", got, oneflowsim.SeedPhone)
	}
	key := b.value(`input[name="idempotency_key"]`)
	if key == "" {
		t.Fatal("the recharge form has no idempotency key")
	}
	b.screenshot("recharge-form.png")

	// 4. Three decimals: the portal answers 422 with the form, the message
	// next to the amount, what was typed kept, and nothing sent.
	b.step("invalid amount",
		chromedp.SendKeys(chromedp.CSS("#f-amount"), "1.005"),
		chromedp.Click(chromedp.CSS(`form[action="/recharges"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".field.has-error #e-amount")),
	)
	if st := navigationStatus(b); st != 422 {
		t.Errorf("invalid amount answered %d, want 422", st)
	}
	if msg := b.text("#e-amount"); !strings.Contains(msg, "2 decimals") {
		t.Errorf("amount error %q, want it to say at most 2 decimals", msg)
	}
	if got := eval[string](b, `document.querySelector("#f-amount").getAttribute("aria-describedby") || ""`); got != "e-amount" {
		t.Errorf("amount input aria-describedby %q, want e-amount", got)
	}
	if n := eval[int](b, `document.querySelectorAll(".field.has-error").length`); n != 1 {
		t.Errorf("%d fields marked with an error, want only the amount", n)
	}
	if got := b.value("#f-amount"); got != "1.005" {
		t.Errorf("amount field kept %q, want what was typed", got)
	}
	if got := b.value("#f-device_id"); got != oneflowsim.SeedDeviceID {
		t.Errorf("device field kept %q, want %s", got, oneflowsim.SeedDeviceID)
	}
	if got := b.value(`input[name="idempotency_key"]`); got != key {
		t.Errorf("the 422 changed the idempotency key from %q to %q", key, got)
	}
	if n := countRecharges(t, p); n != 0 || sim.RechargeCalls() != 0 {
		t.Fatalf("an invalid amount left %d recharges and %d calls at 1flow, want none", n, sim.RechargeCalls())
	}
	b.screenshot("recharge-form-error.png")

	// 5. A valid amount: the confirmation shows who, what and how much
	// before anything is sent.
	b.step("review valid amount",
		// What a person does with the selected text: type over it.
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#f-amount").select()`),
		chromedp.SendKeys(chromedp.CSS("#f-amount"), "150.50"),
		chromedp.Click(chromedp.CSS(`form[action="/recharges"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("main .confirm-amount")),
	)
	if got := b.text("main .confirm-amount"); got != "KES 150.50" {
		t.Errorf("confirmation amount %q, want KES 150.50", got)
	}
	confirm := b.text("main dl.details")
	for _, want := range []string{oneflowsim.SeedCustomerName, oneflowsim.SeedPhone, oneflowsim.SeedDeviceID} {
		if !strings.Contains(confirm, want) {
			t.Errorf("confirmation %q does not show %s", confirm, want)
		}
	}
	sendButton := `form[method="post"][action="/recharges"] button[type="submit"]`
	if got := b.text(sendButton); got != "Send KES 150.50 to 1flow" {
		t.Errorf("send button reads %q, want Send KES 150.50 to 1flow", got)
	}
	if got := b.value(`form[method="post"][action="/recharges"] input[name="idempotency_key"]`); got != key {
		t.Errorf("confirmation carries key %q, want the form's %q", got, key)
	}
	if n := countRecharges(t, p); n != 0 || sim.RechargeCalls() != 0 {
		t.Fatalf("the confirmation step left %d recharges and %d calls at 1flow, want none", n, sim.RechargeCalls())
	}
	b.screenshot("recharge-confirm.png")

	// 6. Send: the recharge's page, with a live status.
	b.step("send recharge",
		chromedp.Click(chromedp.CSS(sendButton)),
		chromedp.WaitVisible(chromedp.CSS(`main [id^="recharge-status-"] .badge`)),
	)
	id := rechargeIDFrom(t, b.location())
	status := fmt.Sprintf("#recharge-status-%d", id)
	if got := b.text(status + " .badge"); got != "submitted" && got != "pending" {
		t.Errorf("new recharge's badge %q, want submitted or pending", got)
	}
	if got := eval[string](b, `document.querySelector(`+jsString(status)+`).getAttribute("hx-trigger") || ""`); got != "every 2s" {
		t.Errorf("pending status fragment has hx-trigger %q, want every 2s", got)
	}
	if h := b.text("main .page-header h1"); h != "Recharge #"+strconv.FormatUint(uint64(id), 10) {
		t.Errorf("detail heading %q, want Recharge #%d", h, id)
	}
	if details := b.text("main section.card dl.details"); !strings.Contains(details, "KES 150.50") || !strings.Contains(details, oneflowsim.SeedDeviceID) {
		t.Errorf("detail card %q, want KES 150.50 and device %s", details, oneflowsim.SeedDeviceID)
	}
	rec := getRecharge(t, p, id)
	if rec.IdempotencyKey != key || rec.State.Final() || rec.UpstreamID == nil || sim.RechargeCalls() != 1 {
		t.Fatalf("after sending: key %q (want %q), state %s, upstream id %v, %d calls at 1flow (want 1)",
			rec.IdempotencyKey, key, rec.State, rec.UpstreamID, sim.RechargeCalls())
	}
	b.screenshot("recharge-detail-pending.png")

	// 7. 1flow settles the recharge (its clock passes SettleAfter); the
	// reconciler notices and the page's own poll swaps the status in.
	// Markers on the window and on the old fragment tell a swap from a
	// reload; the poll counter shows the polls stop once it is final.
	eval[bool](b, `(() => {
		window.__e2eSamePage = true;
		window.__e2ePolls = 0;
		document.body.addEventListener("htmx:beforeRequest", () => { window.__e2ePolls++; });
		document.querySelector(`+jsString(status)+`).dataset.e2eOld = "1";
		return true;
	})()`)
	p.Clock.Advance(oneflowsim.DefaultSettleAfter + 5*time.Second)
	b.step("status turns completed",
		chromedp.WaitVisible(chromedp.CSS(status+":not([data-e2e-old]) .badge-ok")),
	)
	if !eval[bool](b, `window.__e2eSamePage === true`) {
		t.Errorf("the page reloaded to show the completed status; want the htmx poll to swap it in")
	}
	if loc := b.location(); !strings.HasSuffix(loc, fmt.Sprintf("/recharges/%d", id)) {
		t.Errorf("after completion at %s, want /recharges/%d", loc, id)
	}
	if got := b.text(status + " .badge"); got != "completed" {
		t.Errorf("badge %q, want completed", got)
	}
	if eval[bool](b, `document.querySelector(`+jsString(status)+`).hasAttribute("hx-trigger")`) {
		t.Errorf("the completed status fragment still has hx-trigger: it would poll forever")
	}
	rec = getRecharge(t, p, id)
	if rec.State != models.RechargeCompleted || rec.Litres == "" || rec.BalanceAfter == "" {
		t.Fatalf("stored recharge: state %s, litres %q, balance %q; want completed with both", rec.State, rec.Litres, rec.BalanceAfter)
	}
	done := b.text(status)
	for _, want := range []string{templates.Litres(rec.Litres), templates.Litres(rec.BalanceAfter), "COMPLETED"} {
		if !strings.Contains(done, want) {
			t.Errorf("completed status %q does not show %q", done, want)
		}
	}
	polls := eval[int](b, `window.__e2ePolls`)
	if polls < 1 {
		t.Errorf("no htmx poll ran, yet the status changed")
	}
	b.step("polling stops", chromedp.Sleep(3*time.Second))
	if after := eval[int](b, `window.__e2ePolls`); after != polls {
		t.Errorf("%d more status polls after the recharge completed, want none", after-polls)
	}
	b.screenshot("recharge-detail-completed.png")

	// 8. The list, from the navigation, shows it completed.
	b.step("open recharges",
		chromedp.Click(chromedp.CSS(`.app-header nav a[href="/recharges"]`)),
		chromedp.WaitVisible(chromedp.CSS("main form.filters")),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`main tbody a[href="/recharges/%d"]`, id))),
	)
	row := rowText(b, id)
	for _, want := range []string{"completed", "KES 150.50", oneflowsim.SeedDeviceID, oneflowsim.SeedPhone} {
		if !strings.Contains(row, want) {
			t.Errorf("list row %q does not show %q", row, want)
		}
	}
	b.screenshot("recharges-list.png")

	// 9. 1flow stops answering recharges. A second recharge from the UI
	// waits out the portal's 1flow timeout and ends unknown: never re-sent,
	// flagged in the navigation.
	if err := p.App.Sandbox.SetFault("oneflow", rechargeEndpoint, sandbox.Fault{Kind: sandbox.FaultHang}); err != nil {
		t.Fatal(err)
	}
	b.step("second lookup",
		chromedp.Click(chromedp.CSS(`.app-header nav a[href="/customers/lookup"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/customers/lookup"] #f-q`)),
		chromedp.SendKeys(chromedp.CSS("#f-q"), "+254 712 345 678"),
		chromedp.Click(chromedp.CSS(`form[action="/customers/lookup"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(deviceButton)),
	)
	if recent := b.text("main"); !strings.Contains(recent, "#"+strconv.FormatUint(uint64(id), 10)) {
		t.Errorf("the lookup's recent recharges do not list #%d", id)
	}
	b.screenshot("recharge-lookup-recent.png")
	b.step("second recharge form",
		chromedp.Click(chromedp.CSS(deviceButton)),
		chromedp.WaitVisible(chromedp.CSS("#f-amount")),
		chromedp.SendKeys(chromedp.CSS("#f-amount"), "75"),
		chromedp.Click(chromedp.CSS(`form[action="/recharges"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("main .confirm-amount")),
	)
	if got := b.text("main .confirm-amount"); got != "KES 75.00" {
		t.Errorf("second confirmation amount %q, want KES 75.00", got)
	}
	sendStart := time.Now()
	b.step("send into a hang",
		chromedp.Click(chromedp.CSS(sendButton)),
		chromedp.WaitVisible(chromedp.CSS(`main [id^="recharge-status-"] .badge-warn`)),
	)
	t.Logf("unknown outcome shown %v after sending", time.Since(sendStart).Round(time.Millisecond))
	unknownID := rechargeIDFrom(t, b.location())
	if unknownID == id {
		t.Fatalf("the second recharge landed on the first one's page (#%d)", id)
	}
	unknownStatus := fmt.Sprintf("#recharge-status-%d", unknownID)
	if got := b.text(unknownStatus + " .badge"); got != "needs attention" {
		t.Errorf("unknown recharge's badge %q, want needs attention", got)
	}
	if msg := b.text(unknownStatus + " .flash-warning"); msg == "" {
		t.Errorf("the unknown recharge's status explains nothing")
	}
	if got := b.text(`.app-header nav a.nav-alert[href="/recharges?state=unknown"]`); got != "Needs attention 1" {
		t.Errorf("navigation alert reads %q, want Needs attention 1", got)
	}
	rec = getRecharge(t, p, unknownID)
	if rec.State != models.RechargeUnknown || rec.UpstreamID != nil {
		t.Errorf("stored second recharge: state %s, upstream id %v; want unknown with none", rec.State, rec.UpstreamID)
	}
	if n := sim.RechargeCalls(); n != 1 {
		t.Errorf("1flow accepted %d recharges, want only the first", n)
	}

	// 10. The "Needs attention" list, from the navigation.
	b.step("open needs attention",
		chromedp.Click(chromedp.CSS(`.app-header nav a.nav-alert`)),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`main tbody a[href="/recharges/%d"]`, unknownID))),
	)
	if loc := b.location(); !strings.HasSuffix(loc, "/recharges?state=unknown") {
		t.Errorf("needs attention at %s, want /recharges?state=unknown", loc)
	}
	if h := b.text("main .page-header h1"); h != "Needs attention" {
		t.Errorf("needs attention heading %q", h)
	}
	if n := eval[int](b, `document.querySelectorAll("main tbody tr").length`); n != 1 {
		t.Errorf("needs attention lists %d recharges, want 1", n)
	}
	if row := rowText(b, unknownID); !strings.Contains(row, "needs attention") || !strings.Contains(row, "KES 75.00") {
		t.Errorf("needs attention row %q, want the unknown KES 75.00 recharge", row)
	}
	if got := eval[string](b, `document.querySelector(".app-header nav a.nav-alert").getAttribute("aria-current") || ""`); got != "page" {
		t.Errorf("the Needs attention link is not marked as the current page (aria-current %q)", got)
	}
	b.screenshot("recharges-needs-attention.png")

	// 11. Its page offers both ways to resolve it.
	b.step("open unknown recharge",
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`main tbody a[href="/recharges/%d"]`, unknownID))),
		chromedp.WaitVisible(chromedp.CSS("#resolve")),
	)
	for _, action := range []string{"resolve", "not-sent"} {
		sel := fmt.Sprintf(`#resolve form[method="post"][action="/recharges/%d/%s"] button[type="submit"]`, unknownID, action)
		if !eval[bool](b, `!!document.querySelector(`+jsString(sel)+`)`) {
			t.Errorf("the unknown recharge's page has no %s form", action)
		}
	}
	b.screenshot("recharge-unknown.png")
	if n := sim.RechargeCalls(); n != 1 {
		t.Errorf("1flow accepted %d recharges by the end, want 1: something was re-sent", n)
	}

	unexpected, unmet := b.console.problems([]allowance{{
		step: "invalid amount",
		what: "the browser's network error for the expected 422 of POST /recharges",
		match: func(e consoleEntry) bool {
			return e.Kind == "log" && e.Source == "network" && strings.Contains(e.Text, "status of 422") &&
				strings.HasSuffix(e.URL, "/recharges")
		},
	}})
	for _, e := range unexpected {
		t.Errorf("browser reported: %s", e)
	}
	for _, a := range unmet {
		t.Errorf("expected the browser to report %s in step %q; it did not (console:\n%s)", a.what, a.step, b.console.dump())
	}
	t.Logf("recharge journey took %v", time.Since(started).Round(time.Millisecond))
}

// navigationStatus is the HTTP status of the page now shown.
func navigationStatus(b *browser) int {
	b.t.Helper()
	return eval[int](b, `performance.getEntriesByType("navigation")[0].responseStatus`)
}

// rechargeIDFrom reads the recharge id from its page's address.
func rechargeIDFrom(t *testing.T, loc string) uint {
	t.Helper()
	m := rechargeURL.FindStringSubmatch(loc)
	if m == nil {
		t.Fatalf("at %s, want a recharge's page /recharges/N", loc)
	}
	n, err := strconv.ParseUint(m[1], 10, 32)
	if err != nil {
		t.Fatal(err)
	}
	return uint(n)
}

// rowText is the text of the table row that links to recharge id.
func rowText(b *browser, id uint) string {
	b.t.Helper()
	return eval[string](b, fmt.Sprintf(`(() => {
		const a = document.querySelector('main tbody a[href="/recharges/%d"]');
		return a ? a.closest("tr").textContent.replace(/\s+/g, " ").trim() : "";
	})()`, id))
}

func getRecharge(t *testing.T, p *apptest.Portal, id uint) models.Recharge {
	t.Helper()
	r, err := p.App.Recharges.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("recharge %d: %v", id, err)
	}
	return r
}

func countRecharges(t *testing.T, p *apptest.Portal) int64 {
	t.Helper()
	var n int64
	if err := p.App.DB.Model(&models.Recharge{}).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func containsAll(have []string, want ...string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}
