package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"portal/internal/apptest"
	"portal/models"
)

var (
	secretOnPage = regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`)
	codeOnPage   = regexp.MustCompile(`<li>([a-z2-7]{4}(?:-[a-z2-7]{4}){5})</li>`)
)

// totpCode is what an authenticator app shows for secret, steps steps of 30
// seconds after the portal's now.
func totpCode(t *testing.T, p *apptest.Portal, secret string, steps int) string {
	t.Helper()
	return apptest.TOTPCode(t, secret, p.Clock.Now().Add(time.Duration(steps)*30*time.Second))
}

// enrolTwoFactor turns the second factor on from the account page and
// returns the secret and the recovery codes the page showed.
func enrolTwoFactor(t *testing.T, p *apptest.Portal, s staff) (string, []string) {
	t.Helper()
	page := p.Get(t, s.client, "/account/two-factor/enrol")
	wantStatus(t, page, http.StatusOK)
	m := secretOnPage.FindStringSubmatch(page.Body)
	if m == nil || !strings.Contains(page.Body, `class="qr"`) {
		t.Fatalf("enrolment page shows no secret or QR code:\n%s", clip(page.Body))
	}
	secret := m[1]
	// A wrong first code is refused next to the field, the same secret kept.
	bad := p.PostForm(t, s.client, "/account/two-factor/enrol", url.Values{"code": {"000000"}})
	wantStatus(t, bad, http.StatusUnprocessableEntity)
	if !strings.Contains(bad.Body, "doesn&#39;t match") && !strings.Contains(bad.Body, "doesn't match") || !strings.Contains(bad.Body, secret) {
		t.Fatalf("wrong first code: no message or a new secret:\n%s", clip(bad.Body))
	}
	done := p.PostForm(t, s.client, "/account/two-factor/enrol", url.Values{"code": {totpCode(t, p, secret, 0)}})
	wantStatus(t, done, http.StatusOK)
	var codes []string
	for _, m := range codeOnPage.FindAllStringSubmatch(done.Body, -1) {
		codes = append(codes, m[1])
	}
	if len(codes) != 10 {
		t.Fatalf("the page after enrolment shows %d recovery codes, want 10:\n%s", len(codes), clip(done.Body))
	}
	return secret, codes
}

// passwordStep signs in with the password only, on a fresh client, and
// checks it leads to the code page.
func passwordStep(t *testing.T, p *apptest.Portal, s staff) *http.Client {
	t.Helper()
	c := p.Client()
	wantRedirect(t, p.PostForm(t, c, "/login", url.Values{"email": {s.user.Email}, "password": {s.password}, "next": {"/recharges"}}), "/login/code")
	wantStatus(t, p.Get(t, c, "/login/code"), http.StatusOK)
	return c
}

func TestTwoFactorSignIn(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	op := newStaff(t, p, "olive", models.RoleOperator)
	secret, recovery := enrolTwoFactor(t, p, op)
	if !userByEmail(t, p, op.user.Email).HasSecondFactor() {
		t.Fatal("the second factor is not on after enrolment")
	}

	c := passwordStep(t, p, op)
	// Half signed in: the password alone opens nothing.
	wantRedirect(t, p.Get(t, c, "/recharges"), "/login?next=%2Frecharges")
	wantStatus(t, p.PostForm(t, c, "/login/code", url.Values{"code": {"123456"}}), http.StatusUnauthorized)
	// The code that confirmed the enrolment was spent then.
	wantStatus(t, p.PostForm(t, c, "/login/code", url.Values{"code": {totpCode(t, p, secret, 0)}}), http.StatusUnauthorized)
	next := totpCode(t, p, secret, 1)
	wantRedirect(t, p.PostForm(t, c, "/login/code", url.Values{"code": {next}}), "/recharges")
	wantStatus(t, p.Get(t, c, "/recharges"), http.StatusOK)

	t.Run("a replayed code is refused", func(t *testing.T) {
		c := passwordStep(t, p, op)
		wantStatus(t, p.PostForm(t, c, "/login/code", url.Values{"code": {next}}), http.StatusUnauthorized)
	})
	t.Run("a recovery code works once", func(t *testing.T) {
		c := passwordStep(t, p, op)
		wantRedirect(t, p.PostForm(t, c, "/login/code", url.Values{"code": {recovery[0]}}), "/recharges")
		c = passwordStep(t, p, op)
		wantStatus(t, p.PostForm(t, c, "/login/code", url.Values{"code": {recovery[0]}}), http.StatusUnauthorized)
	})
	t.Run("the code page runs out", func(t *testing.T) {
		c := passwordStep(t, p, op)
		p.Clock.Advance(11 * time.Minute)
		wantRedirect(t, p.Get(t, c, "/login/code"), "/login")
		wantRedirect(t, p.PostForm(t, c, "/login/code", url.Values{"code": {totpCode(t, p, secret, 0)}}), "/login")
	})
	t.Run("removing it takes the password and a code", func(t *testing.T) {
		wantStatus(t, p.PostForm(t, op.client, "/account/two-factor/remove", url.Values{"current_password": {op.password}, "code": {"999999"}}), http.StatusUnprocessableEntity)
		wantStatus(t, p.PostForm(t, op.client, "/account/two-factor/remove", url.Values{"current_password": {"wrong"}, "code": {recovery[1]}}), http.StatusUnprocessableEntity)
		if !userByEmail(t, p, op.user.Email).HasSecondFactor() {
			t.Fatal("a refused removal turned the second factor off")
		}
		wantRedirect(t, p.PostForm(t, op.client, "/account/two-factor/remove", url.Values{"current_password": {op.password}, "code": {recovery[1]}}), "/account/two-factor")
		if userByEmail(t, p, op.user.Email).HasSecondFactor() {
			t.Fatal("the second factor is still on")
		}
		// And the password alone signs in again.
		wantRedirect(t, p.PostForm(t, p.Client(), "/login", url.Values{"email": {op.user.Email}, "password": {op.password}}), "/")
	})
}

// TestHalfSignedInSessionReachesNothingElse walks the route table with a
// session that has the password but not the code: every route but the
// second-factor pages treats it as signed out, and nothing changes.
func TestHalfSignedInSessionReachesNothingElse(t *testing.T) {
	t.Parallel()
	p := start(t, nil, probeSim{})
	admin := signInAdmin(t, p) // enrols at this first sign-in
	now := p.Clock.Now().UTC()
	recharge := models.Recharge{
		IdempotencyKey: "half-signed-in", DeviceID: "DEV-HALF", Amount: decimal.NewFromInt(10), Currency: "KES",
		State: models.RechargeUnknown, CreatedAt: now, UpdatedAt: now,
	}
	if err := p.App.DB.Create(&recharge).Error; err != nil {
		t.Fatal(err)
	}
	target := p.CreateUser(t, "target@example.com", "quiet meadow five", models.RoleSupport)
	half := passwordStep(t, p, admin)
	policy := p.App.Server.Policy()
	auditBefore, usersBefore := lastAuditID(t, p), count(t, p, "users")
	form := url.Values{"email": {"intruder@example.com"}, "name": {"Intruder"}, "role": {"admin"}, "password": {"intruder password"},
		"current_password": {admin.password}, "new_password": {"another long password"}, "code": {"000000"}}
	// Access is decided before any handler runs, so every parameter can be
	// a real row's id: the user's, the recharge's, or 1.
	param := regexp.MustCompile(`:[a-z]+`)
	checked := 0
	for route, access := range policy {
		method, path, _ := strings.Cut(route, " ")
		if access.Public || access.SecondFactor || (method != http.MethodGet && method != http.MethodPost) {
			continue
		}
		id := "1"
		switch {
		case strings.HasPrefix(path, "/users/"):
			id = fmt.Sprint(target.ID)
		case strings.HasPrefix(path, "/recharges/"):
			id = fmt.Sprint(recharge.ID)
		}
		path = param.ReplaceAllString(path, id)
		var resp *apptest.Response
		want := "/login?next=%2F"
		if method == http.MethodGet {
			resp = p.Get(t, half, path)
			want = "/login?next=" + url.QueryEscape(path)
		} else {
			resp = p.PostForm(t, half, path, form)
		}
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Errorf("%s with a half-signed-in session: %d → %q, want 303 → %q", route, resp.StatusCode, resp.Header.Get("Location"), want)
		}
		checked++
	}
	if checked < 40 {
		t.Errorf("only %d routes checked", checked)
	}
	if evs := auditAfter(t, p, auditBefore); len(evs) != 0 {
		t.Errorf("a half-signed-in session wrote audit events: %+v", evs)
	}
	if n := count(t, p, "users"); n != usersBefore {
		t.Errorf("a half-signed-in session changed the users: %d → %d", usersBefore, n)
	}
	// Its own pages still work, each sending on to the other as the
	// user's state says.
	wantStatus(t, p.Get(t, half, "/login/code"), http.StatusOK)
	wantRedirect(t, p.Get(t, half, "/login/enrol"), "/login/code")
	wantRedirect(t, p.PostForm(t, half, "/login/enrol", url.Values{"code": {"000000"}}), "/login/code")
	// And a fully signed-in session can't use them.
	wantRedirect(t, p.Get(t, admin.client, "/login/code"), "/login")
	wantRedirect(t, p.Get(t, admin.client, "/login/enrol"), "/login")
}

func TestAdminResetsAnotherUsersSecondFactor(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	admin := signInAdmin(t, p)
	op := newStaff(t, p, "oscar", models.RoleOperator)
	enrolTwoFactor(t, p, op)
	auditBefore := lastAuditID(t, p)
	wantRedirect(t, p.PostForm(t, admin.client, "/users/"+fmt.Sprint(op.user.ID)+"/two-factor/reset", nil), "/users")
	if userByEmail(t, p, op.user.Email).HasSecondFactor() {
		t.Fatal("the second factor is still on after the reset")
	}
	// Their sessions ended.
	wantRedirect(t, p.Get(t, op.client, "/recharges"), "/login?next=%2Frecharges")
	evs := auditAfter(t, p, auditBefore)
	if len(evs) != 1 || evs[0].Action != "user.2fa_reset" || evs[0].Subject != op.user.Email || evs[0].ActorEmail != apptest.AdminEmail {
		t.Errorf("audit after reset: %+v, want one user.2fa_reset by the admin", evs)
	}
	// Nobody resets their own this way.
	wantRedirect(t, p.PostForm(t, admin.client, "/users/"+fmt.Sprint(admin.user.ID)+"/two-factor/reset", nil), "/users")
	if !userByEmail(t, p, admin.user.Email).HasSecondFactor() {
		t.Error("an admin reset their own second factor from the staff page")
	}

	t.Run("compliance enrols again at the next sign-in", func(t *testing.T) {
		cora := newStaff(t, p, "cora", models.RoleCompliance)
		wantRedirect(t, p.PostForm(t, admin.client, "/users/"+fmt.Sprint(cora.user.ID)+"/two-factor/reset", nil), "/users")
		wantRedirect(t, p.Get(t, cora.client, "/reviews/documents"), "/login?next=%2Freviews%2Fdocuments")
		c := p.Client()
		wantRedirect(t, p.PostForm(t, c, "/login", url.Values{"email": {cora.user.Email}, "password": {cora.password}}), "/login/enrol")
		page := p.Get(t, c, "/login/enrol")
		wantStatus(t, page, http.StatusOK)
		if m := secretOnPage.FindStringSubmatch(page.Body); m == nil || m[1] == "" {
			t.Fatalf("no new secret after the reset:\n%s", clip(page.Body))
		}
	})
}

// TestAdminAndComplianceEnrolAtFirstSignIn: the roles that see everything
// or unmasked identities cannot get in on a password alone, not even the
// first time; the set-up is part of signing in, and afterwards the code is.
func TestAdminAndComplianceEnrolAtFirstSignIn(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	cora := p.CreateUser(t, "cora@example.com", "quiet meadow three", models.RoleCompliance)
	cases := []struct {
		role            models.Role
		email, password string
		id              uint
	}{
		{models.RoleAdmin, apptest.AdminEmail, apptest.AdminPassword, userByEmail(t, p, apptest.AdminEmail).ID},
		{models.RoleCompliance, cora.Email, "quiet meadow three", cora.ID},
	}
	for _, tc := range cases {
		t.Run(string(tc.role), func(t *testing.T) {
			t.Parallel()
			c := p.Client()
			wantRedirect(t, p.PostForm(t, c, "/login", url.Values{"email": {tc.email}, "password": {tc.password}, "next": {"/reviews/documents"}}), "/login/enrol")
			// Half signed in: nothing opens, and the code page sends back.
			wantRedirect(t, p.Get(t, c, "/reviews/documents"), "/login?next=%2Freviews%2Fdocuments")
			wantRedirect(t, p.Get(t, c, "/account/two-factor/enrol"), "/login?next=%2Faccount%2Ftwo-factor%2Fenrol")
			wantRedirect(t, p.Get(t, c, "/login/code"), "/login/enrol")
			wantRedirect(t, p.PostForm(t, c, "/login/code", url.Values{"code": {"123456"}}), "/login/code")

			page := p.Get(t, c, "/login/enrol")
			wantStatus(t, page, http.StatusOK)
			m := secretOnPage.FindStringSubmatch(page.Body)
			if m == nil || !strings.Contains(page.Body, `class="qr"`) || !strings.Contains(page.Body, string(tc.role)+" role") {
				t.Fatalf("the sign-in enrolment page has no secret, QR code or reason:\n%s", clip(page.Body))
			}
			secret := m[1]
			bad := p.PostForm(t, c, "/login/enrol", url.Values{"code": {"000000"}})
			wantStatus(t, bad, http.StatusUnprocessableEntity)
			if !strings.Contains(bad.Body, secret) || !strings.Contains(bad.Body, `aria-invalid="true"`) {
				t.Fatalf("a wrong first code: not the same form with the same secret and a message:\n%s", clip(bad.Body))
			}
			if userByID(t, p, tc.id).HasSecondFactor() {
				t.Fatal("a wrong first code turned the second factor on")
			}
			before := lastAuditID(t, p)
			done := p.PostForm(t, c, "/login/enrol", url.Values{"code": {totpCode(t, p, secret, 0)}})
			wantStatus(t, done, http.StatusOK)
			if n := len(codeOnPage.FindAllStringSubmatch(done.Body, -1)); n != 10 {
				t.Fatalf("%d recovery codes shown after the set-up, want 10", n)
			}
			if !strings.Contains(done.Body, `href="/reviews/documents"`) {
				t.Errorf("the recovery-codes page does not go on to the page asked for:\n%s", clip(done.Body))
			}
			var actions []string
			for _, ev := range auditAfter(t, p, before) {
				if ev.Subject == tc.email { // the other subtests run alongside
					actions = append(actions, ev.Action)
				}
			}
			if strings.Join(actions, " ") != "user.2fa_enrolled login.success" {
				t.Errorf("audit after the set-up: %v, want user.2fa_enrolled then login.success", actions)
			}
			// Signed in now, on a new session id.
			wantStatus(t, p.Get(t, c, "/reviews/documents"), http.StatusOK)
			wantRedirect(t, p.Get(t, c, "/login/enrol"), "/login")

			// From now on the password leads to the code.
			again := p.Client()
			wantRedirect(t, p.PostForm(t, again, "/login", url.Values{"email": {tc.email}, "password": {tc.password}}), "/login/code")
			wantRedirect(t, p.Get(t, again, "/login/enrol"), "/login/code")
			wantRedirect(t, p.PostForm(t, again, "/login/code", url.Values{"code": {totpCode(t, p, secret, 1)}}), "/")
		})
	}

	t.Run("operators and support still sign in with a password", func(t *testing.T) {
		t.Parallel()
		for _, role := range []models.Role{models.RoleOperator, models.RoleSupport} {
			u := p.CreateUser(t, string(role)+"@example.com", "quiet meadow four", role)
			wantRedirect(t, p.PostForm(t, p.Client(), "/login", url.Values{"email": {u.Email}, "password": {"quiet meadow four"}}), "/")
		}
	})
}
