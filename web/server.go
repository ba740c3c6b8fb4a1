// Package web is the HTTP surface: the Gin router, middleware and one handler
// file per area. Handlers are thin: parse and validate the form, call one
// service method, render a page or fragment. No SQL and no upstream HTTP here.
package web

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"

	"portal/models"
	"portal/services/accounts"
	"portal/services/auditlog"
	"portal/services/bulk"
	"portal/services/casework"
	"portal/services/customers"
	"portal/services/dashboard"
	"portal/services/documents"
	"portal/services/recharges"
	"portal/services/sandbox"
	"portal/services/sessionstore"
	"portal/services/verifications"
)

// Deps is everything the web layer needs from the rest of the program.
type Deps struct {
	Logger         *slog.Logger
	BaseURL        *url.URL
	TrustedProxies []string
	Accounts       *accounts.Service
	Audit          *auditlog.Reader
	Sessions       *sessionstore.Store
	Recharges      *recharges.Service
	Documents      *documents.Service
	Verifications  *verifications.Service
	Casework       *casework.Service
	Bulk           *bulk.Service
	Customers      *customers.Service
	Dashboard      *dashboard.Service
	Ready          func(ctx context.Context) error
	// Sandbox is nil outside sandbox mode.
	Sandbox *sandbox.Harness
}

// Server is the portal's HTTP handler.
type Server struct {
	deps   Deps
	engine *gin.Engine
	cop    *http.CrossOriginProtection
	policy map[string]Access
	cookie string
	secure bool
	// streamsDone ends long-lived responses (SSE) at shutdown, which would
	// otherwise keep the server from ever becoming idle.
	streamsDone chan struct{}
	closeOnce   sync.Once
}

// CloseStreams ends every open event stream; register it with
// http.Server.RegisterOnShutdown.
func (s *Server) CloseStreams() { s.closeOnce.Do(func() { close(s.streamsDone) }) }

// New builds the router.
func New(deps Deps) (*Server, error) {
	gin.SetMode(gin.ReleaseMode)
	s := &Server{
		deps:   deps,
		engine: gin.New(),
		cop:    http.NewCrossOriginProtection(),
		policy: map[string]Access{},

		streamsDone: make(chan struct{}),
		secure:      deps.BaseURL.Scheme == "https",
	}
	s.cookie = sessionstore.CookieName(s.secure)
	// Without trusted proxies Gin takes the client IP from the connection, so
	// nobody can choose the IP that throttling and the audit log see by
	// sending X-Forwarded-For.
	if err := s.engine.SetTrustedProxies(deps.TrustedProxies); err != nil {
		return nil, fmt.Errorf("web: trusted proxies: %w", err)
	}
	s.engine.TrustedPlatform = ""
	s.engine.RedirectTrailingSlash = false
	s.engine.RedirectFixedPath = false
	s.engine.HandleMethodNotAllowed = false
	// Behind a proxy that rewrites Host, the browser's Origin is the public
	// URL: trust exactly that origin.
	if err := s.cop.AddTrustedOrigin(deps.BaseURL.Scheme + "://" + deps.BaseURL.Host); err != nil {
		return nil, fmt.Errorf("web: trusted origin: %w", err)
	}
	s.engine.Use(s.requestID, s.recover, s.logRequests, s.securityHeaders, s.crossOrigin)
	s.routes()
	s.engine.NoRoute(s.notFound)
	return s, nil
}

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

// Policy returns the access rule of every registered route, keyed by
// "METHOD /path", for the tests that check nothing is left undeclared.
func (s *Server) Policy() map[string]Access {
	out := make(map[string]Access, len(s.policy))
	for k, v := range s.policy {
		out[k] = v
	}
	return out
}

// Routes lists the routes Gin actually has, as "METHOD /path".
func (s *Server) Routes() []string {
	var out []string
	for _, r := range s.engine.Routes() {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

// Access says who may use a route.
type Access struct {
	// Public routes need no session (login, health, static, simulators).
	Public bool
	// Roles that may use a non-public route; empty denies everyone.
	Roles []models.Role
	// SelfAuthenticating routes (simulator APIs, webhooks) are not browser
	// requests: they skip the cross-origin check and authenticate themselves.
	SelfAuthenticating bool
	// SecondFactor routes are the pages between password and code: only a
	// half-signed-in session may use them, and it may use nothing else.
	SecondFactor bool
	// Reauth routes reveal or change what matters most (a NIN, a portrait,
	// a role, a recharge closed as not sent): they ask for the password or
	// a code again when the last proof is older than reauthAfter.
	Reauth bool
}

// Allows reports whether role may use the route.
func (a Access) Allows(role models.Role) bool {
	if a.Public {
		return true
	}
	for _, r := range a.Roles {
		if r == role {
			return true
		}
	}
	return false
}

func public() Access { return Access{Public: true} }

func roles(rs ...models.Role) Access { return Access{Roles: rs} }

func secondFactor() Access { return Access{SecondFactor: true} }

// withReauth is a, asking for a fresh proof of identity.
func withReauth(a Access) Access {
	a.Reauth = true
	return a
}

func anyStaff() Access { return roles(models.Roles...) }

// handle registers a route together with its access rule; it is the only way
// routes.go adds routes, so a route can't exist without a rule.
func (s *Server) handle(method, path string, access Access, h gin.HandlerFunc) {
	s.policy[method+" "+path] = access
	if access.SelfAuthenticating {
		s.cop.AddInsecureBypassPattern(method + " " + bypassPattern(path))
	}
	chain := []gin.HandlerFunc{s.authorize(access)}
	if !access.SelfAuthenticating && method != http.MethodGet && method != http.MethodHead {
		chain = append(chain, s.formsOnly)
	}
	s.engine.Handle(method, path, append(chain, h)...)
}

// formsOnly refuses bodies that are not HTML forms: handlers bind forms, and
// a JSON or XML body would otherwise be half-read into the same structs.
func (s *Server) formsOnly(c *gin.Context) {
	ct := c.ContentType()
	if c.Request.ContentLength == 0 || ct == "application/x-www-form-urlencoded" || ct == "multipart/form-data" {
		c.Next()
		return
	}
	s.renderError(c, http.StatusUnsupportedMediaType, "Not a form",
		"The portal accepts HTML form posts here (application/x-www-form-urlencoded or multipart/form-data).")
	c.Abort()
}

// bypassPattern turns a Gin path into a ServeMux pattern for the same URLs:
// a ":name" segment becomes "{name}" and a "*name" tail a trailing slash.
func bypassPattern(path string) string {
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		switch {
		case strings.HasPrefix(seg, "*"):
			return strings.Join(segs[:i], "/") + "/"
		case strings.HasPrefix(seg, ":"):
			segs[i] = "{" + seg[1:] + "}"
		}
	}
	return strings.Join(segs, "/")
}
