package contract

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Helpers of the identity-verification contract tests (pawaPass and
// PassportReader): the documents' example files, JSON shape and
// field-by-field comparisons, and a recording stand-in upstream for
// checking what the clients send.

// upstreamFile reads testdata/upstream/<vendor>/<name>.
func upstreamFile(t *testing.T, vendor, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "upstream", vendor, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeAny decodes one JSON value keeping numbers as json.Number, so an
// int64 id above 2^53 is compared exactly.
func decodeAny(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	return v
}

// jsonEqual reports whether a and b are the same JSON value (key order and
// white space aside).
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	return reflect.DeepEqual(decodeAny(t, a), decodeAny(t, b))
}

// kindOf names the JSON type of a decoded value.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return "?"
}

// shapeRules say where a value may differ in type from the documented
// example: nullable paths may be null, free paths (the caller's own
// metadata) may hold anything. Paths are dotted keys, "[]" for an array
// element: "requirements[].type", "data.identityDocument".
type shapeRules struct {
	nullable map[string]bool
	free     map[string]bool
}

// shapeDiffs lists where got differs from want in keys or JSON types. An
// array's elements are each compared with the example's first element.
func shapeDiffs(want, got any, path string, rules shapeRules) []string {
	wk, gk := kindOf(want), kindOf(got)
	name := path
	if name == "" {
		name = "(the body)"
	}
	switch {
	case rules.free[path]:
		return nil
	case gk == "null" && wk != "null":
		if rules.nullable[path] {
			return nil
		}
		return []string{name + ": null, the example has " + wk + " and the document does not say it may be null"}
	case gk != wk:
		return []string{name + ": " + gk + ", the example has " + wk}
	}
	var out []string
	switch w := want.(type) {
	case map[string]any:
		g := got.(map[string]any)
		for k := range w {
			if _, ok := g[k]; !ok {
				out = append(out, join(path, k)+": missing")
			}
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				out = append(out, join(path, k)+": not a key of the documented example")
			}
		}
		for k, wv := range w {
			if gv, ok := g[k]; ok {
				out = append(out, shapeDiffs(wv, gv, join(path, k), rules)...)
			}
		}
	case []any:
		if len(w) > 0 {
			for _, gv := range got.([]any) {
				out = append(out, shapeDiffs(w[0], gv, path+"[]", rules)...)
			}
		}
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// checkShape fails unless got has exactly the keys of the documented
// example want, each of the same JSON type (null only where rules allow).
// blame names the side at fault and the passage.
func checkShape(t *testing.T, what string, want, got []byte, rules shapeRules, blame string) {
	t.Helper()
	diffs := shapeDiffs(decodeAny(t, want), decodeAny(t, got), "", rules)
	if len(diffs) > 0 {
		sort.Strings(diffs)
		t.Errorf("simulator: %s differs from the documented example:\n  %s\nanswer: %s\n%s", what, strings.Join(diffs, "\n  "), got, blame)
	}
}

// prefixed returns the paths with prefix put before each.
func prefixed(prefix string, paths ...string) map[string]bool {
	out := map[string]bool{}
	for _, p := range paths {
		out[prefix+p] = true
	}
	return out
}

// ---- field by field ----------------------------------------------------------

// image is a decoded base64 image field; it matches a JSON string holding
// its standard base64, or a placeholder ("", "...") when nil.
type image []byte

// flatten maps every leaf of a decoded JSON value to its path ("a.b",
// "a[0].c"). Objects whose key is in stop are kept whole (the caller's
// metadata); empty objects and arrays are leaves.
func flatten(v any, path string, out map[string]any, stop map[string]bool) {
	last := path[strings.LastIndexByte(path, '.')+1:]
	if stop[last] && path != "" {
		out[path] = v
		return
	}
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			out[path] = x
		}
		for k, e := range x {
			flatten(e, join(path, k), out, stop)
		}
	case []any:
		if len(x) == 0 {
			out[path] = x
		}
		for i, e := range x {
			flatten(e, path+"["+strconv.Itoa(i)+"]", out, stop)
		}
	default:
		out[path] = v
	}
}

