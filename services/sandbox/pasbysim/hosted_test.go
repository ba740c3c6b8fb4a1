package pasbysim_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"portal/services/sandbox/pasbysim"
	"portal/services/sandbox/simtest"
)

// page GETs an absolute URL (the hosted link) and returns status, headers
// and body.
func (e *env) page(u string) (int, http.Header, string) {
	e.t.Helper()
	return simtest.Get(e.t, e.srv.Client(), u)
}

// submit finds the form whose button reads button on the page at pageURL,
// posts it as a browser would (following the 303), and returns the final
// status and body.
func (e *env) submit(pageURL, button string) (int, string) {
	e.t.Helper()
	_, _, html := e.page(pageURL)
	f := simtest.FindForm(e.t, html, button)
	st, _, body := simtest.PostForm(e.t, e.srv.Client(), pageURL, f.Action, f.Values, simtest.SameOrigin(e.srv.URL))
	return st, body
}

func TestHostedPageSigning(t *testing.T) {
	e := setup(t, pasbysim.Options{})
	d, link := e.createReview(jane, john)

	st, h, html := e.page(link)
	if st != http.StatusOK || h.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("page: %d %v", st, h)
	}
	csp := h.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "form-action 'self'") {
		t.Fatalf("CSP %q", csp)
	}
	lower := strings.ToLower(html)
	for _, bad := range []string{"<script", " onclick", " onsubmit", "style=", "<style", "javascript:"} {
		if strings.Contains(lower, bad) {
			t.Fatalf("page contains %q", bad)
		}
	}
	for _, want := range []string{"Partnership Agreement", "Jane Doe", "Acme Ltd", "John Smith", "•••••••8901", "•••••••2109", "Waiting for signatures: 0 of 2 signed."} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// No full NIN anywhere in the page.
	if strings.Contains(html, jane.NIN) || strings.Contains(html, john.NIN) {
		t.Fatal("page shows a full NIN")
	}
	// The stylesheet it links is served.
	css := regexp.MustCompile(`<link rel="stylesheet" href="([^"]+)">`).FindStringSubmatch(html)
	if css == nil || css[1] != "/sandbox/pasby/assets/review.css" {
		t.Fatalf("stylesheet link %v", css)
	}
	if st, h, _ := e.page(e.srv.URL + css[1]); st != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/css") {
		t.Fatalf("stylesheet: %d %v", st, h)
	}

	// Open as Jane: viewing.
	st, html = e.submit(link, "Open as Jane Doe")
	if st != http.StatusOK || !strings.Contains(html, "Jane Doe opened the document.") {
		t.Fatalf("after open: %d\n%s", st, html)
	}
	if p := e.pingDoc(d.ID); p.StatusLog[0].Status != "viewing" || p.StatusLog[1].Status != "stale" {
		t.Fatalf("statusLog %+v", p.StatusLog)
	}
	// Sign as Jane.
	st, html = e.submit(link, "Sign as Jane Doe")
	if st != http.StatusOK || !strings.Contains(html, "Jane Doe signed the document.") || !strings.Contains(html, "1 of 2 signed") {
		t.Fatalf("after sign: %d\n%s", st, html)
	}
	r := e.refresh(d.ID)
	if r.StatusLog[0].Status != "signed" || r.Signee[0].IP != "127.0.0.1" || r.Handled {
		t.Fatalf("refresh %+v", r)
	}
	// Jane has no buttons any more; John still has both.
	_, _, html = e.page(link)
	buttons := simtest.Buttons(html)
	if strings.Join(buttons, "|") != "Open as John Smith|Sign as John Smith" {
		t.Fatalf("buttons %q", buttons)
	}
	// Sign as John straight away (stale → viewing → signed): completed.
	st, html = e.submit(link, "Sign as John Smith")
	if st != http.StatusOK || !strings.Contains(html, "Completed: everyone has signed.") || len(simtest.Forms(html)) != 0 {
		t.Fatalf("after the last signature: %d\n%s", st, html)
	}
	r = e.refresh(d.ID)
	if !r.Handled || r.File.Stamped == "" || len(r.Signatures) != 2 {
		t.Fatalf("refresh %+v", r)
	}
	if !strings.Contains(html, `href="`+r.File.Stamped+`"`) {
		t.Fatal("the completed page does not link the stamped PDF")
	}
	// The stamped PDF is served.
	st, h, pdf := e.page(r.File.Stamped)
	if st != http.StatusOK || h.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(pdf, "%PDF-1.4") ||
		!strings.HasSuffix(pdf, "%%EOF\n") || !strings.Contains(pdf, "Partnership Agreement") || strings.Contains(pdf, jane.NIN) {
		t.Fatalf("stamped PDF: %d %v\n%s", st, h, pdf)
	}
	checkXref(t, []byte(pdf))
	e.waitHooks()
	if n := len(e.hooks.Got()); n != 2 {
		t.Fatalf("%d webhooks, want 2", n)
	}
}

