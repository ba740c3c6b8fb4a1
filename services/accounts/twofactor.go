package accounts

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
	"gorm.io/gorm"

	"portal/models"
	"portal/services"
	"portal/services/passwords"
)

// The second factor is TOTP as every authenticator app knows it (RFC 6238:
// SHA-1, six digits, 30-second steps), plus single-use recovery codes.
const (
	totpPeriod = 30
	// One step either side of now: a phone clock a little off, or a code
	// typed just as it turned over.
	totpSkew = 1
	// RecoveryCodeCount is how many recovery codes an enrolment hands out.
	RecoveryCodeCount = 10
	// Issuer names the portal in authenticator apps.
	Issuer = "Back-office portal"
)

var (
	// ErrInvalidCode is the one answer for a wrong, stale or already used
	// code, so a guesser learns nothing about which.
	ErrInvalidCode = errors.New("accounts: invalid or already used code")
	// ErrNoSecondFactor: the user has no second factor to check or remove.
	ErrNoSecondFactor = errors.New("accounts: no second factor enrolled")
	// ErrAlreadyEnrolled: the user has a second factor already; removing it
	// comes first.
	ErrAlreadyEnrolled = errors.New("accounts: second factor already enrolled")
)

// Enrolment is a secret being set up: shown once as a QR code (URL) and as
// text (Secret) for apps without a camera or for oathtool.
type Enrolment struct {
	Secret string
	URL    string
}

// BeginEnrolment returns the secret the user is to add to their app. A page
// reload or a second tab gets the same secret, so whichever the person
// scanned is the one a code confirms.
func (s *Service) BeginEnrolment(ctx context.Context, id uint) (Enrolment, error) {
	u, err := s.Get(ctx, id)
	if err != nil {
		return Enrolment{}, err
	}
	if u.HasSecondFactor() {
		return Enrolment{}, ErrAlreadyEnrolled
	}
	if u.TOTPPending == "" {
		key, err := totpKey(u.Email, nil)
		if err != nil {
			return Enrolment{}, err
		}
		sealed, err := s.seal(u.ID, key.Secret())
		if err != nil {
			return Enrolment{}, err
		}
		if err := s.db.WithContext(ctx).Model(&models.User{}).Where("id = ? AND totp_pending = ''", u.ID).
			Update("totp_pending", sealed).Error; err != nil {
			return Enrolment{}, fmt.Errorf("accounts: store totp secret: %w", err)
		}
		// Another tab may have stored its secret first: use whichever won.
		if u, err = s.Get(ctx, id); err != nil {
			return Enrolment{}, err
		}
	}
	secret, err := s.unseal(u.ID, u.TOTPPending)
	if err != nil {
		return Enrolment{}, err
	}
	raw, err := totpSecretEncoding.DecodeString(secret)
	if err != nil {
		return Enrolment{}, fmt.Errorf("accounts: stored totp secret: %w", err)
	}
	key, err := totpKey(u.Email, raw)
	if err != nil {
		return Enrolment{}, err
	}
	return Enrolment{Secret: key.Secret(), URL: key.URL()}, nil
}

// totpSecretEncoding is how otp writes secrets: base32 without padding.
var totpSecretEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// totpKey is the authenticator-app key of account: a new random secret
// when secret is nil.
func totpKey(account string, secret []byte) (*otp.Key, error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: Issuer, AccountName: account, SecretSize: 20, Secret: secret})
	if err != nil {
		return nil, fmt.Errorf("accounts: totp key: %w", err)
	}
	return key, nil
}

// ConfirmEnrolment turns the pending secret on once code proves the app has
// it, and returns the recovery codes, to be shown once: only their hashes
// are kept.
func (s *Service) ConfirmEnrolment(ctx context.Context, actor services.Actor, id uint, code string) ([]string, error) {
	u, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.confirmEnrolment(ctx, actor, u, code, nil)
}

