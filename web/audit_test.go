package web_test

import (
	"encoding/csv"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"portal/internal/apptest"
	"portal/models"
	"portal/services"
)

// wantEvent is what one action must leave in the audit log.
type wantEvent struct {
	actorID             uint // 0: no actor id (anonymous or system)
	actor, action, subj string
	details, ip         string // ip "" means 127.0.0.1
}

// oneEvent runs do and checks it wrote exactly the expected audit event.
func oneEvent(t *testing.T, p *apptest.Portal, name string, want wantEvent, do func()) {
	t.Helper()
	theseEvents(t, p, name, []wantEvent{want}, do)
}

// theseEvents runs do and checks it wrote exactly the expected audit
// events, in order.
func theseEvents(t *testing.T, p *apptest.Portal, name string, wants []wantEvent, do func()) {
	t.Helper()
	before := lastAuditID(t, p)
	do()
	evs := auditAfter(t, p, before)
	if len(evs) != len(wants) {
		t.Fatalf("%s: wrote %d audit events, want %d: %+v", name, len(evs), len(wants), evs)
	}
	for i, want := range wants {
		ev := evs[i]
		var actorID uint
		if ev.ActorID != nil {
			actorID = *ev.ActorID
		}
		if want.ip == "" {
			want.ip = "127.0.0.1"
		}
		if actorID != want.actorID || ev.ActorEmail != want.actor || ev.Action != want.action || ev.Subject != want.subj ||
			ev.Details != want.details || ev.IP != want.ip {
			t.Errorf("%s: event {actor_id %d, actor %q, action %q, subject %q, details %q, ip %q}\n\twant {actor_id %d, actor %q, action %q, subject %q, details %q, ip %q}",
				name, actorID, ev.ActorEmail, ev.Action, ev.Subject, ev.Details, ev.IP,
				want.actorID, want.actor, want.action, want.subj, want.details, want.ip)
		}
		if _, offset := ev.At.Zone(); offset != 0 {
			t.Errorf("%s: event time %v is not UTC", name, ev.At)
		}
		if d := p.Clock.Now().Sub(ev.At); d < 0 || d > time.Minute {
			t.Errorf("%s: event time %v is not the portal's now (%v)", name, ev.At, p.Clock.Now())
		}
	}
}

