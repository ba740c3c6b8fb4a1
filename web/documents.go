package web

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"

	"github.com/a-h/templ"
	"github.com/gin-gonic/gin"

	"portal/models"
	"portal/services"
	"portal/services/documents"
	"portal/templates"
)

// documentCreators send documents and act on them; support reads,
// compliance reviews (documentReviewers).
var (
	documentCreators  = []models.Role{models.RoleAdmin, models.RoleOperator}
	documentReviewers = []models.Role{models.RoleAdmin, models.RoleCompliance}
)

type documentForm struct {
	Kind               string   `form:"kind"`
	NINs               string   `form:"nins"`
	FileURL            string   `form:"file_url"`
	Title              string   `form:"title"`
	SigneeName         []string `form:"signee_name"`
	SigneeType         []string `form:"signee_type"`
	SigneeEmail        []string `form:"signee_email"`
	SigneeNIN          []string `form:"signee_nin"`
	SigneeRepresenting []string `form:"signee_representing"`
	SigneeTitle        []string `form:"signee_title"`
}

// rows lines the repeated fields up by position; a field posted fewer times
// than the others is empty in the rows it lacks.
func (f documentForm) rows() []documents.SigneeInput {
	n := max(len(f.SigneeName), len(f.SigneeType), len(f.SigneeEmail), len(f.SigneeNIN), len(f.SigneeRepresenting), len(f.SigneeTitle))
	at := func(s []string, i int) string {
		if i < len(s) {
			return s[i]
		}
		return ""
	}
	out := make([]documents.SigneeInput, n)
	for i := range out {
		out[i] = documents.SigneeInput{Name: at(f.SigneeName, i), Type: at(f.SigneeType, i), Email: at(f.SigneeEmail, i),
			NIN: at(f.SigneeNIN, i), Representing: at(f.SigneeRepresenting, i), Title: at(f.SigneeTitle, i)}
	}
	return out
}

func (f documentForm) input() documents.Input {
	return documents.Input{Kind: f.Kind, NINs: f.NINs, FileURL: f.FileURL, Title: f.Title, Signees: f.rows()}
}

// view keeps what was typed; errors for row i (signee_name[i], …) go next
// to that row's fields.
func (f documentForm) view(fe services.FieldErrors) templates.DocumentForm {
	v := templates.DocumentForm{Kind: f.Kind, NINs: f.NINs, FileURL: f.FileURL, Title: f.Title, Errors: fieldErrors(fe)}
	if v.Kind == "" {
		v.Kind = string(models.DocumentKindSimple)
	}
	for i, r := range f.rows() {
		row := templates.SigneeRowForm{Name: r.Name, Type: r.Type, Email: r.Email, NIN: r.NIN, Representing: r.Representing, Title: r.Title}
		for _, name := range []string{"signee_name", "signee_type", "signee_email", "signee_nin", "signee_representing", "signee_title"} {
			if msg := fe[name+"["+strconv.Itoa(i)+"]"]; msg != "" {
				if row.Errors == nil {
					row.Errors = templates.FieldErrors{}
				}
				row.Errors[name] = msg
			}
		}
		v.Signees = append(v.Signees, row)
	}
	if len(v.Signees) == 0 {
		v.Signees = []templates.SigneeRowForm{{Type: "person"}}
	}
	return v
}

func (s *Server) canRevealNINs(c *gin.Context) bool {
	return s.can(c, http.MethodPost, "/documents/:id/signees/:sid/reveal")
}

