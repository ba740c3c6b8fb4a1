package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"portal/models"
	"portal/services"
	"portal/services/bulk"
	"portal/services/documents"
	"portal/services/recharges"
	"portal/services/verifications"
	"portal/templates"
)

// A bulkList is a list whose records can be acted on together.
type bulkList struct {
	kind, noun, path string
	// read takes the list's filter from the request (the query, or the
	// fields of the confirmation form).
	read func(s *Server, c *gin.Context) (bulkSource, bool)
}

// A bulkSource is a list's filter as the bulk handlers use it.
type bulkSource struct {
	values   url.Values // as the list's URL writes it, without order and page
	matching func(ctx context.Context, max int) ([]uint, error)
	export   func(ctx context.Context, ids []uint, w io.Writer) error
}

func readBulkSource[Q interface{ values() url.Values }, F any](s *Server, c *gin.Context,
	filter func(Q) F, matching func(ctx context.Context, f F, max int) ([]uint, error), export func(ctx context.Context, ids []uint, w io.Writer) error) (bulkSource, bool) {
	var q Q
	if err := c.ShouldBind(&q); err != nil {
		s.badRequest(c, "The filter could not be read. Clear the filters and try again.")
		return bulkSource{}, false
	}
	f := filter(q)
	return bulkSource{values: listFilters(q.values()),
		matching: func(ctx context.Context, max int) ([]uint, error) { return matching(ctx, f, max) },
		export:   export,
	}, true
}

func (b bulkList) plural() string { return b.noun + "s" }

// bulkLists are the lists with bulk actions. Recharges are refreshed and
// exported only: nothing that moves money is offered in bulk.
var bulkLists = map[string]bulkList{
	"documents": {kind: "documents", noun: "document", path: "/documents",
		read: func(s *Server, c *gin.Context) (bulkSource, bool) {
			return readBulkSource(s, c, documentListQuery.filter, s.deps.Documents.MatchingIDs, func(ctx context.Context, ids []uint, w io.Writer) error {
				return s.deps.Documents.ExportCSV(ctx, documents.Filter{IDs: ids}, w)
			})
		}},
	"verifications": {kind: "verifications", noun: "verification", path: "/verifications",
		read: func(s *Server, c *gin.Context) (bulkSource, bool) {
			return readBulkSource(s, c, verificationListQuery.filter, s.deps.Verifications.MatchingIDs, func(ctx context.Context, ids []uint, w io.Writer) error {
				return s.deps.Verifications.ExportCSV(ctx, verifications.Filter{IDs: ids}, w)
			})
		}},
	"recharges": {kind: "recharges", noun: "recharge", path: "/recharges",
		read: func(s *Server, c *gin.Context) (bulkSource, bool) {
			return readBulkSource(s, c, rechargeListQuery.filter, s.deps.Recharges.MatchingIDs, func(ctx context.Context, ids []uint, w io.Writer) error {
				return s.deps.Recharges.ExportCSV(ctx, recharges.Filter{IDs: ids}, w)
			})
		}},
}

// bulkBar is the action bar of list kind for the viewer; the zero value
// (no bulk actions) when the list is empty.
func (s *Server) bulkBar(c *gin.Context, kind string, filters url.Values, rows int) templates.BulkActions {
	b := bulkLists[kind]
	if rows == 0 || !s.can(c, http.MethodPost, b.path+"/bulk") {
		return templates.BulkActions{}
	}
	filters = listFilters(filters)
	bar := templates.BulkActions{Form: "bulk-" + kind, Action: b.path + "/bulk", Noun: b.noun,
		MatchingHref: (&url.URL{Path: b.path + "/bulk", RawQuery: filters.Encode()}).String()}
	a := s.actor(c)
	if bar.CanAssign = s.deps.Bulk.Offers(a, kind, bulk.Assign); bar.CanAssign {
		bar.Reviewers = s.reviewerOptions(c)
	}
	bar.CanResend = s.deps.Bulk.Offers(a, kind, bulk.Resend)
	return bar
}

