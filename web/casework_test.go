package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"portal/internal/apptest"
	"portal/models"
)

// seedCompletedDocument adds a document pasby finished ago before the
// portal's now, straight into the database: the casework does not care how
// it got there.
func seedCompletedDocument(t *testing.T, p *apptest.Portal, title string, ago time.Duration) uint {
	t.Helper()
	done := p.Clock.Now().UTC().Add(-ago)
	d := models.Document{Reference: fmt.Sprintf("case-%s-%d", strings.ReplaceAll(title, " ", "-"), done.UnixNano()), Kind: models.DocumentKindSimple,
		Title: title, FileURL: "https://files.example.com/a.pdf", State: models.DocumentCompleted,
		CreatedAt: done.Add(-time.Hour), UpdatedAt: done, CompletedAt: &done}
	if err := p.App.DB.Create(&d).Error; err != nil {
		t.Fatal(err)
	}
	return d.ID
}

// TestTwoOfficersWorkACaseWithFourEyes: one officer takes the oldest case,
// another cannot decide it; a flag with a reason waits for a second
// officer, whom the first cannot stand in for; the target marks what waited
// too long, on the queue and the dashboard.
func TestTwoOfficersWorkACaseWithFourEyes(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	ann := newStaff(t, p, "ann", models.RoleCompliance)
	bob := newStaff(t, p, "bob", models.RoleCompliance)
	late := seedCompletedDocument(t, p, "Borehole lease", 30*time.Hour)
	fresh := seedCompletedDocument(t, p, "Kiosk agreement", time.Hour)
	path := fmt.Sprintf("/documents/%d", late)

	queue := p.Get(t, ann.client, "/reviews/documents")
	wantStatus(t, queue, http.StatusOK)
	if !strings.Contains(queue.Body, "Borehole lease") || !strings.Contains(queue.Body, "past target") || !strings.Contains(queue.Body, "Take next case") {
		t.Fatalf("queue without the late case, its marking or the take button:\n%s", clip(queue.Body))
	}
	wantRedirect(t, p.PostForm(t, ann.client, "/reviews/documents/next", nil), path+"#review")
	wantRedirect(t, p.PostForm(t, bob.client, "/reviews/documents/next", nil), fmt.Sprintf("/documents/%d#review", fresh))
	if page := p.Get(t, bob.client, path); !strings.Contains(page.Body, "Assigned to ann@example.com") {
		t.Errorf("bob does not see who has the case:\n%s", clip(page.Body))
	}
	for who, want := range map[string][]uint{"mine": {late}, "unassigned": nil} {
		body := p.Get(t, ann.client, "/reviews/documents?who="+who).Body
		for _, id := range []uint{late, fresh} {
			has := strings.Contains(body, fmt.Sprintf(`href="/documents/%d"`, id))
			if has != (len(want) > 0 && want[0] == id) {
				t.Errorf("%s queue: document %d shown = %t", who, id, has)
			}
		}
	}

	// Bob cannot decide Ann's case.
	wantRedirect(t, p.PostForm(t, bob.client, path+"/review", url.Values{"decision": {"approved"}}), path+"#review")
	if d := docGet(t, p, late); d.ReviewDecision != models.ReviewNone {
		t.Fatalf("bob decided ann's case: %s", d.ReviewDecision)
	}
	// "Other" needs a note.
	bad := p.PostForm(t, ann.client, path+"/review", url.Values{"decision": {"flagged"}, "reason": {"other"}})
	wantStatus(t, bad, http.StatusUnprocessableEntity)
	if !strings.Contains(bad.Body, "needs a note") {
		t.Errorf("other without a note: no message:\n%s", clip(bad.Body))
	}
	wantRedirect(t, p.PostForm(t, ann.client, path+"/review", url.Values{"decision": {"flagged"}, "reason": {"signer_mismatch"},
		"note": {"the second signer is not the tenant"}, "then": {"stay"}}), path+"#review")
	second := p.Get(t, bob.client, "/reviews/documents?tab=second")
	if !strings.Contains(second.Body, "Borehole lease") || !strings.Contains(second.Body, "Signer doesn") {
		t.Errorf("second-review tab lacks the flagged case and its reason:\n%s", clip(second.Body))
	}
	// Ann cannot confirm her own decision.
	own := p.PostForm(t, ann.client, path+"/second-review", url.Values{"outcome": {"confirmed"}})
	wantStatus(t, own, http.StatusForbidden)
	if !strings.Contains(own.Body, "another compliance officer") {
		t.Errorf("403 without a reason a person can act on:\n%s", clip(own.Body))
	}
	wantRedirect(t, p.PostForm(t, bob.client, path+"/second-review", url.Values{"outcome": {"confirmed"}}), "/reviews/documents?tab=second")
	if d := docGet(t, p, late); d.ReviewDecision != models.ReviewFlagged || d.ComplianceReason != "signer_mismatch" {
		t.Errorf("after the second review: %s/%s", d.ReviewDecision, d.ComplianceReason)
	}
	// The lists filter by reason and export it.
	list := p.Get(t, ann.client, "/documents?reason=signer_mismatch")
	if !strings.Contains(list.Body, fmt.Sprintf(`href="/documents/%d"`, late)) || strings.Contains(list.Body, fmt.Sprintf(`href="/documents/%d"`, fresh)) {
		t.Errorf("the reason filter does not keep exactly the flagged document:\n%s", clip(list.Body))
	}
	wantStatus(t, p.Get(t, ann.client, "/documents?reason=bogus"), http.StatusUnprocessableEntity)
	export := p.Get(t, ann.client, "/documents/export?reason=signer_mismatch")
	if !strings.Contains(export.Body, "compliance_reason") || !strings.Contains(export.Body, ",signer_mismatch,") {
		t.Errorf("the export lacks the reason:\n%s", clip(export.Body))
	}
	page := p.Get(t, ann.client, path)
	for _, want := range []string{"First decision", "Second review", "confirmed", "bob@example.com", "Signer doesn"} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("the case page does not show %q", want)
		}
	}
	var actions []string
	p.App.DB.Model(&models.AuditEvent{}).Where("subject = ?", fmt.Sprintf("document:%d", late)).Order("id").Pluck("action", &actions)
	if strings.Join(actions, " ") != "case.taken document.reviewed case.confirmed" {
		t.Errorf("audit of the case: %v", actions)
	}

	// The dashboard counts what waits past the target: the fresh case
	// once the clock passes it.
	dash := p.Get(t, ann.client, "/")
	if !strings.Contains(dash.Body, "Documents past the review target") {
		t.Fatalf("no late-case tile on the dashboard:\n%s", clip(dash.Body))
	}
	p.Clock.Advance(24 * time.Hour)
	p.Login(t, bob.client, bob.user.Email, bob.password) // a day signs anyone out
	if body := p.Get(t, bob.client, "/reviews/documents?who=mine").Body; !strings.Contains(body, "past target") {
		t.Errorf("a day on, bob's case is not marked past the target:\n%s", clip(body))
	}
}

