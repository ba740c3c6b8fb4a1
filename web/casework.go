package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"portal/models"
	"portal/services"
	"portal/services/casework"
	"portal/templates"
)

// caseArea is one review queue's web side: documents or verifications.
type caseArea struct {
	kind   models.CaseKind
	record string // "document"
	tab    string // "documents": the queue tab and the record URLs
	// rerender shows the record's page again with a form's errors.
	rerender func(c *gin.Context, forms caseForms)
}

// caseForms are the casework forms of a record page, as typed.
type caseForms struct {
	Decision, Second templates.CaseForm
	AssignError      string
}

func (a caseArea) base(id uint) string { return "/" + a.tab + "/" + strconv.FormatUint(uint64(id), 10) }
func (a caseArea) queue() string       { return "/reviews/" + a.tab }

func (s *Server) documentCases() caseArea {
	return caseArea{kind: models.CaseDocument, record: "document", tab: "documents",
		rerender: func(c *gin.Context, f caseForms) {
			s.renderDocumentPage(c, http.StatusUnprocessableEntity, documentForms{Case: f})
		}}
}

func (s *Server) verificationCases() caseArea {
	return caseArea{kind: models.CaseVerification, record: "verification", tab: "verifications",
		rerender: func(c *gin.Context, f caseForms) {
			s.renderVerificationPage(c, http.StatusUnprocessableEntity, f)
		}}
}

const reviewQueueSize = 100

// caseQueue is a review queue page: waiting cases (everyone's, mine,
// unassigned) or decisions awaiting a second review, in the order its
// sortable heading chose.
func (s *Server) caseQueue(a caseArea) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, viewer := c.Request.Context(), s.actor(c)
		tab, who, sort := "waiting", casework.ParseWho(c.Query("who")), c.Query("sort")
		var q casework.Queue
		var err error
		if c.Query("tab") == "second" {
			tab = "second"
			q, err = s.deps.Casework.AwaitingSecondSorted(ctx, a.kind, sort, reviewQueueSize)
		} else {
			q, err = s.deps.Casework.WaitingSorted(ctx, a.kind, who, viewer.ID, sort, reviewQueueSize)
		}
		view := templates.CaseQueue{Kind: a.tab, Column: capitalize(a.record), Path: a.queue(), Tab: tab, Who: string(who), Sort: sort,
			SLA: s.deps.Casework.SLA(), CanTake: tab == "waiting" && s.can(c, http.MethodPost, a.queue()+"/next")}
		title := capitalize(a.tab) + " to review"
		if fe, ok := services.AsFieldErrors(err); ok {
			view.Error = fe["sort"]
			s.render(c, http.StatusUnprocessableEntity, templates.CaseQueuePage(s.page(c, title), view))
			return
		}
		if err != nil {
			s.serverError(c, err)
			return
		}
		view.Headers = caseQueueHeaders(view, q.Sort)
		now := s.deps.Casework.Now()
		if len(q.Items) > 0 {
			view.Oldest, view.OldestLate = now.Sub(q.OldestSince), s.deps.Casework.IsLate(q.OldestSince, now)
		}
		for _, it := range q.Items {
			row := templates.CaseQueueRow{Href: a.base(it.RecordID), Label: capitalize(a.record) + " #" + strconv.FormatUint(uint64(it.RecordID), 10),
				Title: it.Title, QueuedAt: it.QueuedAt, Wait: now.Sub(it.QueuedAt), Late: s.deps.Casework.IsLate(it.QueuedAt, now)}
			if cs := it.Case; cs != nil {
				row.Assignee, row.Mine = cs.AssigneeEmail, cs.AssigneeID != nil && *cs.AssigneeID == viewer.ID
				if cs.AssignedAt != nil {
					row.AssignedAt = *cs.AssignedAt
				}
				row.Decision, row.Reason, row.DecidedBy = string(cs.Decision), casework.ReasonLabel(a.kind, cs.Reason), cs.DecidedByEmail
				if cs.DecidedAt != nil {
					row.DecidedAt = *cs.DecidedAt
				}
			}
			view.Rows = append(view.Rows, row)
		}
		s.render(c, http.StatusOK, templates.CaseQueuePage(s.page(c, title), view))
	}
}

// caseQueueHeaders links the queue's sortable heading to the queue sorted
// the other way round, keeping the tab and whose cases: the waiting tab
// by how long cases have waited, the second-review tab by when the first
// decision was made.
func caseQueueHeaders(q templates.CaseQueue, current services.Sort) templates.CaseQueueSort {
	h := templates.SortHeader{State: "descending"}
	if current.Asc {
		h.State = "ascending"
	}
	other := services.Sort{Key: current.Key, Asc: !current.Asc}
	h.Href = q.Link(q.Tab, q.Who, other.String())
	if q.Tab == "second" {
		return templates.CaseQueueSort{Decided: h}
	}
	return templates.CaseQueueSort{Wait: h}
}

// caseTakeNext gives the viewer the oldest free case and opens it.
func (s *Server) caseTakeNext(a caseArea) gin.HandlerFunc {
	return func(c *gin.Context) { s.takeNext(c, a) }
}

