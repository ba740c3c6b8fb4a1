package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"

	"github.com/a-h/templ"
	"github.com/gin-gonic/gin"

	"portal/templates"
)

// statusVersion names what a status fragment shows: a hash of its HTML,
// rendered without a version of its own (the version is written into the
// fragment, so it cannot be part of what it hashes).
func statusVersion(ctx context.Context, frag templ.Component) (string, error) {
	h := sha256.New()
	if err := frag.Render(templates.WithStatusVersion(ctx, ""), h); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)[:12]), nil
}

// withStatusVersion readies a page that embeds frag: the fragment it
// renders reports frag's version when it polls, so the first poll after an
// unchanged load is a 204 too.
func (s *Server) withStatusVersion(c *gin.Context, frag templ.Component) bool {
	v, err := statusVersion(c.Request.Context(), frag)
	if err != nil {
		s.serverError(c, err)
		return false
	}
	c.Request = c.Request.WithContext(templates.WithStatusVersion(c.Request.Context(), v))
	return true
}

// renderStatus answers a status poll. Unchanged since the version the poll
// says it shows, the answer is 204 No Content, which htmx does not swap:
// the page's live region then speaks only when something changed, instead
// of re-reading the same status every two seconds.
func (s *Server) renderStatus(c *gin.Context, frag templ.Component) {
	v, err := statusVersion(c.Request.Context(), frag)
	if err != nil {
		s.serverError(c, err)
		return
	}
	if c.GetHeader(templates.StatusSeenHeader) == v {
		c.Status(http.StatusNoContent)
		return
	}
	c.Request = c.Request.WithContext(templates.WithStatusVersion(c.Request.Context(), v))
	s.render(c, http.StatusOK, frag)
}
