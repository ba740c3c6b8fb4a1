package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"portal/internal/apptest"
	"portal/models"
)

// crossSite sends a form post the way a browser does when another site's
// page submits it (or, with modern=false, the way an old browser without
// Fetch metadata does).
func crossSite(t *testing.T, p *apptest.Portal, c *http.Client, path string, form url.Values, modern bool) *apptest.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, p.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://elsewhere.example")
	if modern {
		req.Header.Set("Sec-Fetch-Site", "cross-site")
	}
	return p.Do(t, c, req)
}

func TestCrossSitePostsAreRefused(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	admin := signInAdmin(t, p)
	victim := p.CreateUser(t, "victim@example.com", "quiet meadow four", models.RoleSupport)

	for _, modern := range []bool{true, false} {
		name := "Sec-Fetch-Site"
		if !modern {
			name = "Origin only"
		}
		t.Run(name, func(t *testing.T) {
			usersBefore, attemptsBefore, auditBefore := count(t, p, "users"), count(t, p, "login_attempts"), lastAuditID(t, p)

			// Login CSRF: signing the victim's browser into the attacker's
			// account is refused too.
			resp := crossSite(t, p, p.Client(), "/login", url.Values{"email": {apptest.AdminEmail}, "password": {apptest.AdminPassword}}, modern)
			wantStatus(t, resp, http.StatusForbidden)
			if setCookie(resp, cookieName) != nil {
				t.Error("a refused login set a session cookie")
			}

			resp = crossSite(t, p, admin.client, "/users", url.Values{
				"email": {"planted@example.com"}, "name": {"Planted"}, "role": {"admin"}, "password": {"planted password"},
			}, modern)
			wantStatus(t, resp, http.StatusForbidden)
			if !strings.Contains(resp.Body, "another site") {
				t.Errorf("403 does not explain itself:\n%s", clip(resp.Body))
			}

			wantStatus(t, crossSite(t, p, admin.client, fmt.Sprintf("/users/%d/disable", victim.ID), nil, modern), http.StatusForbidden)
			wantStatus(t, crossSite(t, p, admin.client, "/logout", nil, modern), http.StatusForbidden)

			if n := count(t, p, "users"); n != usersBefore {
				t.Errorf("users %d → %d after refused posts", usersBefore, n)
			}
			if n := count(t, p, "login_attempts"); n != attemptsBefore {
				t.Errorf("login attempts %d → %d after a refused login", attemptsBefore, n)
			}
			if evs := auditAfter(t, p, auditBefore); len(evs) != 0 {
				t.Errorf("refused posts wrote audit events: %+v", evs)
			}
			if userByID(t, p, victim.ID).Disabled {
				t.Error("a refused post disabled the victim")
			}
			wantSignedIn(t, p, admin.client) // the refused logout ended nothing
		})
	}

	// The same requests from the portal's own pages go through.
	wantRedirect(t, p.PostForm(t, admin.client, fmt.Sprintf("/users/%d/disable", victim.ID), nil), "/users")
}

// cspDirectives splits a Content-Security-Policy into directive → value.
func cspDirectives(csp string) map[string]string {
	out := map[string]string{}
	for _, d := range strings.Split(csp, ";") {
		d = strings.TrimSpace(d)
		if d == "" {
			continue
		}
		name, value, _ := strings.Cut(d, " ")
		out[strings.ToLower(name)] = strings.TrimSpace(value)
	}
	return out
}

