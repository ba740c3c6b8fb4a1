package web

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"portal/models"
	"portal/services"
	"portal/services/accounts"
	"portal/templates"
)

type newUserForm struct {
	Email    string `form:"email"`
	Name     string `form:"name"`
	Role     string `form:"role"`
	Password string `form:"password"`
}

type roleForm struct {
	Role string `form:"role"`
}

type resetPasswordForm struct {
	Password string `form:"password"`
}

func userView(u models.User, viewer models.User) templates.UserView {
	return templates.UserView{ID: u.ID, Email: u.Email, Name: u.Name, Role: string(u.Role), Disabled: u.Disabled, CreatedAt: u.CreatedAt, IsSelf: u.ID == viewer.ID, TwoFactor: u.HasSecondFactor()}
}

func (s *Server) usersList(c *gin.Context) {
	sort := c.Query("sort")
	users, order, err := s.deps.Accounts.ListSorted(c.Request.Context(), sort)
	if fe, ok := services.AsFieldErrors(err); ok {
		s.render(c, http.StatusUnprocessableEntity, templates.UsersPage(s.page(c, "Staff"), templates.UsersList{Error: fe["sort"]}))
		return
	}
	if err != nil {
		s.serverError(c, err)
		return
	}
	viewer, _ := s.currentUser(c)
	view := templates.UsersList{Headers: userSortHeaders(order), Users: make([]templates.UserView, 0, len(users))}
	for _, u := range users {
		view.Users = append(view.Users, userView(u, viewer))
	}
	s.render(c, http.StatusOK, templates.UsersPage(s.page(c, "Staff"), view))
}

// userSortHeaders links each sortable heading of the staff table to the
// table sorted by it: the current column turns the order round, another
// starts with what a person wants first (A before Z, the newest account).
func userSortHeaders(current services.Sort) templates.UserSort {
	header := func(key string, first services.Sort) templates.SortHeader {
		return columnSortHeader("/users", url.Values{}, current.String(), current, first)
	}
	return templates.UserSort{
		Name:    header("name", services.Sort{Key: "name", Asc: true}),
		Email:   header("email", services.Sort{Key: "email", Asc: true}),
		Role:    header("role", services.Sort{Key: "role", Asc: true}),
		Created: header("created", services.Sort{Key: "created"}),
	}
}

func (s *Server) usersNew(c *gin.Context) {
	s.render(c, http.StatusOK, templates.UserNewPage(s.page(c, "New staff member"), templates.UserForm{Role: string(models.RoleOperator)}))
}

func (s *Server) usersCreate(c *gin.Context) {
	f, ok := bindForm[newUserForm](s, c)
	if !ok {
		return
	}
	u, err := s.deps.Accounts.CreateUser(c.Request.Context(), s.actor(c), accounts.NewUser{
		Email: f.Email, Name: f.Name, Role: models.Role(f.Role), Password: f.Password,
	})
	if fe, ok := services.AsFieldErrors(err); ok {
		view := templates.UserForm{Email: f.Email, Name: f.Name, Role: f.Role, Errors: fieldErrors(fe)}
		if isHTMX(c) {
			s.render(c, http.StatusUnprocessableEntity, templates.UserFormView(view))
			return
		}
		s.render(c, http.StatusUnprocessableEntity, templates.UserNewPage(s.page(c, "New staff member"), view))
		return
	}
	if err != nil {
		s.serverError(c, err)
		return
	}
	s.flash(c, "success", "Created "+u.Email+" as "+string(u.Role)+".")
	s.redirect(c, "/users")
}

