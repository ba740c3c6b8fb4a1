package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"portal/internal/apptest"
	"portal/models"
)

// TestBulkActionsJourney: an admin ticks every document on the page with
// the heading's box, refreshes them in one go and watches the job finish
// with a report of the ones that could not be refreshed; then gives two
// signed documents to a reviewer from the "every one matching" page.
func TestBulkActionsJourney(t *testing.T) {
	p := apptest.Start(t, apptest.Config{})
	ann := p.CreateUser(t, "ann.reviewer@example.com", "amber ledger fourteen", models.RoleCompliance)
	done := p.Clock.Now().UTC().Add(-2 * time.Hour)
	var signed []uint
	for i, state := range []models.DocumentState{models.DocumentCompleted, models.DocumentCompleted, models.DocumentFailed, models.DocumentCancelled} {
		d := models.Document{Reference: fmt.Sprintf("bulk-journey-%d", i), Kind: models.DocumentKindReview, Title: fmt.Sprintf("Kiosk lease %d", i+1),
			FileURL: "https://files.example.com/lease.pdf", State: state}
		if state == models.DocumentCompleted {
			d.CompletedAt = &done
		}
		if err := p.App.DB.Create(&d).Error; err != nil {
			t.Fatal(err)
		}
		if state == models.DocumentCompleted {
			signed = append(signed, d.ID)
		}
	}

	ctx, cancel := context.WithTimeout(t.Context(), journeyTimeout)
	defer cancel()
	b := startBrowser(t, ctx)
	signIn(b, p, apptest.AdminEmail, apptest.AdminPassword)
	b.step("open the documents and tick the whole page",
		chromedp.Navigate(p.URL+"/documents"),
		chromedp.WaitVisible(chromedp.CSS(`input[data-select-all="bulk-documents"]`)),
		chromedp.Click(chromedp.CSS(`input[data-select-all="bulk-documents"]`)),
	)
	if n := eval[int](b, `document.querySelectorAll('input[name=id][form="bulk-documents"]:checked').length`); n != 4 {
		t.Fatalf("%d rows ticked by the heading's box, want 4", n)
	}
	if got := b.text(`[data-selected-count="bulk-documents"]`); got != "4 selected:" {
		t.Errorf("the bar says %q, want the count", got)
	}
	b.screenshot("bulk-documents-selected.png")
	b.step("refresh the selection",
		chromedp.Click(chromedp.CSS(`#bulk-documents button[value="refresh"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#bulk-status`)),
	)
	b.step("wait for it to finish",
		chromedp.Poll[chromedp.Void](`document.querySelector("#bulk-status") && document.querySelector("#bulk-status").textContent.includes("Finished")`),
	)
	if text := b.text("#bulk-status"); !strings.Contains(text, "Finished") || !strings.Contains(text, "4 of 4 done: 0 succeeded, 4 did not") {
		t.Errorf("job report %q", text)
	}
	b.screenshot("bulk-refresh-report.png")

	b.step("open every signed review document matching",
		chromedp.Navigate(p.URL+"/documents?state=completed"),
		chromedp.WaitVisible(chromedp.CSS(`#bulk-documents`)),
		chromedp.Click(chromedp.CSS(`#bulk-documents a[href="/documents/bulk?state=completed"]`)),
		chromedp.WaitVisible(chromedp.CSS(`main form select[name="assignee_id"]`)),
	)
	if text := b.text("main .card"); !strings.Contains(text, "2 documents match state completed") {
		t.Errorf("confirmation %q", text)
	}
	b.step("assign them to ann",
		chromedp.SetValue(chromedp.CSS(`main form select[name="assignee_id"]`), fmt.Sprint(ann.ID)),
	)
	b.screenshot("bulk-assign-matching.png")
	b.step("confirm",
		chromedp.Click(chromedp.CSS(`main form button[value="assign"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#bulk-status`)),
	)
	b.step("wait for it to finish",
		chromedp.Poll[chromedp.Void](`document.querySelector("#bulk-status") && document.querySelector("#bulk-status").textContent.includes("Finished")`),
	)
	if text := b.text("#bulk-status"); !strings.Contains(text, "2 of 2 done: 2 succeeded, 0 did not") {
		t.Errorf("assign report %q", text)
	}
	for _, id := range signed {
		var c models.ReviewCase
		if err := p.App.DB.Where("kind = ? AND record_id = ?", models.CaseDocument, id).Take(&c).Error; err != nil || c.AssigneeEmail != ann.Email {
			t.Errorf("document %d's case %+v (%v), want it with ann", id, c, err)
		}
	}
	b.screenshot("bulk-assign-report.png")
}
