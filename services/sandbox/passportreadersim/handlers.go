package passportreadersim

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"portal/services/sandbox"
)

// Limits on requests. The document gives none. [ours]
const (
	maxBody      = 64 << 10
	maxURL       = 2048
	maxReference = 1000
	maxUserAgent = 512
)

// Error names. Only SessionNotFound is published (idv-sessions.txt);
// the others are ours.
const (
	errNameNotFound         = "SessionNotFound"
	errNameUnauthorized     = "Unauthorized"
	errNameInvalid          = "InvalidRequest"
	errNameMethodNotAllowed = "MethodNotAllowed"
	errNameNoSuchMethod     = "NotFound"
)

// timeLayout is the document's timestamp format, YYYY-MM-DDTHH:MM:SSZ, in
// UTC.
const timeLayout = "2006-01-02T15:04:05Z"

// apiError is a failed request, answered as the document's error example:
// {"error_message": "...", "error_name": "..."}.
type apiError struct {
	code    int
	name    string
	message string
}

type errorBody struct {
	Message string `json:"error_message"`
	Name    string `json:"error_name"`
}

func invalid(msg string) *apiError { return &apiError{http.StatusBadRequest, errNameInvalid, msg} }

func notFound(id int64) *apiError {
	return &apiError{http.StatusNotFound, errNameNotFound, "No session found with id: " + strconv.FormatInt(id, 10)}
}

// marshal encodes v without escaping <, > and &, so URLs read as sent.
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil { // cannot happen with this package's types
		return []byte(`{"error_message":"passportreadersim: cannot encode the answer","error_name":"InternalError"}`)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(marshal(v))
}

func writeError(w http.ResponseWriter, e *apiError) {
	if e.code == http.StatusUnauthorized {
		// What a 401 must carry (RFC 9110); the realm is ours.
		w.Header().Set("WWW-Authenticate", `Basic realm="PassportReader sandbox", charset="UTF-8"`)
	}
	writeJSON(w, e.code, errorBody{e.message, e.name})
}

// --- authentication and the request body ---

type object = map[string]json.RawMessage

type apiHandler func(w http.ResponseWriter, r *http.Request, m object)

// api authenticates the request, reads its body and hands it to next. The
// body's Content-Type is not looked at: the document's own example
// (curl -d) sends JSON as application/x-www-form-urlencoded.
func (s *Sim) api(next apiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if e := s.authenticate(r); e != nil {
			writeError(w, e)
			return
		}
		m, e := readObject(w, r)
		if e != nil {
			writeError(w, e)
			return
		}
		next(w, r, m)
	}
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// authenticate checks HTTP Basic auth: the public key as the username and
// the secret as the password (idv-sessions.txt). The messages never repeat
// what was sent, and do not say which of the two was wrong. [ours for the
// messages]
func (s *Sim) authenticate(r *http.Request) *apiError {
	if r.Header.Get("Authorization") == "" {
		return &apiError{http.StatusUnauthorized, errNameUnauthorized,
			"No API credentials: use HTTP Basic auth with your public key as the username and your secret as the password"}
	}
	key, secret, ok := r.BasicAuth()
	if !ok {
		return &apiError{http.StatusUnauthorized, errNameUnauthorized,
			"The Authorization header is not HTTP Basic auth: send base64(public key + \":\" + secret)"}
	}
	// Evaluate both comparisons so the time taken does not tell which
	// one failed.
	keyOK, secretOK := equal(key, s.publicKey), equal(secret, s.secret)
	if !keyOK || !secretOK {
		return &apiError{http.StatusUnauthorized, errNameUnauthorized,
			"Invalid API credentials: check the public key (public-key-…) and the secret (secret-…), prefixes included"}
	}
	return nil
}

// readObject reads the body: one JSON object, or nothing at all, which
// counts as {} (idv-sessions.txt). [ours for every rejection]
func readObject(w http.ResponseWriter, r *http.Request) (object, *apiError) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, invalid("The request body is larger than 64 KiB")
		}
		return nil, invalid("The request body could not be read")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return object{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var m object
	if err := dec.Decode(&m); err != nil {
		var (
			syn *json.SyntaxError
			typ *json.UnmarshalTypeError
		)
		switch {
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, invalid("The request body is not valid JSON: it ends too early")
		case errors.As(err, &syn):
			return nil, invalid("The request body is not valid JSON: " + clip(syn.Error(), 120))
		case errors.As(err, &typ):
			return nil, invalid("The request body must be a JSON object")
		}
		return nil, invalid("The request body is not a valid JSON object")
	}
	if m == nil {
		return nil, invalid("The request body must be a JSON object, not null")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, invalid("The request body must hold one JSON object and nothing after it")
	}
	return m, nil
}