// EnrolAtSignIn is ConfirmEnrolment for a user whose role requires a second
// factor and who has none yet (models.User.SignInNeedsSecondStep): their
// password was right, and confirming the new secret completes the sign-in.
// A wrong code here is not a failed sign-in: the page shows the secret, so
// there is nothing to guess.
func (s *Service) EnrolAtSignIn(ctx context.Context, id uint, code, ip string) (models.User, []string, error) {
	u, err := s.Get(ctx, id)
	if err != nil {
		return models.User{}, nil, err
	}
	if u.Disabled || !u.Role.RequiresSecondFactor() {
		// Disabled, or moved to a role without the requirement, since the
		// password step: that sign-in has to start again.
		return models.User{}, nil, ErrInvalidCredentials
	}
	codes, err := s.confirmEnrolment(ctx, actorOf(u, ip), u, code, func(tx *gorm.DB, now time.Time) error {
		if err := tx.Create(&models.LoginAttempt{At: now, Email: u.Email, IP: ip, Success: true}).Error; err != nil {
			return err
		}
		return services.Audit(tx, now, actorOf(u, ip), "login.success", u.Email, "second factor enrolled")
	})
	if err != nil {
		return models.User{}, nil, err
	}
	return u, codes, nil
}

// confirmEnrolment turns u's pending secret on; also, when set, writes more
// in the same transaction.
func (s *Service) confirmEnrolment(ctx context.Context, actor services.Actor, u models.User, code string, also func(tx *gorm.DB, now time.Time) error) ([]string, error) {
	if u.HasSecondFactor() {
		return nil, ErrAlreadyEnrolled
	}
	if u.TOTPPending == "" {
		return nil, services.FieldErrors{"code": "This set-up has expired. Reload the page to start again."}
	}
	secret, err := s.unseal(u.ID, u.TOTPPending)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	step, ok := matchStep(secret, code, now)
	if !ok {
		return nil, services.FieldErrors{"code": "That code doesn't match. Enter the 6 digits your app shows now; " +
			"if it keeps failing, set your phone's clock to update automatically."}
	}
	codes, hashes, err := newRecoveryCodes()
	if err != nil {
		return nil, err
	}
	err = services.WithTx(ctx, s.db, func(tx *gorm.DB) error {
		res := tx.Model(&models.User{}).Where("id = ? AND totp_pending = ? AND totp_secret = ''", u.ID, u.TOTPPending).
			Updates(map[string]any{"totp_secret": u.TOTPPending, "totp_pending": "", "totp_last_step": step,
				"totp_enabled_at": now, "updated_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrAlreadyEnrolled
		}
		if err := replaceRecoveryCodes(tx, u.ID, hashes, now); err != nil {
			return err
		}
		if err := services.Audit(tx, now, actor, "user.2fa_enrolled", u.Email, ""); err != nil {
			return err
		}
		if also != nil {
			return also(tx, now)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrAlreadyEnrolled) {
			return nil, err
		}
		return nil, fmt.Errorf("accounts: confirm enrolment: %w", err)
	}
	return codes, nil
}

// VerifySecondFactor completes a sign-in whose password was right: code is
// a current authenticator code or an unused recovery code. Failures count
// towards the same throttle as wrong passwords; a success clears it.
func (s *Service) VerifySecondFactor(ctx context.Context, id uint, code, ip string) (models.User, error) {
	u, err := s.Get(ctx, id)
	if err != nil {
		return models.User{}, err
	}
	if u.Disabled {
		return models.User{}, ErrInvalidCredentials
	}
	if !u.HasSecondFactor() {
		return models.User{}, ErrNoSecondFactor
	}
	now := s.now().UTC()
	if err := s.throttleCheck(ctx, u.Email, ip, now); err != nil {
		return models.User{}, err
	}
	var accepted bool
	err = services.WithTx(ctx, s.db, func(tx *gorm.DB) error {
		how, err := s.acceptCode(tx, u, code, now)
		if err != nil {
			return err
		}
		accepted = how != ""
		if err := tx.Create(&models.LoginAttempt{At: now, Email: u.Email, IP: ip, Success: accepted}).Error; err != nil {
			return err
		}
		if !accepted {
			return services.Audit(tx, now, actorOf(u, ip), "login.failure", u.Email, "wrong second-factor code")
		}
		return services.Audit(tx, now, actorOf(u, ip), "login.success", u.Email, how)
	})
	if err != nil {
		return models.User{}, fmt.Errorf("accounts: second factor: %w", err)
	}
	if !accepted {
		return models.User{}, ErrInvalidCode
	}
	return u, nil
}

// RemoveOwnSecondFactor turns the actor's second factor off; it takes both
// their password and a code, so neither a stolen password nor an unlocked
// phone alone can do it. Admins and compliance enrol again at their next
// sign-in.
func (s *Service) RemoveOwnSecondFactor(ctx context.Context, actor services.Actor, password, code string) error {
	u, err := s.Get(ctx, actor.ID)
	if err != nil {
		return err
	}
	if !u.HasSecondFactor() {
		return ErrNoSecondFactor
	}
	now := s.now().UTC()
	if err := s.throttleCheck(ctx, u.Email, actor.IP, now); err != nil {
		return err
	}
	passwordOK, _ := passwords.Verify(password, u.PasswordHash)
	errs := services.FieldErrors{}
	err = services.WithTx(ctx, s.db, func(tx *gorm.DB) error {
		how := ""
		if passwordOK {
			var err error
			if how, err = s.acceptCode(tx, u, code, now); err != nil {
				return err
			}
		}
		if !passwordOK {
			errs["current_password"] = "This is not your current password."
		} else if how == "" {
			errs["code"] = "That code is wrong or was already used."
		}
		if len(errs) > 0 {
			return nil
		}
		if err := clearSecondFactor(tx, u.ID, now); err != nil {
			return err
		}
		return services.Audit(tx, now, actor, "user.2fa_removed", u.Email, how)
	})
	if err != nil {
		return fmt.Errorf("accounts: remove second factor: %w", err)
	}
	if len(errs) > 0 {
		// Outside the transaction above, which wrote nothing: the failure
		// itself must stay recorded for the throttle.
		if err := s.recordFailure(ctx, u, actor.IP, now, "wrong password or code removing the second factor"); err != nil {
			return err
		}
		return errs
	}
	return nil
}

// ResetSecondFactor is an admin turning another user's second factor off
// (a lost phone): it ends that user's sessions, and they enrol again at
// sign-in if their role needs one. Nobody resets their own this way.
func (s *Service) ResetSecondFactor(ctx context.Context, actor services.Actor, id uint) (models.User, error) {
	if id == actor.ID {
		return models.User{}, &services.ErrForbidden{Reason: "Remove your own second factor from your account page: it asks for your password and a code."}
	}
	return s.update(ctx, id, func(tx *gorm.DB, u *models.User, now time.Time) error {
		if !u.HasSecondFactor() && u.TOTPPending == "" {
			return &services.ErrForbidden{Reason: u.Email + " has no second factor to reset."}
		}
		if err := tx.Where("user_id = ?", u.ID).Delete(&models.RecoveryCode{}).Error; err != nil {
			return err
		}
		u.TOTPSecret, u.TOTPPending, u.TOTPEnabledAt = "", "", nil
		if err := endSessions(tx, u.ID); err != nil {
			return err
		}
		return services.Audit(tx, now, actor, "user.2fa_reset", u.Email, "")
	})
}

// RecoveryCodesLeft counts the user's unused recovery codes.
func (s *Service) RecoveryCodesLeft(ctx context.Context, id uint) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&models.RecoveryCode{}).Where("user_id = ? AND used_at IS NULL", id).Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("accounts: count recovery codes: %w", err)
	}
	return n, nil
}

