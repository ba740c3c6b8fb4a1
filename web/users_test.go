package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"portal/models"
)

// fieldError returns the message shown under a form field, or "".
func fieldError(body, field string) string {
	m := regexp.MustCompile(`(?s)<div class="field-error" id="e-` + regexp.QuoteMeta(field) + `">(.*?)</div>`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return text(m[1])
}

// inputValue returns the value attribute of the input named field.
func inputValue(body, field string) (string, bool) {
	m := regexp.MustCompile(`<input[^>]*\bname="` + regexp.QuoteMeta(field) + `"[^>]*\bvalue="([^"]*)"`).FindStringSubmatch(body)
	if m == nil {
		return "", false
	}
	return text(m[1]), true
}

func TestAdminCreatesUser(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	admin := signInAdmin(t, p)
	wantStatus(t, p.Get(t, admin.client, "/users/new"), http.StatusOK)

	resp := p.PostForm(t, admin.client, "/users", url.Values{
		"email": {"  New.Person@Example.com "}, "name": {" New Person "}, "role": {"compliance"}, "password": {"their first password"},
	})
	wantRedirect(t, resp, "/users")
	list := p.Get(t, admin.client, "/users")
	wantStatus(t, list, http.StatusOK)
	if !strings.Contains(list.Body, "Created new.person@example.com as compliance.") {
		t.Errorf("no confirmation on the users page:\n%s", clip(list.Body))
	}
	u := userByEmail(t, p, "new.person@example.com")
	if u.Name != "New Person" || u.Role != models.RoleCompliance || u.Disabled {
		t.Errorf("stored user %+v", u)
	}
	if !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
		t.Errorf("password stored as %q, want an argon2id PHC string", u.PasswordHash)
	}
	if !strings.Contains(list.Body, fmt.Sprintf(`<tr id="user-%d"`, u.ID)) {
		t.Error("the new user is not listed")
	}
	// The flash is shown once.
	if strings.Contains(p.Get(t, admin.client, "/users").Body, "Created new.person") {
		t.Error("the flash message is shown twice")
	}

	c := p.Client()
	p.Login(t, c, "NEW.PERSON@example.com", "their first password")
	home := p.Get(t, c, "/")
	wantStatus(t, home, http.StatusOK)
	if !strings.Contains(home.Body, "compliance") {
		t.Error("the dashboard does not show the new user's role")
	}
}

