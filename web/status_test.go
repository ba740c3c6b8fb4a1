package web_test

import (
	"html"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"portal/internal/apptest"
	"portal/models"
	"portal/services/sandbox/oneflowsim"
	"portal/templates"
)

// seenVersion matches the version a polling fragment reports (in its
// hx-headers, once the attribute is unescaped).
var seenVersion = regexp.MustCompile(`"` + templates.StatusSeenHeader + `":"([0-9a-f]*)"`)

// pollStatus fetches a status fragment as htmx does, reporting seen.
func pollStatus(t *testing.T, p *apptest.Portal, s staff, path, seen string) *apptest.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, p.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("HX-Request", "true")
	if seen != "" {
		req.Header.Set(templates.StatusSeenHeader, seen)
	}
	return p.Do(t, s.client, req)
}

// TestStatusPollsAreQuietUntilSomethingChanges: an open record's page
// embeds its status fragment inside a live region that stays, and the
// fragment reports which version it shows; a poll that reports the current
// version gets 204 (htmx swaps nothing, so screen readers hear nothing), a
// stale or missing one gets the fragment with its new version.
func TestStatusPollsAreQuietUntilSomethingChanges(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	op := newStaff(t, p, "statusop", models.RoleOperator)
	id := func(n uint) string { return strconv.FormatUint(uint64(n), 10) }
	records := []struct{ kind, path, statusID string }{}
	rc := rcCreate(t, p, op.client, rcDevice(oneflowsim.SeedDeviceID), "100")
	records = append(records, struct{ kind, path, statusID string }{"recharge", "/recharges/" + id(rc), "recharge-status-" + id(rc)})
	doc := docCreate(t, p, op, docReviewForm())
	records = append(records, struct{ kind, path, statusID string }{"document", "/documents/" + id(doc), "document-status-" + id(doc)})
	ver := verCreate(t, p, op, pawaForm())
	records = append(records, struct{ kind, path, statusID string }{"verification", "/verifications/" + id(ver), "verification-status-" + id(ver)})

	for _, r := range records {
		t.Run(r.kind, func(t *testing.T) {
			page := p.Get(t, op.client, r.path)
			wantStatus(t, page, http.StatusOK)
			if !strings.Contains(page.Body, `<div class="live-status" aria-live="polite"><div id="`+r.statusID+`"`) {
				t.Errorf("the page does not embed #%s in a live region that outlives it:\n%s", r.statusID, clip(page.Body))
			}
			frag := pollStatus(t, p, op, r.path+"/status", "")
			wantStatus(t, frag, http.StatusOK)
			if strings.Contains(frag.Body, "aria-live") {
				t.Errorf("the fragment is a live region itself: a swapped region is a new one, and is not announced")
			}
			if !strings.Contains(frag.Body, `hx-trigger="every 2s"`) {
				t.Fatalf("the %s is final already; the test needs an open one:\n%s", r.kind, clip(frag.Body))
			}
			// The background workers may still move the record between two
			// reads; what matters is that a poll of what the page shows is
			// quiet once it holds still.
			quiet := false
			for range 20 {
				page := p.Get(t, op.client, r.path)
				m := seenVersion.FindStringSubmatch(html.UnescapeString(page.Body))
				if m == nil || m[1] == "" {
					t.Fatalf("the page's polling fragment reports no version:\n%s", clip(page.Body))
				}
				resp := pollStatus(t, p, op, r.path+"/status", m[1])
				if resp.StatusCode == http.StatusNoContent {
					if resp.Body != "" {
						t.Errorf("204 with a body: %q", resp.Body)
					}
					quiet = true
					break
				}
				wantStatus(t, resp, http.StatusOK)
			}
			if !quiet {
				t.Errorf("a poll reporting the version the page shows never got 204")
			}
			stale := pollStatus(t, p, op, r.path+"/status", "0123456789abcdef01234567")
			wantStatus(t, stale, http.StatusOK)
			m := seenVersion.FindStringSubmatch(html.UnescapeString(stale.Body))
			if m == nil || m[1] == "" || !strings.Contains(stale.Body, `id="`+r.statusID+`"`) {
				t.Errorf("a stale poll did not get the fragment with its version:\n%s", clip(stale.Body))
			}
		})
	}
}
