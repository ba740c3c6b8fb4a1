// Package accounts owns staff accounts: sign-in with throttling, creating and
// changing users, and password changes. Every change writes its audit event in
// the same transaction.
package accounts

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"portal/models"
	"portal/services"
	"portal/services/passwords"
)

// ErrInvalidCredentials is the one answer for an unknown email, a wrong
// password and a disabled account, so sign-in reveals nothing about accounts.
var ErrInvalidCredentials = errors.New("accounts: invalid email or password")

// ThrottledError says sign-in is refused for now.
type ThrottledError struct{ RetryAfter time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("accounts: too many failed sign-ins, retry after %s", e.RetryAfter)
}

// Throttling limits, per OWASP ASVS 6.3: a back-off, never a permanent lock, so
// an attacker can't lock staff out for good by guessing.
const (
	ThrottleWindow     = 15 * time.Minute
	MaxAccountFailures = 5
	MaxIPFailures      = 20
	baseBackoff        = 30 * time.Second
)

// Service is the accounts use-case.
type Service struct {
	db     *gorm.DB
	now    services.Clock
	params passwords.Params
	// dummyHash is verified against when the email is unknown, so the answer
	// takes as long as for a real account.
	dummyHash string
	// sealKey keys the encryption of TOTP secrets at rest.
	sealKey []byte
}

// New returns the service. params is passwords.Default outside tests;
// sealKey (at least 32 bytes, the same for every replica and restart)
// encrypts second-factor secrets.
func New(db *gorm.DB, now services.Clock, params passwords.Params, sealKey []byte) (*Service, error) {
	if len(sealKey) < 32 {
		return nil, errors.New("accounts: the second-factor key must be at least 32 bytes")
	}
	dummy, err := passwords.Hash("dummy password for timing", params)
	if err != nil {
		return nil, err
	}
	return &Service{db: db, now: now, params: params, dummyHash: dummy, sealKey: sealKey}, nil
}

// NormalizeEmail is how emails are compared and stored.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// Authenticate checks the credentials of a sign-in attempt from ip. When
// user.SignInNeedsSecondStep this is only the first step: VerifySecondFactor
// or, for a required second factor not set up yet, EnrolAtSignIn completes
// the sign-in.
func (s *Service) Authenticate(ctx context.Context, email, password, ip string) (models.User, error) {
	email = NormalizeEmail(email)
	// What was typed is stored in login_attempts and the append-only audit
	// log: never let one request write more than an email's worth.
	if len(email) > 254 || !utf8.ValidString(email) {
		email = strings.ToValidUTF8(truncate(email, 254), "?")
	}
	now := s.now().UTC()
	if err := s.throttleCheck(ctx, email, ip, now); err != nil {
		return models.User{}, err
	}

	var user models.User
	err := s.db.WithContext(ctx).Where("email = ?", email).Take(&user).Error
	found := err == nil
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		return models.User{}, fmt.Errorf("accounts: find user: %w", err)
	}
	hash := s.dummyHash
	if found {
		hash = user.PasswordHash
	}
	match, verr := passwords.Verify(password, hash)
	ok := found && match && verr == nil && !user.Disabled

	secondStep := ok && user.SignInNeedsSecondStep()
	err = services.WithTx(ctx, s.db, func(tx *gorm.DB) error {
		// The password alone does not clear the throttle of a user with a
		// second factor: the code does (VerifySecondFactor), so someone who
		// has the password gets no fresh run of code guesses from it.
		if !secondStep {
			if err := tx.Create(&models.LoginAttempt{At: now, Email: email, IP: ip, Success: ok}).Error; err != nil {
				return err
			}
		}
		if !ok {
			reason := "wrong password"
			switch {
			case !found:
				reason = "unknown email"
			case user.Disabled && match:
				reason = "account disabled"
			}
			return services.Audit(tx, now, services.Actor{Email: email, IP: ip}, "login.failure", email, reason)
		}
		if passwords.NeedsRehash(user.PasswordHash, s.params) {
			if h, err := passwords.Hash(password, s.params); err == nil {
				if err := tx.Model(&user).Update("password_hash", h).Error; err != nil {
					return err
				}
			}
		}
		if secondStep {
			next := "second factor next"
			if !user.HasSecondFactor() {
				next = "second-factor enrolment next"
			}
			return services.Audit(tx, now, actorOf(user, ip), "login.password_ok", email, next)
		}
		return services.Audit(tx, now, actorOf(user, ip), "login.success", email, "")
	})
	if err != nil {
		return models.User{}, fmt.Errorf("accounts: record sign-in: %w", err)
	}
	if !ok {
		return models.User{}, ErrInvalidCredentials
	}
	return user, nil
}