// TestReviewQueuesSortFromTheHeading: the waiting tab sorts by how long
// cases have waited, the second-review tab by when the first decision was
// made, both ways, the order kept by the whose-cases links.
func TestReviewQueuesSortFromTheHeading(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	ann := newStaff(t, p, "ann", models.RoleCompliance)
	oldest := seedCompletedDocument(t, p, "Borehole lease", 30*time.Hour)
	middle := seedCompletedDocument(t, p, "Kiosk agreement", 3*time.Hour)
	newest := seedCompletedDocument(t, p, "Pump service", time.Hour)
	order := regexp.MustCompile(`<td><a href="/documents/(\d+)">`)
	listed := func(path string) string {
		t.Helper()
		resp := p.Get(t, ann.client, path)
		wantStatus(t, resp, http.StatusOK)
		var ids []string
		for _, m := range order.FindAllStringSubmatch(resp.Body, -1) {
			ids = append(ids, m[1])
		}
		return strings.Join(ids, " ")
	}
	ids := func(ids ...uint) string {
		var out []string
		for _, id := range ids {
			out = append(out, fmt.Sprint(id))
		}
		return strings.Join(out, " ")
	}
	for path, want := range map[string]string{
		"/reviews/documents":                          ids(oldest, middle, newest),
		"/reviews/documents?sort=-wait":               ids(oldest, middle, newest),
		"/reviews/documents?sort=wait":                ids(newest, middle, oldest),
		"/reviews/documents?who=unassigned&sort=wait": ids(newest, middle, oldest),
	} {
		if got := listed(path); got != want {
			t.Errorf("GET %s lists %s, want %s", path, got, want)
		}
	}
	resp := p.Get(t, ann.client, "/reviews/documents?who=unassigned")
	if !strings.Contains(resp.Body, `<th class="" aria-sort="descending"><a class="sort-link" href="/reviews/documents?sort=wait&amp;who=unassigned">Waiting`) ||
		strings.Count(resp.Body, "aria-sort=") != 1 {
		t.Errorf("the Waiting heading does not say longest first and link the other way:\n%s", clip(resp.Body))
	}
	resp = p.Get(t, ann.client, "/reviews/documents?sort=wait")
	if !strings.Contains(resp.Body, `aria-sort="ascending"><a class="sort-link" href="/reviews/documents?sort=-wait&amp;who=all">Waiting`) {
		t.Error("sorted newest first, the Waiting heading does not say so")
	}
	if !strings.Contains(resp.Body, `href="/reviews/documents?sort=wait&amp;who=mine"`) {
		t.Error("the whose-cases links do not keep the order")
	}
	// Newest first still tells the oldest wait, of the case shown last.
	oldestWait := regexp.MustCompile(`Oldest wait: <strong>([^<]*)</strong>`)
	sorted, plain := oldestWait.FindStringSubmatch(resp.Body), oldestWait.FindStringSubmatch(p.Get(t, ann.client, "/reviews/documents").Body)
	if sorted == nil || plain == nil || sorted[1] != plain[1] {
		t.Errorf("newest first, the oldest wait is %q; oldest first, %q", sorted, plain)
	}

	// Flag two, the newer first: the second-review tab goes by decision.
	for _, id := range []uint{newest, oldest} {
		path := fmt.Sprintf("/documents/%d/review", id)
		wantRedirect(t, p.PostForm(t, ann.client, path, url.Values{"decision": {"flagged"}, "reason": {"signer_mismatch"}, "then": {"stay"}}),
			fmt.Sprintf("/documents/%d#review", id))
		p.Clock.Advance(time.Minute)
	}
	for path, want := range map[string]string{
		"/reviews/documents?tab=second":               ids(newest, oldest),
		"/reviews/documents?tab=second&sort=decided":  ids(newest, oldest),
		"/reviews/documents?tab=second&sort=-decided": ids(oldest, newest),
	} {
		if got := listed(path); got != want {
			t.Errorf("GET %s lists %s, want %s", path, got, want)
		}
	}
	resp = p.Get(t, ann.client, "/reviews/documents?tab=second")
	if !strings.Contains(resp.Body, `aria-sort="ascending"><a class="sort-link" href="/reviews/documents?sort=-decided&amp;tab=second">Decided`) {
		t.Errorf("the Decided heading does not say oldest first and link the other way:\n%s", clip(resp.Body))
	}
	for _, q := range []string{"sort=decided", "tab=second&sort=wait", "sort=assignee"} {
		resp := p.Get(t, ann.client, "/reviews/documents?"+q)
		wantStatus(t, resp, http.StatusUnprocessableEntity)
		if !strings.Contains(resp.Body, `id="e-sort"`) {
			t.Errorf("GET /reviews/documents?%s: no message about the order", q)
		}
	}
}
