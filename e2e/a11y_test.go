package e2e

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"portal/internal/apptest"
	"portal/models"
	"portal/services/bulk"
	"portal/services/recharges"
	"portal/services/sandbox"
	"portal/services/sandbox/oneflowsim"
	"portal/services/verifications"
)

// tourTimeout bounds one role's tour: a browser start, a sign-in and some
// forty pages, each checked by axe at two widths.
const tourTimeout = 4 * time.Minute

// TestEveryPageAccessibleOnDesktopAndPhone signs each role in and opens
// every page that role can reach, over records in every interesting state:
// lists, detail pages (open, final, needing attention), forms and their
// 422 answers, the dashboard, a customer's page, the review queues, the
// audit log, staff, the sandbox, and the sign-in and two-factor pages on
// the way. Each page is checked at 1280 px and at 390 px (a phone):
//   - axe-core finds no violation of any impact;
//   - on the phone nothing scrolls sideways but a table's own scroll box;
//   - screenshots of both widths are saved in screenshots/.
//
// It also checks the keyboard: the first Tab on a list reaches the skip
// link, every control on the dashboard and the list shows a focus ring; the
// phone's menu opens and closes; the charts' numbers unfold as tables.
// Every link in the role's navigation must be among the pages checked, so a
// new page cannot be left out unnoticed, and a canary proves axe and the
// width check do see a broken page. Any JavaScript error or CSP violation
// fails the test.
func TestEveryPageAccessibleOnDesktopAndPhone(t *testing.T) {
	axe, err := axeScript()
	if err != nil {
		// As with the browser: only -short may go without.
		if testing.Short() {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	p := apptest.Start(t, apptest.Config{})
	if p.App.OneFlowSim == nil || p.App.PawaPassSim == nil || p.PasbySim == nil {
		t.Fatal("the test portal lacks a simulator")
	}
	users := []struct {
		role            models.Role
		email, password string
	}{
		{models.RoleAdmin, apptest.AdminEmail, apptest.AdminPassword},
		{models.RoleOperator, "wanjiku.kamau@example.com", "an operator's long password"},
		{models.RoleCompliance, "kwame.asante@example.com", "a compliance officer's password"},
		{models.RoleSupport, "zawadi.mrisho@example.com", "a support agent's long password"},
	}
	ids := map[models.Role]uint{}
	for _, u := range users[1:] {
		ids[u.role] = p.CreateUser(t, u.email, u.password, u.role).ID
	}
	r := seedTour(t, p, ids[models.RoleOperator])
	shots := &shotSet{taken: map[string]bool{}}

	for _, u := range users {
		t.Run(string(u.role), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), tourTimeout)
			defer cancel()
			tr := &tour{t: t, b: startBrowser(t, ctx), p: p, axe: axe, role: u.role, shots: shots}
			tr.signIn(u.email, u.password)
			tr.dashboard()
			tr.skipLink()
			for _, pg := range tourPages(r) {
				if pg.roles == nil || slices.Contains(pg.roles, u.role) {
					tr.check(pg.name, pg.perRole, append([]chromedp.Action[chromedp.Void]{chromedp.Navigate(p.URL + pg.path)}, pg.then...)...)
					tr.visited = append(tr.visited, pg.path)
				}
			}
			tr.forms(r)
			if u.role == models.RoleAdmin {
				tr.liveStatus(fmt.Sprintf("/documents/%d", r.open.ID), fmt.Sprintf("#document-status-%d", r.open.ID))
				tr.canary()
				tr.signInAgain(u.email, u.password)
			}
			tr.checkNavCovered()
			tr.checkConsole()
		})
	}
}

// tourRecords are the records the tour opens.
type tourRecords struct {
	done, unknown, pending      models.Recharge
	approved, inReview, reader  models.Verification
	signed, open                models.Document
	reviewUser                  uint // a staff member whose password an admin may reset
	bulkJob                     uint // a finished bulk refresh, the operator's
	externalID, phone, deviceID string
}

