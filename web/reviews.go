package web

import (
	"errors"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/gin-gonic/gin/binding"

	"portal/models"
	"portal/services"
	"portal/templates"
)

type reviewForm struct {
	Decision string `form:"decision"`
	Note     string `form:"note"`
}

// reviewOutcomes are what a compliance decision can run into, per area.
type reviewOutcomes struct {
	already, notReviewable error
	notReviewableMsg       string // why this record cannot be reviewed yet
	record                 string // "document", "verification"
	base                   string // "/documents/"
	// rerender shows the record's page again with the form's errors.
	rerender func(c *gin.Context, f templates.ReviewForm)
}

// recordReview is the compliance decision on a document or a
// verification: one decision per record, a note required when flagged.
func (s *Server) recordReview(c *gin.Context, decide func(id uint, f reviewForm) error, o reviewOutcomes) {
	id, ok := s.idParam(c)
	if !ok {
		return
	}
	var f reviewForm
	if err := c.ShouldBindWith(&f, binding.Form); err != nil {
		s.badRequest(c, "The form could not be read. Reload the page and try again.")
		return
	}
	err := decide(id, f)
	switch {
	case errors.Is(err, models.ErrNotFound):
		s.notFound(c)
		return
	case errors.Is(err, o.already):
		s.flash(c, "info", "Someone already recorded a decision on this "+o.record+"; it is shown below.")
	case errors.Is(err, o.notReviewable):
		s.flash(c, "error", o.notReviewableMsg)
	case err != nil:
		if fe, ok := services.AsFieldErrors(err); ok {
			o.rerender(c, templates.ReviewForm{Decision: f.Decision, Note: f.Note, Errors: fieldErrors(fe)})
			return
		}
		s.serverError(c, err)
		return
	default:
		s.flash(c, "success", "Decision recorded.")
	}
	s.redirect(c, o.base+strconv.FormatUint(uint64(id), 10))
}
