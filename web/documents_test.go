package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"portal/internal/apptest"
	"portal/models"
	"portal/services/sandbox"
)

const (
	docNIN1 = "12345678901"
	docNIN2 = "23456789012"
	docNIN3 = "34567890123"
)

// docReviewForm is a valid review flow with two signees.
func docReviewForm() url.Values {
	return url.Values{
		"kind": {"review"}, "title": {"Office lease"}, "file_url": {"https://files.example.com/lease.pdf"},
		"signee_name":         {"Ada Obi", "Kofi Mensah"},
		"signee_type":         {"person", "business"},
		"signee_email":        {"ada@example.com", "kofi@example.com"},
		"signee_nin":          {docNIN1, docNIN2},
		"signee_representing": {"", "Mensah Ltd"},
		"signee_title":        {"", "Director"},
	}
}

// docCreate posts the form and returns the new document's id.
func docCreate(t *testing.T, p *apptest.Portal, s staff, form url.Values) uint {
	t.Helper()
	resp := p.PostForm(t, s.client, "/documents", form)
	wantStatus(t, resp, http.StatusSeeOther)
	loc := resp.Header.Get("Location")
	id, err := strconv.ParseUint(strings.TrimPrefix(loc, "/documents/"), 10, 32)
	if err != nil || !strings.HasPrefix(loc, "/documents/") {
		t.Fatalf("Location %q is not a document", loc)
	}
	return uint(id)
}

func docGet(t *testing.T, p *apptest.Portal, id uint) models.Document {
	t.Helper()
	var d models.Document
	if err := p.App.DB.Take(&d, id).Error; err != nil {
		t.Fatalf("document %d: %v", id, err)
	}
	return d
}

func docSignees(t *testing.T, p *apptest.Portal, id uint) []models.DocumentSignee {
	t.Helper()
	var out []models.DocumentSignee
	if err := p.App.DB.Where("document_id = ?", id).Order("position").Find(&out).Error; err != nil {
		t.Fatal(err)
	}
	return out
}

