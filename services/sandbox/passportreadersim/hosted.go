package passportreadersim

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"
	"net/url"
)

// The /open page: where PassportReader sends the person
// (<root>/open?token=<token>&redirect_url=<url>, NOTES.md) to open the
// session in the app and scan their passport. The simulator's page lets a
// tester play each step: open in the app, scan (a form prefilled with
// generated MRZ values), the provider's decision (approve, reject, fail:
// labelled as sandbox controls, since no person does that) and the person's
// abort. After a final state it shows redirect_url as a plain link; it
// never redirects by itself. It is plain server-rendered HTML with forms,
// no script, a stylesheet from the simulator itself, and its own strict
// CSP, since it is served inside the portal in sandbox mode. The session's
// reference is never shown: integrators may use it as the callback's
// secret (NOTES.md). [ours: the whole page]

// pathStyle is the page's stylesheet.
const pathStyle = "/assets/open.css"

// Page steps: the value of the forms' "step" field.
const (
	stepOpen    = "open"
	stepScan    = "scan"
	stepApprove = "approve"
	stepReject  = "reject"
	stepFail    = "fail"
	stepAbort   = "abort"
)

// maxForm bounds a page form body.
const maxForm = 8 << 10

// pageCSP is the page's Content-Security-Policy: its own stylesheet, the
// portraits as data: URLs, and forms posting back to the simulator (also
// at PublicURL's origin, when that is another one than the page's).
func pageCSP(publicURL string) string {
	formAction := "'self'"
	if u, err := url.Parse(publicURL); err == nil && u.Scheme != "" && u.Host != "" {
		formAction += " " + u.Scheme + "://" + u.Host
	}
	return "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action " + formAction +
		"; frame-ancestors 'none'; base-uri 'none'"
}

type openPage struct {
	Problem     bool // an error page without a session
	Heading     string
	Message     string
	MessageKind string // "ok" or "error"
	StyleURL    string
	ActionURL   string

	ID               int64
	State            string
	StateText        string
	Created          string
	Expires          string
	FaceVerification bool
	PassportOnly     bool
	CanOpen          bool
	CanScan          bool
	CanDecide        bool
	CanAbort         bool
	ScanFields       []scanField
	Reason           string
	Identity         []row
	Portrait         template.URL
	Face             template.URL
	RejectReason     string
	RedirectURL      string // only once final
}

type scanField struct {
	Name, Label, Type, Value, Error string
	Max                             int
	Options                         []string
}