// checkXref checks that every xref offset of a PDF points at its object.
func checkXref(t *testing.T, pdf []byte) {
	t.Helper()
	i := bytes.LastIndex(pdf, []byte("startxref\n"))
	var xref int
	if _, err := fmt.Sscan(string(pdf[i+len("startxref\n"):]), &xref); err != nil || !bytes.HasPrefix(pdf[xref:], []byte("xref\n")) {
		t.Fatalf("startxref %d does not point at the xref table", xref)
	}
	rows := regexp.MustCompile(`(\d{10}) 00000 n `).FindAllSubmatch(pdf[xref:], -1)
	for n, row := range rows {
		off, _ := strconv.Atoi(string(row[1]))
		want := []byte(strconv.Itoa(n+1) + " 0 obj")
		if !bytes.HasPrefix(pdf[off:], want) {
			t.Fatalf("xref row %d points at %q", n+1, pdf[off:off+10])
		}
	}
	if len(rows) != 5 {
		t.Fatalf("%d objects", len(rows))
	}
}

func TestHostedPageStates(t *testing.T) {
	e := setup(t, pasbysim.Options{})

	// Unknown document: 404.
	if st, h, _ := e.page(e.base + "/contract/doc_nope"); st != http.StatusNotFound || h.Get("Content-Security-Policy") == "" {
		t.Fatalf("unknown: %d", st)
	}
	// A simple signing document has no review page: 403 mode mismatch.
	simple := e.createSigning("12345678901")
	if st, _, html := e.page(e.base + "/contract/" + simple.ID); st != http.StatusForbidden || !strings.Contains(html, "Mode mismatch") {
		t.Fatalf("simple: %d %s", st, html)
	}
	resp, err := e.srv.Client().PostForm(e.base+"/contract/"+simple.ID+"/sign", url.Values{"signee": {"0"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("post to a simple document's page: %d", resp.StatusCode)
	}

	// Cancelled: no forms, and a stale form is refused with 409.
	d, link := e.createReview(jane)
	_, _, before := e.page(link)
	if err := e.sim.Cancel(d.ID); err != nil {
		t.Fatal(err)
	}
	_, _, html := e.page(link)
	if !strings.Contains(html, "Cancelled") || len(simtest.Forms(html)) != 0 {
		t.Fatalf("cancelled page:\n%s", html)
	}
	f := simtest.Forms(before)[1]
	resp, err = e.srv.Client().PostForm(e.srv.URL+f.Action, f.Values)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict || !strings.Contains(string(b), "cancelled") {
		t.Fatalf("sign after cancel: %d %s", resp.StatusCode, b)
	}

	// Expired.
	d2, link2 := e.createReview(jane)
	if err := e.sim.Expire(d2.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, html := e.page(link2); !strings.Contains(html, "Expired") || len(simtest.Forms(html)) != 0 {
		t.Fatalf("expired page:\n%s", html)
	}

	// Bad signee positions.
	d3, _ := e.createReview(jane)
	for _, v := range []string{"", "x", "-1", "1", "99999999999999999999"} {
		resp, err := e.srv.Client().PostForm(e.base+"/contract/"+d3.ID+"/sign", url.Values{"signee": {v}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("signee %q: %d", v, resp.StatusCode)
		}
	}
	// The stamped PDF of a document that is not completed is not there.
	if st, _, _ := e.page(e.base + "/edoc/" + d3.ID + "-stamped.pdf"); st != http.StatusNotFound {
		t.Fatalf("stamped of a pending document: %d", st)
	}
}

func TestHostedPageEscapes(t *testing.T) {
	e := setup(t, pasbysim.Options{})
	evil := jane
	evil.Name = `<script>alert(1)</script>`
	evil.Representing = `"><img src=x>`
	_, link := e.createReview(evil)
	_, _, html := e.page(link)
	if strings.Contains(html, "<script>") || strings.Contains(html, "<img") {
		t.Fatalf("not escaped:\n%s", html)
	}
}
