package pawapasssim_test

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"portal/services/sandbox/pawapasssim"
	"portal/services/sandbox/simtest"
)

// page GETs an absolute URL and returns status, headers and body.
func (e *env) page(u string) (int, http.Header, string) {
	e.t.Helper()
	return simtest.Get(e.t, e.srv.Client(), u)
}

// post sends values to the page's form action as a same-origin browser
// form post would, following the 303.
func (e *env) post(pageURL, action string, values url.Values) (int, string) {
	e.t.Helper()
	st, _, body := simtest.PostForm(e.t, e.srv.Client(), pageURL, action, values, simtest.SameOrigin(e.srv.URL))
	return st, body
}

// submit finds the form whose button reads button on the page at pageURL,
// changes the fields in set, and posts it.
func (e *env) submit(pageURL, button string, set map[string]string) (int, string) {
	e.t.Helper()
	_, _, page := e.page(pageURL)
	f := simtest.FindForm(e.t, page, button)
	for k, v := range set {
		f.Values.Set(k, v)
	}
	return e.post(pageURL, f.Action, f.Values)
}

func checkPageHeaders(t *testing.T, h http.Header) {
	t.Helper()
	csp := h.Get("Content-Security-Policy")
	if h.Get("Content-Type") != "text/html; charset=utf-8" || h.Get("Cache-Control") != "no-store" ||
		!strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "form-action 'self'") ||
		!strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe") || strings.Contains(csp, "script-src") {
		t.Fatalf("headers %v", h)
	}
}

func checkNoScript(t *testing.T, page string) {
	t.Helper()
	lower := strings.ToLower(page)
	for _, bad := range []string{"<script", " onclick", " onsubmit", "style=", "<style", "javascript:", "http-equiv"} {
		if strings.Contains(lower, bad) {
			t.Fatalf("page contains %q", bad)
		}
	}
}