type row struct{ Label, Value string }

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{if .Problem}}{{.Heading}}{{else}}Verify your identity{{end}} · PassportReader sandbox</title>
<link rel="stylesheet" href="{{.StyleURL}}">
</head>
<body>
<main>
<p class="brand">PassportReader <span>sandbox</span></p>
{{if .Problem}}
<h1>{{.Heading}}</h1>
<p class="notice error" role="alert">{{.Message}}</p>
{{else}}
<h1>Verify your identity</h1>
{{if .Message}}<p class="notice {{.MessageKind}}" role="{{if eq .MessageKind "error"}}alert{{else}}status{{end}}">{{.Message}}</p>{{end}}
<p class="state state-{{.State}}"><span class="badge">{{.State}}</span> {{.StateText}}</p>
<dl>
<dt>Session</dt><dd><code>{{.ID}}</code></dd>
<dt>Created</dt><dd>{{.Created}}</dd>
<dt>Expires</dt><dd>{{.Expires}}</dd>
<dt>Face verification</dt><dd>{{if .FaceVerification}}yes: a selfie is taken after the scan{{else}}no{{end}}</dd>
<dt>Passports only</dt><dd>{{if .PassportOnly}}yes{{else}}no{{end}}</dd>
</dl>
{{if .CanOpen}}
<section>
<h2>Step 1: open the PassportReader app</h2>
<p>On a phone this link would open the app.</p>
<form method="post" action="{{.ActionURL}}"><input type="hidden" name="step" value="open"><button type="submit" class="primary">Open in the PassportReader app</button></form>
</section>
{{end}}
{{if .CanScan}}
<section>
<h2>Step 2: scan the passport</h2>
<p>These are the values the app would read from the passport's chip. Change them if you like.</p>
<form method="post" action="{{.ActionURL}}" class="scan"><input type="hidden" name="step" value="scan">
{{range .ScanFields}}<label for="f-{{.Name}}">{{.Label}}</label>
{{if .Options}}<select id="f-{{.Name}}" name="{{.Name}}">{{$v := .Value}}{{range .Options}}<option{{if eq . $v}} selected{{end}}>{{.}}</option>{{end}}</select>
{{else}}<input type="{{.Type}}" id="f-{{.Name}}" name="{{.Name}}" value="{{.Value}}" maxlength="{{.Max}}">
{{end}}{{if .Error}}<p class="field-error" role="alert">{{.Label}} {{.Error}}</p>{{end}}
{{end}}<button type="submit" class="primary">Scan passport</button></form>
</section>
{{end}}
{{if .CanDecide}}
<section class="sandbox">
<h2>Sandbox: PassportReader's decision</h2>
<p>The scan is done. In real life PassportReader decides; here you do.</p>
<form method="post" action="{{.ActionURL}}"><input type="hidden" name="step" value="approve"><button type="submit" class="primary">Approve (sandbox)</button></form>
<form method="post" action="{{.ActionURL}}"><input type="hidden" name="step" value="fail"><button type="submit">Fail (sandbox)</button></form>
<form method="post" action="{{.ActionURL}}" class="reject"><input type="hidden" name="step" value="reject"><label for="f-reason">Reason (kept by the sandbox, not in the API)</label><input type="text" id="f-reason" name="reason" value="{{.Reason}}" maxlength="500"><button type="submit">Reject (sandbox)</button></form>
</section>
{{end}}
{{if .CanAbort}}
<form method="post" action="{{.ActionURL}}" class="abort"><input type="hidden" name="step" value="abort"><button type="submit">Abort verification</button></form>
{{end}}
{{if .Identity}}
<h2>Read from the passport</h2>
<div class="identity">
{{if .Portrait}}<figure><img src="{{.Portrait}}" alt="Passport photo" width="105" height="135"><figcaption>Passport photo</figcaption></figure>{{end}}
{{if .Face}}<figure><img src="{{.Face}}" alt="Selfie" width="105" height="135"><figcaption>Selfie</figcaption></figure>{{end}}
<dl>{{range .Identity}}<dt>{{.Label}}</dt><dd>{{.Value}}</dd>{{end}}</dl>
</div>
{{end}}
{{if .RejectReason}}<p>Rejection reason: {{.RejectReason}}</p>{{end}}
{{if .RedirectURL}}<p class="return"><a href="{{.RedirectURL}}" rel="noopener noreferrer">Return to the service</a> <small>({{.RedirectURL}})</small></p>{{end}}
{{end}}
<p class="foot">This page belongs to the portal's PassportReader simulator: it stands in for the PassportReader app.</p>
</main>
</body>
</html>
`))

const pageStyle = `body{margin:0;font:16px/1.5 system-ui,sans-serif;color:#1c2430;background:#f4f6f9}
main{max-width:44rem;margin:2rem auto;padding:1.5rem 2rem;background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
.brand{font-weight:700;color:#6b2fa8;margin:0}.brand span{font-weight:400;color:#5b6675}
h1{margin:.5rem 0 1rem;font-size:1.6rem}h2{font-size:1.15rem;margin-top:1.5rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}dt{color:#5b6675}dd{margin:0;overflow-wrap:anywhere}
form{margin:.5rem 0}form.scan{display:grid;grid-template-columns:max-content 1fr;gap:.4rem 1rem;align-items:center}
form.scan button,form.scan .field-error{grid-column:2}
input,select{font:inherit;padding:.25rem .4rem;border:1px solid #b8c0cc;border-radius:4px}
button{font:inherit;padding:.3rem .8rem;border:1px solid #6b2fa8;border-radius:4px;background:#fff;color:#6b2fa8;cursor:pointer}
button.primary{background:#6b2fa8;color:#fff}
section.sandbox{border:2px dashed #d89b00;border-radius:6px;padding:0 1rem .5rem;background:#fffbef}
section.sandbox form{display:inline-block;margin-right:.5rem}form.reject{display:block}form.reject input{margin:0 .5rem}
.notice{padding:.5rem .75rem;border-radius:4px}.notice.ok{background:#e6f4ea}.notice.error{background:#fdecea}
.field-error{color:#a4251b;margin:0}
.badge{display:inline-block;padding:.1rem .5rem;border-radius:1rem;background:#eef1f5;font-size:.85rem;font-weight:600}
.state-APPROVED .badge{background:#e6f4ea}.state-REJECTED .badge,.state-FAILED .badge,.state-ABORTED .badge{background:#fdecea}
.identity{display:flex;gap:1rem;flex-wrap:wrap;align-items:flex-start}figure{margin:0;text-align:center;font-size:.8rem;color:#5b6675}
img{border:1px solid #e3e7ee}.foot{margin-top:2rem;color:#5b6675;font-size:.85rem}
`

func (s *Sim) handleStyle(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write([]byte(pageStyle))
}

// doneMessages are shown after a step succeeded (?done=<step>).
var doneMessages = map[string]string{
	stepOpen:    "Opened in the PassportReader app. Next, scan the passport.",
	stepScan:    "Passport scanned.",
	stepApprove: "Approved.",
	stepReject:  "Rejected.",
	stepFail:    "Failed.",
	stepAbort:   "Aborted.",
}

// handleOpenPage is GET /open?token=…: the session's page, or a 404 page
// for an unknown token.
func (s *Sim) handleOpenPage(w http.ResponseWriter, r *http.Request) {
	msg, kind := "", ""
	if m, ok := doneMessages[r.URL.Query().Get("done")]; ok {
		msg, kind = m, "ok"
	}
	s.renderSession(w, r, http.StatusOK, msg, kind, nil)
}

// scanInput is a scan form as posted, and what is wrong with it.
type scanInput struct {
	ident Identity
	err   *IdentityError
}

// handleOpenAction is POST /open?token=… with the form field step. A step
// that worked redirects (303) back to the page; a refused one shows the
// page again with the reason: 400 for bad input, 409 when the session's
// state does not allow the step (a stale page).
func (s *Sim) handleOpenAction(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		s.renderProblem(w, r, http.StatusBadRequest, "Bad form", "The form could not be read.")
		return
	}
	sess, ok, err := s.sessionByToken(r.Context(), r.URL.Query().Get("token"))
	if err != nil {
		s.renderStoreFailed(w, r, err)
		return
	}
	if !ok {
		s.renderNotFound(w, r)
		return
	}
	step := r.PostForm.Get("step")
	ctx := r.Context()
	switch step {
	case stepOpen:
		err = s.initiateFrom(ctx, sess.ID, remoteIP(r), r.UserAgent())
	case stepScan:
		posted := scanFormIdentity(r.PostForm)
		if _, ierr := posted.normalise(); ierr != nil {
			var ie *IdentityError
			errors.As(ierr, &ie)
			s.renderSession(w, r, http.StatusBadRequest, "Check the values below.", "error", &scanInput{posted, ie})
			return
		}
		err = s.completeWith(ctx, sess.ID, posted)
	case stepApprove:
		err = s.approve(ctx, sess.ID)
	case stepReject:
		err = s.reject(ctx, sess.ID, r.PostForm.Get("reason"))
	case stepFail:
		err = s.fail(ctx, sess.ID)
	case stepAbort:
		err = s.abort(ctx, sess.ID)
	default:
		s.renderSession(w, r, http.StatusBadRequest, "Choose one of the steps offered below.", "error", nil)
		return
	}
	if err != nil && !isDomainError(err) {
		s.renderStoreFailed(w, r, err)
		return
	}
	if err != nil {
		msg := "That did not work: " + err.Error()
		var se *StateError
		if errors.As(err, &se) {
			msg = "The session is " + se.State + " now, so that step is no longer possible."
		}
		s.renderSession(w, r, http.StatusConflict, msg, "error", nil)
		return
	}
	q := pageQuery(r)
	q.Set("done", step)
	w.Header().Set("Location", s.pageBase(r)+PathOpen+"?"+q.Encode())
	w.WriteHeader(http.StatusSeeOther)
}

// scanFormIdentity reads the scan form's fields, named as session.get
// names them.
func scanFormIdentity(f url.Values) Identity {
	return Identity{
		GivenNames: f.Get("given_names"), Surname: f.Get("surname"), Nationality: f.Get("nationality"),
		Sex: f.Get("sex"), DateOfBirth: f.Get("date_of_birth"), PersonalNumber: f.Get("personal_number"),
		DocumentType: f.Get("document_type"), DocumentNumber: f.Get("document_number"),
		ExpiryDate: f.Get("expiry_date"), IssuingCountry: f.Get("issuing_country"), Issuer: f.Get("issuer"),
	}
}

// pageQuery is the page's own query: the token, and redirect_url when
// given, so every form and redirect keeps both.
func pageQuery(r *http.Request) url.Values {
	in := r.URL.Query()
	q := url.Values{"token": {in.Get("token")}}
	if ru := in.Get("redirect_url"); ru != "" {
		q.Set("redirect_url", ru)
	}
	return q
}

// pageBase is where the page's forms post to: Options.PublicURL, or the
// path the simulator is mounted at.
func (s *Sim) pageBase(r *http.Request) string {
	if s.publicURL != "" {
		return s.publicURL
	}
	return mountPath(r)
}

func (s *Sim) setPageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", s.csp)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

func (s *Sim) render(w http.ResponseWriter, code int, p openPage) {
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, p); err != nil { // cannot happen with this template
		http.Error(w, "passportreadersim: cannot render the page", http.StatusInternalServerError)
		return
	}
	s.setPageHeaders(w)
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

func (s *Sim) renderProblem(w http.ResponseWriter, r *http.Request, code int, heading, msg string) {
	s.render(w, code, openPage{Problem: true, Heading: heading, Message: msg, StyleURL: mountPath(r) + pathStyle})
}

// renderStoreFailed is the page's 500: the store failed, which is logged.
func (s *Sim) renderStoreFailed(w http.ResponseWriter, r *http.Request, err error) {
	s.logger.Error("passportreadersim: store failed", "during", "the /open page", "error", err)
	s.renderProblem(w, r, http.StatusInternalServerError, "Something went wrong",
		"The sandbox could not read or write the session. Try again.")
}

func (s *Sim) renderNotFound(w http.ResponseWriter, r *http.Request) {
	s.renderProblem(w, r, http.StatusNotFound, "Session not found",
		"There is no verification session for this link. Ask the service that sent you here for a new one.")
}

// stateTexts explain each state to the person.
var stateTexts = map[string]string{
	StateCreated:   "Not started: open the session in the PassportReader app.",
	StateInitiated: "Opened in the app: scan the passport's chip.",
	StateCompleted: "Scanned: waiting for PassportReader's decision.",
	StateApproved:  "Approved: the identity has been verified.",
	StateRejected:  "Rejected: the identity was not accepted.",
	StateFailed:    "Failed: the passport could not be verified.",
	StateAborted:   "Aborted: the verification was abandoned or has expired.",
}

// renderSession shows the session of the request's token. scan, when not
// nil, refills the scan form with what was posted and marks the bad field.
func (s *Sim) renderSession(w http.ResponseWriter, r *http.Request, code int, msg, kind string, scan *scanInput) {
	sess, ok, err := s.sessionByToken(r.Context(), r.URL.Query().Get("token"))
	if err != nil {
		s.renderStoreFailed(w, r, err)
		return
	}
	if !ok {
		s.renderNotFound(w, r)
		return
	}
	final := IsFinal(sess.State)
	p := openPage{
		Message: msg, MessageKind: kind,
		StyleURL:  mountPath(r) + pathStyle,
		ActionURL: s.pageBase(r) + PathOpen + "?" + pageQuery(r).Encode(),
		ID:        sess.ID, State: sess.State, StateText: stateTexts[sess.State],
		Created: sess.Created.UTC().Format("2006-01-02 15:04:05 UTC"), Expires: sess.Expires.UTC().Format("2006-01-02 15:04:05 UTC"),
		FaceVerification: sess.FaceVerification, PassportOnly: sess.PassportOnly,
		CanOpen: sess.State == StateCreated, CanScan: sess.State == StateInitiated,
		CanDecide: sess.State == StateCompleted, CanAbort: !final,
		RejectReason: sess.RejectReason,
	}
	if p.CanScan {
		ident, ie := generateIdentity(sess.ID, sess.Created), (*IdentityError)(nil)
		if scan != nil {
			ident, ie = scan.ident, scan.err
		}
		p.ScanFields = scanFields(ident, ie)
	}
	if sess.Identity != (Identity{}) {
		id := sess.Identity
		p.Identity = []row{
			{"Given names", id.GivenNames}, {"Surname", id.Surname}, {"Nationality", id.Nationality},
			{"Sex", id.Sex}, {"Date of birth", id.DateOfBirth}, {"Personal number", id.PersonalNumber},
			{"Document type", id.DocumentType}, {"Document number", id.DocumentNumber},
			{"Expiry date", id.ExpiryDate}, {"Issuing country", id.IssuingCountry}, {"Issuer", id.Issuer},
		}
		// Our own base64 of our own PNG: safe as a data: URL.
		if sess.Portrait != nil {
			p.Portrait = template.URL("data:image/png;base64," + b64(sess.Portrait))
		}
		if sess.Face != nil {
			p.Face = template.URL("data:image/png;base64," + b64(sess.Face))
		}
	}
	if ru := r.URL.Query().Get("redirect_url"); final && httpURL(ru) {
		p.RedirectURL = ru
	}
	s.render(w, code, p)
}

func scanFields(id Identity, bad *IdentityError) []scanField {
	fields := []scanField{
		{Name: "given_names", Label: "Given names", Type: "text", Value: id.GivenNames, Max: maxName},
		{Name: "surname", Label: "Surname", Type: "text", Value: id.Surname, Max: maxName},
		{Name: "nationality", Label: "Nationality", Type: "text", Value: id.Nationality, Max: 2},
		{Name: "sex", Label: "Sex", Value: id.Sex, Options: []string{SexMale, SexFemale, SexUnspecified}},
		{Name: "date_of_birth", Label: "Date of birth", Type: "date", Value: id.DateOfBirth, Max: 10},
		{Name: "personal_number", Label: "Personal number", Type: "text", Value: id.PersonalNumber, Max: maxNumber},
		{Name: "document_type", Label: "Document type", Type: "text", Value: id.DocumentType, Max: maxNumber},
		{Name: "document_number", Label: "Document number", Type: "text", Value: id.DocumentNumber, Max: maxNumber},
		{Name: "expiry_date", Label: "Expiry date", Type: "date", Value: id.ExpiryDate, Max: 10},
		{Name: "issuing_country", Label: "Issuing country", Type: "text", Value: id.IssuingCountry, Max: 2},
		{Name: "issuer", Label: "Issuer", Type: "text", Value: id.Issuer, Max: maxIssuer},
	}
	for i := range fields {
		if bad != nil && fields[i].Name == bad.Field {
			fields[i].Error = bad.Message
		}
	}
	return fields
}
