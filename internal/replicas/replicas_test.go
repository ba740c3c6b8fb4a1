// Package replicas holds the two-replica test: two portal processes on one
// PostgreSQL behind a round-robin proxy, with the simulators in one
// cmd/sandbox process, as a team that outgrew one machine runs the portal.
// It runs on the PostgreSQL pass of `make test` (scripts/with-postgres.sh);
// on SQLite there is nothing to share, so it skips.
package replicas

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"portal/internal/apptest"
	"portal/internal/dbtest"
	"portal/internal/proctest"
	"portal/models"
	"portal/services/sandbox/oneflowsim"
)

const adminPassword = "replica test staff password"

// lease is PORTAL_CLAIM_LEASE of both replicas: long enough that the held
// call below is answered well inside it, short enough that the dead
// replica's claim lapses within the test.
const lease = 8 * time.Second

// callHold is how long 1flow holds each recharge call while one replica is
// killed and restarted.
const callHold = 3 * time.Second

const (
	epRecharge = "POST " + oneflowsim.PathRecharge
	epCheck    = "GET " + oneflowsim.PathRecharge + "/{id}"
)

// roundRobin is the load balancer: each request goes to the next replica,
// so consecutive requests of one browser land on different processes.
type roundRobin struct {
	next     atomic.Uint64
	backends []string // host:port
}

func (rr *roundRobin) handler() http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			backend := rr.backends[rr.next.Add(1)%uint64(len(rr.backends))]
			r.SetURL(&url.URL{Scheme: "http", Host: backend})
			r.Out.Host = r.In.Host // the portal checks Origin against its own host
		},
		FlushInterval: -1, // SSE must not be buffered
	}
}

// client is a browser signed in through base.
type client struct {
	c    *http.Client
	base string
}