// userAction runs a change on one user and answers with the updated row for
// htmx, or a redirect with a flash for a plain form.
func (s *Server) userAction(c *gin.Context, change func(id uint) (models.User, error), done string) {
	id, ok := accounts.ParseID(c.Param("id"))
	if !ok {
		s.notFound(c)
		return
	}
	u, err := change(id)
	var forbidden *services.ErrForbidden
	switch {
	case errors.Is(err, models.ErrNotFound):
		s.notFound(c)
		return
	case errors.As(err, &forbidden):
		if isHTMX(c) {
			if current, gerr := s.deps.Accounts.Get(c.Request.Context(), id); gerr == nil {
				viewer, _ := s.currentUser(c)
				s.render(c, http.StatusUnprocessableEntity, templates.UserRow(userView(current, viewer), forbidden.Reason))
				return
			}
		}
		s.flash(c, "error", forbidden.Reason)
		s.redirect(c, "/users")
		return
	case err != nil:
		if fe, ok := services.AsFieldErrors(err); ok {
			for _, msg := range fe {
				s.flash(c, "error", msg)
			}
			s.redirect(c, "/users")
			return
		}
		s.serverError(c, err)
		return
	}
	if isHTMX(c) {
		viewer, _ := s.currentUser(c)
		s.render(c, http.StatusOK, templates.UserRow(userView(u, viewer), ""))
		return
	}
	s.flash(c, "success", done+" "+u.Email+".")
	s.redirect(c, "/users")
}

func (s *Server) usersChangeRole(c *gin.Context) {
	f, ok := bindForm[roleForm](s, c)
	if !ok {
		return
	}
	s.userAction(c, func(id uint) (models.User, error) {
		return s.deps.Accounts.ChangeRole(c.Request.Context(), s.actor(c), id, models.Role(f.Role))
	}, "Changed the role of")
}

func (s *Server) usersDisable(c *gin.Context) {
	s.userAction(c, func(id uint) (models.User, error) {
		return s.deps.Accounts.SetDisabled(c.Request.Context(), s.actor(c), id, true)
	}, "Disabled")
}

func (s *Server) usersEnable(c *gin.Context) {
	s.userAction(c, func(id uint) (models.User, error) {
		return s.deps.Accounts.SetDisabled(c.Request.Context(), s.actor(c), id, false)
	}, "Enabled")
}

func (s *Server) usersResetTwoFactor(c *gin.Context) {
	s.userAction(c, func(id uint) (models.User, error) {
		return s.deps.Accounts.ResetSecondFactor(c.Request.Context(), s.actor(c), id)
	}, "Reset the second factor of")
}

func (s *Server) usersResetPasswordPage(c *gin.Context) {
	id, ok := accounts.ParseID(c.Param("id"))
	if !ok {
		s.notFound(c)
		return
	}
	u, err := s.deps.Accounts.Get(c.Request.Context(), id)
	if errors.Is(err, models.ErrNotFound) {
		s.notFound(c)
		return
	}
	if err != nil {
		s.serverError(c, err)
		return
	}
	viewer, _ := s.currentUser(c)
	s.render(c, http.StatusOK, templates.ResetPasswordPage(s.page(c, "Reset password"), templates.ResetPasswordForm{User: userView(u, viewer)}))
}

func (s *Server) usersResetPassword(c *gin.Context) {
	id, ok := accounts.ParseID(c.Param("id"))
	if !ok {
		s.notFound(c)
		return
	}
	f, ok := bindForm[resetPasswordForm](s, c)
	if !ok {
		return
	}
	u, err := s.deps.Accounts.ResetPassword(c.Request.Context(), s.actor(c), id, f.Password)
	if fe, ok := services.AsFieldErrors(err); ok {
		target, gerr := s.deps.Accounts.Get(c.Request.Context(), id)
		if gerr != nil {
			s.notFound(c)
			return
		}
		viewer, _ := s.currentUser(c)
		view := templates.ResetPasswordForm{User: userView(target, viewer), Errors: fieldErrors(fe)}
		if isHTMX(c) {
			s.render(c, http.StatusUnprocessableEntity, templates.ResetPasswordFormView(view))
			return
		}
		s.render(c, http.StatusUnprocessableEntity, templates.ResetPasswordPage(s.page(c, "Reset password"), view))
		return
	}
	if errors.Is(err, models.ErrNotFound) {
		s.notFound(c)
		return
	}
	if err != nil {
		s.serverError(c, err)
		return
	}
	if u.ID == s.actor(c).ID {
		// Resetting one's own password ended this session too.
		s.redirect(c, "/login")
		return
	}
	s.flash(c, "success", "Set a new password for "+u.Email+"; their sessions have ended.")
	s.redirect(c, "/users")
}
