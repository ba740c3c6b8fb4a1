package pawapasssim

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxBody bounds a create request's body. The document gives no limit.
// [ours]
const maxBody = 64 << 10

// List paging (NOTES.md).
const (
	defaultLimit = 15
	maxLimit     = 50
)

// --- authentication ---

// api authenticates a request: "Authorization: Bearer <key>", or the
// legacy "X-AUTH-KEY: <key>" (NOTES.md). When an Authorization header is
// present it alone decides. [ours]
func (s *Sim) api(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if isCreate(r) {
			err := s.update(r.Context(), func(t *txn) error {
				_, err := t.tx.Add(counterCreateCalls, 1)
				return err
			})
			if err != nil {
				s.storeFailed(w, "counting a create call", err)
				return
			}
		}
		if !s.authorized(r) {
			writeError(w, errUnauthorized)
			return
		}
		next(w, r)
	}
}

func isCreate(r *http.Request) bool { return r.Method == http.MethodPost }

func (s *Sim) authorized(r *http.Request) bool {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
		return ok && strings.EqualFold(scheme, "Bearer") && equal(strings.TrimSpace(token), s.apiKey)
	}
	key := r.Header.Get("X-AUTH-KEY")
	return key != "" && equal(key, s.apiKey)
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// --- create ---

type object = map[string]json.RawMessage

// createInput is a create request that passed every check that does not
// depend on the simulator's state.
type createInput struct {
	externalID   string
	requirements []Requirement
	successURL   string
	errorURL     string
	supportURL   string
	country      string
	phoneNo      *string
	metadata     json.RawMessage
	expiresAt    *time.Time
	createdBy    *string
}

func (s *Sim) handleCreate(w http.ResponseWriter, r *http.Request) {
	if !isJSON(r.Header.Get("Content-Type")) {
		writeError(w, errMediaType)
		return
	}
	m, e := readObject(w, r)
	var in createInput
	if e == nil {
		in, e = parseCreate(m)
	}
	if e != nil {
		writeError(w, e)
		return
	}
	pageBase := s.publicBase(r) + PathApp + CompanySlug + "/"
	var body []byte
	err := s.update(r.Context(), func(t *txn) error {
		var err error
		if e, err = s.checkCreate(t, in); e != nil || err != nil {
			return err
		}
		v := s.newVerification(in, t.now)
		if err := s.insert(t, v, pageBase); err != nil {
			return err
		}
		body = marshal(v.wire())
		return nil
	})
	if err != nil {
		s.storeFailed(w, "creating a verification", err)
		return
	}
	if e != nil {
		writeError(w, e)
		return
	}
	// 200: the document shows a "Default Response" without a code. [ours]
	writeRaw(w, http.StatusOK, body)
}

// isJSON accepts application/json with any parameters, as the document's
// curl sends it. Anything else is 415. [ours]
func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

// readObject reads a body that must be exactly one JSON object.
func readObject(w http.ResponseWriter, r *http.Request) (object, *apiError) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	var m object
	err := dec.Decode(&m)
	if err == nil {
		if m == nil {
			return nil, validation("body", "must be a JSON object")
		}
		if _, err = dec.Token(); errors.Is(err, io.EOF) {
			return m, nil
		}
		if err == nil {
			return nil, validation("body", "must be one JSON object with nothing after it")
		}
	}
	var (
		tooBig *http.MaxBytesError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooBig):
		return nil, errTooLarge
	case errors.Is(err, io.EOF):
		return nil, validation("body", "is empty: send a JSON object")
	case errors.As(err, &typ):
		return nil, validation("body", "must be a JSON object")
	default:
		return nil, validation("body", "is not valid JSON")
	}
}

// jsonType names the JSON type of raw for messages.
func jsonType(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "a number"
}

