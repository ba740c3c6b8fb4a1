package web

import (
	"errors"
	"io"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"portal/services"
	"portal/services/auditlog"
	"portal/templates"
)

type auditQuery struct {
	Actor  string `form:"actor"`
	Action string `form:"action"`
	From   string `form:"from"`
	To     string `form:"to"`
	Sort   string `form:"sort"`
	Before string `form:"before"`
	After  string `form:"after"`
}

const auditPageSize = 50

func (q auditQuery) filter() auditlog.Filter {
	return auditlog.Filter{Actor: q.Actor, Action: q.Action, From: q.From, To: q.To, Sort: q.Sort}
}

func (q auditQuery) values() url.Values {
	v := url.Values{}
	for k, val := range map[string]string{"actor": q.Actor, "action": q.Action, "from": q.From, "to": q.To, "sort": q.Sort} {
		if val != "" {
			v.Set(k, val)
		}
	}
	return v
}

func (s *Server) auditList(c *gin.Context) {
	var q auditQuery
	if err := c.ShouldBindQuery(&q); err != nil {
		s.badRequest(c, "The filter could not be read. Clear the filters and try again.")
		return
	}
	view := templates.AuditFilter{Actor: q.Actor, Action: q.Action, From: q.From, To: q.To, Sort: q.Sort, Actions: auditlog.Actions,
		Headers: auditSortHeaders(q)}
	export := url.URL{Path: "/audit/export", RawQuery: q.values().Encode()}
	view.ExportHref = export.String()
	page, err := s.deps.Audit.List(c.Request.Context(), q.filter(), q.Before, q.After, auditPageSize)
	if fe, ok := services.AsFieldErrors(err); ok {
		view.Errors = fieldErrors(fe)
		s.render(c, http.StatusUnprocessableEntity, templates.AuditPage(s.page(c, "Audit log"), view, nil, templates.Pager{}))
		return
	}
	if errors.Is(err, auditlog.ErrBadCursor) {
		s.badRequest(c, "That page link is broken. Start again from the first page.")
		return
	}
	if err != nil {
		s.serverError(c, err)
		return
	}
	rows := make([]templates.AuditEventView, 0, len(page.Events))
	for _, e := range page.Events {
		rows = append(rows, templates.AuditEventView{ID: e.ID, At: e.At, Actor: e.ActorEmail, Action: e.Action, Subject: e.Subject, IP: e.IP, Details: e.Details})
	}
	pager := cursorPager("/audit", q.values(), page.Following, page.Prev, len(rows))
	pager.Sorted = q.Sort != "" && q.Sort != auditlog.DefaultSort.String()
	s.render(c, http.StatusOK, templates.AuditPage(s.page(c, "Audit log"), view, rows, pager))
}

// auditSortHeaders links the time heading to the log the other way round,
// keeping the filters and starting from the first page.
func auditSortHeaders(q auditQuery) templates.AuditSort {
	return templates.AuditSort{At: columnSortHeader("/audit", q.values(), q.Sort, auditlog.DefaultSort, services.Sort{Key: "at"})}
}

func (s *Server) auditExport(c *gin.Context) {
	var q auditQuery
	if err := c.ShouldBindQuery(&q); err != nil {
		s.badRequest(c, "The filter could not be read. Clear the filters and try again.")
		return
	}
	s.streamCSV(c, "audit-log.csv", func() error { return auditlog.ValidateFilter(q.filter()) },
		func(w io.Writer) error { return s.deps.Audit.ExportCSV(c.Request.Context(), q.filter(), w) })
}
