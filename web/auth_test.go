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

func TestLoginSetsSessionCookieWithExplicitFlags(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	// Support signs in with a password alone (admins need a code too, see
	// TestTwoFactorSignIn), so one answer carries the signed-in cookie.
	sam := p.CreateUser(t, "sam@example.com", "quiet meadow one", models.RoleSupport)
	c := p.Client()
	resp := p.PostForm(t, c, "/login", url.Values{"email": {sam.Email}, "password": {"quiet meadow one"}})
	wantRedirect(t, resp, "/")
	ck := setCookie(resp, cookieName)
	if ck == nil {
		t.Fatalf("no %s cookie set; Set-Cookie: %q", cookieName, resp.Header.Values("Set-Cookie"))
	}
	if !ck.HttpOnly {
		t.Error("session cookie is not HttpOnly")
	}
	if ck.SameSite != http.SameSiteLaxMode {
		t.Errorf("session cookie SameSite = %v, want Lax", ck.SameSite)
	}
	if ck.Path != "/" {
		t.Errorf("session cookie Path = %q, want /", ck.Path)
	}
	if ck.Secure {
		t.Error("session cookie is Secure on a plain-http portal: browsers would drop it")
	}
	if ck.MaxAge != 0 || !ck.Expires.IsZero() {
		t.Errorf("session cookie outlives the browser (MaxAge %d, Expires %v); the server enforces timeouts", ck.MaxAge, ck.Expires)
	}
	// The cookie is an opaque id: nothing about the user in it.
	if len(ck.Value) < 32 || strings.Contains(ck.Value, "sam") {
		t.Errorf("session cookie value %q does not look like a random id", ck.Value)
	}
	if resp.Header.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS sent on a plain-http portal")
	}
	wantSignedIn(t, p, c)
}

func TestLoginOverHTTPSUsesHostPrefixedSecureCookieAndHSTS(t *testing.T) {
	t.Parallel()
	const base = "https://portal.example.com"
	p := start(t, map[string]string{"PORTAL_BASE_URL": base})
	c := p.Client()

	page := p.Get(t, c, "/login")
	wantStatus(t, page, http.StatusOK)
	if got := page.Header.Get("Strict-Transport-Security"); !strings.Contains(got, "max-age=31536000") {
		t.Errorf("Strict-Transport-Security = %q, want a one-year max-age", got)
	}

	// Behind the TLS proxy the browser's Origin is the public URL, not the
	// address the portal listens on.
	sam := p.CreateUser(t, "sam@example.com", "quiet meadow one", models.RoleSupport)
	form := url.Values{"email": {sam.Email}, "password": {"quiet meadow one"}}
	req, _ := http.NewRequest(http.MethodPost, p.URL+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp := p.Do(t, c, req)
	wantRedirect(t, resp, "/")
	if got := resp.Header.Get("Strict-Transport-Security"); got == "" {
		t.Error("no HSTS header on the login answer")
	}
	// The jar keeps Secure cookies away from http, so read the raw header.
	var raw string
	for _, h := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(h, "__Host-portal_session=") {
			raw = h
		}
	}
	if raw == "" {
		t.Fatalf("no __Host-portal_session cookie; Set-Cookie: %q", resp.Header.Values("Set-Cookie"))
	}
	ck, err := http.ParseSetCookie(raw)
	if err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	if !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" {
		t.Errorf("cookie %q: want Secure, HttpOnly, SameSite=Lax, Path=/ and no Domain", raw)
	}
	// The cookie works when the browser sends it back.
	wantStatus(t, getWithCookie(t, p, "/", ck.Name, ck.Value), http.StatusOK)

	// A cross-site form is still refused with the public origin trusted.
	req, _ = http.NewRequest(http.MethodPost, p.URL+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://elsewhere.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	wantStatus(t, p.Do(t, p.Client(), req), http.StatusForbidden)
}

var flashErrorRE = regexp.MustCompile(`(?s)<div class="flash flash-error" role="alert">(.*?)</div>`)

func loginError(body string) string {
	m := flashErrorRE.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return text(m[1])
}