// documentView shapes a document; NINs are always masked here (revealing
// one is a separate, audited request).
func documentView(d models.Document, signees []models.DocumentSignee) templates.DocumentView {
	v := templates.DocumentView{
		ID: d.ID, Reference: d.Reference, Kind: string(d.Kind), Title: d.Title, FileURL: d.FileURL, StampedURL: d.StampedURL,
		HostedLink: d.HostedLink, VerificationURL: documents.VerificationURL(d), State: string(d.State), Handled: d.Handled,
		Error: d.Error, IAT: d.IAT, Exp: d.Exp, LUT: d.LUT, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt, CompletedAt: d.CompletedAt,
		CreatedBy: d.CreatedByEmail, Decision: string(d.ReviewDecision), Final: d.State.Final(),
	}
	if d.UpstreamID != nil {
		v.UpstreamID = *d.UpstreamID
	}
	for _, sg := range signees {
		v.Signees = append(v.Signees, templates.SigneeView{
			ID: sg.ID, Position: sg.Position, NIN: documents.MaskNIN(sg.NIN, false), Name: sg.Name, Email: sg.Email, Type: sg.Type,
			Representing: sg.Representing, Title: sg.Title, Status: string(sg.Status), SignedAt: sg.SignedAt,
			Signature: sg.Signature, Identification: sg.Identification,
		})
	}
	return v
}

// ninLike is anything that could be a NIN in text we show as is.
var ninLike = regexp.MustCompile(`\b[0-9]{11}\b`)

// maskNINsIn masks every NIN-like number in pasby's raw answer: showing it
// must not be a way around the audited reveal.
func maskNINsIn(s string) string {
	return ninLike.ReplaceAllStringFunc(s, func(nin string) string { return documents.MaskNIN(nin, false) })
}

func documentTimeline(events []models.DocumentEvent) []templates.TimelineEntry {
	out := make([]templates.TimelineEntry, 0, len(events))
	for _, e := range events {
		out = append(out, templates.TimelineEntry{At: e.At, From: string(e.FromState), To: string(e.ToState), Note: e.Note})
	}
	return out
}

func (s *Server) documentsNew(c *gin.Context) {
	// The customer page links here with the signer's NIN filled in.
	f := documentForm{NINs: c.Query("nins")}
	if f.NINs != "" {
		f.Kind = "simple"
	}
	s.render(c, http.StatusOK, templates.DocumentNewPage(s.page(c, "New document"), f.view(nil)))
}

// documentSigneeRow is one empty row of the review flow's signees table.
func (s *Server) documentSigneeRow(c *gin.Context) {
	s.render(c, http.StatusOK, templates.SigneeRow(templates.SigneeRowForm{Type: "person"}))
}

// documentSigneeRowRemove answers nothing: the remove button swaps its row
// for this empty answer, so no script is needed.
func (s *Server) documentSigneeRowRemove(c *gin.Context) {
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.Status(http.StatusOK)
}

func (s *Server) documentsCreate(c *gin.Context) {
	f, ok := bindForm[documentForm](s, c)
	if !ok {
		return
	}
	doc, err := s.deps.Documents.Create(c.Request.Context(), s.actor(c), f.input())
	if err != nil {
		if fe, ok := services.AsFieldErrors(err); ok {
			s.render(c, http.StatusUnprocessableEntity, templates.DocumentNewPage(s.page(c, "New document"), f.view(fe)))
			return
		}
		s.serverError(c, err)
		return
	}
	switch doc.State {
	case models.DocumentFailed:
		s.flash(c, "error", "pasby did not accept the document. The page below says why.")
	case models.DocumentUnknown:
		s.flash(c, "warning", "The portal could not tell whether pasby received the document. It will not be sent again.")
	default:
		s.flash(c, "success", "Sent to pasby. The signers are asked to sign now.")
	}
	s.redirect(c, "/documents/"+strconv.FormatUint(uint64(doc.ID), 10))
}

type documentListQuery struct {
	State    string `form:"state"`
	Kind     string `form:"kind"`
	Decision string `form:"decision"`
	Reason   string `form:"reason"`
	From     string `form:"from"`
	To       string `form:"to"`
	Q        string `form:"q"`
	Stalled  string `form:"stalled"`
	Sort     string `form:"sort"`
	Before   string `form:"before"`
	After    string `form:"after"`
}

func (q documentListQuery) filter() documents.Filter {
	return documents.Filter{State: q.State, Kind: q.Kind, Decision: q.Decision, Reason: q.Reason, From: q.From, To: q.To, Q: q.Q, Stalled: q.Stalled, Sort: q.Sort}
}

