package web

import (
	"io"
	"net/http"
	"net/url"
	"strconv"

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
	Before string `form:"before"`
	After  string `form:"after"`
}

const auditPageSize = 50

func (q auditQuery) filter() auditlog.Filter {
	return auditlog.Filter{Actor: q.Actor, Action: q.Action, From: q.From, To: q.To}
}

func (q auditQuery) values() url.Values {
	v := url.Values{}
	for k, val := range map[string]string{"actor": q.Actor, "action": q.Action, "from": q.From, "to": q.To} {
		if val != "" {
			v.Set(k, val)
		}
	}
	return v
}

// keysetPager links the neighbouring pages of a list, keeping its filters.
func keysetPager(path string, filters url.Values, older, newer uint, shown int) templates.Pager {
	pager := templates.Pager{Shown: shown}
	link := func(key string, id uint) string {
		v := url.Values{}
		for k, vals := range filters {
			v[k] = vals
		}
		v.Set(key, strconv.FormatUint(uint64(id), 10))
		return path + "?" + v.Encode()
	}
	if older > 0 {
		pager.OlderHref = link("before", older)
	}
	if newer > 0 {
		pager.NewerHref = link("after", newer)
	}
	return pager
}

// cursorPager links the neighbouring pages of a list whose cursors are
// services.Cursor text (any sort order), keeping its filters.
func cursorPager(path string, filters url.Values, following, preceding string, shown int) templates.Pager {
	pager := templates.Pager{Shown: shown}
	link := func(key, cursor string) string {
		v := url.Values{}
		for k, vals := range filters {
			v[k] = vals
		}
		v.Set(key, cursor)
		return path + "?" + v.Encode()
	}
	if following != "" {
		pager.OlderHref = link("before", following)
	}
	if preceding != "" {
		pager.NewerHref = link("after", preceding)
	}
	return pager
}

// pageCursors reads a list's "before"/"after" cursors, answering 400 itself
// when a link was mangled.
func (s *Server) pageCursors(c *gin.Context, beforeRaw, afterRaw string) (before, after uint, ok bool) {
	parse := func(raw string) (uint, bool) {
		if raw == "" {
			return 0, true
		}
		n, err := strconv.ParseUint(raw, 10, 32)
		return uint(n), err == nil
	}
	before, ok1 := parse(beforeRaw)
	after, ok2 := parse(afterRaw)
	if !ok1 || !ok2 {
		s.badRequest(c, "That page link is broken. Start again from the first page.")
		return 0, 0, false
	}
	return before, after, true
}

func (s *Server) auditList(c *gin.Context) {
	var q auditQuery
	if err := c.ShouldBindQuery(&q); err != nil {
		s.badRequest(c, "The filter could not be read. Clear the filters and try again.")
		return
	}
	before, after, ok := s.pageCursors(c, q.Before, q.After)
	if !ok {
		return
	}
	view := templates.AuditFilter{Actor: q.Actor, Action: q.Action, From: q.From, To: q.To, Actions: auditlog.Actions}
	export := url.URL{Path: "/audit/export", RawQuery: q.values().Encode()}
	view.ExportHref = export.String()
	page, err := s.deps.Audit.List(c.Request.Context(), q.filter(), before, after, auditPageSize)
	if fe, ok := services.AsFieldErrors(err); ok {
		view.Errors = fieldErrors(fe)
		s.render(c, http.StatusUnprocessableEntity, templates.AuditPage(s.page(c, "Audit log"), view, nil, templates.Pager{}))
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
	pager := keysetPager("/audit", q.values(), page.Older, page.Newer, len(rows))
	s.render(c, http.StatusOK, templates.AuditPage(s.page(c, "Audit log"), view, rows, pager))
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
