package web_test

// The crash test of issue 3: the real portal binary is killed (SIGKILL)
// while a recharge call is in flight at the 1flow simulator, and restarted on
// the same database. The recharge must come back as one row in "unknown",
// never re-sent, waiting in Needs attention.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"portal/internal/apptest"
	"portal/internal/dbtest"
	"portal/internal/proctest"
	"portal/models"
	"portal/services/sandbox/oneflowsim"
)

const rcCrashAdminPassword = "crash test staff password"

const rcClaimLease = 6 * time.Second

// rcProc is one run of the portal binary.
type rcProc struct {
	*proctest.Proc
	base string
}

// rcDatabase is where the crash test's portal keeps its data: a SQLite
// file, or a PostgreSQL database on a PostgreSQL run. The folder of path
// also holds the portal's key files and the sandbox store on both.
type rcDatabase struct{ path, url string }

func rcNewDatabase(t *testing.T) rcDatabase {
	d := rcDatabase{path: filepath.Join(t.TempDir(), "portal.db")}
	if dbtest.OnPostgres() {
		d.url = dbtest.NewPostgresURL(t)
	}
	return d
}

func (d rcDatabase) env() []string {
	env := []string{"PORTAL_DB=" + d.path}
	if d.url != "" {
		env = append(env, "DATABASE_URL="+d.url)
	}
	return env
}

// rcRunPortal starts the binary on db and waits until it is ready.
func rcRunPortal(t *testing.T, bin string, db rcDatabase) *rcProc {
	t.Helper()
	addr := proctest.FreeAddr(t)
	p := proctest.Start(t, "portal", bin, addr, append(db.env(),
		"PORTAL_ADDR="+addr,
		"PORTAL_SANDBOX=on",
		"PORTAL_ADMIN_PASSWORD="+rcCrashAdminPassword,
		"PORTAL_LOG_LEVEL=info",
		// Short enough that the restarted process takes the dead one's
		// claim within the test, long enough that the hanging call is still
		// in flight when the test kills the first one.
		"PORTAL_CLAIM_LEASE="+rcClaimLease.String(),
	))
	p.WaitReady(t, "/readyz", 15*time.Second)
	return &rcProc{Proc: p, base: "http://" + addr}
}

// rcBrowser is a signed-in browser for a rcProc.
type rcBrowser struct {
	c    *http.Client
	base string
}

func (b rcBrowser) do(t *testing.T, method, path string, form url.Values) (int, string, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", b.base)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header.Get("Location"), string(out)
}

func (b rcBrowser) get(t *testing.T, path string) string {
	t.Helper()
	status, _, body := b.do(t, http.MethodGet, path, nil)
	if status != http.StatusOK {
		t.Fatalf("GET %s: status %d:\n%s", path, status, clip(text(body)))
	}
	return body
}

func (b rcBrowser) post(t *testing.T, path string, form url.Values, want int) (string, string) {
	t.Helper()
	status, location, body := b.do(t, http.MethodPost, path, form)
	if status != want {
		t.Fatalf("POST %s: status %d, want %d:\n%s", path, status, want, clip(text(body)))
	}
	return location, body
}

// rcSignIn signs the admin in to p; phone keeps the admin's second factor
// across the portal's runs.
func rcSignIn(t *testing.T, p *rcProc, phone *apptest.Authenticator) rcBrowser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	b := rcBrowser{base: p.base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	phone.SignIn(t, "admin@example.com", rcCrashAdminPassword, func(method, path string, form url.Values) (int, string, string) {
		return b.do(t, method, path, form)
	})
	return b
}

var rcRechargeHitsRE = regexp.MustCompile(`(?s)<td class="mono">` + regexp.QuoteMeta(rcEPRecharge) + `</td>\s*<td class="num">(\d+)</td>`)

