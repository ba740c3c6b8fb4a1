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
	"portal/services/pawapass"
)

func pawaForm() url.Values {
	return url.Values{
		"provider": {"pawapass"}, "external_id": {"cust-0042"}, "requirements": {"DOCUMENT_SCAN", "FACE_SCAN"},
		"country": {"ZM"}, "phone_no": {"0971 234 567"},
		"success_url": {"https://example.com/kyc/done"}, "error_url": {"https://example.com/kyc/error"}, "support_url": {"https://example.com/help"},
	}
}

// verCreate posts the new-verification form and returns the new id.
func verCreate(t *testing.T, p *apptest.Portal, s staff, form url.Values) uint {
	t.Helper()
	resp := p.PostForm(t, s.client, "/verifications", form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: status %d, want 303:\n%s", resp.StatusCode, clip(resp.Body))
	}
	loc := resp.Header.Get("Location")
	id, err := strconv.ParseUint(strings.TrimPrefix(loc, "/verifications/"), 10, 32)
	if err != nil {
		t.Fatalf("Location %q", loc)
	}
	return uint(id)
}

func verGet(t *testing.T, p *apptest.Portal, id uint) models.Verification {
	t.Helper()
	var v models.Verification
	if err := p.App.DB.Take(&v, id).Error; err != nil {
		t.Fatal(err)
	}
	return v
}

