package e2e

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"portal/internal/apptest"
	"portal/models"
	"portal/services"
	"portal/services/documents"
	"portal/services/recharges"
	"portal/services/sandbox"
	"portal/services/sandbox/oneflowsim"
	"portal/services/verifications"
	"portal/templates"
)

// supportJourneyTimeout bounds the support journey: one sign-in, five
// searches, the recharge form and a 1flow settlement seen by the 2 s poll.
const supportJourneyTimeout = 90 * time.Second

// dashboardRoleTimeout bounds one role's look at the dashboard: a browser
// start, a sign-in and some thirty fetches.
const dashboardRoleTimeout = 60 * time.Second

// seedWait bounds how long seeded records may take to reach the state a
// test set up for them (webhooks and reconcilers run in the background).
const seedWait = 20 * time.Second

// TestSupportFindsCustomerAndRecharges is a support agent with Jane Doe on
// the phone. With some history already recorded (two recharges, two
// pawaPass verifications sharing an external id, a document), the agent
// signs in to a dashboard that starts with the customer search, types the
// phone number as Jane says it into the header's search box and lands on
// her customer page: 1flow's devices and balances, and every recharge and
// verification of hers. From there they recharge her device through the
// form and its confirmation and watch it complete, find the new recharge on
// her page and see her records follow a verification she starts, then
// search an external id two verifications share (grouped results) and
// something nothing has (the page says what to try). Any JavaScript error
// or CSP violation fails the test.
func TestSupportFindsCustomerAndRecharges(t *testing.T) {
	started := time.Now()
	p := apptest.Start(t, apptest.Config{})
	sim := p.App.OneFlowSim
	if sim == nil || p.App.PawaPassSim == nil || p.PasbySim == nil {
		t.Fatal("the test portal lacks a simulator")
	}
	const (
		agentEmail    = "achieng.otieno@example.com"
		agentPassword = "a support agent's long password"
		opEmail       = "baraka.mwangi@example.com"
		opPassword    = "an operator's long password"

		localPhone  = "0712 345 678"     // as Jane says it
		spacedPhone = "+254 712 345 678" // as it is written on her file
		externalID  = "KYC-JANE-0001"    // used by both of her verifications
		nothing     = "zz-no-such-thing"
		amount      = "250"
	)
	op := p.CreateUser(t, opEmail, opPassword, models.RoleOperator)
	p.CreateUser(t, agentEmail, agentPassword, models.RoleSupport)
	actor := actorOf(op)

	// History, recorded through the services as an operator would have.
	deviceRecharge := seedRecharge(t, p, actor, recharges.Input{DeviceID: oneflowsim.SeedDeviceID, Amount: "200", PhoneNumber: oneflowsim.SeedPhone})
	cardRecharge := seedRecharge(t, p, actor, recharges.Input{CardID: oneflowsim.SeedCardID, Amount: "50", PhoneNumber: oneflowsim.SeedPhone})
	settleRecharges(t, p, models.RechargeCompleted, deviceRecharge.ID, cardRecharge.ID)
	firstVer := seedPawaPass(t, p, actor, externalID, oneflowsim.SeedPhone)
	secondVer := seedPawaPass(t, p, actor, externalID, oneflowsim.SeedPhone)
	seedReviewDocument(t, p, actor, "Water point lease, Kisumu", "31415926535", "27182818284")

	ctx, cancel := context.WithTimeout(t.Context(), supportJourneyTimeout)
	defer cancel()
	b := startBrowser(t, ctx)

	// 1. Sign in: support's dashboard starts with the customer search.
	signIn(b, p, agentEmail, agentPassword)
	b.step("dashboard", chromedp.WaitVisible(chromedp.CSS("main .page-header h1")))
	if loc := b.location(); loc != p.URL+"/" {
		t.Errorf("support signed in to %s, want the dashboard %s/", loc, p.URL)
	}
	if h := b.text("main .page-header h1"); h != "Dashboard" {
		t.Errorf("heading %q, want Dashboard", h)
	}
	checkSearchCardFirst(t, b)

	// 2. The phone number in the local format, in the header's search: the
	// only match, her customer page, opens directly.
	searchFromHeader(b, "search local phone", localPhone, "main #customer-records")
	customerPath := "/customers/" + oneflowsim.SeedPhone
	if loc := b.location(); loc != p.URL+customerPath {
		t.Errorf("the search for %q landed on %s, want %s%s", localPhone, loc, p.URL, customerPath)
	}
	if h := b.text("main .page-header h1"); h != oneflowsim.SeedCustomerName+" · phone "+oneflowsim.SeedPhone {
		t.Errorf("customer page heading %q, want %s · phone %s", h, oneflowsim.SeedCustomerName, oneflowsim.SeedPhone)
	}
	devices := deviceRows(b)
	for _, id := range []string{oneflowsim.SeedDeviceID, oneflowsim.SeedCardID} {
		bal, ok, err := sim.Balance(id)
		if err != nil || !ok {
			t.Fatalf("the simulator does not know %s (%v)", id, err)
		}
		if got, want := devices[id], templates.Litres(bal.String()); got != want {
			t.Errorf("customer page shows %s with balance %q, want 1flow's %q (devices: %q)", id, got, want, devices)
		}
	}
	deviceButton := `main a.btn[href*="device_id=` + oneflowsim.SeedDeviceID + `"]`
	if got := b.text(deviceButton); got != "Recharge" {
		t.Errorf("device %s's button reads %q, want Recharge", oneflowsim.SeedDeviceID, got)
	}
	for _, r := range []models.Recharge{deviceRecharge, cardRecharge} {
		row := recordRowText(b, "recharges", r.ID)
		if !strings.Contains(row, "completed") || !strings.Contains(row, templates.Money(r.Amount, r.Currency)) {
			t.Errorf("customer page row of recharge #%d reads %q, want completed and %s", r.ID, row, templates.Money(r.Amount, r.Currency))
		}
	}
	for _, v := range []models.Verification{firstVer, secondVer} {
		row := recordRowText(b, "verifications", v.ID)
		if !strings.Contains(row, externalID) || !strings.Contains(row, "pawaPass") {
			t.Errorf("customer page row of verification #%d reads %q, want pawaPass and %s", v.ID, row, externalID)
		}
	}
	// Two verifications are not final, so the records keep themselves
	// current.
	if got := eval[string](b, `document.querySelector("#customer-records").getAttribute("hx-trigger") || ""`); got != "every 2s" {
		t.Errorf("the records of a customer with open verifications have hx-trigger %q, want every 2s", got)
	}
	if main := b.text("main"); strings.Contains(main, "New verification") {
		t.Errorf("support is offered New verification on the customer page")
	}
	b.screenshot("customer-page.png")

	// 3. Recharge the device: the form, its confirmation, send.
	b.step("open recharge form",
		chromedp.Click(chromedp.CSS(deviceButton)),
		chromedp.WaitVisible(chromedp.CSS("#f-amount")),
	)
	if got := b.value("#f-device_id"); got != oneflowsim.SeedDeviceID {
		t.Errorf("the form's device id %q, want %s", got, oneflowsim.SeedDeviceID)
	}
	if got := b.value(`input[name="phone_number"]`); got != oneflowsim.SeedPhone {
		t.Errorf("the form carries phone %q, want %s", got, oneflowsim.SeedPhone)
	}
	b.step("review recharge",
		chromedp.SendKeys(chromedp.CSS("#f-amount"), amount),
		chromedp.Click(chromedp.CSS(`form[action="/recharges"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("main .confirm-amount")),
	)
	if got := b.text("main .confirm-amount"); got != "KES 250.00" {
		t.Errorf("confirmation amount %q, want KES 250.00", got)
	}
	if confirm := b.text("main dl.details"); !strings.Contains(confirm, oneflowsim.SeedCustomerName) || !strings.Contains(confirm, oneflowsim.SeedDeviceID) {
		t.Errorf("confirmation %q does not name %s and device %s", confirm, oneflowsim.SeedCustomerName, oneflowsim.SeedDeviceID)
	}
	calls := sim.RechargeCalls()
	b.step("send recharge",
		chromedp.Click(chromedp.CSS(`form[method="post"][action="/recharges"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`main [id^="recharge-status-"] .badge`)),
	)
	id := rechargeIDFrom(t, b.location())
	status := fmt.Sprintf("#recharge-status-%d", id)
	if n := sim.RechargeCalls(); n != calls+1 {
		t.Errorf("1flow accepted %d recharges for one send, want 1", n-calls)
	}
	if got := b.text(status + " .badge"); got != "submitted" && got != "pending" {
		t.Errorf("new recharge's badge %q, want submitted or pending", got)
	}

	// 4. 1flow settles it; the open page follows by itself.
	p.Clock.Advance(oneflowsim.DefaultSettleAfter + 5*time.Second)
	b.step("status turns completed", chromedp.WaitVisible(chromedp.CSS(status+" .badge-ok")))
	if got := b.text(status + " .badge"); got != "completed" {
		t.Errorf("badge %q, want completed", got)
	}
	rec := getRecharge(t, p, id)
	if rec.State != models.RechargeCompleted || rec.CustomerPhone != oneflowsim.SeedPhone || rec.CreatedByEmail != agentEmail {
		t.Errorf("stored recharge: state %s, phone %q, created by %q; want completed, %s, %s", rec.State, rec.CustomerPhone, rec.CreatedByEmail, oneflowsim.SeedPhone, agentEmail)
	}

	// 5. Back to her page (the recharge page has no way back to the
	// customer, so the agent searches again): the new recharge is listed
	// and the balance has grown.
	searchFromHeader(b, "search written phone", spacedPhone, fmt.Sprintf(`#customer-records a[href="/recharges/%d"]`, id))
	if loc := b.location(); loc != p.URL+customerPath {
		t.Errorf("the search for %q landed on %s, want %s%s", spacedPhone, loc, p.URL, customerPath)
	}
	if row := recordRowText(b, "recharges", id); !strings.Contains(row, "completed") || !strings.Contains(row, "KES 250.00") {
		t.Errorf("customer page row of the new recharge #%d reads %q, want completed and KES 250.00", id, row)
	}
	if first := eval[string](b, `(() => { const a = document.querySelector("#customer-records tbody a[href^='/recharges/']"); return a ? a.getAttribute("href") : ""; })()`); first != fmt.Sprintf("/recharges/%d", id) {
		t.Errorf("the newest recharge is not listed first: the first row links %q", first)
	}
	if bal, _, _ := sim.Balance(oneflowsim.SeedDeviceID); deviceRows(b)[oneflowsim.SeedDeviceID] != templates.Litres(bal.String()) {
		t.Errorf("after the recharge the page shows balance %q, want 1flow's %q", deviceRows(b)[oneflowsim.SeedDeviceID], templates.Litres(bal.String()))
	}

	// The records follow changes by themselves: Jane opens her first
	// verification's link while the agent has her page open.
	markLivePage(b, "#customer-records")
	if err := p.App.PawaPassSim.Start(*firstVer.UpstreamID); err != nil {
		t.Fatalf("start pawaPass %s: %v", *firstVer.UpstreamID, err)
	}
	b.step("verification row turns in progress", chromedp.Poll[chromedp.Void](fmt.Sprintf(`(() => {
		const a = document.querySelector('#customer-records tbody a[href="/verifications/%d"]');
		return !!a && a.closest("tr").querySelector(".badge").textContent.trim() === "in progress";
	})()`, firstVer.ID), chromedp.WithPollingMutation()))
	if !eval[bool](b, `window.__e2eSamePage === true`) || eval[int](b, `window.__e2ePolls`) < 1 ||
		eval[bool](b, `!!document.querySelector("#customer-records[data-e2e-old]")`) {
		t.Errorf("the records changed without an htmx swap of #customer-records")
	}
	if row := recordRowText(b, "verifications", secondVer.ID); !strings.Contains(row, "submitted") {
		t.Errorf("the other verification's row reads %q after the swap, want it still submitted", row)
	}

	// 6. An external id two verifications share: both listed, grouped.
	searchFromHeader(b, "search shared external id", externalID, "main .hit-list")
	if loc, want := b.location(), p.URL+"/search?"+(url.Values{"q": {externalID}}).Encode(); loc != want {
		t.Errorf("the search landed on %s, want the results page", loc)
	}
	groups := eval[[]string](b, `[...document.querySelectorAll("main section.card h2.card-title")].map(h => h.textContent.replace(/\s+/g, " ").trim())`)
	if strings.Join(groups, "|") != "Verifications (2)" {
		t.Errorf("result groups %q, want only Verifications (2)", groups)
	}
	hits := eval[[]string](b, `[...document.querySelectorAll("main .hit-list li a")].map(a => a.getAttribute("href"))`)
	if want := []string{fmt.Sprintf("/verifications/%d", secondVer.ID), fmt.Sprintf("/verifications/%d", firstVer.ID)}; strings.Join(hits, " ") != strings.Join(want, " ") {
		t.Errorf("results link %q, want the two verifications newest first %q", hits, want)
	}
	for _, li := range eval[[]string](b, `[...document.querySelectorAll("main .hit-list li")].map(li => li.textContent.replace(/\s+/g, " ").trim())`) {
		if !strings.Contains(li, "external id "+externalID) {
			t.Errorf("result %q does not say it matched the external id", li)
		}
	}
	if got := b.value("main #f-q"); got != externalID {
		t.Errorf("the results page's search field holds %q, want %q", got, externalID)
	}
	b.screenshot("search-results.png")

	// 7. Something nothing has: the page says so and what to try.
	searchFromHeader(b, "search for nothing", nothing, "main .empty-state")
	// Finding nothing is an answer, not a missing page: 200, no console error.
	if st := navigationStatus(b); st != 200 {
		t.Errorf("a search that finds nothing answered %d, want 200", st)
	}
	if got := b.text("main .empty-state-title"); got != "Nothing found for “"+nothing+"”" {
		t.Errorf("empty result title %q", got)
	}
	if hint := b.text("main .empty-state .muted"); !strings.Contains(hint, "Try the customer's phone number") || !strings.Contains(hint, "NIN") {
		t.Errorf("empty result hint %q, want it to suggest a phone number or a NIN", hint)
	}
	if n := eval[int](b, `document.querySelectorAll("main .hit-list").length`); n != 0 {
		t.Errorf("a search that found nothing lists %d result groups", n)
	}
	b.screenshot("search-nothing.png")

	checkConsole(t, b, nil)
	t.Logf("support journey took %v", time.Since(started).Round(time.Millisecond))
}

// TestDashboardForEachRole signs each role in on a fresh browser and looks
// at the dashboard over the same records: completed, failed and unknown
// recharges, verifications approved and in pawaPass's review, a completed
// and an open document. Each role's arrangement is checked, the unknown
// recharge is an alert tile, and every figure's link (the first thirty)
// answers 200 to the same session, with as many rows as the figure says.
func TestDashboardForEachRole(t *testing.T) {
	p := apptest.Start(t, apptest.Config{})
	if p.App.OneFlowSim == nil || p.App.PawaPassSim == nil || p.PasbySim == nil {
		t.Fatal("the test portal lacks a simulator")
	}
	users := []struct {
		role            models.Role
		email, password string
	}{
		{models.RoleAdmin, apptest.AdminEmail, apptest.AdminPassword},
		{models.RoleOperator, "imani.njoroge@example.com", "an operator's long password"},
		{models.RoleCompliance, "folake.adebayo@example.com", "a compliance officer's password"},
		{models.RoleSupport, "juma.hamisi@example.com", "a support agent's long password"},
	}
	var op models.User
	for _, u := range users[1:] {
		created := p.CreateUser(t, u.email, u.password, u.role)
		if u.role == models.RoleOperator {
			op = created
		}
	}
	actor := actorOf(op)

	// Recharges: two completed, one failed (a suspended device), one left
	// unknown by a 1flow that stops answering once.
	done1 := seedRecharge(t, p, actor, recharges.Input{DeviceID: oneflowsim.SeedDeviceID, Amount: "300", PhoneNumber: oneflowsim.SeedPhone})
	done2 := seedRecharge(t, p, actor, recharges.Input{CardID: oneflowsim.SeedCardID, Amount: "40", PhoneNumber: oneflowsim.SeedPhone})
	settleRecharges(t, p, models.RechargeCompleted, done1.ID, done2.ID)
	failed := seedRecharge(t, p, actor, recharges.Input{DeviceID: oneflowsim.SeedSuspendedDeviceID, Amount: "60"})
	settleRecharges(t, p, models.RechargeFailed, failed.ID)
	if err := p.App.Sandbox.SetFault("oneflow", rechargeEndpoint, sandbox.Fault{Kind: sandbox.FaultHang, Times: 1}); err != nil {
		t.Fatal(err)
	}
	unknown, _, err := p.App.Recharges.Create(t.Context(), actor, recharges.Input{
		DeviceID: oneflowsim.SeedDeviceID, Amount: "80", PhoneNumber: oneflowsim.SeedPhone, IdempotencyKey: recharges.NewIdempotencyKey(),
	})
	if unknown.State != models.RechargeUnknown {
		t.Fatalf("a recharge into a hang ended %q (err %v), want unknown", unknown.State, err)
	}

	// Verifications: one approved by pawaPass (waiting for compliance),
	// one in pawaPass's own review.
	approved := seedPawaPass(t, p, actor, "KYC-DASH-0001", "+254722318845")
	inReview := seedPawaPass(t, p, actor, "KYC-DASH-0002", "+254733604112")
	advancePawaPass(t, p, approved, "APPROVED")
	advancePawaPass(t, p, inReview, "REVIEW")
	waitUntil(t, "the approved verification", func() bool { return getVerification(t, p, approved.ID).State == models.VerificationApproved })
	waitUntil(t, "the verification in pawaPass review", func() bool { return getVerification(t, p, inReview.ID).ProviderStatus == "REVIEW" })

	// Documents: one signed by both (waiting for compliance), one open.
	const nin1, nin2 = "11223344556", "66554433221"
	signed := seedReviewDocument(t, p, actor, "Borehole maintenance contract", nin1, nin2)
	for _, nin := range []string{nin1, nin2} {
		if err := p.PasbySim.Sign(*signed.UpstreamID, nin); err != nil {
			t.Fatalf("sign %s as %s: %v", *signed.UpstreamID, nin, err)
		}
	}
	waitUntil(t, "the signed document", func() bool { return getDocument(t, p, signed.ID).State == models.DocumentCompleted })
	seedReviewDocument(t, p, actor, "Kiosk operator agreement", "12121212121", "34343434343")

	for _, u := range users {
		t.Run(string(u.role), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), dashboardRoleTimeout)
			defer cancel()
			b := startBrowser(t, ctx)
			signIn(b, p, u.email, u.password)
			b.step("dashboard",
				chromedp.Navigate(p.URL+"/"),
				chromedp.WaitVisible(chromedp.CSS(`main section[aria-labelledby="attention-title"]`)),
			)
			if role := b.text(".app-header .user-menu .badge"); role != string(u.role) {
				t.Errorf("header shows role %q, want %s", role, u.role)
			}
			if h := b.text("main .page-header h1"); h != "Dashboard" {
				t.Errorf("heading %q, want Dashboard", h)
			}

			// The unknown recharge is an alert, whoever looks.
			tile := `main section[aria-labelledby="attention-title"] a.stat[href="/recharges?state=unknown"]`
			if !eval[bool](b, `!!document.querySelector(`+jsString(tile)+`)`) {
				t.Fatalf("no Needs attention tile links to /recharges?state=unknown")
			}
			if got := b.text(tile + " .stat-value"); got != "1" {
				t.Errorf("the unknown recharges tile shows %q, want 1", got)
			}
			if !eval[bool](b, `document.querySelector(`+jsString(tile)+`).classList.contains("stat-alert")`) {
				t.Errorf("the unknown recharges tile is not marked as an alert")
			}
			if eval[bool](b, `!!document.querySelector('main section[aria-labelledby="attention-title"] > p.muted')`) {
				t.Errorf("the dashboard says nothing needs attention, with an unknown recharge")
			}

			sections := eval[[]string](b, `[...document.querySelectorAll("main > section")].map(s =>
				s.getAttribute("aria-labelledby") || (s.classList.contains("dashboard-charts") ? "charts" : s.querySelector("h2") ? s.querySelector("h2").textContent.trim() : "?"))`)
			switch u.role {
			case models.RoleCompliance:
				if len(sections) < 2 || sections[0] != "queues-title" || sections[1] != "charts" {
					t.Errorf("compliance's sections %q, want Compliance queues first, then the charts", sections)
				}
				for _, q := range []string{"/reviews/documents", "/reviews/verifications"} {
					if got := b.text(`main section[aria-labelledby="queues-title"] a.stat[href="` + q + `"] .stat-value`); got != "1" {
						t.Errorf("compliance queue %s shows %q, want 1", q, got)
					}
				}
			case models.RoleSupport:
				checkSearchCardFirst(t, b)
				if slices.Contains(sections, "queues-title") {
					t.Errorf("support is shown the compliance queues: %q", sections)
				}
			case models.RoleOperator:
				got := eval[[]string](b, `[...document.querySelectorAll("main .page-header .actions a.btn")].map(a => a.textContent.trim() + " " + a.getAttribute("href"))`)
				want := []string{"New recharge /customers/lookup", "New verification /verifications/new", "New document /documents/new"}
				if strings.Join(got, "|") != strings.Join(want, "|") {
					t.Errorf("operator's dashboard buttons %q, want %q", got, want)
				}
			case models.RoleAdmin:
				if len(sections) == 0 || sections[0] != "attention-title" {
					t.Errorf("admin's sections %q, want Needs attention first", sections)
				}
			}
			if u.role != models.RoleOperator {
				if n := eval[int](b, `document.querySelectorAll("main .page-header .actions a.btn").length`); n != 0 {
					t.Errorf("%s is offered %d New buttons on the dashboard", u.role, n)
				}
			}

			checkDashboardLinks(t, b)
			b.screenshot("dashboard-" + string(u.role) + ".png")
			checkConsole(t, b, nil)
		})
	}
}