// bulkConfirm asks before acting on every record matching the filter.
func (s *Server) bulkConfirm(b bulkList) gin.HandlerFunc {
	return func(c *gin.Context) {
		src, ok := b.read(s, c)
		if !ok {
			return
		}
		ids, err := src.matching(c.Request.Context(), services.MaxSelection)
		if _, bad := services.AsFieldErrors(err); bad {
			s.badRequest(c, "The filter is not valid: "+firstMessage(err)+" Go back to the list and correct it.")
			return
		} else if err != nil {
			s.serverError(c, err)
			return
		}
		view := s.confirmView(c, b, src, true, ids, nil)
		s.render(c, http.StatusOK, templates.BulkConfirmPage(s.page(c, "Act on "+b.plural()), view))
	}
}

func (s *Server) confirmView(c *gin.Context, b bulkList, src bulkSource, matching bool, ids []uint, errs services.FieldErrors) templates.BulkConfirm {
	v := templates.BulkConfirm{Noun: b.noun, Plural: b.plural(), Action: b.path + "/bulk", Matching: matching,
		ListHref: (&url.URL{Path: b.path, RawQuery: src.values.Encode()}).String(),
		Filter:   filterWords(src.values), Count: len(ids), Errors: fieldErrors(errs)}
	if len(ids) > services.MaxSelection {
		v.TooMany, v.Count = true, services.MaxSelection
	}
	for _, k := range slices.Sorted(maps.Keys(src.values)) {
		for _, val := range src.values[k] {
			v.Hidden = append(v.Hidden, templates.HiddenField{Name: k, Value: val})
		}
	}
	if !matching {
		for _, id := range ids {
			v.Hidden = append(v.Hidden, templates.HiddenField{Name: "id", Value: strconv.FormatUint(uint64(id), 10)})
		}
	}
	a := s.actor(c)
	if v.CanAssign = s.deps.Bulk.Offers(a, b.kind, bulk.Assign); v.CanAssign {
		v.Reviewers = s.reviewerOptions(c)
		if errs != nil {
			v.AssigneeID = c.PostForm("assignee_id")
		}
	}
	v.CanResend = s.deps.Bulk.Offers(a, b.kind, bulk.Resend)
	return v
}

// filterWords is a list filter in words: "state in_progress, kind simple".
func filterWords(v url.Values) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(v)) {
		parts = append(parts, k+" "+strings.Join(v[k], ", "))
	}
	if len(parts) == 0 {
		return "no filter (the whole list)"
	}
	return strings.Join(parts, "; ")
}

type bulkForm struct {
	Action     string `form:"action"`
	Scope      string `form:"scope"`
	IDs        []uint `form:"id"`
	AssigneeID string `form:"assignee_id"`
}

// bulkStart runs an action on the records selected on a page, or on every
// one matching the filter: an export is sent at once, anything else
// becomes a background job whose progress page the person is sent to.
func (s *Server) bulkStart(b bulkList) gin.HandlerFunc {
	return func(c *gin.Context) {
		f, ok := bindForm[bulkForm](s, c)
		if !ok {
			return
		}
		src, ok := b.read(s, c)
		if !ok {
			return
		}
		matching := f.Scope == models.BulkMatching
		ids := f.IDs
		if matching {
			var err error
			if ids, err = src.matching(c.Request.Context(), services.MaxSelection); err != nil {
				if _, bad := services.AsFieldErrors(err); bad {
					s.badRequest(c, "The filter is not valid: "+firstMessage(err))
				} else {
					s.serverError(c, err)
				}
				return
			}
		}
		refuse := func(errs services.FieldErrors) {
			s.render(c, http.StatusUnprocessableEntity, templates.BulkConfirmPage(s.page(c, "Act on "+b.plural()), s.confirmView(c, b, src, matching, ids, errs)))
		}
		if f.Action == "export" {
			s.bulkExport(c, b, src, matching, ids, refuse)
			return
		}
		assignee, _ := strconv.ParseUint(f.AssigneeID, 10, 32)
		job, err := s.deps.Bulk.Start(c.Request.Context(), s.actor(c), bulk.Request{Kind: b.kind, Action: f.Action, IDs: ids,
			Matching: matching, Filter: filterWords(src.values), AssigneeID: uint(assignee)})
		var forbidden *services.ErrForbidden
		if fe, bad := services.AsFieldErrors(err); bad {
			refuse(fe)
			return
		} else if errors.As(err, &forbidden) {
			s.renderError(c, http.StatusForbidden, "Not yours to do", forbidden.Reason)
			return
		} else if err != nil {
			s.serverError(c, err)
			return
		}
		s.redirect(c, "/bulk/"+strconv.FormatUint(uint64(job.ID), 10))
	}
}

