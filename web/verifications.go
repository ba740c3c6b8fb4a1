package web

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/a-h/templ"
	"github.com/gin-gonic/gin"

	"portal/models"
	"portal/services"
	"portal/services/verifications"
	"portal/templates"
)

// verificationCreators start verifications; support reads; compliance and
// admin review them and see the images.
var (
	verificationCreators  = []models.Role{models.RoleAdmin, models.RoleOperator}
	verificationReviewers = []models.Role{models.RoleAdmin, models.RoleCompliance}
)

// verificationForm's field names are the providers' JSON names in
// snake_case.
type verificationForm struct {
	Provider         string   `form:"provider"`
	ExternalID       string   `form:"external_id"`
	Requirements     []string `form:"requirements"`
	Country          string   `form:"country"`
	PhoneNo          string   `form:"phone_no"`
	ExpiresAt        string   `form:"expires_at"`
	SuccessURL       string   `form:"success_url"`
	ErrorURL         string   `form:"error_url"`
	SupportURL       string   `form:"support_url"`
	FaceVerification string   `form:"face_verification"`
	PassportOnly     string   `form:"passport_only"`
}

// formBool reads a checkbox; scripts may send true/false, 1/0, on.
func formBool(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "on", "yes":
		return true
	}
	return false
}

func (f verificationForm) input() verifications.Input {
	return verifications.Input{
		Provider: f.Provider, ExternalID: f.ExternalID, Requirements: f.Requirements, Country: f.Country, PhoneNo: f.PhoneNo,
		ExpiresAt: f.ExpiresAt, SuccessURL: f.SuccessURL, ErrorURL: f.ErrorURL, SupportURL: f.SupportURL,
		FaceVerification: formBool(f.FaceVerification), PassportOnly: formBool(f.PassportOnly),
	}
}

func (f verificationForm) view(fe services.FieldErrors) templates.VerificationForm {
	v := templates.VerificationForm{
		Provider: f.Provider, ExternalID: f.ExternalID, Country: f.Country, PhoneNo: f.PhoneNo, ExpiresAt: f.ExpiresAt,
		SuccessURL: f.SuccessURL, ErrorURL: f.ErrorURL, SupportURL: f.SupportURL,
		FaceVerification: formBool(f.FaceVerification), PassportOnly: formBool(f.PassportOnly),
		Countries: verifications.Countries, Errors: fieldErrors(fe),
	}
	for _, r := range f.Requirements {
		v.DocumentScan = v.DocumentScan || r == verifications.RequirementDocumentScan
		v.FaceScan = v.FaceScan || r == verifications.RequirementFaceScan
	}
	return v
}

func verificationView(v models.Verification) templates.VerificationView {
	out := templates.VerificationView{
		ID: v.ID, Provider: string(v.Provider), ProviderLabel: v.Provider.Label(), Reference: v.Reference, ExternalID: v.ExternalID,
		CustomerPhone: v.CustomerPhone, Country: v.Country, Requirements: strings.ReplaceAll(v.Requirements, ",", ", "),
		Link: v.Link, State: string(v.State), ProviderStatus: v.ProviderStatus, Error: v.Error, ExpiresAt: v.ExpiresAt,
		DocumentType: v.DocumentType, DocumentNumber: v.DocumentNumber, FullName: strings.TrimSpace(v.GivenNames + " " + v.Surname),
		DateOfBirth: v.DateOfBirth, FaceResult: faceInWords(v.FaceResult), ReviewReason: reviewReasonInWords(v.ReviewReason),
		Decision: string(v.ReviewDecision), CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt, CompletedAt: v.CompletedAt, CreatedBy: v.CreatedByEmail,
		Final: v.State.Final(),
	}
	if v.UpstreamID != nil {
		out.UpstreamID = *v.UpstreamID
	}
	if v.Provider == models.ProviderPassportReader {
		var opts []string
		if v.FaceVerification {
			opts = append(opts, "face verification")
		}
		if v.PassportOnly {
			opts = append(opts, "passports only")
		}
		out.Options = strings.Join(opts, ", ")
	}
	return out
}