// docWaitFragment polls the status fragment until it contains want.
func docWaitFragment(t *testing.T, p *apptest.Portal, s staff, id uint, want string) string {
	t.Helper()
	path := "/documents/" + strconv.FormatUint(uint64(id), 10) + "/status"
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp := p.Get(t, s.client, path)
		wantStatus(t, resp, http.StatusOK)
		if strings.Contains(resp.Body, want) {
			return resp.Body
		}
		if time.Now().After(deadline) {
			t.Fatalf("status fragment never showed %q; last:\n%s", want, clip(resp.Body))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestDocumentReviewFlowSignedOnSimulatorAndReviewed(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	op := newStaff(t, p, "docop", models.RoleOperator)
	id := docCreate(t, p, op, docReviewForm())
	d := docGet(t, p, id)
	if d.State != models.DocumentSubmitted || d.UpstreamID == nil || d.Kind != models.DocumentKindReview {
		t.Fatalf("document after create: state %s upstream %v kind %s", d.State, d.UpstreamID, d.Kind)
	}
	page := p.Get(t, op.client, "/documents/"+strconv.FormatUint(uint64(id), 10))
	wantStatus(t, page, http.StatusOK)
	// The page embeds the polling fragment while the document is open.
	if !strings.Contains(page.Body, `hx-get="/documents/`+strconv.FormatUint(uint64(id), 10)+`/status"`) || !strings.Contains(page.Body, `hx-trigger="every 2s"`) {
		t.Fatal("detail page does not poll its status fragment")
	}
	if strings.Contains(page.Body, docNIN1) || !strings.Contains(page.Body, "8901") {
		t.Fatal("operator should see NINs masked to the last 4 digits")
	}
	for _, nin := range []string{docNIN1, docNIN2} {
		if err := p.PasbySim.Sign(*d.UpstreamID, nin); err != nil {
			t.Fatalf("sign as %s: %v", nin, err)
		}
	}
	// The state's badge: the timeline, read in a separate query, may already
	// name "completed" while the row read a moment earlier does not.
	frag := docWaitFragment(t, p, op, id, `badge-ok">completed</span>`)
	if strings.Contains(frag, `hx-trigger="every 2s"`) {
		t.Error("the final status fragment still polls")
	}
	if !strings.Contains(frag, "stamped PDF") || !strings.Contains(frag, "https://in.pasby.africa/document-checker/") {
		t.Errorf("completed fragment lacks the stamped PDF or verification link:\n%s", clip(frag))
	}
	if !strings.Contains(frag, `id="document-timeline-`) || !strings.Contains(frag, `hx-swap-oob="true"`) {
		t.Error("status fragment does not carry the timeline out of band")
	}
	// The parts a completion changes follow it without a reload: no more
	// cancel button, the signatures, and (for compliance) the review form.
	if strings.Contains(frag, "Cancel document") || !strings.Contains(frag, `id="document-actions-`) ||
		!strings.Contains(frag, `id="document-signatures-`) || strings.Contains(frag, "No signatures yet") {
		t.Errorf("completed fragment does not refresh the actions and signatures:\n%s", clip(frag))
	}
	if coFrag := docWaitFragment(t, p, newStaff(t, p, "docco-live", models.RoleCompliance), id, `badge-ok">completed</span>`); !strings.Contains(coFrag, `action="/documents/`+strconv.FormatUint(uint64(id), 10)+`/review"`) {
		t.Error("compliance's completed fragment lacks the review form")
	}

	// The simulator's webhooks reached the portal (its client only may
	// post to the portal itself).
	if err := p.PasbySim.WaitWebhooks(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := count(t, p, "webhook_inbox"); n == 0 {
		t.Error("no webhook from the simulator reached the inbox")
	}

	// Compliance reviews it from the queue.
	co := newStaff(t, p, "doccompliance", models.RoleCompliance)
	queue := p.Get(t, co.client, "/reviews/documents")
	wantStatus(t, queue, http.StatusOK)
	if !strings.Contains(queue.Body, "Office lease") {
		t.Fatalf("review queue lacks the document:\n%s", clip(queue.Body))
	}
	docPath := "/documents/" + strconv.FormatUint(uint64(id), 10)
	resp := p.PostForm(t, co.client, docPath+"/review", url.Values{"decision": {"flagged"}})
	wantStatus(t, resp, http.StatusUnprocessableEntity)
	if !strings.Contains(resp.Body, "Choose why it is flagged.") {
		t.Fatal("flagged without a reason: no message next to the field")
	}
	wantRedirect(t, p.PostForm(t, co.client, docPath+"/review", url.Values{"decision": {"approved"}, "note": {"fine"}}), docPath+"#review")
	if got := docGet(t, p, id).ReviewDecision; got != models.ReviewApproved {
		t.Fatalf("decision = %q", got)
	}
	// A second decision changes nothing.
	wantRedirect(t, p.PostForm(t, co.client, docPath+"/review", url.Values{"decision": {"flagged"}, "reason": {"other"}, "note": {"late"}}), docPath+"#review")
	if got := docGet(t, p, id).ReviewDecision; got != models.ReviewApproved {
		t.Fatalf("decision after a second attempt = %q", got)
	}
	if strings.Contains(p.Get(t, co.client, "/reviews/documents").Body, "Office lease") {
		t.Error("a decided document is still in the queue")
	}
	// Operators can't review; support can't create.
	wantStatus(t, p.PostForm(t, op.client, docPath+"/review", url.Values{"decision": {"approved"}}), http.StatusForbidden)
	sup := newStaff(t, p, "docsupport", models.RoleSupport)
	wantStatus(t, p.Get(t, sup.client, "/documents/new"), http.StatusForbidden)
	wantStatus(t, p.Get(t, sup.client, docPath), http.StatusOK)
}

func TestDocumentSimpleSigningListAndExport(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	admin := signInAdmin(t, p)
	id := docCreate(t, p, admin, url.Values{"kind": {"simple"}, "title": {"Loan agreement"},
		"file_url": {"https://files.example.com/loan.pdf"}, "nins": {docNIN1 + ", " + docNIN2 + "\n" + docNIN3}})
	d := docGet(t, p, id)
	if d.State != models.DocumentSubmitted || len(docSignees(t, p, id)) != 3 {
		t.Fatalf("simple signing: state %s, %d signees", d.State, len(docSignees(t, p, id)))
	}
	list := p.Get(t, admin.client, "/documents?kind=simple")
	wantStatus(t, list, http.StatusOK)
	if !strings.Contains(list.Body, "Loan agreement") {
		t.Fatal("list lacks the document")
	}
	wantStatus(t, p.Get(t, admin.client, "/documents?state=bogus"), http.StatusUnprocessableEntity)
	wantStatus(t, p.Get(t, admin.client, "/documents?before=x"), http.StatusBadRequest)
	csv := p.Get(t, admin.client, "/documents/export?kind=simple")
	wantStatus(t, csv, http.StatusOK)
	if !strings.HasPrefix(csv.Header.Get("Content-Type"), "text/csv") || !strings.Contains(csv.Body, "Loan agreement") {
		t.Fatalf("export: %s\n%s", csv.Header.Get("Content-Type"), clip(csv.Body))
	}
	// Cancel, then a second cancel has nothing to do.
	docPath := "/documents/" + strconv.FormatUint(uint64(id), 10)
	wantRedirect(t, p.PostForm(t, admin.client, docPath+"/cancel", nil), docPath)
	if got := docGet(t, p, id).State; got != models.DocumentCancelled {
		t.Fatalf("after cancel: %s", got)
	}
	wantRedirect(t, p.PostForm(t, admin.client, docPath+"/cancel", nil), docPath)
	wantRedirect(t, p.PostForm(t, admin.client, docPath+"/refresh", nil), docPath)
	wantStatus(t, p.Get(t, admin.client, "/documents/999999"), http.StatusNotFound)
	wantStatus(t, p.Get(t, admin.client, "/documents/abc/status"), http.StatusNotFound)
}

func TestDocumentFormValidationSendsNothing(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	op := newStaff(t, p, "docvalid", models.RoleOperator)
	form := docReviewForm()
	form.Set("file_url", "http://files.example.com/lease.pdf")
	form["signee_nin"] = []string{"123", docNIN2}
	form["signee_email"] = []string{"ada@example.com", "not an email"}
	resp := p.PostForm(t, op.client, "/documents", form)
	wantStatus(t, resp, http.StatusUnprocessableEntity)
	for _, want := range []string{"https://", `value="Kofi Mensah"`, `value="Mensah Ltd"`, `aria-invalid="true"`} {
		if !strings.Contains(resp.Body, want) {
			t.Errorf("422 page lacks %q", want)
		}
	}
	simple := url.Values{"kind": {"simple"}, "title": {""}, "file_url": {"https://files.example.com/a.pdf"}, "nins": {docNIN1 + " " + docNIN1}}
	resp = p.PostForm(t, op.client, "/documents", simple)
	wantStatus(t, resp, http.StatusUnprocessableEntity)
	if !strings.Contains(resp.Body, `id="e-nins"`) || !strings.Contains(resp.Body, `id="e-title"`) {
		t.Errorf("simple 422 lacks messages by nins and title:\n%s", clip(resp.Body))
	}
	wantStatus(t, p.PostForm(t, op.client, "/documents", url.Values{"kind": {"other"}}), http.StatusUnprocessableEntity)
	if n := count(t, p, "documents"); n != 0 {
		t.Fatalf("%d documents stored from invalid forms", n)
	}
	if c := p.PasbySim.CreateCalls(); c.Signing+c.Review+c.Rejected != 0 {
		t.Fatalf("pasby was called: %+v", c)
	}
	// The htmx row endpoints: one empty row, and an empty answer to remove.
	row := p.Get(t, op.client, "/documents/signee-row")
	wantStatus(t, row, http.StatusOK)
	if !strings.HasPrefix(strings.TrimSpace(row.Body), "<tr") || !strings.Contains(row.Body, `name="signee_nin"`) ||
		!strings.Contains(row.Body, `hx-target="closest tr"`) {
		t.Fatalf("signee row:\n%s", row.Body)
	}
	rm := p.Get(t, op.client, "/documents/signee-row/remove")
	wantStatus(t, rm, http.StatusOK)
	if rm.Body != "" {
		t.Fatalf("remove answered %q, want nothing", rm.Body)
	}
	newPage := p.Get(t, op.client, "/documents/new")
	wantStatus(t, newPage, http.StatusOK)
	if !strings.Contains(newPage.Body, `hx-get="/documents/signee-row"`) || !strings.Contains(newPage.Body, `hx-swap="beforeend"`) {
		t.Fatal("new page has no add-row button")
	}
}

func TestDocumentWebhookRoute(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	secret := p.App.Config.Pasby.WebhookSecret
	if len(secret) < 20 {
		t.Fatalf("webhook secret %q too short", secret)
	}
	send := func(path, body string) *apptest.Response {
		req, err := http.NewRequest(http.MethodPost, p.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		return p.Do(t, p.Client(), req)
	}
	wantStatus(t, send("/webhooks/pasby/wrong-secret-0123456789abcdef", `{"reference":"x"}`), http.StatusNotFound)
	if n := count(t, p, "webhook_inbox"); n != 0 {
		t.Fatalf("bad secret stored %d webhooks", n)
	}
	wantStatus(t, send("/webhooks/pasby/"+secret, `{"reference":"nobody"}`), http.StatusNotFound)
	if n := count(t, p, "webhook_inbox"); n != 0 {
		t.Fatalf("webhooks naming nobody stored %d rows", n)
	}
	op := newStaff(t, p, "dochook", models.RoleOperator)
	id := docCreate(t, p, op, docReviewForm())
	var ref string
	if err := p.App.DB.Table("documents").Where("id = ?", id).Pluck("reference", &ref).Error; err != nil {
		t.Fatal(err)
	}
	body := `{"reference":"` + ref + `"}`
	wantStatus(t, send("/webhooks/pasby/"+secret, body), http.StatusOK)
	wantStatus(t, send("/webhooks/pasby/"+secret, body), http.StatusOK)
	if n := count(t, p, "webhook_inbox"); n != 1 {
		t.Fatalf("inbox holds %d rows, want 1 (duplicates stored once)", n)
	}
	wantStatus(t, send("/webhooks/pasby/"+secret, strings.Repeat("x", 1<<20+1)), http.StatusRequestEntityTooLarge)
	if strings.Contains(p.Logs.String(), secret) {
		t.Fatal("the webhook secret was logged")
	}
}

// TestDocumentWebhookSecretThenBody: the secret is judged before the body,
// so a wrong secret is a 404 whatever it sends, and only pasby (who knows the
// secret) hears that a body was not JSON. Neither is stored: an unparseable
// row would fail in the inbox for ever.
func TestDocumentWebhookSecretThenBody(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	secret := p.App.Config.Pasby.WebhookSecret
	const wrong = "wrong-secret-0123456789abcdef"
	op := newStaff(t, p, "dochookbody", models.RoleOperator)
	id := docCreate(t, p, op, docReviewForm())
	var ref string
	if err := p.App.DB.Table("documents").Where("id = ?", id).Pluck("reference", &ref).Error; err != nil {
		t.Fatal(err)
	}
	valid := `{"reference":"` + ref + `"}`
	// Sequential and in this order: stored counts the inbox after each case,
	// and only the last one may add a row.
	for _, tc := range []struct {
		name, secret, body string
		want               int
		text               string // the whole answer body
		stored             int64
	}{
		{"right secret, malformed JSON", secret, `{"reference":`, http.StatusBadRequest, "body is not JSON", 0},
		{"right secret, not JSON at all", secret, `not json`, http.StatusBadRequest, "body is not JSON", 0},
		{"right secret, empty body", secret, ``, http.StatusBadRequest, "body is not JSON", 0},
		{"wrong secret, malformed JSON", wrong, `{"reference":`, http.StatusNotFound, "not found", 0},
		{"wrong secret, valid", wrong, valid, http.StatusNotFound, "not found", 0},
		{"right secret, valid", secret, valid, http.StatusOK, "ok", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, p.URL+"/webhooks/pasby/"+tc.secret, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			resp := p.Do(t, p.Client(), req)
			wantStatus(t, resp, tc.want)
			if resp.Body != tc.text || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
				t.Errorf("answer %q (%s), want %q as plain text", resp.Body, resp.Header.Get("Content-Type"), tc.text)
			}
			if n := count(t, p, "webhook_inbox"); n != tc.stored {
				t.Errorf("inbox holds %d rows, want %d", n, tc.stored)
			}
		})
	}
}

func TestDocumentNINsMaskedAndRevealAudited(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	op := newStaff(t, p, "docmask", models.RoleOperator)
	id := docCreate(t, p, op, docReviewForm())
	signees := docSignees(t, p, id)
	docPath := "/documents/" + strconv.FormatUint(uint64(id), 10)
	reveal := docPath + "/signees/" + strconv.FormatUint(uint64(signees[0].ID), 10) + "/reveal"

	sup := newStaff(t, p, "docsup", models.RoleSupport)
	page := p.Get(t, sup.client, docPath)
	wantStatus(t, page, http.StatusOK)
	if strings.Contains(page.Body, docNIN1) || !strings.Contains(page.Body, "•••••••8901") || strings.Contains(page.Body, "/reveal") {
		t.Fatal("support must see masked NINs and no reveal button")
	}
	wantStatus(t, p.PostForm(t, sup.client, reveal, nil), http.StatusForbidden)

	co := newStaff(t, p, "docco", models.RoleCompliance)
	page = p.Get(t, co.client, docPath)
	if !strings.Contains(page.Body, reveal) {
		t.Fatal("compliance has no reveal button")
	}
	before := lastAuditID(t, p)
	resp := post(t, p, co.client, reveal, nil, htmx)
	wantStatus(t, resp, http.StatusOK)
	if !strings.Contains(resp.Body, docNIN1) {
		t.Fatalf("reveal did not show the NIN:\n%s", resp.Body)
	}
	evs := auditAfter(t, p, before)
	if len(evs) != 1 || evs[0].Action != "document.nin_revealed" || strings.Contains(evs[0].Details, docNIN1) {
		t.Fatalf("audit after reveal: %+v", evs)
	}
	// A signee of another document is not found.
	wantStatus(t, p.PostForm(t, co.client, "/documents/999/signees/"+strconv.FormatUint(uint64(signees[0].ID), 10)+"/reveal", nil), http.StatusNotFound)
}

// TestDocumentBadInputNever500 sends malformed document requests: each gets
// a 4xx and nothing is sent to pasby.
func TestDocumentBadInputNever500(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	admin := signInAdmin(t, p)
	valid := func(k, v string) string {
		f := docReviewForm()
		f.Set(k, v)
		return f.Encode()
	}
	manyRows := url.Values{"kind": {"review"}, "title": {"T"}, "file_url": {"https://files.example.com/a.pdf"}}
	for i := 0; i < 60; i++ {
		manyRows.Add("signee_name", "N")
		manyRows.Add("signee_type", "person")
		manyRows.Add("signee_email", "n@example.com")
		manyRows.Add("signee_nin", strconv.Itoa(10000000000+i))
	}
	cases := []struct {
		name, method, path, ctype, body string
		want                            int // 0: any 4xx
	}{
		{"invalid UTF-8 title", "POST", "/documents", "application/x-www-form-urlencoded", valid("title", "bad \xff title"), 422},
		{"huge title", "POST", "/documents", "application/x-www-form-urlencoded", valid("title", strings.Repeat("t", 100_000)), 422},
		{"huge nins", "POST", "/documents", "application/x-www-form-urlencoded", url.Values{"kind": {"simple"}, "nins": {strings.Repeat("1", 50_000)}}.Encode(), 422},
		{"too many signees", "POST", "/documents", "application/x-www-form-urlencoded", manyRows.Encode(), 422},
		{"ragged signee fields", "POST", "/documents", "application/x-www-form-urlencoded", "kind=review&title=T&file_url=https://files.example.com/a.pdf&signee_nin=12345678901&signee_nin=23456789012", 422},
		{"file URL with a port", "POST", "/documents", "application/x-www-form-urlencoded", valid("file_url", "https://files.example.com:8443/a.pdf"), 422},
		{"file URL to localhost", "POST", "/documents", "application/x-www-form-urlencoded", valid("file_url", "https://localhost/a.pdf"), 422},
		{"broken encoding", "POST", "/documents", "application/x-www-form-urlencoded", "kind=%zz", 400},
		{"JSON body", "POST", "/documents", "application/json", `{"kind":"simple"}`, 415},
		{"cancel non-numeric id", "POST", "/documents/abc/cancel", "application/x-www-form-urlencoded", "", 404},
		{"refresh id zero", "POST", "/documents/0/refresh", "application/x-www-form-urlencoded", "", 404},
		{"refresh unknown id", "POST", "/documents/999999/refresh", "application/x-www-form-urlencoded", "", 404},
		{"reveal bad signee", "POST", "/documents/1/signees/abc/reveal", "application/x-www-form-urlencoded", "", 404},
		{"review unknown id", "POST", "/documents/999999/review", "application/x-www-form-urlencoded", "decision=approved", 404},
		{"review bad decision", "POST", "/documents/999999/review", "application/x-www-form-urlencoded", "decision=maybe", 0},
		{"status huge id", "GET", "/documents/18446744073709551616/status", "", "", 404},
		{"list month 13", "GET", "/documents?from=2026-13-01", "", "", 422},
		{"list bad decision", "GET", "/documents?decision=perhaps", "", "", 422},
		{"list broken cursor", "GET", "/documents?after=-1", "", "", 400},
		{"export bad state", "GET", "/documents/export?state=bogus", "", "", 400},
	}
	for _, c := range cases {
		req, err := http.NewRequest(c.method, p.URL+c.path, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		req.Header.Set("Origin", p.URL)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp := p.Do(t, admin.client, req)
		if resp.StatusCode >= 500 || (c.want != 0 && resp.StatusCode != c.want) || (c.want == 0 && resp.StatusCode < 400) {
			t.Errorf("%s: status %d, want %d", c.name, resp.StatusCode, c.want)
		}
	}
	if n := count(t, p, "documents"); n != 0 {
		t.Fatalf("%d documents stored from bad input", n)
	}
	if c := p.PasbySim.CreateCalls(); c.Signing+c.Review+c.Rejected != 0 {
		t.Fatalf("pasby was called: %+v", c)
	}
}

// An unknown document (its create answer lost) is settled by a person:
// pasby's id is adopted only when pasby's document carries our reference,
// and nothing can be re-sent from here.
func TestDocumentResolveUnknownPages(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	op := newStaff(t, p, "docresolve", models.RoleOperator)
	if err := p.App.Sandbox.SetFault("pasby", "POST /api/v2/document/review", sandbox.Fault{Kind: sandbox.FaultHang, Times: 1}); err != nil {
		t.Fatal(err)
	}
	id := docCreate(t, p, op, docReviewForm())
	if d := docGet(t, p, id); d.State != models.DocumentUnknown {
		t.Fatalf("state %s, want unknown", d.State)
	}
	docPath := "/documents/" + strconv.FormatUint(uint64(id), 10)
	page := p.Get(t, op.client, docPath)
	if !strings.Contains(page.Body, docPath+"/resolve") || !strings.Contains(page.Body, docPath+"/not-sent") {
		t.Fatal("unknown document offers no resolution")
	}
	sup := newStaff(t, p, "docresolve-sup", models.RoleSupport)
	if strings.Contains(p.Get(t, sup.client, docPath).Body, docPath+"/resolve") {
		t.Error("support sees the resolve form")
	}
	wantStatus(t, p.PostForm(t, sup.client, docPath+"/not-sent", url.Values{"note": {"x"}}), http.StatusForbidden)

	bad := p.PostForm(t, op.client, docPath+"/resolve", url.Values{"upstream_id": {"nonsense"}})
	wantStatus(t, bad, http.StatusUnprocessableEntity)
	if !strings.Contains(bad.Body, "nonsense") || !strings.Contains(bad.Body, "doc_") {
		t.Error("the 422 page does not keep the input and explain the format")
	}
	ok := p.PostForm(t, op.client, docPath+"/not-sent", url.Values{"note": {"pasby support: no such reference"}})
	wantStatus(t, ok, http.StatusSeeOther)
	if d := docGet(t, p, id); d.State != models.DocumentFailed {
		t.Errorf("state %s after not-sent, want failed", d.State)
	}
}

// The document list sorts by its Created and Last change headings, either
// way, with the filters kept in the links, and says when it cannot.
func TestDocumentListSortsFromItsHeadings(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	support := newStaff(t, p, "docsorter", models.RoleSupport)
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	// Made a, b, c; last changed b, then c, then a. Final documents, so
	// nothing in the background changes them while the test reads.
	var ids []uint
	for i, d := range []struct {
		kind    models.DocumentKind
		state   models.DocumentState
		changed time.Duration
	}{{models.DocumentKindSimple, models.DocumentCompleted, 3 * time.Hour}, {models.DocumentKindReview, models.DocumentCompleted, time.Hour},
		{models.DocumentKindSimple, models.DocumentCancelled, 2*time.Hour + 500*time.Millisecond}} {
		doc := models.Document{Reference: "sort-ref-" + strconv.Itoa(i), Kind: d.kind, Title: "Sorted lease", FileURL: "https://files.example.com/s.pdf",
			State: d.state, CreatedAt: at.Add(time.Duration(i) * time.Minute), UpdatedAt: at.Add(d.changed)}
		if err := p.App.DB.Create(&doc).Error; err != nil {
			t.Fatal(err)
		}
		ids = append(ids, doc.ID)
	}
	a, b, c := ids[0], ids[1], ids[2]
	listed := func(body string) []uint {
		var out []uint
		for _, m := range regexp.MustCompile(`<td><a href="/documents/(\d+)">`).FindAllStringSubmatch(body, -1) {
			n, _ := strconv.ParseUint(m[1], 10, 32)
			out = append(out, uint(n))
		}
		return out
	}
	list := func(q url.Values, want ...uint) {
		t.Helper()
		resp := p.Get(t, support.client, "/documents?"+q.Encode())
		wantStatus(t, resp, http.StatusOK)
		if got := listed(resp.Body); !slices.Equal(got, want) {
			t.Errorf("GET /documents?%s lists %v, want %v", q.Encode(), got, want)
		}
	}
	list(url.Values{}, c, b, a)
	list(url.Values{"sort": {"-created"}}, c, b, a)
	list(url.Values{"sort": {"created"}}, a, b, c)
	list(url.Values{"sort": {"-updated"}}, a, c, b)
	list(url.Values{"sort": {"updated"}}, b, c, a)
	list(url.Values{"sort": {"-updated"}, "state": {"completed"}}, a, b)
	list(url.Values{"sort": {"updated"}, "kind": {"simple"}}, c, a)
	list(url.Values{"sort": {"created"}, "kind": {"simple"}, "state": {"cancelled"}}, c)

	resp := p.Get(t, support.client, "/documents?sort=-updated&kind=simple")
	if !strings.Contains(resp.Body, `aria-sort="descending"><a class="sort-link" href="/documents?kind=simple&amp;sort=updated">Last change`) {
		t.Errorf("the last-change heading does not say it sorts descending and link the other way:\n%s", clip(resp.Body))
	}
	if !strings.Contains(resp.Body, `<a class="sort-link" href="/documents?kind=simple&amp;sort=-created">Created</a>`) || strings.Count(resp.Body, "aria-sort=") != 1 {
		t.Error("the created heading does not link newest first, or more than one heading claims the order")
	}
	if !strings.Contains(resp.Body, `<input type="hidden" name="sort" value="-updated">`) {
		t.Error("the filter form does not keep the order")
	}
	if !strings.Contains(resp.Body, `href="/documents/export?kind=simple"`) {
		t.Error("the export link does not keep the filters without the order (the file is newest first)")
	}
	// The last change is a column of its own, in the viewer's zone with
	// UTC on hover.
	if !strings.Contains(resp.Body, `<time datetime="2026-03-02T12:00:00Z"`) {
		t.Errorf("the last change of document %d is not shown", a)
	}
	if page := p.Get(t, support.client, "/documents"); !strings.Contains(page.Body, `aria-sort="descending"><a class="sort-link" href="/documents?sort=created">Created`) ||
		!strings.Contains(page.Body, `href="/documents?sort=-updated">Last change</a>`) {
		t.Error("newest first does not mark the created heading, or the last-change heading does not start with the latest change")
	}
	// Pages follow the order: the cursor checks are the service's; here a
	// broken or foreign link is a 400 and an order that cannot be a 422.
	wantStatus(t, p.Get(t, support.client, "/documents?sort=-updated&before=12_yesterday"), http.StatusBadRequest)
	wantStatus(t, p.Get(t, support.client, "/documents?before=12_2026-03-02T12:00:00Z"), http.StatusBadRequest)
	wantStatus(t, p.Get(t, support.client, "/documents?sort=-updated&before=12"), http.StatusBadRequest)
	for _, q := range []string{"sort=title", "sort=updated&q=Sorted"} {
		resp := p.Get(t, support.client, "/documents?"+q)
		wantStatus(t, resp, http.StatusUnprocessableEntity)
		if !strings.Contains(resp.Body, `id="e-sort"`) {
			t.Errorf("GET /documents?%s: no message about the order", q)
		}
	}
	csv := p.Get(t, support.client, "/documents/export?sort=-updated&q=Sorted")
	wantStatus(t, csv, http.StatusOK)
	if strings.Count(csv.Body, "Sorted lease") != 3 {
		t.Errorf("the export with an order and a search:\n%s", clip(csv.Body))
	}
}
