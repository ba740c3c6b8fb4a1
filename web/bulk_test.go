package web_test

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"portal/internal/apptest"
	"portal/models"
)

// waitForBulk polls a job's status fragment, as its page does, until it
// says the job finished, and returns that fragment.
func waitForBulk(t *testing.T, p *apptest.Portal, s staff, jobPath string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp := p.Get(t, s.client, jobPath+"/status")
		wantStatus(t, resp, http.StatusOK)
		if strings.Contains(resp.Body, "Finished") {
			if strings.Contains(resp.Body, "hx-trigger") {
				t.Error("a finished job's status still polls")
			}
			return resp.Body
		}
		if !strings.Contains(resp.Body, `hx-trigger="every 1s"`) {
			t.Fatalf("a running job's status does not poll:\n%s", clip(resp.Body))
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job did not finish:\n%s", clip(resp.Body))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func auditCount(t *testing.T, p *apptest.Portal, action, subject, actor string) int64 {
	t.Helper()
	var n int64
	if err := p.App.DB.Model(&models.AuditEvent{}).Where("action = ? AND subject = ? AND actor_email = ?", action, subject, actor).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// Every document matching a filter is refreshed in the background: the
// person confirms the count, watches the progress, and reads how many
// succeeded and why the others did not; each record's refresh is audited
// under their name.
func TestBulkRefreshEveryMatchingDocument(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	op := newStaff(t, p, "bulkop", models.RoleOperator)
	support := newStaff(t, p, "bulksupport", models.RoleSupport)
	var sent []uint
	for range 3 {
		sent = append(sent, docCreate(t, p, op, docReviewForm()))
	}
	// One outside the filter.
	outside := models.Document{Reference: "bulk-simple", Kind: models.DocumentKindSimple, Title: "Simple", FileURL: "https://files.example.com/s.pdf", State: models.DocumentFailed}
	if err := p.App.DB.Create(&outside).Error; err != nil {
		t.Fatal(err)
	}
	other := outside.ID
	// Two the portal never sent: nothing to refresh.
	var unsent []uint
	for i := range 2 {
		d := models.Document{Reference: fmt.Sprintf("bulk-unsent-%d", i), Kind: models.DocumentKindReview, Title: "Never sent",
			FileURL: "https://files.example.com/x.pdf", State: models.DocumentFailed}
		if err := p.App.DB.Create(&d).Error; err != nil {
			t.Fatal(err)
		}
		unsent = append(unsent, d.ID)
	}

	list := p.Get(t, support.client, "/documents?kind=review")
	wantStatus(t, list, http.StatusOK)
	for _, want := range []string{`<form id="bulk-documents" class="bulk-bar" method="post" action="/documents/bulk"`,
		`name="id" value="` + strconv.Itoa(int(sent[0])) + `" form="bulk-documents"`,
		`data-select-all="bulk-documents"`, `href="/documents/bulk?kind=review"`} {
		if !strings.Contains(list.Body, want) {
			t.Errorf("the list lacks %s", want)
		}
	}
	if strings.Contains(list.Body, `value="assign"`) {
		t.Error("support is offered assigning cases, an admin's step")
	}

	confirm := p.Get(t, support.client, "/documents/bulk?kind=review&sort=-updated")
	wantStatus(t, confirm, http.StatusOK)
	if !strings.Contains(confirm.Body, "<strong>5</strong> documents match <strong>kind review</strong>") {
		t.Fatalf("the confirmation does not count the 5 matching:\n%s", clip(confirm.Body))
	}
	resp := p.PostForm(t, support.client, "/documents/bulk", url.Values{"kind": {"review"}, "scope": {"matching"}, "action": {"refresh"}})
	wantStatus(t, resp, http.StatusSeeOther)
	jobPath := resp.Header.Get("Location")
	if !regexp.MustCompile(`^/bulk/\d+$`).MatchString(jobPath) {
		t.Fatalf("sent to %q, want a job's page", jobPath)
	}
	page := p.Get(t, support.client, jobPath)
	wantStatus(t, page, http.StatusOK)
	if !strings.Contains(page.Body, "Refresh 5 documents") || !strings.Contains(page.Body, `id="bulk-status"`) {
		t.Errorf("the job page does not say what it does or embed its status:\n%s", clip(page.Body))
	}
	done := waitForBulk(t, p, support, jobPath)
	if !strings.Contains(done, "5 of 5 done: 3 succeeded, 2 did not") {
		t.Errorf("the report does not count the outcomes:\n%s", clip(done))
	}
	if !strings.Contains(done, "<strong>2</strong>: pasby is no longer working on it: there is nothing to refresh.") {
		t.Errorf("the report does not say why two failed:\n%s", clip(done))
	}
	for _, id := range unsent {
		if !strings.Contains(done, fmt.Sprintf(`<a href="/documents/%d">Document #%d</a>`, id, id)) {
			t.Errorf("the report does not link failed document %d", id)
		}
	}
	for _, id := range sent {
		if n := auditCount(t, p, "document.refreshed", fmt.Sprintf("document:%d", id), support.user.Email); n != 1 {
			t.Errorf("document %d refreshed %d times in the audit log, want once under the support agent", id, n)
		}
	}
	var outsideItems int64
	p.App.DB.Model(&models.BulkItem{}).Where("record_id = ?", other).Count(&outsideItems)
	if outsideItems != 0 {
		t.Error("a document outside the filter was in the job")
	}
	// The job is its creator's (and admins'): another person does not see it.
	stranger := newStaff(t, p, "bulkstranger", models.RoleSupport)
	wantStatus(t, p.Get(t, stranger.client, jobPath), http.StatusNotFound)
	wantStatus(t, p.Get(t, signInAdmin(t, p).client, jobPath), http.StatusOK)
}

// A selection on the page is exported as CSV (each record audited) and
// assigned to a reviewer by an admin; refusals are 4xx with the reason.
func TestBulkSelectionExportAndAssign(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	admin := signInAdmin(t, p)
	support := newStaff(t, p, "selsupport", models.RoleSupport)
	ann := newStaff(t, p, "selann", models.RoleCompliance)
	done := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	var ids []uint
	for i := range 3 {
		d := models.Document{Reference: fmt.Sprintf("bulk-done-%d", i), Kind: models.DocumentKindReview, Title: fmt.Sprintf("Signed %d", i),
			FileURL: "https://files.example.com/x.pdf", State: models.DocumentCompleted, CompletedAt: &done}
		if i == 2 {
			d.State, d.CompletedAt = models.DocumentInProgress, nil // not reviewable yet
		}
		if err := p.App.DB.Create(&d).Error; err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.ID)
	}
	sel := url.Values{"action": {"export"}}
	for _, id := range ids[:2] {
		sel.Add("id", strconv.Itoa(int(id)))
	}
	resp := p.PostForm(t, support.client, "/documents/bulk", sel)
	wantStatus(t, resp, http.StatusOK)
	rows, err := csv.NewReader(strings.NewReader(resp.Body)).ReadAll()
	if err != nil || len(rows) != 3 || rows[1][0] != strconv.Itoa(int(ids[1])) || rows[2][0] != strconv.Itoa(int(ids[0])) {
		t.Fatalf("selection CSV: %v rows %v", err, rows)
	}
	for _, id := range ids[:2] {
		if n := auditCount(t, p, "document.exported", fmt.Sprintf("document:%d", id), support.user.Email); n != 1 {
			t.Errorf("export of document %d audited %d times", id, n)
		}
	}

	empty := p.PostForm(t, support.client, "/documents/bulk", url.Values{"action": {"refresh"}})
	wantStatus(t, empty, http.StatusUnprocessableEntity)
	if !strings.Contains(empty.Body, "Select at least one document") {
		t.Errorf("nothing selected: %s", clip(empty.Body))
	}
	assign := url.Values{"action": {"assign"}, "assignee_id": {strconv.Itoa(int(ann.user.ID))}}
	for _, id := range ids {
		assign.Add("id", strconv.Itoa(int(id)))
	}
	wantStatus(t, p.PostForm(t, support.client, "/documents/bulk", assign), http.StatusForbidden)
	bad := url.Values{"action": {"assign"}, "assignee_id": {strconv.Itoa(int(support.user.ID))}, "id": assign["id"]}
	refused := p.PostForm(t, admin.client, "/documents/bulk", bad)
	wantStatus(t, refused, http.StatusUnprocessableEntity)
	if !strings.Contains(refused.Body, "Choose an active compliance officer or admin.") || strings.Count(refused.Body, `name="id"`) != 3 {
		t.Errorf("a bad reviewer is not refused next to the field with the selection kept:\n%s", clip(refused.Body))
	}

	resp = p.PostForm(t, admin.client, "/documents/bulk", assign)
	wantStatus(t, resp, http.StatusSeeOther)
	report := waitForBulk(t, p, admin, resp.Header.Get("Location"))
	if !strings.Contains(report, "3 of 3 done: 2 succeeded, 1 did not") || !strings.Contains(report, "Not ready for review yet") {
		t.Errorf("assign report:\n%s", clip(report))
	}
	for _, id := range ids[:2] {
		var c models.ReviewCase
		if err := p.App.DB.Where("kind = ? AND record_id = ?", models.CaseDocument, id).Take(&c).Error; err != nil || c.AssigneeEmail != ann.user.Email {
			t.Errorf("document %d's case: %+v, %v; want it assigned to ann", id, c, err)
		}
	}

	// Recharges move money: their bar offers refresh and export only.
	recharges := p.Get(t, admin.client, "/recharges/bulk")
	wantStatus(t, recharges, http.StatusOK)
	if strings.Contains(recharges.Body, `value="assign"`) {
		t.Error("recharges offer an assign action")
	}
	noAssign := p.PostForm(t, admin.client, "/recharges/bulk", url.Values{"action": {"assign"}, "id": {"1"}})
	wantStatus(t, noAssign, http.StatusUnprocessableEntity)
	for _, action := range []string{"recharge", "not-sent", "delete"} {
		r := p.PostForm(t, admin.client, "/recharges/bulk", url.Values{"action": {action}, "id": {"1"}})
		wantStatus(t, r, http.StatusUnprocessableEntity)
	}
}

// In the sandbox an admin can have the simulators send the webhooks of a
// selection again: each is audited, reaches the portal, and a record that
// never reached its provider is reported, not sent.
func TestBulkResendWebhooksInTheSandbox(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	admin := signInAdmin(t, p)
	op := newStaff(t, p, "resendop", models.RoleOperator)
	sent := []uint{docCreate(t, p, op, docReviewForm()), docCreate(t, p, op, docReviewForm())}
	unsent := models.Document{Reference: "bulk-resend-unsent", Kind: models.DocumentKindReview, Title: "Never sent",
		FileURL: "https://files.example.com/x.pdf", State: models.DocumentFailed}
	if err := p.App.DB.Create(&unsent).Error; err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := p.PasbySim.WaitWebhooks(ctx); err != nil {
		t.Fatal(err)
	}
	deliveries := func(id uint) int {
		upstream := *docGet(t, p, id).UpstreamID
		n := 0
		for _, d := range p.PasbySim.Deliveries() {
			if d.DocumentID == upstream {
				n++
			}
		}
		return n
	}
	before := map[uint]int{}
	for _, id := range sent {
		before[id] = deliveries(id)
	}

	list := p.Get(t, admin.client, "/documents")
	wantStatus(t, list, http.StatusOK)
	if !strings.Contains(list.Body, `value="resend_webhook"`) {
		t.Error("the admin's document list does not offer resending webhooks in the sandbox")
	}
	if body := p.Get(t, op.client, "/documents").Body; strings.Contains(body, `value="resend_webhook"`) {
		t.Error("an operator is offered the sandbox's resend, an admin's control")
	}
	form := url.Values{"action": {"resend_webhook"}}
	for _, id := range append(sent, unsent.ID) {
		form.Add("id", strconv.Itoa(int(id)))
	}
	wantStatus(t, p.PostForm(t, op.client, "/documents/bulk", form), http.StatusForbidden)
	wantStatus(t, p.PostForm(t, admin.client, "/recharges/bulk", url.Values{"action": {"resend_webhook"}, "id": {"1"}}), http.StatusUnprocessableEntity)

	resp := p.PostForm(t, admin.client, "/documents/bulk", form)
	wantStatus(t, resp, http.StatusSeeOther)
	jobPath := resp.Header.Get("Location")
	if page := p.Get(t, admin.client, jobPath); !strings.Contains(page.Body, "Resend the webhooks of 3 documents") {
		t.Errorf("the job page does not say what it does:\n%s", clip(page.Body))
	}
	report := waitForBulk(t, p, admin, jobPath)
	if !strings.Contains(report, "3 of 3 done: 2 succeeded, 1 did not") || !strings.Contains(report, "It never reached the provider: there is no webhook to send.") {
		t.Errorf("resend report:\n%s", clip(report))
	}
	if err := p.PasbySim.WaitWebhooks(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range sent {
		if n := deliveries(id); n <= before[id] {
			t.Errorf("document %d: %d webhook deliveries after the resend, %d before", id, n, before[id])
		}
		if n := auditCount(t, p, "document.webhook_resent", fmt.Sprintf("document:%d", id), admin.user.Email); n != 1 {
			t.Errorf("resend of document %d audited %d times, want once", id, n)
		}
	}
	if n := auditCount(t, p, "document.webhook_resent", fmt.Sprintf("document:%d", unsent.ID), admin.user.Email); n != 0 {
		t.Error("a document that was never sent is audited as resent")
	}
}

// Verifications' webhooks go through the simulator of their own provider:
// pawaPass by its verification id, PassportReader by its session id.
func TestBulkResendVerificationWebhooks(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	admin := signInAdmin(t, p)
	op := newStaff(t, p, "resendvop", models.RoleOperator)
	ids := []uint{verCreate(t, p, op, pawaForm()), verCreate(t, p, op, url.Values{"provider": {"passportreader"}})}
	form := url.Values{"action": {"resend_webhook"}}
	for _, id := range ids {
		if verGet(t, p, id).UpstreamID == nil {
			t.Fatalf("verification %d was not sent", id)
		}
		form.Add("id", strconv.Itoa(int(id)))
	}
	resp := p.PostForm(t, admin.client, "/verifications/bulk", form)
	wantStatus(t, resp, http.StatusSeeOther)
	report := waitForBulk(t, p, admin, resp.Header.Get("Location"))
	if !strings.Contains(report, "2 of 2 done: 2 succeeded") {
		t.Errorf("resend report:\n%s", clip(report))
	}
	for _, id := range ids {
		if n := auditCount(t, p, "verification.webhook_resent", fmt.Sprintf("verification:%d", id), admin.user.Email); n != 1 {
			t.Errorf("resend of verification %d audited %d times, want once", id, n)
		}
	}
}
