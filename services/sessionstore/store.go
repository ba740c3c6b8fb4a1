// Package sessionstore is a gorilla/sessions Store that keeps sessions in our
// database. The cookie holds only a random id, so signing out, disabling a
// user or changing a password really ends a session: there is nothing left in
// the browser that still works.
package sessionstore

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/sessions"
	"gorm.io/gorm"

	"portal/models"
	"portal/services"
)

// touchEvery limits last-seen writes to one a minute per session: idle
// timeouts are minutes long, and a write per click would cost an fsync each.
const touchEvery = time.Minute

const userIDKey = "uid"

type metaKey struct{}

type meta struct {
	createdAt, lastSeenAt time.Time
}

// Options configure the store.
type Options struct {
	CookieName      string
	Secure          bool
	IdleTimeout     time.Duration
	AbsoluteTimeout time.Duration
	// Key keys the hash under which session ids are stored: a copy of the
	// database alone can't be turned into working cookies, and changing the
	// key signs everybody out.
	Key []byte
}

// Store implements sessions.Store over the sessions table.
type Store struct {
	db   *gorm.DB
	now  services.Clock
	opts Options
}

var _ sessions.Store = (*Store)(nil)

// New returns a store.
func New(db *gorm.DB, now services.Clock, opts Options) *Store {
	return &Store{db: db, now: now, opts: opts}
}

// CookieName is the name the session cookie uses: "__Host-" when served over
// https, so the browser refuses it unless it is Secure, host-only and Path=/.
func CookieName(secure bool) string {
	if secure {
		return "__Host-portal_session"
	}
	return "portal_session"
}

func (s *Store) cookieOptions() *sessions.Options {
	// Set every flag explicitly: gorilla's defaults (SameSite unset, no
	// HttpOnly, 30 days) are wrong for a staff session. MaxAge 0 makes it a
	// browser-session cookie; the server enforces the real timeouts.
	return &sessions.Options{Path: "/", HttpOnly: true, Secure: s.opts.Secure, SameSite: http.SameSiteLaxMode, MaxAge: 0}
}

// Get returns the request's session, cached per request by gorilla's registry.
func (s *Store) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, name)
}

// New loads the session named by the request's cookie, or returns a new empty
// one when there is no cookie, it is unknown, or it has timed out.
func (s *Store) New(r *http.Request, name string) (*sessions.Session, error) {
	sess := sessions.NewSession(s, name)
	sess.Options = s.cookieOptions()
	sess.IsNew = true
	c, err := r.Cookie(name)
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return sess, nil
	}
	ctx := r.Context()
	var row models.Session
	err = s.db.WithContext(ctx).Where("id_hash = ?", s.hashID(c.Value)).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return sess, nil
	}
	if err != nil {
		return sess, fmt.Errorf("sessionstore: load: %w", err)
	}
	now := s.now().UTC()
	if s.expired(row, now) {
		if err := s.db.WithContext(ctx).Where("id_hash = ?", row.IDHash).Delete(&models.Session{}).Error; err != nil {
			return sess, fmt.Errorf("sessionstore: delete expired: %w", err)
		}
		return sess, nil
	}
	values := map[string]any{}
	if err := json.Unmarshal([]byte(row.Data), &values); err != nil {
		return sess, fmt.Errorf("sessionstore: decode: %w", err)
	}
	for k, v := range values {
		sess.Values[k] = v
	}
	if row.UserID != nil {
		sess.Values[userIDKey] = *row.UserID
	}
	if now.Sub(row.LastSeenAt) >= touchEvery {
		if err := s.db.WithContext(ctx).Model(&models.Session{}).Where("id_hash = ?", row.IDHash).
			Update("last_seen_at", now).Error; err != nil {
			return sess, fmt.Errorf("sessionstore: touch: %w", err)
		}
		row.LastSeenAt = now
	}
	sess.Values[metaKey{}] = meta{createdAt: row.CreatedAt, lastSeenAt: row.LastSeenAt}
	sess.ID = c.Value
	sess.IsNew = false
	return sess, nil
}