func TestSecurityHeadersOnEveryKindOfResponse(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	op := newStaff(t, p, "operator", models.RoleOperator)
	admin := signInAdmin(t, p)

	cases := []struct {
		name   string
		client *http.Client
		do     func(t *testing.T, c *http.Client) *apptest.Response
		status int
	}{
		{"page", p.Client(), func(t *testing.T, c *http.Client) *apptest.Response { return p.Get(t, c, "/login") }, http.StatusOK},
		{"signed-in page", admin.client, func(t *testing.T, c *http.Client) *apptest.Response { return p.Get(t, c, "/users") }, http.StatusOK},
		{"404", p.Client(), func(t *testing.T, c *http.Client) *apptest.Response { return p.Get(t, c, "/no/such/page") }, http.StatusNotFound},
		{"static file", p.Client(), func(t *testing.T, c *http.Client) *apptest.Response { return p.Get(t, c, "/static/app.css") }, http.StatusOK},
		{"missing static file", p.Client(), func(t *testing.T, c *http.Client) *apptest.Response { return p.Get(t, c, "/static/nope.css") }, http.StatusNotFound},
		{"403 role", op.client, func(t *testing.T, c *http.Client) *apptest.Response { return p.Get(t, c, "/users") }, http.StatusForbidden},
		{"403 cross-site", admin.client, func(t *testing.T, c *http.Client) *apptest.Response {
			return crossSite(t, p, c, "/users", nil, true)
		}, http.StatusForbidden},
		{"redirect", p.Client(), func(t *testing.T, c *http.Client) *apptest.Response { return p.Get(t, c, "/users") }, http.StatusSeeOther},
		{"422", p.Client(), func(t *testing.T, c *http.Client) *apptest.Response { return p.PostForm(t, c, "/login", nil) }, http.StatusUnprocessableEntity},
		{"health", p.Client(), func(t *testing.T, c *http.Client) *apptest.Response { return p.Get(t, c, "/healthz") }, http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp := tc.do(t, tc.client)
			wantStatus(t, resp, tc.status)
			csp := resp.Header.Get("Content-Security-Policy")
			if csp == "" {
				t.Fatal("no Content-Security-Policy")
			}
			d := cspDirectives(csp)
			for name, want := range map[string]string{
				"default-src": "'self'", "object-src": "'none'", "base-uri": "'none'", "frame-ancestors": "'none'",
			} {
				if d[name] != want {
					t.Errorf("CSP %s = %q, want %q (policy %q)", name, d[name], want, csp)
				}
			}
			for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*"} {
				for name, v := range d {
					if strings.Contains(v, bad) {
						t.Errorf("CSP %s allows %s: %q", name, bad, v)
					}
				}
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
			}
			if got := resp.Header.Get("Referrer-Policy"); got != "same-origin" {
				t.Errorf("Referrer-Policy = %q, want same-origin", got)
			}
		})
	}
}

func TestSignedInPagesAreNotCached(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	admin := signInAdmin(t, p)
	op := newStaff(t, p, "operator", models.RoleOperator)
	cases := []struct {
		client *http.Client
		path   string
		status int
	}{
		{admin.client, "/", http.StatusOK},
		{admin.client, "/users", http.StatusOK},
		{admin.client, "/users/new", http.StatusOK},
		{admin.client, fmt.Sprintf("/users/%d/password", op.user.ID), http.StatusOK},
		{admin.client, "/audit", http.StatusOK},
		{admin.client, "/audit/export", http.StatusOK},
		{admin.client, "/account/password", http.StatusOK},
		{admin.client, "/sandbox", http.StatusOK},
		{admin.client, "/users/999999/password", http.StatusNotFound},
		{op.client, "/users", http.StatusForbidden},
		// An unknown address still renders the layout with the viewer's
		// name and email in the header: it is a signed-in page too.
		{admin.client, "/no/such/page", http.StatusNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			t.Parallel()
			resp := p.Get(t, tc.client, tc.path)
			wantStatus(t, resp, tc.status)
			if got := resp.Header.Get("Cache-Control"); !strings.Contains(got, "no-store") {
				// When this fails for the 404 it is a production bug: only
				// authorize() (web/middleware.go) sets no-store, but the
				// NoRoute handler renders the signed-in layout (name, email)
				// too, and a 404 is heuristically cacheable (RFC 9111).
				t.Errorf("PRODUCTION BUG: GET %s signed in: Cache-Control = %q, want no-store (page shows the signed-in viewer: %v)",
					tc.path, got, strings.Contains(resp.Body, `href="/account/password"`))
			}
		})
	}
	// The login form is kept out of caches too (it may hold a typed email).
	if got := p.Get(t, p.Client(), "/login").Header.Get("Cache-Control"); !strings.Contains(got, "no-store") {
		t.Errorf("GET /login: Cache-Control = %q, want no-store", got)
	}
}

