package apptest

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
)

// TOTPCode is what an authenticator app shows at at for secret (the key an
// enrolment page shows). Computed with the library directly, not through
// the portal's own check, so a misread of RFC 6238 there fails the tests.
func TOTPCode(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	code, err := hotp.GenerateCodeCustom(secret, uint64(at.Unix()/30), hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// secretOnEnrolPage finds the key an enrolment page shows as text.
var secretOnEnrolPage = regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`)

// Authenticator is the authenticator app of a test's staff: each user's
// secret and the last 30-second step a code was taken for, since the portal
// takes each step's code once.
type Authenticator struct {
	// Now is the portal's clock; nil means time.Now.
	Now func() time.Time
	// Wait lets time pass when the codes of now and the next step are both
	// spent; nil means time.Sleep.
	Wait func(time.Duration)

	mu    sync.Mutex
	users map[string]*phone
}

type phone struct {
	secret   string
	lastStep int64
	// sending is held from taking a code to the portal's answer: two
	// sign-ins racing could otherwise send step s+1 before step s, and the
	// portal rightly refuses a code older than one it took.
	sending sync.Mutex
}

// Add keeps secret as email's key, as scanning the QR code would; a new
// secret (after a reset) replaces the old one.
func (a *Authenticator) Add(email, secret string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.users == nil {
		a.users = map[string]*phone{}
	}
	if ph := a.users[strings.ToLower(email)]; ph != nil && ph.secret == secret {
		return // two tabs showed the same secret
	}
	a.users[strings.ToLower(email)] = &phone{secret: secret}
}

// NextCode is a code for email that the portal has not taken yet: the
// current step's, else the next one's (the portal allows one step of
// skew), else after waiting for the clock to move on, as a person would.
func (a *Authenticator) NextCode(t testing.TB, email string) string {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	ph := a.users[strings.ToLower(email)]
	if ph == nil {
		t.Fatalf("%s has no second factor in the test's authenticator", email)
	}
	now, wait := a.Now, a.Wait
	if now == nil {
		now = time.Now
	}
	if wait == nil {
		wait = time.Sleep
	}
	current := now().Unix() / 30
	step := max(current, ph.lastStep+1)
	if step > current+1 {
		wait(time.Duration(step-current-1) * 30 * time.Second)
	}
	ph.lastStep = step
	return TOTPCode(t, ph.secret, time.Unix(step*30, 0))
}

// send takes email's next code and submits it with one request, letting
// no other sign-in of email take or submit a code meanwhile.
func (a *Authenticator) send(t testing.TB, email string, submit func(code string) (int, string, string)) (int, string, string) {
	t.Helper()
	a.mu.Lock()
	ph := a.users[strings.ToLower(email)]
	a.mu.Unlock()
	if ph == nil {
		t.Fatalf("%s has no second factor in the test's authenticator", email)
	}
	ph.sending.Lock()
	defer ph.sending.Unlock()
	return submit(a.NextCode(t, email))
}

// Request sends one request of a sign-in and returns its status, Location
// and body.
type Request func(method, path string, form url.Values) (status int, location, body string)

// SignIn signs email in through do and fails the test unless it worked.
// Admins and compliance set a second factor up at their first sign-in: the
// secret the page shows goes into a, and later sign-ins take codes from it.
func (a *Authenticator) SignIn(t testing.TB, email, password string, do Request) {
	t.Helper()
	status, loc, _ := do(http.MethodPost, "/login", url.Values{"email": {email}, "password": {password}})
	if status != http.StatusSeeOther {
		t.Fatalf("login %s: status %d, want 303", email, status)
	}
	// Another sign-in of the same person may set the factor up meanwhile
	// (parallel subtests): then the enrolment page sends on to the code.
	for range 3 {
		switch loc {
		case "/login/enrol":
			status, next, body := do(http.MethodGet, "/login/enrol", nil)
			if status == http.StatusSeeOther {
				loc = next
				continue
			}
			m := secretOnEnrolPage.FindStringSubmatch(body)
			if status != http.StatusOK || m == nil {
				t.Fatalf("login %s: the enrolment page (status %d) shows no secret", email, status)
			}
			a.Add(email, m[1])
			status, next, body = a.send(t, email, func(code string) (int, string, string) {
				return do(http.MethodPost, "/login/enrol", url.Values{"code": {code}})
			})
			if status == http.StatusSeeOther {
				loc = next
				continue
			}
			if status != http.StatusOK || !strings.Contains(body, `id="recovery-codes"`) {
				t.Fatalf("login %s: confirming the second factor: status %d, no recovery codes", email, status)
			}
			return
		case "/login/code":
			status, _, _ := a.send(t, email, func(code string) (int, string, string) {
				return do(http.MethodPost, "/login/code", url.Values{"code": {code}})
			})
			if status != http.StatusSeeOther {
				t.Fatalf("login %s: the code step: status %d, want 303", email, status)
			}
			return
		default:
			return
		}
	}
	t.Fatalf("login %s: sent round the second-factor pages", email)
}