// throttled returns how long sign-in for email from ip must wait.
func (s *Service) throttled(ctx context.Context, email, ip string, now time.Time) (time.Duration, error) {
	since := now.Add(-ThrottleWindow)
	// A successful sign-in wipes the account's slate: the person proved they
	// know the password, so earlier typos should not count against them.
	var lastSuccess models.LoginAttempt
	err := s.db.WithContext(ctx).Where("email = ? AND success = ? AND at > ?", email, true, since).
		Order("at DESC").Limit(1).Find(&lastSuccess).Error
	if err != nil {
		return 0, fmt.Errorf("accounts: throttle: %w", err)
	}
	if lastSuccess.ID != 0 {
		since = lastSuccess.At
	}
	wait := func(where string, arg string, from time.Time, limit int) (time.Duration, error) {
		var failures []models.LoginAttempt
		if err := s.db.WithContext(ctx).Where(where+" AND success = ? AND at > ?", arg, false, from).
			Order("at DESC").Limit(64).Find(&failures).Error; err != nil {
			return 0, fmt.Errorf("accounts: throttle: %w", err)
		}
		if len(failures) < limit {
			return 0, nil
		}
		// Each failure past the limit doubles the wait, capped at the window.
		backoff := baseBackoff << min(len(failures)-limit, 10)
		backoff = min(backoff, ThrottleWindow)
		until := failures[0].At.Add(backoff)
		if d := until.Sub(now); d > 0 {
			return d, nil
		}
		return 0, nil
	}
	d1, err := wait("email = ?", email, since, MaxAccountFailures)
	if err != nil {
		return 0, err
	}
	d2, err := wait("ip = ?", ip, now.Add(-ThrottleWindow), MaxIPFailures)
	if err != nil {
		return 0, err
	}
	return max(d1, d2), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// printable reports whether s is valid UTF-8 without control characters, so
// names and emails can't smuggle terminal escapes into logs and exports.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

func actorOf(u models.User, ip string) services.Actor {
	return services.Actor{ID: u.ID, Email: u.Email, Role: u.Role, IP: ip}
}

// RecordLogout audits a sign-out; the session itself is deleted by the store.
func (s *Service) RecordLogout(ctx context.Context, actor services.Actor) error {
	return services.WithTx(ctx, s.db, func(tx *gorm.DB) error {
		return services.Audit(tx, s.now(), actor, "logout", actor.Email, "")
	})
}

// Get returns one user or models.ErrNotFound.
func (s *Service) Get(ctx context.Context, id uint) (models.User, error) {
	var u models.User
	err := s.db.WithContext(ctx).Take(&u, id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return models.User{}, models.ErrNotFound
	}
	if err != nil {
		return models.User{}, fmt.Errorf("accounts: get user: %w", err)
	}
	return u, nil
}

// NewUser is the input for CreateUser.
type NewUser struct {
	Email    string
	Name     string
	Role     models.Role
	Password string
}

// CreateUser adds a staff account.
func (s *Service) CreateUser(ctx context.Context, actor services.Actor, in NewUser) (models.User, error) {
	// Check before lowercasing: ToLower silently turns invalid bytes into
	// U+FFFD, which would then look valid.
	rawEmailOK := printable(in.Email)
	in.Email = NormalizeEmail(in.Email)
	in.Name = strings.TrimSpace(in.Name)
	errs := services.FieldErrors{}
	if msg := checkEmail(in.Email); msg != "" {
		errs["email"] = msg
	} else if !rawEmailOK {
		errs["email"] = "Enter an email address like name@example.com."
	}
	switch n := len([]rune(in.Name)); {
	case !printable(in.Name):
		errs["name"] = "Use letters, digits and punctuation only."
	case n == 0:
		errs["name"] = "Enter the person's name."
	case n > 100:
		errs["name"] = "Use at most 100 characters."
	}
	if !in.Role.Valid() {
		errs["role"] = "Choose a role."
	}
	if msg := passwords.Check(in.Password, passwords.Owner{Email: in.Email, Name: in.Name}); msg != "" {
		errs["password"] = msg
	}
	if len(errs) > 0 {
		return models.User{}, errs
	}
	hash, err := passwords.Hash(in.Password, s.params)
	if err != nil {
		return models.User{}, err
	}
	now := s.now().UTC()
	u := models.User{Email: in.Email, Name: in.Name, Role: in.Role, PasswordHash: hash, PasswordChangedAt: now, CreatedAt: now, UpdatedAt: now}
	err = services.WithTx(ctx, s.db, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&models.User{}).Where("email = ?", in.Email).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return services.FieldErrors{"email": "A staff member with this email already exists."}
		}
		if err := tx.Create(&u).Error; err != nil {
			return err
		}
		return services.Audit(tx, now, actor, "user.created", in.Email, "role="+string(in.Role))
	})
	if err != nil {
		if fe, ok := services.AsFieldErrors(err); ok {
			return models.User{}, fe
		}
		return models.User{}, fmt.Errorf("accounts: create user: %w", err)
	}
	return u, nil
}

