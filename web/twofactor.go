package web

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gin-gonic/gin/binding"

	"portal/models"
	"portal/services"
	"portal/services/accounts"
	"portal/services/sessionstore"
	"portal/templates"
)

// secondFactorWindow is how long a half-signed-in session waits for its
// code: long enough to find a phone, short enough that an abandoned
// password step does not linger.
const secondFactorWindow = 10 * time.Minute

type codeForm struct {
	Code string `form:"code"`
}

// bindCode reads a code form; a form it cannot read is answered 400.
func (s *Server) bindCode(c *gin.Context) (codeForm, bool) {
	f, ok := bindForm[codeForm](s, c)
	if ok && len(f.Code) > 64 {
		s.badRequest(c, formUnreadable)
		return f, false
	}
	return f, ok
}

// signInAgain ends a half-finished sign-in that can no longer be finished
// (the user was disabled, deleted or reset meanwhile).
func (s *Server) signInAgain(c *gin.Context) {
	s.flash(c, "error", "Sign in again.")
	s.redirect(c, "/login")
}

type removeTwoFactorForm struct {
	CurrentPassword string `form:"current_password"`
	Code            string `form:"code"`
}

// pendingSignIn is the request's half-finished sign-in, if any.
func (s *Server) pendingSignIn(c *gin.Context) (sessionstore.PendingSignIn, bool) {
	sess, err := s.deps.Sessions.Get(c.Request, s.cookie)
	if err != nil {
		s.logFailure(c, "load session", err)
		return sessionstore.PendingSignIn{}, false
	}
	return s.deps.Sessions.Pending(sess)
}

// startSecondFactor replaces the session with a half-signed-in one after a
// right password, and sends the person to the code page, or to set a second
// factor up when their role requires one they do not have yet.
func (s *Server) startSecondFactor(c *gin.Context, user models.User, next string) {
	sess, err := s.deps.Sessions.Get(c.Request, s.cookie)
	if err != nil {
		s.serverError(c, err)
		return
	}
	if err := s.deps.Sessions.RenewPending(c.Request, c.Writer, sess, user.ID, next, secondFactorWindow); err != nil {
		s.serverError(c, err)
		return
	}
	s.redirect(c, secondStepPath(user))
}

// secondStepPath is the page that completes user's sign-in. It is worked
// out from the user each time rather than kept in the session, so enrolling
// in another tab, or an admin resetting the factor meanwhile, sends the
// person to the right page.
func secondStepPath(user models.User) string {
	if user.HasSecondFactor() {
		return "/login/code"
	}
	return "/login/enrol"
}

// pendingUser is the user of the request's half-finished sign-in; ok is
// false when there is none left to finish (the session was checked by
// authorize, so the user was disabled or deleted meanwhile) and the person
// has been sent back to sign in.
func (s *Server) pendingUser(c *gin.Context) (sessionstore.PendingSignIn, models.User, bool) {
	pending, _ := s.pendingSignIn(c)
	user, err := s.deps.Accounts.Get(c.Request.Context(), pending.UserID)
	if errors.Is(err, models.ErrNotFound) || (err == nil && (user.Disabled || !user.SignInNeedsSecondStep())) {
		s.signInAgain(c)
		return pending, user, false
	}
	if err != nil {
		s.serverError(c, err)
		return pending, user, false
	}
	return pending, user, true
}

func (s *Server) loginCodePage(c *gin.Context) {
	_, user, ok := s.pendingUser(c)
	if !ok {
		return
	}
	if path := secondStepPath(user); path != "/login/code" {
		s.redirect(c, path)
		return
	}
	s.render(c, http.StatusOK, templates.TwoFactorCodePage(s.page(c, "Enter your code"), templates.TwoFactorCodeForm{}))
}

func (s *Server) loginEnrolPage(c *gin.Context) {
	s.renderLoginEnrolPage(c, http.StatusOK, nil)
}