// isPlaceholder is the document's "..." in place of a value.
func isPlaceholder(s string) bool { return s != "" && strings.Trim(s, ".…") == "" }

// matchLeaf reports whether the client's decoded value got stands for the
// JSON value want.
func matchLeaf(t *testing.T, got, want any) bool {
	switch g := got.(type) {
	case string:
		w, ok := want.(string)
		return ok && w == g || want == nil && g == ""
	case int64:
		w, ok := want.(json.Number)
		return ok && string(w) == strconv.FormatInt(g, 10)
	case int:
		w, ok := want.(json.Number)
		return ok && string(w) == strconv.Itoa(g)
	case bool:
		w, ok := want.(bool)
		return ok && w == g
	case time.Time:
		switch w := want.(type) {
		case nil:
			return g.IsZero()
		case string:
			tm, err := time.Parse(time.RFC3339Nano, w)
			if err != nil {
				// A placeholder ("...") or an empty string: the
				// client keeps the zero time (Raw has the text).
				return g.IsZero()
			}
			return g.Equal(tm)
		}
		return false
	case image:
		w, ok := want.(string)
		if !ok {
			return false
		}
		if w == "" || isPlaceholder(w) {
			return g == nil
		}
		b, err := base64.StdEncoding.DecodeString(w)
		return err == nil && bytes.Equal(b, g)
	case json.RawMessage:
		if len(g) == 0 {
			return want == nil
		}
		return reflect.DeepEqual(decodeAny(t, g), want)
	case nil:
		return want == nil
	}
	t.Fatalf("matchLeaf: no rule for %T", got)
	return false
}

// checkFields compares, key by key, what the client decoded (got: JSON
// path → the client's value; nil for an object the client has as nil)
// with the JSON it decoded it from. Every key of the JSON must have been
// decoded, and the client must show nothing the JSON does not have. blame
// names the side at fault.
func checkFields(t *testing.T, what string, raw []byte, got map[string]any, stop map[string]bool, blame string) {
	t.Helper()
	if diffs := fieldDiffs(t, raw, got, stop); len(diffs) > 0 {
		t.Errorf("%s: the client's decoding differs from the JSON:\n  %s\n%s", what, strings.Join(diffs, "\n  "), blame)
	}
}

// fieldDiffs lists, sorted, where got and the JSON raw differ.
func fieldDiffs(t *testing.T, raw []byte, got map[string]any, stop map[string]bool) []string {
	t.Helper()
	j := map[string]any{}
	flatten(decodeAny(t, raw), "", j, stop)
	var diffs []string
	for p, jv := range j {
		gv, ok := got[p]
		switch {
		case !ok:
			diffs = append(diffs, p+": the answer has "+clipAny(jv)+", the client does not decode it")
		case !matchLeaf(t, gv, jv):
			diffs = append(diffs, p+": the answer has "+clipAny(jv)+", the client decoded "+clipAny(gv))
		}
	}
	for p, gv := range got {
		if _, ok := j[p]; !ok {
			diffs = append(diffs, p+": the client shows "+clipAny(gv)+", the answer has no such key")
		}
	}
	sort.Strings(diffs)
	return diffs
}

func clipAny(v any) string {
	var s string
	switch x := v.(type) {
	case nil:
		return "null"
	case image:
		s = strconv.Itoa(len(x)) + " bytes of image"
	case json.RawMessage:
		s = string(x)
	case time.Time:
		s = x.Format(time.RFC3339Nano)
	default:
		b, _ := json.Marshal(x)
		s = string(b)
	}
	if r := []rune(s); len(r) > 60 {
		s = string(r[:60]) + "…"
	}
	return s
}