// raw returns m[key] trimmed; a missing key and null give nil.
// Treating null as absent is ours.
func raw(m object, key string) []byte {
	v := bytes.TrimSpace(m[key])
	if len(v) == 0 || string(v) == "null" {
		return nil
	}
	return v
}

// intField reads an integer property. Only a JSON integer literal within
// int64 is one: "123", 123.0 and 1e3 are not. [ours for the last two]
func intField(m object, key string) (v int64, present bool, e *apiError) {
	b := raw(m, key)
	if b == nil {
		return 0, false, nil
	}
	if b[0] == '-' || b[0] >= '0' && b[0] <= '9' {
		n, err := strconv.ParseInt(string(b), 10, 64)
		if err == nil {
			return n, true, nil
		}
		if errors.Is(err, strconv.ErrRange) {
			return 0, false, invalid(key + " must be an integer: a 64-bit whole number")
		}
	}
	return 0, false, invalid(key + " must be an integer")
}

func boolField(m object, key string) (v, present bool, e *apiError) {
	switch string(raw(m, key)) {
	case "":
		return false, false, nil
	case "true":
		return true, true, nil
	case "false":
		return false, true, nil
	}
	return false, false, invalid(key + " must be a boolean")
}

func stringField(m object, key string) (v string, present bool, e *apiError) {
	b := raw(m, key)
	if b == nil {
		return "", false, nil
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return "", false, invalid(key + " must be a string")
	}
	return v, true, nil
}

// httpURL reports whether raw is an absolute http or https URL with a
// host. http is accepted so callbacks reach a developer's machine. [ours]
func httpURL(raw string) bool {
	if len(raw) > maxURL {
		return false
	}
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Hostname() != ""
}

// --- session.create ---

func parseCreate(m object) (newSessionInput, *apiError) {
	var in newSessionInput
	cb, _, e := stringField(m, "callback_url")
	if e != nil {
		return in, e
	}
	// An empty callback_url means no callback, like a missing one. [ours]
	if cb = strings.TrimSpace(cb); cb != "" && !httpURL(cb) {
		return in, invalid("callback_url must be an absolute http(s) URL")
	}
	in.callbackURL = cb
	if in.faceVerification, _, e = boolField(m, "face_verification"); e != nil {
		return in, e
	}
	if in.reference, _, e = stringField(m, "reference"); e != nil {
		return in, e
	}
	if len(in.reference) > maxReference {
		return in, invalid("reference must be at most 1000 bytes")
	}
	if in.passportOnly, _, e = boolField(m, "passport_only"); e != nil {
		return in, e
	}
	return in, nil
}

type createAnswer struct {
	ID    int64  `json:"id"`
	Token string `json:"token"`
}

// handleCreate answers 200 {"id","token"}. It counts every request that
// got here, authenticated or not (see CreateCalls), so it authenticates
// itself instead of going through api.
func (s *Sim) handleCreate(w http.ResponseWriter, r *http.Request) {
	err := s.bucket.Update(r.Context(), func(tx *sandbox.Tx) error {
		_, err := tx.Add(counterCreateCalls, 1)
		return err
	})
	if err != nil {
		s.storeFailed(w, "session.create", err)
		return
	}
	s.api(func(w http.ResponseWriter, r *http.Request, m object) {
		in, e := parseCreate(m)
		if e != nil {
			writeError(w, e)
			return
		}
		var answer createAnswer
		err := s.update(r.Context(), func(o *op) error {
			rec, err := s.create(o, in)
			if err != nil {
				return err
			}
			answer = createAnswer{rec.ID, rec.Token}
			return nil
		})
		if err != nil {
			s.storeFailed(w, "session.create", err)
			return
		}
		writeJSON(w, http.StatusOK, answer)
	})(w, r)
}

// --- session.get and session.state ---