// actorOf is u as the services see a signed-in member of staff.
func actorOf(u models.User) services.Actor {
	return services.Actor{ID: u.ID, Email: u.Email, Role: u.Role, IP: "127.0.0.1"}
}

// seedRecharge records and sends a recharge with a fresh idempotency key.
func seedRecharge(t *testing.T, p *apptest.Portal, actor services.Actor, in recharges.Input) models.Recharge {
	t.Helper()
	in.IdempotencyKey = recharges.NewIdempotencyKey()
	r, _, err := p.App.Recharges.Create(t.Context(), actor, in)
	if err != nil {
		t.Fatalf("seed recharge of %s %s: %v", in.DeviceID+in.CardID, in.Amount, err)
	}
	return r
}

// settleRecharges lets 1flow's settle delay pass and waits until the
// portal has recorded each recharge in state want.
func settleRecharges(t *testing.T, p *apptest.Portal, want models.RechargeState, ids ...uint) {
	t.Helper()
	p.Clock.Advance(oneflowsim.DefaultSettleAfter + 5*time.Second)
	for _, id := range ids {
		waitUntil(t, fmt.Sprintf("recharge #%d %s", id, want), func() bool { return getRecharge(t, p, id).State == want })
	}
}

// seedPawaPass starts a pawaPass verification for phone.
func seedPawaPass(t *testing.T, p *apptest.Portal, actor services.Actor, externalID, phone string) models.Verification {
	t.Helper()
	v, err := p.App.Verifications.Create(t.Context(), actor, verifications.Input{
		Provider: string(models.ProviderPawaPass), ExternalID: externalID, Requirements: []string{"DOCUMENT_SCAN", "FACE_SCAN"},
		Country: "KE", PhoneNo: phone, SuccessURL: "https://shop.example.com/kyc/done",
		ErrorURL: "https://shop.example.com/kyc/error", SupportURL: "https://shop.example.com/help",
	})
	if err != nil || v.UpstreamID == nil {
		t.Fatalf("seed pawaPass verification %s: %v (upstream id %v)", externalID, err, v.UpstreamID)
	}
	return v
}