// zeroFields lists the exported fields of a struct (recursively, through
// pointers) that hold their zero value, skipping those named in skip
// ("Raw", "Requirements[].Options").
func zeroFields(v reflect.Value, path string, skip map[string]bool) []string {
	if skip[path] {
		return nil
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return []string{path}
		}
		return zeroFields(v.Elem(), path, skip)
	case reflect.Struct:
		if tm, ok := v.Interface().(time.Time); ok {
			if tm.IsZero() {
				return []string{path}
			}
			return nil
		}
		var out []string
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if f.IsExported() {
				out = append(out, zeroFields(v.Field(i), join(path, f.Name), skip)...)
			}
		}
		return out
	case reflect.Slice:
		if v.Len() == 0 {
			return []string{path}
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return nil
		}
		var out []string
		for i := range v.Len() {
			out = append(out, zeroFields(v.Index(i), path+"[]", skip)...)
		}
		return out
	}
	if v.IsZero() {
		return []string{path}
	}
	return nil
}

// checkPopulated fails when a field of v is zero, besides those in allowed.
func checkPopulated(t *testing.T, what string, v any, allowed map[string]bool, blame string) {
	t.Helper()
	skip := map[string]bool{"Raw": true}
	for k := range allowed {
		skip[k] = true
	}
	var zero []string
	for _, z := range zeroFields(reflect.ValueOf(v), "", skip) {
		if !slices.Contains(zero, z) {
			zero = append(zero, z)
		}
	}
	if len(zero) > 0 {
		t.Errorf("%s: fields not populated: %s\n%s", what, strings.Join(zero, ", "), blame)
	}
}

// ---- a recording stand-in upstream -------------------------------------------

// seenRequest is one request the stand-in received.
type seenRequest struct {
	method, path, query string
	header              http.Header
	body                []byte
	user, pass          string
	basic               bool
}

// standIn answers every request with answer and records it: it shows what
// a client sends, and feeds it the documents' example answers.
type standIn struct {
	srv    *httptest.Server
	mu     sync.Mutex
	seen   []seenRequest
	answer func(r *http.Request) (int, []byte)
}

func newStandIn(t *testing.T, answer func(r *http.Request) (int, []byte)) *standIn {
	t.Helper()
	s := &standIn{answer: answer}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u, p, ok := r.BasicAuth()
		s.mu.Lock()
		s.seen = append(s.seen, seenRequest{
			method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, header: r.Header.Clone(), body: b,
			user: u, pass: p, basic: ok,
		})
		s.mu.Unlock()
		code, body := s.answer(r)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// last returns the last request received.
func (s *standIn) last(t *testing.T) seenRequest {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.seen) == 0 {
		t.Fatal("the client sent nothing")
	}
	return s.seen[len(s.seen)-1]
}

// answerWith always answers code and body.
func answerWith(code int, body []byte) func(*http.Request) (int, []byte) {
	return func(*http.Request) (int, []byte) { return code, body }
}

// rawCall sends one request to a simulator directly (no client), so the
// simulator's answers are checked independently of the client.
func rawCall(t *testing.T, method, u string, body []byte, header http.Header) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctxFor(t), method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := browser.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, u, err)
	}
	return resp.StatusCode, resp.Header, b
}

// jsonObject decodes a JSON object answer, failing the test otherwise.
func jsonObject(t *testing.T, what string, b []byte) map[string]any {
	t.Helper()
	m, ok := decodeAny(t, b).(map[string]any)
	if !ok {
		t.Fatalf("simulator: %s is not a JSON object: %s", what, b)
	}
	return m
}

// str returns m[key] as a string ("" when it is not one).
func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

func boolPtr(b bool) *bool { return &b }

