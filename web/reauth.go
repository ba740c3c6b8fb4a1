package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gin-gonic/gin/binding"

	"portal/services"
	"portal/services/accounts"
	"portal/templates"
)

// reauthAfter is how old the last proof of identity may be for the steps
// that reveal or change what matters most (Access.Reauth).
const reauthAfter = 15 * time.Minute

type reauthForm struct {
	Secret string `form:"secret"`
	Next   string `form:"next"`
}

// recentlyProved reports whether the signed-in person proved who they are
// less than reauthAfter ago.
func (s *Server) recentlyProved(c *gin.Context) bool {
	sess, err := s.deps.Sessions.Get(c.Request, s.cookie)
	if err != nil {
		s.logFailure(c, "load session", err)
		return false
	}
	return s.deps.Sessions.ProvedWithin(sess, reauthAfter)
}

// askReauth sends the person to confirm who they are, and back afterwards:
// to the page asked for, or for a form post to the page the form was on
// (the post itself is not replayed; they do the step again).
func (s *Server) askReauth(c *gin.Context) {
	back := c.Request.URL.RequestURI()
	if c.Request.Method != http.MethodGet {
		back = "/"
		// Behind a proxy that rewrites Host, the Referer carries the public
		// host: either is ours.
		if ref, err := url.Parse(c.Request.Referer()); err == nil && (ref.Host == c.Request.Host || ref.Host == s.deps.BaseURL.Host) {
			back = localPath(ref.RequestURI())
		}
	}
	s.redirect(c, "/reauth?next="+url.QueryEscape(back))
}

func (s *Server) reauthPage(c *gin.Context) {
	user, _ := s.currentUser(c)
	s.render(c, http.StatusOK, templates.ReauthPage(s.page(c, "Confirm it's you"),
		templates.ReauthForm{Next: localPath(c.Query("next")), TwoFactor: user.HasSecondFactor()}))
}

func (s *Server) reauth(c *gin.Context) {
	var f reauthForm
	if err := c.ShouldBindWith(&f, binding.Form); err != nil || len(f.Secret) > 1024 {
		s.badRequest(c, "The form could not be read. Reload the page and try again.")
		return
	}
	user, _ := s.currentUser(c)
	view := templates.ReauthForm{Next: localPath(f.Next), TwoFactor: user.HasSecondFactor()}
	err := s.deps.Accounts.Reauthenticate(c.Request.Context(), s.actor(c), f.Secret)
	var throttled *accounts.ThrottledError
	if errors.As(err, &throttled) {
		view.Errors = templates.FieldErrors{"secret": fmt.Sprintf("Too many wrong tries. Wait %d minute(s) and try again.",
			retryAfter(c, throttled))}
		s.render(c, http.StatusTooManyRequests, templates.ReauthPage(s.page(c, "Confirm it's you"), view))
		return
	}
	if fe, ok := services.AsFieldErrors(err); ok {
		view.Errors = fieldErrors(fe)
		s.render(c, http.StatusUnprocessableEntity, templates.ReauthPage(s.page(c, "Confirm it's you"), view))
		return
	}
	if err != nil {
		s.serverError(c, err)
		return
	}
	sess, err := s.deps.Sessions.Get(c.Request, s.cookie)
	if err != nil {
		s.serverError(c, err)
		return
	}
	if err := s.deps.Sessions.Prove(c.Request, c.Writer, sess); err != nil {
		s.serverError(c, err)
		return
	}
	s.redirect(c, view.Next)
}