func (s *Server) renderLoginEnrolPage(c *gin.Context, status int, errs templates.FieldErrors) {
	_, user, ok := s.pendingUser(c)
	if !ok {
		return
	}
	if path := secondStepPath(user); path != "/login/enrol" {
		s.redirect(c, path)
		return
	}
	e, err := s.deps.Accounts.BeginEnrolment(c.Request.Context(), user.ID)
	if errors.Is(err, accounts.ErrAlreadyEnrolled) {
		s.redirect(c, "/login/code")
		return
	}
	if err != nil {
		s.serverError(c, err)
		return
	}
	form := templates.TwoFactorEnrolForm{Action: "/login/enrol", Secret: e.Secret, URL: e.URL, Errors: errs, AtSignIn: true, Role: string(user.Role)}
	s.render(c, status, templates.TwoFactorEnrolPage(s.page(c, "Set up two-factor sign-in"), form))
}

func (s *Server) loginEnrol(c *gin.Context) {
	f, ok := s.bindCode(c)
	if !ok {
		return
	}
	pending, _ := s.pendingSignIn(c)
	user, codes, err := s.deps.Accounts.EnrolAtSignIn(c.Request.Context(), pending.UserID, f.Code, c.ClientIP())
	if fe, ok := services.AsFieldErrors(err); ok {
		s.renderLoginEnrolPage(c, http.StatusUnprocessableEntity, fieldErrors(fe))
		return
	}
	switch {
	case errors.Is(err, accounts.ErrAlreadyEnrolled):
		// Set up in another tab meanwhile: that one's codes stand.
		s.redirect(c, "/login/code")
		return
	case errors.Is(err, accounts.ErrInvalidCredentials), errors.Is(err, models.ErrNotFound):
		s.signInAgain(c)
		return
	case err != nil:
		s.serverError(c, err)
		return
	}
	if !s.renewSignedIn(c, user.ID) {
		return
	}
	s.render(c, http.StatusOK, templates.TwoFactorRecoveryCodesPage(s.page(c, "Save your recovery codes"),
		templates.TwoFactorRecoveryCodes{Codes: codes, Next: localPath(pending.Next)}))
}

func (s *Server) loginCode(c *gin.Context) {
	f, ok := s.bindCode(c)
	if !ok {
		return
	}
	pending, _ := s.pendingSignIn(c)
	again := func(status int, msg string) {
		s.render(c, status, templates.TwoFactorCodePage(s.page(c, "Enter your code"), templates.TwoFactorCodeForm{Error: msg}))
	}
	if f.Code == "" {
		again(http.StatusUnprocessableEntity, "Enter the 6-digit code from your app, or a recovery code.")
		return
	}
	user, err := s.deps.Accounts.VerifySecondFactor(c.Request.Context(), pending.UserID, f.Code, c.ClientIP())
	var throttled *accounts.ThrottledError
	switch {
	case errors.As(err, &throttled):
		again(http.StatusTooManyRequests, fmt.Sprintf("Too many wrong codes. Wait %d minute(s) and try again, or ask an admin to reset your second factor.",
			retryAfter(c, throttled)))
		return
	case errors.Is(err, accounts.ErrInvalidCode):
		again(http.StatusUnauthorized, "That code is wrong or was already used. Wait for the next code in your app and try again.")
		return
	case errors.Is(err, accounts.ErrNoSecondFactor):
		// Reset while the code page was open: the page works out whether
		// to set one up now or to sign in again.
		s.redirect(c, "/login/code")
		return
	case errors.Is(err, accounts.ErrInvalidCredentials), errors.Is(err, models.ErrNotFound):
		// Disabled, deleted or reset while the code page was open.
		s.signInAgain(c)
		return
	case err != nil:
		s.serverError(c, err)
		return
	}
	s.finishSignIn(c, user.ID, pending.Next)
}

// finishSignIn gives the browser a fresh, fully signed-in session and sends
// it on to next.
func (s *Server) finishSignIn(c *gin.Context, userID uint, next string) {
	if s.renewSignedIn(c, userID) {
		s.redirect(c, localPath(next))
	}
}

// renewSignedIn replaces the session with a fully signed-in one; false
// means it failed and the error page is written.
func (s *Server) renewSignedIn(c *gin.Context, userID uint) bool {
	sess, err := s.deps.Sessions.Get(c.Request, s.cookie)
	if err != nil {
		s.serverError(c, err)
		return false
	}
	if err := s.deps.Sessions.Renew(c.Request, c.Writer, sess, userID); err != nil {
		s.serverError(c, err)
		return false
	}
	return true
}