// seedTour records something in every state a page shows differently.
func seedTour(t *testing.T, p *apptest.Portal, operatorID uint) tourRecords {
	t.Helper()
	op, err := p.App.Accounts.Get(t.Context(), operatorID)
	if err != nil {
		t.Fatal(err)
	}
	actor := actorOf(op)
	r := tourRecords{externalID: "KYC-TOUR-0001", phone: oneflowsim.SeedPhone, deviceID: oneflowsim.SeedDeviceID, reviewUser: operatorID}

	r.done = seedRecharge(t, p, actor, recharges.Input{DeviceID: oneflowsim.SeedDeviceID, Amount: "300", PhoneNumber: oneflowsim.SeedPhone})
	failed := seedRecharge(t, p, actor, recharges.Input{DeviceID: oneflowsim.SeedSuspendedDeviceID, Amount: "60"})
	settleRecharges(t, p, models.RechargeCompleted, r.done.ID)
	settleRecharges(t, p, models.RechargeFailed, failed.ID)
	if err := p.App.Sandbox.SetFault("oneflow", rechargeEndpoint, sandbox.Fault{Kind: sandbox.FaultHang, Times: 1}); err != nil {
		t.Fatal(err)
	}
	r.unknown, _, err = p.App.Recharges.Create(t.Context(), actor, recharges.Input{
		DeviceID: oneflowsim.SeedDeviceID, Amount: "80", PhoneNumber: oneflowsim.SeedPhone, IdempotencyKey: recharges.NewIdempotencyKey(),
	})
	if r.unknown.State != models.RechargeUnknown {
		t.Fatalf("a recharge into a hang ended %q (err %v), want unknown", r.unknown.State, err)
	}
	// Left open: its page polls its status.
	r.pending = seedRecharge(t, p, actor, recharges.Input{CardID: oneflowsim.SeedCardID, Amount: "40", PhoneNumber: oneflowsim.SeedPhone})

	r.approved = seedPawaPass(t, p, actor, r.externalID, oneflowsim.SeedPhone)
	// The same external id twice: searching it lists both.
	r.inReview = seedPawaPass(t, p, actor, r.externalID, oneflowsim.SeedPhone)
	advancePawaPass(t, p, r.approved, "APPROVED")
	advancePawaPass(t, p, r.inReview, "REVIEW")
	r.reader, err = p.App.Verifications.Create(t.Context(), actor, verifications.Input{
		Provider: string(models.ProviderPassportReader), PhoneNo: oneflowsim.SeedPhone, FaceVerification: true,
	})
	if err != nil {
		t.Fatalf("seed PassportReader verification: %v", err)
	}
	waitUntil(t, "the approved verification", func() bool { return getVerification(t, p, r.approved.ID).State == models.VerificationApproved })

	const nin1, nin2 = "22334455667", "77665544332"
	r.signed = seedReviewDocument(t, p, actor, "Water kiosk lease, Nakuru", nin1, nin2)
	for _, nin := range []string{nin1, nin2} {
		if err := p.PasbySim.Sign(*r.signed.UpstreamID, nin); err != nil {
			t.Fatalf("sign %s as %s: %v", *r.signed.UpstreamID, nin, err)
		}
	}
	r.open = seedReviewDocument(t, p, actor, "Borehole service agreement", "12312312312", "45645645645")
	waitUntil(t, "the signed document", func() bool { return getDocument(t, p, r.signed.ID).State == models.DocumentCompleted })
	job, err := p.App.Bulk.Start(t.Context(), actor, bulk.Request{Kind: "documents", Action: bulk.Refresh, IDs: []uint{r.open.ID, r.signed.ID, 999999}})
	if err != nil {
		t.Fatalf("seed bulk job: %v", err)
	}
	r.bulkJob = job.ID
	waitUntil(t, "the bulk refresh", func() bool {
		rep, err := p.App.Bulk.Report(t.Context(), actor, job.ID)
		return err == nil && rep.Done()
	})
	return r
}

// tourPage is a page opened by its address. then waits for what shows it
// is ready (the heading, by default); perRole pages look different to each
// role and get a screenshot per role.
type tourPage struct {
	name    string
	path    string
	roles   []models.Role // nil: every role
	perRole bool
	then    []chromedp.Action[chromedp.Void]
}

var (
	creatorRoles    = []models.Role{models.RoleAdmin, models.RoleOperator, models.RoleSupport}
	docVerCreators  = []models.Role{models.RoleAdmin, models.RoleOperator}
	reviewerRoles   = []models.Role{models.RoleAdmin, models.RoleCompliance}
	adminRole       = []models.Role{models.RoleAdmin}
	headingReady    = []chromedp.Action[chromedp.Void]{chromedp.WaitVisible(chromedp.CSS("main h1"))}
	errorPageReady  = []chromedp.Action[chromedp.Void]{chromedp.WaitVisible(chromedp.CSS("main .error-page h1"))}
	filterErrorShow = []chromedp.Action[chromedp.Void]{chromedp.WaitVisible(chromedp.CSS("main .field.has-error"))}
)

