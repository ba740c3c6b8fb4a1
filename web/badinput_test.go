package web_test

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"portal/internal/apptest"
	"portal/models"
)

// badRequest is one malformed request and the exact answer it must get.
type badRequest struct {
	name        string
	method      string
	path        string // may contain a raw query; sent as is
	contentType string // "" sends no Content-Type
	body        string
	htmx        bool
	want        int
}

// knownBugs names, for rows that fail today, the production code at fault.
var knownBugs = map[string]string{
	"invalid UTF-8 in the name": "services/accounts/accounts.go CreateUser: the name check counts runes but never checks " +
		"utf8.ValidString, so invalid UTF-8 is stored and rendered",
	"invalid UTF-8 in the email": "services/accounts/accounts.go checkEmail: no utf8.ValidString check, so an email " +
		"with invalid UTF-8 becomes an account",
	"control characters in the name": "services/accounts/accounts.go CreateUser: names may hold NUL and terminal escape sequences",
}

func form(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v.Encode()
}

const urlencoded = "application/x-www-form-urlencoded"

func multipartBody(t *testing.T, fields map[string]string, file string) (contentType, body string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for k, v := range fields {
		if err := w.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if file != "" {
		fw, err := w.CreateFormFile(file, "evil.exe")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fw.Write([]byte("MZ\x90\x00 not really a program"))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.FormDataContentType(), b.String()
}

// TestBadInputGets4xx sends malformed requests as a signed-in admin: each
// gets the 4xx listed, with a page a person can act on, and never a 5xx.
func TestBadInputGets4xx(t *testing.T) {
	t.Parallel()
	p := start(t, nil, probeSim{})
	admin := signInAdmin(t, p)
	target := p.CreateUser(t, "target@example.com", "quiet meadow five", models.RoleSupport)
	tid := fmt.Sprint(target.ID)
	usersBefore := count(t, p, "users")

	validUser := func(overrides ...string) string {
		v := url.Values{"email": {"new@example.com"}, "name": {"New Person"}, "role": {"operator"}, "password": {"a good long password"}}
		for i := 0; i+1 < len(overrides); i += 2 {
			v.Set(overrides[i], overrides[i+1])
		}
		return v.Encode()
	}
	mpEmptyType, mpEmpty := multipartBody(t, map[string]string{"email": "", "name": "", "role": "", "password": ""}, "")
	mpFileType, mpFile := multipartBody(t, map[string]string{"name": "Filer"}, "password")
	mpTruncType, mpTrunc := multipartBody(t, map[string]string{"email": "new@example.com", "name": "New", "role": "operator", "password": "a good long password"}, "")
	mpTrunc = mpTrunc[:len(mpTrunc)/2]
	manyFields := strings.Repeat("x=1&", 20000) + "email=a@example.com"

	cases := []badRequest{
		// The new-user form.
		{"huge email", "POST", "/users", urlencoded, validUser("email", strings.Repeat("a", 300_000)+"@example.com"), false, 422},
		{"huge name", "POST", "/users", urlencoded, validUser("name", strings.Repeat("n", 10_000)), false, 422},
		{"huge password", "POST", "/users", urlencoded, validUser("password", strings.Repeat("p", 100_000)), false, 422},
		{"body over the form limit", "POST", "/users", urlencoded, "name=" + strings.Repeat("a", 10<<20+16), false, 400},
		{"unknown role", "POST", "/users", urlencoded, validUser("role", "superuser"), false, 422},
		{"role with spaces", "POST", "/users", urlencoded, validUser("role", " admin "), false, 422},
		{"email without domain", "POST", "/users", urlencoded, validUser("email", "new@"), false, 422},
		{"email with markup", "POST", "/users", urlencoded, validUser("email", `"><script>x</script>@example.com`), false, 422},
		{"broken percent-encoding", "POST", "/users", urlencoded, "email=%zz&name=x", false, 400},
		// Each of these has its own email, so a wrongly accepted row can't
		// turn another into a duplicate-email 422.
		{"invalid UTF-8 in the name", "POST", "/users", urlencoded, validUser("email", "utf8name@example.com", "name", "Bad \xff\xfe name"), false, 422},
		{"invalid UTF-8 in the email", "POST", "/users", urlencoded, validUser("email", "bad\xff@example.com"), false, 422},
		{"control characters in the name", "POST", "/users", urlencoded, validUser("email", "ctrlname@example.com", "name", "Bob\x00\x1b[31m"), false, 422},
		{"too many fields", "POST", "/users", urlencoded, manyFields, false, 400},
		{"empty body", "POST", "/users", urlencoded, "", false, 422},
		{"empty body over htmx", "POST", "/users", urlencoded, "", true, 422},
		{"no content type", "POST", "/users", "", validUser(), false, 415},
		{"text/plain", "POST", "/users", "text/plain", validUser(), false, 415},
		{"garbage content type", "POST", "/users", ";;;=", validUser(), false, 415},
		{"malformed JSON", "POST", "/users", "application/json", `{"email": "x@example.com", `, false, 415},
		{"malformed XML", "POST", "/users", "application/xml", `<user><email>`, false, 415},
		{"multipart without boundary", "POST", "/users", "multipart/form-data", validUser(), false, 400},
		{"truncated multipart", "POST", "/users", mpTruncType, mpTrunc, false, 400},
		{"multipart with empty fields", "POST", "/users", mpEmptyType, mpEmpty, false, 422},
		{"multipart with a file as password", "POST", "/users", mpFileType, mpFile, false, 422},

		// User ids in the URL.
		{"non-numeric id", "POST", "/users/abc/role", urlencoded, form("role", "operator"), false, 404},
		{"unknown id", "POST", "/users/999999/role", urlencoded, form("role", "operator"), false, 404},
		{"unknown id over htmx", "POST", "/users/999999/role", urlencoded, form("role", "operator"), true, 404},
		{"id overflowing uint32", "POST", "/users/4294967296/role", urlencoded, form("role", "operator"), false, 404},
		{"id overflowing uint64", "POST", "/users/99999999999999999999999/disable", urlencoded, "", false, 404},
		{"id zero", "POST", "/users/0/disable", urlencoded, "", false, 404},
		{"negative id", "POST", "/users/-1/enable", urlencoded, "", false, 404},
		{"id in exponent form", "POST", "/users/1e3/disable", urlencoded, "", false, 404},
		{"id with NUL", "POST", "/users/%00/disable", urlencoded, "", false, 404},
		{"reset page non-numeric id", "GET", "/users/abc/password", "", "", false, 404},
		{"reset page huge id", "GET", "/users/18446744073709551616/password", "", "", false, 404},
		{"reset unknown id", "POST", "/users/999999/password", urlencoded, form("password", "a good long password"), false, 404},
		{"reset unknown id, short password", "POST", "/users/999999/password", urlencoded, form("password", "short"), false, 404},
		{"reset short password", "POST", "/users/" + tid + "/password", urlencoded, form("password", "short"), false, 422},
		{"reset huge password", "POST", "/users/" + tid + "/password", urlencoded, form("password", strings.Repeat("p", 5000)), false, 422},
		{"reset broken encoding", "POST", "/users/" + tid + "/password", urlencoded, "password=%", false, 400},
		{"role broken encoding", "POST", "/users/" + tid + "/role", urlencoded, "role=%g0", false, 400},

		// The audit log's filters and cursors.
		{"month 13", "GET", "/audit?from=2026-13-01", "", "", false, 422},
		{"day 45", "GET", "/audit?to=2026-01-45", "", "", false, 422},
		{"February 30", "GET", "/audit?from=2026-02-30", "", "", false, 422},
		{"words for a date", "GET", "/audit?from=yesterday", "", "", false, 422},
		{"year 10000", "GET", "/audit?to=10000-01-01", "", "", false, 422},
		{"date with time", "GET", "/audit?from=2026-01-01T00:00:00Z", "", "", false, 422},
		{"invalid UTF-8 date", "GET", "/audit?from=%ff%fe", "", "", false, 422},
		{"end before start", "GET", "/audit?from=2026-02-01&to=2026-01-01", "", "", false, 422},
		{"unknown action", "GET", "/audit?action=drop+table", "", "", false, 422},
		{"huge actor", "GET", "/audit?actor=" + strings.Repeat("a", 300), "", "", false, 422},
		{"non-numeric cursor", "GET", "/audit?before=abc", "", "", false, 400},
		{"negative cursor", "GET", "/audit?after=-5", "", "", false, 400},
		{"fractional cursor", "GET", "/audit?before=1.5", "", "", false, 400},
		{"cursor overflowing uint32", "GET", "/audit?before=4294967296", "", "", false, 400},
		{"cursor overflowing uint64", "GET", "/audit?after=99999999999999999999999", "", "", false, 400},
		{"export bad date", "GET", "/audit/export?from=garbage", "", "", false, 400},
		{"export month 0", "GET", "/audit/export?to=2026-00-10", "", "", false, 400},
		{"export unknown action", "GET", "/audit/export?action=nope", "", "", false, 400},
		{"export end before start", "GET", "/audit/export?from=2026-02-01&to=2026-01-01", "", "", false, 400},
		{"export huge actor", "GET", "/audit/export?actor=" + strings.Repeat("a", 300), "", "", false, 400},

		// The sandbox controls.
		{"unknown simulator", "POST", "/sandbox/faults", urlencoded, form("sim", "nope", "endpoint", "*", "kind", "hang"), false, 404},
		{"unknown endpoint", "POST", "/sandbox/faults", urlencoded, form("sim", "probe", "endpoint", "GET /nope", "kind", "hang"), false, 422},
		{"unknown fault kind", "POST", "/sandbox/faults", urlencoded, form("sim", "probe", "endpoint", "*", "kind", "explode"), false, 422},
		{"no fault kind", "POST", "/sandbox/faults", urlencoded, form("sim", "probe", "endpoint", "*"), false, 422},
		{"latency not a number", "POST", "/sandbox/faults", urlencoded, form("sim", "probe", "endpoint", "*", "kind", "latency", "latency_ms", "abc"), false, 422},
		{"latency overflowing", "POST", "/sandbox/faults", urlencoded, form("sim", "probe", "endpoint", "*", "kind", "latency", "latency_ms", "99999999999999999999999"), false, 422},
		{"latency zero", "POST", "/sandbox/faults", urlencoded, form("sim", "probe", "endpoint", "*", "kind", "latency", "latency_ms", "0"), false, 422},
		{"status 100", "POST", "/sandbox/faults", urlencoded, form("sim", "probe", "endpoint", "*", "kind", "status", "status", "100"), false, 422},
		{"status 600", "POST", "/sandbox/faults", urlencoded, form("sim", "probe", "endpoint", "*", "kind", "status", "status", "600"), false, 422},
		{"status words", "POST", "/sandbox/faults", urlencoded, form("sim", "probe", "endpoint", "*", "kind", "status", "status", "teapot"), false, 422},
		{"negative times", "POST", "/sandbox/faults", urlencoded, form("sim", "probe", "endpoint", "*", "kind", "hang", "times", "-1"), false, 422},
		{"fault broken encoding", "POST", "/sandbox/faults", urlencoded, "sim=%", false, 400},
		{"fault malformed JSON", "POST", "/sandbox/faults", "application/json", "{", false, 415},
		{"action of unknown simulator", "POST", "/sandbox/actions", urlencoded, form("sim", "nope", "action", "poke"), false, 404},
		{"unknown action", "POST", "/sandbox/actions", urlencoded, form("sim", "probe", "action", "nope"), false, 404},
		{"action missing a required field", "POST", "/sandbox/actions", urlencoded, form("sim", "probe", "action", "poke"), false, 422},
		{"action broken encoding", "POST", "/sandbox/actions", urlencoded, "sim=%zz", false, 400},

		// Sign-in and the own-password form (as the signed-in admin, so
		// nothing here may succeed).
		{"login broken encoding", "POST", "/login", urlencoded, "email=%zz", false, 400},
		{"login malformed JSON", "POST", "/login", "application/json", "{{", false, 415},
		{"login invalid UTF-8", "POST", "/login", urlencoded, form("email", "\xff@example.com", "password", "\xfe\xff"), false, 401},
		{"login huge email", "POST", "/login", urlencoded, form("email", strings.Repeat("e", 64<<10), "password", "x"), false, 422},
		{"own password wrong current", "POST", "/account/password", urlencoded, form("current_password", "nope", "new_password", "a good long password"), false, 422},
		{"own password too long", "POST", "/account/password", urlencoded, form("current_password", apptest.AdminPassword, "new_password", strings.Repeat("p", 300)), false, 422},
		{"own password broken encoding", "POST", "/account/password", urlencoded, "current_password=%", false, 400},

		// Methods and paths that don't exist.
		{"PUT", "PUT", "/users", urlencoded, validUser(), false, 404},
		{"DELETE", "DELETE", "/users/" + tid, "", "", false, 404},
		{"path traversal into static", "GET", "/static/../../etc/passwd", "", "", false, 404},
		{"encoded traversal into static", "GET", "/static/..%2f..%2fgo.mod", "", "", false, 404},
		{"static source file", "GET", "/static/static.go", "", "", false, 404},
		{"double slash", "GET", "//users", "", "", false, 404},
	}
	t.Run("rows", func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				sendBad(t, p, admin.client, tc)
			})
		}
	})

	if n := count(t, p, "users"); n != usersBefore {
		var odd []string
		_ = p.App.DB.Model(&models.User{}).Where("id > ?", target.ID).Pluck("email", &odd).Error
		t.Errorf("bad input created %d users: %q", n-usersBefore, odd)
	}
	if strings.Contains(p.Logs.String(), `"level":"ERROR"`) {
		t.Errorf("bad input logged errors:\n%s", clip(p.Logs.String()))
	}
	wantSignedIn(t, p, admin.client)
}

