package web

import (
	"io"
	"net/http"

	"github.com/gin-gonic/gin"
)

// streamCSV answers a list's CSV export. The filter is validated first:
// once the first byte has gone out the status can no longer become a 4xx.
// Rows then stream in batches; an error halfway can only be logged (the
// client sees a truncated file).
func (s *Server) streamCSV(c *gin.Context, filename string, validate func() error, export func(w io.Writer) error) {
	if err := validate(); err != nil {
		s.badRequest(c, "The export filter is invalid: "+firstMessage(err))
		return
	}
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", `attachment; filename="`+filename+`"`)
	c.Status(http.StatusOK)
	if err := export(c.Writer); err != nil {
		s.logFailure(c, "csv export", err, "file", filename)
	}
}
