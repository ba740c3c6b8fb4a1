package pasbysim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The hosted review page: pasby's https://sign.with.pasby.africa/contract/
// <doc id>, where the signees of a review document read and sign it. The
// simulator's page lists the signees and lets a person open the flow and
// sign as each of them. It is plain server-rendered HTML with forms, no
// script, a stylesheet from the simulator itself, and its own strict CSP,
// since it is served inside the portal in sandbox mode. NINs are shown
// masked to their last 4 digits and the forms name a signee by position,
// so a full NIN is never in the page. [ours: the whole page]

// pathStyle is the hosted page's stylesheet.
const pathStyle = "/assets/review.css"

// hostedCSP is the page's Content-Security-Policy: nothing but its own
// stylesheet and forms posting back to itself.
const hostedCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

const (
	actionOpen = "open"
	actionSign = "sign"
)

// maxForm bounds a hosted page form body.
const maxForm = 8 << 10

type hostedPage struct {
	Problem     bool // an error page without a document
	Heading     string
	Message     string
	MessageKind string // "ok" or "error"
	StyleURL    string

	ID        string
	Title     string
	FileURL   string
	Stamped   string
	State     string
	StateText string
	Expires   string
	Active    bool
	OpenURL   string
	SignURL   string
	Signees   []hostedSignee
}

type hostedSignee struct {
	Index        int
	Name         string
	Representing string
	Type         string
	Title        string
	MaskedNIN    string
	Status       string
	SignedAt     string
}

var hostedTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{if .Problem}}{{.Heading}}{{else}}{{.Title}}{{end}} · pasby sandbox</title>
<link rel="stylesheet" href="{{.StyleURL}}">
</head>
<body>
<main>
<p class="brand">pasby <span>sandbox review</span></p>
{{if .Problem}}
<h1>{{.Heading}}</h1>
<p class="notice error" role="alert">{{.Message}}</p>
{{else}}
<h1>{{.Title}}</h1>
{{if .Message}}<p class="notice {{.MessageKind}}" role="{{if eq .MessageKind "error"}}alert{{else}}status{{end}}">{{.Message}}</p>{{end}}
<p class="state state-{{.State}}">{{.StateText}}</p>
<dl>
<dt>File</dt><dd><a href="{{.FileURL}}" rel="noopener noreferrer">{{.FileURL}}</a></dd>
<dt>Document id</dt><dd><code>{{.ID}}</code></dd>
<dt>Expires</dt><dd>{{.Expires}}</dd>
{{if .Stamped}}<dt>Signed copy</dt><dd><a href="{{.Stamped}}">Stamped PDF</a></dd>{{end}}
</dl>
<h2>Signees</h2>
<table>
<thead><tr><th scope="col">Name</th><th scope="col">Representing</th><th scope="col">Type</th><th scope="col">Title</th><th scope="col">NIN</th><th scope="col">Status</th><th scope="col">Act as this signee</th></tr></thead>
<tbody>
{{range .Signees}}<tr>
<td>{{.Name}}</td>
<td>{{.Representing}}</td>
<td>{{.Type}}</td>
<td>{{.Title}}</td>
<td>{{.MaskedNIN}}</td>
<td><span class="status status-{{.Status}}">{{.Status}}</span>{{if .SignedAt}}<br><small>{{.SignedAt}}</small>{{end}}</td>
<td>{{if $.Active}}{{if eq .Status "stale"}}<form method="post" action="{{$.OpenURL}}"><input type="hidden" name="signee" value="{{.Index}}"><button type="submit">Open as {{.Name}}</button></form>{{end}}{{if ne .Status "signed"}}<form method="post" action="{{$.SignURL}}"><input type="hidden" name="signee" value="{{.Index}}"><button type="submit" class="primary">Sign as {{.Name}}</button></form>{{end}}{{end}}</td>
</tr>
{{end}}</tbody>
</table>
{{end}}
<p class="foot">This page belongs to the portal's pasby simulator: signing here stands in for signing in the pasby app.</p>
</main>
</body>
</html>
`))

const hostedStyle = `body{margin:0;font:16px/1.5 system-ui,sans-serif;color:#1c2430;background:#f4f6f9}
main{max-width:60rem;margin:2rem auto;padding:1.5rem 2rem;background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
.brand{font-weight:700;color:#0b5cad;margin:0}.brand span{font-weight:400;color:#5b6675}
h1{margin:.5rem 0 1rem;font-size:1.6rem}h2{font-size:1.2rem;margin-top:1.5rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}dt{color:#5b6675}dd{margin:0;overflow-wrap:anywhere}
table{width:100%;border-collapse:collapse}th,td{text-align:left;padding:.5rem;border-bottom:1px solid #e3e7ee;vertical-align:top}
form{display:inline-block;margin:0 .25rem .25rem 0}
button{font:inherit;padding:.3rem .8rem;border:1px solid #0b5cad;border-radius:4px;background:#fff;color:#0b5cad;cursor:pointer}
button.primary{background:#0b5cad;color:#fff}
.notice{padding:.5rem .75rem;border-radius:4px}.notice.ok{background:#e6f4ea}.notice.error{background:#fdecea}
.status{padding:.1rem .5rem;border-radius:1rem;background:#eef1f5}.status-viewing{background:#fff4d6}.status-signed{background:#e6f4ea}
.state{font-weight:600}.foot{margin-top:2rem;color:#5b6675;font-size:.85rem}
`

func (s *Sim) handleStyle(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write([]byte(hostedStyle))
}

// handleHostedPage is GET /contract/{id}: 404 for an unknown document, 403
// (mode mismatch) for a simple signing one, which is signed in the app.
func (s *Sim) handleHostedPage(w http.ResponseWriter, r *http.Request) {
	var verb, kind string
	sg, err := strconv.Atoi(r.URL.Query().Get("signee"))
	if err == nil {
		switch r.URL.Query().Get("done") {
		case actionOpen:
			verb, kind = "opened", "ok"
		case actionSign:
			verb, kind = "signed", "ok"
		}
	}
	s.renderDocument(w, r, r.PathValue("id"), http.StatusOK, kind, func(d *document) string {
		if verb == "" {
			return ""
		}
		name := "The signee"
		if sg >= 0 && sg < len(d.Signees) {
			name = d.Signees[sg].Name
		}
		return name + " " + verb + " the document."
	})
}

// hostedOutcome is what a form post on the hosted page came to.
type hostedOutcome int

const (
	hostedDone hostedOutcome = iota
	hostedNotFound
	hostedMismatch
	hostedNoSignee
	hostedRefused
)

// handleHostedAction is POST /contract/{id}/open or /sign with the form
// field signee (the signee's position). Success redirects (303) back to the
// page; a refused action shows the page again with the reason (409).
func (s *Sim) handleHostedAction(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			s.renderProblem(w, r, http.StatusBadRequest, "Bad form", "The form could not be read.")
			return
		}
		idx, err := strconv.Atoi(r.PostForm.Get("signee"))
		if err != nil {
			idx = -1
		}
		outcome, err := s.hostedAct(r.Context(), id, idx, action, remoteIP(r))
		switch {
		case outcome == hostedRefused:
			s.renderDocument(w, r, id, http.StatusConflict, "error", fixed(actionRefused(err)))
		case err != nil:
			s.logger.Error("pasbysim: act on the hosted page", "document", id, "error", err)
			s.renderProblem(w, r, http.StatusInternalServerError, "Sandbox error", "The sandbox could not read or write its records: try again.")
		case outcome == hostedNotFound:
			s.renderProblem(w, r, http.StatusNotFound, "Document not found", "There is no document with this id.")
		case outcome == hostedMismatch:
			s.renderProblem(w, r, http.StatusForbidden, "Mode mismatch", "This document was sent for simple signing: it is signed in the pasby app, not on a review page.")
		case outcome == hostedNoSignee:
			s.renderDocument(w, r, id, http.StatusBadRequest, "error", fixed("Choose one of the signees listed below."))
		default:
			w.Header().Set("Location", mountPath(r)+PathContract+id+"?done="+action+"&signee="+strconv.Itoa(idx))
			w.WriteHeader(http.StatusSeeOther)
		}
	}
}

// hostedAct opens or signs as signee idx of document id, in one
// transaction with the checks. A refusal comes with its document error.
func (s *Sim) hostedAct(ctx context.Context, id string, idx int, action, ip string) (outcome hostedOutcome, err error) {
	err = s.update(ctx, func(o *op) error {
		d, err := o.doc(id)
		switch {
		case err != nil:
			return err
		case d == nil:
			outcome = hostedNotFound
		case d.Mode != ModeInterface:
			outcome = hostedMismatch
		case idx < 0 || idx >= len(d.Signees):
			outcome = hostedNoSignee
		case action == actionOpen:
			return o.openSignee(d, d.Signees[idx])
		default:
			return o.signSignee(d, d.Signees[idx], ip)
		}
		return nil
	})
	if isDocErr(err) {
		outcome = hostedRefused
	}
	return outcome, err
}

func fixed(msg string) func(*document) string {
	return func(*document) string { return msg }
}

func actionRefused(err error) string {
	switch {
	case errors.Is(err, ErrCancelled):
		return "This document has been cancelled: it can no longer be signed."
	case errors.Is(err, ErrExpired):
		return "This document has expired: it can no longer be signed."
	case errors.Is(err, ErrCompleted), errors.Is(err, ErrAlreadySigned):
		return "This signee has already signed."
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
}

func (s *Sim) render(w http.ResponseWriter, code int, p hostedPage) {
	var buf bytes.Buffer
	if err := hostedTmpl.Execute(&buf, p); err != nil { // cannot happen with this template
		http.Error(w, "pasbysim: cannot render the page", http.StatusInternalServerError)
		return
	}
	setPageHeaders(w)
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

func (s *Sim) renderProblem(w http.ResponseWriter, r *http.Request, code int, heading, msg string) {
	s.render(w, code, hostedPage{Problem: true, Heading: heading, Message: msg, StyleURL: mountPath(r) + pathStyle})
}

// renderDocument shows the page of document id with the message that msg
// makes of it.
func (s *Sim) renderDocument(w http.ResponseWriter, r *http.Request, id string, code int, kind string, msg func(*document) string) {
	var (
		p     hostedPage
		found bool
		mode  string
	)
	err := s.update(r.Context(), func(o *op) error {
		d, err := o.doc(id)
		if d != nil {
			found, mode = true, d.Mode
			if mode == ModeInterface {
				p = d.hostedPage()
				p.Message, p.MessageKind = msg(d), kind
			}
		}
		return err
	})
	switch {
	case err != nil:
		s.logger.Error("pasbysim: read a document for the hosted page", "document", id, "error", err)
		s.renderProblem(w, r, http.StatusInternalServerError, "Sandbox error", "The sandbox could not read its records: try again.")
		return
	case !found:
		s.renderProblem(w, r, http.StatusNotFound, "Document not found", "There is no document with this id.")
		return
	case mode != ModeInterface:
		s.renderProblem(w, r, http.StatusForbidden, "Mode mismatch", "This document was sent for simple signing: it is signed in the pasby app, not on a review page.")
		return
	}
	base := mountPath(r)
	p.StyleURL = base + pathStyle
	p.OpenURL = base + PathContract + id + "/" + actionOpen
	p.SignURL = base + PathContract + id + "/" + actionSign
	s.render(w, code, p)
}

func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

func maskNIN(nin string) string {
	if len(nin) <= 4 {
		return nin
	}
	return strings.Repeat("•", len(nin)-4) + nin[len(nin)-4:]
}

func (d *document) hostedPage() hostedPage {
	p := hostedPage{
		ID: d.ID, Title: d.Title, FileURL: d.Source, Stamped: d.stamped(), State: d.State,
		Expires: formatTime(d.EXP), Active: d.State == StatePending,
	}
	switch d.State {
	case StatePending:
		n := 0
		for _, sg := range d.Signees {
			if sg.Status == StatusSigned {
				n++
			}
		}
		p.StateText = fmt.Sprintf("Waiting for signatures: %d of %d signed.", n, len(d.Signees))
	case StateCompleted:
		p.StateText = "Completed: everyone has signed."
	case StateCancelled:
		p.StateText = "Cancelled: this document can no longer be signed."
	case StateExpired:
		p.StateText = "Expired: this document can no longer be signed."
	}
	for i, sg := range d.Signees {
		hs := hostedSignee{Index: i, Name: sg.Name, Representing: sg.Repr, Type: sg.Type, Title: sg.Title, MaskedNIN: maskNIN(sg.NIN), Status: sg.Status}
		if sg.Status == StatusSigned {
			hs.SignedAt = formatTime(sg.SignedAt)
		}
		p.Signees = append(p.Signees, hs)
	}
	return p
}

// --- the stamped PDF ---

// handleStamped is GET /edoc/<doc id>-stamped.pdf: a one-page PDF naming
// the document and its signers, for completed documents only. [ours]
func (s *Sim) handleStamped(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutSuffix(r.PathValue("file"), "-stamped.pdf")
	var pdf []byte
	if ok {
		err := s.update(r.Context(), func(o *op) error {
			d, err := o.doc(id)
			if d != nil && d.State == StateCompleted {
				pdf = stampedPDF(d)
			}
			return err
		})
		if err != nil {
			s.logger.Error("pasbysim: read a document for its stamped PDF", "document", id, "error", err)
			http.Error(w, "The sandbox could not read its records: try again.", http.StatusInternalServerError)
			return
		}
	}
	if pdf == nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("No stamped document here.\n"))
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", `inline; filename="`+id+`-stamped.pdf"`)
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(pdf)
}

// stampedPDF writes a minimal PDF 1.4 file: one A4 page of Helvetica text.
func stampedPDF(d *document) []byte {
	lines := []string{
		"pasby sandbox - signed document",
		"",
		"Title: " + d.Title,
		"Document: " + d.ID,
		"Source: " + d.Source,
		"Completed: " + formatTime(d.CompletedAt),
		"",
		"Signatures:",
	}
	for _, sg := range d.Signees {
		lines = append(lines,
			fmt.Sprintf("- %s (representing %s), NIN ending %s", sg.Name, sg.Repr, sg.NIN[max(len(sg.NIN)-4, 0):]),
			"  signed "+formatTime(sg.SignedAt)+", identification "+sg.Identification)
	}
	lines = append(lines, "", "Verify at https://in.pasby.africa/document-checker/"+strings.TrimPrefix(d.ID, "doc_"))

	var content bytes.Buffer
	content.WriteString("BT /F1 11 Tf 14 TL 50 790 Td\n")
	for _, l := range lines {
		content.WriteString("(" + pdfString(l, 95) + ") Tj T*\n")
	}
	content.WriteString("ET\n")

	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", content.Len(), content.String()),
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

// pdfString makes s safe inside a PDF literal string: printable ASCII only
// (others become '?'), with \ ( ) escaped, cut to max characters.
func pdfString(s string, max int) string {
	var b strings.Builder
	n := 0
	for _, c := range s {
		if n == max {
			b.WriteString("...")
			break
		}
		n++
		switch {
		case c == '\\' || c == '(' || c == ')':
			b.WriteByte('\\')
			b.WriteRune(c)
		case c >= 0x20 && c < 0x7f:
			b.WriteRune(c)
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}
