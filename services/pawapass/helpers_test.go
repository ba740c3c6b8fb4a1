package pawapass

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"portal/services/upstream"
)

const testKey = "pp-key-never-shown-0123456789"

// seen is one request as the stand-in received it.
type seen struct {
	method, path, rawPath, rawQuery string
	header                          http.Header
	body                            []byte
}

// fake is a small hand-written pawaPass stand-in for client tests (the
// sandbox simulator lives elsewhere and is deliberately not used here).
// Every request is recorded before handle answers it.
type fake struct {
	*httptest.Server
	reqs   atomic.Int64
	mu     sync.Mutex
	seen   []seen
	handle func(w http.ResponseWriter, r *http.Request, n int64)
}

func newFake(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, n int64)) *fake {
	t.Helper()
	u := &fake{handle: handle}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.seen = append(u.seen, seen{
			method: r.Method, path: r.URL.Path, rawPath: r.URL.EscapedPath(), rawQuery: r.URL.RawQuery,
			header: r.Header.Clone(), body: body,
		})
		u.mu.Unlock()
		u.handle(w, r, u.reqs.Add(1))
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *fake) last(t *testing.T) seen {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		t.Fatal("no request reached the upstream")
	}
	return u.seen[len(u.seen)-1]
}

// answer always answers status with body.
func answer(status int, body string) func(http.ResponseWriter, *http.Request, int64) {
	return func(w http.ResponseWriter, _ *http.Request, _ int64) { writeJSON(w, status, body) }
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// fastRetry is DefaultRetry's schedule (as many tries) with tiny waits.
var fastRetry = upstream.Retry{Attempts: DefaultRetry.Attempts, Base: time.Millisecond, Max: 10 * time.Millisecond, Jitter: DefaultRetry.Jitter}

// testClient points at base+"/v2" with tiny retry waits.
func testClient(base string, mods ...func(*Config)) *Client {
	cfg := Config{BaseURL: base + "/v2", APIKey: testKey, Timeout: 5 * time.Second, Retry: fastRetry}
	for _, m := range mods {
		m(&cfg)
	}
	return New(cfg)
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// exampleVerification is the document's example response.
func exampleVerification(t testing.TB) string {
	return string(readTestdata(t, "verification.json"))
}

// verificationJSON is a small verification with the given id and status.
func verificationJSON(id, status string) string {
	return fmt.Sprintf(`{"id":%q,"externalId":"ext-%s","country":null,"phoneNo":null,"requirements":[{"type":"FACE_SCAN"}],`+
		`"url":"https://app.pawapass.com/c/%s","status":%q,"metadata":null,"successUrl":"https://s.example/ok",`+
		`"errorUrl":"https://s.example/err","supportUrl":"https://s.example/help","identityDocument":null,"faceScan":null,`+
		`"reviewResult":null,"createdBy":null,"expiresAt":"2025-08-27T09:00:00Z","createdAt":"2025-08-20T09:00:00Z",`+
		`"updatedAt":"2025-08-20T09:00:00Z"}`, id, id, id, status)
}

// checkErrText asserts the error text rules: the "pawapass: " prefix, never
// the API key, no control characters.
func checkErrText(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("expected an error")
	}
	s := err.Error()
	if !strings.HasPrefix(s, "pawapass: ") {
		t.Errorf("error %q does not start with \"pawapass: \"", s)
	}
	if strings.Contains(s, testKey) {
		t.Errorf("error %q contains the API key", s)
	}
	if strings.ContainsAny(s, "\r\n\a\x00") {
		t.Errorf("error %q contains control characters", s)
	}
}

// leaves flattens a JSON document into path → value, numbers kept as their
// text so 1 and "1" differ.
func leaves(t *testing.T, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	out := map[string]any{}
	var walk func(string, any)
	walk = func(p string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if len(x) == 0 {
				out[p] = "{}"
			}
			for k, e := range x {
				walk(p+"."+k, e)
			}
		case []any:
			if len(x) == 0 {
				out[p] = "[]"
			}
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", p, i), e)
			}
		case json.Number:
			out[p] = struct{ N string }{x.String()}
		default:
			out[p] = x
		}
	}
	walk("", v)
	return out
}

// assertSameJSON compares two documents leaf by leaf and names every
// difference.
func assertSameJSON(t *testing.T, got, want []byte) {
	t.Helper()
	g, w := leaves(t, got), leaves(t, want)
	var diffs []string
	for p, wv := range w {
		if gv, ok := g[p]; !ok {
			diffs = append(diffs, fmt.Sprintf("missing %s (want %v)", p, wv))
		} else if !reflect.DeepEqual(gv, wv) {
			diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", p, gv, wv))
		}
	}
	for p, gv := range g {
		if _, ok := w[p]; !ok {
			diffs = append(diffs, fmt.Sprintf("extra %s = %v", p, gv))
		}
	}
	sort.Strings(diffs)
	for _, d := range diffs {
		t.Error(d)
	}
}

// zeroFields lists the exported fields of v (recursively through structs,
// pointers and slices) that hold their zero value.
func zeroFields(v reflect.Value, path string) []string {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return []string{path}
		}
		return zeroFields(v.Elem(), path)
	case reflect.Struct:
		if t, ok := v.Interface().(time.Time); ok {
			if t.IsZero() {
				return []string{path}
			}
			return nil
		}
		var out []string
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if f.IsExported() {
				out = append(out, zeroFields(v.Field(i), path+"."+f.Name)...)
			}
		}
		return out
	case reflect.Slice:
		if v.Len() == 0 {
			return []string{path}
		}
		if v.Type().Elem().Kind() == reflect.Uint8 { // json.RawMessage
			return nil
		}
		var out []string
		for i := range v.Len() {
			out = append(out, zeroFields(v.Index(i), fmt.Sprintf("%s[%d]", path, i))...)
		}
		return out
	default:
		if v.IsZero() {
			return []string{path}
		}
		return nil
	}
}