func (s *Server) takeNext(c *gin.Context, a caseArea) {
	id, err := s.deps.Casework.TakeNext(c.Request.Context(), a.kind, s.actor(c))
	if errors.Is(err, casework.ErrNothingToTake) {
		s.flash(c, "info", "No unassigned "+a.record+" is waiting: the queue is clear.")
		s.redirect(c, a.queue())
		return
	}
	if err != nil {
		s.serverError(c, err)
		return
	}
	s.redirect(c, a.base(id)+"#review")
}

type caseDecisionForm struct {
	Decision string `form:"decision"`
	Reason   string `form:"reason"`
	Note     string `form:"note"`
	Then     string `form:"then"`
}

// caseDecide records the first decision; with then=next it goes on to the
// next free case.
func (s *Server) caseDecide(a caseArea) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := s.idParam(c)
		if !ok {
			return
		}
		f, ok := bindForm[caseDecisionForm](s, c)
		if !ok {
			return
		}
		out, err := s.deps.Casework.Decide(c.Request.Context(), a.kind, s.actor(c), id, f.Decision, f.Reason, f.Note)
		if fe, ok := services.AsFieldErrors(err); ok {
			a.rerender(c, caseForms{Decision: templates.CaseForm{Decision: f.Decision, Reason: f.Reason, Note: f.Note, Errors: fieldErrors(fe)}})
			return
		}
		if !s.caseOutcome(c, a, id, err) {
			return
		}
		msg := "Decision recorded."
		if out.SecondReview {
			msg = "Decision recorded; it waits for a second compliance officer to confirm it."
		}
		s.flash(c, "success", msg)
		if f.Then == "next" {
			s.takeNext(c, a)
			return
		}
		s.redirect(c, a.base(id)+"#review")
	}
}

// caseOutcome answers the errors every casework step can run into; true
// means err was nil and the handler goes on.
func (s *Server) caseOutcome(c *gin.Context, a caseArea, id uint, err error) bool {
	var assigned *casework.AssignedError
	var forbidden *services.ErrForbidden
	switch {
	case err == nil:
		return true
	case errors.Is(err, models.ErrNotFound):
		s.notFound(c)
		return false
	case errors.As(err, &assigned):
		s.flash(c, "error", fmt.Sprintf("%s has this case (since %s UTC): ask them or an admin to release it.",
			assigned.Email, assigned.Since.UTC().Format("2 Jan 15:04")))
	case errors.As(err, &forbidden):
		s.renderError(c, http.StatusForbidden, "Not yours to do", forbidden.Reason)
		return false
	case errors.Is(err, casework.ErrAlreadyDecided):
		s.flash(c, "info", "Someone already recorded a decision on this "+a.record+"; it is shown below.")
	case errors.Is(err, casework.ErrNotReviewable):
		s.flash(c, "error", "This "+a.record+" cannot be reviewed: the provider has not finished with it.")
	case errors.Is(err, casework.ErrNotAwaitingSecond):
		s.flash(c, "info", "This decision no longer waits for a second review; what happened is shown below.")
	default:
		s.serverError(c, err)
		return false
	}
	s.redirect(c, a.base(id)+"#review")
	return false
}

type secondReviewForm struct {
	Outcome string `form:"outcome"`
	Reason  string `form:"reason"`
	Note    string `form:"note"`
}

func (s *Server) caseSecondReview(a caseArea) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := s.idParam(c)
		if !ok {
			return
		}
		f, ok := bindForm[secondReviewForm](s, c)
		if !ok {
			return
		}
		err := s.deps.Casework.SecondReview(c.Request.Context(), a.kind, s.actor(c), id, f.Outcome, f.Reason, f.Note)
		if fe, ok := services.AsFieldErrors(err); ok {
			a.rerender(c, caseForms{Second: templates.CaseForm{Decision: f.Outcome, Reason: f.Reason, Note: f.Note, Errors: fieldErrors(fe)}})
			return
		}
		if !s.caseOutcome(c, a, id, err) {
			return
		}
		s.flash(c, "success", "Second review recorded; the case is closed.")
		s.redirect(c, a.queue()+"?tab=second")
	}
}

func (s *Server) caseRelease(a caseArea) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := s.idParam(c)
		if !ok {
			return
		}
		actor := s.actor(c)
		err := s.deps.Casework.Release(c.Request.Context(), a.kind, actor, id, actor.Role == models.RoleAdmin)
		if !s.caseOutcome(c, a, id, err) {
			return
		}
		s.flash(c, "success", "Released: the case is back in the queue.")
		s.redirect(c, a.base(id)+"#review")
	}
}

type assignForm struct {
	AssigneeID string `form:"assignee_id"`
}

func (s *Server) caseAssign(a caseArea) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := s.idParam(c)
		if !ok {
			return
		}
		f, ok := bindForm[assignForm](s, c)
		if !ok {
			return
		}
		to, _ := strconv.ParseUint(f.AssigneeID, 10, 32)
		err := s.deps.Casework.Assign(c.Request.Context(), a.kind, s.actor(c), id, uint(to))
		if fe, ok := services.AsFieldErrors(err); ok {
			a.rerender(c, caseForms{AssignError: fe["assignee_id"]})
			return
		}
		if !s.caseOutcome(c, a, id, err) {
			return
		}
		s.flash(c, "success", "Case assigned.")
		s.redirect(c, a.base(id)+"#review")
	}
}