// exportFilter is the filter without the order: the file is newest first.
func (q documentListQuery) exportFilter() documents.Filter {
	f := q.filter()
	f.Sort = ""
	return f
}

func (q documentListQuery) values() url.Values {
	v := url.Values{}
	for k, val := range map[string]string{"state": q.State, "kind": q.Kind, "decision": q.Decision, "reason": q.Reason, "from": q.From, "to": q.To, "q": q.Q, "stalled": q.Stalled, "sort": q.Sort} {
		if val != "" {
			v.Set(k, val)
		}
	}
	return v
}

const documentPageSize = 50

func (s *Server) documentsList(c *gin.Context) {
	var q documentListQuery
	if err := c.ShouldBindQuery(&q); err != nil {
		s.badRequest(c, "The filter could not be read. Clear the filters and try again.")
		return
	}
	export := listFilters(q.values())
	view := templates.DocumentFilter{State: q.State, Kind: q.Kind, Decision: q.Decision, Reason: q.Reason, ReasonOptions: reasonFilterOptions(models.CaseDocument), From: q.From, To: q.To, Q: q.Q, Stalled: q.Stalled == "1",
		Sort: q.Sort, Headers: documentSortHeaders(q),
		ExportHref: (&url.URL{Path: "/documents/export", RawQuery: export.Encode()}).String(),
		CanCreate:  s.can(c, http.MethodGet, "/documents/new")}
	page, err := s.deps.Documents.List(c.Request.Context(), q.filter(), q.Before, q.After, documentPageSize)
	if fe, ok := services.AsFieldErrors(err); ok {
		view.Errors = fieldErrors(fe)
		s.render(c, http.StatusUnprocessableEntity, templates.DocumentsPage(s.page(c, "Documents"), view, nil, templates.Pager{}))
		return
	}
	if errors.Is(err, documents.ErrBadCursor) {
		s.badRequest(c, "That page link is broken. Start again from the first page.")
		return
	}
	if err != nil {
		s.serverError(c, err)
		return
	}
	view.Bulk = s.bulkBar(c, "documents", q.values(), len(page.Documents))
	view.Headers.Select = view.Bulk.Form
	rows := make([]templates.DocumentView, 0, len(page.Documents))
	for _, d := range page.Documents {
		row := documentView(d, nil)
		row.SelectForm = view.Bulk.Form
		rows = append(rows, row)
	}
	pager := cursorPager("/documents", q.values(), page.Following, page.Prev, len(rows))
	pager.Sorted = q.Sort != "" && q.Sort != documents.DefaultSort.String()
	s.render(c, http.StatusOK, templates.DocumentsPage(s.page(c, "Documents"), view, rows, pager))
}

// documentSortHeaders links each sortable column to the list sorted by it,
// keeping the filters and starting from the first page: the current
// column turns the order round, another starts with what a person wants
// first (the newest document, the latest change).
func documentSortHeaders(q documentListQuery) templates.DocumentSort {
	return templates.DocumentSort{
		Created: columnSortHeader("/documents", q.values(), q.Sort, documents.DefaultSort, services.Sort{Key: "created"}),
		Updated: columnSortHeader("/documents", q.values(), q.Sort, documents.DefaultSort, services.Sort{Key: "updated"}),
	}
}

func (s *Server) documentsExport(c *gin.Context) {
	var q documentListQuery
	if err := c.ShouldBindQuery(&q); err != nil {
		s.badRequest(c, "The filter could not be read. Clear the filters and try again.")
		return
	}
	s.streamCSV(c, "documents.csv", func() error { return documents.ValidateFilter(q.exportFilter()) },
		func(w io.Writer) error { return s.deps.Documents.ExportCSV(c.Request.Context(), q.exportFilter(), w) })
}

func (s *Server) documentShow(c *gin.Context) {
	s.renderDocumentPage(c, http.StatusOK, documentForms{})
}

// documentForms are the forms of the detail page that may come back with
// what the user typed and the errors.
type documentForms struct {
	Case    caseForms
	Resolve templates.ResolveForm
}

