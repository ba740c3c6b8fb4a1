package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"portal/internal/apptest"
	"portal/models"
	"portal/services/sandbox/pasbysim"
)

// documentJourneyTimeout bounds the whole document journey: two sign-ins,
// the form, a second tab on the simulator's hosted page and a few 2 s
// status polls.
const documentJourneyTimeout = 120 * time.Second

// documentURL matches the address of a document's page and captures its id.
var documentURL = regexp.MustCompile(`/documents/([0-9]+)$`)

// TestDocumentReviewJourney sends a document for a review flow and follows
// it to a compliance decision in a real browser: an operator fills the form
// (first with a NIN the portal refuses), adds a second signee with htmx,
// sends it, opens the simulator's hosted review page from the detail page
// in a second tab and signs as each signee there; the detail page, left
// open in the first tab, turns completed by itself. A compliance officer
// then finds it in the review queue, reveals one NIN (audited) and approves
// it. Screenshots are saved, and any JavaScript error or CSP violation in
// either tab fails the test.
func TestDocumentReviewJourney(t *testing.T) {
	started := time.Now()
	p := apptest.Start(t, apptest.Config{})
	if p.PasbySim == nil {
		t.Fatal("the test portal has no pasby simulator")
	}
	const (
		opEmail    = "olu.adeyemi@example.com"
		opPassword = "an operator's long password"
		coEmail    = "chioma.eze@example.com"
		coPassword = "a compliance officer's password"

		title   = "Office lease 2027"
		fileURL = "https://files.example.com/leases/office-2027.pdf"
		badNIN  = "1234567890" // 10 digits

		name1, email1, nin1 = "Ada Obi", "ada.obi@example.com", "12345678901"
		name2, email2, nin2 = "Kofi Mensah", "kofi@mensah.example.com", "23456789012"
		repr2, title2       = "Mensah Ltd", "Director"
		note                = "Both signatures match the lease parties."
	)
	p.CreateUser(t, opEmail, opPassword, models.RoleOperator)
	p.CreateUser(t, coEmail, coPassword, models.RoleCompliance)

	ctx, cancel := context.WithTimeout(t.Context(), documentJourneyTimeout)
	defer cancel()
	b := startBrowser(t, ctx)

	// 1. The operator signs in and opens Documents → New document.
	signIn(b, p, opEmail, opPassword)
	if role := b.text(".app-header .user-menu .badge"); role != "operator" {
		t.Errorf("header shows role %q, want operator", role)
	}
	b.step("open documents",
		chromedp.Click(chromedp.CSS(`.app-header nav a[href="/documents"]`)),
		chromedp.WaitVisible(chromedp.CSS(`main a.btn[href="/documents/new"]`)),
	)
	b.step("open new document",
		chromedp.Click(chromedp.CSS(`main a.btn[href="/documents/new"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/documents"] #f-kind`)),
		chromedp.WaitVisible(chromedp.CSS(`#signee-rows tr.signee-row input[name="signee_nin"]`)),
	)
	if n := eval[int](b, `document.querySelectorAll("#signee-rows tr.signee-row").length`); n != 1 {
		t.Errorf("the new form starts with %d signee rows, want 1", n)
	}

	// 2. The review flow, with a 10-digit NIN: 422, the message by the
	// field, what was typed kept, nothing sent.
	row1 := `#signee-rows tr.signee-row:nth-child(1) `
	row2 := `#signee-rows tr.signee-row:nth-child(2) `
	b.step("invalid NIN",
		chromedp.SetValue(chromedp.CSS("#f-kind"), "review"),
		chromedp.SendKeys(chromedp.CSS("#f-title"), title),
		chromedp.SendKeys(chromedp.CSS("#f-file_url"), fileURL),
		chromedp.SendKeys(chromedp.CSS(row1+`input[name="signee_name"]`), name1),
		chromedp.SendKeys(chromedp.CSS(row1+`input[name="signee_email"]`), email1),
		chromedp.SendKeys(chromedp.CSS(row1+`input[name="signee_nin"]`), badNIN),
		chromedp.Click(chromedp.CSS(`form[action="/documents"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(row1+`td.has-error input[name="signee_nin"]`)),
	)
	if st := navigationStatus(b); st != 422 {
		t.Errorf("invalid NIN answered %d, want 422", st)
	}
	ninErr := b.text(row1 + `td.has-error .field-error`)
	if !strings.Contains(ninErr, "11 digits") {
		t.Errorf("NIN error %q, want it to say 11 digits", ninErr)
	}
	if n := eval[int](b, `document.querySelectorAll("main .has-error").length`); n != 1 {
		t.Errorf("%d fields marked with an error, want only the NIN (page: %q)", n, b.text("main form"))
	}
	if got := eval[string](b, `document.querySelector(`+jsString(row1+`input[name="signee_nin"]`)+`).getAttribute("aria-invalid") || ""`); got != "true" {
		t.Errorf("NIN input aria-invalid %q, want true", got)
	}
	for sel, want := range map[string]string{
		"#f-kind": "review", "#f-title": title, "#f-file_url": fileURL,
		row1 + `input[name="signee_name"]`: name1, row1 + `input[name="signee_email"]`: email1,
		row1 + `input[name="signee_nin"]`: badNIN,
	} {
		if got := b.value(sel); got != want {
			t.Errorf("after the 422 %s kept %q, want %q", sel, got, want)
		}
	}
	if n := countDocuments(t, p); n != 0 {
		t.Fatalf("an invalid form left %d documents, want none", n)
	}
	if c := p.PasbySim.CreateCalls(); c != (pasbysim.CreateCounts{}) {
		t.Fatalf("an invalid form reached pasby: %+v", c)
	}
	b.screenshot("document-form-error.png")

	// 3. Fix the NIN, add a second signee with htmx, send.
	eval[bool](b, `(() => { window.__e2eSamePage = true; return true; })()`)
	b.step("add second signee",
		chromedp.Evaluate[chromedp.Void](`document.querySelector(`+jsString(row1+`input[name="signee_nin"]`)+`).select()`),
		chromedp.SendKeys(chromedp.CSS(row1+`input[name="signee_nin"]`), nin1),
		chromedp.Click(chromedp.CSS(`form[action="/documents"] button[hx-get="/documents/signee-row"]`)),
		chromedp.WaitVisible(chromedp.CSS(row2+`input[name="signee_nin"]`)),
		chromedp.SendKeys(chromedp.CSS(row2+`input[name="signee_name"]`), name2),
		chromedp.SetValue(chromedp.CSS(row2+`select[name="signee_type"]`), "business"),
		chromedp.SendKeys(chromedp.CSS(row2+`input[name="signee_email"]`), email2),
		chromedp.SendKeys(chromedp.CSS(row2+`input[name="signee_nin"]`), nin2),
		chromedp.SendKeys(chromedp.CSS(row2+`input[name="signee_representing"]`), repr2),
		chromedp.SendKeys(chromedp.CSS(row2+`input[name="signee_title"]`), title2),
	)
	if !eval[bool](b, `window.__e2eSamePage === true`) {
		t.Errorf("adding a signee reloaded the page; want an htmx append")
	}
	if n := eval[int](b, `document.querySelectorAll("#signee-rows tr.signee-row").length`); n != 2 {
		t.Fatalf("%d signee rows after Add signee, want 2", n)
	}
	if got := b.value(row1 + `input[name="signee_nin"]`); got != nin1 {
		t.Fatalf("first NIN reads %q after retyping, want %s", got, nin1)
	}
	b.step("send document",
		chromedp.Click(chromedp.CSS(`form[action="/documents"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`main [id^="document-status-"] .badge`)),
	)
	id := documentIDFrom(t, b.location())
	status := fmt.Sprintf("#document-status-%d", id)
	if h := b.text("main .page-header h1"); h != "Document #"+strconv.FormatUint(uint64(id), 10) {
		t.Errorf("detail heading %q, want Document #%d", h, id)
	}
	if flash := b.text("main .flash"); !strings.Contains(flash, "Sent to pasby") {
		t.Errorf("flash after sending %q, want Sent to pasby", flash)
	}
	if got := b.text(status + " > .row > .badge"); got != "submitted" && got != "in_progress" {
		t.Errorf("new document's badge %q, want submitted or in_progress", got)
	}
	if got := eval[string](b, `document.querySelector(`+jsString(status)+`).getAttribute("hx-trigger") || ""`); got != "every 2s" {
		t.Errorf("open status fragment has hx-trigger %q, want every 2s", got)
	}
	d := getDocument(t, p, id)
	if d.Kind != models.DocumentKindReview || d.Title != title || d.FileURL != fileURL || d.UpstreamID == nil || d.State.Final() {
		t.Fatalf("stored document: kind %s, title %q, file %q, upstream %v, state %s", d.Kind, d.Title, d.FileURL, d.UpstreamID, d.State)
	}
	upstream := *d.UpstreamID
	details := b.text("main section.card dl.details")
	for _, want := range []string{title, fileURL, upstream, d.Reference, opEmail} {
		if !strings.Contains(details, want) {
			t.Errorf("details card does not show %q:\n%s", want, details)
		}
	}
	signees := eval[[]string](b, `[...document.querySelectorAll(`+jsString(status+" tbody tr")+`)].map(tr => tr.textContent.replace(/\s+/g, " ").trim())`)
	if len(signees) != 2 || !strings.Contains(signees[0], name1) || !strings.Contains(signees[1], name2) ||
		!strings.Contains(signees[1], repr2) || !strings.Contains(signees[1], "business") {
		t.Errorf("status lists signees %q, want %s then %s (business, %s)", signees, name1, name2, repr2)
	}
	// Operators see NINs masked to their last 4 digits, and cannot reveal.
	if main := b.text("main"); strings.Contains(main, nin1) || strings.Contains(main, nin2) ||
		!strings.Contains(main, nin1[7:]) || !strings.Contains(main, nin2[7:]) {
		t.Errorf("operator's detail page does not mask the NINs to their last 4 digits")
	}
	if n := eval[int](b, `document.querySelectorAll('main form[action$="/reveal"]').length`); n != 0 {
		t.Errorf("an operator is offered %d Reveal buttons, want none", n)
	}
	hosted := eval[string](b, `(() => {
		const a = [...document.querySelectorAll("main dl.details a")].find(a => a.href.includes("/contract/"));
		return a ? a.href : "";
	})()`)
	if !strings.HasPrefix(hosted, p.URL+"/sandbox/pasby/") || !strings.HasSuffix(hosted, "/contract/"+upstream) {
		t.Fatalf("hosted review link %q, want the simulator's %s/sandbox/pasby/.../contract/%s", hosted, p.URL, upstream)
	}
	b.screenshot("document-detail-pending.png")

	// 4. Leave the detail page open, marked, and sign on the hosted page in
	// a second tab of the same browser.
	eval[bool](b, `(() => {
		window.__e2eSamePage = true;
		window.__e2ePolls = 0;
		document.body.addEventListener("htmx:beforeRequest", () => { window.__e2ePolls++; });
		document.querySelector(`+jsString(status)+`).dataset.e2eOld = "1";
		return true;
	})()`)
	hostedTab := b.newTab()
	hostedTab.step("open hosted review page",
		chromedp.Navigate(hosted),
		chromedp.WaitVisible(chromedp.CSS("main table tbody tr")),
	)
	if h := hostedTab.text("main h1"); h != title {
		t.Errorf("hosted page heading %q, want %q", h, title)
	}
	if page := hostedTab.text("main"); strings.Contains(page, nin1) || strings.Contains(page, nin2) {
		t.Errorf("the hosted page shows a full NIN")
	}
	// hostedAct posts signee idx's open or sign form. Each posts, is
	// redirected (303) and loads a new page, so the old page's body is
	// marked to tell the answer from the page the click was made on.
	hostedAct := func(action string, idx int) chromedp.Action[chromedp.Void] {
		button := fmt.Sprintf(`main form[action$="/%s"]:has(input[name="signee"][value="%d"]) button[type="submit"]`, action, idx)
		return chromedp.Steps(
			chromedp.WaitVisible(chromedp.CSS(button)),
			chromedp.Evaluate[chromedp.Void](`document.body.dataset.e2eOld = "1"`),
			chromedp.Click(chromedp.CSS(button)),
			chromedp.WaitVisible(chromedp.CSS("body:not([data-e2e-old]) main .notice.ok")),
		)
	}
	hostedTab.step("open as first signee", hostedAct("open", 0))
	if msg := hostedTab.text("main .notice.ok"); msg != name1+" opened the document." {
		t.Errorf("hosted page says %q after opening", msg)
	}
	for i, name := range []string{name1, name2} {
		hostedTab.step("sign as "+name, hostedAct("sign", i))
		if msg := hostedTab.text("main .notice.ok"); msg != name+" signed the document." {
			t.Errorf("hosted page says %q after signing as %s", msg, name)
		}
	}
	if st := hostedTab.text("main p.state"); !strings.HasPrefix(st, "Completed") {
		t.Errorf("hosted page state %q after both signed, want Completed", st)
	}
	if n := eval[int](hostedTab.browser, `document.querySelectorAll("main form").length`); n != 0 {
		t.Errorf("the completed hosted page still offers %d forms", n)
	}
	hostedTab.screenshot("document-hosted-signed.png")

	// 5. Back on the first tab: the status turns completed by itself.
	b.step("status turns completed",
		// The state's badge, not a signee's "signed" one (also .badge-ok).
		chromedp.WaitVisible(chromedp.CSS(status+":not([data-e2e-old]) > .row > .badge-ok")),
	)
	hostedTab.close()
	if !eval[bool](b, `window.__e2eSamePage === true`) {
		t.Errorf("the page reloaded to show the completed status; want the htmx poll to swap it in")
	}
	if eval[int](b, `window.__e2ePolls`) < 1 {
		t.Errorf("no htmx poll ran, yet the status changed")
	}
	if got := b.text(status + " > .row > .badge"); got != "completed" {
		t.Errorf("badge %q, want completed", got)
	}
	if eval[bool](b, `document.querySelector(`+jsString(status)+`).hasAttribute("hx-trigger")`) {
		t.Errorf("the completed status fragment still has hx-trigger: it would poll forever")
	}
	signed := eval[[]string](b, `[...document.querySelectorAll(`+jsString(status+" tbody tr .badge")+`)].map(e => e.textContent.trim())`)
	if strings.Join(signed, ",") != "signed,signed" {
		t.Errorf("signee badges %q after completion, want signed,signed", signed)
	}
	stamped := eval[string](b, `(() => { const a = [...document.querySelectorAll(`+jsString(status+" a")+`)].find(a => a.textContent.includes("stamped PDF")); return a ? a.href : ""; })()`)
	if !strings.HasSuffix(stamped, upstream+"-stamped.pdf") {
		t.Errorf("stamped PDF link %q, want one ending %s-stamped.pdf", stamped, upstream)
	}
	verify := "https://in.pasby.africa/document-checker/" + strings.TrimPrefix(upstream, "doc_")
	if !strings.Contains(b.text(status), verify) {
		t.Errorf("completed status does not show the verification link %s", verify)
	}
	if tl := b.text(fmt.Sprintf("#document-timeline-%d", id)); !strings.Contains(tl, "completed") {
		t.Errorf("the timeline, swapped out of band, does not show completed:\n%s", tl)
	}
	polls := eval[int](b, `window.__e2ePolls`)
	b.step("polling stops", chromedp.Sleep(3*time.Second))
	if after := eval[int](b, `window.__e2ePolls`); after != polls {
		t.Errorf("%d more status polls after the document completed, want none", after-polls)
	}
	if d = getDocument(t, p, id); d.State != models.DocumentCompleted || d.StampedURL == "" {
		t.Fatalf("stored document: state %s, stamped %q; want completed with a stamped URL", d.State, d.StampedURL)
	}
	b.screenshot("document-detail-completed.png")

	// 6. The list, from the navigation.
	b.step("open documents list",
		chromedp.Click(chromedp.CSS(`.app-header nav a[href="/documents"]`)),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`main tbody a[href="/documents/%d"]`, id))),
	)
	row := docRowText(b, id)
	for _, want := range []string{title, "review", upstream, "completed"} {
		if !strings.Contains(row, want) {
			t.Errorf("list row %q does not show %q", row, want)
		}
	}
	b.screenshot("documents-list.png")

	// 7. Sign out; a compliance officer signs in.
	b.step("sign out",
		chromedp.Click(chromedp.CSS(`.app-header .user-menu form[action="/logout"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".login-box #f-email")),
	)
	signIn(b, p, coEmail, coPassword)
	if role := b.text(".app-header .user-menu .badge"); role != "compliance" {
		t.Errorf("header shows role %q, want compliance", role)
	}
	if eval[bool](b, `!!document.querySelector('.app-header nav a[href="/documents/new"], main a[href="/documents/new"]')`) {
		t.Errorf("compliance is offered New document")
	}

	// 8. Reviews: the document waits there.
	b.step("open reviews",
		chromedp.Click(chromedp.CSS(`.app-header nav a[href="/reviews/documents"]`)),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`main tbody a[href="/documents/%d"]`, id))),
	)
	if h := b.text("main .page-header h1"); h != "Documents to review" {
		t.Errorf("review queue heading %q", h)
	}
	if row := docRowText(b, id); !strings.Contains(row, title) || !strings.Contains(row, "nobody") {
		t.Errorf("queue row %q, want the title and that nobody has it yet", row)
	}
	b.screenshot("document-review-queue.png")

	// 9. Open it, reveal the first signee's NIN (audited).
	b.step("open document to review",
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`main tbody a[href="/documents/%d"]`, id))),
		chromedp.WaitVisible(chromedp.CSS(`#review form select[name="decision"]`)),
	)
	if main := b.text("main"); strings.Contains(main, nin1) || strings.Contains(main, nin2) {
		t.Errorf("compliance sees a full NIN before revealing it")
	}
	auditBefore := countAudit(t, p, "document.nin_revealed")
	reveal := status + ` tbody tr:first-child form[action$="/reveal"] button[type="submit"]`
	b.step("reveal first NIN",
		chromedp.Click(chromedp.CSS(reveal)),
		chromedp.WaitVisible(chromedp.CSS(status+` tbody tr:first-child .revealed`)),
	)
	if got := b.text(status + ` tbody tr:first-child .revealed`); got != nin1 {
		t.Errorf("revealed NIN %q, want %s", got, nin1)
	}
	if main := b.text("main"); strings.Contains(main, nin2) {
		t.Errorf("revealing the first NIN showed the second one too")
	}
	if n := countAudit(t, p, "document.nin_revealed"); n != auditBefore+1 {
		t.Errorf("%d nin_revealed audit events after one reveal, want %d", n, auditBefore+1)
	}

	// 10. Record "approved" with a note; the page shows the decision.
	b.step("record decision",
		chromedp.SetValue(chromedp.CSS(`#review select[name="decision"]`), "approved"),
		chromedp.SendKeys(chromedp.CSS(`#review input[name="note"]`), note),
		chromedp.Click(chromedp.CSS(`#review form button[value="stay"]`)),
		chromedp.WaitVisible(chromedp.CSS("#review [data-decision]")),
	)
	if flash := b.text("main .flash"); !strings.Contains(flash, "Decision recorded") {
		t.Errorf("flash after the decision %q", flash)
	}
	decision := b.text("#review")
	for _, want := range []string{"approved", note, coEmail} {
		if !strings.Contains(decision, want) {
			t.Errorf("review section %q does not show %q", decision, want)
		}
	}
	audit := b.text("main")
	for _, want := range []string{"document.created", "document.nin_revealed", "document.reviewed"} {
		if !strings.Contains(audit, want) {
			t.Errorf("the audit trail does not show %s", want)
		}
	}
	if d = getDocument(t, p, id); d.ReviewDecision != "approved" {
		t.Errorf("stored decision %q, want approved", d.ReviewDecision)
	}
	if main := b.text("main"); strings.Contains(main, nin1) || strings.Contains(main, nin2) {
		t.Errorf("the page after the decision still shows a full NIN")
	}
	b.screenshot("document-reviewed.png")

	unexpected, unmet := b.console.problems([]allowance{{
		step: "invalid NIN",
		what: "the browser's network error for the expected 422 of POST /documents",
		match: func(e consoleEntry) bool {
			return e.Kind == "log" && e.Source == "network" && strings.Contains(e.Text, "status of 422") &&
				strings.HasSuffix(e.URL, "/documents")
		},
	}})
	for _, e := range unexpected {
		t.Errorf("browser reported: %s", e)
	}
	for _, a := range unmet {
		t.Errorf("expected the browser to report %s in step %q; it did not (console:\n%s)", a.what, a.step, b.console.dump())
	}
	t.Logf("document journey took %v", time.Since(started).Round(time.Millisecond))
}

// signIn signs in through the login form, and the second-factor pages when
// the role has them.
func signIn(b *browser, p *apptest.Portal, email, password string) {
	b.t.Helper()
	b.step("sign in as "+email,
		chromedp.Navigate(p.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS(".login-box #f-email")),
		chromedp.SendKeys(chromedp.CSS("#f-email"), email),
		chromedp.SendKeys(chromedp.CSS("#f-password"), password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
	)
	secondStep(b, p, email, "")
}

// newTab opens a second tab in the same browser, reported to the same
// console watch, at the desktop viewport; close it when done.
func (b *browser) newTab() *tab {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithListener(b.console.record))
	// The first action on a new context creates its tab, which lives as
	// long as the context of that call: so it gets the tab's own context,
	// not a step's shorter one.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(desktopWidth, desktopHeight)); err != nil {
		cancel()
		b.fail("open a second tab", err)
	}
	return &tab{browser: &browser{t: b.t, ctx: ctx, console: b.console, output: b.output}, cancel: cancel}
}