// bulkExport sends the chosen records as CSV: every one matching is the
// list's own export; a selection is audited record by record first.
func (s *Server) bulkExport(c *gin.Context, b bulkList, src bulkSource, matching bool, ids []uint, refuse func(services.FieldErrors)) {
	if matching {
		s.redirect(c, (&url.URL{Path: b.path + "/export", RawQuery: src.values.Encode()}).String())
		return
	}
	switch {
	case len(ids) == 0:
		refuse(services.FieldErrors{"id": "Select at least one " + b.noun + " to export."})
		return
	case len(ids) > services.MaxSelection:
		refuse(services.FieldErrors{"id": fmt.Sprintf("Select at most %d %s at once.", services.MaxSelection, b.plural())})
		return
	}
	if err := s.deps.Bulk.Exported(c.Request.Context(), s.actor(c), b.kind, ids); err != nil {
		s.serverError(c, err)
		return
	}
	s.streamCSV(c, b.kind+"-selected.csv", func() error { return nil },
		func(w io.Writer) error { return src.export(c.Request.Context(), ids, w) })
}

func (s *Server) bulkShow(c *gin.Context) {
	view, ok := s.bulkView(c)
	if ok {
		s.render(c, http.StatusOK, templates.BulkPage(s.page(c, view.What), view))
	}
}

func (s *Server) bulkStatus(c *gin.Context) {
	view, ok := s.bulkView(c)
	if ok {
		s.render(c, http.StatusOK, templates.BulkStatus(view))
	}
}

func (s *Server) bulkView(c *gin.Context) (templates.BulkView, bool) {
	id, ok := s.idParam(c)
	if !ok {
		return templates.BulkView{}, false
	}
	r, err := s.deps.Bulk.Report(c.Request.Context(), s.actor(c), id)
	if errors.Is(err, bulk.ErrNotFound) {
		s.notFound(c)
		return templates.BulkView{}, false
	} else if err != nil {
		s.serverError(c, err)
		return templates.BulkView{}, false
	}
	b := bulkLists[r.Job.Kind]
	what := "Refresh " + plural(r.Job.Total, b.noun, b.plural())
	switch r.Job.Action {
	case bulk.Assign:
		what = "Assign " + plural(r.Job.Total, b.noun, b.plural()) + " to " + r.Job.AssigneeEmail
	case bulk.Resend:
		what = "Resend the webhooks of " + plural(r.Job.Total, b.noun, b.plural())
	}
	scope := "Selected on a page"
	if r.Job.Scope == models.BulkMatching {
		scope = "Every " + b.noun + " matching " + r.Job.Filter
	}
	v := templates.BulkView{ID: r.Job.ID, What: what, Scope: scope, By: r.Job.CreatedByEmail, Total: r.Job.Total,
		Succeeded: r.Succeeded, Failed: r.Failed, Pending: r.Pending, Done: r.Done(), ListHref: b.path,
		MoreFailures: r.Failed - len(r.Failures)}
	for _, rc := range r.Reasons {
		v.Reasons = append(v.Reasons, templates.BulkReason{Reason: rc.Reason, Count: rc.Count})
	}
	for _, f := range r.Failures {
		n := strconv.FormatUint(uint64(f.RecordID), 10)
		v.Failures = append(v.Failures, templates.BulkFailure{Href: b.path + "/" + n, Label: capitalize(b.noun) + " #" + n, Reason: f.Reason})
	}
	return v, true
}
