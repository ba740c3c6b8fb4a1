package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"portal/templates"
)

func (s *Server) dashboard(c *gin.Context) {
	s.render(c, http.StatusOK, templates.DashboardPage(s.page(c, "Dashboard")))
}