func TestEveryStaffActionIsAudited(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	admin := p.Client()
	adminUser := userByEmail(t, p, apptest.AdminEmail)
	const (
		email   = "new.person@example.com"
		initial = "initial password 1"
		reset   = "reset password 22"
		own     = "own password 333"
	)

	// An admin's first sign-in sets the second factor up.
	theseEvents(t, p, "first login", []wantEvent{
		{actorID: adminUser.ID, actor: apptest.AdminEmail, action: "login.password_ok", subj: apptest.AdminEmail, details: "second-factor enrolment next"},
		{actorID: adminUser.ID, actor: apptest.AdminEmail, action: "user.2fa_enrolled", subj: apptest.AdminEmail},
		{actorID: adminUser.ID, actor: apptest.AdminEmail, action: "login.success", subj: apptest.AdminEmail, details: "second factor enrolled"},
	}, func() {
		p.Login(t, admin, apptest.AdminEmail, apptest.AdminPassword)
	})
	theseEvents(t, p, "login with a code", []wantEvent{
		{actorID: adminUser.ID, actor: apptest.AdminEmail, action: "login.password_ok", subj: apptest.AdminEmail, details: "second factor next"},
		{actorID: adminUser.ID, actor: apptest.AdminEmail, action: "login.success", subj: apptest.AdminEmail, details: "authenticator app"},
	}, func() {
		p.Login(t, admin, apptest.AdminEmail, apptest.AdminPassword)
	})
	oneEvent(t, p, "login failure", wantEvent{actor: apptest.AdminEmail, action: "login.failure", subj: apptest.AdminEmail, details: "wrong password"}, func() {
		wantStatus(t, p.PostForm(t, p.Client(), "/login", url.Values{"email": {apptest.AdminEmail}, "password": {"wrong"}}), http.StatusUnauthorized)
	})
	oneEvent(t, p, "login failure, unknown email", wantEvent{actor: "ghost@example.com", action: "login.failure", subj: "ghost@example.com", details: "unknown email"}, func() {
		wantStatus(t, p.PostForm(t, p.Client(), "/login", url.Values{"email": {"Ghost@Example.com"}, "password": {"wrong"}}), http.StatusUnauthorized)
	})
	oneEvent(t, p, "user created", wantEvent{actorID: adminUser.ID, actor: apptest.AdminEmail, action: "user.created", subj: email, details: "role=operator"}, func() {
		wantRedirect(t, p.PostForm(t, admin, "/users", url.Values{"email": {email}, "name": {"New Person"}, "role": {"operator"}, "password": {initial}}), "/users")
	})
	u := userByEmail(t, p, email)
	oneEvent(t, p, "role changed", wantEvent{actorID: adminUser.ID, actor: apptest.AdminEmail, action: "user.role_changed", subj: email, details: "from=operator to=support"}, func() {
		wantRedirect(t, p.PostForm(t, admin, fmt.Sprintf("/users/%d/role", u.ID), url.Values{"role": {"support"}}), "/users")
	})
	oneEvent(t, p, "disabled", wantEvent{actorID: adminUser.ID, actor: apptest.AdminEmail, action: "user.disabled", subj: email}, func() {
		wantRedirect(t, p.PostForm(t, admin, fmt.Sprintf("/users/%d/disable", u.ID), nil), "/users")
	})
	oneEvent(t, p, "enabled", wantEvent{actorID: adminUser.ID, actor: apptest.AdminEmail, action: "user.enabled", subj: email}, func() {
		wantRedirect(t, p.PostForm(t, admin, fmt.Sprintf("/users/%d/enable", u.ID), nil), "/users")
	})
	oneEvent(t, p, "password reset", wantEvent{actorID: adminUser.ID, actor: apptest.AdminEmail, action: "user.password_reset", subj: email}, func() {
		wantRedirect(t, p.PostForm(t, admin, fmt.Sprintf("/users/%d/password", u.ID), url.Values{"password": {reset}}), "/users")
	})
	person := p.Client()
	oneEvent(t, p, "their login", wantEvent{actorID: u.ID, actor: email, action: "login.success", subj: email}, func() {
		p.Login(t, person, email, reset)
	})
	oneEvent(t, p, "own password changed", wantEvent{actorID: u.ID, actor: email, action: "user.password_changed", subj: email}, func() {
		wantRedirect(t, p.PostForm(t, person, "/account/password", url.Values{"current_password": {reset}, "new_password": {own}}), "/")
	})
	oneEvent(t, p, "logout", wantEvent{actorID: adminUser.ID, actor: apptest.AdminEmail, action: "logout", subj: apptest.AdminEmail}, func() {
		wantRedirect(t, p.PostForm(t, admin, "/logout", nil), "/login")
	})

	// Refused changes leave no trace of a change.
	p.Login(t, admin, apptest.AdminEmail, apptest.AdminPassword)
	before := lastAuditID(t, p)
	wantRedirect(t, p.PostForm(t, admin, fmt.Sprintf("/users/%d/disable", adminUser.ID), nil), "/users")
	wantStatus(t, p.PostForm(t, admin, "/users", url.Values{"email": {email}, "name": {"Again"}, "role": {"operator"}, "password": {initial}}), http.StatusUnprocessableEntity)
	if evs := auditAfter(t, p, before); len(evs) != 0 {
		t.Errorf("refused changes were audited as changes: %+v", evs)
	}

	// Throttled sign-ins are audited too.
	for range 5 {
		wantStatus(t, p.PostForm(t, p.Client(), "/login", url.Values{"email": {"target@example.com"}, "password": {"guess"}}), http.StatusUnauthorized)
	}
	before = lastAuditID(t, p)
	wantStatus(t, p.PostForm(t, p.Client(), "/login", url.Values{"email": {"target@example.com"}, "password": {"guess"}}), http.StatusTooManyRequests)
	if evs := auditAfter(t, p, before); len(evs) != 1 || evs[0].Action != "login.throttled" || evs[0].Subject != "target@example.com" {
		t.Errorf("throttled sign-in: events %+v, want one login.throttled", evs)
	}

	// The admin reads the same story on the audit page.
	page := p.Get(t, admin, "/audit")
	wantStatus(t, page, http.StatusOK)
	rows := tableRows(page.Body)
	var actions []string
	for _, r := range rows {
		if len(r) != 6 {
			t.Fatalf("audit row %q: want 6 cells", r)
		}
		actions = append(actions, r[2])
	}
	for _, a := range []string{"login.success", "login.failure", "login.throttled", "user.created", "user.role_changed",
		"user.disabled", "user.enabled", "user.password_reset", "user.password_changed", "logout"} {
		if !slices.Contains(actions, a) {
			t.Errorf("the audit page does not show %s (shows %q)", a, actions)
		}
	}
	// Oldest first: the system created the first admin, who then signed in.
	if r := rows[len(rows)-1]; r[1] != "system" || r[2] != "user.created" || r[3] != apptest.AdminEmail {
		t.Errorf("oldest row %q: want the system creating the first admin", r)
	}
	if r := rows[len(rows)-2]; r[1] != apptest.AdminEmail || r[2] != "login.password_ok" || r[4] != "127.0.0.1" {
		t.Errorf("second-oldest row %q: want the admin's first sign-in (its password step) from 127.0.0.1", r)
	}
}

