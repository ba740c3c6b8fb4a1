package simtest_test

import (
	"strings"
	"testing"

	"portal/services/sandbox/simtest"
)

func TestJSONKind(t *testing.T) {
	for _, tc := range []struct {
		json, want string
	}{
		{`null`, "null"},
		{`true`, "bool"},
		{`1`, "number"},
		{`-2.5e3`, "number"},
		{`"1"`, "string"},
		{`{}`, "object"},
		{`[]`, "array"},
	} {
		if got := simtest.JSONKind(simtest.DecodeAny(t, []byte(tc.json))); got != tc.want {
			t.Errorf("JSONKind(%s) = %q, want %q", tc.json, got, tc.want)
		}
	}
	// Without UseNumber a number is a float64, and still a number.
	if got := simtest.JSONKind(1.5); got != "number" {
		t.Errorf("JSONKind(1.5) = %q", got)
	}
	if got := simtest.JSONKind(struct{}{}); got != "unknown" {
		t.Errorf("JSONKind(struct{}{}) = %q", got)
	}
}

func TestShapeDiff(t *testing.T) {
	// The contract tests rely on it catching each of these.
	want := `{"a":1,"b":"x","c":{"d":true,"e":null},"f":[{"g":1}],"h":[],"m":[[1]]}`
	for _, tc := range []struct {
		name, got string
		diffs     []string
	}{
		{"same", `{"a":2.5,"b":"y","c":{"d":false,"e":null},"f":[{"g":3},{"g":4}],"h":[1],"m":[[2,3],[4]]}`, nil},
		{"missing key", `{"b":"x","c":{"d":true,"e":null},"f":[{"g":1}],"h":[],"m":[[1]]}`, []string{"$.a: missing"}},
		{"extra key", `{"a":1,"b":"x","z":0,"c":{"d":true,"e":null},"f":[{"g":1}],"h":[],"m":[[1]]}`, []string{"$.z: not in the example"}},
		{"number as string", `{"a":"1","b":"x","c":{"d":true,"e":null},"f":[{"g":1}],"h":[],"m":[[1]]}`, []string{"$.a: want number, got string"}},
		{"nested missing", `{"a":1,"b":"x","c":{"d":true},"f":[{"g":1}],"h":[],"m":[[1]]}`, []string{"$.c.e: missing"}},
		{"null for object", `{"a":1,"b":"x","c":null,"f":[{"g":1}],"h":[],"m":[[1]]}`, []string{"$.c: want object, got null"}},
		{"element shape", `{"a":1,"b":"x","c":{"d":true,"e":null},"f":[{"g":1},{"g":"2"}],"h":[],"m":[[1]]}`, []string{"$.f[1].g: want number, got string"}},
		{"empty array", `{"a":1,"b":"x","c":{"d":true,"e":null},"f":[],"h":[],"m":[[1]]}`, []string{"$.f: empty, cannot check its elements"}},
		{"nested array element", `{"a":1,"b":"x","c":{"d":true,"e":null},"f":[{"g":1}],"h":[],"m":[[1],[2,"3"]]}`, []string{"$.m[1][1]: want number, got string"}},
		{"array for object", `{"a":1,"b":"x","c":[],"f":[{"g":1}],"h":[],"m":[[1]]}`, []string{"$.c: want object, got array"}},
		{"several, in key order", `{"b":1,"c":{"d":true,"e":null},"f":[{"g":1}],"h":[],"m":[[1]],"y":0}`,
			[]string{"$.a: missing", "$.b: want string, got number", "$.y: not in the example"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := simtest.ShapeDiff("$", simtest.DecodeAny(t, []byte(want)), simtest.DecodeAny(t, []byte(tc.got)))
			if strings.Join(got, "\n") != strings.Join(tc.diffs, "\n") {
				t.Fatalf("diffs %q, want %q", got, tc.diffs)
			}
		})
	}
}

func TestAt(t *testing.T) {
	v := simtest.DecodeAny(t, []byte(`{"a":{"b":[{"c":"x"},{"c":"y"}]}}`))
	for _, tc := range []struct {
		path string
		want any
	}{
		{"a.b.1.c", "y"},
		{"a.b.0.c", "x"},
		{"a.b.2.c", nil},
		{"a.b.x", nil},
		{"a.z", nil},
		{"a.b.0.c.d", nil},
	} {
		if got := simtest.At(v, tc.path); got != tc.want {
			t.Errorf("At(%s) = %v, want %v", tc.path, got, tc.want)
		}
	}
}

func TestForms(t *testing.T) {
	// What a browser would post: escaped values read back, the selected
	// option or else the first, an option's text when it has no value.
	page := `<form method="post" action="/a?x=1&amp;y=2" class="c"><input type="hidden" name="step" value="scan">` +
		`<input type="text" id="f" name="name" value="O&#39;Brien" maxlength="9">` +
		`<select name="first"><option value="A">a</option><option value="B">b</option></select>` +
		`<select id="s" name="picked"><option>X</option><option selected>Y</option></select>` +
		`<button type="submit" class="primary">Scan &amp; go</button></form>` +
		`<form method="post" action="/b"><button type="submit">Abort</button></form>`
	forms := simtest.Forms(page)
	if len(forms) != 2 {
		t.Fatalf("%d forms", len(forms))
	}
	f := forms[0]
	want := map[string]string{"step": "scan", "name": "O'Brien", "first": "A", "picked": "Y"}
	if f.Action != "/a?x=1&y=2" || f.Button != "Scan & go" || len(f.Values) != len(want) {
		t.Fatalf("%+v", f)
	}
	for k, v := range want {
		if f.Values.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, f.Values.Get(k), v)
		}
	}
	if got := simtest.Buttons(page); strings.Join(got, "|") != "Scan & go|Abort" {
		t.Errorf("buttons %q", got)
	}
	if got := simtest.FindForm(t, page, "Abort"); got.Action != "/b" || len(got.Values) != 0 {
		t.Errorf("FindForm: %+v", got)
	}
}
