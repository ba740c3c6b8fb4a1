package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"portal/models"
	"portal/services"
	"portal/services/sessionstore"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	viewerKey
)

// requestID tags the request for logs; a client-supplied id is not trusted
// (it could be used to forge log lines).
func (s *Server) requestID(c *gin.Context) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	c.Header("X-Request-Id", id)
	c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), requestIDKey, id))
	c.Next()
}

// RequestID returns the request's id for logging.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

func (s *Server) recover(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.deps.Logger.ErrorContext(c.Request.Context(), "panic", "request_id", RequestID(c.Request.Context()),
				"panic", v, "stack", string(debug.Stack()))
			if !c.Writer.Written() {
				s.serverError(c, errors.New("panic"))
			}
			c.Abort()
		}
	}()
	c.Next()
}

// logRequests logs one line per request. Only the path is logged, never the
// query string or body: those can carry phone numbers, NINs or passwords.
func (s *Server) logRequests(c *gin.Context) {
	start := time.Now()
	c.Next()
	status := c.Writer.Status()
	gone, _ := c.Get(clientGoneKey)
	if gone == true && !c.Writer.Written() {
		status = statusClientGone
	}
	attrs := []any{
		"request_id", RequestID(c.Request.Context()),
		"method", c.Request.Method,
		"path", loggablePath(c.Request.URL.Path),
		"status", status,
		"duration_ms", time.Since(start).Milliseconds(),
		"ip", c.ClientIP(),
	}
	if v, ok := c.Get("viewer"); ok {
		attrs = append(attrs, "user_id", v.(models.User).ID)
	}
	if gone == true {
		attrs = append(attrs, "client_gone", true)
	}
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	s.deps.Logger.Log(c.Request.Context(), level, "request", attrs...)
}

// contentSecurityPolicy allows only our own scripts and styles: no inline
// script or style and no eval, so injected markup can't run.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

// securityHeaders are set before the handler runs so that every response,
// errors and static files included, carries them.
func (s *Server) securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
	if s.secure {
		h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
	}
	c.Next()
}

// crossOrigin refuses cross-site state-changing requests with Go's
// http.CrossOriginProtection (Sec-Fetch-Site / Origin), which covers forms,
// htmx and the login form alike without tokens to thread through templates.
func (s *Server) crossOrigin(c *gin.Context) {
	if err := s.cop.Check(c.Request); err != nil {
		s.deps.Logger.WarnContext(c.Request.Context(), "cross-origin request refused",
			"request_id", RequestID(c.Request.Context()), "path", loggablePath(c.Request.URL.Path), "reason", err.Error())
		s.renderError(c, http.StatusForbidden, "Request refused",
			"This request came from another site, so it was refused. Open the portal directly and try again.")
		c.Abort()
		return
	}
	c.Next()
}

// authorize enforces a route's Access: anonymous visitors are sent to sign in,
// signed-in staff without the role get 403.
func (s *Server) authorize(a Access) gin.HandlerFunc {
	return func(c *gin.Context) {
		if a.Public {
			c.Next()
			return
		}
		if a.SecondFactor {
			c.Header("Cache-Control", "no-store")
			if _, ok := s.pendingSignIn(c); !ok {
				s.redirect(c, "/login")
				c.Abort()
				return
			}
			c.Next()
			return
		}
		user, ok := s.currentUser(c)
		if !ok {
			next := c.Request.URL.RequestURI()
			if c.Request.Method != http.MethodGet {
				next = "/"
			}
			s.redirect(c, "/login?next="+url.QueryEscape(next))
			c.Abort()
			return
		}
		// Signed-in pages may hold personal data: keep them out of caches
		// and the back-forward history of shared machines.
		c.Header("Cache-Control", "no-store")
		if !a.Allows(user.Role) {
			s.renderError(c, http.StatusForbidden, "Not for your role",
				"Your role ("+string(user.Role)+") can't open this page. Ask an admin if you need it.")
			c.Abort()
			return
		}
		if a.Reauth && !s.recentlyProved(c) {
			s.askReauth(c)
			c.Abort()
			return
		}
		c.Next()
	}
}

// currentUser resolves the session to an enabled user, ending a session whose
// user was disabled or deleted meanwhile.
func (s *Server) currentUser(c *gin.Context) (models.User, bool) {
	if v, ok := c.Get("viewer"); ok {
		u, _ := v.(models.User)
		return u, u.ID != 0
	}
	sess, err := s.deps.Sessions.Get(c.Request, s.cookie)
	if err != nil {
		s.logFailure(c, "load session", err)
		return models.User{}, false
	}
	id, ok := sessionstore.UserID(sess)
	if !ok {
		return models.User{}, false
	}
	user, err := s.deps.Accounts.Get(c.Request.Context(), id)
	if err != nil || user.Disabled {
		if err != nil && !errors.Is(err, models.ErrNotFound) {
			s.logFailure(c, "load user", err)
			return models.User{}, false
		}
		_ = s.deps.Sessions.End(c.Request, c.Writer, sess)
		return models.User{}, false
	}
	c.Set("viewer", user)
	return user, true
}

// actor is who the services record as acting for this request.
func (s *Server) actor(c *gin.Context) services.Actor {
	u, _ := s.currentUser(c)
	return services.Actor{ID: u.ID, Email: u.Email, Role: u.Role, IP: c.ClientIP()}
}

func isHTMX(c *gin.Context) bool {
	return c.GetHeader("HX-Request") == "true" && c.GetHeader("HX-Boosted") != "true"
}

// redirect sends a 303, or HX-Redirect for htmx so the whole page changes
// rather than a fragment being replaced by a full page.
func (s *Server) redirect(c *gin.Context, to string) {
	if isHTMX(c) {
		c.Header("HX-Redirect", to)
		c.Status(http.StatusNoContent)
		return
	}
	c.Redirect(http.StatusSeeOther, to)
}

// localPath returns next if it is a path on this site, else "/": a login link
// must not become an open redirect.
func localPath(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Path == "/login" {
		return "/"
	}
	return u.RequestURI()
}

// pasbyWebhookPrefix starts the webhook path whose last segment is the
// secret that authenticates pasby.
const (
	pasbyWebhookPrefix           = "/webhooks/pasby/"
	passportReaderCallbackPrefix = "/webhooks/passportreader/"
)

// loggablePath is the request path with the webhook secret redacted.
func loggablePath(path string) string {
	for _, prefix := range []string{pasbyWebhookPrefix, passportReaderCallbackPrefix} {
		if strings.HasPrefix(path, prefix) {
			return prefix + "[redacted]"
		}
	}
	return path
}