func tourPages(r tourRecords) []tourPage {
	id := func(n uint) string { return fmt.Sprint(n) }
	pages := []tourPage{
		{name: "customer-lookup", path: "/customers/lookup"},
		{name: "customer-lookup-found", path: "/customers/lookup?q=" + url.QueryEscape(r.phone)},
		{name: "customer-360", path: "/customers/" + url.PathEscape(r.phone), then: []chromedp.Action[chromedp.Void]{chromedp.WaitVisible(chromedp.CSS("#customer-records"))}},
		{name: "search-results", path: "/search?q=" + url.QueryEscape(r.externalID), then: []chromedp.Action[chromedp.Void]{chromedp.WaitVisible(chromedp.CSS("main .hit-list"))}},
		{name: "search-nothing", path: "/search?q=zz-nothing-here", then: []chromedp.Action[chromedp.Void]{chromedp.WaitVisible(chromedp.CSS("main .empty-state"))}},
		{name: "recharges", path: "/recharges", then: []chromedp.Action[chromedp.Void]{chromedp.WaitVisible(chromedp.CSS("main table"))}},
		{name: "recharges-needs-attention", path: "/recharges?state=unknown", then: []chromedp.Action[chromedp.Void]{chromedp.WaitVisible(chromedp.CSS("main table"))}},
		{name: "recharges-filter-error", path: "/recharges?from=31-12-2025", then: filterErrorShow},
		{name: "recharge-completed", path: "/recharges/" + id(r.done.ID)},
		{name: "recharge-pending", path: "/recharges/" + id(r.pending.ID)},
		{name: "recharge-unknown", path: "/recharges/" + id(r.unknown.ID), perRole: true},
		{name: "documents", path: "/documents", then: []chromedp.Action[chromedp.Void]{chromedp.WaitVisible(chromedp.CSS("main table"))}},
		{name: "documents-bulk-matching", path: "/documents/bulk?kind=review", perRole: true},
		{name: "recharges-bulk-matching", path: "/recharges/bulk?state=completed"},
		{name: "bulk-job", path: "/bulk/" + id(r.bulkJob), roles: docVerCreators},
		{name: "document-completed", path: "/documents/" + id(r.signed.ID), perRole: true},
		{name: "document-open", path: "/documents/" + id(r.open.ID)},
		{name: "verifications", path: "/verifications", then: []chromedp.Action[chromedp.Void]{chromedp.WaitVisible(chromedp.CSS("main table"))}},
		{name: "verification-approved", path: "/verifications/" + id(r.approved.ID), perRole: true},
		{name: "verification-in-review", path: "/verifications/" + id(r.inReview.ID)},
		{name: "verification-passportreader", path: "/verifications/" + id(r.reader.ID)},
		{name: "account-password", path: "/account/password"},
		{name: "account-two-factor", path: "/account/two-factor", perRole: true},
		{name: "not-found", path: "/no-such-page", then: errorPageReady},
		{name: "kyc-landing", path: "/kyc/done"},
		{name: "account-two-factor-enrol", path: "/account/two-factor/enrol", roles: []models.Role{models.RoleOperator, models.RoleSupport}},

		{name: "recharge-new", path: "/recharges/new?" + url.Values{"device_id": {r.deviceID}, "phone_number": {r.phone}}.Encode(), roles: creatorRoles},
		{name: "document-new", path: "/documents/new", roles: docVerCreators},
		{name: "verification-new", path: "/verifications/new", roles: docVerCreators},

		{name: "review-documents", path: "/reviews/documents", roles: reviewerRoles},
		{name: "review-verifications", path: "/reviews/verifications", roles: reviewerRoles},
		{name: "review-verifications-second", path: "/reviews/verifications?tab=second", roles: reviewerRoles},

		{name: "users", path: "/users", roles: adminRole},
		{name: "user-new", path: "/users/new", roles: adminRole},
		{name: "user-reset-password", path: "/users/" + id(r.reviewUser) + "/password", roles: adminRole},
		{name: "audit", path: "/audit", roles: adminRole, then: []chromedp.Action[chromedp.Void]{chromedp.WaitVisible(chromedp.CSS("main table"))}},
		{name: "sandbox", path: "/sandbox", roles: adminRole},
		{name: "reauth", path: "/reauth?next=%2Fusers", roles: adminRole},
	}
	for i := range pages {
		if pages[i].then == nil {
			pages[i].then = headingReady
		}
	}
	return pages
}

// shotSet remembers which screenshots were saved, so a page that looks
// the same to every role is saved once.
type shotSet struct {
	mu    sync.Mutex
	taken map[string]bool
}