func TestHostedPageFlow(t *testing.T) {
	e := setup(t, pawapasssim.Options{})
	v := e.create(set("country", "ZM"))

	st, h, page := e.page(v.URL)
	if st != http.StatusOK {
		t.Fatalf("page: %d", st)
	}
	checkPageHeaders(t, h)
	checkNoScript(t, page)
	if got := simtest.Buttons(page); !slices.Equal(got, []string{"Start verification"}) {
		t.Fatalf("buttons %q", got)
	}
	// The stylesheet it links is served.
	css := regexp.MustCompile(`<link rel="stylesheet" href="([^"]+)">`).FindStringSubmatch(page)
	if css == nil || css[1] != "/sandbox/pawapass/assets/pawapass.css" {
		t.Fatalf("stylesheet link %v", css)
	}
	if st, h, _ := e.page(e.srv.URL + css[1]); st != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/css") {
		t.Fatalf("stylesheet: %d %v", st, h)
	}
	if strings.Contains(page, v.SuccessURL) || strings.Contains(page, v.ErrorURL) || !strings.Contains(page, `href="`+v.SupportURL+`"`) {
		t.Fatal("before completion the page links support only")
	}

	st, page = e.submit(v.URL, "Start verification", nil)
	if st != http.StatusOK || !strings.Contains(page, "Verification started.") || e.get(v.ID).Status != "STARTED" {
		t.Fatalf("after start: %d\n%s", st, page)
	}
	if got := simtest.Buttons(page); !slices.Equal(got, []string{"Scan identity document", "Scan face"}) {
		t.Fatalf("buttons %q", got)
	}
	// The document form is prefilled with a plausible person.
	doc := simtest.Forms(page)[0].Values
	for _, k := range []string{"type", "firstName", "lastName", "dateOfBirth", "serialNo", "nationalNo"} {
		if doc.Get(k) == "" {
			t.Errorf("document form field %s is empty", k)
		}
	}
	if doc.Get("type") != "NATIONAL_ID" || doc.Get("step") != "document" {
		t.Fatalf("document form %v", doc)
	}

	st, page = e.submit(v.URL, "Scan identity document", map[string]string{
		"type": "PASSPORT", "firstName": "Ama", "lastName": "Owusu", "dateOfBirth": "1990-01-02", "nationalNo": "Z12345678",
	})
	if st != http.StatusOK || !strings.Contains(page, "Identity document scanned.") {
		t.Fatalf("after the document: %d\n%s", st, page)
	}
	got := e.get(v.ID)
	if d := got.IdentityDocument; d == nil || d.Type != "PASSPORT" || d.FirstName != "Ama" || d.LastName != "Owusu" ||
		d.DateOfBirth != "1990-01-02" || d.NationalNo != "Z12345678" || d.SerialNo != doc.Get("serialNo") || d.Country != "ZM" || got.Status != "STARTED" {
		t.Fatalf("identityDocument %+v", got.IdentityDocument)
	}
	if !strings.Contains(page, "•••••5678") || !slices.Equal(simtest.Buttons(page), []string{"Scan identity document again", "Scan face"}) {
		t.Fatalf("page after the document: %q\n%s", simtest.Buttons(page), page)
	}

	st, page = e.submit(v.URL, "Scan face", map[string]string{"ageEstimation": "OVER_30"})
	if st != http.StatusOK || !strings.Contains(page, "Face scanned.") || e.get(v.ID).FaceScan.AgeEstimation != "OVER_30" {
		t.Fatalf("after the face: %d\n%s", st, page)
	}
	st, page = e.submit(v.URL, "Submit", nil)
	if st != http.StatusOK || e.get(v.ID).Status != "REVIEW" {
		t.Fatalf("after submit: %d %s", st, e.get(v.ID).Status)
	}
	if !strings.Contains(page, "pawaPass reviewer") || !strings.Contains(page, "sandbox only") ||
		!slices.Equal(simtest.Buttons(page), []string{"Approve", "Decline"}) || !strings.Contains(page, `href="`+v.SuccessURL+`"`) {
		t.Fatalf("page in review: %q\n%s", simtest.Buttons(page), page)
	}
	e.waitHooks()
	var seen []string
	for _, h := range e.hooks.Got() {
		p := payloadOf(t, h.Body)
		seen = append(seen, p.Type+" "+p.Data.Status)
	}
	slices.Sort(seen)
	if !slices.Equal(seen, []string{
		"VERIFICATION.IDENTITY_DOCUMENT_CHANGE STARTED",
		"VERIFICATION.STATUS_CHANGE REVIEW",
		"VERIFICATION.STATUS_CHANGE STARTED",
		"VERIFICATION.STATUS_CHANGE USER_DATA_COLLECTED",
	}) {
		t.Fatalf("webhooks %q", seen)
	}

	st, page = e.submit(v.URL, "Approve", nil)
	if st != http.StatusOK || e.get(v.ID).Status != "APPROVED" || len(simtest.Forms(page)) != 0 {
		t.Fatalf("after approve: %d %q", st, simtest.Buttons(page))
	}
	if !strings.Contains(page, `href="`+v.SuccessURL+`"`) || strings.Contains(page, v.ErrorURL) || !strings.Contains(page, "Approved") {
		t.Fatalf("approved page:\n%s", page)
	}
	checkNoScript(t, page)
}

func TestHostedPageDecline(t *testing.T) {
	e := setup(t, pawapasssim.Options{})
	v := e.create()
	for range 2 {
		_, err := e.sim.Advance(v.ID)
		e.must(err)
	}
	_, _, page := e.page(v.URL)
	if !slices.Equal(simtest.Buttons(page), []string{"Approve", "Decline"}) {
		t.Fatalf("buttons %q", simtest.Buttons(page))
	}
	st, page := e.submit(v.URL, "Decline", map[string]string{"reason": "DOCUMENT_VALIDITY"})
	got := e.get(v.ID)
	if st != http.StatusOK || got.Status != "DECLINED" || got.ReviewResult == nil || got.ReviewResult.Reason != "DOCUMENT_VALIDITY" {
		t.Fatalf("%d %+v", st, got)
	}
	if !strings.Contains(page, `href="`+v.ErrorURL+`"`) || strings.Contains(page, v.SuccessURL) || !strings.Contains(page, "DOCUMENT_VALIDITY") {
		t.Fatalf("declined page:\n%s", page)
	}
}