// sandboxHits reads the recharge endpoint's request count from /sandbox.
func (b rcBrowser) sandboxHits(t *testing.T) int {
	t.Helper()
	page := b.get(t, "/sandbox")
	m := rcRechargeHitsRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no request count for %s on the sandbox page:\n%s", rcEPRecharge, clip(page))
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// rcOpenReadOnly opens the portal's database for the test to read; on
// SQLite without writing to it.
func rcOpenReadOnly(t *testing.T, d rcDatabase) *gorm.DB {
	t.Helper()
	dialector := sqlite.Open("file:" + d.path + "?mode=ro&_busy_timeout=5000")
	if d.url != "" {
		dialector = postgres.Open(d.url)
	}
	db, err := gorm.Open(dialector, &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatalf("open the portal's database: %v", err)
	}
	t.Cleanup(func() {
		if sqlDB, err := db.DB(); err == nil {
			_ = sqlDB.Close()
		}
	})
	return db
}

func TestRechargeCrashDuringCallIsUnknownAndNeverResent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the portal binary")
	}
	t.Parallel()
	began := time.Now()
	bin := filepath.Join(proctest.Build(t, "./cmd/portal"), "portal")
	built := time.Since(began)
	db := rcNewDatabase(t)

	// First run: a recharge call hangs at 1flow.
	first := rcRunPortal(t, bin, db)
	phone := &apptest.Authenticator{}
	admin := rcSignIn(t, first, phone)
	admin.post(t, "/sandbox/faults", url.Values{"sim": {"oneflow"}, "endpoint": {rcEPRecharge}, "kind": {"hang"}}, http.StatusSeeOther)
	form := admin.get(t, "/recharges/new?"+url.Values{"device_id": {oneflowsim.SeedDeviceID}, "phone_number": {oneflowsim.SeedPhone}}.Encode())
	key, ok := rcInput(form, "idempotency_key")
	if !ok || key == "" {
		t.Fatalf("no idempotency key in the form:\n%s", clip(form))
	}
	_, review := admin.post(t, "/recharges", url.Values{"device_id": {oneflowsim.SeedDeviceID}, "phone_number": {oneflowsim.SeedPhone}, "amount": {"100"}, "idempotency_key": {key}}, http.StatusOK)
	confirm := rcHiddenInputs(t, review, "/recharges")

	// The confirmed POST blocks on the hanging call; the crash ends it.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	posted := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, first.base+"/recharges", strings.NewReader(confirm.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", first.base)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err := admin.c.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			err = errors.New("the POST answered " + resp.Status + " although the call hangs")
		}
		posted <- err
	}()

	ro := rcOpenReadOnly(t, db)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var rows []models.Recharge
		if err := ro.Find(&rows).Error; err != nil {
			t.Fatalf("read recharges: %v", err)
		}
		if len(rows) == 1 && rows[0].State == models.RechargeSubmitting && admin.sandboxHits(t) == 1 {
			break
		}
		select {
		case err := <-posted:
			t.Fatalf("the confirmed POST ended before the crash: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recharge in flight after 10 s: rows %+v, hits %d\n%s", rows, admin.sandboxHits(t), first.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}

	first.Kill()
	if err := <-posted; err == nil {
		t.Fatal("the in-flight POST did not notice the crash")
	}

	// Second run on the same database: the dead process's claim is left
	// alone until its lease runs out, then the recharge becomes unknown.
	second := rcRunPortal(t, bin, db)
	var rows []models.Recharge
	deadline = time.Now().Add(rcClaimLease + 10*time.Second)
	for {
		if err := ro.Find(&rows).Error; err != nil {
			t.Fatalf("read recharges: %v", err)
		}
		if len(rows) != 1 {
			t.Fatalf("%d recharges after the restart, want 1: %+v", len(rows), rows)
		}
		if rows[0].State != models.RechargeSubmitting {
			break
		}
		if rows[0].LeaseUntil == nil || time.Now().After(deadline) {
			t.Fatalf("the recharge is still submitting (lease until %v):\n%s", rows[0].LeaseUntil, second.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	rec := rows[0]
	if rec.State != models.RechargeUnknown {
		t.Fatalf("after the crash the recharge is %q, want unknown (error %q)", rec.State, rec.Error)
	}
	if rec.IdempotencyKey != key || rec.UpstreamID != nil {
		t.Errorf("recovered row: %+v", rec)
	}
	var events []models.RechargeEvent
	if err := ro.Where("recharge_id = ?", rec.ID).Order("id").Find(&events).Error; err != nil {
		t.Fatal(err)
	}
	if last := events[len(events)-1]; last.FromState != models.RechargeSubmitting || last.ToState != models.RechargeUnknown || !strings.Contains(last.Note, "stopped during the call") {
		t.Errorf("last timeline entry %+v, want submitting → unknown saying the sender stopped", last)
	}

	// The new process's reconciler ticks every second: give it a couple,
	// then check 1flow saw nothing from it.
	admin = rcSignIn(t, second, phone)
	time.Sleep(1200 * time.Millisecond)
	if hits := admin.sandboxHits(t); hits != 0 {
		t.Errorf("after the restart 1flow's recharge endpoint got %d requests, want 0: the recharge was re-sent", hits)
	}
	if err := ro.Find(&rows).Error; err != nil || len(rows) != 1 || rows[0].State != models.RechargeUnknown {
		t.Errorf("after the reconciler ran: %+v (%v), want the one row still unknown", rows, err)
	}

	id := strconv.FormatUint(uint64(rec.ID), 10)
	page := admin.get(t, "/recharges/"+id)
	if !strings.Contains(text(page), "stopped during the call") || !strings.Contains(text(page), "may or may not have gone through") {
		t.Errorf("the detail page does not tell about the restart:\n%s", clip(text(page)))
	}
	page = admin.get(t, "/recharges?state=unknown")
	if !strings.Contains(page, `href="/recharges/`+id+`"`) {
		t.Errorf("needs attention does not list recharge %s:\n%s", id, clip(text(page)))
	}
	if m := regexp.MustCompile(`(?s)<a[^>]*href="/recharges\?state=unknown"[^>]*>(.*?)</a>`).FindStringSubmatch(page); m == nil || text(m[1]) != "Needs attention 1" {
		t.Errorf("navigation shows %q, want \"Needs attention 1\"", m)
	}
	t.Logf("crash test: build %v, total %v", built.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
}