func (s *shotSet) first(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.taken[name] {
		return false
	}
	s.taken[name] = true
	return true
}

// tour is one role's walk through the portal in one browser.
type tour struct {
	t       *testing.T
	b       *browser
	p       *apptest.Portal
	axe     string
	role    models.Role
	shots   *shotSet
	visited []string // paths opened, for the navigation check
	errors  []string // steps expected to answer 4xx
	nav     []string // the navigation's links
}

// check runs actions, which end on the page to check, then checks it on a
// desktop and on a phone without reloading it (a form's error state would
// be lost).
func (tr *tour) check(name string, perRole bool, actions ...chromedp.Action[chromedp.Void]) {
	tr.t.Helper()
	b := tr.b
	b.step(name, actions...)
	shot := name
	if perRole {
		shot += "-" + string(tr.role)
	}
	tr.audit(name, desktopWidth)
	if tr.shots.first(shot + "-1280") {
		b.screenshot(shot + "-1280.png")
	}
	b.step(name+" on a phone", chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateMobile), nextFrame())
	tr.checkFits(name)
	tr.audit(name, phoneWidth)
	if tr.shots.first(shot + "-390") {
		b.screenshot(shot + "-390.png")
	}
	b.step(name+" back on a desktop", chromedp.EmulateViewport(desktopWidth, desktopHeight), nextFrame())
}

// nextFrame waits until the browser has laid the page out again (after a
// viewport change).
func nextFrame() chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](`new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r())))`, chromedp.EvalAwaitPromise)
}

// audit runs axe on the page and fails the test for each violation.
func (tr *tour) audit(name string, width int) {
	tr.t.Helper()
	vs, err := tr.b.axe(tr.axe)
	if err != nil {
		tr.b.fail("axe on "+name, err)
	}
	if len(vs) > 0 {
		tr.t.Errorf("%s: page %q at %d px (%s) has %d axe violation(s):\n%s", tr.role, name, width, tr.b.location(), len(vs), axeReport(vs))
	}
}

// overflowing finds what sticks out of the page on the right: elements
// wider than the viewport whose parent is not (the culprits, not all their
// ancestors), outside any box that scrolls or clips them.
const overflowing = `(() => {
	const w = document.documentElement.clientWidth;
	const clipped = el => {
		for (let p = el.parentElement; p && p !== document.documentElement; p = p.parentElement) {
			const o = getComputedStyle(p).overflowX;
			if (o !== "visible") return true;
		}
		return false;
	};
	const sticksOut = el => el.getBoundingClientRect().right > w + 0.5;
	const name = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
		[...el.classList].map(c => "." + c).join("");
	const out = [];
	for (const el of document.body.querySelectorAll("*")) {
		if (!sticksOut(el) || clipped(el)) continue;
		if (el.parentElement && el.parentElement !== document.body && sticksOut(el.parentElement)) {
			const siblingsToo = [...el.parentElement.children].some(c => c !== el && sticksOut(c));
			if (!siblingsToo) continue;
		}
		const path = [];
		for (let e = el; e && e !== document.body && path.length < 4; e = e.parentElement) path.unshift(name(e));
		out.push(path.join(" > ") + " (right edge " + Math.round(el.getBoundingClientRect().right) + " px)");
		if (out.length >= 8) break;
	}
	return {width: w, scrollWidth: document.documentElement.scrollWidth, culprits: out};
})()`

// pageWidth is how wide the page is laid out, against the viewport.
type pageWidth struct {
	Width       int      `json:"width"`
	ScrollWidth int      `json:"scrollWidth"`
	Culprits    []string `json:"culprits"`
}

// checkFits fails when the page scrolls sideways on the phone.
func (tr *tour) checkFits(name string) {
	tr.t.Helper()
	got := eval[pageWidth](tr.b, overflowing)
	if got.Width != phoneWidth {
		tr.t.Errorf("%s: page %q: the phone viewport is %d px wide, want %d", tr.role, name, got.Width, phoneWidth)
	}
	if got.ScrollWidth > got.Width {
		tr.t.Errorf("%s: page %q is %d px wide on a %d px phone, so it scrolls sideways; sticking out:\n  %s",
			tr.role, name, got.ScrollWidth, got.Width, strings.Join(got.Culprits, "\n  "))
	}
}