// reviewReasonInWords explains pawaPass's reviewResult.reason to staff.
func reviewReasonInWords(reason string) string {
	switch reason {
	case "":
		return ""
	case "CAPTURE_ISSUE":
		return "The document or face could not be captured properly (CAPTURE_ISSUE)."
	case "DOCUMENT_VALIDITY":
		return "The identity document is not valid: expired, damaged or not genuine (DOCUMENT_VALIDITY)."
	case "IMAGE_QUALITY":
		return "The pictures were too blurred, dark or cropped to read (IMAGE_QUALITY)."
	case "GENERIC":
		return "pawaPass declined it without a more specific reason (GENERIC)."
	}
	return reason
}

// faceInWords turns pawaPass's age estimation into words.
func faceInWords(r string) string {
	switch {
	case r == "UNKNOWN":
		return "face scanned; age could not be estimated"
	case strings.HasPrefix(r, "OVER_"):
		return "face scanned; estimated over " + strings.TrimPrefix(r, "OVER_")
	case strings.HasPrefix(r, "UNDER_"):
		return "face scanned; estimated under " + strings.TrimPrefix(r, "UNDER_")
	}
	return r
}

func verificationTimeline(p models.VerificationProvider, events []models.VerificationEvent) []templates.TimelineEntry {
	out := make([]templates.TimelineEntry, 0, len(events))
	for _, e := range events {
		status := ""
		if e.ProviderStatus != "" {
			status = p.Label() + " " + e.ProviderStatus
		}
		out = append(out, templates.TimelineEntry{At: e.At, From: string(e.FromState), To: string(e.ToState), Status: status, Note: e.Note})
	}
	return out
}

func (s *Server) verificationsNew(c *gin.Context) {
	d := s.deps.Verifications.Defaults()
	f := verificationForm{Provider: string(models.ProviderPawaPass), SuccessURL: d.Success, ErrorURL: d.Error, SupportURL: d.Support,
		Requirements: []string{verifications.RequirementDocumentScan, verifications.RequirementFaceScan}, PhoneNo: c.Query("phone_no")}
	s.render(c, http.StatusOK, templates.VerificationNewPage(s.page(c, "New verification"), f.view(nil)))
}

func (s *Server) verificationsCreate(c *gin.Context) {
	f, ok := bindForm[verificationForm](s, c)
	if !ok {
		return
	}
	v, err := s.deps.Verifications.Create(c.Request.Context(), s.actor(c), f.input())
	if err != nil {
		if fe, ok := services.AsFieldErrors(err); ok {
			s.render(c, http.StatusUnprocessableEntity, templates.VerificationNewPage(s.page(c, "New verification"), f.view(fe)))
			return
		}
		s.serverError(c, err)
		return
	}
	switch v.State {
	case models.VerificationFailed:
		s.flash(c, "error", v.Provider.Label()+" did not create the verification. The page below says why.")
	case models.VerificationUnknown:
		s.flash(c, "warning", "The portal could not tell whether "+v.Provider.Label()+" created the verification. It will not be sent again.")
	default:
		s.flash(c, "success", "Created. Send the link below to the customer.")
	}
	s.redirect(c, "/verifications/"+strconv.FormatUint(uint64(v.ID), 10))
}

type verificationListQuery struct {
	Provider string `form:"provider"`
	State    string `form:"state"`
	Status   string `form:"status"`
	Decision string `form:"decision"`
	Reason   string `form:"reason"`
	From     string `form:"from"`
	To       string `form:"to"`
	Q        string `form:"q"`
	Sort     string `form:"sort"`
	Before   string `form:"before"`
	After    string `form:"after"`
}

func (q verificationListQuery) filter() verifications.Filter {
	return verifications.Filter{Provider: q.Provider, State: q.State, Status: q.Status, Decision: q.Decision, Reason: q.Reason, From: q.From, To: q.To, Q: q.Q, Sort: q.Sort}
}