// acceptCode spends code for u inside tx and says how ("authenticator app",
// "recovery code, 9 left"), or "" when it is not a valid unused code. Each
// spend is a conditional update, so two requests racing with the same code
// cannot both succeed.
func (s *Service) acceptCode(tx *gorm.DB, u models.User, code string, now time.Time) (string, error) {
	code = strings.ToLower(strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(code)))
	if len(code) == recoveryCodeLen {
		hash := hashRecoveryCode(code)
		res := tx.Model(&models.RecoveryCode{}).Where("user_id = ? AND code_hash = ? AND used_at IS NULL", u.ID, hash).
			Update("used_at", now)
		if res.Error != nil || res.RowsAffected == 0 {
			return "", res.Error
		}
		var left int64
		if err := tx.Model(&models.RecoveryCode{}).Where("user_id = ? AND used_at IS NULL", u.ID).Count(&left).Error; err != nil {
			return "", err
		}
		return fmt.Sprintf("recovery code, %d left", left), nil
	}
	secret, err := s.unseal(u.ID, u.TOTPSecret)
	if err != nil {
		return "", err
	}
	step, ok := matchStep(secret, code, now)
	if !ok {
		return "", nil
	}
	// A code is good once: its step must be newer than the last one taken.
	res := tx.Model(&models.User{}).Where("id = ? AND totp_last_step < ?", u.ID, step).Update("totp_last_step", step)
	if res.Error != nil || res.RowsAffected == 0 {
		return "", res.Error
	}
	return "authenticator app", nil
}