func (s *Store) expired(row models.Session, now time.Time) bool {
	return now.Sub(row.LastSeenAt) >= s.opts.IdleTimeout || now.Sub(row.CreatedAt) >= s.opts.AbsoluteTimeout
}

// Save writes the session and sets its cookie; MaxAge < 0 deletes both.
func (s *Store) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	ctx := r.Context()
	if sess.Options != nil && sess.Options.MaxAge < 0 {
		if sess.ID != "" {
			if err := s.db.WithContext(ctx).Where("id_hash = ?", s.hashID(sess.ID)).Delete(&models.Session{}).Error; err != nil {
				return fmt.Errorf("sessionstore: delete: %w", err)
			}
		}
		opts := *s.cookieOptions()
		opts.MaxAge = -1
		http.SetCookie(w, sessions.NewCookie(sess.Name(), "", &opts))
		sess.ID = ""
		return nil
	}
	data, userID, err := encode(sess.Values)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	if sess.ID == "" {
		id, err := newID()
		if err != nil {
			return err
		}
		row := models.Session{IDHash: s.hashID(id), UserID: userID, Data: data, CreatedAt: now, LastSeenAt: now}
		if err := s.db.WithContext(ctx).Create(&row).Error; err != nil {
			return fmt.Errorf("sessionstore: create: %w", err)
		}
		sess.ID = id
		sess.Values[metaKey{}] = meta{createdAt: now, lastSeenAt: now}
	} else {
		res := s.db.WithContext(ctx).Model(&models.Session{}).Where("id_hash = ?", s.hashID(sess.ID)).
			Updates(map[string]any{"data": data, "user_id": userID, "last_seen_at": now})
		if res.Error != nil {
			return fmt.Errorf("sessionstore: update: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			// Ended meanwhile (signed out in another tab, user disabled):
			// don't resurrect it.
			return nil
		}
	}
	http.SetCookie(w, sessions.NewCookie(sess.Name(), sess.ID, s.cookieOptions()))
	return nil
}

// Renew replaces the session's id with a fresh one, keeping nothing from the
// old session, and binds it to userID. Called at sign-in so that a cookie
// planted or seen before sign-in is worthless after it.
// A full sign-in is a proof of identity too, so it sets the proof time.
func (s *Store) Renew(r *http.Request, w http.ResponseWriter, sess *sessions.Session, userID uint) error {
	return s.renew(r, w, sess, map[string]any{userIDKey: userID, proofKey: strconv.FormatInt(s.now().Unix(), 10)})
}

// proofKey holds when the person last proved who they are (signed in, or
// gave their password or a code again).
const proofKey = "proof_at"

// Prove records that the session's person just proved who they are again.
func (s *Store) Prove(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	sess.Values[proofKey] = strconv.FormatInt(s.now().Unix(), 10)
	return s.Save(r, w, sess)
}

// ProvedWithin reports whether the session's person proved who they are
// less than d ago.
func (s *Store) ProvedWithin(sess *sessions.Session, d time.Duration) bool {
	raw, _ := sess.Values[proofKey].(string)
	at, err := strconv.ParseInt(raw, 10, 64)
	return err == nil && s.now().Sub(time.Unix(at, 0)) < d
}

func (s *Store) renew(r *http.Request, w http.ResponseWriter, sess *sessions.Session, values map[string]any) error {
	if sess.ID != "" {
		if err := s.db.WithContext(r.Context()).Where("id_hash = ?", s.hashID(sess.ID)).Delete(&models.Session{}).Error; err != nil {
			return fmt.Errorf("sessionstore: renew: %w", err)
		}
	}
	for k := range sess.Values {
		delete(sess.Values, k)
	}
	sess.ID = ""
	sess.IsNew = true
	sess.Options = s.cookieOptions()
	for k, v := range values {
		sess.Values[k] = v
	}
	return s.Save(r, w, sess)
}