func newClient(base string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{base: base, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// do sends a request to base+path; origin is what the browser's Origin
// header says (the load balancer's address, whichever process answers).
func (c *client) do(t *testing.T, base, method, path string, form url.Values) (int, string, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", c.base)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	// The session cookie is the load balancer's; send it to whichever
	// process this request goes to.
	lb, _ := url.Parse(c.base)
	for _, ck := range c.c.Jar.Cookies(lb) {
		if base != c.base {
			req.AddCookie(ck)
		}
	}
	resp, err := c.c.Do(req)
	if err != nil {
		return 0, "", err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)"`)

func hidden(body string) url.Values {
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(body, -1) {
		v.Add(m[1], html.UnescapeString(m[2]))
	}
	return v
}

// confirmForm walks the recharge form to its confirmation step and returns
// what the confirm button posts.
func (c *client) confirmForm(t *testing.T, amount string) url.Values {
	t.Helper()
	q := url.Values{"device_id": {oneflowsim.SeedDeviceID}, "phone_number": {oneflowsim.SeedPhone}}
	status, _, body := c.do(t, c.base, http.MethodGet, "/recharges/new?"+q.Encode(), nil)
	if status != http.StatusOK {
		t.Fatalf("GET /recharges/new: %d", status)
	}
	m := regexp.MustCompile(`name="idempotency_key"[^>]*value="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no idempotency key in the form:\n%.2000s", body)
	}
	q.Set("amount", amount)
	q.Set("idempotency_key", m[1])
	status, _, body = c.do(t, c.base, http.MethodPost, "/recharges", q)
	if status != http.StatusOK {
		t.Fatalf("POST /recharges (review): %d\n%.2000s", status, body)
	}
	f := hidden(body)
	if f.Get("confirm") != "yes" || f.Get("idempotency_key") != m[1] {
		t.Fatalf("confirmation step posts %v", f)
	}
	return f
}

// sandboxHits reads a 1flow endpoint's request count from the sandbox
// process's control API.
func sandboxHits(t *testing.T, sandboxAddr, endpoint string) int64 {
	t.Helper()
	resp, err := http.Get("http://" + sandboxAddr + "/_control/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sims []struct {
		Name      string
		Endpoints []struct {
			Pattern string
			Hits    int64
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&sims); err != nil {
		t.Fatalf("sandbox state: %v", err)
	}
	for _, s := range sims {
		for _, e := range s.Endpoints {
			if s.Name == "oneflow" && e.Pattern == endpoint {
				return e.Hits
			}
		}
	}
	t.Fatalf("no oneflow endpoint %q in the sandbox state", endpoint)
	return 0
}

func control(t *testing.T, sandboxAddr, path string, form url.Values) {
	t.Helper()
	resp, err := http.PostForm("http://"+sandboxAddr+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sandbox %s: %d %s", path, resp.StatusCode, b)
	}
}

func TestTwoReplicasOnOnePostgreSQL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs three processes")
	}
	if !dbtest.OnPostgres() {
		t.Skip("replicas share a PostgreSQL database: run under scripts/with-postgres.sh (make test does)")
	}
	bins := proctest.Build(t, "./cmd/portal", "./cmd/sandbox")
	portalBin, sandboxBin := filepath.Join(bins, "portal"), filepath.Join(bins, "sandbox")
	dbURL := dbtest.EmptyPostgresURL(t)

	lbListener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lbBase := "http://" + lbListener.Addr().String()
	addrs := []string{proctest.FreeAddr(t), proctest.FreeAddr(t)}
	rr := &roundRobin{backends: addrs}
	lb := &http.Server{Handler: rr.handler()}
	go func() { _ = lb.Serve(lbListener) }()
	t.Cleanup(func() { _ = lb.Close() })

	// One simulator process for both replicas; it prints the settings the
	// replicas need.
	sandboxAddr := proctest.FreeAddr(t)
	sb := proctest.Start(t, "sandbox", sandboxBin, sandboxAddr, []string{
		"SANDBOX_ADDR=" + sandboxAddr, "SANDBOX_PORTAL_URL=" + lbBase, "SANDBOX_SETTLE_AFTER=2s",
		"SANDBOX_STORE=" + filepath.Join(t.TempDir(), "sandbox.db"),
	})
	sb.WaitReady(t, "/_control/state", 30*time.Second)
	var providerEnv []string
	sc := bufio.NewScanner(strings.NewReader(sb.Logs()))
	for sc.Scan() {
		if line := sc.Text(); regexp.MustCompile(`^[A-Z_]+=`).MatchString(line) {
			providerEnv = append(providerEnv, line)
		}
	}
	if len(providerEnv) < 10 {
		t.Fatalf("the sandbox printed %d settings for the replicas:\n%s", len(providerEnv), sb.Logs())
	}
	env := func(addr string) []string {
		return append([]string{
			"PORTAL_ADDR=" + addr, "PORTAL_BASE_URL=" + lbBase, "DATABASE_URL=" + dbURL,
			"PORTAL_ADMIN_PASSWORD=" + adminPassword, "PORTAL_CLAIM_LEASE=" + lease.String(),
		}, providerEnv...)
	}

	// Both start at once on an empty database: one migrates and creates
	// the first admin, the other waits for the lock and finds both done.
	replicas := make([]*proctest.Proc, 2)
	for i := range replicas {
		replicas[i] = proctest.Start(t, fmt.Sprintf("replica %c", 'A'+i), portalBin, addrs[i], env(addrs[i]))
	}
	for _, p := range replicas {
		p.WaitReady(t, "/readyz", 30*time.Second)
	}
	db, err := gorm.Open(postgres.Open(dbURL), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s, err := db.DB(); err == nil {
			_ = s.Close()
		}
	})
	var admins int64
	if err := db.Model(&models.User{}).Count(&admins).Error; err != nil || admins != 1 {
		t.Fatalf("after two simultaneous first starts: %d accounts (%v), want the one first admin", admins, err)
	}
	for _, p := range replicas {
		if strings.Contains(p.Logs(), `"level":"ERROR"`) {
			t.Errorf("%s logged an error during start-up:\n%s", p.Name, p.Logs())
		}
	}

	// A session made through the load balancer works on either process.
	staff := newClient(lbBase)
	// The password step, the second-factor set-up and the session each
	// land on whichever replica the balancer picks.
	var phone apptest.Authenticator
	phone.SignIn(t, "admin@example.com", adminPassword, func(method, path string, form url.Values) (int, string, string) {
		return staff.do(t, lbBase, method, path, form)
	})
	for _, p := range replicas {
		if status, loc, _ := staff.do(t, "http://"+p.Addr, http.MethodGet, "/recharges", nil); status != http.StatusOK {
			t.Errorf("the session on %s: %d → %q, want the recharges page", p.Name, status, loc)
		}
	}

	t.Run("one key, twenty concurrent posts, one upstream call", func(t *testing.T) {
		confirm := staff.confirmForm(t, "25")
		before := sandboxHits(t, sandboxAddr, epRecharge)
		type answer struct {
			status   int
			location string
		}
		answers := make(chan answer, 20)
		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				status, loc, _ := staff.do(t, lbBase, http.MethodPost, "/recharges", confirm)
				answers <- answer{status, loc}
			}()
		}
		wg.Wait()
		close(answers)
		locations := map[string]int{}
		for a := range answers {
			if a.status != http.StatusSeeOther {
				t.Errorf("a concurrent confirm answered %d, want 303 to the one recharge", a.status)
			}
			locations[a.location]++
		}
		if len(locations) != 1 {
			t.Errorf("the twenty posts were sent to %v, want one recharge page", locations)
		}
		if calls := sandboxHits(t, sandboxAddr, epRecharge) - before; calls != 1 {
			t.Errorf("1flow received %d recharge calls for one idempotency key, want 1", calls)
		}
		var rows int64
		db.Model(&models.Recharge{}).Where("idempotency_key = ?", confirm.Get("idempotency_key")).Count(&rows)
		if rows != 1 {
			t.Errorf("%d recharge rows for one key, want 1", rows)
		}
	})

	t.Run("a replica killed mid-call leaves the other's call alone", func(t *testing.T) {
		control(t, sandboxAddr, "/_control/faults", url.Values{"sim": {"oneflow"}, "endpoint": {epRecharge}, "kind": {"latency"}, "latency_ms": {fmt.Sprint(callHold.Milliseconds())}, "times": {"2"}})
		before := sandboxHits(t, sandboxAddr, epRecharge)
		keys := make([]string, 2)
		posted := make([]chan int, 2)
		for i, p := range replicas {
			f := staff.confirmForm(t, fmt.Sprint(30+i))
			keys[i] = f.Get("idempotency_key")
			posted[i] = make(chan int, 1)
			go func() {
				status, _, _ := staff.do(t, "http://"+p.Addr, http.MethodPost, "/recharges", f)
				posted[i] <- status
			}()
		}
		waitFor(t, 10*time.Second, "both calls in flight at 1flow", func() bool {
			return sandboxHits(t, sandboxAddr, epRecharge)-before == 2
		})
		replicas[0].Kill()
		replicas[0] = proctest.Start(t, "replica A (restarted)", portalBin, addrs[0], env(addrs[0]))
		replicas[0].WaitReady(t, "/readyz", 30*time.Second)

		// B's call is answered within its lease: the restarted A must not
		// have touched it, and it goes on to complete.
		if status := <-posted[1]; status != http.StatusSeeOther {
			t.Errorf("replica B's recharge answered %d, want 303", status)
		}
		var survivor models.Recharge
		waitFor(t, 20*time.Second, "replica B's recharge to complete", func() bool {
			db.Where("idempotency_key = ?", keys[1]).First(&survivor)
			return survivor.State == models.RechargeCompleted
		})
		if survivor.UpstreamID == nil {
			t.Errorf("the completed recharge has no 1flow id: %+v", survivor)
		}
		var events []models.RechargeEvent
		db.Where("recharge_id = ?", survivor.ID).Order("id").Find(&events)
		for _, e := range events {
			if e.ToState == models.RechargeUnknown {
				t.Errorf("replica B's live recharge was moved to unknown by the restart: %+v", e)
			}
		}

		// A's own call died with it: once its lease lapses it needs a
		// person, and it is never sent again.
		var orphan models.Recharge
		waitFor(t, lease+15*time.Second, "the killed replica's recharge to need attention", func() bool {
			db.Where("idempotency_key = ?", keys[0]).First(&orphan)
			return orphan.State == models.RechargeUnknown
		})
		if calls := sandboxHits(t, sandboxAddr, epRecharge) - before; calls != 2 {
			t.Errorf("1flow received %d recharge calls, want the 2 that were sent once each", calls)
		}
	})

	t.Run("every due check is made once across both replicas", func(t *testing.T) {
		// Each check writes check_attempts+1 from what it read, so two
		// replicas checking one row at once would make more calls than
		// recorded attempts.
		var open int64
		waitFor(t, 20*time.Second, "every recharge to settle", func() bool {
			db.Model(&models.Recharge{}).Where("state IN ?", []models.RechargeState{models.RechargeSubmitted, models.RechargePending}).Count(&open)
			return open == 0
		})
		var attempts int64
		db.Model(&models.Recharge{}).Select("COALESCE(SUM(check_attempts), 0)").Scan(&attempts)
		if calls := sandboxHits(t, sandboxAddr, epCheck); calls != attempts || calls == 0 {
			t.Errorf("1flow answered %d status checks for %d recorded check attempts, want equal and non-zero", calls, attempts)
		}
	})
}

func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for !ok() {
		select {
		case <-ctx.Done():
			t.Fatalf("waited %v for %s", limit, what)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
