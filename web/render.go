package web

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/a-h/templ"
	"github.com/gin-gonic/gin"
	"github.com/gin-gonic/gin/binding"

	"portal/templates"
)

// navItems are the header links in order; each shows only to roles the route
// policy lets open it, so the menu can't drift from the access rules.
var navItems = []templates.NavItem{
	{Label: "Dashboard", Href: "/"},
	{Label: "Customers", Href: "/customers/lookup"},
	{Label: "Recharges", Href: "/recharges"},
	{Label: "Documents", Href: "/documents"},
	{Label: "Verifications", Href: "/verifications"},
	{Label: "Reviews", Href: "/reviews/documents"},
	{Label: "Staff", Href: "/users"},
	{Label: "Audit log", Href: "/audit"},
	{Label: "Sandbox", Href: "/sandbox"},
}

// page builds the layout's view model for the current request, taking the
// pending flash messages out of the session.
func (s *Server) page(c *gin.Context, title string) templates.Page {
	p := templates.Page{Title: title, Sandbox: s.deps.Sandbox != nil}
	user, ok := s.currentUser(c)
	if !ok {
		return p
	}
	// Any page that shows who is signed in (error pages included) must not
	// be kept by a cache.
	c.Header("Cache-Control", "no-store")
	p.Viewer = &templates.Viewer{ID: user.ID, Name: user.Name, Email: user.Email, Role: string(user.Role)}
	path := c.Request.URL.Path
	for _, item := range navItems {
		access, registered := s.policy["GET "+item.Href]
		if !registered || !access.Allows(user.Role) {
			continue
		}
		item.Active = path == item.Href || (item.Href != "/" && strings.HasPrefix(path, item.Href+"/"))
		if item.Label == "Reviews" {
			// One entry for both queues; each queue page links the other.
			item.Active = strings.HasPrefix(path, "/reviews/")
		}
		if item.Href == "/recharges" && path == "/recharges" && c.Query("state") == "unknown" {
			item.Active = false // "Needs attention" is the active item there
		}
		p.Nav = append(p.Nav, item)
	}
	// Recharges whose outcome nobody knows are money in limbo: keep them in
	// sight on every page until someone resolves them.
	if s.deps.Recharges != nil && s.policy["GET /recharges"].Allows(user.Role) {
		if n, err := s.deps.Recharges.CountUnknown(c.Request.Context()); err == nil && n > 0 {
			p.Nav = append(p.Nav, templates.NavItem{Label: "Needs attention", Href: "/recharges?state=unknown", Count: int(n), Alert: true,
				Active: path == "/recharges" && c.Query("state") == "unknown"})
		}
	}
	if sess, err := s.deps.Sessions.Get(c.Request, s.cookie); err == nil {
		if flashes := sess.Flashes(); len(flashes) > 0 {
			for _, f := range flashes {
				kind, msg, _ := strings.Cut(f.(string), "|")
				p.Flashes = append(p.Flashes, templates.Flash{Kind: kind, Message: msg})
			}
			_ = sess.Save(c.Request, c.Writer)
		}
	}
	return p
}

// flash queues a message for the next page the user sees.
func (s *Server) flash(c *gin.Context, kind, msg string) {
	sess, err := s.deps.Sessions.Get(c.Request, s.cookie)
	if err != nil {
		return
	}
	sess.AddFlash(kind + "|" + msg)
	if err := sess.Save(c.Request, c.Writer); err != nil {
		s.logFailure(c, "save flash", err)
	}
}

// render writes a component with the request's context, so a client that goes
// away stops the rendering.
func (s *Server) render(c *gin.Context, status int, comp templ.Component) {
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.Status(status)
	if err := comp.Render(c.Request.Context(), c.Writer); err != nil {
		s.logFailure(c, "render", err)
	}
}

// renderError shows an error page (or, for htmx, a small alert fragment).
func (s *Server) renderError(c *gin.Context, status int, title, message string) {
	if isHTMX(c) {
		s.render(c, status, templates.FormError(message))
		return
	}
	s.render(c, status, templates.ErrorPage(s.page(c, title), status, message))
}

func (s *Server) notFound(c *gin.Context) {
	s.renderError(c, http.StatusNotFound, "Page not found", "There is nothing at this address. Check the link or start again from the dashboard.")
}

// serverError logs the real error and shows the person a plain message with
// the request id, never err.Error().
func (s *Server) serverError(c *gin.Context, err error) {
	if s.logFailure(c, "server error", err) {
		c.Abort() // nobody is there to read the page
		return
	}
	id := RequestID(c.Request.Context())
	s.renderError(c, http.StatusInternalServerError, "Something went wrong",
		"The portal could not finish this request. Nothing was lost; try again, and if it keeps happening give support the reference "+id+".")
}

func (s *Server) badRequest(c *gin.Context, message string) {
	s.renderError(c, http.StatusBadRequest, "Request not understood", message)
}

// formUnreadable is the answer to a form that does not bind: a person who
// used the page never sees it.
const formUnreadable = "The form could not be read. Reload the page and try again."

// bindForm reads the request's form into a T; a form it cannot read is
// answered 400.
func bindForm[T any](s *Server, c *gin.Context) (T, bool) {
	var f T
	if err := c.ShouldBindWith(&f, binding.Form); err != nil {
		s.badRequest(c, formUnreadable)
		return f, false
	}
	return f, true
}

func fieldErrors(m map[string]string) templates.FieldErrors { return templates.FieldErrors(m) }

// prettyJSON indents a stored upstream answer for people to read.
func prettyJSON(raw string) string {
	var v any
	if raw == "" || json.Unmarshal([]byte(raw), &v) != nil {
		return raw
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return raw
	}
	return string(b)
}