// liveStatus opens a page whose status polls and checks the fragment sits
// in a polite live region that outlives the polls: htmx replaces the
// fragment, never the region, so a change is announced.
func (tr *tour) liveStatus(path, status string) {
	tr.t.Helper()
	b := tr.b
	b.step("live status",
		chromedp.Navigate(tr.p.URL+path),
		chromedp.WaitVisible(chromedp.CSS(status)),
		chromedp.Evaluate[chromedp.Void](`(() => {
			window.__e2ePolls = 0;
			document.body.addEventListener("htmx:afterRequest", () => { window.__e2ePolls++; });
			document.querySelector(`+jsString(status)+`).parentElement.dataset.e2eRegion = "1";
		})()`),
		chromedp.Poll[chromedp.Void](`window.__e2ePolls >= 2`),
	)
	got := eval[string](b, `(() => {
		const s = document.querySelector(`+jsString(status)+`);
		const r = s && s.parentElement;
		return r ? (r.getAttribute("aria-live") || "none") + (r.dataset.e2eRegion === "1" ? " kept" : " replaced") : "no status";
	})()`)
	if got != "polite kept" {
		tr.t.Errorf("after two polls the status's live region is %q, want a polite region that was kept (polite kept)", got)
	}
	if n := eval[int](b, `document.querySelectorAll(`+jsString(status+"[aria-live], "+status+" [aria-live]")+`).length`); n != 0 {
		tr.t.Errorf("%d live regions inside the fragment: nested in the wrapper's, they would be announced twice", n)
	}
}

// canary breaks a page on purpose, an image without a text alternative
// and a box wider than the phone, and checks that axe and the width check
// both notice: "no violations" above must mean they looked.
func (tr *tour) canary() {
	tr.t.Helper()
	b := tr.b
	b.step("canary",
		chromedp.Navigate(tr.p.URL+"/account/password"),
		chromedp.WaitVisible(chromedp.CSS("main h1")),
		chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateMobile),
		chromedp.Evaluate[chromedp.Void](`(() => {
			const img = document.createElement("img");
			img.src = "/static/favicon.svg";
			const wide = document.createElement("div");
			wide.id = "e2e-too-wide";
			wide.style.width = "1000px";
			wide.style.height = "1em"; // an empty box overflows nothing
			document.querySelector("main").append(img, wide);
		})()`),
		nextFrame(),
	)
	vs, err := b.axe(tr.axe)
	if err != nil {
		b.fail("axe on the canary", err)
	}
	if !slices.ContainsFunc(vs, func(v axeViolation) bool { return v.ID == "image-alt" }) {
		tr.t.Errorf("axe did not report the canary's image without alt (got:\n%s)", axeReport(vs))
	}
	if w := eval[pageWidth](b, overflowing); w.ScrollWidth <= w.Width || !slices.ContainsFunc(w.Culprits, func(c string) bool { return strings.Contains(c, "#e2e-too-wide") }) {
		tr.t.Errorf("the width check did not notice the canary's 1000 px box: %+v", w)
	}
	b.step("canary back on a desktop", chromedp.EmulateViewport(desktopWidth, desktopHeight))
}

// signIn goes through the sign-in pages, checking each: the form, a wrong
// password, and for admins and compliance the second factor's set-up (with
// a wrong code first) and the recovery codes.
func (tr *tour) signIn(email, password string) {
	tr.t.Helper()
	p := tr.p
	tr.check("sign-in", false,
		chromedp.Navigate(p.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS(".login-box #f-email")),
	)
	tr.expectError("sign-in-wrong-password")
	tr.check("sign-in-wrong-password", false,
		chromedp.SendKeys(chromedp.CSS("#f-email"), email),
		chromedp.SendKeys(chromedp.CSS("#f-password"), "not the password"),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".login-box .flash-error")),
	)
	tr.b.step("sign in as "+email,
		chromedp.SetValue(chromedp.CSS("#f-email"), email),
		chromedp.SetValue(chromedp.CSS("#f-password"), password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.app-header, form[action="/login/enrol"], form[action="/login/code"]`)),
	)
	if !strings.HasSuffix(tr.b.location(), "/login/enrol") {
		return
	}
	p.Authenticator.Add(email, tr.b.text("#totp-secret"))
	tr.check("sign-in-two-factor-setup", false, chromedp.WaitVisible(chromedp.CSS("#f-code")))
	tr.expectError("sign-in-two-factor-setup-wrong-code")
	tr.check("sign-in-two-factor-setup-wrong-code", false,
		chromedp.SendKeys(chromedp.CSS("#f-code"), "000000"),
		chromedp.Click(chromedp.CSS(`form[action="/login/enrol"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/login/enrol"] .field.has-error`)),
	)
	tr.check("sign-in-recovery-codes", false,
		chromedp.SetValue(chromedp.CSS("#f-code"), p.Authenticator.NextCode(tr.t, email)),
		chromedp.Click(chromedp.CSS(`form[action="/login/enrol"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#recovery-codes")),
	)
	tr.b.step("recovery codes saved",
		chromedp.Click(chromedp.CSS(`.actions a.btn-primary`)),
		chromedp.WaitVisible(chromedp.CSS(".app-header")),
	)
}

// signInAgain signs out and in again, now with a second factor: the code
// page.
func (tr *tour) signInAgain(email, password string) {
	tr.t.Helper()
	tr.b.step("sign out",
		chromedp.Navigate(tr.p.URL+"/account/password"),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/logout"] button`)),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('form[action="/logout"]').requestSubmit()`),
		chromedp.WaitVisible(chromedp.CSS(".login-box #f-email")),
	)
	tr.check("sign-in-code", false,
		chromedp.SendKeys(chromedp.CSS("#f-email"), email),
		chromedp.SendKeys(chromedp.CSS("#f-password"), password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/login/code"] #f-code`)),
	)
	tr.expectError("sign-in-code-wrong")
	tr.check("sign-in-code-wrong", false,
		chromedp.SendKeys(chromedp.CSS("#f-code"), "000000"),
		chromedp.Click(chromedp.CSS(`form[action="/login/code"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/login/code"] .flash-error`)),
	)
}

