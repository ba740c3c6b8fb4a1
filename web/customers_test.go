package web_test

import (
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"portal/internal/apptest"
	"portal/models"
	"portal/services/sandbox"
	"portal/services/sandbox/oneflowsim"
)

// Every kind of key resolves: one match opens it, several are grouped,
// none says what to try.
func TestSearchResolvesEveryKindOfKey(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	op := newStaff(t, p, "searchop", models.RoleOperator)
	sup := newStaff(t, p, "searchsup", models.RoleSupport)

	docID := docCreate(t, p, op, docReviewForm())
	doc := docGet(t, p, docID)
	verID := verCreate(t, p, op, pawaForm())
	ver := verGet(t, p, verID)
	prID := verCreate(t, p, op, url.Values{"provider": {"passportreader"}})
	pr := verGet(t, p, prID)

	cases := []struct {
		name, q, wantLocation string
		wantStatus            int
		wantBody              string
	}{
		{"phone, local format", "0971 234 567", "", http.StatusOK, "not a phone number"}, // Zambian number without its code
		{"phone, E.164", "+260 97 123 4567", "/customers/+260971234567", http.StatusSeeOther, ""},
		{"NIN of a signer", docNIN1, "/customers/nin:" + docNIN1, http.StatusSeeOther, ""},
		{"NIN nobody has", "98765432109", "", http.StatusOK, "No document has a signer with this NIN"},
		{"pasby id", *doc.UpstreamID, "/documents/" + strconv.FormatUint(uint64(docID), 10), http.StatusSeeOther, ""},
		{"document reference", doc.Reference, "/documents/" + strconv.FormatUint(uint64(docID), 10), http.StatusSeeOther, ""},
		{"pawaPass id", *ver.UpstreamID, "/verifications/" + strconv.FormatUint(uint64(verID), 10), http.StatusSeeOther, ""},
		{"PassportReader session id", *pr.UpstreamID, "/verifications/" + strconv.FormatUint(uint64(prID), 10), http.StatusSeeOther, ""},
		{"external id", "cust-0042", "/verifications/" + strconv.FormatUint(uint64(verID), 10), http.StatusSeeOther, ""},
		{"partial pasby id", (*doc.UpstreamID)[:12], "/documents/" + strconv.FormatUint(uint64(docID), 10), http.StatusSeeOther, ""},
		{"flow id", "req_1700000000-ab12", "", http.StatusOK, "pasby flow id"},
		{"nothing", "zzzz-nothing-here", "", http.StatusOK, "Try the customer"},
		{"too short", "ab", "", http.StatusUnprocessableEntity, "at least 3"},
	}
	for _, c := range cases {
		resp := p.Get(t, sup.client, "/search?"+url.Values{"q": {c.q}}.Encode())
		if resp.StatusCode != c.wantStatus {
			t.Errorf("%s: status %d, want %d:\n%s", c.name, resp.StatusCode, c.wantStatus, clip(resp.Body))
			continue
		}
		if c.wantLocation != "" && resp.Header.Get("Location") != c.wantLocation {
			t.Errorf("%s: Location %q, want %q", c.name, resp.Header.Get("Location"), c.wantLocation)
		}
		if c.wantBody != "" && !strings.Contains(resp.Body, c.wantBody) {
			t.Errorf("%s: page lacks %q:\n%s", c.name, c.wantBody, clip(resp.Body))
		}
	}
	// Two verifications with the same external id: grouped results.
	verCreate(t, p, op, pawaForm())
	resp := p.Get(t, sup.client, "/search?q=cust-0042")
	wantStatus(t, resp, http.StatusOK)
	if strings.Count(resp.Body, `href="/verifications/`) != 2 || !strings.Contains(resp.Body, "Verifications") {
		t.Errorf("two matches are not listed:\n%s", clip(resp.Body))
	}
	// The search box is in every signed-in page's header.
	if !strings.Contains(p.Get(t, sup.client, "/recharges").Body, `action="/search"`) {
		t.Error("no search box in the header")
	}
}

