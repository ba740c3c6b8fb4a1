package web

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"portal/models"
	"portal/services"
	"portal/templates"
)

type resolveForm struct {
	UpstreamID string `form:"upstream_id"`
	Note       string `form:"note"`
}

// resolveOutcomes are what settling an unknown create can run into, per
// area.
type resolveOutcomes struct {
	notUnknown error  // someone (or a webhook) resolved it first
	record     string // "recharge", "document"
	provider   string // "1flow", "pasby"
	base       string // "/recharges/"
	// upstream extracts the area's provider error in plain words.
	upstream func(err error) (string, bool)
	// rerender shows the record's page again with the resolve forms.
	rerender func(c *gin.Context, status int, f templates.ResolveForm)
}

// resolveUnknown records what a person learnt from the provider about a
// create whose answer was lost: its upstream id, or that it never arrived.
func (s *Server) resolveUnknown(c *gin.Context, resolve func(id uint, f resolveForm) error, done string, o resolveOutcomes) {
	id, ok := s.idParam(c)
	if !ok {
		return
	}
	f, ok := bindForm[resolveForm](s, c)
	if !ok {
		return
	}
	err := resolve(id, f)
	if msg, ok := o.upstream(err); err != nil && ok {
		o.rerender(c, http.StatusBadGateway, templates.ResolveForm{UpstreamID: f.UpstreamID, Note: f.Note,
			Errors: templates.FieldErrors{"upstream_id": "Could not check this id with " + o.provider + ": " + msg}})
		return
	}
	switch {
	case errors.Is(err, models.ErrNotFound):
		s.notFound(c)
		return
	case errors.Is(err, o.notUnknown):
		s.flash(c, "info", "This "+o.record+" no longer needs attention: someone resolved it already.")
	case err != nil:
		if fe, ok := services.AsFieldErrors(err); ok {
			o.rerender(c, http.StatusUnprocessableEntity, templates.ResolveForm{UpstreamID: f.UpstreamID, Note: f.Note, Errors: fieldErrors(fe)})
			return
		}
		s.serverError(c, err)
		return
	default:
		s.flash(c, "success", done)
	}
	s.redirect(c, o.base+strconv.FormatUint(uint64(id), 10))
}