// dashboard checks the dashboard, the keyboard on it, and the phone menu.
func (tr *tour) dashboard() {
	tr.t.Helper()
	b := tr.b
	tr.check("dashboard", true,
		chromedp.Navigate(tr.p.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("main .page-header h1")),
	)
	tr.visited = append(tr.visited, "/")
	tr.nav = eval[[]string](b, `[...document.querySelectorAll(".app-header nav a")].map(a => a.getAttribute("href"))`)
	// The charts' numbers, unfolded: the tables and their links are the
	// charts' text alternative.
	if eval[int](b, `document.querySelectorAll("main figure.chart details.chart-data").length`) == 0 {
		tr.t.Errorf("%s: no chart on the dashboard offers its numbers as a table", tr.role)
	}
	tr.check("dashboard-numbers", true,
		chromedp.Evaluate[chromedp.Void](`document.querySelectorAll("main details.chart-data").forEach(d => { d.open = true; })`),
		chromedp.WaitVisible(chromedp.CSS("main details.chart-data[open] table")),
	)

	tr.checkFocusRings("dashboard")
	// On a phone the navigation is one button; it opens and closes.
	b.step("phone menu", chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateMobile), nextFrame())
	menu := `.app-header .nav-toggle`
	navShown := `(() => { const n = document.querySelector(".app-header nav"); return !!n && n.getClientRects().length > 0; })()`
	if !eval[bool](b, `(() => { const m = document.querySelector(`+jsString(menu)+`); return !!m && m.getClientRects().length > 0 && m.getAttribute("aria-expanded") === "false"; })()`) {
		tr.t.Errorf("%s: no collapsed menu button on the phone", tr.role)
	} else {
		if eval[bool](b, navShown) {
			tr.t.Errorf("%s: the navigation shows on the phone before the menu is opened", tr.role)
		}
		b.step("open the menu", chromedp.Click(chromedp.CSS(menu)), nextFrame())
		if !eval[bool](b, navShown) || eval[string](b, `document.querySelector(`+jsString(menu)+`).getAttribute("aria-expanded")`) != "true" {
			tr.t.Errorf("%s: the menu button did not open the navigation", tr.role)
		}
		tr.checkFits("dashboard with the menu open")
		tr.audit("dashboard with the menu open", phoneWidth)
		if tr.shots.first("menu-open-" + string(tr.role)) {
			b.screenshot("dashboard-menu-open-" + string(tr.role) + "-390.png")
		}
		b.step("close the menu", chromedp.Click(chromedp.CSS(menu)), nextFrame())
		if eval[bool](b, navShown) {
			tr.t.Errorf("%s: the menu button did not close the navigation", tr.role)
		}
	}
	b.step("dashboard back on a desktop", chromedp.EmulateViewport(desktopWidth, desktopHeight), nextFrame())
}