// sessionJSON is the session object with exactly the document's keys.
type sessionJSON struct {
	ID             int64  `json:"id"`
	Created        string `json:"created"`
	Expires        string `json:"expires"`
	State          string `json:"state"`
	Reference      string `json:"reference"`
	UserIP         string `json:"user_ip"`
	UserAgent      string `json:"user_agent"`
	GivenNames     string `json:"given_names"`
	Surname        string `json:"surname"`
	Nationality    string `json:"nationality"`
	Sex            string `json:"sex"`
	DateOfBirth    string `json:"date_of_birth"`
	PersonalNumber string `json:"personal_number"`
	DocumentType   string `json:"document_type"`
	DocumentNumber string `json:"document_number"`
	ExpiryDate     string `json:"expiry_date"`
	IssuingCountry string `json:"issuing_country"`
	Issuer         string `json:"issuer"`
	Portrait       string `json:"portrait"`
	Face           string `json:"face"`
}

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// b64 is standard base64 with padding and no data: prefix. [ours]
func b64(b []byte) string {
	if b == nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(b)
}

func (rec *sessionRecord) json() sessionJSON {
	id := rec.Identity
	return sessionJSON{
		ID: rec.ID, Created: formatTime(rec.Created), Expires: formatTime(rec.Expires), State: rec.State,
		Reference: rec.Reference, UserIP: rec.UserIP, UserAgent: rec.UserAgent,
		GivenNames: id.GivenNames, Surname: id.Surname, Nationality: id.Nationality, Sex: id.Sex,
		DateOfBirth: id.DateOfBirth, PersonalNumber: id.PersonalNumber, DocumentType: id.DocumentType,
		DocumentNumber: id.DocumentNumber, ExpiryDate: id.ExpiryDate, IssuingCountry: id.IssuingCountry,
		Issuer: id.Issuer, Portrait: b64(rec.Portrait), Face: b64(rec.Face),
	}
}

// lookup reads the required id and finds its session, answering the
// error itself when there is one. A missing id is a 400; an unknown (or
// non-positive) one the document's 404 SessionNotFound.
func (s *Sim) lookup(w http.ResponseWriter, r *http.Request, m object, view func(rec *sessionRecord) any) {
	id, present, e := intField(m, "id")
	if e == nil && !present {
		e = invalid("id is required: the session's id, an integer")
	}
	if e != nil {
		writeError(w, e)
		return
	}
	var answer any
	err := s.update(r.Context(), func(o *op) error {
		rec, found, err := s.load(o, id)
		if err != nil || !found {
			return err
		}
		answer = view(rec)
		return s.save(o, rec)
	})
	if err != nil {
		s.storeFailed(w, "session lookup", err)
		return
	}
	if answer == nil {
		writeError(w, notFound(id))
		return
	}
	writeJSON(w, http.StatusOK, answer)
}

func (s *Sim) handleGet(w http.ResponseWriter, r *http.Request, m object) {
	s.lookup(w, r, m, func(rec *sessionRecord) any { return rec.json() })
}

func (s *Sim) handleState(w http.ResponseWriter, r *http.Request, m object) {
	s.lookup(w, r, m, func(rec *sessionRecord) any {
		return struct {
			State string `json:"state"`
		}{rec.State}
	})
}

// apiPaths are the method paths, for telling a wrong method from an
// unknown path.
var apiPaths = map[string]bool{
	PathCreate: true, PathGet: true, PathState: true,
	PathCreateUnversioned: true, PathGetUnversioned: true, PathStateUnversioned: true,
}

// handleOtherAPI answers what the method routes do not match, in the API's
// error shape: 405 for a known path with another method than POST ("All
// API requests must be POST requests"), 404 for an unknown path. [ours]
func (s *Sim) handleOtherAPI(w http.ResponseWriter, r *http.Request) {
	if apiPaths[r.URL.Path] {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, &apiError{http.StatusMethodNotAllowed, errNameMethodNotAllowed, "All API requests must be POST requests"})
		return
	}
	writeError(w, &apiError{http.StatusNotFound, errNameNoSuchMethod,
		"No such API method: the sandbox serves session.create, session.get and session.state under /api/v1/"})
}

// --- helpers ---

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// mountPath is the path the simulator is mounted at, e.g.
// "/sandbox/passportreader": the request path minus the part the harness
// hands the simulator.
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