func TestLoginFailuresRevealNothing(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	disabled := p.CreateUser(t, "gone@example.com", "quiet meadow seven", models.RoleSupport)
	if err := p.App.DB.Model(&models.User{}).Where("id = ?", disabled.ID).Update("disabled", true).Error; err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, email, password string }{
		{"wrong password", apptest.AdminEmail, "not the password"},
		{"unknown email", "nobody@example.com", "not the password"},
		{"disabled account, right password", "gone@example.com", "quiet meadow seven"},
	}
	var first string
	for _, tc := range cases {
		resp := p.PostForm(t, p.Client(), "/login", url.Values{"email": {tc.email}, "password": {tc.password}})
		wantStatus(t, resp, http.StatusUnauthorized)
		if setCookie(resp, cookieName) != nil {
			t.Errorf("%s: a failed sign-in set a session cookie", tc.name)
		}
		msg := loginError(resp.Body)
		if msg == "" {
			t.Fatalf("%s: no error message:\n%s", tc.name, clip(resp.Body))
		}
		if first == "" {
			first = msg
		} else if msg != first {
			t.Errorf("%s: message %q differs from %q", tc.name, msg, first)
		}
		// What was typed is kept, except the password.
		if !strings.Contains(resp.Body, `value="`+tc.email+`"`) {
			t.Errorf("%s: the typed email is not kept", tc.name)
		}
		if strings.Contains(resp.Body, tc.password) {
			t.Errorf("%s: the password is echoed back", tc.name)
		}
	}
}

func TestLoginEmptyFields(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	for _, form := range []url.Values{
		{},
		{"email": {""}, "password": {""}},
		{"email": {apptest.AdminEmail}, "password": {""}},
		{"email": {""}, "password": {apptest.AdminPassword}},
	} {
		resp := p.PostForm(t, p.Client(), "/login", form)
		wantStatus(t, resp, http.StatusUnprocessableEntity)
		if loginError(resp.Body) == "" {
			t.Errorf("form %v: no message", form)
		}
	}
}

func TestLoginNextStaysOnSite(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	// A password-only role: the next page surviving the code step is
	// TestTwoFactorSignIn's.
	sam := p.CreateUser(t, "sam@example.com", "quiet meadow one", models.RoleSupport)
	cases := []struct{ next, want string }{
		{"/users", "/users"},
		{"/audit?action=logout", "/audit?action=logout"},
		{"", "/"},
		{"//evil.example", "/"},
		{"//evil.example/users", "/"},
		{"https://evil.example", "/"},
		{"https://evil.example/users", "/"},
		{`/\evil`, "/"},
		{`/\/evil.example`, "/"},
		{"javascript:alert(1)", "/"},
		{"users", "/"},
		{"/login", "/"},
		{"/\t/evil.example", "/"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%q", tc.next), func(t *testing.T) {
			t.Parallel()
			resp := p.PostForm(t, p.Client(), "/login", url.Values{
				"email": {sam.Email}, "password": {"quiet meadow one"}, "next": {tc.next},
			})
			wantRedirect(t, resp, tc.want)
		})
	}

	// The whole round trip: a deep link survives signing in.
	c := p.Client()
	wantRedirect(t, p.Get(t, c, "/audit?action=logout"), "/login?next=%2Faudit%3Faction%3Dlogout")
	page := p.Get(t, c, "/login?next=%2Faudit%3Faction%3Dlogout")
	if !strings.Contains(page.Body, `name="next" value="/audit?action=logout"`) {
		t.Fatalf("login page does not carry next:\n%s", clip(page.Body))
	}
	resp := p.PostForm(t, c, "/login", url.Values{
		"email": {sam.Email}, "password": {"quiet meadow one"}, "next": {"/audit?action=logout"},
	})
	wantRedirect(t, resp, "/audit?action=logout")
	// Signed in, the login page forwards to next, still only locally.
	wantRedirect(t, p.Get(t, c, "/login?next=%2F%2Fevil.example"), "/")
}

func TestLogoutDeletesTheSession(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	admin := signInAdmin(t, p)
	old := cookieValue(t, p, admin.client)
	if old == "" {
		t.Fatal("no session cookie after sign-in")
	}
	resp := p.PostForm(t, admin.client, "/logout", nil)
	wantRedirect(t, resp, "/login")
	if ck := setCookie(resp, cookieName); ck == nil || ck.MaxAge >= 0 {
		t.Errorf("logout did not expire the cookie: %+v", ck)
	}
	if n := sessionsOf(t, p, admin.user.ID); n != 0 {
		t.Errorf("%d sessions left after logout", n)
	}
	// Someone who copied the cookie earlier gets nothing from it.
	wantRedirect(t, getWithCookie(t, p, "/", cookieName, old), "/login?next=%2F")
	wantRedirect(t, getWithCookie(t, p, "/users", cookieName, old), "/login?next=%2Fusers")
	wantAnonymous(t, p, admin.client)
}