// auditPage fetches an audit page and returns its rows and pager links.
func auditPage(t *testing.T, p *apptest.Portal, c *http.Client, path string) (rows [][]string, older, newer string) {
	t.Helper()
	resp := p.Get(t, c, path)
	wantStatus(t, resp, http.StatusOK)
	rows = tableRows(resp.Body)
	if m := regexp.MustCompile(`<a href="([^"]*)">(?:Older|Next) →</a>`).FindStringSubmatch(resp.Body); m != nil {
		older = html.UnescapeString(m[1])
	}
	if m := regexp.MustCompile(`<a href="([^"]*)">← (?:Newer|Previous)</a>`).FindStringSubmatch(resp.Body); m != nil {
		newer = html.UnescapeString(m[1])
	}
	return rows, older, newer
}

func column(rows [][]string, i int) []string {
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		out = append(out, r[i])
	}
	return out
}

// dbColumn returns a column of the audit events matching where, newest first.
func dbColumn(t *testing.T, p *apptest.Portal, col, where string, args ...any) []string {
	t.Helper()
	var out []string
	q := p.App.DB.Model(&models.AuditEvent{}).Order("id DESC")
	if where != "" {
		q = q.Where(where, args...)
	}
	if err := q.Pluck(col, &out).Error; err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAuditFilters(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	day1 := p.Clock.Now().UTC().Format("2006-01-02")
	admin := signInAdmin(t, p)
	p.CreateUser(t, "early@example.com", "quiet meadow eight", models.RoleSupport)
	wantStatus(t, p.PostForm(t, p.Client(), "/login", url.Values{"email": {"early@example.com"}, "password": {"wrong"}}), http.StatusUnauthorized)

	p.Clock.Advance(48 * time.Hour)
	day3 := p.Clock.Now().UTC().Format("2006-01-02")
	p.Login(t, admin.client, apptest.AdminEmail, apptest.AdminPassword)
	wantRedirect(t, p.PostForm(t, admin.client, "/users", url.Values{"email": {"late@example.com"}, "name": {"Late"}, "role": {"operator"}, "password": {"quiet meadow nine"}}), "/users")
	wantStatus(t, p.PostForm(t, p.Client(), "/login", url.Values{"email": {"late@example.com"}, "password": {"wrong"}}), http.StatusUnauthorized)

	day1Start, _ := time.Parse("2006-01-02", day1)
	day3Start, _ := time.Parse("2006-01-02", day3)
	cases := []struct {
		query string
		where string
		args  []any
	}{
		{"", "", nil},
		{"actor=admin%40example.com", "actor_email = ?", []any{apptest.AdminEmail}},
		{"actor=+ADMIN%40Example.com+", "actor_email = ?", []any{apptest.AdminEmail}},
		{"actor=system", "actor_email = ?", []any{"system"}},
		{"action=login.failure", "action = ?", []any{"login.failure"}},
		{"action=user.created&actor=admin%40example.com", "action = ? AND actor_email = ?", []any{"user.created", apptest.AdminEmail}},
		{"from=" + day3, "at >= ?", []any{day3Start}},
		{"to=" + day1, "at < ?", []any{day1Start.AddDate(0, 0, 1)}},
		{"from=" + day1 + "&to=" + day1, "at >= ? AND at < ?", []any{day1Start, day1Start.AddDate(0, 0, 1)}},
		{"from=" + day3 + "&action=login.failure", "at >= ? AND action = ?", []any{day3Start, "login.failure"}},
		{"actor=nobody%40example.com", "actor_email = ?", []any{"nobody@example.com"}},
	}
	total := len(dbColumn(t, p, "subject", ""))
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			t.Parallel()
			want := dbColumn(t, p, "subject", tc.where, tc.args...)
			// Each filter must narrow the log without emptying it (except
			// for the actor nobody is), or the comparison proves little.
			if tc.query != "" && (len(want) == total || len(want) == 0 && !strings.Contains(tc.query, "nobody")) {
				t.Fatalf("%d of %d events match: pick test data that the filter splits", len(want), total)
			}
			rows, older, newer := auditPage(t, p, admin.client, "/audit?"+tc.query)
			if got := column(rows, 3); !slices.Equal(got, want) {
				t.Errorf("subjects %q, want %q", got, want)
			}
			if older != "" || newer != "" {
				t.Errorf("one short page has pager links %q %q", older, newer)
			}

			// The export carries the same filter.
			resp := p.Get(t, admin.client, "/audit/export?"+tc.query)
			wantStatus(t, resp, http.StatusOK)
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
				t.Errorf("export Content-Type %q", ct)
			}
			if cd := resp.Header.Get("Content-Disposition"); !strings.Contains(cd, "attachment") {
				t.Errorf("export Content-Disposition %q", cd)
			}
			recs, err := csv.NewReader(strings.NewReader(resp.Body)).ReadAll()
			if err != nil {
				t.Fatalf("export is not CSV: %v\n%s", err, resp.Body)
			}
			if len(recs) == 0 || !slices.Equal(recs[0], []string{"id", "at_utc", "actor", "action", "subject", "ip", "details"}) {
				t.Fatalf("export header %q", recs[:min(1, len(recs))])
			}
			if got := column(recs[1:], 4); !slices.Equal(got, want) {
				t.Errorf("export subjects %q, want %q", got, want)
			}
		})
	}
	// The page's export link keeps the filter.
	resp := p.Get(t, admin.client, "/audit?action=login.failure&actor=late%40example.com")
	if !strings.Contains(html.UnescapeString(resp.Body), `href="/audit/export?action=login.failure&actor=late%40example.com"`) {
		t.Errorf("the export link does not carry the filter")
	}
}

