package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"portal/internal/apptest"
	"portal/models"
)

// browserCode is what an authenticator app would show for secret, steps of
// 30 seconds after the portal's now.
func browserCode(t *testing.T, p *apptest.Portal, secret string, steps int64) string {
	t.Helper()
	return apptest.TOTPCode(t, secret, p.Clock.Now().Add(time.Duration(steps)*30*time.Second))
}

// TestTwoFactorJourney: a staff member turns on two-factor sign-in from
// their account page by scanning the QR code (here: reading the key off the
// page), saves their recovery codes, signs out, and signs in again with a
// code computed from that key.
func TestTwoFactorJourney(t *testing.T) {
	p := apptest.Start(t, apptest.Config{})
	const email, password = "tomas@example.com", "granite harbour seventeen"
	p.CreateUser(t, email, password, models.RoleOperator)
	ctx, cancel := context.WithTimeout(t.Context(), journeyTimeout)
	defer cancel()
	b := startBrowser(t, ctx)

	b.step("sign in with the password",
		chromedp.Navigate(p.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS("#f-email")),
		chromedp.SendKeys(chromedp.CSS("#f-email"), email),
		chromedp.SendKeys(chromedp.CSS("#f-password"), password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("main .page-header h1")),
	)
	b.step("open the enrolment page",
		chromedp.Navigate(p.URL+"/account/two-factor"),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/account/two-factor/enrol"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/account/two-factor/enrol"]`)),
		chromedp.WaitVisible(chromedp.CSS("svg.qr")),
	)
	secret := b.text("#totp-secret")
	if len(secret) != 32 {
		t.Fatalf("the enrolment page shows key %q, want 32 base32 characters", secret)
	}
	b.screenshot("two-factor-enrol.png")

	b.step("confirm with the first code",
		chromedp.SendKeys(chromedp.CSS("#f-code"), browserCode(t, p, secret, 0)),
		chromedp.Click(chromedp.CSS(`form[action="/account/two-factor/enrol"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#recovery-codes")),
	)
	if n := eval[int](b, `document.querySelectorAll('#recovery-codes li').length`); n != 10 {
		t.Errorf("%d recovery codes shown, want 10", n)
	}
	b.screenshot("two-factor-recovery-codes.png")

	b.step("sign out",
		chromedp.Navigate(p.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/logout"] button`)),
		chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)),
		chromedp.WaitVisible(chromedp.CSS("#f-email")),
	)
	b.step("sign in: password, then the code page",
		chromedp.SendKeys(chromedp.CSS("#f-email"), email),
		chromedp.SendKeys(chromedp.CSS("#f-password"), password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/login/code"] #f-code`)),
	)
	b.screenshot("two-factor-code.png")
	b.step("a wrong code is refused on the page",
		chromedp.SendKeys(chromedp.CSS("#f-code"), "000000"),
		chromedp.Click(chromedp.CSS(`form[action="/login/code"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/login/code"] .flash-error`)),
	)
	if msg := b.text(`form[action="/login/code"] .flash-error`); !strings.Contains(msg, "wrong or was already used") {
		t.Errorf("wrong-code message %q", msg)
	}
	b.step("the right code signs in",
		chromedp.SendKeys(chromedp.CSS("#f-code"), browserCode(t, p, secret, 1)),
		chromedp.Click(chromedp.CSS(`form[action="/login/code"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("main .page-header h1")),
	)
	if h := b.text("main .page-header h1"); h != "Dashboard" {
		t.Errorf("after the code landed on %q, want the dashboard", h)
	}
	b.step("the account page says it is on",
		chromedp.Navigate(p.URL+"/account/two-factor"),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/account/two-factor/remove"]`)),
	)
	if txt := b.text("main"); !strings.Contains(txt, "Recovery codes left: 10 of 10") {
		t.Errorf("account page: %q", txt)
	}
	b.screenshot("two-factor-account.png")
}

// secondStep finishes a sign-in whose password was just sent. Admins and
// compliance set a second factor up the first time (the key read off the
// page goes into the test's authenticator, as a phone would scan it) and
// enter a code after that; other roles are signed in already. shot names a
// screenshot of the set-up page, "" for none.
func secondStep(b *browser, p *apptest.Portal, email, shot string) {
	b.t.Helper()
	b.step("after the password",
		chromedp.WaitVisible(chromedp.CSS(`.app-header .user-menu, form[action="/login/enrol"], form[action="/login/code"]`)))
	switch loc := b.location(); {
	case strings.HasSuffix(loc, "/login/enrol"):
		p.Authenticator.Add(email, b.text("#totp-secret"))
		if shot != "" {
			b.screenshot(shot)
		}
		b.step("set the second factor up",
			chromedp.SendKeys(chromedp.CSS("#f-code"), p.Authenticator.NextCode(b.t, email)),
			chromedp.Click(chromedp.CSS(`form[action="/login/enrol"] button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS("#recovery-codes")),
		)
		b.step("recovery codes saved",
			chromedp.Click(chromedp.CSS(`.actions a.btn-primary`)),
			chromedp.WaitVisible(chromedp.CSS(".app-header .user-menu")),
		)
	case strings.HasSuffix(loc, "/login/code"):
		b.step("enter the code",
			chromedp.SendKeys(chromedp.CSS("#f-code"), p.Authenticator.NextCode(b.t, email)),
			chromedp.Click(chromedp.CSS(`form[action="/login/code"] button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(".app-header .user-menu")),
		)
	}
}
