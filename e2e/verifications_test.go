package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"portal/internal/apptest"
	"portal/models"
)

// verificationJourneyTimeout bounds one identity-verification journey: two
// sign-ins, the form twice, a second tab on a simulator's page and a few
// 2 s status polls.
const verificationJourneyTimeout = 90 * time.Second

// verificationURL matches the address of a verification's page and
// captures its id.
var verificationURL = regexp.MustCompile(`/verifications/([0-9]+)$`)

// TestPawaPassVerificationJourney starts a pawaPass verification and follows
// it to a compliance decision in a real browser: an operator fills the form
// (first with a success URL the portal refuses), copies the customer's link
// from the detail page, and plays the customer on the simulator's hosted
// page in a second tab (start, document scan, face scan, submit) and then
// pawaPass's reviewer (approve); the detail page, left open in the first
// tab, follows every change by itself. A compliance officer then finds it
// under Reviews → Verifications, is refused a "flagged" without a note and records
// "approved". Any JavaScript error or CSP violation in either tab fails the
// test.
func TestPawaPassVerificationJourney(t *testing.T) {
	started := time.Now()
	p := apptest.Start(t, apptest.Config{})
	if p.App.PawaPassSim == nil || p.App.PassportReaderSim == nil {
		t.Fatal("the test portal has no identity simulators")
	}
	const (
		opEmail    = "wanjiru.kamau@example.com"
		opPassword = "an operator's long password"
		coEmail    = "tendai.moyo@example.com"
		coPassword = "a compliance officer's password"

		externalID = "CUST-20417"
		phoneTyped = "+260 97 123 4567"
		phoneE164  = "+260971234567"
		country    = "ZM"
		badURL     = "ftp://x"
		successURL = "https://shop.example.com/kyc/done"

		firstName, lastName = "Chanda", "Mwale"
		docType             = "NATIONAL_ID"
		age                 = "OVER_25"
		note                = "Name and national number match the customer file."
	)
	p.CreateUser(t, opEmail, opPassword, models.RoleOperator)
	p.CreateUser(t, coEmail, coPassword, models.RoleCompliance)

	ctx, cancel := context.WithTimeout(t.Context(), verificationJourneyTimeout)
	defer cancel()
	b := startBrowser(t, ctx)

	// 1. The operator signs in and opens Verifications → New verification.
	signIn(b, p, opEmail, opPassword)
	b.step("open verifications",
		chromedp.Click(chromedp.CSS(`.app-header nav a[href="/verifications"]`)),
		chromedp.WaitVisible(chromedp.CSS(`main a.btn[href="/verifications/new"]`)),
	)
	b.step("open new verification",
		chromedp.Click(chromedp.CSS(`main a.btn[href="/verifications/new"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/verifications"] #f-external_id`)),
	)
	if !eval[bool](b, `document.querySelector('input[name="provider"][value="pawapass"]').checked`) {
		t.Errorf("the new form does not start with pawaPass chosen")
	}
	defaultError, defaultSupport := b.value("#f-error_url"), b.value("#f-support_url")
	if got := b.value("#f-success_url"); got != p.URL+"/kyc/done" {
		t.Errorf("success URL starts as %q, want the portal's %s/kyc/done", got, p.URL)
	}

	// 2. A success URL pawaPass would refuse: 422, the message by the
	// field, what was typed kept, nothing created or sent.
	b.step("invalid success URL",
		chromedp.SendKeys(chromedp.CSS("#f-phone_no"), phoneTyped),
		chromedp.SendKeys(chromedp.CSS("#f-external_id"), externalID),
		chromedp.SetValue(chromedp.CSS("#f-country"), country),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#f-success_url").select()`),
		chromedp.SendKeys(chromedp.CSS("#f-success_url"), badURL),
		chromedp.Click(chromedp.CSS(`form[action="/verifications"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.has-error #f-success_url[aria-invalid="true"]`)),
	)
	if st := navigationStatus(b); st != 422 {
		t.Errorf("invalid success URL answered %d, want 422", st)
	}
	if msg := b.text(".has-error #e-success_url"); !strings.Contains(msg, "https://") {
		t.Errorf("success URL error %q, want it to ask for https://", msg)
	}
	if got := eval[string](b, `document.querySelector("#f-success_url").getAttribute("aria-describedby") || ""`); got != "e-success_url" {
		t.Errorf("success URL input aria-describedby %q, want e-success_url", got)
	}
	if n := eval[int](b, `document.querySelectorAll("main .has-error").length`); n != 1 {
		t.Errorf("%d fields marked with an error, want only the success URL (form: %q)", n, b.text("main form"))
	}
	for sel, want := range map[string]string{
		"#f-phone_no": phoneTyped, "#f-external_id": externalID, "#f-country": country,
		"#f-success_url": badURL, "#f-error_url": defaultError, "#f-support_url": defaultSupport,
	} {
		if got := b.value(sel); got != want {
			t.Errorf("after the 422 %s kept %q, want %q", sel, got, want)
		}
	}
	if got := eval[string](b, `[...document.querySelectorAll('input[name="provider"]:checked, input[name="requirements"]:checked')].map(e => e.value).join(",")`); got != "pawapass,DOCUMENT_SCAN,FACE_SCAN" {
		t.Errorf("after the 422 the checked provider and requirements are %q, want pawapass,DOCUMENT_SCAN,FACE_SCAN", got)
	}
	if n := countVerifications(t, p); n != 0 {
		t.Fatalf("an invalid form left %d verifications, want none", n)
	}
	if n := p.App.PawaPassSim.CreateCalls(); n != 0 {
		t.Fatalf("an invalid form reached pawaPass %d times", n)
	}
	b.screenshot("verification-form-error.png")

	// 3. Fix it and send: the detail page shows the link for the customer.
	b.step("create verification",
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#f-success_url").select()`),
		chromedp.SendKeys(chromedp.CSS("#f-success_url"), successURL),
		chromedp.Click(chromedp.CSS(`form[action="/verifications"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`main [id^="verification-status-"] .badge`)),
	)
	id := verificationIDFrom(t, b.location())
	status := fmt.Sprintf("#verification-status-%d", id)
	identity := fmt.Sprintf("#verification-identity-%d", id)
	if h := b.text("main .page-header h1"); h != "Verification #"+strconv.FormatUint(uint64(id), 10) {
		t.Errorf("detail heading %q, want Verification #%d", h, id)
	}
	if flash := b.text("main .flash"); !strings.Contains(flash, "Send the link below to the customer") {
		t.Errorf("flash after creating %q", flash)
	}
	if n := p.App.PawaPassSim.CreateCalls(); n != 1 {
		t.Errorf("pawaPass was asked %d times to create it, want once", n)
	}
	v := getVerification(t, p, id)
	if v.Provider != models.ProviderPawaPass || v.ExternalID != externalID || v.CustomerPhone != phoneE164 ||
		v.Country != country || v.SuccessURL != successURL || v.UpstreamID == nil || v.State != models.VerificationSubmitted {
		t.Fatalf("stored verification: provider %s, external id %q, phone %q, country %q, success %q, upstream %v, state %s",
			v.Provider, v.ExternalID, v.CustomerPhone, v.Country, v.SuccessURL, v.UpstreamID, v.State)
	}
	link := b.value("#customer-link #customer-link-input")
	if !strings.HasPrefix(link, p.URL+"/sandbox/pawapass/") || link != v.Link {
		t.Fatalf("customer link %q, want the stored link %q under %s/sandbox/pawapass/", link, v.Link, p.URL)
	}
	if got := eval[string](b, `document.querySelector("#customer-link button[data-copy]").dataset.copy`); got != link {
		t.Errorf("the copy button copies %q, want the link %q", got, link)
	}
	if w := eval[float64](b, `document.querySelector("#customer-link svg.qr").getBoundingClientRect().width`); w < 100 {
		t.Errorf("the QR code is %.0f px wide, too small to scan", w)
	}
	if got := b.text(status + " > .row > .badge"); got != "submitted" {
		t.Errorf("new verification's badge %q, want submitted", got)
	}
	if got := eval[string](b, `document.querySelector(`+jsString(status)+`).getAttribute("hx-trigger") || ""`); got != "every 2s" {
		t.Errorf("open status fragment has hx-trigger %q, want every 2s", got)
	}
	if got := b.text(identity); !strings.Contains(got, "Nothing yet") {
		t.Errorf("identity card before the customer started: %q, want Nothing yet", got)
	}
	details := b.text("main section.card dl.details")
	for _, want := range []string{externalID, phoneE164, *v.UpstreamID, v.Reference, opEmail, "DOCUMENT_SCAN, FACE_SCAN"} {
		if !strings.Contains(details, want) {
			t.Errorf("details card does not show %q:\n%s", want, details)
		}
	}

	// The Copy button puts the link on the clipboard (127.0.0.1 is a secure
	// context; the permissions stand in for the person's consent).
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := chromedp.CallBrowser(b.ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: name, AllowWithoutSanitization: true},
			Setting:    cdpbrowser.PermissionSettingGranted, Origin: p.URL,
		}); err != nil {
			b.fail("grant "+name, err)
		}
	}
	b.step("copy the link",
		chromedp.Click(chromedp.CSS(`#customer-link button[data-copy]`)),
		chromedp.Poll[chromedp.Void](`[...document.querySelectorAll('.sr-only[aria-live]')].some(e => e.textContent.startsWith("Cop"))`,
			chromedp.WithPollingMutation()),
	)
	if said := eval[string](b, `[...document.querySelectorAll('.sr-only[aria-live]')].map(e => e.textContent).join("|")`); said != "Copied to clipboard" {
		t.Errorf("after Copy the live region says %q, want Copied to clipboard", said)
	}
	if got, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise)); err != nil {
		b.fail("read the clipboard", err)
	} else if got != link {
		t.Errorf("the clipboard holds %q, want the link %q", got, link)
	}
	b.screenshot("verification-detail-pending.png")

	// 4. Leave the detail page open, marked, and be the customer on the
	// link in a second tab.
	markLivePage(b, status)
	hosted := newScreenshotTab(b)
	hosted.step("open the customer's link",
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(hostedButton("main", "start"))),
	)
	if h := hosted.text("main h1"); h != "Verify your identity" {
		t.Errorf("hosted page heading %q", h)
	}
	if st := hosted.text("main p.state"); st != "Not started yet." {
		t.Errorf("hosted page state %q before starting", st)
	}
	hostedStep(hosted.browser, "start", hostedButton("main", "start"), "Verification started.")

	// The portal hears of the start by itself.
	b.step("status turns in progress", waitBadge(status, "in progress"))
	if got := b.text(status + " > .row > .badge"); got != "in progress" {
		t.Errorf("badge %q after the customer started, want in progress", got)
	}

	// The customer's document: the form comes filled with made-up values;
	// they pick the document type and type their own name.
	docForm := `main form.fields:has(input[name="step"][value="document"]) `
	hosted.step("fill the identity document",
		chromedp.WaitVisible(chromedp.CSS(docForm+`input[name="firstName"]`)),
		chromedp.SetValue(chromedp.CSS(docForm+`select[name="type"]`), docType),
		chromedp.Evaluate[chromedp.Void](`document.querySelector(`+jsString(docForm+`input[name="firstName"]`)+`).select()`),
		chromedp.SendKeys(chromedp.CSS(docForm+`input[name="firstName"]`), firstName),
		chromedp.Evaluate[chromedp.Void](`document.querySelector(`+jsString(docForm+`input[name="lastName"]`)+`).select()`),
		chromedp.SendKeys(chromedp.CSS(docForm+`input[name="lastName"]`), lastName),
	)
	nationalNo := hosted.value(docForm + `input[name="nationalNo"]`)
	if nationalNo == "" {
		t.Fatalf("the document form offers no national number")
	}
	hostedStep(hosted.browser, "scan identity document", docForm+`button[type="submit"]`, "Identity document scanned.")
	if sum := hosted.text("main dl.summary"); !strings.Contains(sum, firstName+" "+lastName) || !strings.Contains(sum, docType) ||
		strings.Contains(sum, nationalNo) {
		t.Errorf("hosted document summary %q, want %s %s, %s and the national number masked", sum, firstName, lastName, docType)
	}
	faceForm := `main form.fields:has(input[name="step"][value="face"]) `
	hosted.step("choose the age estimation",
		chromedp.SetValue(chromedp.CSS(faceForm+`select[name="ageEstimation"]`), age),
	)
	hostedStep(hosted.browser, "scan face", faceForm+`button[type="submit"]`, "Face scanned.")
	hostedStep(hosted.browser, "submit", hostedButton("main", "submit"), "Submitted: pawaPass is reviewing the verification.")
	if n := eval[int](hosted.browser, `document.querySelectorAll('main form:has(input[name="step"][value="start"], input[name="step"][value="document"], input[name="step"][value="face"], input[name="step"][value="submit"])').length`); n != 0 {
		t.Errorf("the submitted hosted page still offers the customer %d forms", n)
	}
	hosted.step("reviewer panel shows", chromedp.WaitVisible(chromedp.CSS(hostedButton("main section.reviewer", "approve"))))
	hosted.screenshot("pawapass-hosted.png")

	// pawaPass's reviewer approves.
	hostedStep(hosted.browser, "approve as pawaPass", hostedButton("main section.reviewer", "approve"), "Approved as pawaPass's reviewer.")
	if st := hosted.text("main p.state"); st != "Approved: the identity is verified." {
		t.Errorf("hosted page state %q after approval", st)
	}
	if got := eval[string](hosted.browser, `(() => { const a = document.querySelector("main p.links a.button"); return a ? a.getAttribute("href") : ""; })()`); got != successURL {
		t.Errorf("the approved hosted page continues to %q, want the success URL %s", got, successURL)
	}

	// 5. Back on the first tab: approved, without a reload.
	b.step("status turns approved",
		chromedp.WaitVisible(chromedp.CSS(status+" > .row > .badge-ok")),
	)
	hosted.close()
	checkSwappedInPlace(b, status)
	if got := b.text(status + " > .row > .badge"); got != "approved" {
		t.Errorf("badge %q, want approved", got)
	}
	if got := b.text(status); !strings.Contains(got, firstName+" "+lastName) || !strings.Contains(got, "estimated over 25") {
		t.Errorf("approved status %q, want the name %s %s and the face result", got, firstName, lastName)
	}
	card := b.text(identity)
	if strings.Contains(card, "Nothing yet") {
		t.Errorf("the identity card still says Nothing yet after approval")
	}
	for _, want := range []string{firstName, lastName, docType, nationalNo, "estimated over 25"} {
		if !strings.Contains(card, want) {
			t.Errorf("identity card does not show %q:\n%s", want, card)
		}
	}
	if got := b.text("#review"); !strings.Contains(got, "Waiting for a compliance decision") {
		t.Errorf("the operator's review section, swapped out of band, says %q", got)
	}
	if tl := b.text(fmt.Sprintf("#verification-timeline-%d", id)); !strings.Contains(tl, "→ approved (pawaPass APPROVED)") {
		t.Errorf("the timeline, swapped out of band, does not show → approved (pawaPass APPROVED):\n%s", tl)
	}
	if v = getVerification(t, p, id); v.State != models.VerificationApproved || v.ProviderStatus != "APPROVED" ||
		v.GivenNames != firstName || v.Surname != lastName || v.DocumentNumber != nationalNo {
		t.Fatalf("stored verification: state %s (%s), name %q %q, document %q", v.State, v.ProviderStatus, v.GivenNames, v.Surname, v.DocumentNumber)
	}
	b.screenshot("verification-detail-approved.png")

	// 6. Sign out; a compliance officer signs in and finds it among the ID
	// reviews.
	b.step("sign out",
		chromedp.Click(chromedp.CSS(`.app-header .user-menu form[action="/logout"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".login-box #f-email")),
	)
	signIn(b, p, coEmail, coPassword)
	if role := b.text(".app-header .user-menu .badge"); role != "compliance" {
		t.Errorf("header shows role %q, want compliance", role)
	}
	b.step("open the verification review queue",
		chromedp.Click(chromedp.CSS(`.app-header nav a[href="/reviews/documents"]`)),
		chromedp.WaitVisible(chromedp.CSS(`main nav.tabs a[href="/reviews/verifications"]`)),
		chromedp.Click(chromedp.CSS(`main nav.tabs a[href="/reviews/verifications"]`)),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`main tbody a[href="/verifications/%d"]`, id))),
	)
	if h := b.text("main .page-header h1"); h != "Verifications to review" {
		t.Errorf("review queue heading %q", h)
	}
	row := verificationRowText(b, id)
	for _, want := range []string{"pawaPass", firstName + " " + lastName, nationalNo, "approved"} {
		if !strings.Contains(row, want) {
			t.Errorf("queue row %q does not show %q", row, want)
		}
	}
	b.screenshot("verification-review-queue.png")

	// 7. Open it; "flagged" without a note is refused by the note field.
	b.step("open verification to review",
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`main tbody a[href="/verifications/%d"]`, id))),
		chromedp.WaitVisible(chromedp.CSS(`#review form select[name="decision"]`)),
	)
	b.step("flag without a note",
		chromedp.SetValue(chromedp.CSS(`#review select[name="decision"]`), "flagged"),
		chromedp.Click(chromedp.CSS(`#review form button[value="stay"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#review .has-error select[name="reason"][aria-invalid="true"]`)),
	)
	if st := navigationStatus(b); st != 422 {
		t.Errorf("flagged without a note answered %d, want 422", st)
	}
	if msg := b.text("#review .has-error .field-error"); !strings.Contains(msg, "flagged") {
		t.Errorf("note error %q, want it to say why a note is needed", msg)
	}
	if got := b.value(`#review select[name="decision"]`); got != "flagged" {
		t.Errorf("after the 422 the decision reads %q, want flagged kept", got)
	}
	if v = getVerification(t, p, id); v.ReviewDecision != "" {
		t.Fatalf("a refused decision was stored: %q", v.ReviewDecision)
	}

	// 8. "approved" with a note.
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
	if n := eval[int](b, `document.querySelectorAll("#review form").length`); n != 0 {
		t.Errorf("the review section still offers %d forms after the decision", n)
	}
	audit := b.text("main")
	for _, want := range []string{"verification.created", "verification.reviewed"} {
		if !strings.Contains(audit, want) {
			t.Errorf("the audit trail does not show %s", want)
		}
	}
	if v = getVerification(t, p, id); v.ReviewDecision != "approved" {
		t.Errorf("stored decision %q, want approved", v.ReviewDecision)
	}
	b.screenshot("verification-reviewed.png")

	checkConsole(t, b, []allowance{
		expected422("invalid success URL", "POST /verifications", "/verifications"),
		expected422("flag without a note", "POST /verifications/N/review", fmt.Sprintf("/verifications/%d/review", id)),
	})
	t.Logf("pawaPass journey took %v", time.Since(started).Round(time.Millisecond))
}

// TestPassportReaderVerificationJourney starts a PassportReader verification
// with face verification and plays the customer on the simulator's /open
// page in a second tab (open in the app, scan the passport) and then
// PassportReader's decision (approve). The operator's detail page turns
// approved by itself and tells them the images are for compliance; a
// compliance officer sees the portrait, and viewing it is audited.
func TestPassportReaderVerificationJourney(t *testing.T) {
	started := time.Now()
	p := apptest.Start(t, apptest.Config{})
	if p.App.PawaPassSim == nil || p.App.PassportReaderSim == nil {
		t.Fatal("the test portal has no identity simulators")
	}
	const (
		opEmail    = "kojo.asante@example.com"
		opPassword = "an operator's long password"
		coEmail    = "ngozi.okafor@example.com"
		coPassword = "a compliance officer's password"

		givenNames, surname = "Abena Serwaa", "Owusu"
		documentNumber      = "G31415926"
	)
	p.CreateUser(t, opEmail, opPassword, models.RoleOperator)
	p.CreateUser(t, coEmail, coPassword, models.RoleCompliance)

	ctx, cancel := context.WithTimeout(t.Context(), verificationJourneyTimeout)
	defer cancel()
	b := startBrowser(t, ctx)

	// 1. The operator starts a PassportReader verification with face
	// verification.
	signIn(b, p, opEmail, opPassword)
	b.step("open verifications",
		chromedp.Click(chromedp.CSS(`.app-header nav a[href="/verifications"]`)),
		chromedp.WaitVisible(chromedp.CSS(`main a.btn[href="/verifications/new"]`)),
	)
	b.step("create verification",
		chromedp.Click(chromedp.CSS(`main a.btn[href="/verifications/new"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/verifications"] input[name="provider"][value="passportreader"]`)),
		chromedp.Click(chromedp.CSS(`input[name="provider"][value="passportreader"]`)),
		chromedp.Click(chromedp.CSS(`input[name="face_verification"]`)),
		chromedp.Click(chromedp.CSS(`form[action="/verifications"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`main [id^="verification-status-"] .badge`)),
	)
	id := verificationIDFrom(t, b.location())
	status := fmt.Sprintf("#verification-status-%d", id)
	identity := fmt.Sprintf("#verification-identity-%d", id)
	if n := p.App.PassportReaderSim.CreateCalls(); n != 1 {
		t.Errorf("PassportReader was asked %d times to create it, want once", n)
	}
	if n := p.App.PawaPassSim.CreateCalls(); n != 0 {
		t.Errorf("a PassportReader verification reached pawaPass %d times", n)
	}
	v := getVerification(t, p, id)
	if v.Provider != models.ProviderPassportReader || !v.FaceVerification || v.PassportOnly || v.UpstreamID == nil ||
		v.State != models.VerificationSubmitted {
		t.Fatalf("stored verification: provider %s, face %v, passport only %v, upstream %v, state %s",
			v.Provider, v.FaceVerification, v.PassportOnly, v.UpstreamID, v.State)
	}
	link := b.value("#customer-link #customer-link-input")
	if !strings.HasPrefix(link, p.URL+"/sandbox/passportreader/open?token=") || link != v.Link {
		t.Fatalf("customer link %q, want the stored link %q under %s/sandbox/passportreader/open?token=", link, v.Link, p.URL)
	}
	if !eval[bool](b, `!!document.querySelector("#customer-link svg.qr")`) {
		t.Errorf("no QR code of the link")
	}
	if d := b.text("main section.card dl.details"); !strings.Contains(d, "PassportReader") || !strings.Contains(d, "face verification") {
		t.Errorf("details card %q, want PassportReader with face verification", d)
	}
	if got := b.text(status + " > .row > .badge"); got != "submitted" {
		t.Errorf("new verification's badge %q, want submitted", got)
	}

	// 2. The customer, in a second tab: open in the app, scan, and
	// PassportReader's decision.
	markLivePage(b, status)
	reader := newScreenshotTab(b)
	reader.step("open the customer's link",
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(hostedButton("main", "open"))),
	)
	if got := reader.text("main dl"); !strings.Contains(got, "yes: a selfie is taken after the scan") {
		t.Errorf("the /open page does not say a selfie is taken:\n%s", got)
	}
	hostedStep(reader.browser, "open in the app", hostedButton("main", "open"), "Opened in the PassportReader app. Next, scan the passport.")
	scan := `main form.scan `
	reader.step("fill the passport",
		chromedp.WaitVisible(chromedp.CSS(scan+"#f-surname")),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#f-given_names").select()`),
		chromedp.SendKeys(chromedp.CSS(scan+"#f-given_names"), givenNames),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#f-surname").select()`),
		chromedp.SendKeys(chromedp.CSS(scan+"#f-surname"), surname),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#f-document_number").select()`),
		chromedp.SendKeys(chromedp.CSS(scan+"#f-document_number"), documentNumber),
	)
	reader.screenshot("passportreader-open.png")
	hostedStep(reader.browser, "scan passport", scan+`button[type="submit"]`, "Passport scanned.")
	hostedStep(reader.browser, "approve as PassportReader", hostedButton("main section.sandbox", "approve"), "Approved.")
	if got := reader.text("main p.state .badge"); got != "APPROVED" {
		t.Errorf("/open page state %q after approval, want APPROVED", got)
	}
	if n := eval[int](reader.browser, `document.querySelectorAll("main .identity img").length`); n != 2 {
		t.Errorf("the /open page shows %d images after a scan with face verification, want the passport photo and the selfie", n)
	}

	// 3. The operator's page turns approved by itself, with the identity
	// but without the images.
	b.step("status turns approved",
		chromedp.WaitVisible(chromedp.CSS(status+" > .row > .badge-ok")),
		chromedp.WaitVisible(chromedp.CSS(identity+" dl.details")),
	)
	reader.close()
	checkSwappedInPlace(b, status)
	card := b.text(identity)
	for _, want := range []string{givenNames, surname, documentNumber} {
		if !strings.Contains(card, want) {
			t.Errorf("identity card does not show %q:\n%s", want, card)
		}
	}
	if n := eval[int](b, `document.querySelectorAll("main img").length`); n != 0 {
		t.Errorf("the operator is shown %d images; portraits are for compliance and admins", n)
	}
	if !strings.Contains(card, "shown to compliance and admins only") {
		t.Errorf("the operator's identity card does not say the images are for compliance and admins:\n%s", card)
	}
	if n := countImages(t, p, id); n != 2 {
		t.Errorf("%d images stored, want the portrait and the face", n)
	}
	if n := countAudit(t, p, "verification.image_viewed"); n != 0 {
		t.Errorf("%d image views audited before anyone with the right saw one", n)
	}
	if v = getVerification(t, p, id); v.State != models.VerificationApproved || v.Surname != surname || v.DocumentNumber != documentNumber {
		t.Fatalf("stored verification: state %s, surname %q, document %q", v.State, v.Surname, v.DocumentNumber)
	}

	// 4. A compliance officer opens it: the portrait loads, and that is
	// audited.
	b.step("sign out",
		chromedp.Click(chromedp.CSS(`.app-header .user-menu form[action="/logout"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".login-box #f-email")),
	)
	signIn(b, p, coEmail, coPassword)
	b.step("open the verification review queue",
		chromedp.Click(chromedp.CSS(`.app-header nav a[href="/reviews/documents"]`)),
		chromedp.WaitVisible(chromedp.CSS(`main nav.tabs a[href="/reviews/verifications"]`)),
		chromedp.Click(chromedp.CSS(`main nav.tabs a[href="/reviews/verifications"]`)),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`main tbody a[href="/verifications/%d"]`, id))),
	)
	portrait := fmt.Sprintf(`%s img[src="/verifications/%d/images/portrait"]`, identity, id)
	b.step("open verification as compliance",
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`main tbody a[href="/verifications/%d"]`, id))),
		chromedp.WaitVisible(chromedp.CSS(portrait)),
		chromedp.Poll[chromedp.Void](`[...document.querySelectorAll(`+jsString(identity+" img")+`)].every(i => i.complete && i.naturalWidth > 0)`),
	)
	if w := eval[int](b, `document.querySelector(`+jsString(portrait)+`).naturalWidth`); w <= 0 {
		t.Errorf("the portrait did not load (naturalWidth %d)", w)
	}
	if card := b.text(identity); strings.Contains(card, "compliance and admins only") {
		t.Errorf("compliance is told the images are hidden:\n%s", card)
	}
	if n := countAuditDetails(t, p, "verification.image_viewed", fmt.Sprintf("verification:%d", id), "kind=portrait"); n < 1 {
		t.Errorf("viewing the portrait left no verification.image_viewed audit event")
	}
	b.screenshot("verification-passportreader-compliance.png")

	checkConsole(t, b, nil)
	t.Logf("PassportReader journey took %v", time.Since(started).Round(time.Millisecond))
}

// newScreenshotTab opens a second tab with hidden scrollbars, as the first
// one has, so its full-page screenshots are as wide as the viewport.
func newScreenshotTab(b *browser) *tab {
	b.t.Helper()
	tb := b.newTab()
	hide := chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetScrollbarsHidden, emulation.SetScrollbarsHiddenParams{Hidden: true})
		return err
	})
	tb.step("hide the scrollbars", hide)
	return tb
}

// hostedButton is the submit button of the simulator page's form for step,
// inside scope.
func hostedButton(scope, step string) string {
	return fmt.Sprintf(`%s form:has(input[name="step"][value=%q]) button[type="submit"]`, scope, step)
}

// hostedStep clicks a simulator page's button and waits for the page the
// form's 303 leads to (a new body, not the marked one) to say it worked.
// A refusal shows a notice too, so the wait ends either way and the
// message is checked.
func hostedStep(b *browser, name, button, want string) {
	b.t.Helper()
	b.step(name,
		chromedp.WaitVisible(chromedp.CSS(button)),
		chromedp.Evaluate[chromedp.Void](`document.body.dataset.e2eOld = "1"`),
		chromedp.Click(chromedp.CSS(button)),
		chromedp.WaitVisible(chromedp.CSS("body:not([data-e2e-old]) main .notice")),
	)
	if got := b.text("main .notice"); got != want || !eval[bool](b, `document.querySelector("main .notice").classList.contains("ok")`) {
		b.fail(name, fmt.Errorf("the page says %q, want %q", got, want))
	}
}

// waitBadge waits for the state badge of a status fragment to read want.
// Every poll swaps in a new fragment, so only the text tells a change from
// a repeat. Mutations, not animation frames, drive the check: the tab may
// be in the background.
func waitBadge(status, want string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](fmt.Sprintf(`(() => {
		const e = document.querySelector(%s);
		return !!e && e.textContent.trim() === %s;
	})()`, jsString(status+" > .row > .badge"), jsString(want)), chromedp.WithPollingMutation())
}

// markLivePage marks the page and its status element so that a reload, or
// a status that was not swapped, can be told apart, and counts htmx
// requests.
func markLivePage(b *browser, status string) {
	b.t.Helper()
	eval[bool](b, `(() => {
		window.__e2eSamePage = true;
		window.__e2ePolls = 0;
		document.body.addEventListener("htmx:beforeRequest", () => { window.__e2ePolls++; });
		document.querySelector(`+jsString(status)+`).dataset.e2eOld = "1";
		return true;
	})()`)
}

// checkSwappedInPlace checks the final status came by an htmx swap, not a
// reload, and that it stopped polling.
func checkSwappedInPlace(b *browser, status string) {
	b.t.Helper()
	if !eval[bool](b, `window.__e2eSamePage === true`) {
		b.t.Errorf("the page reloaded to show the new status; want the htmx poll to swap it in")
	}
	if eval[int](b, `window.__e2ePolls`) < 1 {
		b.t.Errorf("no htmx poll ran, yet the status changed")
	}
	if eval[bool](b, `!!document.querySelector(`+jsString(status+"[data-e2e-old]")+`)`) {
		b.t.Errorf("the marked status element is still there: it was not swapped")
	}
	if eval[bool](b, `document.querySelector(`+jsString(status)+`).hasAttribute("hx-trigger")`) {
		b.t.Errorf("the final status fragment still has hx-trigger: it would poll forever")
	}
}

// expected422 allows the browser's network error for one expected 422.
func expected422(step, what, path string) allowance {
	return allowance{
		step: step,
		what: "the browser's network error for the expected 422 of " + what,
		match: func(e consoleEntry) bool {
			return e.Kind == "log" && e.Source == "network" && strings.Contains(e.Text, "status of 422") &&
				strings.HasSuffix(e.URL, path)
		},
	}
}

// checkConsole fails the test for any problem either tab reported that
// allowed does not cover, and for any allowance that never matched.
func checkConsole(t *testing.T, b *browser, allowed []allowance) {
	t.Helper()
	unexpected, unmet := b.console.problems(allowed)
	for _, e := range unexpected {
		t.Errorf("browser reported: %s", e)
	}
	for _, a := range unmet {
		t.Errorf("expected the browser to report %s in step %q; it did not (console:\n%s)", a.what, a.step, b.console.dump())
	}
}

// verificationIDFrom reads the verification id from its page's address.
func verificationIDFrom(t *testing.T, loc string) uint {
	t.Helper()
	m := verificationURL.FindStringSubmatch(loc)
	if m == nil {
		t.Fatalf("at %s, want a verification's page /verifications/N", loc)
	}
	n, err := strconv.ParseUint(m[1], 10, 32)
	if err != nil {
		t.Fatal(err)
	}
	return uint(n)
}

// verificationRowText is the text of the table row that links to
// verification id.
func verificationRowText(b *browser, id uint) string {
	b.t.Helper()
	return eval[string](b, fmt.Sprintf(`(() => {
		const a = document.querySelector('main tbody a[href="/verifications/%d"]');
		return a ? a.closest("tr").textContent.replace(/\s+/g, " ").trim() : "";
	})()`, id))
}

func getVerification(t *testing.T, p *apptest.Portal, id uint) models.Verification {
	t.Helper()
	var v models.Verification
	if err := p.App.DB.Take(&v, id).Error; err != nil {
		t.Fatalf("verification %d: %v", id, err)
	}
	return v
}

func countVerifications(t *testing.T, p *apptest.Portal) int64 {
	t.Helper()
	var n int64
	if err := p.App.DB.Model(&models.Verification{}).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func countImages(t *testing.T, p *apptest.Portal, id uint) int64 {
	t.Helper()
	var n int64
	if err := p.App.DB.Model(&models.VerificationImage{}).Where("verification_id = ?", id).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func countAuditDetails(t *testing.T, p *apptest.Portal, action, subject, details string) int64 {
	t.Helper()
	var n int64
	if err := p.App.DB.Model(&models.AuditEvent{}).Where("action = ? AND subject = ? AND details = ?", action, subject, details).
		Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}