func sendBad(t *testing.T, p *apptest.Portal, c *http.Client, tc badRequest) {
	t.Helper()
	req, err := http.NewRequest(tc.method, p.URL, strings.NewReader(tc.body))
	if err != nil {
		t.Fatal(err)
	}
	// Set the path raw, so it reaches the server exactly as written.
	path, query, _ := strings.Cut(tc.path, "?")
	req.URL.RawPath = path
	req.URL.Path = path
	if u, err := url.PathUnescape(path); err == nil {
		req.URL.Path = u
	}
	req.URL.RawQuery = query
	if tc.contentType != "" {
		req.Header.Set("Content-Type", tc.contentType)
	}
	req.Header.Set("Origin", p.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if tc.htmx {
		req.Header.Set("HX-Request", "true")
	}
	resp := p.Do(t, c, req)
	if resp.StatusCode >= 500 {
		t.Fatalf("%s %s: server error %d for bad input:\n%s", tc.method, clip(tc.path), resp.StatusCode, clip(resp.Body))
	}
	if resp.StatusCode != tc.want {
		if bug, ok := knownBugs[tc.name]; ok {
			t.Fatalf("PRODUCTION BUG (%s): %s %s: status %d, want %d", bug, tc.method, clip(tc.path), resp.StatusCode, tc.want)
		}
		t.Fatalf("%s %s: status %d, want %d; body:\n%s", tc.method, clip(tc.path), resp.StatusCode, tc.want, clip(resp.Body))
	}
	// Our own pages (and htmx fragments) say what to do; only the static
	// handler's plain-text 404 is terse.
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		if !strings.Contains(resp.Body, "<main") && !strings.Contains(resp.Body, `role="alert"`) && !strings.Contains(resp.Body, `class="field-error"`) {
			t.Errorf("the answer is not a page a person can act on:\n%s", clip(resp.Body))
		}
	}
}

