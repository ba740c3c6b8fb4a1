package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"portal/services"
	"portal/templates"
)

type passwordForm struct {
	CurrentPassword string `form:"current_password"`
	NewPassword     string `form:"new_password"`
}

func (s *Server) accountPasswordPage(c *gin.Context) {
	s.render(c, http.StatusOK, templates.PasswordPage(s.page(c, "Change your password"), templates.PasswordForm{}))
}

func (s *Server) accountPasswordChange(c *gin.Context) {
	f, ok := bindForm[passwordForm](s, c)
	if !ok {
		return
	}
	actor := s.actor(c)
	err := s.deps.Accounts.ChangeOwnPassword(c.Request.Context(), actor, f.CurrentPassword, f.NewPassword)
	if fe, ok := services.AsFieldErrors(err); ok {
		view := templates.PasswordForm{Errors: fieldErrors(fe)}
		if isHTMX(c) {
			s.render(c, http.StatusUnprocessableEntity, templates.PasswordFormView(view))
			return
		}
		s.render(c, http.StatusUnprocessableEntity, templates.PasswordPage(s.page(c, "Change your password"), view))
		return
	}
	if err != nil {
		s.serverError(c, err)
		return
	}
	// Every session of the user ended with the change; give this browser a
	// fresh one so the person who just proved the password stays signed in.
	sess, err := s.deps.Sessions.Get(c.Request, s.cookie)
	if err != nil {
		s.serverError(c, err)
		return
	}
	if err := s.deps.Sessions.Renew(c.Request, c.Writer, sess, actor.ID); err != nil {
		s.serverError(c, err)
		return
	}
	s.flash(c, "success", "Your password was changed. Other sessions were signed out.")
	s.redirect(c, "/")
}
