package web

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/a-h/templ"
	"github.com/gin-gonic/gin"

	"portal/models"
	"portal/services"
	"portal/services/recharges"
	"portal/templates"
)

// rechargeCreators may start a recharge; compliance only reads.
var rechargeCreators = []models.Role{models.RoleAdmin, models.RoleOperator, models.RoleSupport}

type rechargeForm struct {
	DeviceID       string `form:"device_id"`
	CardID         string `form:"card_id"`
	Amount         string `form:"amount"`
	IdempotencyKey string `form:"idempotency_key"`
	PhoneNumber    string `form:"phone_number"`
	Confirm        string `form:"confirm"`
}

func (f rechargeForm) input() recharges.Input {
	return recharges.Input{DeviceID: f.DeviceID, CardID: f.CardID, Amount: f.Amount, IdempotencyKey: f.IdempotencyKey, PhoneNumber: f.PhoneNumber}
}

func (f rechargeForm) view(s *Server) templates.RechargeForm {
	return templates.RechargeForm{DeviceID: f.DeviceID, CardID: f.CardID, Amount: f.Amount, IdempotencyKey: f.IdempotencyKey,
		PhoneNumber: f.PhoneNumber, MaxAmount: s.deps.Recharges.MaxAmount().String(), Currency: recharges.CurrencyFor(f.PhoneNumber)}
}

func rechargeView(r models.Recharge) templates.RechargeView {
	v := templates.RechargeView{
		ID: r.ID, State: string(r.State), UpstreamStatus: r.UpstreamStatus, Target: r.Target(), TargetKind: "Device",
		CustomerName: r.CustomerName, CustomerPhone: r.CustomerPhone, Amount: r.Amount, Currency: r.Currency,
		Litres: r.Litres, PricePerLitre: r.PricePerLitre, BalanceAfter: r.BalanceAfter, Error: r.Error,
		CreatedAt: r.CreatedAt, CompletedAt: r.CompletedAt, CreatedBy: r.CreatedByEmail, Final: r.State.Final(),
	}
	if r.CardID != "" {
		v.TargetKind = "Card"
	}
	if r.UpstreamID != nil {
		v.UpstreamID = *r.UpstreamID
	}
	return v
}

func (s *Server) can(c *gin.Context, method, path string) bool {
	u, ok := s.currentUser(c)
	return ok && s.policy[method+" "+path].Allows(u.Role)
}

func (s *Server) rechargesNew(c *gin.Context) {
	var f rechargeForm
	if err := c.ShouldBindQuery(&f); err != nil {
		s.badRequest(c, "The link could not be read. Start again from the customer lookup.")
		return
	}
	// A fresh key per rendered form; "Change" on the confirmation keeps the
	// key, so going back and forth is still one recharge.
	if f.IdempotencyKey == "" {
		f.IdempotencyKey = recharges.NewIdempotencyKey()
	}
	s.render(c, http.StatusOK, templates.RechargeNewPage(s.page(c, "New recharge"), f.view(s)))
}

// rechargesCreate is both steps: without confirm=yes it validates and shows
// the confirmation; with it, it records and sends the recharge.
func (s *Server) rechargesCreate(c *gin.Context) {
	f, ok := bindForm[rechargeForm](s, c)
	if !ok {
		return
	}
	invalid := func(status int, fe services.FieldErrors, msg string) {
		view := f.view(s)
		view.Errors, view.Error = fieldErrors(fe), msg
		if fe != nil && fe["idempotency_key"] != "" {
			view.IdempotencyKey = recharges.NewIdempotencyKey()
		}
		s.render(c, status, templates.RechargeNewPage(s.page(c, "New recharge"), view))
	}
	if f.Confirm != "yes" {
		conf, err := s.deps.Recharges.Prepare(c.Request.Context(), f.input())
		var upstream *recharges.UpstreamError
		switch {
		case err == nil:
		case errors.As(err, &upstream):
			invalid(http.StatusBadGateway, nil, upstream.Message)
			return
		default:
			if fe, ok := services.AsFieldErrors(err); ok {
				invalid(http.StatusUnprocessableEntity, fe, "")
				return
			}
			s.serverError(c, err)
			return
		}
		view := templates.RechargeConfirmView{
			Form: f.view(s), CustomerName: conf.CustomerName, Phone: conf.Phone, TargetKind: "Device", Target: conf.Input.Target(),
			Amount: conf.Input.Amount, Known: conf.Known, Balance: conf.Balance.String(),
		}
		view.Form.Amount = conf.Input.Amount.String()
		view.Form.PhoneNumber = conf.Phone
		if conf.Input.CardID != "" {
			view.TargetKind = "Card"
		}
		view.Currency = recharges.CurrencyFor(conf.Phone)
		s.render(c, http.StatusOK, templates.RechargeConfirmPage(s.page(c, "Confirm recharge"), view))
		return
	}
	rec, created, err := s.deps.Recharges.Create(c.Request.Context(), s.actor(c), f.input())
	switch {
	case errors.Is(err, recharges.ErrKeyReused):
		s.renderError(c, http.StatusConflict, "Already used for another recharge",
			"This form was already used to send a different recharge (#"+strconv.FormatUint(uint64(rec.ID), 10)+"). Nothing new was sent. Open a new recharge form to send another one.")
		return
	case err != nil:
		if fe, ok := services.AsFieldErrors(err); ok {
			invalid(http.StatusUnprocessableEntity, fe, "")
			return
		}
		if rec.ID == 0 {
			s.serverError(c, err)
			return
		}
		// The recharge is recorded; its page tells what happened.
		s.logFailure(c, "recharge", err, "recharge_id", rec.ID)
	}
	if !created {
		s.flash(c, "info", "This recharge was already submitted; here it is. Nothing was sent twice.")
	}
	s.redirect(c, "/recharges/"+strconv.FormatUint(uint64(rec.ID), 10))
}