// exportFilter is the filter without the order: the file is newest first.
func (q verificationListQuery) exportFilter() verifications.Filter {
	f := q.filter()
	f.Sort = ""
	return f
}

func (q verificationListQuery) values() url.Values {
	v := url.Values{}
	for k, val := range map[string]string{"provider": q.Provider, "state": q.State, "status": q.Status, "decision": q.Decision, "reason": q.Reason, "from": q.From, "to": q.To, "q": q.Q, "sort": q.Sort} {
		if val != "" {
			v.Set(k, val)
		}
	}
	return v
}

func (s *Server) verificationsList(c *gin.Context) {
	var q verificationListQuery
	if err := c.ShouldBindQuery(&q); err != nil {
		s.badRequest(c, "The filter could not be read. Clear the filters and try again.")
		return
	}
	export := listFilters(q.values())
	view := templates.VerificationFilter{Provider: q.Provider, State: q.State, Status: q.Status, Decision: q.Decision, Reason: q.Reason, ReasonOptions: reasonFilterOptions(models.CaseVerification), From: q.From, To: q.To, Q: q.Q,
		Sort: q.Sort, Headers: verificationSortHeaders(q),
		ExportHref: (&url.URL{Path: "/verifications/export", RawQuery: export.Encode()}).String(),
		CanCreate:  s.can(c, http.MethodGet, "/verifications/new")}
	page, err := s.deps.Verifications.List(c.Request.Context(), q.filter(), q.Before, q.After, documentPageSize)
	if fe, ok := services.AsFieldErrors(err); ok {
		view.Errors = fieldErrors(fe)
		s.render(c, http.StatusUnprocessableEntity, templates.VerificationsPage(s.page(c, "Verifications"), view, nil, templates.Pager{}))
		return
	}
	if errors.Is(err, verifications.ErrBadCursor) {
		s.badRequest(c, "That page link is broken. Start again from the first page.")
		return
	}
	if err != nil {
		s.serverError(c, err)
		return
	}
	view.Bulk = s.bulkBar(c, "verifications", q.values(), len(page.Verifications))
	view.Headers.Select = view.Bulk.Form
	rows := make([]templates.VerificationView, 0, len(page.Verifications))
	for _, v := range page.Verifications {
		row := verificationView(v)
		row.SelectForm = view.Bulk.Form
		rows = append(rows, row)
	}
	pager := cursorPager("/verifications", q.values(), page.Following, page.Prev, len(rows))
	pager.Sorted = q.Sort != "" && q.Sort != verifications.DefaultSort.String()
	s.render(c, http.StatusOK, templates.VerificationsPage(s.page(c, "Verifications"), view, rows, pager))
}

// verificationSortHeaders links each sortable column to the list sorted by
// it, keeping the filters and starting from the first page (see
// columnSortHeader).
func verificationSortHeaders(q verificationListQuery) templates.VerificationSort {
	return templates.VerificationSort{
		Created: columnSortHeader("/verifications", q.values(), q.Sort, verifications.DefaultSort, services.Sort{Key: "created"}),
		Updated: columnSortHeader("/verifications", q.values(), q.Sort, verifications.DefaultSort, services.Sort{Key: "updated"}),
	}
}

func (s *Server) verificationsExport(c *gin.Context) {
	var q verificationListQuery
	if err := c.ShouldBindQuery(&q); err != nil {
		s.badRequest(c, "The filter could not be read. Clear the filters and try again.")
		return
	}
	s.streamCSV(c, "verifications.csv", func() error { return verifications.ValidateFilter(q.exportFilter()) },
		func(w io.Writer) error {
			return s.deps.Verifications.ExportCSV(c.Request.Context(), q.exportFilter(), w)
		})
}