func (s *Server) twoFactorPage(c *gin.Context) {
	s.renderTwoFactorPage(c, http.StatusOK, nil)
}

func (s *Server) renderTwoFactorPage(c *gin.Context, status int, errs templates.FieldErrors) {
	user, _ := s.currentUser(c)
	view := templates.TwoFactorAccount{Enabled: user.HasSecondFactor(), Required: user.Role.RequiresSecondFactor(), Errors: errs}
	if user.TOTPEnabledAt != nil {
		view.EnabledAt = *user.TOTPEnabledAt
	}
	if view.Enabled {
		n, err := s.deps.Accounts.RecoveryCodesLeft(c.Request.Context(), user.ID)
		if err != nil {
			s.serverError(c, err)
			return
		}
		view.CodesLeft = n
	}
	s.render(c, status, templates.TwoFactorPage(s.page(c, "Two-factor sign-in"), view))
}

func (s *Server) twoFactorEnrolPage(c *gin.Context) {
	s.renderEnrolPage(c, http.StatusOK, nil)
}

func (s *Server) renderEnrolPage(c *gin.Context, status int, errs templates.FieldErrors) {
	user, _ := s.currentUser(c)
	e, err := s.deps.Accounts.BeginEnrolment(c.Request.Context(), user.ID)
	if errors.Is(err, accounts.ErrAlreadyEnrolled) {
		s.flash(c, "info", "Two-factor sign-in is already on.")
		s.redirect(c, "/account/two-factor")
		return
	}
	if err != nil {
		s.serverError(c, err)
		return
	}
	form := templates.TwoFactorEnrolForm{Action: "/account/two-factor/enrol", Secret: e.Secret, URL: e.URL, Errors: errs}
	s.render(c, status, templates.TwoFactorEnrolPage(s.page(c, "Set up two-factor sign-in"), form))
}

func (s *Server) twoFactorEnrol(c *gin.Context) {
	f, ok := s.bindCode(c)
	if !ok {
		return
	}
	actor := s.actor(c)
	codes, err := s.deps.Accounts.ConfirmEnrolment(c.Request.Context(), actor, actor.ID, f.Code)
	if fe, ok := services.AsFieldErrors(err); ok {
		s.renderEnrolPage(c, http.StatusUnprocessableEntity, fieldErrors(fe))
		return
	}
	if errors.Is(err, accounts.ErrAlreadyEnrolled) {
		s.flash(c, "info", "Two-factor sign-in is already on.")
		s.redirect(c, "/account/two-factor")
		return
	}
	if err != nil {
		s.serverError(c, err)
		return
	}
	s.render(c, http.StatusOK, templates.TwoFactorRecoveryCodesPage(s.page(c, "Save your recovery codes"),
		templates.TwoFactorRecoveryCodes{Codes: codes, Next: "/account/two-factor"}))
}

func (s *Server) twoFactorRemove(c *gin.Context) {
	var f removeTwoFactorForm
	if err := c.ShouldBindWith(&f, binding.Form); err != nil || len(f.Code) > 64 || len(f.CurrentPassword) > 1024 {
		s.badRequest(c, "The form could not be read. Reload the page and try again.")
		return
	}
	err := s.deps.Accounts.RemoveOwnSecondFactor(c.Request.Context(), s.actor(c), f.CurrentPassword, f.Code)
	var throttled *accounts.ThrottledError
	switch {
	case errors.As(err, &throttled):
		s.renderTwoFactorPage(c, http.StatusTooManyRequests, templates.FieldErrors{"code": fmt.Sprintf(
			"Too many wrong tries. Wait %d minute(s) and try again.", retryAfter(c, throttled))})
		return
	case errors.Is(err, accounts.ErrNoSecondFactor):
		s.redirect(c, "/account/two-factor")
		return
	}
	if fe, ok := services.AsFieldErrors(err); ok {
		s.renderTwoFactorPage(c, http.StatusUnprocessableEntity, fieldErrors(fe))
		return
	}
	if err != nil {
		s.serverError(c, err)
		return
	}
	s.flash(c, "success", "Two-factor sign-in is off.")
	s.redirect(c, "/account/two-factor")
}