// firstDecision is a record's own decision row, shown for a record decided
// before casework kept cases (it has no case).
type firstDecision struct {
	decision, reason, note, by string
	at                         time.Time
}

// caseView is the record page's casework section.
// fourEyes, when set, says why any decision on the record needs a second
// officer.
func (s *Server) caseView(c *gin.Context, a caseArea, id uint, reviewable bool, queuedAt *time.Time, legacy *firstDecision, fourEyes string, forms caseForms) templates.CaseView {
	viewer := s.actor(c)
	now := s.deps.Casework.Now()
	v := templates.CaseView{Base: a.base(id), Record: a.record, Reviewable: reviewable, Now: now, Form: forms.Decision,
		SecondForm: forms.Second, AssignError: forms.AssignError,
		WaitingText: "A " + a.record + " can be reviewed once the provider has finished with it."}
	if queuedAt != nil {
		v.QueuedAt = *queuedAt
	}
	v.Reasons = reasonOptions(a.kind, "Choose…")
	// A case is made only once the record is reviewable: the status
	// fragment of a record still with its provider skips the read.
	var cs models.ReviewCase
	var found bool
	if reviewable {
		var err error
		if cs, found, err = s.deps.Casework.Case(c.Request.Context(), a.kind, id); err != nil {
			s.logFailure(c, "load review case", err)
		}
	}
	mayReview := s.can(c, http.MethodPost, "/"+a.tab+"/:id/review")
	if found {
		v.Stage = string(cs.Stage)
		v.QueuedAt = cs.QueuedAt
		if cs.AssigneeID != nil {
			v.Assignee, v.Mine = cs.AssigneeEmail, *cs.AssigneeID == viewer.ID
		}
		if cs.AssignedAt != nil {
			v.AssignedAt = *cs.AssignedAt
		}
		if cs.DecidedAt != nil {
			v.First = &templates.CaseDecision{Decision: string(cs.Decision), Reason: casework.ReasonLabel(a.kind, cs.Reason), Note: cs.Note, By: cs.DecidedByEmail, At: *cs.DecidedAt}
			v.OwnDecision = cs.DecidedByID != nil && *cs.DecidedByID == viewer.ID
		}
		if cs.SecondAt != nil {
			v.Second = &templates.CaseDecision{Decision: string(cs.SecondOutcome), Note: cs.SecondNote, By: cs.SecondByEmail, At: *cs.SecondAt}
		}
	} else if legacy != nil {
		v.Stage = string(models.CaseClosed)
		v.First = &templates.CaseDecision{Decision: legacy.decision, Reason: casework.ReasonLabel(a.kind, legacy.reason), Note: legacy.note, By: legacy.by, At: legacy.at}
	}
	open := v.First == nil && (v.Stage == "" || v.Stage == string(models.CaseOpen))
	v.Late = v.Stage != string(models.CaseClosed) && reviewable && s.deps.Casework.IsLate(v.QueuedAt, now)
	v.CanDecide = mayReview && reviewable && open && (v.Assignee == "" || v.Mine)
	v.CanRelease = mayReview && open && v.Assignee != "" && (v.Mine || viewer.Role == models.RoleAdmin)
	v.CanConfirm = mayReview && v.Stage == string(models.CaseSecondReview) && !v.OwnDecision
	v.CanAssign = reviewable && open && s.can(c, http.MethodPost, "/"+a.tab+"/:id/assign")
	v.HighRiskNotes = fourEyes
	if v.CanAssign {
		v.Assignees = s.reviewerOptions(c)
	}
	return v
}

// reasonFilterOptions is the lists' reason filter.
func reasonFilterOptions(k models.CaseKind) []templates.Option { return reasonOptions(k, "Any reason") }

// reasonOptions are kind k's reasons for a select, after none (first).
func reasonOptions(k models.CaseKind, first string) []templates.Option {
	opts := []templates.Option{{Value: "", Label: first}}
	for _, r := range casework.Reasons(k) {
		opts = append(opts, templates.Option{Value: r.Code, Label: r.Label})
	}
	return opts
}

// reviewerOptions lists who an admin can give a case to.
func (s *Server) reviewerOptions(c *gin.Context) []templates.Option {
	users, err := s.deps.Accounts.List(c.Request.Context())
	if err != nil {
		s.logFailure(c, "list reviewers", err)
		return nil
	}
	opts := []templates.Option{{Value: "", Label: "Choose…"}}
	for _, u := range users {
		if !u.Disabled && (u.Role == models.RoleCompliance || u.Role == models.RoleAdmin) {
			opts = append(opts, templates.Option{Value: strconv.FormatUint(uint64(u.ID), 10), Label: u.Name + " (" + u.Email + ")"})
		}
	}
	return opts
}

func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
