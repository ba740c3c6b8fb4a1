package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"portal/models"
	"portal/web"
)

// TestEveryRouteHasAPolicy walks the routes Gin really has and the access
// rules routes.go declared: each must have the other, and a non-public route
// must name at least one role (an empty list would deny everybody, which is
// almost certainly a forgotten rule rather than a decision).
func TestEveryRouteHasAPolicy(t *testing.T) {
	t.Parallel()
	p := start(t, nil, probeSim{})
	policy := p.App.Server.Policy()
	routes := p.App.Server.Routes()
	if len(routes) == 0 {
		t.Fatal("the router has no routes")
	}
	registered := map[string]bool{}
	for _, r := range routes {
		registered[r] = true
		access, ok := policy[r]
		if !ok {
			t.Errorf("route %q has no access rule", r)
			continue
		}
		switch {
		case access.SecondFactor && (access.Public || len(access.Roles) > 0):
			t.Errorf("second-factor route %q is also public or open to roles: %+v", r, access)
		case !access.Public && !access.SecondFactor && len(access.Roles) == 0:
			t.Errorf("route %q is not public but names no role", r)
		}
		for _, role := range access.Roles {
			if !role.Valid() {
				t.Errorf("route %q names unknown role %q", r, role)
			}
		}
		if access.SelfAuthenticating && !access.Public {
			t.Errorf("route %q authenticates itself but is not public", r)
		}
	}
	for r := range policy {
		if !registered[r] {
			t.Errorf("access rule %q has no route", r)
		}
	}
	// The simulator's API is mounted, public and outside staff sign-in.
	if a, ok := policy["POST /sandbox/probe/*path"]; !ok || !a.Public || !a.SelfAuthenticating {
		t.Errorf("simulator API rule = %+v (registered %v), want public and self-authenticating", a, ok)
	}
}

// TestStaffAndAuditRoutesStayAdminOnly pins the policy of the staff, audit
// and sandbox pages (the pair test above checks enforcement against the
// policy, so it can't notice the policy itself being loosened).
func TestStaffAndAuditRoutesStayAdminOnly(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	policy := p.App.Server.Policy()
	adminOnly := []string{
		"GET /users", "GET /users/new", "POST /users", "POST /users/:id/role", "POST /users/:id/disable",
		"POST /users/:id/enable", "GET /users/:id/password", "POST /users/:id/password",
		"GET /audit", "GET /audit/export",
		"GET /sandbox", "POST /sandbox/faults", "POST /sandbox/faults/clear", "POST /sandbox/actions",
	}
	everyone := []string{"GET /", "GET /account/password", "POST /account/password", "POST /logout"}
	public := []string{"GET /login", "POST /login", "GET /healthz", "GET /readyz", "GET /static/*filepath"}
	for _, r := range adminOnly {
		a, ok := policy[r]
		if !ok || a.Public || !slices.Equal(a.Roles, []models.Role{models.RoleAdmin}) {
			t.Errorf("%s: rule %+v (registered %v), want admin only", r, a, ok)
		}
	}
	for _, r := range everyone {
		a, ok := policy[r]
		if !ok || a.Public {
			t.Errorf("%s: rule %+v (registered %v), want every signed-in role", r, a, ok)
			continue
		}
		for _, role := range models.Roles {
			if !a.Allows(role) {
				t.Errorf("%s: %s may not use it", r, role)
			}
		}
	}
	for _, r := range public {
		if a, ok := policy[r]; !ok || !a.Public || a.SelfAuthenticating {
			t.Errorf("%s: rule %+v (registered %v), want public", r, a, ok)
		}
	}
}

// routeCase is one route made concrete for a request.
type routeCase struct {
	route string // "METHOD /path" as declared
	path  string // with :id replaced
}