// skipLink checks that the first Tab on a page (a list: no field takes the
// focus by itself) reaches the skip link, shown, leading to the main
// content, and that every control after it shows a focus ring.
func (tr *tour) skipLink() {
	tr.t.Helper()
	b := tr.b
	b.step("tab to the skip link",
		chromedp.Navigate(tr.p.URL+"/recharges"),
		chromedp.WaitVisible(chromedp.CSS("main h1")),
		pressTab(),
	)
	skip := eval[struct {
		Class, Href string
		Top         float64
		Target      bool
	}](b, `(() => {
		const a = document.activeElement, r = a.getBoundingClientRect();
		return {Class: a.className, Href: a.getAttribute("href") || "", Top: r.top, Target: !!document.querySelector("main#main")};
	})()`)
	if skip.Class != "skip-link" || skip.Href != "#main" || !skip.Target || skip.Top < 0 {
		tr.t.Errorf("%s: the first Tab reached %+v; want the visible skip link to #main", tr.role, skip)
	}
	tr.checkFocusRings("recharges")
}

// pressTab sends one Tab key press.
func pressTab() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
			if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, input.DispatchKeyEventParams{
				Type: typ, Key: "Tab", Code: "Tab", WindowsVirtualKeyCode: 9, NativeVirtualKeyCode: 9,
			}); err != nil {
				return err
			}
		}
		return nil
	})
}

// maxTabs bounds the focus-ring walk of one page.
const maxTabs = 60

// checkFocusRings tabs through the page and fails for any control that
// shows no focus indicator (an outline or a box shadow) when reached by
// the keyboard.
func (tr *tour) checkFocusRings(name string) {
	tr.t.Helper()
	seen := map[string]bool{}
	var missing []string
	tr.b.step("forget earlier walks", chromedp.Evaluate[chromedp.Void](`document.querySelectorAll("[data-e2e-tabbed]").forEach(e => delete e.dataset.e2eTabbed)`))
	for range maxTabs {
		tr.b.step("tab on "+name, pressTab())
		f := eval[struct {
			Key, Outline, Shadow string
			Width                float64
		}](tr.b, `(() => {
			const a = document.activeElement;
			if (!a || a === document.body) return {Key: ""};
			const s = getComputedStyle(a);
			const key = a.tagName.toLowerCase() + (a.id ? "#" + a.id : "") + " " + (a.getAttribute("href") || a.getAttribute("name") || "") + " " + a.textContent.trim().slice(0, 30);
			// Marked, so that coming round again is told from two alike controls.
			const again = a.dataset.e2eTabbed === "1";
			a.dataset.e2eTabbed = "1";
			return {Key: again ? "" : key, Outline: s.outlineStyle, Width: parseFloat(s.outlineWidth) || 0, Shadow: s.boxShadow};
		})()`)
		if f.Key == "" {
			break
		}
		seen[f.Key] = true
		if (f.Outline == "none" || f.Width == 0) && (f.Shadow == "" || f.Shadow == "none") {
			missing = append(missing, f.Key)
		}
	}
	if len(seen) < 5 {
		tr.t.Errorf("%s: only %d controls reached by Tab on %s", tr.role, len(seen), name)
	}
	if len(missing) > 0 {
		tr.t.Errorf("%s: on %s these show no focus ring: %q", tr.role, name, missing)
	}
}

