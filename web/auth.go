package web

import (
	"errors"
	"fmt"
	"math"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/gin-gonic/gin/binding"

	"portal/services/accounts"
	"portal/templates"
)

type loginForm struct {
	Email    string `form:"email"`
	Password string `form:"password"`
	Next     string `form:"next"`
}

func (s *Server) loginPage(c *gin.Context) {
	if _, ok := s.currentUser(c); ok {
		s.redirect(c, localPath(c.Query("next")))
		return
	}
	c.Header("Cache-Control", "no-store")
	s.render(c, http.StatusOK, templates.LoginPage(s.page(c, "Sign in"), templates.LoginForm{Next: localPath(c.Query("next"))}))
}

func (s *Server) login(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	var f loginForm
	if err := c.ShouldBindWith(&f, binding.Form); err != nil {
		s.badRequest(c, "The sign-in form could not be read. Reload the page and try again.")
		return
	}
	view := templates.LoginForm{Email: f.Email, Next: localPath(f.Next)}
	if len(f.Email) > 254 || len(f.Password) > 1024 {
		view.Email = ""
		view.Error = "That email or password is too long."
		s.render(c, http.StatusUnprocessableEntity, templates.LoginPage(s.page(c, "Sign in"), view))
		return
	}
	if f.Email == "" || f.Password == "" {
		view.Error = "Enter your email and password."
		s.render(c, http.StatusUnprocessableEntity, templates.LoginPage(s.page(c, "Sign in"), view))
		return
	}
	user, err := s.deps.Accounts.Authenticate(c.Request.Context(), f.Email, f.Password, c.ClientIP())
	var throttled *accounts.ThrottledError
	switch {
	case errors.As(err, &throttled):
		view.Error = fmt.Sprintf("Too many failed sign-ins. Wait %d minute(s) and try again, or ask an admin to reset your password.", retryAfter(c, throttled))
		s.render(c, http.StatusTooManyRequests, templates.LoginPage(s.page(c, "Sign in"), view))
		return
	case errors.Is(err, accounts.ErrInvalidCredentials):
		view.Error = "That email and password don't match an active account."
		s.render(c, http.StatusUnauthorized, templates.LoginPage(s.page(c, "Sign in"), view))
		return
	case err != nil:
		s.serverError(c, err)
		return
	}
	if user.SignInNeedsSecondStep() {
		s.startSecondFactor(c, user, view.Next)
		return
	}
	s.finishSignIn(c, user.ID, view.Next)
}

func (s *Server) logout(c *gin.Context) {
	actor := s.actor(c)
	sess, err := s.deps.Sessions.Get(c.Request, s.cookie)
	if err != nil {
		s.serverError(c, err)
		return
	}
	if err := s.deps.Sessions.End(c.Request, c.Writer, sess); err != nil {
		s.serverError(c, err)
		return
	}
	if err := s.deps.Accounts.RecordLogout(c.Request.Context(), actor); err != nil {
		s.serverError(c, err)
		return
	}
	s.redirect(c, "/login")
}

// retryAfter answers a throttled sign-in step with Retry-After and returns
// the wait in whole minutes, for the message next to the form.
func retryAfter(c *gin.Context, throttled *accounts.ThrottledError) int {
	c.Header("Retry-After", fmt.Sprint(int(math.Ceil(throttled.RetryAfter.Seconds()))))
	return int(math.Ceil(throttled.RetryAfter.Minutes()))
}
