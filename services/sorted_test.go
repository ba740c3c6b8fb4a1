package services

import (
	"testing"
	"time"
)

// A time cursor is read only as the portal writes one: RFC 3339 in UTC
// with no trailing zeros, the text every row's value turns into, so the
// value compared with the index is always one the database wrote.
func TestTimeKeyCursors(t *testing.T) {
	type row struct{ at time.Time }
	key := TimeKey("updated", "updated_at", func(r row) time.Time { return r.at })
	at := time.Date(2026, 1, 1, 10, 4, 5, 123456000, time.FixedZone("EAT", 3*3600))
	written := Cursor{ID: 12, Value: key.Value(row{at})}.String()
	if written != "12_2026-01-01T07:04:05.123456Z" {
		t.Fatalf("cursor written as %q", written)
	}
	if c, ok := ParseCursor(written, key); !ok || c.ID != 12 || c.Value != "2026-01-01T07:04:05.123456Z" {
		t.Fatalf("the cursor the portal wrote reads as %+v, %v", c, ok)
	}
	for _, bad := range []string{
		"12",                                  // an id cursor, from the default order
		"12_yesterday",                        // not a time
		"12_2026-01-01T10:04:05.123456+03:00", // not in UTC
		"12_2026-01-01T07:04:05.500Z0",        // not RFC 3339
		"12_2026-01-01T07:04:05.500Z",         // a trailing zero: not as the portal writes it
		"12_2026-01-01T00:00:00Z' OR 1=1 --",  // SQL
		"0_2026-01-01T07:04:05Z",              // no row has id 0
	} {
		if c, ok := ParseCursor(bad, key); ok {
			t.Errorf("%q read as %+v", bad, c)
		}
	}
}