func TestHostedPageRequirements(t *testing.T) {
	e := setup(t, pawapasssim.Options{})
	face := e.create(set("requirements", []any{map[string]any{"type": "FACE_SCAN"}}))
	e.submit(face.URL, "Start verification", nil)
	_, _, page := e.page(face.URL)
	if strings.Contains(page, "Identity document") || !slices.Equal(simtest.Buttons(page), []string{"Scan face"}) {
		t.Fatalf("face only: %q", simtest.Buttons(page))
	}
	e.submit(face.URL, "Scan face", nil)
	if st, _ := e.submit(face.URL, "Submit", nil); st != http.StatusOK || e.get(face.ID).Status != "REVIEW" {
		t.Fatalf("face only submit: %d", st)
	}

	doc := e.create(set("requirements", []any{map[string]any{"type": "DOCUMENT_SCAN"}}))
	e.submit(doc.URL, "Start verification", nil)
	_, _, page = e.page(doc.URL)
	if strings.Contains(page, "<h2>Face</h2>") || !slices.Equal(simtest.Buttons(page), []string{"Scan identity document"}) {
		t.Fatalf("document only: %q", simtest.Buttons(page))
	}
}

func TestHostedPageErrors(t *testing.T) {
	e := setup(t, pawapasssim.Options{})
	v := e.create()

	for _, u := range []string{e.base + "/app/portal-sandbox/nope1234", e.base + "/app/other-company/" + v.ID} {
		st, h, page := e.page(u)
		if st != http.StatusNotFound || !strings.Contains(page, "Verification not found") {
			t.Fatalf("%s: %d", u, st)
		}
		checkPageHeaders(t, h)
		if st, _ := e.post(u, u, url.Values{"step": {"start"}}); st != http.StatusNotFound {
			t.Fatalf("post to %s: %d", u, st)
		}
	}

	_, _, before := e.page(v.URL)
	startForm := simtest.Forms(before)[0]
	e.submit(v.URL, "Start verification", nil)
	// A stale form: the page was out of date.
	if st, page := e.post(v.URL, startForm.Action, startForm.Values); st != http.StatusConflict || !strings.Contains(page, "out of date") {
		t.Fatalf("stale start: %d\n%s", st, page)
	}
	// Submitting before the scans.
	if st, page := e.post(v.URL, startForm.Action, url.Values{"step": {"submit"}}); st != http.StatusConflict || !strings.Contains(page, "Finish every step") {
		t.Fatalf("early submit: %d\n%s", st, page)
	}
	// Unknown step.
	if st, _ := e.post(v.URL, startForm.Action, url.Values{"step": {"hack"}}); st != http.StatusBadRequest {
		t.Fatalf("unknown step: %d", st)
	}
	// Bad input keeps what was typed.
	st, page := e.submit(v.URL, "Scan identity document", map[string]string{"firstName": "Typed Name", "dateOfBirth": "31/12/1990"})
	if st != http.StatusBadRequest || !strings.Contains(page, "date of birth must be a date") || !strings.Contains(page, `value="Typed Name"`) || !strings.Contains(page, `value="31/12/1990"`) {
		t.Fatalf("bad document: %d\n%s", st, page)
	}
	if e.get(v.ID).IdentityDocument != nil {
		t.Fatal("a bad document was kept")
	}
	if st, _ := e.submit(v.URL, "Scan face", map[string]string{"ageEstimation": "OVER_99"}); st != http.StatusBadRequest {
		t.Fatalf("bad age: %d", st)
	}
	// A cross-site form post is refused.
	req, _ := http.NewRequest(http.MethodPost, v.URL, strings.NewReader("step=start"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := e.srv.Client().Do(req)
	e.must(err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site post: %d", resp.StatusCode)
	}

	// Expired: no forms, the error link.
	e.must(e.sim.Expire(v.ID))
	_, _, page = e.page(v.URL)
	if len(simtest.Forms(page)) != 0 || !strings.Contains(page, "Expired") || !strings.Contains(page, `href="`+v.ErrorURL+`"`) {
		t.Fatalf("expired page:\n%s", page)
	}
}

func TestHostedPageEscapes(t *testing.T) {
	e := setup(t, pawapasssim.Options{})
	v := e.create(set("successUrl", `https://portal.example/done?a=1&b="><script>x</script>`))
	e.submit(v.URL, "Start verification", nil)
	e.submit(v.URL, "Scan identity document", map[string]string{"firstName": `<script>alert(1)</script>`, "lastName": `"><img src=x>`})
	if d := e.get(v.ID).IdentityDocument; d == nil || d.FirstName != `<script>alert(1)</script>` {
		t.Fatalf("%+v", d)
	}
	e.submit(v.URL, "Scan face", nil)
	e.submit(v.URL, "Submit", nil)
	_, _, page := e.page(v.URL)
	if strings.Contains(page, "<script>") || strings.Contains(page, "<img") {
		t.Fatalf("not escaped:\n%s", page)
	}
	checkNoScript(t, page)
}
