package accounts_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"portal/internal/apptest"
	"portal/internal/dbtest"
	"portal/models"
	"portal/services"
	"portal/services/accounts"
	"portal/services/passwords"
)

var fastPasswords = passwords.Params{MemoryKiB: 1024, Iterations: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// clock is a settable clock for code steps and throttling.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const testPassword = "tall river lantern 42"

func TestMain(m *testing.M) { dbtest.Main(m) }

// fixture is a service on a fresh database with one compliance officer.
type fixture struct {
	svc *accounts.Service
	c   *clock
	u   models.User
	db  *gorm.DB
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	db := dbtest.Open(t)
	c := &clock{t: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)}
	svc, err := accounts.New(db, c.now, fastPasswords, []byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	u, err := svc.CreateUser(context.Background(), services.System, accounts.NewUser{
		Email: "grace@example.com", Name: "Grace Hopper", Role: models.RoleCompliance, Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{svc, c, u, db}
}

func newService(t *testing.T) (*accounts.Service, *clock, models.User) {
	f := newFixture(t)
	return f.svc, f.c, f.u
}

var codeAt = apptest.TOTPCode

func enrol(t *testing.T, svc *accounts.Service, c *clock, u models.User) (string, []string) {
	t.Helper()
	ctx := context.Background()
	e, err := svc.BeginEnrolment(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	codes, err := svc.ConfirmEnrolment(ctx, services.Actor{ID: u.ID, Email: u.Email}, u.ID, codeAt(t, e.Secret, c.now()))
	if err != nil {
		t.Fatalf("confirm: %v", err)
	}
	return e.Secret, codes
}

func TestEnrolmentConfirmsWithACodeAndHandsOutRecoveryCodes(t *testing.T) {
	t.Parallel()
	svc, c, u := newService(t)
	ctx := context.Background()
	first, err := svc.BeginEnrolment(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(first.URL, "otpauth://totp/") || !strings.Contains(first.URL, "secret="+first.Secret) {
		t.Errorf("otpauth URL %q does not carry the secret", first.URL)
	}
	// A reload shows the same secret, so the one scanned is the one confirmed.
	again, err := svc.BeginEnrolment(ctx, u.ID)
	if err != nil || again.Secret != first.Secret {
		t.Fatalf("second BeginEnrolment = %q, %v; want the same secret %q", again.Secret, err, first.Secret)
	}
	// The secret is stored sealed, never as the text the app was given.
	got, err := svc.Get(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.TOTPPending == "" || strings.Contains(got.TOTPPending, first.Secret) {
		t.Errorf("pending secret stored as %q", got.TOTPPending)
	}
	actor := services.Actor{ID: u.ID, Email: u.Email}
	wrong := codeAt(t, first.Secret, c.now().Add(-5*time.Minute))
	if _, err := svc.ConfirmEnrolment(ctx, actor, u.ID, wrong); err == nil {
		t.Fatal("a stale code confirmed the enrolment")
	} else if fe, ok := services.AsFieldErrors(err); !ok || fe["code"] == "" {
		t.Fatalf("stale code: %v, want a field error on code", err)
	}
	codes, err := svc.ConfirmEnrolment(ctx, actor, u.ID, codeAt(t, first.Secret, c.now()))
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != accounts.RecoveryCodeCount {
		t.Fatalf("%d recovery codes, want %d", len(codes), accounts.RecoveryCodeCount)
	}
	seen := map[string]bool{}
	for _, code := range codes {
		if len(code) != 29 || seen[code] {
			t.Errorf("recovery code %q: want 24 characters in groups of four, all different", code)
		}
		seen[code] = true
	}
	got, _ = svc.Get(ctx, u.ID)
	if !got.HasSecondFactor() || got.TOTPPending != "" || got.TOTPEnabledAt == nil {
		t.Errorf("after confirming: %+v", got)
	}
	if _, err := svc.BeginEnrolment(ctx, u.ID); !errors.Is(err, accounts.ErrAlreadyEnrolled) {
		t.Errorf("enrolling twice: %v, want ErrAlreadyEnrolled", err)
	}
	if n, err := svc.RecoveryCodesLeft(ctx, u.ID); err != nil || n != 10 {
		t.Errorf("recovery codes left = %d, %v", n, err)
	}
}

func TestACodeIsAcceptedOnce(t *testing.T) {
	t.Parallel()
	svc, c, u := newService(t)
	ctx := context.Background()
	secret, _ := enrol(t, svc, c, u)
	// The enrolment's own code is spent: the same step can't sign in.
	if _, err := svc.VerifySecondFactor(ctx, u.ID, codeAt(t, secret, c.now()), "10.0.0.1"); !errors.Is(err, accounts.ErrInvalidCode) {
		t.Fatalf("the confirming code again: %v, want ErrInvalidCode", err)
	}
	c.advance(30 * time.Second)
	code := codeAt(t, secret, c.now())
	if _, err := svc.VerifySecondFactor(ctx, u.ID, code, "10.0.0.1"); err != nil {
		t.Fatalf("a fresh code: %v", err)
	}
	if _, err := svc.VerifySecondFactor(ctx, u.ID, code, "10.0.0.1"); !errors.Is(err, accounts.ErrInvalidCode) {
		t.Errorf("replayed code: %v, want ErrInvalidCode", err)
	}
	// Nor an older one that is still inside the clock-skew window.
	if _, err := svc.VerifySecondFactor(ctx, u.ID, codeAt(t, secret, c.now().Add(-30*time.Second)), "10.0.0.1"); !errors.Is(err, accounts.ErrInvalidCode) {
		t.Errorf("the previous step's code after a newer one: %v, want ErrInvalidCode", err)
	}
	// The next step's code (a phone clock a little fast) is taken.
	if _, err := svc.VerifySecondFactor(ctx, u.ID, codeAt(t, secret, c.now().Add(30*time.Second)), "10.0.0.1"); err != nil {
		t.Errorf("the next step's code: %v", err)
	}
}

func TestConcurrentUsesOfOneCodeLetOneThrough(t *testing.T) {
	t.Parallel()
	svc, c, u := newService(t)
	secret, _ := enrol(t, svc, c, u)
	c.advance(30 * time.Second)
	code := codeAt(t, secret, c.now())
	// As many racers as the throttle allows failures: the losers' refusals
	// must say "wrong or used code", not "wait", however they interleave.
	racers := accounts.MaxAccountFailures
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := svc.VerifySecondFactor(context.Background(), u.ID, code, "10.0.0.1"); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			} else if !errors.Is(err, accounts.ErrInvalidCode) {
				t.Errorf("verify: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok != 1 {
		t.Errorf("%d of %d concurrent uses of one code were accepted, want 1", ok, racers)
	}
}

func TestRecoveryCodeWorksOnce(t *testing.T) {
	t.Parallel()
	svc, c, u := newService(t)
	ctx := context.Background()
	_, codes := enrol(t, svc, c, u)
	// Typed in capitals and without the dashes, as people do.
	typed := strings.ToUpper(strings.ReplaceAll(codes[3], "-", " "))
	if _, err := svc.VerifySecondFactor(ctx, u.ID, typed, "10.0.0.1"); err != nil {
		t.Fatalf("recovery code: %v", err)
	}
	if _, err := svc.VerifySecondFactor(ctx, u.ID, codes[3], "10.0.0.1"); !errors.Is(err, accounts.ErrInvalidCode) {
		t.Errorf("the same recovery code again: %v, want ErrInvalidCode", err)
	}
	if n, _ := svc.RecoveryCodesLeft(ctx, u.ID); n != 9 {
		t.Errorf("recovery codes left = %d, want 9", n)
	}
}

func TestWrongCodesAreThrottledLikePasswords(t *testing.T) {
	t.Parallel()
	svc, c, u := newService(t)
	ctx := context.Background()
	secret, _ := enrol(t, svc, c, u)
	for i := range accounts.MaxAccountFailures {
		if _, err := svc.VerifySecondFactor(ctx, u.ID, "000000", "10.0.0.1"); !errors.Is(err, accounts.ErrInvalidCode) {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	var throttled *accounts.ThrottledError
	next := codeAt(t, secret, c.now().Add(30*time.Second))
	if _, err := svc.VerifySecondFactor(ctx, u.ID, next, "10.0.0.1"); !errors.As(err, &throttled) {
		t.Fatalf("a right code after %d wrong ones: %v, want throttled", accounts.MaxAccountFailures, err)
	}
	// The password stage shares the throttle.
	if _, err := svc.Authenticate(ctx, u.Email, testPassword, "10.0.0.2"); !errors.As(err, &throttled) {
		t.Errorf("password sign-in while codes are throttled: %v, want throttled", err)
	}
	// Once the back-off has passed, the right code gets in.
	c.advance(accounts.ThrottleWindow)
	if _, err := svc.VerifySecondFactor(ctx, u.ID, codeAt(t, secret, c.now()), "10.0.0.1"); err != nil {
		t.Errorf("a right code after the back-off: %v", err)
	}
}

func TestRemovingYourOwnSecondFactorTakesPasswordAndCode(t *testing.T) {
	t.Parallel()
	svc, c, u := newService(t)
	ctx := context.Background()
	secret, _ := enrol(t, svc, c, u)
	actor := services.Actor{ID: u.ID, Email: u.Email, IP: "10.0.0.1"}
	c.advance(30 * time.Second)
	code := codeAt(t, secret, c.now())
	for _, tc := range []struct{ password, code, field string }{
		{"not my password", code, "current_password"},
		{testPassword, "123456", "code"},
	} {
		err := svc.RemoveOwnSecondFactor(ctx, actor, tc.password, tc.code)
		if fe, ok := services.AsFieldErrors(err); !ok || fe[tc.field] == "" {
			t.Errorf("remove with password %q code %q: %v, want a message on %s", tc.password, tc.code, err, tc.field)
		}
	}
	if got, _ := svc.Get(ctx, u.ID); !got.HasSecondFactor() {
		t.Fatal("a refused removal removed the second factor")
	}
	if err := svc.RemoveOwnSecondFactor(ctx, actor, testPassword, code); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if got, _ := svc.Get(ctx, u.ID); got.HasSecondFactor() {
		t.Error("the second factor is still there")
	}
	if n, _ := svc.RecoveryCodesLeft(ctx, u.ID); n != 0 {
		t.Errorf("%d recovery codes left after removal", n)
	}
}

func TestAdminResetEndsSessionsAndIsAudited(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	svc, c, u, db := f.svc, f.c, f.u, f.db
	ctx := context.Background()
	enrol(t, svc, c, u)
	admin, err := svc.CreateUser(ctx, services.System, accounts.NewUser{
		Email: "root@example.com", Name: "Root", Role: models.RoleAdmin, Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	now := c.now()
	if err := db.Create(&models.Session{IDHash: "h1", UserID: &u.ID, Data: "{}", CreatedAt: now, LastSeenAt: now}).Error; err != nil {
		t.Fatal(err)
	}
	adminActor := services.Actor{ID: admin.ID, Email: admin.Email, Role: models.RoleAdmin}
	if _, err := svc.ResetSecondFactor(ctx, adminActor, admin.ID); err == nil {
		t.Error("an admin reset their own second factor without password and code")
	}
	if _, err := svc.ResetSecondFactor(ctx, adminActor, u.ID); err != nil {
		t.Fatalf("reset: %v", err)
	}
	got, _ := svc.Get(ctx, u.ID)
	if got.HasSecondFactor() || got.TOTPEnabledAt != nil {
		t.Errorf("after reset: %+v", got)
	}
	var sessions, audits, codes int64
	db.Model(&models.Session{}).Where("user_id = ?", u.ID).Count(&sessions)
	db.Model(&models.AuditEvent{}).Where("action = ? AND subject = ?", "user.2fa_reset", u.Email).Count(&audits)
	db.Model(&models.RecoveryCode{}).Where("user_id = ?", u.ID).Count(&codes)
	if sessions != 0 || audits != 1 || codes != 0 {
		t.Errorf("after reset: %d sessions, %d audit events, %d recovery codes; want 0, 1, 0", sessions, audits, codes)
	}
}

func TestASealedSecretOpensOnlyInItsOwnRow(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	svc, c, u, db := f.svc, f.c, f.u, f.db
	ctx := context.Background()
	secret, _ := enrol(t, svc, c, u)
	other, err := svc.CreateUser(ctx, services.System, accounts.NewUser{
		Email: "eve@example.com", Name: "Eve", Role: models.RoleSupport, Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := svc.Get(ctx, u.ID)
	// Someone with write access to the table copies Grace's secret to Eve.
	if err := db.Model(&models.User{}).Where("id = ?", other.ID).Update("totp_secret", got.TOTPSecret).Error; err != nil {
		t.Fatal(err)
	}
	c.advance(30 * time.Second)
	if _, err := svc.VerifySecondFactor(ctx, other.ID, codeAt(t, secret, c.now()), "10.0.0.1"); err == nil || errors.Is(err, accounts.ErrInvalidCode) {
		t.Errorf("a copied sealed secret: %v, want it to fail to open", err)
	}
}

// TestARequiredSecondFactorIsSetUpAtSignIn: for a compliance officer with
// no second factor the right password is only half a sign-in, and the
// set-up's first code completes it.
func TestARequiredSecondFactorIsSetUpAtSignIn(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	u, err := f.svc.Authenticate(ctx, f.u.Email, testPassword, "192.0.2.1")
	if err != nil || !u.SignInNeedsSecondStep() || u.HasSecondFactor() {
		t.Fatalf("Authenticate = %+v, %v; want a user who must set a second factor up", u, err)
	}
	var successes int64
	f.db.Model(&models.LoginAttempt{}).Where("email = ? AND success", f.u.Email).Count(&successes)
	if successes != 0 {
		t.Fatalf("the password alone recorded %d successful sign-ins", successes)
	}
	e, err := f.svc.BeginEnrolment(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.EnrolAtSignIn(ctx, u.ID, "000000", "192.0.2.1"); !isFieldError(err, "code") {
		t.Fatalf("a wrong first code: %v, want a message on the code field", err)
	}
	signedIn, codes, err := f.svc.EnrolAtSignIn(ctx, u.ID, codeAt(t, e.Secret, f.c.now()), "192.0.2.1")
	if err != nil || signedIn.ID != u.ID || len(codes) != accounts.RecoveryCodeCount {
		t.Fatalf("EnrolAtSignIn = %d, %d codes, %v; want the user and %d codes", signedIn.ID, len(codes), err, accounts.RecoveryCodeCount)
	}
	f.db.Model(&models.LoginAttempt{}).Where("email = ? AND success", f.u.Email).Count(&successes)
	if successes != 1 {
		t.Errorf("%d successful sign-ins recorded after the set-up, want 1", successes)
	}
	// Once only: a second tab's confirmation finds it done.
	if _, _, err := f.svc.EnrolAtSignIn(ctx, u.ID, codeAt(t, e.Secret, f.c.now().Add(30*time.Second)), "192.0.2.1"); !errors.Is(err, accounts.ErrAlreadyEnrolled) {
		t.Errorf("a second set-up: %v, want ErrAlreadyEnrolled", err)
	}

	t.Run("not for roles without the requirement", func(t *testing.T) {
		op, err := f.svc.CreateUser(ctx, services.System, accounts.NewUser{
			Email: "olu@example.com", Name: "Olu", Role: models.RoleOperator, Password: testPassword})
		if err != nil {
			t.Fatal(err)
		}
		if op.SignInNeedsSecondStep() {
			t.Fatal("an operator without a second factor needs a second step")
		}
		if _, _, err := f.svc.EnrolAtSignIn(ctx, op.ID, "000000", "192.0.2.1"); !errors.Is(err, accounts.ErrInvalidCredentials) {
			t.Errorf("EnrolAtSignIn for an operator: %v, want ErrInvalidCredentials", err)
		}
	})
}

func isFieldError(err error, field string) bool {
	fe, ok := services.AsFieldErrors(err)
	return ok && fe[field] != ""
}