// stringField reads m[key] as a string. A JSON null is a wrong type like
// any other: optional fields are left out, not sent as null. [ours]
func stringField(m object, key, field string, required bool) (v string, present bool, e *apiError) {
	raw, ok := m[key]
	if !ok {
		if required {
			return "", false, validation(field, "is required")
		}
		return "", false, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil || jsonType(raw) != "a string" {
		return "", false, validation(field, "must be a string, not "+jsonType(raw))
	}
	return v, true, nil
}

// noNullBytes is the document's string<no-null-bytes>.
func noNullBytes(v, field string) *apiError {
	if strings.ContainsRune(v, 0) {
		return validation(field, "must not contain null bytes")
	}
	return nil
}

// urlPattern is the document's pattern for successUrl, errorUrl and
// supportUrl. Like a JSON schema pattern it is case-sensitive.
var urlPattern = regexp.MustCompile(`^https?://`)

// uriField reads a required string<uri> matching ^https?:// that parses as
// a URL with a host.
func uriField(m object, key string) (string, *apiError) {
	v, _, e := stringField(m, key, key, true)
	if e != nil {
		return "", e
	}
	if !urlPattern.MatchString(v) {
		return "", validation(key, "must match pattern ^https?://")
	}
	if u, err := url.Parse(v); err != nil || u.Host == "" || u.Hostname() == "" {
		return "", validation(key, "must be a URL")
	}
	return v, nil
}

// parseCreate checks a create body against the document, in the
// document's field order, and stops at the first problem. Unknown fields
// are ignored.
func parseCreate(m object) (createInput, *apiError) {
	var in createInput
	var e *apiError

	// externalId: string<no-null-bytes>, required, min length 1.
	if in.externalID, _, e = stringField(m, "externalId", "externalId", true); e != nil {
		return in, e
	}
	if in.externalID == "" {
		return in, validation("externalId", "must not be empty")
	}
	if e = noNullBytes(in.externalID, "externalId"); e != nil {
		return in, e
	}

	if in.requirements, e = parseRequirements(m); e != nil {
		return in, e
	}

	for _, f := range []struct {
		key string
		dst *string
	}{{"successUrl", &in.successURL}, {"errorUrl", &in.errorURL}, {"supportUrl", &in.supportURL}} {
		if *f.dst, e = uriField(m, f.key); e != nil {
			return in, e
		}
	}

	country, present, e := stringField(m, "country", "country", false)
	if e != nil {
		return in, e
	}
	if present && !slices.Contains(Countries(), country) {
		return in, validation("country", "must be one of "+strings.Join(Countries(), ", "))
	}
	in.country = country

	if in.phoneNo, e = optionalText(m, "phoneNo"); e != nil {
		return in, e
	}

	if raw, ok := m["metadata"]; ok {
		if jsonType(raw) != "an object" {
			return in, validation("metadata", "must be an object, not "+jsonType(raw))
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil { // cannot happen: the decoder checked it
			return in, validation("metadata", "must be an object")
		}
		in.metadata = buf.Bytes()
		if in.phoneNo == nil {
			in.phoneNo = metadataPhone(in.metadata)
		}
	}

	exp, present, e := stringField(m, "expiresAt", "expiresAt", false)
	if e != nil {
		return in, e
	}
	if present {
		t, err := time.Parse(time.RFC3339Nano, exp)
		if err != nil {
			return in, validation("expiresAt", `must be an ISO 8601 date-time such as "2025-08-27T09:00:00.000Z"`)
		}
		in.expiresAt = &t
	}

	if in.createdBy, e = optionalText(m, "createdBy"); e != nil {
		return in, e
	}
	return in, nil
}

// optionalText reads an optional string<no-null-bytes>.
func optionalText(m object, key string) (*string, *apiError) {
	v, present, e := stringField(m, key, key, false)
	if e != nil || !present {
		return nil, e
	}
	if e := noNullBytes(v, key); e != nil {
		return nil, e
	}
	return &v, nil
}

// metadataPhone is phoneNo "extracted from metadata" when the request has
// none: a string metadata.phoneNo. [ours for the key]
func metadataPhone(meta json.RawMessage) *string {
	var m map[string]json.RawMessage
	if json.Unmarshal(meta, &m) != nil {
		return nil
	}
	var p string
	if json.Unmarshal(m["phoneNo"], &p) != nil || p == "" || strings.ContainsRune(p, 0) {
		return nil
	}
	return &p
}

// parseRequirements reads requirements: an array of at least one
// {"type": DOCUMENT_SCAN | FACE_SCAN, "options"?: {"previousVerificationId"?}}.
// A type may appear once. [ours] Whether previousVerificationId names an
// approved verification is checked against the state later.
func parseRequirements(m object) ([]Requirement, *apiError) {
	raw, ok := m["requirements"]
	if !ok {
		return nil, validation("requirements", "is required")
	}
	var items []json.RawMessage
	if jsonType(raw) != "an array" || json.Unmarshal(raw, &items) != nil {
		return nil, validation("requirements", "must be an array, not "+jsonType(raw))
	}
	if len(items) == 0 {
		return nil, validation("requirements", "must contain at least 1 item")
	}
	out := make([]Requirement, 0, len(items))
	for i, item := range items {
		field := "requirements[" + strconv.Itoa(i) + "]"
		var o object
		if jsonType(item) != "an object" || json.Unmarshal(item, &o) != nil {
			return nil, validation(field, "must be an object, not "+jsonType(item))
		}
		typ, _, e := stringField(o, "type", field+".type", true)
		if e != nil {
			return nil, e
		}
		if typ != RequirementDocumentScan && typ != RequirementFaceScan {
			return nil, validation(field+".type", "must be one of DOCUMENT_SCAN, FACE_SCAN")
		}
		if slices.ContainsFunc(out, func(r Requirement) bool { return r.Type == typ }) {
			return nil, validation(field+".type", typ+" is listed twice")
		}
		req := Requirement{Type: typ}
		if rawOpts, ok := o["options"]; ok {
			var opts object
			if jsonType(rawOpts) != "an object" || json.Unmarshal(rawOpts, &opts) != nil {
				return nil, validation(field+".options", "must be an object, not "+jsonType(rawOpts))
			}
			prevField := field + ".options.previousVerificationId"
			prev, present, e := stringField(opts, "previousVerificationId", prevField, false)
			if e != nil {
				return nil, e
			}
			if present {
				// NOTES.md: it asks for a face-only re-verification,
				// so it belongs on FACE_SCAN. [ours]
				if typ != RequirementFaceScan {
					return nil, validation(prevField, "only applies to FACE_SCAN")
				}
				if prev == "" {
					return nil, validation(prevField, "must not be empty")
				}
				req.PreviousVerificationID = prev
			}
		}
		out = append(out, req)
	}
	return out, nil
}

// checkCreate makes the checks that depend on the state and the clock.
// [ours]
func (s *Sim) checkCreate(t *txn, in createInput) (*apiError, error) {
	for i, r := range in.requirements {
		if r.PreviousVerificationID == "" {
			continue
		}
		prev, err := s.load(t, r.PreviousVerificationID)
		if err != nil {
			return nil, err
		}
		if prev == nil || prev.Status != StatusApproved {
			return validation("requirements["+strconv.Itoa(i)+"].options.previousVerificationId", "must be the id of an APPROVED verification"), nil
		}
	}
	if in.expiresAt != nil && !stamp(*in.expiresAt).After(stamp(t.now)) {
		return validation("expiresAt", "must be in the future"), nil
	}
	return nil, nil
}

// --- get and list ---

func (s *Sim) handleGet(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var body []byte
	err := s.update(r.Context(), func(t *txn) error {
		v, err := s.load(t, id)
		if v != nil {
			body = marshal(v.wire())
		}
		return err
	})
	if err != nil {
		s.storeFailed(w, "reading a verification", err)
		return
	}
	if body == nil {
		writeError(w, errNotFound)
		return
	}
	writeRaw(w, http.StatusOK, body)
}

// listQuery is a checked list request.
type listQuery struct {
	page, limit    int
	id, externalID string
	statuses       []string
}

// parseListQuery reads page (from 0), limit (1–50, default 15) and the
// filters id, externalId and statuses (repeatable) (NOTES.md). An empty id
// or externalId is no filter; other parameters are ignored. [ours]
func parseListQuery(q url.Values) (listQuery, *apiError) {
	lq := listQuery{limit: defaultLimit, id: q.Get("id"), externalID: q.Get("externalId")}
	if v, ok := q["page"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 0 {
			return lq, validation("page", "must be an integer of at least 0")
		}
		lq.page = n
	}
	if v, ok := q["limit"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > maxLimit {
			return lq, validation("limit", "must be an integer from 1 to 50")
		}
		lq.limit = n
	}
	for _, st := range q["statuses"] {
		if !slices.Contains(Statuses(), st) {
			return lq, validation("statuses", "must each be one of "+strings.Join(Statuses(), ", "))
		}
		if !slices.Contains(lq.statuses, st) {
			lq.statuses = append(lq.statuses, st)
		}
	}
	return lq, nil
}

func (k listKey) matches(lq listQuery) bool {
	return (lq.id == "" || k.ID == lq.id) &&
		(lq.externalID == "" || k.ExternalID == lq.externalID) &&
		(len(lq.statuses) == 0 || slices.Contains(lq.statuses, k.Status))
}

func (v *verification) key() listKey {
	return listKey{ID: v.ID, ExternalID: v.ExternalID, Status: v.Status}
}

// handleList answers {"items":[…],"count":N}, count being every match,
// items one page of them, newest first. [ours for the order] It first
// applies the clock to every due verification, so statuses are current.
func (s *Sim) handleList(w http.ResponseWriter, r *http.Request) {
	lq, e := parseListQuery(r.URL.Query())
	if e != nil {
		writeError(w, e)
		return
	}
	out, err := s.listPage(r.Context(), lq)
	if err != nil {
		s.storeFailed(w, "listing verifications", err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// listPage applies the clock to every due verification, most of it in
// transactions of its own and the rest (what came due since) with the
// read, then reads the page.
func (s *Sim) listPage(ctx context.Context, lq listQuery) (listJSON, error) {
	if err := s.advanceAll(ctx); err != nil {
		return listJSON{}, err
	}
	var out listJSON
	err := s.update(ctx, func(t *txn) error {
		if err := s.catchUp(t); err != nil {
			return err
		}
		var err error
		out, err = s.list(t, lq)
		return err
	})
	return out, err
}

// list reads one page: an id filter reads that record, no filter reads
// the page alone, and other filters read at most maxFilteredScan records,
// newest first, keeping only the page's.
func (s *Sim) list(t *txn, lq listQuery) (listJSON, error) {
	out := listJSON{Items: []verificationJSON{}}
	skip := math.MaxInt
	if lq.page <= (math.MaxInt-1)/lq.limit {
		skip = lq.page * lq.limit
	}
	switch {
	case lq.id != "":
		v, err := read(t, lq.id)
		if err != nil || v == nil || !v.key().matches(lq) {
			return out, err
		}
		out.Count = 1
		if skip == 0 {
			out.Items = append(out.Items, v.wire())
		}
		return out, nil
	case lq.externalID == "" && len(lq.statuses) == 0:
		n, err := t.tx.Count(kindVerification)
		out.Count = n
		if err != nil || skip >= n {
			return out, err
		}
		seen := 0
		err = t.tx.Each(kindVerification, true, skip+lq.limit, func(_ string, body []byte) error {
			if seen++; seen <= skip {
				return nil
			}
			return appendItem(&out, body)
		})
		return out, err
	}
	err := t.tx.Each(kindVerification, true, maxFilteredScan, func(_ string, body []byte) error {
		var k listKey
		if err := json.Unmarshal(body, &k); err != nil {
			return fmt.Errorf("pawapasssim: decode verification: %w", err)
		}
		if !k.matches(lq) {
			return nil
		}
		out.Count++
		if out.Count > skip && len(out.Items) < lq.limit {
			return appendItem(&out, body)
		}
		return nil
	})
	return out, err
}

func appendItem(out *listJSON, body []byte) error {
	v, err := decodeVerification(body)
	if err != nil {
		return err
	}
	out.Items = append(out.Items, v.wire())
	return nil
}

// storeFailed answers 500 in the documented error shape after a store
// failure, which is logged: the message says no more than that. [ours]
func (s *Sim) storeFailed(w http.ResponseWriter, doing string, err error) {
	s.logger.Error("pawapasssim: store failed", "while", doing, "error", err)
	writeError(w, errStore)
}

// --- helpers ---

// publicBase is the absolute URL of the simulator root as the caller of r
// reached it: Options.PublicURL, or the scheme, Host and the path the
// simulator is mounted at.
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

// mountPath is the request path minus the part the harness hands the
// simulator: where the simulator's root is mounted, e.g.
// "/sandbox/pawapass".
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
