// Command loadtest drives a running portal the way a room of staff does:
// it signs in through the login form, then for each scenario (a list page,
// searches, a status fragment, the dashboard) keeps -c requests in flight
// for -d and reports the median and 99th percentile latency. `make
// bench-load` runs it against a portal on a freshly seeded database (see
// cmd/seed); the numbers go into docs/benchmarks.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pquerna/otp/totp"
)

// scenario is one kind of request; path may hold {id}, replaced by a
// record id that cycles through ids so the database is not asked the same
// row every time.
type scenario struct {
	name, path string
}

var scenarios = []scenario{
	{"recharge list, first page", "/recharges"},
	{"recharge list, deep page", "/recharges?before=500000"},
	{"recharge search, exact device id", "/recharges?q=68750000000012"},
	{"recharge search, 4-character prefix", "/recharges?q=6875"},
	{"recharge search, 1flow id prefix", "/recharges?q=up-"},
	{"recharge search, phone prefix", "/recharges?q=%2B2547000012"},
	{"document search, 7-digit NIN prefix", "/documents?q=1234567"},
	{"verification search, phone prefix", "/verifications?q=%2B2547000012"},
	{"header search, prefix", "/search?q=up-0012"},
	{"recharge status fragment", "/recharges/{id}/status"},
	{"dashboard", "/"},
	{"review queue, unassigned verifications", "/reviews/verifications?who=unassigned"},
}

func main() {
	base := flag.String("base", "http://127.0.0.1:8080", "the portal's URL")
	email := flag.String("email", "admin@example.com", "staff account to sign in with")
	password := flag.String("password", os.Getenv("PORTAL_ADMIN_PASSWORD"), "its password (default $PORTAL_ADMIN_PASSWORD)")
	totpSecret := flag.String("totp-secret", "", "the key of its second factor, when it has one (a fresh admin sets one up)")
	duration := flag.Duration("d", 10*time.Second, "how long each scenario runs")
	concurrency := flag.Int("c", 16, "requests in flight")
	maxID := flag.Int("ids", 1_000_000, "status fragments cycle through record ids 1..ids")
	only := flag.String("only", "", "run only scenarios whose name contains this")
	flag.Parse()
	if err := run(*base, *email, *password, *totpSecret, *duration, *concurrency, *maxID, *only, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

func run(base, email, password, totpSecret string, d time.Duration, c, maxID int, only string, out io.Writer) error {
	client, err := signIn(base, email, password, totpSecret)
	if err != nil {
		return err
	}
	// The first dashboard after start-up is the one no cache has seen.
	start := time.Now()
	if status, err := get(client, base+"/"); err != nil || status != http.StatusOK {
		return fmt.Errorf("first dashboard: status %d, %v", status, err)
	}
	fmt.Fprintf(out, "first dashboard request after sign-in: %s\n\n", round(time.Since(start)))
	fmt.Fprintf(out, "%d requests in flight, %s per scenario\n\n", c, d)
	fmt.Fprintln(out, "| scenario | requests | req/s | median | p99 | errors |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|")
	for _, sc := range scenarios {
		if only != "" && !strings.Contains(sc.name, only) {
			continue
		}
		r := load(client, base, sc, d, c, maxID)
		fmt.Fprintf(out, "| %s | %d | %.0f | %s | %s | %d |\n", sc.name, len(r.latencies), float64(len(r.latencies))/d.Seconds(),
			round(percentile(r.latencies, 50)), round(percentile(r.latencies, 99)), r.errors)
	}
	return nil
}

type result struct {
	latencies []time.Duration
	errors    int
}

func load(client *http.Client, base string, sc scenario, d time.Duration, c, maxID int) result {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var mu sync.Mutex
	var all result
	var wg sync.WaitGroup
	for w := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine result
			for i := 0; ctx.Err() == nil; i++ {
				path := strings.ReplaceAll(sc.path, "{id}", fmt.Sprint(1+(w*7919+i*104729)%maxID))
				t := time.Now()
				status, err := get(client, base+path)
				if ctx.Err() != nil {
					break // cut off by the end of the run, not slow
				}
				mine.latencies = append(mine.latencies, time.Since(t))
				if err != nil || status != http.StatusOK {
					mine.errors++
				}
			}
			mu.Lock()
			all.latencies = append(all.latencies, mine.latencies...)
			all.errors += mine.errors
			mu.Unlock()
		}()
	}
	wg.Wait()
	return all
}

func get(client *http.Client, u string) (int, error) {
	resp, err := client.Get(u)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// signIn signs in as email. A fresh portal's admin sets a second factor up
// at the first sign-in: the load test does that itself, as a person with an
// authenticator app would; an account that already has one needs its key
// (-totp-secret).
func signIn(base, email, password, totpSecret string) (*http.Client, error) {
	if password == "" {
		return nil, errors.New("no password: pass -password or set PORTAL_ADMIN_PASSWORD")
	}
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		Transport:     &http.Transport{MaxIdleConnsPerHost: 256},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	status, loc, _, err := send(client, base, http.MethodPost, "/login", url.Values{"email": {email}, "password": {password}})
	if err != nil {
		return nil, fmt.Errorf("sign in: %w", err)
	}
	if status != http.StatusSeeOther || loc == "/login" {
		return nil, fmt.Errorf("sign in as %s: status %d to %q", email, status, loc)
	}
	switch loc {
	case "/login/enrol":
		_, _, page, err := send(client, base, http.MethodGet, "/login/enrol", nil)
		if err != nil {
			return nil, fmt.Errorf("second-factor set-up: %w", err)
		}
		m := secretOnPage.FindStringSubmatch(page)
		if m == nil {
			return nil, fmt.Errorf("sign in as %s: the second-factor set-up page shows no key", email)
		}
		totpSecret = m[1]
		fmt.Fprintf(os.Stderr, "set up %s's second factor; its key is %s\n", email, totpSecret)
	case "/login/code":
		if totpSecret == "" {
			return nil, fmt.Errorf("sign in as %s: the account has a second factor; pass its key with -totp-secret", email)
		}
	default:
		return client, nil
	}
	code, err := totp.GenerateCode(totpSecret, time.Now())
	if err != nil {
		return nil, fmt.Errorf("second-factor code: %w", err)
	}
	status, _, _, err = send(client, base, http.MethodPost, loc, url.Values{"code": {code}})
	if err != nil {
		return nil, fmt.Errorf("second factor: %w", err)
	}
	if status != http.StatusOK && status != http.StatusSeeOther {
		return nil, fmt.Errorf("sign in as %s: the code was refused (status %d)", email, status)
	}
	return client, nil
}

var secretOnPage = regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`)

// send makes one same-origin request of the sign-in, as a browser would.
func send(client *http.Client, base, method, path string, form url.Values) (int, string, string, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		return 0, "", "", err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", base)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, resp.Header.Get("Location"), string(b), err
}

func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func round(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%d µs", d.Microseconds())
	}
}