// The customer page puts a customer's records from all three areas
// together, with the 1flow lookup and the actions the role allows.
func TestCustomerPageAllAreas(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	op := newStaff(t, p, "custop", models.RoleOperator)
	sup := newStaff(t, p, "custsup", models.RoleSupport)
	// A verification for the simulator's seeded 1flow customer's phone.
	const custPhone, custName, custDevice = oneflowsim.SeedPhone, oneflowsim.SeedCustomerName, oneflowsim.SeedDeviceID
	form := pawaForm()
	form.Set("country", "")
	form.Set("phone_no", custPhone)
	verID := verCreate(t, p, op, form)
	docID := docCreate(t, p, op, docReviewForm())

	page := p.Get(t, sup.client, "/customers/"+custPhone)
	wantStatus(t, page, http.StatusOK)
	for _, want := range []string{custName, custDevice, "/verifications/" + strconv.FormatUint(uint64(verID), 10),
		`hx-get="/customers/` + url.PathEscape(custPhone) + `/records"`, "Recharge"} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("customer page lacks %q", want)
		}
	}
	if strings.Contains(page.Body, "New verification") {
		t.Error("support is offered to start a verification")
	}
	if !strings.Contains(p.Get(t, op.client, "/customers/"+custPhone).Body, "/verifications/new?phone_no=") {
		t.Error("operator is not offered a prefilled verification")
	}
	frag := p.Get(t, sup.client, "/customers/"+url.PathEscape(custPhone)+"/records")
	wantStatus(t, frag, http.StatusOK)
	if !strings.Contains(frag.Body, `id="customer-records"`) {
		t.Error("records fragment missing")
	}

	// By NIN: the documents where they sign, masked.
	ninPage := p.Get(t, sup.client, "/customers/nin:"+docNIN1)
	wantStatus(t, ninPage, http.StatusOK)
	if !strings.Contains(ninPage.Body, "/documents/"+strconv.FormatUint(uint64(docID), 10)) {
		t.Error("NIN page lacks the document")
	}
	if !strings.Contains(p.Get(t, op.client, "/customers/nin:"+docNIN1).Body, "/documents/new?nins="+docNIN1) {
		t.Error("operator is not offered a prefilled signing request")
	}

	// 1flow down: the page says so and still shows our records.
	if err := p.App.Sandbox.SetFault("oneflow", "*", sandbox.Fault{Kind: sandbox.FaultStatus, Status: 503}); err != nil {
		t.Fatal(err)
	}
	down := p.Get(t, sup.client, "/customers/"+custPhone)
	wantStatus(t, down, http.StatusOK)
	if !strings.Contains(down.Body, "1flow could not be asked") || !strings.Contains(down.Body, "/verifications/"+strconv.FormatUint(uint64(verID), 10)) {
		t.Errorf("1flow outage not explained, or records lost:\n%s", clip(down.Body))
	}
	wantStatus(t, p.Get(t, sup.client, "/customers/nonsense"), http.StatusNotFound)
}

// The customer lookup (/customers/lookup) asks 1flow: its failures are
// plain words with a status a script can act on.
func TestLookupMalformedAnswerIs502(t *testing.T) {
	t.Parallel()
	p, op := rcStart(t, apptest.Config{})
	rcFault(t, p, rcEPLookup, sandbox.Fault{Kind: sandbox.FaultMalformed})
	resp := p.Get(t, op.client, "/customers/lookup?q=0712345678")
	wantStatus(t, resp, http.StatusBadGateway)
	if !strings.Contains(text(resp.Body), "1flow is not answering properly") {
		t.Errorf("no plain message:\n%s", clip(text(resp.Body)))
	}
	rcNoGoErrors(t, "the lookup page", resp.Body)
	if got := rcHits(t, p, rcEPLookup); got != 1 {
		t.Errorf("a malformed answer was retried: %d lookups, want 1", got)
	}
	// Unavailable lookups (5xx) are 502 too, after the read retries.
	rcFault(t, p, rcEPLookup, sandbox.Fault{Kind: sandbox.FaultStatus, Status: http.StatusServiceUnavailable})
	resp = p.Get(t, op.client, "/customers/lookup?q=0712345678")
	wantStatus(t, resp, http.StatusBadGateway)
	rcNoGoErrors(t, "the lookup page", resp.Body)
	// A number nobody has is a 404 with advice, not an error.
	p.App.Sandbox.ClearAll()
	resp = p.Get(t, op.client, "/customers/lookup?q=0799999999")
	wantStatus(t, resp, http.StatusNotFound)
	if !strings.Contains(text(resp.Body), "No 1flow customer") {
		t.Errorf("unknown phone: %s", clip(text(resp.Body)))
	}
	// Text that is neither a phone nor a device id is a 422 next to q.
	resp = p.Get(t, op.client, "/customers/lookup?q=%3Cscript%3E")
	wantStatus(t, resp, http.StatusUnprocessableEntity)
	if rcFieldError(resp.Body, "q") == "" {
		t.Error("bad lookup text has no message next to the field")
	}
}

func TestLookupByDeviceIDIsAudited(t *testing.T) {
	t.Parallel()
	p, op := rcStart(t, apptest.Config{})
	after := lastAuditID(t, p)
	resp := p.Get(t, op.client, "/customers/lookup?q="+oneflowsim.SeedCardID)
	wantStatus(t, resp, http.StatusOK)
	if !strings.Contains(resp.Body, oneflowsim.SeedCustomerName) {
		t.Fatalf("lookup by card id does not find the owner:\n%s", clip(text(resp.Body)))
	}
	resp = p.Get(t, op.client, "/customers/lookup?q="+oneflowsim.SeedDeviceID)
	wantStatus(t, resp, http.StatusOK)
	if !strings.Contains(resp.Body, oneflowsim.SeedCustomerName) {
		t.Fatalf("lookup by device id does not find the owner:\n%s", clip(text(resp.Body)))
	}
	// The card's Recharge link opens a card recharge.
	if !strings.Contains(html.UnescapeString(resp.Body), "/recharges/new?card_id="+oneflowsim.SeedCardID) {
		t.Error("the card has no Recharge link with card_id")
	}
	var found int
	for _, ev := range auditAfter(t, p, after) {
		if ev.Action == "customer.lookup" && ev.ActorEmail == op.user.Email {
			found++
		}
	}
	if found != 2 {
		t.Errorf("%d customer.lookup audit events by %s, want 2", found, op.user.Email)
	}
}