// loadVerification reads the verification of the request's :id, with its
// audit trail for the page or without it (live) for the status fragment.
func (s *Server) loadVerification(c *gin.Context, live bool) (verifications.Detail, bool) {
	id, ok := s.idParam(c)
	if !ok {
		return verifications.Detail{}, false
	}
	get := s.deps.Verifications.GetDetail
	if live {
		get = s.deps.Verifications.GetLive
	}
	d, err := get(c.Request.Context(), id)
	if errors.Is(err, models.ErrNotFound) {
		s.notFound(c)
		return d, false
	}
	if err != nil {
		s.serverError(c, err)
		return d, false
	}
	return d, true
}

func (s *Server) verificationDetailView(c *gin.Context, d verifications.Detail, forms caseForms) templates.VerificationDetail {
	view := templates.VerificationDetail{
		Verification: verificationView(d.Verification), Timeline: verificationTimeline(d.Verification.Provider, d.Events),
		RawJSON:    prettyJSON(d.Verification.LastUpstreamJSON),
		CanRefresh: s.can(c, http.MethodPost, "/verifications/:id/refresh"),
	}
	for _, f := range d.Identity {
		view.Identity = append(view.Identity, templates.IdentityLine{Label: f.Label, Value: f.Value})
	}
	switch mayView := s.can(c, http.MethodGet, "/verifications/:id/images/:kind"); {
	case mayView && !s.recentlyProved(c):
		// The image route would send an <img> to the reauth page: offer the
		// step instead of broken images.
		view.ImagesNeedReauth = len(d.Images) > 0
	case mayView:
		view.Images = d.Images
	default:
		view.ImagesHidden = len(d.Images) > 0
	}
	var legacy *firstDecision
	if d.Review != nil {
		legacy = &firstDecision{decision: string(d.Review.Decision), reason: d.Review.Reason, note: d.Review.Note, by: d.Review.ReviewerEmail, at: d.Review.DecidedAt}
	}
	fourEyes := ""
	if d.Verification.ReviewReason != "" {
		fourEyes = "The provider's own review gave a reason (" + d.Verification.ReviewReason + "): any decision needs a second officer."
	}
	view.Case = s.caseView(c, s.verificationCases(), d.Verification.ID, d.Verification.State.Reviewable(), d.Verification.CompletedAt, legacy, fourEyes, forms)
	for _, e := range d.Audit {
		view.Audit = append(view.Audit, templates.AuditEventView{ID: e.ID, At: e.At, Actor: e.ActorEmail, Action: e.Action, Details: e.Details})
	}
	return view
}

func (s *Server) verificationShow(c *gin.Context) {
	s.renderVerificationPage(c, http.StatusOK, caseForms{})
}

func (s *Server) renderVerificationPage(c *gin.Context, status int, forms caseForms) {
	d, ok := s.loadVerification(c, false)
	if !ok {
		return
	}
	title := "Verification #" + strconv.FormatUint(uint64(d.Verification.ID), 10)
	view := s.verificationDetailView(c, d, forms)
	if !view.Verification.Final && !s.withStatusVersion(c, verificationStatusFragment(view)) {
		return
	}
	s.render(c, status, templates.VerificationPage(s.page(c, title), view))
}

// verificationStatusFragment is what a verification's status poll
// answers: the status and, out of band, the link, the identity data, the
// review and the timeline.
func verificationStatusFragment(view templates.VerificationDetail) templ.Component {
	return templates.Join(templates.VerificationStatus(view.Verification),
		templates.VerificationLinkSection(view, true), templates.VerificationDetails(view, true),
		templates.VerificationIdentity(view, true), templates.VerificationReviewSection(view, true),
		templates.TimelineSection("verification-timeline-"+strconv.FormatUint(uint64(view.Verification.ID), 10), view.Timeline, true))
}

// verificationStatus is the fragment the detail page polls; it reads only
// our database. The identity data, review form and timeline ride along out
// of band, so the page follows a change without a reload.
func (s *Server) verificationStatus(c *gin.Context) {
	d, ok := s.loadVerification(c, true)
	if !ok {
		return
	}
	s.renderStatus(c, verificationStatusFragment(s.verificationDetailView(c, d, caseForms{})))
}

