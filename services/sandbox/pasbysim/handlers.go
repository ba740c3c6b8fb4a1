package pasbysim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"portal/services/sandbox"
)

// Limits on request bodies and fields. The documents give none. [ours]
const (
	maxBody     = 64 << 10
	maxSignees  = 50
	maxText     = 200 // names, titles, references
	maxEmail    = 254
	maxURL      = 2048
	minDocIDLen = 40 // refresh: "min 40 characters"
)

// ninRe: a NIN is 11 digits, like the documents' examples. [ours]
var ninRe = regexp.MustCompile(`^[0-9]{11}$`)

// --- authentication ---

type authMode int

const (
	authSecret  authMode = iota // x-api-key + x-access-secret
	authToken                   // x-api-key + x-access-token (v1; polling)
	authKeyOnly                 // x-api-key, x-access-secret optional (SSE)
)

type apiHandler func(w http.ResponseWriter, r *http.Request, version string)

// api authenticates a request the way mode says, answering 401 with status
// "unauthorized" and type "authorization_error" when it fails. [ours for
// the answer]
func (s *Sim) api(version string, mode authMode, next apiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if e := s.authenticate(r, mode); e != nil {
			if isCreate(r.Pattern) {
				s.countRejected(r.Context())
			}
			writeError(w, version, e)
			return
		}
		next(w, r, version)
	}
}

