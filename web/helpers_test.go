package web_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"portal/internal/apptest"
	"portal/models"
	"portal/services/sandbox"
)

// cookieName is the session cookie's name on a plain-http portal.
const cookieName = "portal_session"

// start runs a portal with the given extra environment and simulators.
func start(t testing.TB, env map[string]string, sims ...sandbox.Simulator) *apptest.Portal {
	t.Helper()
	return apptest.Start(t, apptest.Config{Env: env, Simulators: sims})
}

// staff is a signed-in staff member with their own browser.
type staff struct {
	client   *http.Client
	user     models.User
	password string
}

// signInAdmin signs the first admin in on a fresh client.
func signInAdmin(t testing.TB, p *apptest.Portal) staff {
	t.Helper()
	c := p.Client()
	p.Login(t, c, apptest.AdminEmail, apptest.AdminPassword)
	return staff{client: c, user: userByEmail(t, p, apptest.AdminEmail), password: apptest.AdminPassword}
}

// newStaff creates a user with role (email derived from name) and signs them
// in on a fresh client.
func newStaff(t testing.TB, p *apptest.Portal, name string, role models.Role) staff {
	t.Helper()
	// Not made of the name: the password rules refuse that.
	password := "tall river lantern 42"
	u := p.CreateUser(t, name+"@example.com", password, role)
	c := p.Client()
	p.Login(t, c, u.Email, password)
	return staff{client: c, user: u, password: password}
}

// userByEmail reads a user from the database.
func userByEmail(t testing.TB, p *apptest.Portal, email string) models.User {
	t.Helper()
	var u models.User
	if err := p.App.DB.Where("email = ?", email).Take(&u).Error; err != nil {
		t.Fatalf("user %s: %v", email, err)
	}
	return u
}

// userByID reads a user from the database.
func userByID(t testing.TB, p *apptest.Portal, id uint) models.User {
	t.Helper()
	var u models.User
	if err := p.App.DB.Take(&u, id).Error; err != nil {
		t.Fatalf("user %d: %v", id, err)
	}
	return u
}

// count returns the number of rows in table.
func count(t testing.TB, p *apptest.Portal, table string) int64 {
	t.Helper()
	var n int64
	if err := p.App.DB.Table(table).Count(&n).Error; err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// sessionsOf counts the stored sessions of a user.
func sessionsOf(t testing.TB, p *apptest.Portal, userID uint) int64 {
	t.Helper()
	var n int64
	if err := p.App.DB.Model(&models.Session{}).Where("user_id = ?", userID).Count(&n).Error; err != nil {
		t.Fatalf("count sessions: %v", err)
	}
	return n
}

// lastAuditID is the id of the newest audit event (0 if none).
func lastAuditID(t testing.TB, p *apptest.Portal) uint {
	t.Helper()
	var ev models.AuditEvent
	if err := p.App.DB.Order("id DESC").Limit(1).Find(&ev).Error; err != nil {
		t.Fatalf("audit: %v", err)
	}
	return ev.ID
}

// auditAfter returns the audit events with an id above after, oldest first.
func auditAfter(t testing.TB, p *apptest.Portal, after uint) []models.AuditEvent {
	t.Helper()
	var evs []models.AuditEvent
	if err := p.App.DB.Where("id > ?", after).Order("id").Find(&evs).Error; err != nil {
		t.Fatalf("audit: %v", err)
	}
	return evs
}

// cookieValue returns the session cookie the client's jar holds for the
// portal, or "".
func cookieValue(t testing.TB, p *apptest.Portal, c *http.Client) string {
	t.Helper()
	u, err := url.Parse(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == cookieName {
			return ck.Value
		}
	}
	return ""
}

// setCookie returns the cookie named name from a response's Set-Cookie
// headers, or nil.
func setCookie(resp *apptest.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// getWithCookie sends a GET carrying exactly one cookie from a client with
// an empty jar, as an attacker replaying a captured cookie would.
func getWithCookie(t testing.TB, p *apptest.Portal, path, name, value string) *apptest.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, p.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: name, Value: value})
	return p.Do(t, p.Client(), req)
}

// post sends a same-origin form post with extra headers (HX-Request, say).
func post(t testing.TB, p *apptest.Portal, c *http.Client, path string, form url.Values, header map[string]string) *apptest.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, p.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", p.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return p.Do(t, c, req)
}

var htmx = map[string]string{"HX-Request": "true"}

// wantStatus fails the test unless resp has status want.
func wantStatus(t testing.TB, resp *apptest.Response, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d; body:\n%s", resp.Request.Method, resp.Request.URL.RequestURI(), resp.StatusCode, want, clip(resp.Body))
	}
}

// wantRedirect fails the test unless resp is a 303 to location.
func wantRedirect(t testing.TB, resp *apptest.Response, location string) {
	t.Helper()
	wantStatus(t, resp, http.StatusSeeOther)
	if got := resp.Header.Get("Location"); got != location {
		t.Fatalf("%s %s: Location %q, want %q", resp.Request.Method, resp.Request.URL.RequestURI(), got, location)
	}
}

// wantAnonymous fails unless GET / with this client is sent to sign in.
func wantAnonymous(t testing.TB, p *apptest.Portal, c *http.Client) {
	t.Helper()
	wantRedirect(t, p.Get(t, c, "/"), "/login?next=%2F")
}

// wantSignedIn fails unless GET / with this client shows the dashboard.
func wantSignedIn(t testing.TB, p *apptest.Portal, c *http.Client) {
	t.Helper()
	wantStatus(t, p.Get(t, c, "/"), http.StatusOK)
}

func clip(s string) string {
	if len(s) > 2000 {
		return s[:2000] + "…"
	}
	return s
}

var (
	tagRE   = regexp.MustCompile(`<[^>]*>`)
	tbodyRE = regexp.MustCompile(`(?s)<tbody>(.*?)</tbody>`)
	trRE    = regexp.MustCompile(`(?s)<tr[^>]*>(.*?)</tr>`)
	tdRE    = regexp.MustCompile(`(?s)<td[^>]*>(.*?)</td>`)
	spaceRE = regexp.MustCompile(`\s+`)
)

// text strips tags and entities from an HTML fragment.
func text(fragment string) string {
	return strings.TrimSpace(spaceRE.ReplaceAllString(html.UnescapeString(tagRE.ReplaceAllString(fragment, " ")), " "))
}

// tableRows returns the text of every cell of the first table body in page.
func tableRows(page string) [][]string {
	m := tbodyRE.FindStringSubmatch(page)
	if m == nil {
		return nil
	}
	var rows [][]string
	for _, tr := range trRE.FindAllStringSubmatch(m[1], -1) {
		var cells []string
		for _, td := range tdRE.FindAllStringSubmatch(tr[1], -1) {
			cells = append(cells, text(td[1]))
		}
		rows = append(rows, cells)
	}
	return rows
}

// probeSim is a minimal simulator so the sandbox routes and forms have
// something to act on.
type probeSim struct{}

func (probeSim) Name() string  { return "probe" }
func (probeSim) Title() string { return "Probe" }
func (probeSim) Routes(r *sandbox.Routes) {
	r.HandleFunc("GET /ping", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
}
func (probeSim) Actions() []sandbox.Action {
	return []sandbox.Action{{
		Name:   "poke",
		Fields: []sandbox.Field{{Name: "ref", Label: "Reference", Required: true}},
		Run:    func(context.Context, map[string]string) (string, error) { return "poked", nil },
	}}
}