// concreteRoutes returns every non-public route with method, made
// requestable: ":id" becomes the id of a real row of the resource the path
// starts with (ids maps "/users" to a user id, say). Catch-all routes
// ("*name") are skipped because they are all public (static files, simulator
// APIs) and have no single URL; routes with any other parameter are skipped because the test
// would not know a valid value. Both are logged so a new route is noticed.
func concreteRoutes(t *testing.T, policy map[string]web.Access, method string, ids map[string]uint) []routeCase {
	t.Helper()
	var out []routeCase
	for route, access := range policy {
		m, path, _ := strings.Cut(route, " ")
		if m != method || access.Public {
			continue
		}
		if access.SecondFactor {
			t.Logf("skipping %s: only a half-signed-in session may use it (TestHalfSignedInSessionReachesNothingElse)", route)
			continue
		}
		if strings.Contains(path, "*") {
			t.Logf("skipping catch-all %s: no single URL to request", route)
			continue
		}
		for prefix, id := range ids {
			if strings.HasPrefix(path, prefix+"/:id") {
				path = strings.Replace(path, ":id", fmt.Sprint(id), 1)
			}
		}
		if strings.Contains(path, ":") {
			t.Logf("skipping %s: no known value for its parameter", route)
			continue
		}
		out = append(out, routeCase{route: route, path: path})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].route < out[j].route })
	return out
}

// TestRolePolicy checks every (role, route) pair against the declared
// policy: a GET answers 200 when the role may use the route and 403 when it
// may not; a same-origin POST by a role that may not use the route is refused
// with 403 and changes nothing; anonymous visitors are sent to sign in.
// sendsOn are pages that, for staff who already have what they set up,
// send on to where it is managed instead.
var sendsOn = map[string]string{"GET /account/two-factor/enrol": "/account/two-factor"}

