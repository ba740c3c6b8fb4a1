package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"portal/internal/apptest"
	"portal/models"
)

// TestSensitiveStepsAskForAFreshProof: changing a role and closing a
// recharge as not sent ask for the password again once the last proof is
// older than 15 minutes, and go back to the page once given.
func TestSensitiveStepsAskForAFreshProof(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	admin := signInAdmin(t, p)
	op := newStaff(t, p, "oona", models.RoleOperator)
	target := p.CreateUser(t, "target@example.com", "quiet meadow five", models.RoleSupport)
	now := p.Clock.Now().UTC()
	recharge := models.Recharge{IdempotencyKey: "reauth", DeviceID: "DEV-REAUTH", Amount: decimal.NewFromInt(10), Currency: "KES",
		State: models.RechargeUnknown, CreatedAt: now, UpdatedAt: now}
	if err := p.App.DB.Create(&recharge).Error; err != nil {
		t.Fatal(err)
	}
	rolePath := fmt.Sprintf("/users/%d/role", target.ID)
	notSent := fmt.Sprintf("/recharges/%d/not-sent", recharge.ID)

	// Just signed in: no question asked.
	wantRedirect(t, p.PostForm(t, admin.client, rolePath, url.Values{"role": {"operator"}}), "/users")

	p.Clock.Advance(16 * time.Minute)
	postFrom := func(s staff, path, referer string, form url.Values) *apptest.Response {
		req, err := http.NewRequest(http.MethodPost, p.URL+path, strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", p.URL)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.Header.Set("Referer", p.URL+referer)
		return p.Do(t, s.client, req)
	}
	wantRedirect(t, postFrom(admin, rolePath, "/users", url.Values{"role": {"compliance"}}), "/reauth?next=%2Fusers")
	if got := userByID(t, p, target.ID); got.Role != models.RoleOperator {
		t.Fatalf("the role changed without a fresh proof: %s", got.Role)
	}
	wantRedirect(t, postFrom(op, notSent, fmt.Sprintf("/recharges/%d", recharge.ID), url.Values{"note": {"checked with 1flow"}}),
		fmt.Sprintf("/reauth?next=%%2Frecharges%%2F%d", recharge.ID))

	page := p.Get(t, op.client, fmt.Sprintf("/reauth?next=/recharges/%d", recharge.ID))
	wantStatus(t, page, http.StatusOK)
	wantStatus(t, p.PostForm(t, op.client, "/reauth", url.Values{"secret": {"not my password"}, "next": {"/recharges"}}), http.StatusUnprocessableEntity)
	wantRedirect(t, p.PostForm(t, op.client, "/reauth", url.Values{"secret": {op.password}, "next": {fmt.Sprintf("/recharges/%d", recharge.ID)}}),
		fmt.Sprintf("/recharges/%d", recharge.ID))
	// Now the step goes through.
	wantRedirect(t, postFrom(op, notSent, fmt.Sprintf("/recharges/%d", recharge.ID), url.Values{"note": {"checked with 1flow"}}),
		fmt.Sprintf("/recharges/%d", recharge.ID))
	var after models.Recharge
	if err := p.App.DB.Take(&after, recharge.ID).Error; err != nil || after.State == models.RechargeUnknown {
		t.Errorf("after the fresh proof the recharge is still %s (%v)", after.State, err)
	}
	// An off-site next is not followed.
	wantRedirect(t, p.PostForm(t, admin.client, "/reauth", url.Values{"secret": {admin.password}, "next": {"//evil.example/"}}), "/")
	wantRedirect(t, postFrom(admin, rolePath, "/users", url.Values{"role": {"compliance"}}), "/users")

	// The portrait route asks too (the verification page offers the step
	// instead of broken images).
	p.Clock.Advance(16 * time.Minute)
	resp := p.Get(t, admin.client, "/verifications/1/images/portrait")
	wantRedirect(t, resp, "/reauth?next="+url.QueryEscape("/verifications/1/images/portrait"))
}

// TestReauthRoutesArePinned keeps the four sensitive steps behind a fresh
// proof.
func TestReauthRoutesArePinned(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	policy := p.App.Server.Policy()
	for _, r := range []string{"POST /documents/:id/signees/:sid/reveal", "GET /verifications/:id/images/:kind",
		"POST /users/:id/role", "POST /recharges/:id/not-sent", "POST /users/:id/two-factor/reset"} {
		if a, ok := policy[r]; !ok || !a.Reauth {
			t.Errorf("%s: rule %+v (registered %v), want a fresh proof", r, a, ok)
		}
	}
}