func TestAuditKeysetPaging(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	admin := signInAdmin(t, p)
	// 130 more events, alternating two actions, written the way services
	// write them.
	now := p.Clock.Now()
	for i := range 130 {
		action := []string{"user.enabled", "user.disabled"}[i%2]
		if err := services.Audit(p.App.DB, now, services.System, action, fmt.Sprintf("bulk-%03d", i), ""); err != nil {
			t.Fatal(err)
		}
	}

	walk := func(t *testing.T, first string, oldestFirst bool, where string, args ...any) {
		t.Helper()
		want := dbColumn(t, p, "subject", where, args...)
		if oldestFirst {
			slices.Reverse(want)
		}
		var pages [][]string
		var newers []string
		next := first
		for next != "" {
			if len(pages) > 10 {
				t.Fatal("paging does not end")
			}
			rows, older, newer := auditPage(t, p, admin.client, next)
			if len(rows) > 50 {
				t.Fatalf("page %d has %d rows, want at most 50", len(pages)+1, len(rows))
			}
			if (len(pages) == 0) != (newer == "") {
				t.Errorf("page %d: Newer link %q", len(pages)+1, newer)
			}
			pages = append(pages, column(rows, 3))
			newers = append(newers, newer)
			next = older
		}
		var all []string
		for _, pg := range pages {
			all = append(all, pg...)
		}
		if !slices.Equal(all, want) {
			t.Fatalf("walking Older → gave %d events %q…, want %d", len(all), all[:min(5, len(all))], len(want))
		}
		if wantPages := (len(want) + 49) / 50; len(pages) != wantPages {
			t.Errorf("%d pages, want %d", len(pages), wantPages)
		}
		// Walk back with ← Newer from the last page: the same pages again.
		for i := len(pages) - 1; i > 0; i-- {
			rows, _, newer := auditPage(t, p, admin.client, newers[i])
			if got := column(rows, 3); !slices.Equal(got, pages[i-1]) {
				t.Errorf("← Newer from page %d gave %q…, want page %d %q…", i+1, got[:min(3, len(got))], i, pages[i-1][:3])
			}
			if i-1 == 0 && newer != "" {
				t.Errorf("back on the first page, there is still a Newer link %q", newer)
			}
		}
	}
	t.Run("all", func(t *testing.T) {
		t.Parallel()
		walk(t, "/audit", false, "")
	})
	t.Run("filtered", func(t *testing.T) {
		t.Parallel()
		walk(t, "/audit?action=user.enabled", false, "action = ?", "user.enabled")
	})
	t.Run("oldest first", func(t *testing.T) {
		t.Parallel()
		walk(t, "/audit?sort=at", true, "")
	})
	t.Run("oldest first, filtered", func(t *testing.T) {
		t.Parallel()
		walk(t, "/audit?sort=at&action=user.disabled", true, "action = ?", "user.disabled")
	})
	t.Run("the heading sorts", func(t *testing.T) {
		t.Parallel()
		resp := p.Get(t, admin.client, "/audit?action=user.enabled")
		if !strings.Contains(resp.Body, `<th class="" aria-sort="descending"><a class="sort-link" href="/audit?action=user.enabled&amp;sort=at">When`) {
			t.Errorf("the When heading does not say newest first and link oldest first:\n%s", clip(resp.Body))
		}
		resp = p.Get(t, admin.client, "/audit?sort=at&action=user.enabled")
		if !strings.Contains(resp.Body, `<th class="" aria-sort="ascending"><a class="sort-link" href="/audit?action=user.enabled&amp;sort=-at">When`) ||
			strings.Count(resp.Body, "aria-sort=") != 1 {
			t.Errorf("the When heading does not say oldest first and link newest first")
		}
		if !strings.Contains(resp.Body, `<input type="hidden" name="sort" value="at">`) {
			t.Error("the filter form does not keep the order")
		}
		if !strings.Contains(resp.Body, "Next →") || strings.Contains(resp.Body, "Older →") {
			t.Error("pages oldest first are not labelled Next")
		}
		wantStatus(t, p.Get(t, admin.client, "/audit?sort=at&before=12_x"), http.StatusBadRequest)
		wantStatus(t, p.Get(t, admin.client, "/audit?before=ten"), http.StatusBadRequest)
		resp = p.Get(t, admin.client, "/audit?sort=actor")
		wantStatus(t, resp, http.StatusUnprocessableEntity)
		if !strings.Contains(resp.Body, `id="e-sort"`) {
			t.Error("an unknown order has no message")
		}
	})
	t.Run("links keep the filter", func(t *testing.T) {
		t.Parallel()
		_, older, _ := auditPage(t, p, admin.client, "/audit?action=user.disabled")
		u, err := url.Parse(older)
		if err != nil || u.Path != "/audit" || u.Query().Get("action") != "user.disabled" || u.Query().Get("before") == "" {
			t.Errorf("Older link %q: want /audit with the action filter and a cursor", older)
		}
	})
}