func (s *Server) verificationRefresh(c *gin.Context) {
	id, ok := s.idParam(c)
	if !ok {
		return
	}
	_, err := s.deps.Verifications.Refresh(c.Request.Context(), s.actor(c), id)
	var upstream *verifications.UpstreamError
	switch {
	case errors.Is(err, models.ErrNotFound):
		s.notFound(c)
		return
	case errors.Is(err, verifications.ErrNotOpen):
		s.flash(c, "info", "There is nothing to fetch: the provider never created this verification.")
	case errors.As(err, &upstream):
		s.flash(c, "error", upstream.Message)
	case err != nil:
		s.serverError(c, err)
		return
	default:
		s.flash(c, "success", "Fetched from the provider.")
	}
	s.redirect(c, "/verifications/"+strconv.FormatUint(uint64(id), 10))
}

func (s *Server) verificationImage(c *gin.Context) {
	id, ok := s.idParam(c)
	if !ok {
		return
	}
	ct, data, err := s.deps.Verifications.Image(c.Request.Context(), s.actor(c), id, c.Param("kind"))
	if errors.Is(err, verifications.ErrNoImage) {
		s.notFound(c)
		return
	}
	if err != nil {
		s.serverError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Header("Content-Disposition", "inline")
	c.Data(http.StatusOK, ct, data)
}

// pawaPassWebhook answers pawaPass: 401 for a bad signature (nothing
// stored), 400 for a body that is not a notification, 200 once stored.
func (s *Server) pawaPassWebhook(c *gin.Context) {
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, verifications.MaxWebhookBody+1))
	if err != nil {
		c.String(http.StatusBadRequest, "unreadable body")
		return
	}
	err = s.deps.Verifications.ReceivePawaPass(c.Request.Context(), body, c.Request.Header)
	s.webhookAnswer(c, "pawapass webhook", err)
}

// passportReaderCallback answers PassportReader: 404 for a wrong path
// secret or a reference that is not ours, 200 once stored.
func (s *Server) passportReaderCallback(c *gin.Context) {
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, verifications.MaxWebhookBody+1))
	if err != nil {
		c.String(http.StatusBadRequest, "unreadable body")
		return
	}
	err = s.deps.Verifications.ReceivePassportReader(c.Request.Context(), c.Param("secret"), body, c.Request.Header)
	s.webhookAnswer(c, "passportreader callback", err)
}

func (s *Server) webhookAnswer(c *gin.Context, what string, err error) {
	switch {
	case err == nil:
		c.String(http.StatusOK, "ok")
	case errors.Is(err, verifications.ErrBadSignature):
		c.String(http.StatusUnauthorized, "bad signature")
	case errors.Is(err, verifications.ErrUnknownSecret), errors.Is(err, verifications.ErrUnknownReference):
		c.String(http.StatusNotFound, "not found")
	case errors.Is(err, verifications.ErrBadWebhook):
		c.String(http.StatusBadRequest, "unreadable notification")
	case errors.Is(err, verifications.ErrWebhookTooLarge):
		c.String(http.StatusRequestEntityTooLarge, "too large")
	default:
		s.logFailure(c, what, err)
		c.String(http.StatusInternalServerError, "try again")
	}
}

// kycLanding is where pawaPass sends the customer when they finish (the
// default successUrl, errorUrl and supportUrl): a plain public page.
func (s *Server) kycLanding(c *gin.Context) {
	var title, msg string
	switch c.Param("outcome") {
	case "done":
		title, msg = "Thank you", "Your verification has been submitted. You can close this window."
	case "error":
		title, msg = "Verification not completed", "Your verification could not be completed. Please contact us so we can help."
	case "help":
		title, msg = "Need help?", "Please contact our support team and tell them you were verifying your identity."
	default:
		s.notFound(c)
		return
	}
	s.render(c, http.StatusOK, templates.KYCLandingPage(s.page(c, title), title, msg))
}