type rechargeListQuery struct {
	State  string `form:"state"`
	From   string `form:"from"`
	To     string `form:"to"`
	Q      string `form:"q"`
	Sort   string `form:"sort"`
	Before string `form:"before"`
	After  string `form:"after"`
}

func (q rechargeListQuery) filter() recharges.Filter {
	return recharges.Filter{State: q.State, From: q.From, To: q.To, Q: q.Q, Sort: q.Sort}
}

func (q rechargeListQuery) values() url.Values {
	v := url.Values{}
	for k, val := range map[string]string{"state": q.State, "from": q.From, "to": q.To, "q": q.Q, "sort": q.Sort} {
		if val != "" {
			v.Set(k, val)
		}
	}
	return v
}

const rechargePageSize = 50

func (s *Server) rechargesList(c *gin.Context) {
	var q rechargeListQuery
	if err := c.ShouldBindQuery(&q); err != nil {
		s.badRequest(c, "The filter could not be read. Clear the filters and try again.")
		return
	}
	title := "Recharges"
	if q.State == string(models.RechargeUnknown) {
		title = "Needs attention"
	}
	view := templates.RechargeFilter{State: q.State, From: q.From, To: q.To, Q: q.Q, Sort: q.Sort,
		Headers:    rechargeSortHeaders(q),
		ExportHref: (&url.URL{Path: "/recharges/export", RawQuery: q.values().Encode()}).String(),
		CanCreate:  s.can(c, http.MethodGet, "/recharges/new")}
	page, err := s.deps.Recharges.List(c.Request.Context(), q.filter(), q.Before, q.After, rechargePageSize)
	if fe, ok := services.AsFieldErrors(err); ok {
		view.Errors = fieldErrors(fe)
		s.render(c, http.StatusUnprocessableEntity, templates.RechargesPage(s.page(c, title), view, nil, templates.Pager{}))
		return
	}
	if errors.Is(err, recharges.ErrBadCursor) {
		s.badRequest(c, "That page link is broken. Start again from the first page.")
		return
	}
	if err != nil {
		s.serverError(c, err)
		return
	}
	view.Bulk = s.bulkBar(c, "recharges", q.values(), len(page.Recharges))
	view.Headers.Select = view.Bulk.Form
	rows := make([]templates.RechargeView, 0, len(page.Recharges))
	for _, r := range page.Recharges {
		row := rechargeView(r)
		row.SelectForm = view.Bulk.Form
		rows = append(rows, row)
	}
	pager := cursorPager("/recharges", q.values(), page.Following, page.Prev, len(rows))
	pager.Sorted = q.Sort != "" && q.Sort != recharges.DefaultSort.String()
	s.render(c, http.StatusOK, templates.RechargesPage(s.page(c, title), view, rows, pager))
}

// rechargeSortHeaders links each sortable column to the list sorted by it,
// keeping the filters and starting from the first page: the current
// column turns the order round, another starts with what a person wants
// first (the largest amount, the newest recharge).
func rechargeSortHeaders(q rechargeListQuery) templates.RechargeSort {
	header := func(key string) templates.SortHeader {
		return columnSortHeader("/recharges", q.values(), q.Sort, recharges.DefaultSort, services.Sort{Key: key})
	}
	return templates.RechargeSort{Created: header("created"), Amount: header("amount")}
}

func (s *Server) rechargesExport(c *gin.Context) {
	var q rechargeListQuery
	if err := c.ShouldBindQuery(&q); err != nil {
		s.badRequest(c, "The filter could not be read. Clear the filters and try again.")
		return
	}
	s.streamCSV(c, "recharges.csv", func() error { return recharges.ValidateFilter(q.filter()) },
		func(w io.Writer) error { return s.deps.Recharges.ExportCSV(c.Request.Context(), q.filter(), w) })
}

func firstMessage(err error) string {
	if fe, ok := services.AsFieldErrors(err); ok {
		for _, m := range fe {
			return m
		}
	}
	return "check the filters"
}

// idParam reads the record id in the path (:id); anything but a positive
// number is a 404.
func (s *Server) idParam(c *gin.Context) (uint, bool) {
	n, err := strconv.ParseUint(c.Param("id"), 10, 32)
	if err != nil || n == 0 {
		s.notFound(c)
		return 0, false
	}
	return uint(n), true
}

func (s *Server) rechargeShow(c *gin.Context) {
	s.renderRechargePage(c, http.StatusOK, templates.ResolveForm{})
}