// throttleCheck refuses, with a *ThrottledError and an audit event, a
// sign-in step for email from ip that must wait.
func (s *Service) throttleCheck(ctx context.Context, email, ip string, now time.Time) error {
	wait, err := s.throttled(ctx, email, ip, now)
	if err != nil || wait == 0 {
		return err
	}
	err = services.WithTx(ctx, s.db, func(tx *gorm.DB) error {
		return services.Audit(tx, now, services.Actor{Email: email, IP: ip}, "login.throttled", email, "retry after "+wait.Round(time.Second).String())
	})
	if err != nil {
		return err
	}
	return &ThrottledError{RetryAfter: wait}
}

func (s *Service) recordFailure(ctx context.Context, u models.User, ip string, now time.Time, reason string) error {
	return services.WithTx(ctx, s.db, func(tx *gorm.DB) error {
		if err := tx.Create(&models.LoginAttempt{At: now, Email: u.Email, IP: ip, Success: false}).Error; err != nil {
			return err
		}
		return services.Audit(tx, now, actorOf(u, ip), "login.failure", u.Email, reason)
	})
}

func clearSecondFactor(tx *gorm.DB, id uint, now time.Time) error {
	if err := tx.Where("user_id = ?", id).Delete(&models.RecoveryCode{}).Error; err != nil {
		return err
	}
	return tx.Model(&models.User{}).Where("id = ?", id).Updates(map[string]any{
		"totp_secret": "", "totp_pending": "", "totp_enabled_at": nil, "updated_at": now}).Error
}

// matchStep returns the 30-second step, within the skew around now, whose
// code is code.
func matchStep(secret, code string, now time.Time) (int64, bool) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != 6 {
		return 0, false
	}
	if _, err := strconv.Atoi(code); err != nil {
		return 0, false
	}
	current := now.Unix() / totpPeriod
	for step := current - totpSkew; step <= current+totpSkew; step++ {
		want, err := hotp.GenerateCodeCustom(secret, uint64(step), hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step, true
		}
	}
	return 0, false
}

// Recovery codes carry 120 random bits: with at least 112, ASVS 6.5.2
// allows a plain SHA-256 instead of a slow password hash, so checking one
// is a single indexed lookup.
const recoveryCodeLen = 24

var recoveryEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func newRecoveryCodes() (codes, hashes []string, err error) {
	for range RecoveryCodeCount {
		b := make([]byte, 15)
		if _, err := rand.Read(b); err != nil {
			return nil, nil, err
		}
		raw := recoveryEncoding.EncodeToString(b)
		var groups []string
		for i := 0; i < len(raw); i += 4 {
			groups = append(groups, raw[i:i+4])
		}
		codes = append(codes, strings.Join(groups, "-"))
		hashes = append(hashes, hashRecoveryCode(raw))
	}
	return codes, hashes, nil
}

func hashRecoveryCode(normalized string) string {
	sum := sha256.Sum256([]byte(normalized))
	return hex.EncodeToString(sum[:])
}

func replaceRecoveryCodes(tx *gorm.DB, id uint, hashes []string, now time.Time) error {
	if err := tx.Where("user_id = ?", id).Delete(&models.RecoveryCode{}).Error; err != nil {
		return err
	}
	rows := make([]models.RecoveryCode, len(hashes))
	for i, h := range hashes {
		rows[i] = models.RecoveryCode{UserID: id, CodeHash: h, CreatedAt: now}
	}
	return tx.Create(&rows).Error
}

// seal encrypts a TOTP secret for user id's row; the id is authenticated
// data, so a sealed secret copied into another user's row does not open.
func (s *Service) seal(id uint, secret string) (string, error) {
	gcm, err := s.aead()
	if err != nil {
		return "", err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := gcm.Seal(nonce, nonce, []byte(secret), []byte(strconv.FormatUint(uint64(id), 10)))
	return "v1:" + base64.RawStdEncoding.EncodeToString(out), nil
}

func (s *Service) unseal(id uint, sealed string) (string, error) {
	gcm, err := s.aead()
	if err != nil {
		return "", err
	}
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(sealed, "v1:"))
	if err != nil || !strings.HasPrefix(sealed, "v1:") || len(raw) < gcm.NonceSize() {
		return "", errors.New("accounts: sealed totp secret is malformed")
	}
	plain, err := gcm.Open(nil, raw[:gcm.NonceSize()], raw[gcm.NonceSize():], []byte(strconv.FormatUint(uint64(id), 10)))
	if err != nil {
		return "", fmt.Errorf("accounts: open totp secret (was the key changed?): %w", err)
	}
	return string(plain), nil
}

func (s *Service) aead() (cipher.AEAD, error) {
	if len(s.sealKey) == 0 {
		return nil, errors.New("accounts: no key for second-factor secrets")
	}
	key := sha256.Sum256(append([]byte("portal totp secrets\x00"), s.sealKey...))
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Reauthenticate checks that the signed-in actor is still the person at
// the keyboard before a sensitive step: answer is their password or, with a
// second factor, a current code or a recovery code. Failures count towards
// the sign-in throttle.
func (s *Service) Reauthenticate(ctx context.Context, actor services.Actor, answer string) error {
	u, err := s.Get(ctx, actor.ID)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	if err := s.throttleCheck(ctx, u.Email, actor.IP, now); err != nil {
		return err
	}
	if answer == "" {
		return services.FieldErrors{"secret": "Enter your password or a code from your app."}
	}
	how := ""
	if ok, _ := passwords.Verify(answer, u.PasswordHash); ok {
		how = "password"
	} else if u.HasSecondFactor() {
		err := services.WithTx(ctx, s.db, func(tx *gorm.DB) error {
			var err error
			how, err = s.acceptCode(tx, u, answer, now)
			return err
		})
		if err != nil {
			return fmt.Errorf("accounts: reauthenticate: %w", err)
		}
	}
	if how == "" {
		if err := s.recordFailure(ctx, u, actor.IP, now, "wrong password or code confirming identity"); err != nil {
			return err
		}
		return services.FieldErrors{"secret": "That is not your password or a current code."}
	}
	return services.WithTx(ctx, s.db, func(tx *gorm.DB) error {
		return services.Audit(tx, now, actor, "login.reauthenticated", u.Email, how)
	})
}