func TestLoginReplacesTheSessionID(t *testing.T) {
	t.Parallel()
	p := start(t, nil)

	t.Run("cookie from an earlier sign-in", func(t *testing.T) {
		t.Parallel()
		c := p.Client()
		p.Login(t, c, apptest.AdminEmail, apptest.AdminPassword)
		a := cookieValue(t, p, c)
		p.Login(t, c, apptest.AdminEmail, apptest.AdminPassword)
		b := cookieValue(t, p, c)
		if a == "" || b == "" || a == b {
			t.Fatalf("cookie before %q, after %q: want two different ids", a, b)
		}
		wantRedirect(t, getWithCookie(t, p, "/", cookieName, a), "/login?next=%2F")
		wantStatus(t, getWithCookie(t, p, "/", cookieName, b), http.StatusOK)
	})

	t.Run("cookie planted before sign-in", func(t *testing.T) {
		t.Parallel()
		// An attacker sets a cookie of their choosing in the victim's
		// browser and waits for the victim to sign in.
		const planted = "attacker-chosen-session-id-0123456789abcdefghijkl"
		c := p.Client()
		u, _ := url.Parse(p.URL)
		c.Jar.SetCookies(u, []*http.Cookie{{Name: cookieName, Value: planted, Path: "/"}})
		p.Login(t, c, apptest.AdminEmail, apptest.AdminPassword)
		if got := cookieValue(t, p, c); got == planted || got == "" {
			t.Fatalf("session id after sign-in = %q, want a fresh one", got)
		}
		wantSignedIn(t, p, c)
		wantRedirect(t, getWithCookie(t, p, "/", cookieName, planted), "/login?next=%2F")
	})
}

func TestLoginThrottlingPerAccount(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	other := p.CreateUser(t, "other@example.com", "quiet meadow six", models.RoleOperator)
	c := p.Client()
	for i := range 5 {
		resp := p.PostForm(t, c, "/login", url.Values{"email": {apptest.AdminEmail}, "password": {fmt.Sprintf("guess %d", i)}})
		wantStatus(t, resp, http.StatusUnauthorized)
	}
	// Even the right password is refused for now, with a message that
	// says what to do.
	resp := p.PostForm(t, c, "/login", url.Values{"email": {apptest.AdminEmail}, "password": {apptest.AdminPassword}})
	wantStatus(t, resp, http.StatusTooManyRequests)
	if msg := loginError(resp.Body); !strings.Contains(strings.ToLower(msg), "wait") {
		t.Errorf("throttled message %q does not say to wait", msg)
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After header")
	}
	if setCookie(resp, cookieName) != nil {
		t.Error("a refused sign-in set a session cookie")
	}
	// The email is compared normalised: changing its case is no way round.
	resp = p.PostForm(t, c, "/login", url.Values{"email": {" ADMIN@Example.com "}, "password": {apptest.AdminPassword}})
	wantStatus(t, resp, http.StatusTooManyRequests)

	// Another account from the same address is not affected.
	p.Login(t, p.Client(), other.Email, "quiet meadow six")

	// It is a back-off, not a lock: after it, the right password works.
	p.Clock.Advance(31 * time.Second)
	p.Login(t, c, apptest.AdminEmail, apptest.AdminPassword)
	wantSignedIn(t, p, c)
}

func TestLoginThrottlingPerIP(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	c := p.Client()
	// Twenty failures spread over emails, each below the account limit.
	for i := range 20 {
		resp := p.PostForm(t, c, "/login", url.Values{"email": {fmt.Sprintf("user%d@example.com", i)}, "password": {"guess"}})
		wantStatus(t, resp, http.StatusUnauthorized)
	}
	resp := p.PostForm(t, c, "/login", url.Values{"email": {apptest.AdminEmail}, "password": {apptest.AdminPassword}})
	wantStatus(t, resp, http.StatusTooManyRequests)
	if msg := loginError(resp.Body); !strings.Contains(strings.ToLower(msg), "wait") {
		t.Errorf("throttled message %q does not say to wait", msg)
	}
	p.Clock.Advance(31 * time.Second)
	p.Login(t, c, apptest.AdminEmail, apptest.AdminPassword)
}

func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	admin := signInAdmin(t, p)
	p.Clock.Advance(29 * time.Minute)
	wantSignedIn(t, p, admin.client) // activity restarts the idle clock
	p.Clock.Advance(29 * time.Minute)
	wantSignedIn(t, p, admin.client)
	p.Clock.Advance(31 * time.Minute)
	wantAnonymous(t, p, admin.client)
	if n := sessionsOf(t, p, admin.user.ID); n != 0 {
		t.Errorf("the timed-out session is still stored (%d)", n)
	}
}

func TestIdleTimeoutIsConfigurable(t *testing.T) {
	t.Parallel()
	p := start(t, map[string]string{"PORTAL_SESSION_IDLE_TIMEOUT": "5m", "PORTAL_SESSION_ABSOLUTE_TIMEOUT": "1h"})
	admin := signInAdmin(t, p)
	p.Clock.Advance(6 * time.Minute)
	wantAnonymous(t, p, admin.client)
}