func (s *Server) renderDocumentPage(c *gin.Context, status int, forms documentForms) {
	id, ok := s.idParam(c)
	if !ok {
		return
	}
	d, err := s.deps.Documents.GetDetail(c.Request.Context(), id)
	if errors.Is(err, models.ErrNotFound) {
		s.notFound(c)
		return
	}
	if err != nil {
		s.serverError(c, err)
		return
	}
	view := s.documentDetailView(c, d, forms)
	if !view.Document.Final && !s.withStatusVersion(c, documentStatusFragment(view)) {
		return
	}
	s.render(c, status, templates.DocumentPage(s.page(c, "Document #"+strconv.FormatUint(uint64(id), 10)), view))
}

// documentStatusFragment is what a document's status poll answers: the
// status and, out of band, every part of the page a state change alters.
func documentStatusFragment(view templates.DocumentDetail) templ.Component {
	return templates.Join(templates.DocumentStatus(view.Document, view.CanReveal),
		templates.TimelineSection("document-timeline-"+strconv.FormatUint(uint64(view.Document.ID), 10), view.Timeline, true), templates.DocumentActions(view, true),
		templates.DocumentSignatures(view.Document, true), templates.DocumentReviewSection(view, true))
}

// documentDetailView is shared by the page and its status fragment, which
// re-sends the parts a state change alters.
func (s *Server) documentDetailView(c *gin.Context, d documents.Detail, forms documentForms) templates.DocumentDetail {
	view := templates.DocumentDetail{
		Document: documentView(d.Document, d.Signees), RawJSON: maskNINsIn(prettyJSON(d.Document.LastUpstreamJSON)),
		Timeline:   documentTimeline(d.Events),
		CanCancel:  s.can(c, http.MethodPost, "/documents/:id/cancel"),
		CanRefresh: s.can(c, http.MethodPost, "/documents/:id/refresh"),
		CanReveal:  s.canRevealNINs(c),
		CanResolve: s.can(c, http.MethodPost, "/documents/:id/resolve"),
		Resolve:    forms.Resolve,
	}
	var legacy *firstDecision
	if d.Review != nil {
		legacy = &firstDecision{decision: string(d.Review.Decision), reason: d.Review.Reason, note: d.Review.Note, by: d.Review.ReviewerEmail, at: d.Review.DecidedAt}
	}
	view.Case = s.caseView(c, s.documentCases(), d.Document.ID, d.Document.State == models.DocumentCompleted, d.Document.CompletedAt, legacy, "", forms.Case)
	for _, e := range d.Audit {
		view.Audit = append(view.Audit, templates.AuditEventView{ID: e.ID, At: e.At, Actor: e.ActorEmail, Action: e.Action, Details: e.Details})
	}
	return view
}

// documentStatus is the htmx fragment the detail page polls; it reads only
// our database, never pasby.
func (s *Server) documentStatus(c *gin.Context) {
	id, ok := s.idParam(c)
	if !ok {
		return
	}
	d, err := s.deps.Documents.GetLive(c.Request.Context(), id)
	if errors.Is(err, models.ErrNotFound) {
		s.notFound(c)
		return
	}
	if err != nil {
		s.serverError(c, err)
		return
	}
	s.renderStatus(c, documentStatusFragment(s.documentDetailView(c, d, documentForms{})))
}

// documentAction runs cancel or refresh and goes back to the page with what
// happened.
func (s *Server) documentAction(c *gin.Context, act func(id uint) (models.Document, error), done string) {
	id, ok := s.idParam(c)
	if !ok {
		return
	}
	_, err := act(id)
	var upstream *documents.UpstreamError
	switch {
	case errors.Is(err, models.ErrNotFound):
		s.notFound(c)
		return
	case errors.Is(err, documents.ErrNotOpen):
		s.flash(c, "info", "pasby is no longer working on this document, so there is nothing to do.")
	case errors.As(err, &upstream):
		s.flash(c, "error", upstream.Message)
	case err != nil:
		s.serverError(c, err)
		return
	default:
		s.flash(c, "success", done)
	}
	s.redirect(c, "/documents/"+strconv.FormatUint(uint64(id), 10))
}