func TestAuditExportNeutralisesFormulas(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	admin := signInAdmin(t, p)
	// A sign-in attempt's email is whatever an attacker typed.
	const evil = `=HYPERLINK("https://evil.example","x")`
	wantStatus(t, p.PostForm(t, p.Client(), "/login", url.Values{"email": {evil}, "password": {"x"}}), http.StatusUnauthorized)
	resp := p.Get(t, admin.client, "/audit/export?action=login.failure")
	wantStatus(t, resp, http.StatusOK)
	recs, err := csv.NewReader(strings.NewReader(resp.Body)).ReadAll()
	if err != nil || len(recs) != 2 {
		t.Fatalf("export: %v, %d records:\n%s", err, len(recs), resp.Body)
	}
	for i, cell := range recs[1] {
		if strings.HasPrefix(cell, "=") || strings.HasPrefix(cell, "+") || strings.HasPrefix(cell, "-") || strings.HasPrefix(cell, "@") {
			t.Errorf("cell %d %q would run as a formula", i, cell)
		}
	}
	if recs[1][4] != "'"+strings.ToLower(evil) {
		t.Errorf("subject cell %q, want the typed email with a leading quote", recs[1][4])
	}
}

func TestAuditEventsAreAppendOnly(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	signInAdmin(t, p)
	before := dbColumn(t, p, "action", "")
	if len(before) == 0 {
		t.Fatal("no audit events to tamper with")
	}
	for _, stmt := range []string{
		"UPDATE audit_events SET action = 'tampered'",
		"UPDATE audit_events SET ip = '10.0.0.1' WHERE id = 1",
		"DELETE FROM audit_events",
		"DELETE FROM audit_events WHERE id = 1",
	} {
		err := p.App.DB.Exec(stmt).Error
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want the append-only trigger to refuse it", stmt, err)
		}
	}
	if after := dbColumn(t, p, "action", ""); !slices.Equal(after, before) {
		t.Errorf("audit events changed: %q → %q", before, after)
	}
	// Adding stays possible.
	if err := services.Audit(p.App.DB, p.Clock.Now(), services.System, "logout", "x", ""); err != nil {
		t.Errorf("insert: %v", err)
	}
}