func TestRolePolicy(t *testing.T) {
	t.Parallel()
	p := start(t, nil, probeSim{})
	signedIn := map[models.Role]staff{models.RoleAdmin: signInAdmin(t, p)}
	for _, role := range models.Roles {
		if role != models.RoleAdmin {
			signedIn[role] = newStaff(t, p, string(role), role)
		}
	}
	// Real rows to fill ":id" with, so the GETs find something and the
	// POSTs have a real target.
	target := p.CreateUser(t, "target@example.com", "quiet meadow five", models.RoleSupport)
	now := p.Clock.Now().UTC()
	recharge := models.Recharge{
		IdempotencyKey: "policy-test", DeviceID: "DEV-POLICY", Amount: decimal.NewFromInt(10), Currency: "KES",
		State: models.RechargeCompleted, CreatedAt: now, UpdatedAt: now, CompletedAt: &now,
	}
	if err := p.App.DB.Create(&recharge).Error; err != nil {
		t.Fatal(err)
	}
	ids := map[string]uint{"/users": target.ID, "/recharges": recharge.ID}

	policy := p.App.Server.Policy()
	gets := concreteRoutes(t, policy, http.MethodGet, ids)
	// POSTs reach the record routes too (casework included); their GETs
	// stream (SSE) or need images, and are checked by their own tests.
	done := now.Add(-time.Hour)
	doc := models.Document{Reference: "policy-doc", Kind: models.DocumentKindSimple, Title: "Policy", FileURL: "https://files.example.com/p.pdf",
		State: models.DocumentCompleted, CreatedAt: done, UpdatedAt: done, CompletedAt: &done}
	ver := models.Verification{Provider: models.ProviderPawaPass, Reference: "policy-ver", State: models.VerificationApproved,
		CreatedAt: done, UpdatedAt: done, CompletedAt: &done}
	if err := p.App.DB.Create(&doc).Error; err != nil {
		t.Fatal(err)
	}
	if err := p.App.DB.Create(&ver).Error; err != nil {
		t.Fatal(err)
	}
	postIDs := map[string]uint{"/documents": doc.ID, "/verifications": ver.ID}
	for k, v := range ids {
		postIDs[k] = v
	}
	posts := concreteRoutes(t, policy, http.MethodPost, postIDs)
	if len(gets) < 5 || len(posts) < 5 {
		t.Fatalf("found only %d GET and %d POST routes to check", len(gets), len(posts))
	}

	usersBefore, rechargesBefore, auditBefore := count(t, p, "users"), count(t, p, "recharges"), lastAuditID(t, p)
	t.Run("pairs", func(t *testing.T) {
		for _, rc := range gets {
			for _, role := range models.Roles {
				allowed := policy[rc.route].Allows(role)
				want := http.StatusForbidden
				if allowed {
					want = http.StatusOK
				}
				t.Run(string(role)+" "+rc.route, func(t *testing.T) {
					t.Parallel()
					resp := p.Get(t, signedIn[role].client, rc.path)
					if to, ok := sendsOn[rc.route]; ok && allowed && signedIn[role].user.Role.RequiresSecondFactor() {
						// Admin and compliance enrolled at sign-in.
						wantRedirect(t, resp, to)
						return
					}
					wantStatus(t, resp, want)
					if !allowed && !strings.Contains(resp.Body, "can&#39;t open this page") && !strings.Contains(resp.Body, "can't open this page") {
						t.Errorf("403 page has no friendly explanation:\n%s", clip(resp.Body))
					}
				})
			}
			t.Run("anonymous "+rc.route, func(t *testing.T) {
				t.Parallel()
				resp := p.Get(t, p.Client(), rc.path)
				wantRedirect(t, resp, "/login?next="+url.QueryEscape(rc.path))
			})
		}
		// The form carries what any of the admin forms would accept, so a
		// missing role check would show up as a change.
		form := url.Values{
			"email": {"intruder@example.com"}, "name": {"Intruder"}, "role": {"admin"},
			"password": {"intruder password"}, "current_password": {"x"}, "new_password": {"y"},
			"sim": {"probe"}, "endpoint": {"*"}, "kind": {"hang"}, "action": {"poke"}, "ref": {"r1"},
		}
		for _, rc := range posts {
			for _, role := range models.Roles {
				if policy[rc.route].Allows(role) {
					continue
				}
				t.Run(string(role)+" "+rc.route, func(t *testing.T) {
					t.Parallel()
					wantStatus(t, p.PostForm(t, signedIn[role].client, rc.path, form), http.StatusForbidden)
				})
			}
			t.Run("anonymous "+rc.route, func(t *testing.T) {
				t.Parallel()
				// After a POST there is no page to return to: back to the
				// dashboard once signed in.
				wantRedirect(t, p.PostForm(t, p.Client(), rc.path, form), "/login?next=%2F")
			})
		}
	})

	if n := count(t, p, "users"); n != usersBefore {
		t.Errorf("refused requests changed the users: %d before, %d after", usersBefore, n)
	}
	if n := count(t, p, "recharges"); n != rechargesBefore {
		t.Errorf("refused requests changed the recharges: %d before, %d after", rechargesBefore, n)
	}
	var after models.Recharge
	if err := p.App.DB.Take(&after, recharge.ID).Error; err != nil || after.State != models.RechargeCompleted {
		t.Errorf("refused requests changed the recharge: %+v (%v)", after, err)
	}
	if evs := auditAfter(t, p, auditBefore); len(evs) != 0 {
		t.Errorf("refused requests wrote audit events: %+v", evs)
	}
	if got := userByID(t, p, target.ID); got.Role != models.RoleSupport || got.Disabled || got.PasswordHash != target.PasswordHash {
		t.Errorf("refused requests changed the target user: %+v", got)
	}
	for _, f := range p.App.Sandbox.Snapshot() {
		if f.Wildcard != nil {
			t.Errorf("a refused request injected a fault: %+v", f.Wildcard)
		}
	}
	// The admin pages are among those checked, so both outcomes were seen.
	if !slices.ContainsFunc(gets, func(rc routeCase) bool { return rc.route == "GET /users" }) {
		t.Error("GET /users was not checked")
	}
}