// tab is a second tab of a browser.
type tab struct {
	*browser
	cancel context.CancelFunc
}

func (t *tab) close() { t.cancel() }

// documentIDFrom reads the document id from its page's address.
func documentIDFrom(t *testing.T, loc string) uint {
	t.Helper()
	m := documentURL.FindStringSubmatch(loc)
	if m == nil {
		t.Fatalf("at %s, want a document's page /documents/N", loc)
	}
	n, err := strconv.ParseUint(m[1], 10, 32)
	if err != nil {
		t.Fatal(err)
	}
	return uint(n)
}

// docRowText is the text of the table row that links to document id.
func docRowText(b *browser, id uint) string {
	b.t.Helper()
	return eval[string](b, fmt.Sprintf(`(() => {
		const a = document.querySelector('main tbody a[href="/documents/%d"]');
		return a ? a.closest("tr").textContent.replace(/\s+/g, " ").trim() : "";
	})()`, id))
}

func getDocument(t *testing.T, p *apptest.Portal, id uint) models.Document {
	t.Helper()
	var d models.Document
	if err := p.App.DB.Take(&d, id).Error; err != nil {
		t.Fatalf("document %d: %v", id, err)
	}
	return d
}

func countDocuments(t *testing.T, p *apptest.Portal) int64 {
	t.Helper()
	var n int64
	if err := p.App.DB.Model(&models.Document{}).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func countAudit(t *testing.T, p *apptest.Portal, action string) int64 {
	t.Helper()
	var n int64
	if err := p.App.DB.Model(&models.AuditEvent{}).Where("action = ?", action).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}