func (s *Server) documentCancel(c *gin.Context) {
	s.documentAction(c, func(id uint) (models.Document, error) {
		return s.deps.Documents.Cancel(c.Request.Context(), s.actor(c), id)
	}, "Cancelled at pasby.")
}

func (s *Server) documentRefresh(c *gin.Context) {
	s.documentAction(c, func(id uint) (models.Document, error) {
		return s.deps.Documents.Refresh(c.Request.Context(), s.actor(c), id)
	}, "Refreshed from pasby.")
}

// documentResolving is how a document whose create answer was lost is
// settled.
func (s *Server) documentResolving() resolveOutcomes {
	return resolveOutcomes{
		notUnknown: documents.ErrNotUnknown, record: "document", provider: "pasby", base: "/documents/",
		upstream: func(err error) (string, bool) {
			var u *documents.UpstreamError
			if errors.As(err, &u) {
				return u.Message, true
			}
			return "", false
		},
		rerender: func(c *gin.Context, status int, f templates.ResolveForm) {
			s.renderDocumentPage(c, status, documentForms{Resolve: f})
		},
	}
}

func (s *Server) documentResolveUpstreamID(c *gin.Context) {
	s.resolveUnknown(c, func(id uint, f resolveForm) error {
		_, err := s.deps.Documents.ResolveWithUpstreamID(c.Request.Context(), s.actor(c), id, f.UpstreamID)
		return err
	}, "Recorded pasby's id; the portal follows the document from here.", s.documentResolving())
}

func (s *Server) documentMarkNotSent(c *gin.Context) {
	s.resolveUnknown(c, func(id uint, f resolveForm) error {
		_, err := s.deps.Documents.MarkNotSent(c.Request.Context(), s.actor(c), id, f.Note)
		return err
	}, "Closed as not sent.", s.documentResolving())
}

// documentRevealNIN shows one signee's full NIN, once, and audits it.
func (s *Server) documentRevealNIN(c *gin.Context) {
	id, ok := s.idParam(c)
	if !ok {
		return
	}
	sid, err := strconv.ParseUint(c.Param("sid"), 10, 32)
	if err != nil || sid == 0 {
		s.notFound(c)
		return
	}
	nin, err := s.deps.Documents.RevealNIN(c.Request.Context(), s.actor(c), id, uint(sid))
	if errors.Is(err, models.ErrNotFound) {
		s.notFound(c)
		return
	}
	if err != nil {
		s.serverError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	sv := templates.SigneeView{ID: uint(sid), NIN: nin, Revealed: true}
	if isHTMX(c) {
		s.render(c, http.StatusOK, templates.SigneeNIN(id, sv, true))
		return
	}
	s.render(c, http.StatusOK, templates.RevealedNINPage(s.page(c, "Document #"+strconv.FormatUint(uint64(id), 10)), id, sv))
}

// pasbyWebhook stores a pasby webhook and answers at once; the secret in the
// path is its only authentication, so the path is never logged.
func (s *Server) pasbyWebhook(c *gin.Context) {
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, documents.MaxWebhookBody+1))
	if err != nil {
		c.String(http.StatusBadRequest, "unreadable body")
		return
	}
	err = s.deps.Documents.ReceiveWebhook(c.Request.Context(), c.Param("secret"), body, c.Request.Header)
	switch {
	case errors.Is(err, documents.ErrMalformedWebhook):
		c.String(http.StatusBadRequest, "body is not JSON")
	case errors.Is(err, documents.ErrUnknownWebhookSecret), errors.Is(err, documents.ErrUnknownWebhookDocument):
		c.String(http.StatusNotFound, "not found")
	case errors.Is(err, documents.ErrWebhookTooLarge):
		c.String(http.StatusRequestEntityTooLarge, "too large")
	case err != nil:
		s.logFailure(c, "pasby webhook", err)
		c.String(http.StatusInternalServerError, "try again")
	default:
		c.String(http.StatusOK, "ok")
	}
}

// documentID reads the :id path parameter (404 when it is not one).