// advancePawaPass walks v along pawaPass's happy path until it has status.
func advancePawaPass(t *testing.T, p *apptest.Portal, v models.Verification, status string) {
	t.Helper()
	for range 6 {
		got, err := p.App.PawaPassSim.Advance(*v.UpstreamID)
		if err != nil {
			t.Fatalf("advance pawaPass %s: %v", *v.UpstreamID, err)
		}
		if got == status {
			return
		}
	}
	t.Fatalf("pawaPass %s never reached %s", *v.UpstreamID, status)
}

// seedReviewDocument sends a review flow signed by two people.
func seedReviewDocument(t *testing.T, p *apptest.Portal, actor services.Actor, title, nin1, nin2 string) models.Document {
	t.Helper()
	d, err := p.App.Documents.Create(t.Context(), actor, documents.Input{
		Kind: string(models.DocumentKindReview), Title: title, FileURL: "https://files.example.com/contracts/" + url.PathEscape(title) + ".pdf",
		Signees: []documents.SigneeInput{
			{Name: "Wairimu Ndungu", Type: "person", Email: "wairimu@example.com", NIN: nin1},
			{Name: "Odhiambo Water Ltd", Type: "business", Email: "legal@odhiambo-water.example.com", NIN: nin2, Representing: "Odhiambo Water Ltd", Title: "Director"},
		},
	})
	if err != nil || d.UpstreamID == nil {
		t.Fatalf("seed document %q: %v (upstream id %v)", title, err, d.UpstreamID)
	}
	return d
}