// TestOddButHarmlessInput lists input that is accepted on purpose: it must
// still never produce a 5xx.
func TestOddButHarmlessInput(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	admin := signInAdmin(t, p)
	for path, want := range map[string]int{
		// The export has no paging: stray cursors are ignored.
		"/audit/export?before=abc&after=-1": http.StatusOK,
		// Filters that match nobody are an empty result.
		"/audit?actor=%ff%fe":                  http.StatusOK,
		"/audit?actor=%27+OR+1%3D1+--":         http.StatusOK,
		"/audit?unknown=1&before=":             http.StatusOK,
		"/audit?from=0001-01-01&to=9999-12-31": http.StatusOK,
		// Signed in, the login page forwards to a safe next.
		"/login?next=%ff": http.StatusSeeOther,
		"/static/app.css?v=" + strings.Repeat("v", 5000): http.StatusOK,
	} {
		resp := p.Get(t, admin.client, path)
		if resp.StatusCode != want {
			t.Errorf("GET %s: status %d, want %d", clip(path), resp.StatusCode, want)
		}
	}
}

// FuzzUserForm posts arbitrary values to the new-user form as an admin: the
// portal may accept or refuse them, but never fail with a 5xx. Without -fuzz
// it runs the seeds.
func FuzzUserForm(f *testing.F) {
	p := start(f, nil)
	c := p.Client()
	p.Login(f, c, apptest.AdminEmail, apptest.AdminPassword)

	f.Add("new@example.com", "New Person", "operator", "a good long password")
	f.Add("", "", "", "")
	f.Add("ADMIN@example.com", "Admin Again", "admin", "a good long password")
	f.Add("x@y", "x", "root", "short")
	f.Add("\xff@example.com", "\xff\xfe", "support\x00", "\xff\xff\xff\xff\xff\xff\xff\xff")
	f.Add("a@b.c", strings.Repeat("é", 101), "compliance", strings.Repeat("🔑", 257))
	f.Add(`"><script>alert(1)</script>@example.com`, "<b>bold</b>", "admin", "%00%00%00%00%00%00")
	f.Add(strings.Repeat("a", 250)+"@example.com", " \t\n ", " operator ", "        ")
	f.Add("'; DROP TABLE users; --@example.com", "Robert'); DROP TABLE users;--", "operator", "correct horse battery staple")
	f.Add("user@example.com\r\nBcc: x@example.com", "name\r\nX-Injected: 1", "support", "password\r\n")

	f.Fuzz(func(t *testing.T, email, name, role, password string) {
		resp := p.PostForm(t, c, "/users", url.Values{"email": {email}, "name": {name}, "role": {role}, "password": {password}})
		switch resp.StatusCode {
		case http.StatusSeeOther, http.StatusUnprocessableEntity:
		default:
			t.Fatalf("email %q name %q role %q: status %d, want 303 or 422\n%s", email, name, role, resp.StatusCode, clip(resp.Body))
		}
		typed := email + "\x00" + name + "\x00" + role
		if resp.StatusCode == http.StatusUnprocessableEntity && len(password) >= 4 && !strings.Contains(typed, password) &&
			strings.Contains(resp.Body, `value="`+password+`"`) {
			t.Fatalf("the password was echoed back into the form")
		}
	})
}