func TestCreateUserValidation(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	admin := signInAdmin(t, p)
	const typedPassword = "pw7"
	cases := []struct {
		name    string
		form    url.Values
		htmx    bool
		errors  map[string]string // field → part of the message
		kept    map[string]string // field → value shown again
		pageish bool              // full page (not the form fragment)
	}{
		{
			name: "everything wrong",
			form: url.Values{"email": {"not-an-email"}, "name": {"Typed Name"}, "role": {"support"}, "password": {typedPassword}},
			errors: map[string]string{
				"email": "Enter an email address like name@example.com.", "password": "Use at least 8 characters.",
			},
			kept:    map[string]string{"email": "not-an-email", "name": "Typed Name"},
			pageish: true,
		},
		{
			name:    "missing name and role",
			form:    url.Values{"email": {"ok@example.com"}, "name": {"  "}, "role": {"boss"}, "password": {"a long enough password"}},
			errors:  map[string]string{"name": "Enter the person", "role": "Choose a role."},
			kept:    map[string]string{"email": "ok@example.com"},
			pageish: true,
		},
		{
			name:   "over htmx",
			form:   url.Values{"email": {"not-an-email"}, "name": {"Typed Name"}, "role": {"support"}, "password": {typedPassword}},
			htmx:   true,
			errors: map[string]string{"email": "Enter an email address", "password": "Use at least 8 characters."},
			kept:   map[string]string{"email": "not-an-email", "name": "Typed Name"},
		},
		{
			name:    "a leaked password",
			form:    url.Values{"email": {"new.hire@example.com"}, "name": {"New Hire"}, "role": {"support"}, "password": {"Sunshine2024!"}},
			errors:  map[string]string{"password": "common and leaked passwords"},
			kept:    map[string]string{"email": "new.hire@example.com", "name": "New Hire"},
			pageish: true,
		},
		{
			name:    "the person's own name in the password",
			form:    url.Values{"email": {"grace.hopper@example.com"}, "name": {"Grace Hopper"}, "role": {"support"}, "password": {"hopper-cobol-1959"}},
			errors:  map[string]string{"password": `"hopper" from your own email or name`},
			kept:    map[string]string{"email": "grace.hopper@example.com", "name": "Grace Hopper"},
			pageish: true,
		},
		{
			name:    "duplicate email",
			form:    url.Values{"email": {"ADMIN@example.com"}, "name": {"Second Admin"}, "role": {"admin"}, "password": {"a long enough password"}},
			errors:  map[string]string{"email": "already exists"},
			kept:    map[string]string{"email": "ADMIN@example.com", "name": "Second Admin"},
			pageish: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var hdr map[string]string
			if tc.htmx {
				hdr = htmx
			}
			resp := post(t, p, admin.client, "/users", tc.form, hdr)
			wantStatus(t, resp, http.StatusUnprocessableEntity)
			if isPage := strings.Contains(resp.Body, "<html"); isPage != tc.pageish {
				t.Errorf("full page = %v, want %v", isPage, tc.pageish)
			}
			for field, want := range tc.errors {
				if got := fieldError(resp.Body, field); !strings.Contains(got, want) {
					t.Errorf("message next to %s = %q, want it to contain %q", field, got, want)
				}
			}
			for field, want := range tc.kept {
				if got, _ := inputValue(resp.Body, field); got != want {
					t.Errorf("%s shows %q again, want %q", field, got, want)
				}
			}
			if got, ok := inputValue(resp.Body, "password"); !ok || got != "" {
				t.Errorf("password field value %q (present %v), want it empty", got, ok)
			}
			if strings.Contains(resp.Body, tc.form.Get("password")) {
				t.Error("the typed password is in the answer")
			}
			if role := tc.form.Get("role"); role == "support" && !strings.Contains(resp.Body, `<option value="support" selected>`) {
				t.Error("the chosen role is not kept")
			}
		})
	}
	t.Cleanup(func() {
		if n := count(t, p, "users"); n != 1 {
			t.Errorf("invalid forms created users: %d users", n)
		}
	})
}

func TestChangeRoleOverHTMXReturnsTheRow(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	admin := signInAdmin(t, p)
	u := p.CreateUser(t, "sam@example.com", "quiet meadow two", models.RoleSupport)

	resp := post(t, p, admin.client, fmt.Sprintf("/users/%d/role", u.ID), url.Values{"role": {"compliance"}}, htmx)
	wantStatus(t, resp, http.StatusOK)
	body := strings.TrimSpace(resp.Body)
	if !strings.HasPrefix(body, fmt.Sprintf(`<tr id="user-%d"`, u.ID)) || !strings.HasSuffix(body, "</tr>") {
		t.Fatalf("want just the row fragment, got:\n%s", clip(body))
	}
	if strings.Count(body, "<tr") != 1 || strings.Contains(body, "<html") || strings.Contains(body, "<header") {
		t.Errorf("the fragment has more than the row:\n%s", clip(body))
	}
	if !strings.Contains(body, `<option value="compliance" selected>`) || strings.Contains(body, `<option value="support" selected>`) {
		t.Errorf("the row does not show the new role selected:\n%s", body)
	}
	if got := userByID(t, p, u.ID).Role; got != models.RoleCompliance {
		t.Errorf("stored role %s, want compliance", got)
	}

	// The role is read on every request: the user's next click uses it.
	c := p.Client()
	p.Login(t, c, u.Email, "quiet meadow two")
	wantStatus(t, p.Get(t, c, "/users"), http.StatusForbidden)
	wantStatus(t, post(t, p, admin.client, fmt.Sprintf("/users/%d/role", u.ID), url.Values{"role": {"admin"}}, htmx), http.StatusOK)
	wantStatus(t, p.Get(t, c, "/users"), http.StatusOK)

	// Over a plain form the same change redirects with a flash.
	wantRedirect(t, p.PostForm(t, admin.client, fmt.Sprintf("/users/%d/role", u.ID), url.Values{"role": {"operator"}}), "/users")
	if page := p.Get(t, admin.client, "/users"); !strings.Contains(page.Body, "Changed the role of sam@example.com.") {
		t.Errorf("no flash after a plain role change:\n%s", clip(page.Body))
	}
}