func loginFrom(t *testing.T, p *apptest.Portal, email, password, forwardedFor string) *apptest.Response {
	t.Helper()
	form := url.Values{"email": {email}, "password": {password}}
	req, _ := http.NewRequest(http.MethodPost, p.URL+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("X-Forwarded-For", forwardedFor)
	req.Header.Set("X-Real-IP", forwardedFor)
	req.Header.Set("Forwarded", "for="+forwardedFor)
	return p.Do(t, p.Client(), req)
}

func TestForwardedForIsIgnoredWithoutTrustedProxies(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	before := lastAuditID(t, p)
	wantStatus(t, loginFrom(t, p, apptest.AdminEmail, apptest.AdminPassword, "203.0.113.9"), http.StatusSeeOther)
	wantStatus(t, loginFrom(t, p, apptest.AdminEmail, "wrong password", "203.0.113.9"), http.StatusUnauthorized)
	evs := auditAfter(t, p, before)
	if len(evs) != 2 {
		t.Fatalf("want 2 audit events, got %+v", evs)
	}
	for _, ev := range evs {
		if ev.IP != "127.0.0.1" {
			t.Errorf("%s recorded IP %q, want the connection's 127.0.0.1", ev.Action, ev.IP)
		}
	}
	var attempts []models.LoginAttempt
	if err := p.App.DB.Find(&attempts).Error; err != nil {
		t.Fatal(err)
	}
	for _, a := range attempts {
		if a.IP != "127.0.0.1" {
			t.Errorf("login attempt recorded IP %q, want 127.0.0.1", a.IP)
		}
	}

	// Nor can a guesser dodge the per-IP limit by rotating the header:
	// with the failure above, these make 20 from this connection.
	for i := range 19 {
		resp := loginFrom(t, p, fmt.Sprintf("guess%d@example.com", i), "guess", fmt.Sprintf("198.51.100.%d", i))
		wantStatus(t, resp, http.StatusUnauthorized)
	}
	wantStatus(t, loginFrom(t, p, apptest.AdminEmail, apptest.AdminPassword, "198.51.100.200"), http.StatusTooManyRequests)
}

func TestForwardedForIsUsedFromTrustedProxy(t *testing.T) {
	t.Parallel()
	// The positive control: with the proxy configured, its header counts.
	p := start(t, map[string]string{"PORTAL_TRUSTED_PROXIES": "127.0.0.1"})
	before := lastAuditID(t, p)
	wantStatus(t, loginFrom(t, p, apptest.AdminEmail, apptest.AdminPassword, "203.0.113.9"), http.StatusSeeOther)
	evs := auditAfter(t, p, before)
	if len(evs) != 1 || evs[0].IP != "203.0.113.9" {
		t.Fatalf("audit events %+v: want one login.success from 203.0.113.9", evs)
	}
}

// TestSignInAttemptsStoreBoundedInput: the email of a sign-in attempt is
// typed by anyone on the internet and lands in login_attempts and in the
// append-only audit log (which nobody can clean up), on every attempt,
// throttled ones included. It must be bounded like any stored email (254
// characters), or one client can fill the disk with a few requests.
func TestSignInAttemptsStoreBoundedInput(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	huge := strings.Repeat("x", 64<<10) + "@example.com"
	for range 7 { // past the account limit, so the throttled path runs too
		resp := p.PostForm(t, p.Client(), "/login", url.Values{"email": {huge}, "password": {"guess"}})
		if resp.StatusCode >= 500 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	const limit = 320 // an email is at most 254 characters; leave room for a marker
	var events []models.AuditEvent
	if err := p.App.DB.Find(&events).Error; err != nil {
		t.Fatal(err)
	}
	var oversized []string
	for _, ev := range events {
		if n := len(ev.ActorEmail) + len(ev.Subject) + len(ev.Details); n > 2*limit {
			oversized = append(oversized, fmt.Sprintf("%d %s (%d bytes)", ev.ID, ev.Action, n))
		}
	}
	if len(oversized) > 0 {
		t.Errorf("PRODUCTION BUG (services/accounts/accounts.go Authenticate audits the typed email unbounded, "+
			"throttled attempts included): 7 anonymous requests wrote these audit events: %s", strings.Join(oversized, ", "))
	}
	var longest int
	if err := p.App.DB.Raw("SELECT COALESCE(MAX(LENGTH(email)), 0) FROM login_attempts").Scan(&longest).Error; err != nil {
		t.Fatal(err)
	}
	if longest > limit {
		t.Errorf("PRODUCTION BUG (services/accounts/accounts.go Authenticate records the typed email unbounded): "+
			"login_attempts stores a %d-byte email", longest)
	}
}
