package oneflow

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/shopspring/decimal"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// normJSON decodes with numbers as decimals' canonical strings, so 100 and
// 100.0 compare equal but "100" (a string) does not.
func normJSON(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	var walk func(any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				x[k] = walk(e)
			}
		case []any:
			for i, e := range x {
				x[i] = walk(e)
			}
		case json.Number:
			return struct{ N string }{decimal.RequireFromString(x.String()).String()}
		}
		return v
	}
	return walk(v)
}

func assertSameJSON(t *testing.T, got, want []byte) {
	t.Helper()
	if !reflect.DeepEqual(normJSON(t, got), normJSON(t, want)) {
		t.Errorf("JSON differs:\n got %s\nwant %s", got, want)
	}
}

func readFile(name string) ([]byte, error) { return os.ReadFile(name) }