// verWaitFragment polls the status fragment until it contains want.
func verWaitFragment(t *testing.T, p *apptest.Portal, s staff, id uint, want string) string {
	t.Helper()
	path := "/verifications/" + strconv.FormatUint(uint64(id), 10) + "/status"
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

func TestPawaPassVerificationEndToEnd(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	op := newStaff(t, p, "verop", models.RoleOperator)
	id := verCreate(t, p, op, pawaForm())
	v := verGet(t, p, id)
	if v.State != models.VerificationSubmitted || v.UpstreamID == nil || v.CustomerPhone != "+260971234567" || !strings.Contains(v.Link, "/sandbox/pawapass/") {
		t.Fatalf("after create: %+v", v)
	}
	page := p.Get(t, op.client, "/verifications/"+strconv.FormatUint(uint64(id), 10))
	wantStatus(t, page, http.StatusOK)
	if !strings.Contains(page.Body, v.Link) || !strings.Contains(page.Body, `class="qr"`) || !strings.Contains(page.Body, `hx-trigger="every 2s"`) {
		t.Fatal("detail page lacks the link, its QR code or the live status")
	}
	sim := p.App.PawaPassSim
	for _, step := range []func(string) error{sim.Start, sim.SubmitDocument, sim.SubmitFace, sim.Collect, sim.Approve} {
		if err := step(*v.UpstreamID); err != nil {
			t.Fatal(err)
		}
	}
	frag := verWaitFragment(t, p, op, id, `badge-ok">approved`)
	if strings.Contains(frag, `hx-trigger="every 2s"`) {
		t.Error("the final fragment still polls")
	}
	if !strings.Contains(frag, `id="verification-identity-`) || strings.Contains(frag, "Nothing yet") {
		t.Errorf("the identity data did not arrive with the final fragment:\n%s", clip(frag))
	}
	// The signed webhooks reached the portal and were stored once each.
	if err := sim.WaitWebhooks(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := count(t, p, "webhook_inbox"); n == 0 {
		t.Error("no pawaPass webhook reached the inbox")
	}

	co := newStaff(t, p, "verco", models.RoleCompliance)
	queue := p.Get(t, co.client, "/reviews/verifications")
	wantStatus(t, queue, http.StatusOK)
	if !strings.Contains(queue.Body, "/verifications/"+strconv.FormatUint(uint64(id), 10)) {
		t.Fatal("approved verification not in the compliance queue")
	}
	path := "/verifications/" + strconv.FormatUint(uint64(id), 10) + "/review"
	bad := p.PostForm(t, co.client, path, url.Values{"decision": {"flagged"}})
	wantStatus(t, bad, http.StatusUnprocessableEntity)
	if !strings.Contains(bad.Body, "Choose why it is flagged.") {
		t.Error("flag without a reason: no message by the field")
	}
	wantStatus(t, p.PostForm(t, op.client, path, url.Values{"decision": {"approved"}}), http.StatusForbidden)
	wantStatus(t, p.PostForm(t, co.client, path, url.Values{"decision": {"approved"}, "note": {"matches the customer file"}}), http.StatusSeeOther)
	if v := verGet(t, p, id); v.ReviewDecision != models.ReviewApproved {
		t.Errorf("decision %q", v.ReviewDecision)
	}
	if strings.Contains(p.Get(t, co.client, "/reviews/verifications").Body, "/verifications/"+strconv.FormatUint(uint64(id), 10)+"#review") {
		t.Error("reviewed verification still queued")
	}
}

func TestPawaPassFormValidation(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	op := newStaff(t, p, "verform", models.RoleOperator)
	page := p.Get(t, op.client, "/verifications/new")
	wantStatus(t, page, http.StatusOK)
	if !strings.Contains(page.Body, p.URL+"/kyc/done") {
		t.Error("success URL not prefilled from configuration")
	}
	cases := []struct {
		name, field string
		change      func(url.Values)
	}{
		{"no external id", "e-external_id", func(f url.Values) { f.Del("external_id") }},
		{"no requirement", "e-requirements", func(f url.Values) { f.Del("requirements") }},
		{"bad requirement", "e-requirements", func(f url.Values) { f["requirements"] = []string{"SELFIE"} }},
		{"unsupported country", "e-country", func(f url.Values) { f.Set("country", "FR") }},
		{"ftp success url", "e-success_url", func(f url.Values) { f.Set("success_url", "ftp://example.com/x") }},
		{"null byte", "e-external_id", func(f url.Values) { f.Set("external_id", "a\x00b") }},
		{"past expiry", "e-expires_at", func(f url.Values) { f.Set("expires_at", "2001-01-01T00:00") }},
		{"bad phone", "e-phone_no", func(f url.Values) { f.Set("phone_no", "12") }},
		{"no provider", "e-provider", func(f url.Values) { f.Set("provider", "acme") }},
	}
	for _, c := range cases {
		f := pawaForm()
		c.change(f)
		resp := p.PostForm(t, op.client, "/verifications", f)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(resp.Body, `id="`+c.field+`"`) {
			t.Errorf("%s: status %d, want 422 with %s", c.name, resp.StatusCode, c.field)
		}
	}
	if n := count(t, p, "verifications"); n != 0 {
		t.Errorf("%d verifications written from invalid forms", n)
	}
	if p.App.PawaPassSim.CreateCalls() != 0 {
		t.Error("pawaPass was called for an invalid form")
	}
}

func TestPassportReaderSessionEndToEnd(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	op := newStaff(t, p, "prop", models.RoleOperator)
	id := verCreate(t, p, op, url.Values{"provider": {"passportreader"}, "face_verification": {"true"}, "phone_no": {"+254712345678"}})
	v := verGet(t, p, id)
	if v.State != models.VerificationSubmitted || v.UpstreamID == nil || !strings.Contains(v.Link, "/sandbox/passportreader/open?token=") {
		t.Fatalf("after create: %+v", v)
	}
	sid, err := strconv.ParseInt(*v.UpstreamID, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	sim := p.App.PassportReaderSim
	for _, step := range []func(int64) error{sim.Initiate, sim.Complete, sim.Approve} {
		if err := step(sid); err != nil {
			t.Fatal(err)
		}
	}
	frag := verWaitFragment(t, p, op, id, `badge-ok">approved`)
	if !strings.Contains(frag, "Document number") {
		t.Errorf("identity data missing:\n%s", clip(frag))
	}
	if strings.Contains(frag, "/images/portrait") || !strings.Contains(frag, "compliance and admins only") {
		t.Error("an operator is shown the portrait")
	}
	got := verGet(t, p, id)
	if strings.Contains(got.LastUpstreamJSON, "iVBOR") {
		t.Error("the portrait's base64 was stored in the upstream JSON every role sees")
	}
	co := newStaff(t, p, "prco", models.RoleCompliance)
	page := p.Get(t, co.client, "/verifications/"+strconv.FormatUint(uint64(id), 10))
	if !strings.Contains(page.Body, "/images/portrait") {
		t.Fatal("compliance is not shown the portrait")
	}
	img := p.Get(t, co.client, "/verifications/"+strconv.FormatUint(uint64(id), 10)+"/images/portrait")
	wantStatus(t, img, http.StatusOK)
	if img.Header.Get("Content-Type") != "image/png" || img.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("image headers %v", img.Header)
	}
	wantStatus(t, p.Get(t, op.client, "/verifications/"+strconv.FormatUint(uint64(id), 10)+"/images/portrait"), http.StatusForbidden)
	var viewed int64
	p.App.DB.Model(&models.AuditEvent{}).Where("action = 'verification.image_viewed'").Count(&viewed)
	if viewed != 1 {
		t.Errorf("%d image views audited, want 1", viewed)
	}
}

// Webhooks and callbacks: forged ones are refused and change nothing.
func TestVerificationWebhooksRefuseForgeries(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	send := func(path, body string, hdr map[string]string) *apptest.Response {
		req, err := http.NewRequest(http.MethodPost, p.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		return p.Do(t, p.Client(), req)
	}
	body := `{"notificationId":"0b5a3c1e-1111-4222-8333-444455556666","type":"VERIFICATION.STATUS_CHANGE","object":"VERIFICATION","createdAt":"2026-11-23T10:00:00.000Z","data":{"id":"aB1cD2eF","status":"APPROVED"}}`
	secret := p.App.Config.PawaPass.WebhookSecret
	wantStatus(t, send("/webhooks/pawapass", body, nil), http.StatusUnauthorized)
	wantStatus(t, send("/webhooks/pawapass", body, map[string]string{"X-Signature": pawapass.Sign("wrong-secret", []byte(body))}), http.StatusUnauthorized)
	wantStatus(t, send("/webhooks/pawapass", body+" ", map[string]string{"X-Signature": pawapass.Sign(secret, []byte(body))}), http.StatusUnauthorized)
	if n := count(t, p, "webhook_inbox"); n != 0 {
		t.Fatalf("forged webhooks stored: %d", n)
	}
	signed := map[string]string{"X-Signature": pawapass.Sign(secret, []byte(body))}
	wantStatus(t, send("/webhooks/pawapass", body, signed), http.StatusOK)
	wantStatus(t, send("/webhooks/pawapass", body, signed), http.StatusOK)
	if n := count(t, p, "webhook_inbox"); n != 1 {
		t.Errorf("inbox holds %d rows, want 1 (deduplicated by notificationId)", n)
	}
	garbage := `{"hello":1}`
	wantStatus(t, send("/webhooks/pawapass", garbage, map[string]string{"X-Signature": pawapass.Sign(secret, []byte(garbage))}), http.StatusBadRequest)

	cb := `{"session_id": 123, "session_state": "APPROVED", "session_reference": "not-ours"}`
	wantStatus(t, send("/webhooks/passportreader/wrong-secret-0123456789", cb, nil), http.StatusNotFound)
	wantStatus(t, send("/webhooks/passportreader/"+p.App.Config.IDV.CallbackSecret, cb, nil), http.StatusNotFound)
	if n := count(t, p, "webhook_inbox"); n != 1 {
		t.Errorf("forged callbacks stored: inbox holds %d", n)
	}
	if strings.Contains(p.Logs.String(), p.App.Config.IDV.CallbackSecret) {
		t.Error("the callback secret was logged")
	}
}

// The verification list sorts by its Created and Last change headings,
// either way, with the filters kept in the links, and says when it cannot.
func TestVerificationListSortsFromItsHeadings(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	support := newStaff(t, p, "versorter", models.RoleSupport)
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	// Made a, b, c; last changed b, then c, then a. Final verifications,
	// so nothing in the background changes them while the test reads.
	var ids []uint
	for i, v := range []struct {
		provider models.VerificationProvider
		state    models.VerificationState
		changed  time.Duration
	}{{models.ProviderPawaPass, models.VerificationApproved, 3 * time.Hour}, {models.ProviderPassportReader, models.VerificationApproved, time.Hour},
		{models.ProviderPawaPass, models.VerificationDeclined, 2*time.Hour + 500*time.Millisecond}} {
		row := models.Verification{Provider: v.provider, Reference: "sort-ref-" + strconv.Itoa(i), ExternalID: "sorted-" + strconv.Itoa(i),
			State: v.state, CreatedAt: at.Add(time.Duration(i) * time.Minute), UpdatedAt: at.Add(v.changed)}
		if err := p.App.DB.Create(&row).Error; err != nil {
			t.Fatal(err)
		}
		ids = append(ids, row.ID)
	}
	a, b, c := ids[0], ids[1], ids[2]
	listed := func(body string) []uint {
		var out []uint
		for _, m := range regexp.MustCompile(`<td><a href="/verifications/(\d+)">`).FindAllStringSubmatch(body, -1) {
			n, _ := strconv.ParseUint(m[1], 10, 32)
			out = append(out, uint(n))
		}
		return out
	}
	list := func(q url.Values, want ...uint) {
		t.Helper()
		resp := p.Get(t, support.client, "/verifications?"+q.Encode())
		wantStatus(t, resp, http.StatusOK)
		if got := listed(resp.Body); !slices.Equal(got, want) {
			t.Errorf("GET /verifications?%s lists %v, want %v", q.Encode(), got, want)
		}
	}
	list(url.Values{}, c, b, a)
	list(url.Values{"sort": {"created"}}, a, b, c)
	list(url.Values{"sort": {"-updated"}}, a, c, b)
	list(url.Values{"sort": {"updated"}}, b, c, a)
	list(url.Values{"sort": {"-updated"}, "state": {"approved"}}, a, b)
	list(url.Values{"sort": {"updated"}, "provider": {"pawapass"}}, c, a)
	list(url.Values{"sort": {"created"}, "provider": {"pawapass"}, "state": {"declined"}}, c)

	resp := p.Get(t, support.client, "/verifications?sort=-updated&provider=pawapass")
	if !strings.Contains(resp.Body, `aria-sort="descending"><a class="sort-link" href="/verifications?provider=pawapass&amp;sort=updated">Last change`) {
		t.Errorf("the last-change heading does not say it sorts descending and link the other way:\n%s", clip(resp.Body))
	}
	if !strings.Contains(resp.Body, `<a class="sort-link" href="/verifications?provider=pawapass&amp;sort=-created">Created</a>`) || strings.Count(resp.Body, "aria-sort=") != 1 {
		t.Error("the created heading does not link newest first, or more than one heading claims the order")
	}
	if !strings.Contains(resp.Body, `<input type="hidden" name="sort" value="-updated">`) {
		t.Error("the filter form does not keep the order")
	}
	if !strings.Contains(resp.Body, `href="/verifications/export?provider=pawapass"`) {
		t.Error("the export link does not keep the filters without the order (the file is newest first)")
	}
	if !strings.Contains(resp.Body, `<time datetime="2026-03-02T12:00:00Z"`) {
		t.Errorf("the last change of verification %d is not shown", a)
	}
	wantStatus(t, p.Get(t, support.client, "/verifications?sort=-updated&before=12_yesterday"), http.StatusBadRequest)
	wantStatus(t, p.Get(t, support.client, "/verifications?after=12_2026-03-02T12:00:00Z"), http.StatusBadRequest)
	for _, q := range []string{"sort=phone", "sort=updated&q=sorted-"} {
		resp := p.Get(t, support.client, "/verifications?"+q)
		wantStatus(t, resp, http.StatusUnprocessableEntity)
		if !strings.Contains(resp.Body, `id="e-sort"`) {
			t.Errorf("GET /verifications?%s: no message about the order", q)
		}
	}
	csv := p.Get(t, support.client, "/verifications/export?sort=-updated&q=sorted-")
	wantStatus(t, csv, http.StatusOK)
	if strings.Count(csv.Body, "sorted-") != 3 {
		t.Errorf("the export with an order and a search:\n%s", clip(csv.Body))
	}
}