func TestCannotDisableYourself(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	admin := signInAdmin(t, p)
	// A second admin, so the last-admin rule is not what refuses.
	p.CreateUser(t, "second@example.com", "quiet meadow three", models.RoleAdmin)
	path := fmt.Sprintf("/users/%d/disable", admin.user.ID)

	resp := post(t, p, admin.client, path, nil, htmx)
	wantStatus(t, resp, http.StatusUnprocessableEntity)
	if !strings.HasPrefix(strings.TrimSpace(resp.Body), fmt.Sprintf(`<tr id="user-%d"`, admin.user.ID)) ||
		!strings.Contains(resp.Body, "You can&#39;t disable your own account.") {
		t.Errorf("want the row with the reason, got:\n%s", clip(resp.Body))
	}

	wantRedirect(t, p.PostForm(t, admin.client, path, nil), "/users")
	page := p.Get(t, admin.client, "/users")
	if !strings.Contains(page.Body, `flash-error`) || !strings.Contains(page.Body, "You can&#39;t disable your own account.") {
		t.Errorf("no error flash after the plain form:\n%s", clip(page.Body))
	}
	if userByID(t, p, admin.user.ID).Disabled {
		t.Fatal("the admin disabled themselves")
	}
	wantSignedIn(t, p, admin.client)
	// The page offers no Disable button on one's own row.
	row := regexp.MustCompile(fmt.Sprintf(`(?s)<tr id="user-%d".*?</tr>`, admin.user.ID)).FindString(page.Body)
	if strings.Contains(row, "/disable") {
		t.Error("one's own row offers Disable")
	}
}

func TestLastActiveAdminCannotBeDemoted(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	admin := signInAdmin(t, p)
	rolePath := fmt.Sprintf("/users/%d/role", admin.user.ID)

	resp := post(t, p, admin.client, rolePath, url.Values{"role": {"operator"}}, htmx)
	wantStatus(t, resp, http.StatusUnprocessableEntity)
	if !strings.HasPrefix(strings.TrimSpace(resp.Body), fmt.Sprintf(`<tr id="user-%d"`, admin.user.ID)) ||
		!strings.Contains(resp.Body, "last active admin") {
		t.Errorf("want the row with the reason, got:\n%s", clip(resp.Body))
	}
	if !strings.Contains(resp.Body, `<option value="admin" selected>`) {
		t.Error("the row does not show the role that was kept")
	}

	wantRedirect(t, p.PostForm(t, admin.client, rolePath, url.Values{"role": {"support"}}), "/users")
	page := p.Get(t, admin.client, "/users")
	if !strings.Contains(page.Body, "flash-error") || !strings.Contains(page.Body, "last active admin") {
		t.Errorf("no error flash after the plain form:\n%s", clip(page.Body))
	}
	if got := userByID(t, p, admin.user.ID).Role; got != models.RoleAdmin {
		t.Fatalf("the last admin became %s", got)
	}

	// A disabled admin does not count as a way back in.
	other := p.CreateUser(t, "other.admin@example.com", "quiet meadow one", models.RoleAdmin)
	wantRedirect(t, p.PostForm(t, admin.client, fmt.Sprintf("/users/%d/disable", other.ID), nil), "/users")
	wantStatus(t, post(t, p, admin.client, rolePath, url.Values{"role": {"operator"}}, htmx), http.StatusUnprocessableEntity)

	// With another active admin, stepping down works, and takes effect on
	// the next request.
	wantRedirect(t, p.PostForm(t, admin.client, fmt.Sprintf("/users/%d/enable", other.ID), nil), "/users")
	wantStatus(t, post(t, p, admin.client, rolePath, url.Values{"role": {"operator"}}, htmx), http.StatusOK)
	wantStatus(t, p.Get(t, admin.client, "/users"), http.StatusForbidden)
	// And now the other admin is the last one.
	oc := p.Client()
	p.Login(t, oc, other.Email, "quiet meadow one")
	resp = post(t, p, oc, fmt.Sprintf("/users/%d/role", other.ID), url.Values{"role": {"support"}}, htmx)
	wantStatus(t, resp, http.StatusUnprocessableEntity)
	if !strings.Contains(resp.Body, "last active admin") {
		t.Errorf("want the last-admin reason, got:\n%s", clip(resp.Body))
	}
	if got := userByEmail(t, p, other.Email).Role; got != models.RoleAdmin {
		t.Errorf("the last admin became %s", got)
	}
}

