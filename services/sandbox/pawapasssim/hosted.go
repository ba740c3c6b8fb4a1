package pawapasssim

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The hosted verification page: pawaPass's https://app.pawapass.com/
// <company>/<id>, where the person verifies. The simulator's page walks
// through the steps the requirements ask for (start, scan the identity
// document, scan the face, submit) and, in a panel labelled as pawaPass's
// own reviewer, lets a sandbox user approve or decline. Once done it links
// to successUrl or errorUrl, and always to supportUrl, as plain links: it
// never redirects by itself. It is plain server-rendered HTML with forms
// posting back to the page, no script, a stylesheet from the simulator
// itself and its own strict CSP, since it is served inside the portal in
// sandbox mode. [ours: the whole page]

// hostedCSP is the page's Content-Security-Policy: nothing but its own
// stylesheet and forms posting back to itself.
const hostedCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// maxForm bounds a hosted page form body.
const maxForm = 8 << 10

// Steps: the form field "step" of the page's forms, and ?done= after one
// succeeded.
const (
	stepStart    = "start"
	stepDocument = "document"
	stepFace     = "face"
	stepSubmit   = "submit"
	stepApprove  = "approve"
	stepDecline  = "decline"
)

var doneMessages = map[string]string{
	stepStart:    "Verification started.",
	stepDocument: "Identity document scanned.",
	stepFace:     "Face scanned.",
	stepSubmit:   "Submitted: pawaPass is reviewing the verification.",
	stepApprove:  "Approved as pawaPass's reviewer.",
	stepDecline:  "Declined as pawaPass's reviewer.",
}

var statusTexts = map[string]string{
	StatusCreated:           "Not started yet.",
	StatusStarted:           "In progress: complete the steps below.",
	StatusUserDataCollected: "Submitted: waiting for pawaPass's review.",
	StatusReview:            "In review by pawaPass.",
	StatusApproved:          "Approved: the identity is verified.",
	StatusDeclined:          "Declined.",
	StatusExpired:           "Expired: this verification link can no longer be used.",
}

// docForm is the identity document form's values.
type docForm struct {
	Type, FirstName, LastName, DateOfBirth, SerialNo, NationalNo string
}

func (f docForm) document() IdentityDocument {
	return IdentityDocument{
		Type: f.Type, FirstName: f.FirstName, LastName: f.LastName,
		DateOfBirth: f.DateOfBirth, SerialNo: f.SerialNo, NationalNo: f.NationalNo,
	}
}

func docFormOf(d IdentityDocument) docForm {
	return docForm{d.Type, d.FirstName, d.LastName, d.DateOfBirth, d.SerialNo, d.NationalNo}
}

func docFormFrom(v url.Values) docForm {
	g := func(k string) string { return strings.TrimSpace(v.Get(k)) }
	return docForm{g("type"), g("firstName"), g("lastName"), g("dateOfBirth"), g("serialNo"), g("nationalNo")}
}

type hostedPage struct {
	Problem     bool // an error page without a verification
	Heading     string
	Message     string
	MessageKind string // "ok" or "error"
	StyleURL    string
	ActionURL   string

	ID         string
	Status     string
	StatusText string
	Reason     string // reviewResult.reason once declined
	Expires    string
	Reverifies string // previousVerificationId

	CanStart     bool
	Started      bool
	Submitted    bool // the person's part is done
	Active       bool // STARTED: the person's steps are open
	NeedDocument bool
	NeedFace     bool
	Document     *docSummary
	DocForm      docForm
	Face         string // age estimation once scanned
	FaceForm     string // the age estimation the form proposes
	CanSubmit    bool
	Reviewer     bool

	DocTypes []string
	Ages     []string
	Reasons  []string

	SuccessURL, ErrorURL, SupportURL string
}

type docSummary struct {
	Type, Name, DateOfBirth, Country, SerialNo, NationalNo, Expiry string
}

var hostedTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{.Heading}} · pawaPass sandbox</title>
<link rel="stylesheet" href="{{.StyleURL}}">
</head>
<body>
<main>
<p class="brand">pawaPass <span>sandbox verification</span></p>
<h1>{{.Heading}}</h1>
{{if .Message}}<p class="notice {{.MessageKind}}" role="{{if eq .MessageKind "error"}}alert{{else}}status{{end}}">{{.Message}}</p>{{end}}
{{if not .Problem}}
<p class="state state-{{.Status}}">{{.StatusText}}{{if .Reason}} Reason: <code>{{.Reason}}</code>.{{end}}</p>
<dl>
<dt>Verification</dt><dd><code>{{.ID}}</code></dd>
<dt>Status</dt><dd><code>{{.Status}}</code></dd>
<dt>Expires</dt><dd>{{.Expires}}</dd>
{{if .Reverifies}}<dt>Re-verification of</dt><dd><code>{{.Reverifies}}</code>: only the face is scanned</dd>{{end}}
</dl>
<ol class="steps">
<li><h2>Start</h2>
{{if .CanStart}}<form method="post" action="{{.ActionURL}}"><input type="hidden" name="step" value="start"><button type="submit" class="primary">Start verification</button></form>
{{else if .Started}}<p class="done">Started.</p>{{else}}<p class="muted">Not started.</p>{{end}}
</li>
{{if .NeedDocument}}<li><h2>Identity document</h2>
{{with .Document}}<dl class="summary">
<dt>Type</dt><dd>{{.Type}}</dd><dt>Name</dt><dd>{{.Name}}</dd><dt>Date of birth</dt><dd>{{.DateOfBirth}}</dd>
<dt>Country</dt><dd>{{.Country}}</dd><dt>Document number</dt><dd>{{.SerialNo}}</dd><dt>National number</dt><dd>{{.NationalNo}}</dd><dt>Expires</dt><dd>{{.Expiry}}</dd>
</dl>{{end}}
{{if .Active}}<form method="post" action="{{.ActionURL}}" class="fields">
<input type="hidden" name="step" value="document">
<label>Document type <select name="type">{{range .DocTypes}}<option value="{{.}}"{{if eq . $.DocForm.Type}} selected{{end}}>{{.}}</option>{{end}}</select></label>
<label>First name <input type="text" name="firstName" value="{{.DocForm.FirstName}}" required maxlength="100"></label>
<label>Last name <input type="text" name="lastName" value="{{.DocForm.LastName}}" required maxlength="100"></label>
<label>Date of birth <input type="date" name="dateOfBirth" value="{{.DocForm.DateOfBirth}}" required></label>
<label>Document number <input type="text" name="serialNo" value="{{.DocForm.SerialNo}}" required maxlength="40"></label>
<label>National number <input type="text" name="nationalNo" value="{{.DocForm.NationalNo}}" required maxlength="40"></label>
<button type="submit"{{if not .Document}} class="primary"{{end}}>{{if .Document}}Scan identity document again{{else}}Scan identity document{{end}}</button>
</form>{{else if not .Document}}<p class="muted">{{if .Started}}Not scanned.{{else}}Start first.{{end}}</p>{{end}}
</li>{{end}}
{{if .NeedFace}}<li><h2>Face</h2>
{{if .Face}}<p class="done">Face scanned. Age estimation: <code>{{.Face}}</code>.</p>{{end}}
{{if .Active}}<form method="post" action="{{.ActionURL}}" class="fields">
<input type="hidden" name="step" value="face">
<label>Age the camera estimates <select name="ageEstimation">{{range .Ages}}<option value="{{.}}"{{if eq . $.FaceForm}} selected{{end}}>{{.}}</option>{{end}}</select></label>
<button type="submit"{{if not .Face}} class="primary"{{end}}>{{if .Face}}Scan face again{{else}}Scan face{{end}}</button>
</form>{{else if not .Face}}<p class="muted">{{if .Started}}Not scanned.{{else}}Start first.{{end}}</p>{{end}}
</li>{{end}}
<li><h2>Submit</h2>
{{if .CanSubmit}}<form method="post" action="{{.ActionURL}}"><input type="hidden" name="step" value="submit"><button type="submit" class="primary">Submit</button></form>
{{else if .Submitted}}<p class="done">Submitted.</p>{{else if .Active}}<p class="muted">Finish the steps above first.</p>{{else if .Started}}<p class="muted">Not submitted.</p>{{else}}<p class="muted">Start first.</p>{{end}}
</li>
</ol>
{{if .Reviewer}}<section class="reviewer">
<h2>pawaPass reviewer <span>sandbox only</span></h2>
<p>The person's part is done. These buttons stand in for pawaPass's own reviewer; the person never sees them.</p>
<form method="post" action="{{.ActionURL}}"><input type="hidden" name="step" value="approve"><button type="submit" class="primary">Approve</button></form>
<form method="post" action="{{.ActionURL}}"><input type="hidden" name="step" value="decline"><label>Reason <select name="reason">{{range .Reasons}}<option value="{{.}}">{{.}}</option>{{end}}</select></label> <button type="submit" class="danger">Decline</button></form>
</section>{{end}}
<p class="links">
{{if .SuccessURL}}<a class="button" href="{{.SuccessURL}}" rel="noopener noreferrer">Continue</a>{{end}}
{{if .ErrorURL}}<a class="button" href="{{.ErrorURL}}" rel="noopener noreferrer">Continue</a>{{end}}
<a href="{{.SupportURL}}" rel="noopener noreferrer">Get help</a>
</p>
{{end}}
<p class="foot">This page belongs to the portal's pawaPass simulator: it stands in for the verification a person completes on pawaPass. Nothing is scanned; the values are made up.</p>
</main>
</body>
</html>
`))

const hostedStyle = `body{margin:0;font:16px/1.5 system-ui,sans-serif;color:#1c2430;background:#f3f5f2}
main{max-width:44rem;margin:2rem auto;padding:1.5rem 2rem;background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
.brand{font-weight:700;color:#1f7a3a;margin:0}.brand span{font-weight:400;color:#5b6675}
h1{margin:.5rem 0 1rem;font-size:1.6rem}h2{font-size:1.1rem;margin:0 0 .5rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}dt{color:#5b6675}dd{margin:0;overflow-wrap:anywhere}
.steps{padding-left:1.25rem}.steps li{margin:1rem 0;padding-bottom:1rem;border-bottom:1px solid #e3e7ee}
.fields label{display:block;margin:.4rem 0}.fields input,.fields select{display:block;font:inherit;padding:.3rem;width:100%;max-width:22rem}
form{margin:.5rem 0}select,input{font:inherit}
button,.button{display:inline-block;font:inherit;padding:.35rem .9rem;border:1px solid #1f7a3a;border-radius:4px;background:#fff;color:#1f7a3a;cursor:pointer;text-decoration:none}
button.primary,.button{background:#1f7a3a;color:#fff}button.danger{border-color:#b3261e;color:#b3261e}
.notice{padding:.5rem .75rem;border-radius:4px}.notice.ok{background:#e6f4ea}.notice.error{background:#fdecea}
.state{font-weight:600}.done{color:#1f7a3a}.muted{color:#5b6675}
.reviewer{margin-top:1.5rem;padding:1rem;border:2px dashed #b06d00;border-radius:6px;background:#fff8e6}
.reviewer h2 span{font-size:.8rem;font-weight:400;color:#b06d00;text-transform:uppercase;margin-left:.5rem}
.links{margin-top:1.5rem;display:flex;gap:1rem;align-items:center}.foot{margin-top:2rem;color:#5b6675;font-size:.85rem}
`

func (s *Sim) handleStyle(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write([]byte(hostedStyle))
}

// handleHostedPage is GET /app/{company}/{id}.
func (s *Sim) handleHostedPage(w http.ResponseWriter, r *http.Request) {
	msg := doneMessages[r.URL.Query().Get("done")]
	s.renderVerification(w, r, http.StatusOK, msg, "ok", nil)
}

// handleHostedPost is POST /app/{company}/{id} with the form field step.
// Success redirects (303) back to the page; a refused step shows the page
// again with the reason (400 for bad input, 409 for the wrong state),
// keeping what was typed.
func (s *Sim) handleHostedPost(w http.ResponseWriter, r *http.Request) {
	company, id := r.PathValue("company"), r.PathValue("id")
	if company != CompanySlug {
		s.renderNotFound(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		s.renderProblem(w, r, http.StatusBadRequest, "Bad form", "The form could not be read.")
		return
	}
	step := r.PostForm.Get("step")
	var (
		err  error
		form *docForm
		ctx  = r.Context()
	)
	switch step {
	case stepStart:
		err = s.act(ctx, id, s.start)
	case stepDocument:
		f := docFormFrom(r.PostForm)
		form = &f
		err = s.act(ctx, id, func(v *verification, now time.Time) error { return s.setDocument(v, f.document(), now) })
	case stepFace:
		age := r.PostForm.Get("ageEstimation")
		err = s.act(ctx, id, func(v *verification, now time.Time) error { return s.setFace(v, age, now) })
	case stepSubmit:
		err = s.act(ctx, id, s.submitAndReview)
	case stepApprove:
		err = s.approve(ctx, id)
	case stepDecline:
		err = s.decline(ctx, id, r.PostForm.Get("reason"))
	default:
		s.renderVerification(w, r, http.StatusBadRequest, "Unknown step: use the buttons on this page.", "error", nil)
		return
	}
	switch {
	case errors.Is(err, ErrNotFound):
		s.renderNotFound(w, r)
	case errors.Is(err, ErrBadInput):
		s.renderVerification(w, r, http.StatusBadRequest, "Check the form: "+detail(err, ErrBadInput), "error", form)
	case isRefusal(err):
		s.renderVerification(w, r, http.StatusConflict, refusal(err), "error", nil)
	case err != nil:
		s.pageFailed(w, r, err)
	default:
		w.Header().Set("Location", mountPath(r)+PathApp+company+"/"+id+"?done="+step)
		w.WriteHeader(http.StatusSeeOther)
	}
}

// detail is what err adds to the sentinel it wraps, for messages meant
// for a person.
func detail(err, sentinel error) string {
	msg := err.Error()
	if _, rest, ok := strings.Cut(msg, sentinel.Error()+": "); ok {
		return rest
	}
	return msg
}

// isRefusal reports whether err is the simulator saying no, as opposed to
// its store failing.
func isRefusal(err error) bool {
	return errors.Is(err, ErrIncomplete) || errors.Is(err, ErrNotRequired) || errors.Is(err, ErrWrongState)
}

func refusal(err error) string {
	switch {
	case errors.Is(err, ErrIncomplete):
		return "Finish every step before submitting."
	case errors.Is(err, ErrNotRequired):
		return "This verification does not ask for that step."
	case errors.Is(err, ErrWrongState):
		return "That step is not possible any more: the page was out of date. Here is the current state."
	}
	return "That did not work: " + err.Error()
}

func setPageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", hostedCSP)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}

func (s *Sim) render(w http.ResponseWriter, code int, p hostedPage) {
	var buf bytes.Buffer
	if err := hostedTmpl.Execute(&buf, p); err != nil { // cannot happen with this template
		http.Error(w, "pawapasssim: cannot render the page", http.StatusInternalServerError)
		return
	}
	setPageHeaders(w)
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

func (s *Sim) renderProblem(w http.ResponseWriter, r *http.Request, code int, heading, msg string) {
	s.render(w, code, hostedPage{Problem: true, Heading: heading, Message: msg, MessageKind: "error", StyleURL: mountPath(r) + pathStyle})
}

// pageFailed shows a 500 page after a store failure, which is logged.
func (s *Sim) pageFailed(w http.ResponseWriter, r *http.Request, err error) {
	s.logger.Error("pawapasssim: store failed", "while", "serving the hosted page", "error", err)
	s.renderProblem(w, r, http.StatusInternalServerError, "Something went wrong", "The verification could not be read or saved. Try again.")
}

func (s *Sim) renderNotFound(w http.ResponseWriter, r *http.Request) {
	s.renderProblem(w, r, http.StatusNotFound, "Verification not found", "There is no verification at this address.")
}

// renderVerification shows the page of the request's verification. form,
// when not nil, is what the person typed into the document form.
func (s *Sim) renderVerification(w http.ResponseWriter, r *http.Request, code int, msg, kind string, form *docForm) {
	company, id := r.PathValue("company"), r.PathValue("id")
	var v *verification
	err := s.update(r.Context(), func(t *txn) error {
		var err error
		v, err = s.load(t, id)
		return err
	})
	if err != nil {
		s.pageFailed(w, r, err)
		return
	}
	if v == nil || company != CompanySlug {
		s.renderNotFound(w, r)
		return
	}
	p := s.pageOf(v)
	if form != nil {
		p.DocForm = *form
	}
	base := mountPath(r)
	p.StyleURL = base + pathStyle
	p.ActionURL = base + PathApp + company + "/" + id
	p.Message, p.MessageKind = msg, kind
	s.render(w, code, p)
}

func pageTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// pageOf builds the page of v.
func (s *Sim) pageOf(v *verification) hostedPage {
	p := hostedPage{
		Heading:      "Verify your identity",
		ID:           v.ID,
		Status:       v.Status,
		StatusText:   statusTexts[v.Status],
		Reason:       v.ReviewReason,
		Expires:      pageTime(v.ExpiresAt),
		Reverifies:   v.reverifies(),
		CanStart:     v.Status == StatusCreated,
		Started:      v.Started,
		Submitted:    v.Submitted,
		Active:       v.Status == StatusStarted,
		NeedDocument: v.needsDocument(),
		NeedFace:     v.needsFace(),
		CanSubmit:    v.Status == StatusStarted && v.collected(),
		Reviewer:     v.Status == StatusUserDataCollected || v.Status == StatusReview,
		DocTypes:     DocumentTypes(),
		Ages:         AgeEstimations(),
		Reasons:      ReviewReasons(),
		SupportURL:   v.SupportURL,
	}
	switch v.Status {
	case StatusUserDataCollected, StatusReview, StatusApproved:
		p.SuccessURL = v.SuccessURL
	case StatusDeclined, StatusExpired:
		p.ErrorURL = v.ErrorURL
	}
	if d := v.Doc; d != nil {
		p.Document = &docSummary{
			Type: d.Type, Name: d.FirstName + " " + d.LastName, DateOfBirth: d.DateOfBirth, Country: d.Country,
			SerialNo: mask(d.SerialNo), NationalNo: mask(d.NationalNo), Expiry: d.ExpiryAt,
		}
		p.DocForm = docFormOf(*d)
	} else {
		p.DocForm = docFormOf(generatedDocument(v))
	}
	p.FaceForm = s.defaultAge(v)
	if v.Face != nil {
		p.Face = v.Face.AgeEstimation
		p.FaceForm = v.Face.AgeEstimation
	}
	return p
}

// mask shows only the last 4 characters of a document number, as the
// portal shows national numbers.
func mask(n string) string {
	r := []rune(n)
	if len(r) <= 4 {
		return n
	}
	return strings.Repeat("•", len(r)-4) + string(r[len(r)-4:])
}