func (s *Server) renderRechargePage(c *gin.Context, status int, resolve templates.ResolveForm) {
	id, ok := s.idParam(c)
	if !ok {
		return
	}
	d, err := s.deps.Recharges.GetDetail(c.Request.Context(), id)
	if errors.Is(err, models.ErrNotFound) {
		s.notFound(c)
		return
	}
	if err != nil {
		s.serverError(c, err)
		return
	}
	rv := rechargeView(d.Recharge)
	rv.CanRefresh = s.can(c, http.MethodPost, "/recharges/:id/refresh")
	view := templates.RechargeDetail{Recharge: rv, RawJSON: prettyJSON(d.Recharge.LastUpstreamJSON),
		CanResolve: s.can(c, http.MethodPost, "/recharges/:id/resolve"), Resolve: resolve}
	view.Timeline = timeline(d.Events)
	for _, e := range d.Audit {
		view.Audit = append(view.Audit, templates.AuditEventView{ID: e.ID, At: e.At, Actor: e.ActorEmail, Action: e.Action, Details: e.Details})
	}
	if !rv.Final && !s.withStatusVersion(c, rechargeStatusFragment(id, rv, view.Timeline)) {
		return
	}
	s.render(c, status, templates.RechargePage(s.page(c, "Recharge #"+strconv.FormatUint(uint64(id), 10)), view))
}

// rechargeStatusFragment is what a recharge's status poll answers: the
// status and, out of band, the timeline.
func rechargeStatusFragment(id uint, rv templates.RechargeView, tl []templates.TimelineEntry) templ.Component {
	return templates.Join(templates.RechargeStatus(rv),
		templates.TimelineSection("recharge-timeline-"+strconv.FormatUint(uint64(id), 10), tl, true))
}

// rechargeStatus is the htmx fragment the detail page polls; it reads only
// our database, never 1flow.
func (s *Server) rechargeStatus(c *gin.Context) {
	id, ok := s.idParam(c)
	if !ok {
		return
	}
	d, err := s.deps.Recharges.GetLive(c.Request.Context(), id)
	if errors.Is(err, models.ErrNotFound) {
		s.notFound(c)
		return
	}
	if err != nil {
		s.serverError(c, err)
		return
	}
	rv := rechargeView(d.Recharge)
	rv.CanRefresh = s.can(c, http.MethodPost, "/recharges/:id/refresh")
	s.renderStatus(c, rechargeStatusFragment(id, rv, timeline(d.Events)))
}

// rechargeResolving is how a recharge whose outcome is unknown is settled.
func (s *Server) rechargeResolving() resolveOutcomes {
	return resolveOutcomes{
		notUnknown: recharges.ErrNotUnknown, record: "recharge", provider: "1flow", base: "/recharges/",
		upstream: func(err error) (string, bool) {
			var u *recharges.UpstreamError
			if errors.As(err, &u) {
				return u.Message, true
			}
			return "", false
		},
		rerender: s.renderRechargePage,
	}
}

func (s *Server) rechargeResolveUpstreamID(c *gin.Context) {
	s.resolveUnknown(c, func(id uint, f resolveForm) error {
		_, err := s.deps.Recharges.ResolveWithUpstreamID(c.Request.Context(), s.actor(c), id, f.UpstreamID)
		return err
	}, "Recorded the 1flow id; the portal follows the recharge from here.", s.rechargeResolving())
}

func (s *Server) rechargeMarkNotSent(c *gin.Context) {
	s.resolveUnknown(c, func(id uint, f resolveForm) error {
		_, err := s.deps.Recharges.MarkNotSent(c.Request.Context(), s.actor(c), id, f.Note)
		return err
	}, "Closed as not sent.", s.rechargeResolving())
}

// rechargeRefresh asks 1flow now; support uses it with the customer on the
// phone.
func (s *Server) rechargeRefresh(c *gin.Context) {
	id, ok := s.idParam(c)
	if !ok {
		return
	}
	r, err := s.deps.Recharges.Refresh(c.Request.Context(), s.actor(c), id)
	switch {
	case errors.Is(err, models.ErrNotFound):
		s.notFound(c)
		return
	case errors.Is(err, recharges.ErrNotOpen):
		s.flash(c, "info", "1flow is no longer working on this recharge, so there is nothing to ask.")
	case err != nil:
		s.serverError(c, err)
		return
	case r.State.Final():
		s.flash(c, "success", "1flow's answer: "+string(r.State)+".")
	default:
		s.flash(c, "info", "Asked 1flow: still in progress.")
	}
	s.redirect(c, "/recharges/"+strconv.FormatUint(uint64(id), 10))
}

func timeline(events []models.RechargeEvent) []templates.TimelineEntry {
	out := make([]templates.TimelineEntry, 0, len(events))
	for _, e := range events {
		status := ""
		if e.UpstreamStatus != "" {
			status = "1flow " + e.UpstreamStatus
		}
		out = append(out, templates.TimelineEntry{At: e.At, From: string(e.FromState), To: string(e.ToState), Status: status, Note: e.Note})
	}
	return out
}
