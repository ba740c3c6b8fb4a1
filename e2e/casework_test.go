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

// TestFourEyesReviewJourney: two compliance officers, each in their own
// browser. Amara takes the next verification and flags it with a reason;
// it waits under "Awaiting second review", where she cannot confirm it;
// Bayo confirms it.
func TestFourEyesReviewJourney(t *testing.T) {
	p := apptest.Start(t, apptest.Config{})
	const (
		amaraEmail, amaraPassword = "amara.okafor@example.com", "amber ledger fourteen"
		bayoEmail, bayoPassword   = "bayo.sanni@example.com", "cobalt harbour nine"
	)
	p.CreateUser(t, amaraEmail, amaraPassword, models.RoleCompliance)
	p.CreateUser(t, bayoEmail, bayoPassword, models.RoleCompliance)
	done := p.Clock.Now().UTC().Add(-26 * time.Hour)
	v := models.Verification{Provider: models.ProviderPawaPass, Reference: "four-eyes-journey", State: models.VerificationApproved,
		CustomerPhone: "+260971234567", Country: "ZM", GivenNames: "Chanda", Surname: "Mwale", DocumentType: "NATIONAL_ID",
		DocumentNumber: "Z80932055", CreatedAt: done.Add(-time.Hour), UpdatedAt: done, CompletedAt: &done}
	if err := p.App.DB.Create(&v).Error; err != nil {
		t.Fatal(err)
	}
	later := v
	later.ID, later.Reference, later.GivenNames, later.DocumentNumber = 0, "four-eyes-journey-2", "Mutale", "Z80932056"
	if err := p.App.DB.Create(&later).Error; err != nil {
		t.Fatal(err)
	}
	casePath := fmt.Sprintf("/verifications/%d", v.ID)

	ctx, cancel := context.WithTimeout(t.Context(), journeyTimeout)
	defer cancel()
	amara := startBrowser(t, ctx)
	signIn(amara, p, amaraEmail, amaraPassword)
	amara.step("open the verification queue",
		chromedp.Navigate(p.URL+"/reviews/verifications"),
		chromedp.WaitVisible(chromedp.CSS(`#case-queue`)),
	)
	if row := amara.text("#case-queue tbody tr"); !strings.Contains(row, "Chanda Mwale") || !strings.Contains(row, "past target") {
		t.Errorf("queue row %q, want the customer and the late marking", row)
	}
	amara.step("take the next case",
		chromedp.Click(chromedp.CSS(`form[action="/reviews/verifications/next"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`#case-decision select[name="reason"]`)),
	)
	if loc := amara.location(); !strings.HasSuffix(loc, casePath+"#review") {
		t.Errorf("take next opened %s, want %s", loc, casePath)
	}
	if got := amara.text(`#review [data-case-stage]`); !strings.Contains(got, "You have this case") {
		t.Errorf("case line %q, want that she has it", got)
	}
	amara.step("flag it with a reason",
		chromedp.SetValue(chromedp.CSS(`#case-decision select[name="decision"]`), "flagged"),
		chromedp.SetValue(chromedp.CSS(`#case-decision select[name="reason"]`), "data_mismatch"),
		chromedp.SendKeys(chromedp.CSS(`#case-decision input[name="note"]`), "The date of birth differs from the customer file"),
		chromedp.ScrollIntoView(chromedp.CSS("#review")),
	)
	amara.screenshot("casework-case-with-reasons.png")
	amara.step("record it",
		chromedp.Click(chromedp.CSS(`#case-decision button[value="stay"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#review [data-case-stage="second_review"]`)),
	)
	if n := eval[int](amara, `document.querySelectorAll("#case-second").length`); n != 0 {
		t.Errorf("the officer who decided is offered the second review (%d forms)", n)
	}

	bayo := startBrowser(t, ctx)
	signIn(bayo, p, bayoEmail, bayoPassword)
	bayo.step("open the second-review tab",
		chromedp.Navigate(p.URL+"/reviews/verifications"),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/reviews/verifications?tab=second"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/reviews/verifications?tab=second"]`)),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#case-queue a[href="%s"]`, casePath))),
	)
	if row := bayo.text("#case-queue tbody tr"); !strings.Contains(row, "flagged") || !strings.Contains(row, "Details don't match") || !strings.Contains(row, amaraEmail) {
		t.Errorf("second-review row %q, want the decision, its reason and who made it", row)
	}
	bayo.screenshot("casework-second-review-tab.png")
	bayo.step("confirm it",
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#case-queue a[href="%s"]`, casePath))),
		chromedp.WaitVisible(chromedp.CSS(`#case-second select[name="outcome"]`)),
		chromedp.SetValue(chromedp.CSS(`#case-second select[name="outcome"]`), "confirmed"),
		chromedp.Click(chromedp.CSS(`#case-second button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("main .flash.flash-success")),
	)
	var got models.Verification
	if err := p.App.DB.Take(&got, v.ID).Error; err != nil || got.ReviewDecision != models.ReviewFlagged || got.ComplianceReason != "data_mismatch" {
		t.Errorf("stored decision %s/%s (%v), want flagged for data_mismatch", got.ReviewDecision, got.ComplianceReason, err)
	}
	amara.step("the case is closed for her too",
		chromedp.Navigate(p.URL+casePath),
		chromedp.WaitVisible(chromedp.CSS(`#review [data-case-stage="closed"]`)),
	)
	if text := amara.text("#review"); !strings.Contains(text, bayoEmail) || !strings.Contains(text, "confirmed") {
		t.Errorf("closed case %q does not show the second review", text)
	}
	bayo.step("bayo takes the next one",
		chromedp.Navigate(p.URL+"/reviews/verifications"),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/reviews/verifications/next"] button`)),
		chromedp.Click(chromedp.CSS(`form[action="/reviews/verifications/next"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`#case-decision`)),
	)
	amara.step("the queue shows who has it",
		chromedp.Navigate(p.URL+"/reviews/verifications?who=all"),
		chromedp.WaitVisible(chromedp.CSS("#case-queue")),
	)
	if row := amara.text("#case-queue tbody tr"); !strings.Contains(row, "Mutale") || !strings.Contains(row, bayoEmail) {
		t.Errorf("queue row %q, want the second case and that bayo has it", row)
	}
	amara.screenshot("casework-queue.png")
}