func checkEmail(email string) string {
	at := strings.LastIndexByte(email, '@')
	switch {
	case email == "":
		return "Enter an email address."
	case !printable(email):
		return "Enter an email address like name@example.com."
	case len(email) > 254:
		return "Use at most 254 characters."
	case at < 1 || at == len(email)-1 || strings.ContainsAny(email, " \t\r\n<>,;\"") || !strings.Contains(email[at:], "."):
		return "Enter an email address like name@example.com."
	}
	return ""
}

// update loads the target user inside a transaction, lets change modify it and
// writes it back with its audit event.
//
// SQLite runs one write transaction at a time (BEGIN IMMEDIATE), so the
// read and the write cannot interleave with another update. PostgreSQL runs
// them side by side under READ COMMITTED, so there the rows are locked
// first: every admin (the last-admin rule reads them all; always in id
// order, so two updates cannot deadlock) and then the target. A role change
// racing a disable then sees the disable, and two admins disabling each
// other cannot both pass the last-admin check.
func (s *Service) update(ctx context.Context, id uint, change func(tx *gorm.DB, u *models.User, now time.Time) error) (models.User, error) {
	var u models.User
	err := services.WithTx(ctx, s.db, func(tx *gorm.DB) error {
		load := tx
		if models.DialectOf(tx).Postgres() {
			var admins []uint
			if err := tx.Model(&models.User{}).Where("role = ?", models.RoleAdmin).Order("id").
				Clauses(clause.Locking{Strength: "UPDATE"}).Pluck("id", &admins).Error; err != nil {
				return err
			}
			load = tx.Clauses(clause.Locking{Strength: "UPDATE"})
		}
		if err := load.Take(&u, id).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return models.ErrNotFound
			}
			return err
		}
		now := s.now().UTC()
		if err := change(tx, &u, now); err != nil {
			return err
		}
		u.UpdatedAt = now
		return tx.Save(&u).Error
	})
	if err != nil {
		var forbidden *services.ErrForbidden
		if errors.Is(err, models.ErrNotFound) || errors.As(err, &forbidden) {
			return models.User{}, err
		}
		if fe, ok := services.AsFieldErrors(err); ok {
			return models.User{}, fe
		}
		return models.User{}, fmt.Errorf("accounts: update user %d: %w", id, err)
	}
	return u, nil
}

// otherActiveAdmins counts enabled admins other than id, so the last one can't
// be demoted or disabled and lock everybody out of staff management.
func otherActiveAdmins(tx *gorm.DB, id uint) (int64, error) {
	var n int64
	err := tx.Model(&models.User{}).Where("role = ? AND disabled = ? AND id <> ?", models.RoleAdmin, false, id).Count(&n).Error
	return n, err
}

// ChangeRole sets a user's role.
func (s *Service) ChangeRole(ctx context.Context, actor services.Actor, id uint, role models.Role) (models.User, error) {
	if !role.Valid() {
		return models.User{}, services.FieldErrors{"role": "Choose a role."}
	}
	return s.update(ctx, id, func(tx *gorm.DB, u *models.User, now time.Time) error {
		if u.Role == role {
			return nil
		}
		if u.Role == models.RoleAdmin && !u.Disabled {
			n, err := otherActiveAdmins(tx, u.ID)
			if err != nil {
				return err
			}
			if n == 0 {
				return &services.ErrForbidden{Reason: "This is the last active admin: make someone else an admin first."}
			}
		}
		from := u.Role
		u.Role = role
		// Sessions carry no role (it is read per request), so a new role takes
		// effect on the user's next click without ending their session.
		return services.Audit(tx, now, actor, "user.role_changed", u.Email, fmt.Sprintf("from=%s to=%s", from, role))
	})
}