// TestIDVHelpers: the comparisons catch what the contract tests rely on
// them for.
func TestIDVHelpers(t *testing.T) {
	t.Parallel()
	t.Run("shapeDiffs", func(t *testing.T) {
		want := `{"a":1,"b":"x","c":{"d":true},"n":{"e":1},"m":{"k":"v"},"f":[{"g":1}]}`
		rules := shapeRules{nullable: prefixed("", "n"), free: prefixed("", "m")}
		for _, tc := range []struct {
			name, got string
			diffs     []string
		}{
			{"same", `{"a":2,"b":"y","c":{"d":false},"n":{"e":3},"m":{"k":"v"},"f":[{"g":2},{"g":3}]}`, nil},
			{"nullable null, free anything", `{"a":2,"b":"y","c":{"d":false},"n":null,"m":[1],"f":[]}`, nil},
			{"missing", `{"b":"y","c":{"d":false},"n":null,"m":{},"f":[]}`, []string{"a: missing"}},
			{"extra", `{"a":2,"b":"y","z":1,"c":{"d":false},"n":null,"m":{},"f":[]}`, []string{"z: not a key of the documented example"}},
			{"type", `{"a":"2","b":"y","c":{"d":false},"n":null,"m":{},"f":[]}`, []string{"a: string, the example has number"}},
			{"not nullable", `{"a":2,"b":"y","c":null,"n":null,"m":{},"f":[]}`, []string{"c: null, the example has object and the document does not say it may be null"}},
			{"nested", `{"a":2,"b":"y","c":{"d":false,"x":1},"n":null,"m":{},"f":[{"g":"1"}]}`, []string{"c.x: not a key of the documented example", "f[].g: string, the example has number"}},
		} {
			got := shapeDiffs(decodeAny(t, []byte(want)), decodeAny(t, []byte(tc.got)), "", rules)
			sort.Strings(got)
			if strings.Join(got, "|") != strings.Join(tc.diffs, "|") {
				t.Errorf("%s: diffs %q, want %q", tc.name, got, tc.diffs)
			}
		}
	})

	t.Run("fieldDiffs", func(t *testing.T) {
		raw := []byte(`{"id":9007199254740993,"s":"x","t":"2025-08-20T09:00:00.000Z","p":"...","img":"AAEC","o":null,"m":{"k":"v"},"l":[{"v":"a"}]}`)
		ok := func() map[string]any {
			return map[string]any{
				"id": int64(9007199254740993), "s": "x", "t": time.Date(2025, 8, 20, 9, 0, 0, 0, time.UTC),
				"p": time.Time{}, "img": image{0, 1, 2}, "o": nil, "m": json.RawMessage(`{ "k" : "v" }`), "l[0].v": "a",
			}
		}
		stop := map[string]bool{"m": true}
		if d := fieldDiffs(t, raw, ok(), stop); len(d) > 0 {
			t.Errorf("a faithful decoding: %q", d)
		}
		for name, edit := range map[string]func(map[string]any){
			"id off by one (float64)": func(m map[string]any) { m["id"] = int64(9007199254740992) },
			"string":                  func(m map[string]any) { m["s"] = "y" },
			"time":                    func(m map[string]any) { m["t"] = time.Date(2025, 8, 20, 9, 0, 1, 0, time.UTC) },
			"placeholder time":        func(m map[string]any) { m["p"] = time.Now() },
			"image":                   func(m map[string]any) { m["img"] = image{0, 1} },
			"object not nil":          func(m map[string]any) { delete(m, "o"); m["o.x"] = "1" },
			"metadata":                func(m map[string]any) { m["m"] = json.RawMessage(`{"k":"w"}`) },
			"key not decoded":         func(m map[string]any) { delete(m, "l[0].v") },
			"key not in the answer":   func(m map[string]any) { m["extra"] = "" },
		} {
			m := ok()
			edit(m)
			if d := fieldDiffs(t, raw, m, stop); len(d) == 0 {
				t.Errorf("%s: not caught", name)
			}
		}
	})

	t.Run("zeroFields", func(t *testing.T) {
		type inner struct{ A string }
		type outer struct {
			S   string
			T   time.Time
			P   *inner
			L   []inner
			B   []byte
			In  inner
			Raw json.RawMessage
		}
		got := zeroFields(reflect.ValueOf(outer{L: []inner{{}}, B: []byte{1}}), "", map[string]bool{"Raw": true})
		want := []string{"S", "T", "P", "L[].A", "In.A"}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("zeroFields = %q, want %q", got, want)
		}
	})
}