// forms submits each form the role may use with a mistake, and checks the
// page with the errors next to the fields (422).
func (tr *tour) forms(r tourRecords) {
	tr.t.Helper()
	p := tr.p
	submit := func(form string) chromedp.Action[chromedp.Void] {
		return chromedp.Click(chromedp.CSS(form + ` button[type="submit"]`))
	}
	fieldError := chromedp.WaitVisible(chromedp.CSS("main .field.has-error"))
	tr.expectError("account-password-error")
	tr.check("account-password-error", false,
		chromedp.Navigate(p.URL+"/account/password"),
		chromedp.WaitVisible(chromedp.CSS("#f-current_password")),
		chromedp.SendKeys(chromedp.CSS("#f-current_password"), "not my password"),
		chromedp.SendKeys(chromedp.CSS("#f-new_password"), "short"),
		submit(`form[action="/account/password"]`),
		fieldError,
	)
	if slices.Contains(creatorRoles, tr.role) {
		tr.check("recharge-confirm", false,
			chromedp.Navigate(p.URL+"/recharges/new?"+url.Values{"device_id": {r.deviceID}, "phone_number": {r.phone}}.Encode()),
			chromedp.WaitVisible(chromedp.CSS("#f-amount")),
			chromedp.SendKeys(chromedp.CSS("#f-amount"), "120"),
			submit(`form.form[action="/recharges"]`),
			chromedp.WaitVisible(chromedp.CSS("main .confirm-amount")),
		)
		tr.expectError("recharge-new-error")
		tr.check("recharge-new-error", false,
			chromedp.Navigate(p.URL+"/recharges/new?"+url.Values{"device_id": {r.deviceID}, "phone_number": {r.phone}}.Encode()),
			chromedp.WaitVisible(chromedp.CSS("#f-amount")),
			chromedp.SendKeys(chromedp.CSS("#f-amount"), "twelve"),
			submit(`form.form[action="/recharges"]`),
			fieldError,
		)
	}
	if slices.Contains(docVerCreators, tr.role) {
		tr.expectError("document-new-error")
		tr.check("document-new-error", false,
			chromedp.Navigate(p.URL+"/documents/new"),
			chromedp.WaitVisible(chromedp.CSS("#f-title")),
			chromedp.SendKeys(chromedp.CSS("#f-file_url"), "http://localhost/contract.pdf"),
			submit(`form[action="/documents"]`),
			fieldError,
		)
		tr.expectError("verification-new-error")
		tr.check("verification-new-error", false,
			chromedp.Navigate(p.URL+"/verifications/new"),
			chromedp.WaitVisible(chromedp.CSS("#f-phone_no")),
			chromedp.SendKeys(chromedp.CSS("#f-success_url"), "not a url"),
			submit(`form[action="/verifications"]`),
			fieldError,
		)
	}
	if slices.Contains(reviewerRoles, tr.role) {
		// "Other" needs a note; nothing is recorded, so the next role can
		// make the same mistake.
		tr.expectError("verification-decision-error")
		tr.check("verification-decision-error", true,
			chromedp.Navigate(p.URL+fmt.Sprintf("/verifications/%d", r.approved.ID)),
			chromedp.WaitVisible(chromedp.CSS(`#case-decision select[name="reason"]`)),
			chromedp.SetValue(chromedp.CSS(`#case-decision select[name="decision"]`), "flagged"),
			chromedp.SetValue(chromedp.CSS(`#case-decision select[name="reason"]`), "other"),
			chromedp.Click(chromedp.CSS(`#case-decision button[value="stay"]`)),
			fieldError,
		)
	}
	if tr.role == models.RoleAdmin {
		tr.expectError("user-new-error")
		tr.check("user-new-error", false,
			chromedp.Navigate(p.URL+"/users/new"),
			chromedp.WaitVisible(chromedp.CSS("#f-name")),
			chromedp.SendKeys(chromedp.CSS("#f-email"), "not-an-email"),
			submit(`form[action="/users"]`),
			fieldError,
		)
		tr.expectError("sandbox-fault-error")
		tr.check("sandbox-fault-error", false,
			chromedp.Navigate(p.URL+"/sandbox"),
			chromedp.WaitVisible(chromedp.CSS("#sim-oneflow")),
			chromedp.SetValue(chromedp.CSS(`#sim-oneflow select[name="kind"]`), "latency"),
			chromedp.SendKeys(chromedp.CSS(`#sim-oneflow input[name="latency_ms"]`), "-5"),
			// The browser would refuse the number itself; the server must too.
			chromedp.Evaluate[chromedp.Void](`document.querySelector('#sim-oneflow form[action="/sandbox/faults"]').noValidate = true`),
			submit(`#sim-oneflow form[action="/sandbox/faults"]`),
			fieldError,
		)
	}
}

// expectError notes that step answers with a 4xx the browser may log.
func (tr *tour) expectError(step string) { tr.errors = append(tr.errors, step) }

// checkNavCovered fails for a navigation link the tour did not open.
func (tr *tour) checkNavCovered() {
	tr.t.Helper()
	for _, href := range tr.nav {
		if !slices.Contains(tr.visited, href) {
			tr.t.Errorf("%s: the navigation links %s, which the accessibility tour does not check: add it to tourPages", tr.role, href)
		}
	}
}

// checkConsole fails for any problem the browser reported, except the
// network errors of the answers expected to be 4xx.
func (tr *tour) checkConsole() {
	tr.t.Helper()
	unexpected, _ := tr.b.console.problems(nil)
	for _, e := range unexpected {
		expected := e.Kind == "log" && e.Source == "network" && strings.Contains(e.Text, "status of 4") &&
			(slices.Contains(tr.errors, e.Step) || strings.HasPrefix(e.Step, "not-found") ||
				strings.HasPrefix(e.Step, "recharges-filter-error"))
		if !expected {
			tr.t.Errorf("%s: browser reported: %s", tr.role, e)
		}
	}
}