// SetDisabled disables or enables a user; disabling ends their sessions.
func (s *Service) SetDisabled(ctx context.Context, actor services.Actor, id uint, disabled bool) (models.User, error) {
	return s.update(ctx, id, func(tx *gorm.DB, u *models.User, now time.Time) error {
		if u.Disabled == disabled {
			return nil
		}
		if disabled {
			if u.ID == actor.ID {
				return &services.ErrForbidden{Reason: "You can't disable your own account."}
			}
			if u.Role == models.RoleAdmin {
				n, err := otherActiveAdmins(tx, u.ID)
				if err != nil {
					return err
				}
				if n == 0 {
					return &services.ErrForbidden{Reason: "This is the last active admin and can't be disabled."}
				}
			}
			if err := endSessions(tx, u.ID); err != nil {
				return err
			}
		}
		u.Disabled = disabled
		action := "user.enabled"
		if disabled {
			action = "user.disabled"
		}
		return services.Audit(tx, now, actor, action, u.Email, "")
	})
}

// ResetPassword sets a new password chosen by an admin and ends the user's
// sessions.
func (s *Service) ResetPassword(ctx context.Context, actor services.Actor, id uint, password string) (models.User, error) {
	target, err := s.Get(ctx, id)
	if err != nil {
		return models.User{}, err
	}
	if msg := passwords.Check(password, passwords.Owner{Email: target.Email, Name: target.Name}); msg != "" {
		return models.User{}, services.FieldErrors{"password": msg}
	}
	hash, err := passwords.Hash(password, s.params)
	if err != nil {
		return models.User{}, err
	}
	return s.update(ctx, id, func(tx *gorm.DB, u *models.User, now time.Time) error {
		u.PasswordHash = hash
		u.PasswordChangedAt = now
		if err := endSessions(tx, u.ID); err != nil {
			return err
		}
		return services.Audit(tx, now, actor, "user.password_reset", u.Email, "")
	})
}

// ChangeOwnPassword changes the actor's own password after checking the
// current one, and ends all of their sessions (the caller signs them in again
// with a fresh one).
func (s *Service) ChangeOwnPassword(ctx context.Context, actor services.Actor, current, next string) error {
	u, err := s.Get(ctx, actor.ID)
	if err != nil {
		return err
	}
	if ok, _ := passwords.Verify(current, u.PasswordHash); !ok {
		return services.FieldErrors{"current_password": "This is not your current password."}
	}
	if msg := passwords.Check(next, passwords.Owner{Email: u.Email, Name: u.Name}); msg != "" {
		return services.FieldErrors{"new_password": msg}
	}
	if next == current {
		return services.FieldErrors{"new_password": "Choose a password different from the current one."}
	}
	hash, err := passwords.Hash(next, s.params)
	if err != nil {
		return err
	}
	_, err = s.update(ctx, actor.ID, func(tx *gorm.DB, u *models.User, now time.Time) error {
		u.PasswordHash = hash
		u.PasswordChangedAt = now
		if err := endSessions(tx, u.ID); err != nil {
			return err
		}
		return services.Audit(tx, now, actor, "user.password_changed", u.Email, "")
	})
	return err
}

func endSessions(tx *gorm.DB, userID uint) error {
	return tx.Where("user_id = ?", userID).Delete(&models.Session{}).Error
}

// EnsureAdmin creates the first admin when there are no users at all. With an
// empty password it generates one and returns it, to be shown once.
func (s *Service) EnsureAdmin(ctx context.Context, email, password string) (generated string, created bool, err error) {
	// Replicas started together on one empty database: one of them counts
	// and creates, the others then count one user.
	err = models.WithLock(ctx, s.db, "portal: first admin", func() error {
		generated, created, err = s.ensureAdmin(ctx, email, password)
		return err
	})
	return generated, created, err
}

func (s *Service) ensureAdmin(ctx context.Context, email, password string) (generated string, created bool, err error) {
	var n int64
	if err := s.db.WithContext(ctx).Model(&models.User{}).Count(&n).Error; err != nil {
		return "", false, fmt.Errorf("accounts: count users: %w", err)
	}
	if n > 0 {
		return "", false, nil
	}
	if password == "" {
		b := make([]byte, 18)
		if _, err := rand.Read(b); err != nil {
			return "", false, err
		}
		password = base64.RawURLEncoding.EncodeToString(b)
		generated = password
	}
	_, err = s.CreateUser(ctx, services.System, NewUser{Email: email, Name: "Administrator", Role: models.RoleAdmin, Password: password})
	if err != nil {
		return "", false, err
	}
	return generated, true, nil
}

// ParseID parses a user id from a URL.
func ParseID(raw string) (uint, bool) {
	id, err := strconv.ParseUint(raw, 10, 32)
	return uint(id), err == nil && id > 0
}