func isCreate(pattern string) bool {
	return strings.HasSuffix(pattern, "/document/signing") || strings.HasSuffix(pattern, "/document/review")
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func (s *Sim) authenticate(r *http.Request, mode authMode) *apiError {
	key := r.Header.Get("x-api-key")
	switch {
	case key == "":
		return unauthorized("Missing x-api-key header")
	case equal(key, s.apiKey):
	case strings.HasPrefix(key, "bk-live_"):
		return unauthorized("Live API keys (bk-live_…) are not accepted by the sandbox: use your bk-test_ key")
	default:
		return unauthorized("Invalid API key")
	}
	secret := r.Header.Get("x-access-secret")
	token := r.Header.Get("x-access-token")
	switch mode {
	case authSecret:
		switch {
		case secret == "" && token != "":
			return unauthorized("This route takes x-access-secret, not x-access-token")
		case secret == "":
			return unauthorized("Missing x-access-secret header")
		case equal(secret, s.appSecret):
		case strings.HasPrefix(secret, "prd_"):
			return unauthorized("Production app secrets (prd_…) are not accepted by the sandbox: use your snb_ secret")
		default:
			return unauthorized("Invalid app secret")
		}
	case authToken:
		switch {
		case token == "" && secret != "":
			return unauthorized("This route takes x-access-token (from GET /api/v1/flow/authorize), not x-access-secret")
		case token == "":
			return unauthorized("Missing x-access-token header")
		}
		return s.checkToken(r.Context(), token)
	case authKeyOnly:
		if secret != "" && !equal(secret, s.appSecret) {
			return unauthorized("Invalid app secret")
		}
	}
	return nil
}

// countRejected counts a refused create request. A failure to count is
// only logged: the caller is answering the refusal anyway.
func (s *Sim) countRejected(ctx context.Context) {
	err := s.bucket.Update(ctx, func(tx *sandbox.Tx) error {
		_, err := tx.Add(counterRejected, 1)
		return err
	})
	if err != nil {
		s.logger.Error("pasbysim: count a rejected create request", "error", err)
	}
}

// --- request bodies ---

type object = map[string]json.RawMessage

// readObject reads a body that must be exactly one JSON object. [ours for
// every rejection]
func readObject(w http.ResponseWriter, r *http.Request) (object, *apiError) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	var m object
	err := dec.Decode(&m)
	if err == nil {
		if m == nil {
			return nil, paramError("The request body must be a JSON object, not null")
		}
		_, err = dec.Token()
		switch {
		case errors.Is(err, io.EOF):
			return m, nil
		case err == nil:
			return nil, paramError("The request body must hold one JSON object and nothing after it")
		}
	}
	var (
		tooBig *http.MaxBytesError
		syn    *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooBig):
		return nil, &apiError{http.StatusRequestEntityTooLarge, errStatusFailed, errTypeParam, "The request body is larger than 64 KiB"}
	case errors.Is(err, io.EOF):
		return nil, paramError("The request body is empty: send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, paramError("The request body is not valid JSON: it ends too early")
	case errors.As(err, &syn):
		return nil, paramError("The request body is not valid JSON: " + clip(syn.Error(), 120))
	case errors.As(err, &typ):
		return nil, paramError("The request body must be a JSON object")
	default:
		return nil, paramError("The request body could not be read")
	}
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// stringField returns m[key] as a string; a missing key and null give
// present false. A value of another type is an error.
func stringField(m object, key, name string) (v string, present bool, e *apiError) {
	raw := m[key]
	if isNull(raw) {
		return "", false, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", false, paramError(name + " must be a string")
	}
	return v, true, nil
}

func objectField(m object, key, name string) (v object, present bool, e *apiError) {
	raw := m[key]
	if isNull(raw) {
		return nil, false, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, false, paramError(name + " must be an object")
	}
	return v, true, nil
}

func arrayField(m object, key, name string) (v []json.RawMessage, present bool, e *apiError) {
	raw := m[key]
	if isNull(raw) {
		return nil, false, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, false, paramError(name + " must be an array")
	}
	return v, true, nil
}

// text returns m[key] trimmed, required unless optional, of at most max
// characters and without control characters. [ours]
func text(m object, key, name string, max int, optional bool) (string, *apiError) {
	v, present, e := stringField(m, key, name)
	if e != nil {
		return "", e
	}
	v = strings.TrimSpace(v)
	switch {
	case v == "" && optional:
		return "", nil
	case !present || v == "":
		return "", paramError(name + " is required")
	case !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0:
		return "", paramError(name + " contains characters that are not allowed")
	case utf8.RuneCountInString(v) > max:
		return "", paramError(name + " is too long")
	}
	return v, nil
}

// httpURL parses an absolute http or https URL with a host. http is
// accepted besides the documents' https so the sandbox works on a
// developer's machine. [ours]
func httpURL(raw string) (*url.URL, bool) {
	if len(raw) > maxURL {
		return nil, false
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Hostname() == "" || u.User != nil {
		return nil, false
	}
	return u, true
}

// isPDF is the simulator's "is a PDF" rule: the URL's path ends in ".pdf",
// in any case, ignoring the query and fragment. pasby presumably looks at
// the file; the simulator never downloads it. [ours]
func isPDF(u *url.URL) bool { return strings.HasSuffix(strings.ToLower(u.Path), ".pdf") }

// docBody holds what signing and review share: file and webhook.
type docBody struct {
	title, source     string
	hookHost, hookRef string
	noWebhook         bool // webhook or webhook.host missing: 428
	pdf               bool
}

// parseFileAndWebhook validates file and webhook. A missing webhook (or
// webhook.host) is not an error here: the caller answers 428 once
// everything else is valid. [ours for the order: shape errors (400), then
// the webhook (428), then "not a PDF" (400)]
func parseFileAndWebhook(m object) (docBody, *apiError) {
	var b docBody
	file, present, e := objectField(m, "file", "file")
	if e != nil {
		return b, e
	}
	if !present {
		return b, paramError("file is required: an object with url and title")
	}
	rawURL, e := text(file, "url", "file.url", maxURL, false)
	if e != nil {
		return b, e
	}
	u, ok := httpURL(rawURL)
	if !ok {
		return b, paramError("file.url must be an absolute http(s) URL")
	}
	b.source, b.pdf = rawURL, isPDF(u)
	if b.title, e = text(file, "title", "file.title", maxText, false); e != nil {
		return b, e
	}

	hook, present, e := objectField(m, "webhook", "webhook")
	if e != nil {
		return b, e
	}
	if !present {
		b.noWebhook = true
		return b, nil
	}
	host, present, e := stringField(hook, "host", "webhook.host")
	if e != nil {
		return b, e
	}
	host = strings.TrimSpace(host)
	if !present || host == "" {
		b.noWebhook = true
	} else if _, ok := httpURL(host); !ok {
		return b, paramError("webhook.host must be an absolute http(s) URL")
	}
	b.hookHost = host
	if b.hookRef, e = text(hook, "reference", "webhook.reference", maxText, false); e != nil {
		return b, e
	}
	return b, nil
}

// finish turns the last checks into errors: 428 without a webhook, then
// 400 when the file is not a PDF.
func (b docBody) finish() *apiError {
	switch {
	case b.noWebhook:
		return errNoWebhook
	case !b.pdf:
		return errNotPDF
	}
	return nil
}

func checkNIN(nin, name string, seen map[string]bool) *apiError {
	switch {
	case !ninRe.MatchString(nin):
		return paramError(name + " must be a NIN: 11 digits")
	case seen[nin]:
		return paramError(name + " " + nin + " is listed twice")
	}
	seen[nin] = true
	return nil
}

func parseSigning(m object) (newDocInput, *apiError) {
	in := newDocInput{mode: ModeAPI}
	to, present, e := arrayField(m, "to", "to")
	if e != nil {
		return in, e
	}
	switch {
	case !present || len(to) == 0:
		return in, paramError("to is required: at least one NIN")
	case len(to) > maxSignees:
		return in, paramError("to lists too many NINs")
	}
	seen := make(map[string]bool, len(to))
	for _, raw := range to {
		var nin string
		if err := json.Unmarshal(raw, &nin); err != nil {
			return in, paramError("to must be an array of strings (NINs)")
		}
		if e := checkNIN(nin, "to", seen); e != nil {
			return in, e
		}
		in.signees = append(in.signees, signeeInput{nin: nin})
	}
	b, e := parseFileAndWebhook(m)
	if e != nil {
		return in, e
	}
	if e := b.finish(); e != nil {
		return in, e
	}
	in.title, in.source, in.hookHost, in.hookRef = b.title, b.source, b.hookHost, b.hookRef
	return in, nil
}

func parseReview(m object) (newDocInput, *apiError) {
	in := newDocInput{mode: ModeInterface}
	list, present, e := arrayField(m, "signee", "signee")
	if e != nil {
		return in, e
	}
	switch {
	case !present || len(list) == 0:
		return in, paramError("signee is required: at least one signee")
	case len(list) > maxSignees:
		return in, paramError("signee lists too many signees")
	}
	seen := make(map[string]bool, len(list))
	for _, raw := range list {
		var o object
		if err := json.Unmarshal(raw, &o); err != nil || o == nil {
			return in, paramError("signee must be an array of objects")
		}
		var si signeeInput
		if si.name, e = text(o, "name", "signee[].name", maxText, false); e != nil {
			return in, e
		}
		if si.typ, e = text(o, "type", "signee[].type", maxText, false); e != nil {
			return in, e
		}
		if si.typ != "business" && si.typ != "person" {
			return in, paramError("signee[].type must be business or person")
		}
		if si.email, e = text(o, "email", "signee[].email", maxEmail, false); e != nil {
			return in, e
		}
		if a, err := mail.ParseAddress(si.email); err != nil || a.Address != si.email {
			return in, paramError("signee[].email must be an email address")
		}
		if si.nin, e = text(o, "nin", "signee[].nin", maxText, false); e != nil {
			return in, e
		}
		if e := checkNIN(si.nin, "signee[].nin", seen); e != nil {
			return in, e
		}
		if si.repr, e = text(o, "representing", "signee[].representing", maxText, false); e != nil {
			return in, e
		}
		if si.title, e = text(o, "title", "signee[].title", maxText, true); e != nil {
			return in, e
		}
		in.signees = append(in.signees, si)
	}
	b, e := parseFileAndWebhook(m)
	if e != nil {
		return in, e
	}
	if e := b.finish(); e != nil {
		return in, e
	}
	in.title, in.source, in.hookHost, in.hookRef = b.title, b.source, b.hookHost, b.hookRef
	return in, nil
}

// --- documents ---

// createData is the data of a create answer; link only for review.
type createData struct {
	Link    string  `json:"link,omitempty"`
	Request docJSON `json:"request"`
}

func (s *Sim) handleSigning(w http.ResponseWriter, r *http.Request, version string) {
	s.create(w, r, version, parseSigning, "Signature request propagated")
}

func (s *Sim) handleReview(w http.ResponseWriter, r *http.Request, version string) {
	s.create(w, r, version, parseReview, "Document signing flow created")
}

// create answers 201 with the reason of the document's example.
func (s *Sim) create(w http.ResponseWriter, r *http.Request, version string, parse func(object) (newDocInput, *apiError), reason string) {
	m, e := readObject(w, r)
	var in newDocInput
	if e == nil {
		in, e = parse(m)
	}
	if e != nil {
		s.countRejected(r.Context())
		writeError(w, version, e)
		return
	}
	in.version = version
	in.ip = remoteIP(r)
	in.base = s.publicBase(r)
	ttl, counter := s.signingTTL, counterSigning
	if in.mode == ModeInterface {
		ttl, counter = s.reviewTTL, counterReview
	}
	var data createData
	err := s.update(r.Context(), func(o *op) error {
		d, err := o.create(in, ttl, s.autoSign)
		if err != nil {
			return err
		}
		data = createData{Link: d.link(), Request: d.createJSON()}
		_, err = o.tx.Add(counter, 1)
		return err
	})
	if err != nil {
		s.internalError(w, version, "create a document", err)
		return
	}
	writeOK(w, http.StatusCreated, version, reason, data)
}

func (s *Sim) handleRefresh(w http.ResponseWriter, r *http.Request, version string) {
	m, e := readObject(w, r)
	if e != nil {
		writeError(w, version, e)
		return
	}
	id, present, e := stringField(m, "flow", "flow")
	if e != nil {
		writeError(w, version, e)
		return
	}
	if !present || id == "" {
		writeError(w, version, paramError("flow is required: the document id (doc_…)"))
		return
	}
	var data any
	err := s.update(r.Context(), func(o *op) error {
		d, sg, err := o.lookup(id)
		switch {
		case err != nil:
			return err
		case sg != nil:
			e = errMismatchRefresh
		case len(id) < minDocIDLen:
			e = paramError("flow must be a document id (doc_…) of at least 40 characters")
		case d == nil:
			e = errUnknownFlow
		case d.State == StateCancelled:
			e = errCancelled
		case d.State == StateExpired:
			e = errExpired
		default:
			data = struct {
				Doc docJSON `json:"doc"`
			}{d.refreshJSON()}
		}
		return nil
	})
	if err != nil {
		s.internalError(w, version, "refresh a document", err)
		return
	}
	if e != nil {
		writeError(w, version, e)
		return
	}
	writeOK(w, http.StatusOK, version, "Esignature refreshed successfully", data)
}

// --- flows ---

// reasonFlow is the reason of ping, polling and SSE answers. [ours]
const reasonFlow = "Flow request retrieved"

// requestID reads {"request": "<flow-id>"}. A missing request is treated
// as an unknown id: pasby's "edge Zod schema is empty". [ours]
func requestID(w http.ResponseWriter, r *http.Request) (string, *apiError) {
	m, e := readObject(w, r)
	if e != nil {
		return "", e
	}
	id, present, e := stringField(m, "request", "request")
	if e != nil {
		return "", e
	}
	if !present || id == "" {
		return "", errUnknownFlow
	}
	return id, nil
}

// flowView is what ping shows for id (a document or a signature flow
// request), whether it is final, and the error instead when there is one:
// unknown (400) or expired (401). err is a failure of the store.
func (s *Sim) flowView(ctx context.Context, id string) (view any, final bool, e *apiError, err error) {
	final = true
	err = s.update(ctx, func(o *op) error {
		d, sg, err := o.lookup(id)
		switch {
		case err != nil:
			return err
		case d == nil:
			e = errUnknownFlow
		case d.State == StateExpired:
			e = errExpired
		case sg != nil:
			view, final = sg.flowJSON(), sg.final()
		default:
			view, final = d.flowDocJSON(), d.final()
		}
		return nil
	})
	return view, final, e, err
}

type requestData struct {
	Request any `json:"request"`
}

func (s *Sim) handlePing(w http.ResponseWriter, r *http.Request, version string) {
	id, e := requestID(w, r)
	if e != nil {
		writeError(w, version, e)
		return
	}
	view, _, e, err := s.flowView(r.Context(), id)
	if err != nil {
		s.internalError(w, version, "read a flow", err)
		return
	}
	if e != nil {
		writeError(w, version, e)
		return
	}
	writeOK(w, http.StatusOK, version, reasonFlow, requestData{view})
}

// handleCancel cancels a document, or the document of a signature flow
// request, and answers 201 with data.model (NOTES.md): the flow as ping
// shows it. [ours for the errors]
func (s *Sim) handleCancel(w http.ResponseWriter, r *http.Request, version string) {
	id, e := requestID(w, r)
	if e != nil {
		writeError(w, version, e)
		return
	}
	var model any
	err := s.update(r.Context(), func(o *op) error {
		d, sg, err := o.lookup(id)
		switch {
		case err != nil:
			return err
		case d == nil:
			e = errUnknownFlow
		case d.State == StateExpired:
			e = errExpired
		case d.State == StateCancelled:
			e = errCancelled
		case d.State == StateCompleted, sg != nil && sg.Status == StatusSigned:
			e = errHandled
		default:
			o.cancel(d)
			if sg != nil {
				model = sg.flowJSON()
			} else {
				model = d.flowDocJSON()
			}
			return o.save(d)
		}
		return nil
	})
	if err != nil {
		s.internalError(w, version, "cancel a flow", err)
		return
	}
	if e != nil {
		writeError(w, version, e)
		return
	}
	writeOK(w, http.StatusCreated, version, "Flow request cancelled", struct {
		Model any `json:"model"`
	}{model})
}

// --- v1 authorize ---

// handleAuthorize issues a v1 access token: a JWT (HS256, signed with a
// key of the simulator) carrying sub, app, iat and exp. Both query values
// are optional, but app is required when sub is set (pasby-flow.txt).
// [ours for the token and the answer: {"data":{"token":…}}, NOTES.md]
func (s *Sim) handleAuthorize(w http.ResponseWriter, r *http.Request, version string) {
	q := r.URL.Query()
	sub, app := strings.TrimSpace(q.Get("sub")), strings.TrimSpace(q.Get("app"))
	switch {
	case sub != "" && app == "":
		writeError(w, version, paramError("app is required when sub is set"))
		return
	case len(sub) > maxText || len(app) > maxText:
		writeError(w, version, paramError("sub and app must be at most 200 characters"))
		return
	}
	now := s.now()
	exp := now.Add(s.tokenTTL)
	claims := map[string]any{"iss": "pasby-sandbox", "iat": now.Unix(), "exp": exp.Unix(), "jti": newUUIDv4()}
	if sub != "" {
		claims["sub"] = sub
	}
	if app != "" {
		claims["app"] = app
	}
	keys, err := s.keysFor(r.Context())
	if err != nil {
		s.internalError(w, version, "issue a token", err)
		return
	}
	writeOK(w, http.StatusOK, version, "Access token issued", struct {
		Token string `json:"token"`
	}{signJWT(keys.JWT, claims)})
}

// signJWT signs claims with key (HS256). The key is the simulator's
// stored one, so a token needs no record of its own: verifying it is
// checking the signature and exp, before and after a restart alike.
func signJWT(key []byte, claims map[string]any) string {
	enc := base64.RawURLEncoding
	head := enc.EncodeToString([]byte(jwtHeader))
	body := enc.EncodeToString(marshal(claims))
	return head + "." + body + "." + enc.EncodeToString(jwtMAC(key, head+"."+body))
}

const jwtHeader = `{"alg":"HS256","typ":"JWT"}`

func jwtMAC(key []byte, signed string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(signed))
	return mac.Sum(nil)
}

// checkToken accepts a token authorize issued that has not expired. A
// token expires at its exp claim, a whole second. [ours]
func (s *Sim) checkToken(ctx context.Context, token string) *apiError {
	keys, err := s.keysFor(ctx)
	if err != nil {
		s.logger.Error("pasbysim: check an access token", "error", err)
		return errInternal
	}
	enc := base64.RawURLEncoding
	head, rest, ok := strings.Cut(token, ".")
	body, sig, ok2 := strings.Cut(rest, ".")
	mac, err := enc.DecodeString(sig)
	if !ok || !ok2 || err != nil || !hmac.Equal(mac, jwtMAC(keys.JWT, head+"."+body)) {
		return unauthorized("Invalid access token")
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if raw, err := enc.DecodeString(body); err != nil || json.Unmarshal(raw, &claims) != nil {
		return unauthorized("Invalid access token")
	}
	if !s.now().Before(time.Unix(claims.Exp, 0)) {
		return unauthorized("Access token has expired: get a new one from GET /api/v1/flow/authorize")
	}
	return nil
}

// internalError answers 500 in the documented envelope when the sandbox
// store fails, and logs why: the message names no record.
func (s *Sim) internalError(w http.ResponseWriter, version, what string, err error) {
	s.logger.Error("pasbysim: "+what, "error", err)
	writeError(w, version, errInternal)
}

// --- helpers ---

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// publicBase is the absolute URL of the simulator root as the caller of r
// reached it: Options.PublicURL, or the scheme, Host and the path the
// simulator is mounted at (the request path minus the part the harness
// hands the simulator).
func (s *Sim) publicBase(r *http.Request) string {
	if s.publicURL != "" {
		return s.publicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + mountPath(r)
}

func mountPath(r *http.Request) string {
	full := r.RequestURI
	if i := strings.IndexAny(full, "?#"); i >= 0 {
		full = full[:i]
	}
	if u, err := url.Parse(full); err == nil && u.Host != "" { // absolute-form request URI
		full = u.EscapedPath()
	}
	rel := r.URL.EscapedPath()
	if strings.HasSuffix(full, rel) {
		return full[:len(full)-len(rel)]
	}
	return ""
}

// clip shortens s to at most n runes so hostile input cannot blow up a
// message.
func clip(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i] + "…"
		}
		n--
	}
	return s
}