// TestNoSecretsInLogsOrAudit runs a session full of passwords and checks that
// neither the logs nor any audit column ever holds one, or a session cookie.
func TestNoSecretsInLogsOrAudit(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	const (
		initial  = "initial-Secret-7f3a9"
		reset    = "reset-Secret-0c1d2"
		own      = "own-Secret-b4e5f6"
		mistyped = "mistyped-Secret-9a8b7"
	)
	secrets := []string{apptest.AdminPassword, initial, reset, own, mistyped}
	var cookies []string
	keep := func(c *http.Client) {
		if v := cookieValue(t, p, c); v != "" {
			cookies = append(cookies, v)
		}
	}

	admin := p.Client()
	p.Login(t, admin, apptest.AdminEmail, apptest.AdminPassword)
	keep(admin)
	wantStatus(t, p.PostForm(t, p.Client(), "/login", url.Values{"email": {apptest.AdminEmail}, "password": {mistyped}}), http.StatusUnauthorized)
	wantRedirect(t, p.PostForm(t, admin, "/users", url.Values{"email": {"sam@example.com"}, "name": {"Sam"}, "role": {"support"}, "password": {initial}}), "/users")
	// A rejected form (too-short password) must not log what was typed either.
	wantStatus(t, p.PostForm(t, admin, "/users", url.Values{"email": {"short@example.com"}, "name": {"Short"}, "role": {"support"}, "password": {"Sec-123"}}), http.StatusUnprocessableEntity)
	secrets = append(secrets, "Sec-123")
	sam := userByEmail(t, p, "sam@example.com")
	wantRedirect(t, p.PostForm(t, admin, fmt.Sprintf("/users/%d/password", sam.ID), url.Values{"password": {reset}}), "/users")
	samClient := p.Client()
	p.Login(t, samClient, "sam@example.com", reset)
	keep(samClient)
	wantRedirect(t, p.PostForm(t, samClient, "/account/password", url.Values{"current_password": {reset}, "new_password": {own}}), "/")
	keep(samClient)
	wantStatus(t, p.PostForm(t, samClient, "/account/password", url.Values{"current_password": {mistyped}, "new_password": {initial}}), http.StatusUnprocessableEntity)
	wantSignedIn(t, p, samClient)
	wantRedirect(t, p.PostForm(t, admin, "/logout", nil), "/login")
	if len(cookies) != 3 {
		t.Fatalf("collected %d session cookies, want 3", len(cookies))
	}

	logs := p.Logs.String()
	if !strings.Contains(logs, `"path":"/login"`) {
		t.Fatalf("the portal logged no requests; the check below would prove nothing:\n%s", clip(logs))
	}
	var events []models.AuditEvent
	if err := p.App.DB.Find(&events).Error; err != nil {
		t.Fatal(err)
	}
	var sessions []models.Session
	if err := p.App.DB.Find(&sessions).Error; err != nil {
		t.Fatal(err)
	}
	for _, secret := range append(secrets, cookies...) {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs contain the secret %q", secret)
		}
		for _, ev := range events {
			for _, v := range []string{ev.ActorEmail, ev.Action, ev.Subject, ev.IP, ev.Details} {
				if strings.Contains(v, secret) {
					t.Errorf("audit event %d (%s) contains the secret %q", ev.ID, ev.Action, secret)
				}
			}
		}
		// The sessions table keeps only a keyed hash of each id.
		for _, s := range sessions {
			if strings.Contains(s.IDHash, secret) || strings.Contains(s.Data, secret) {
				t.Errorf("the sessions table stores %q", secret)
			}
		}
	}
}