func TestStaffListSortsFromTheHeadings(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	admin := signInAdmin(t, p)
	// admin@example.com (admin) is there already.
	p.CreateUser(t, "bea@example.com", "quiet meadow eight", models.RoleSupport)
	p.CreateUser(t, "cal@example.com", "quiet meadow eight", models.RoleCompliance)
	emails := func(query string) []string {
		t.Helper()
		resp := p.Get(t, admin.client, "/users"+query)
		wantStatus(t, resp, http.StatusOK)
		var out []string
		for _, m := range regexp.MustCompile(`<td class="mono">([^<]*)</td>`).FindAllStringSubmatch(resp.Body, -1) {
			out = append(out, m[1])
		}
		return out
	}
	for query, want := range map[string]string{
		"":              "admin bea cal",
		"?sort=-email":  "cal bea admin",
		"?sort=role":    "admin cal bea", // admin, compliance, support
		"?sort=-role":   "bea cal admin",
		"?sort=created": "admin bea cal",
		"?sort=-name":   "cal bea admin",
	} {
		var got []string
		for _, e := range emails(query) {
			got = append(got, strings.TrimSuffix(e, "@example.com"))
		}
		if strings.Join(got, " ") != want {
			t.Errorf("GET /users%s lists %v, want %s", query, got, want)
		}
	}

	resp := p.Get(t, admin.client, "/users")
	if !strings.Contains(resp.Body, `<th class="" aria-sort="ascending"><a class="sort-link" href="/users?sort=-email">Email`) ||
		strings.Count(resp.Body, "aria-sort=") != 1 {
		t.Errorf("by default the email heading does not say it sorts ascending and link the other way:\n%s", clip(resp.Body))
	}
	for _, link := range []string{`href="/users?sort=name">Name</a>`, `href="/users?sort=role">Role</a>`, `href="/users?sort=-created">Since</a>`} {
		if !strings.Contains(resp.Body, link) {
			t.Errorf("no heading link %s", link)
		}
	}
	resp = p.Get(t, admin.client, "/users?sort=-created")
	if !strings.Contains(resp.Body, `aria-sort="descending"><a class="sort-link" href="/users?sort=created">Since`) {
		t.Error("the Since heading does not say it sorts descending and link oldest first")
	}
	resp = p.Get(t, admin.client, "/users?sort=password_hash")
	wantStatus(t, resp, http.StatusUnprocessableEntity)
	if !strings.Contains(resp.Body, `id="e-sort"`) {
		t.Error("an unknown order has no message")
	}
}