// waitUntil polls cond until it holds; the workers that move seeded records
// run in the background and say nothing when they are done.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), seedWait)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting for %s", what)
		case <-tick.C:
		}
	}
}

// searchFromHeader types q into the header's search box and submits it,
// waiting for an element of the page it leads to. The old body is marked so
// that a wait cannot be met by the page the search was made from.
func searchFromHeader(b *browser, name, q, waitFor string) {
	b.t.Helper()
	b.step(name,
		chromedp.Evaluate[chromedp.Void](`document.body.dataset.e2eOld = "1"`),
		chromedp.SendKeys(chromedp.CSS("#header-q"), q),
		chromedp.Click(chromedp.CSS(`.app-header form[action="/search"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("body:not([data-e2e-old]) "+waitFor)),
	)
}

// checkSearchCardFirst checks the dashboard opens with the customer
// search, a form for /search.
func checkSearchCardFirst(t *testing.T, b *browser) {
	t.Helper()
	first := eval[string](b, `(() => {
		const s = document.querySelector("main > section");
		if (!s) return "";
		const h = s.querySelector("h2");
		return (h ? h.textContent.trim() : "") + (s.querySelector('form[action="/search"] input[name="q"]') ? " +form" : "");
	})()`)
	if first != "Find a customer +form" {
		t.Errorf("the dashboard's first section is %q, want the Find a customer card with its search form", first)
	}
}

// deviceRows maps each device or card on the customer page to the balance
// shown for it.
func deviceRows(b *browser) map[string]string {
	b.t.Helper()
	return eval[map[string]string](b, `Object.fromEntries([...document.querySelectorAll("main section.card tbody tr")]
		.map(tr => [tr.querySelector("td.mono")?.textContent.trim() ?? "", tr.querySelector("td.num")?.textContent.trim() ?? ""]))`)
}

// recordRowText is the text of the customer page's row that links to the
// record of kind ("recharges", "verifications", "documents") id.
func recordRowText(b *browser, kind string, id uint) string {
	b.t.Helper()
	return eval[string](b, fmt.Sprintf(`(() => {
		const a = document.querySelector('#customer-records tbody a[href="/%s/%d"]');
		return a ? a.closest("tr").textContent.replace(/\s+/g, " ").trim() : "";
	})()`, kind, id))
}

// linkCheck is one dashboard link as fetched from the page.
type linkCheck struct {
	Kind   string `json:"kind"`
	Href   string `json:"href"`
	Value  string `json:"value"`
	Status int    `json:"status"`
	Rows   int    `json:"rows"`
	Err    string `json:"err"`
}

// maxLinks bounds the links fetched per dashboard, of which at most
// maxChartLinks are chart bars; the tiles get the rest.
const maxLinks, maxChartLinks = 30, 12

// checkDashboardLinks fetches the figures' links with the page's own
// session (redirects not followed: a bounce to the login page is a broken
// link), each kind's distinct hrefs in page order. A tile whose figure is a
// count must lead to a list with that many rows.
func checkDashboardLinks(t *testing.T, b *browser) {
	t.Helper()
	js := fmt.Sprintf(`(async () => {
		const pick = (kind, sel, max) => {
			const seen = new Set(), out = [];
			for (const a of document.querySelectorAll(sel)) {
				const href = a.getAttribute("href") || "";
				if (seen.has(href)) continue;
				seen.add(href);
				const v = a.querySelector(".stat-value");
				out.push({kind, href, value: v ? v.textContent.trim() : ""});
				if (out.length >= max) break;
			}
			return out;
		};
		const charts = pick("chart", "main a.chart-link", %d);
		const links = [...pick("stat", "main a.stat", %d - charts.length), ...charts];
		for (const l of links) {
			l.status = 0; l.rows = -1; l.err = "";
			try {
				const r = await fetch(l.href, {credentials: "same-origin", redirect: "manual"});
				l.status = r.status;
				if (r.status === 200) {
					const doc = new DOMParser().parseFromString(await r.text(), "text/html");
					l.rows = doc.querySelectorAll("main tbody tr").length;
				}
			} catch (e) { l.err = String(e); }
		}
		return links;
	})()`, maxChartLinks, maxLinks)
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	links, err := chromedp.Run(ctx, chromedp.Evaluate[[]linkCheck](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.fail("fetch the dashboard's links", err)
	}
	stats, charts := 0, 0
	for _, l := range links {
		if l.Kind == "stat" {
			stats++
		} else {
			charts++
		}
		if l.Status != 200 {
			t.Errorf("%s link %q answered %d %s, want 200", l.Kind, l.Href, l.Status, l.Err)
			continue
		}
		if n, err := strconv.Atoi(l.Value); err == nil && l.Rows != n {
			t.Errorf("tile %q says %d, the list it links lists %d rows", l.Href, n, l.Rows)
		}
	}
	if stats < 10 || charts < 1 {
		t.Errorf("checked %d tile links and %d chart links; the seeded dashboard should have more (%+v)", stats, charts, links)
	}
	t.Logf("checked %d tile and %d chart links", stats, charts)
}