func TestAbsoluteTimeout(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	admin := signInAdmin(t, p)
	// Active every 20 minutes: the idle timeout never fires, the absolute
	// one ends the session 12 hours after sign-in.
	var elapsed time.Duration
	for elapsed+20*time.Minute < 12*time.Hour {
		p.Clock.Advance(20 * time.Minute)
		elapsed += 20 * time.Minute
		if resp := p.Get(t, admin.client, "/"); resp.StatusCode != http.StatusOK {
			t.Fatalf("after %v of activity: status %d, want 200", elapsed, resp.StatusCode)
		}
	}
	p.Clock.Advance(20 * time.Minute)
	wantAnonymous(t, p, admin.client)
	// Signing in again starts a new 12 hours.
	p.Login(t, admin.client, apptest.AdminEmail, apptest.AdminPassword)
	wantSignedIn(t, p, admin.client)
}

func TestDisabledUserSessionEnds(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	admin := signInAdmin(t, p)
	op := newStaff(t, p, "operator", models.RoleOperator)
	wantSignedIn(t, p, op.client)
	opCookie := cookieValue(t, p, op.client)

	wantRedirect(t, p.PostForm(t, admin.client, fmt.Sprintf("/users/%d/disable", op.user.ID), nil), "/users")
	wantAnonymous(t, p, op.client)
	wantRedirect(t, getWithCookie(t, p, "/", cookieName, opCookie), "/login?next=%2F")
	// And they can't sign back in.
	resp := p.PostForm(t, p.Client(), "/login", url.Values{"email": {op.user.Email}, "password": {op.password}})
	wantStatus(t, resp, http.StatusUnauthorized)

	// Enabled again, they sign in as usual.
	wantRedirect(t, p.PostForm(t, admin.client, fmt.Sprintf("/users/%d/enable", op.user.ID), nil), "/users")
	p.Login(t, p.Client(), op.user.Email, op.password)
}

func TestDisabledFlagEndsSessionEvenIfStillStored(t *testing.T) {
	t.Parallel()
	// Disabling through the service deletes the sessions; the request path
	// must also refuse a session whose user is disabled by any other means.
	p := start(t, nil)
	op := newStaff(t, p, "operator", models.RoleOperator)
	if err := p.App.DB.Model(&models.User{}).Where("id = ?", op.user.ID).Update("disabled", true).Error; err != nil {
		t.Fatal(err)
	}
	wantAnonymous(t, p, op.client)
	if n := sessionsOf(t, p, op.user.ID); n != 0 {
		t.Errorf("the disabled user's session is still stored (%d)", n)
	}
}

func TestAdminPasswordResetEndsSessions(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	admin := signInAdmin(t, p)
	op := newStaff(t, p, "operator", models.RoleOperator)
	second := p.Client()
	p.Login(t, second, op.user.Email, op.password)

	const fresh = "a brand new password"
	wantRedirect(t, p.PostForm(t, admin.client, fmt.Sprintf("/users/%d/password", op.user.ID), url.Values{"password": {fresh}}), "/users")
	wantAnonymous(t, p, op.client)
	wantAnonymous(t, p, second)
	wantSignedIn(t, p, admin.client)
	wantStatus(t, p.PostForm(t, p.Client(), "/login", url.Values{"email": {op.user.Email}, "password": {op.password}}), http.StatusUnauthorized)
	p.Login(t, p.Client(), op.user.Email, fresh)
}

func TestChangeOwnPasswordKeepsThisBrowserOnly(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	op := newStaff(t, p, "operator", models.RoleOperator)
	other := p.Client()
	p.Login(t, other, op.user.Email, op.password)
	before := cookieValue(t, p, op.client)

	const fresh = "my own new password"
	resp := p.PostForm(t, op.client, "/account/password", url.Values{"current_password": {op.password}, "new_password": {fresh}})
	wantRedirect(t, resp, "/")
	after := cookieValue(t, p, op.client)
	if after == "" || after == before {
		t.Fatalf("cookie before %q, after %q: want a new session id", before, after)
	}
	page := p.Get(t, op.client, "/")
	wantStatus(t, page, http.StatusOK)
	if !strings.Contains(page.Body, "Your password was changed") {
		t.Error("no confirmation shown after the change")
	}
	wantAnonymous(t, p, other)
	wantRedirect(t, getWithCookie(t, p, "/", cookieName, before), "/login?next=%2F")
	if n := sessionsOf(t, p, op.user.ID); n != 1 {
		t.Errorf("%d sessions stored, want just this browser's", n)
	}
	p.Login(t, p.Client(), op.user.Email, fresh)

	// A wrong current password changes nothing.
	resp = p.PostForm(t, op.client, "/account/password", url.Values{"current_password": {"wrong one"}, "new_password": {"yet another password"}})
	wantStatus(t, resp, http.StatusUnprocessableEntity)
	if !strings.Contains(resp.Body, `id="e-current_password"`) {
		t.Errorf("no message next to the current password:\n%s", clip(resp.Body))
	}
	wantSignedIn(t, p, op.client)
}