// End deletes the session and expires its cookie.
func (s *Store) End(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	sess.Options = s.cookieOptions()
	sess.Options.MaxAge = -1
	return s.Save(r, w, sess)
}

// PendingSignIn is a person who proved their password but not yet their
// second factor. The session holds no user id meanwhile, so every route
// but the second-factor pages treats it as signed out.
type PendingSignIn struct {
	UserID uint
	Until  time.Time // the code must come before this
	Next   string    // where to go once signed in
}

const (
	pendingUserKey  = "pending_uid"
	pendingUntilKey = "pending_until"
	pendingNextKey  = "pending_next"
)

// RenewPending replaces the session with a fresh one that holds only a
// sign-in of userID waiting, for at most window, for its second factor.
func (s *Store) RenewPending(r *http.Request, w http.ResponseWriter, sess *sessions.Session, userID uint, next string, window time.Duration) error {
	return s.renew(r, w, sess, map[string]any{
		pendingUserKey:  strconv.FormatUint(uint64(userID), 10),
		pendingUntilKey: strconv.FormatInt(s.now().Add(window).Unix(), 10),
		pendingNextKey:  next,
	})
}

// Pending returns the session's half-finished sign-in, if it has one that
// has not run out.
func (s *Store) Pending(sess *sessions.Session) (PendingSignIn, bool) {
	if _, signedIn := UserID(sess); signedIn {
		return PendingSignIn{}, false
	}
	rawID, _ := sess.Values[pendingUserKey].(string)
	rawUntil, _ := sess.Values[pendingUntilKey].(string)
	next, _ := sess.Values[pendingNextKey].(string)
	id, err1 := strconv.ParseUint(rawID, 10, 32)
	until, err2 := strconv.ParseInt(rawUntil, 10, 64)
	if err1 != nil || err2 != nil || id == 0 {
		return PendingSignIn{}, false
	}
	p := PendingSignIn{UserID: uint(id), Until: time.Unix(until, 0).UTC(), Next: next}
	if !s.now().Before(p.Until) {
		return PendingSignIn{}, false
	}
	return p, true
}

// UserID returns the signed-in user's id, if the session has one.
func UserID(sess *sessions.Session) (uint, bool) {
	id, ok := sess.Values[userIDKey].(uint)
	return id, ok && id != 0
}

// Purge deletes timed-out sessions; the portal runs it periodically so the
// table does not grow with abandoned sessions.
func (s *Store) Purge(ctx context.Context) (int64, error) {
	now := s.now().UTC()
	res := s.db.WithContext(ctx).Where("last_seen_at <= ? OR created_at <= ?",
		now.Add(-s.opts.IdleTimeout), now.Add(-s.opts.AbsoluteTimeout)).Delete(&models.Session{})
	if res.Error != nil {
		return 0, fmt.Errorf("sessionstore: purge: %w", res.Error)
	}
	return res.RowsAffected, nil
}

func encode(values map[any]any) (string, *uint, error) {
	out := map[string]any{}
	var userID *uint
	for k, v := range values {
		switch k := k.(type) {
		case metaKey:
		case string:
			if k == userIDKey {
				if id, ok := v.(uint); ok && id != 0 {
					userID = &id
				}
				continue
			}
			out[k] = v
		default:
			return "", nil, fmt.Errorf("sessionstore: key %v is not a string", k)
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "", nil, fmt.Errorf("sessionstore: encode: %w", err)
	}
	return string(b), userID, nil
}

func newID() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("sessionstore: id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func (s *Store) hashID(id string) string {
	mac := hmac.New(sha256.New, s.opts.Key)
	mac.Write([]byte(id))
	return hex.EncodeToString(mac.Sum(nil))
}
