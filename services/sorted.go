package services

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"portal/models"
)

// Sorted lists page by keyset too: a page starts after the last row of the
// one before, by its sort value and then its id, so page 20,000 costs what
// page 1 costs in any order a list offers. Each offered order is an
// expression that an index of the table covers, followed by id.

// A SortKey is a column a list can be sorted by.
type SortKey[T any] struct {
	// Name is the URL's sort value ("amount"; "-amount" for descending).
	Name string
	// Expr is the sorted expression exactly as the index has it (for
	// example CAST(amount AS REAL)); "" sorts by id alone.
	Expr func(d models.Dialect) string
	// Arg binds a cursor's value for comparing with Expr ("CAST(? AS
	// REAL)"); nil means "?".
	Arg func(d models.Dialect) string
	// Value is a row's value of Expr as the cursor carries it.
	Value func(row T) string
	// Valid tells whether a cursor value from a URL can be compared.
	Valid func(v string) bool
}

// A Sort is how a list is ordered: by Key, ascending or descending.
type Sort struct {
	Key string
	Asc bool
}

// String is the sort as the URL writes it: "amount" or "-amount".
func (s Sort) String() string {
	if s.Asc {
		return s.Key
	}
	return "-" + s.Key
}

// ParseSort reads a list's "sort" field: one of keys, with a leading "-"
// for descending; empty means def. A bad value is a message in errs.
func ParseSort[T any](raw string, keys []SortKey[T], def Sort, errs FieldErrors) (Sort, SortKey[T]) {
	raw = strings.TrimSpace(raw)
	s := def
	if raw != "" {
		name, desc := strings.CutPrefix(raw, "-")
		s = Sort{Key: name, Asc: !desc}
	}
	for _, k := range keys {
		if k.Name == s.Key {
			return s, k
		}
	}
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.Name
	}
	errs["sort"] = "Sort by " + strings.Join(names, ", ") + "."
	return def, SortKey[T]{}
}

// A Cursor is where a sorted page starts: the sort value and id of the
// row next to it. The URL writes it as "<id>" (sorted by id) or
// "<id>_<value>".
type Cursor struct {
	ID    uint
	Value string
}

// IsZero reports a missing cursor (the first page).
func (c Cursor) IsZero() bool { return c.ID == 0 }

func (c Cursor) String() string {
	if c.ID == 0 {
		return ""
	}
	id := strconv.FormatUint(uint64(c.ID), 10)
	if c.Value == "" {
		return id
	}
	return id + "_" + c.Value
}

// ParseCursor reads a cursor written by Cursor.String; ok is false for a
// mangled one. Empty is the zero cursor.
func ParseCursor[T any](raw string, key SortKey[T]) (c Cursor, ok bool) {
	if raw == "" {
		return Cursor{}, true
	}
	idText, value, hasValue := strings.Cut(raw, "_")
	n, err := strconv.ParseUint(idText, 10, 32)
	if err != nil || n == 0 {
		return Cursor{}, false
	}
	if key.Expr == nil {
		return Cursor{ID: uint(n)}, !hasValue
	}
	if !hasValue || key.Valid == nil || !key.Valid(value) {
		return Cursor{}, false
	}
	return Cursor{ID: uint(n), Value: value}, true
}

// SortedQueries are the reads of the page after next (the following page
// in s's order) or before prev (the preceding one, read backwards and put
// back by SortedPage), each added to a query of the list with its filters,
// in order: SortedRows
// runs them until it has limit+1 rows, one more than a page to learn
// whether another page exists. A page that starts inside a run of equal
// values is two index seeks, the rest of that run by id and then the
// values beyond it, rather than one range that would read the whole run
// up to the cursor again: a million recharges of 100.50 are one run.
func SortedQueries[T any](d models.Dialect, key SortKey[T], s Sort, next, prev Cursor, limit int) []func(q *gorm.DB) *gorm.DB {
	asc, c := s.Asc, next
	if !prev.IsZero() {
		asc, c = !asc, prev // reading backwards is reading the other way
	}
	op, dir := "<", "DESC"
	if asc {
		op, dir = ">", "ASC"
	}
	if key.Expr == nil {
		return []func(q *gorm.DB) *gorm.DB{func(r *gorm.DB) *gorm.DB {
			if !c.IsZero() {
				r = r.Where("id "+op+" ?", c.ID)
			}
			return r.Order("id " + dir).Limit(limit + 1)
		}}
	}
	expr, arg := key.Expr(d), "?"
	if key.Arg != nil {
		arg = key.Arg(d)
	}
	beyond := func(r *gorm.DB) *gorm.DB {
		if !c.IsZero() {
			r = r.Where(expr+" "+op+" "+arg, c.Value)
		}
		return r.Order(expr + " " + dir).Order("id " + dir).Limit(limit + 1)
	}
	if c.IsZero() {
		return []func(q *gorm.DB) *gorm.DB{beyond}
	}
	tie := func(q *gorm.DB) *gorm.DB {
		// By id alone: the run holds one value (and ordering by the
		// expression too makes SQLite sort what its index already orders).
		return q.Where(expr+" = "+arg+" AND id "+op+" ?", c.Value, c.ID).Order("id " + dir).Limit(limit + 1)
	}
	return []func(q *gorm.DB) *gorm.DB{tie, beyond}
}

// SortedRows reads what SortedQueries asks for, at most limit+1 rows.
func SortedRows[T any](base *gorm.DB, key SortKey[T], s Sort, next, prev Cursor, limit int) ([]T, error) {
	var rows []T
	for _, q := range SortedQueries(models.DialectOf(base), key, s, next, prev, limit) {
		var more []T
		if err := q(base.Session(&gorm.Session{})).Limit(limit + 1 - len(rows)).Find(&more).Error; err != nil {
			return nil, err
		}
		if rows = append(rows, more...); len(rows) > limit {
			break
		}
	}
	return rows, nil
}

// SortedPage trims rows read with SortedRows to limit, in the list's
// order, and returns the cursors of the following and preceding pages
// (zero: none).
func SortedPage[T any](rows []T, key SortKey[T], id func(T) uint, next, prev Cursor, limit int) (page []T, following, preceding Cursor) {
	more := len(rows) > limit
	if more {
		rows = rows[:limit]
	}
	backwards := !prev.IsZero()
	if backwards {
		for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
			rows[i], rows[j] = rows[j], rows[i]
		}
	}
	if len(rows) == 0 {
		return rows, Cursor{}, Cursor{}
	}
	at := func(r T) Cursor {
		c := Cursor{ID: id(r)}
		if key.Expr != nil {
			c.Value = key.Value(r)
		}
		return c
	}
	if more || backwards {
		following = at(rows[len(rows)-1])
	}
	if (backwards && more) || !next.IsZero() {
		preceding = at(rows[0])
	}
	return rows, following, preceding
}

// TimeKey is the order of a time column that the portal writes in UTC
// (models.Open and the services' clock see to it), indexed as (column, id).
// The cursor carries the time in RFC 3339; SQLite keeps the column as the
// driver's text, which compares as the same text or not at all, so the
// cursor is turned back into that text rather than the column into a
// time (which no index holds).
func TimeKey[T any](name, column string, at func(T) time.Time) SortKey[T] {
	return SortKey[T]{
		Name: name,
		Expr: func(models.Dialect) string { return column },
		Arg: func(d models.Dialect) string {
			if d.Postgres() {
				return "CAST(? AS timestamptz)"
			}
			return "replace(replace(?, 'T', ' '), 'Z', '+00:00')"
		},
		Value: func(row T) string { return at(row).UTC().Format(time.RFC3339Nano) },
		Valid: func(v string) bool {
			t, err := time.Parse(time.RFC3339Nano, v)
			return err == nil && t.UTC().Format(time.RFC3339Nano) == v
		},
	}
}

// ErrBadCursor is a page link whose cursor cannot be read: mangled, or
// written for another order.
var ErrBadCursor = errors.New("the page link is broken")

// A ListPage is one page of a sorted list and the URL cursors of the
// pages after and before it ("" for none).
type ListPage[T any] struct {
	Rows            []T
	Following, Prev string
}

// ReadList reads the page of a list after cursor next or before cursor
// prev (both "" for the first page) in order s. base is the list's model
// with its filters; columns, when given, the only ones read. The default
// order, newest first, is the id keyset, which a prefix search (prefix
// not nil, see PrefixIDs) pages too; any other order is key's. A cursor
// that cannot be read is ErrBadCursor.
func ReadList[T any](base *gorm.DB, prefix []PrefixKey, key SortKey[T], s, def Sort, next, prev string, limit int, id func(T) uint, columns ...string) (ListPage[T], error) {
	after, ok1 := ParseCursor(next, key)
	before, ok2 := ParseCursor(prev, key)
	if !ok1 || !ok2 || (!after.IsZero() && !before.IsZero()) {
		return ListPage[T]{}, ErrBadCursor
	}
	var page ListPage[T]
	if s == def {
		rows, err := PageRows(base, prefix, after.ID, before.ID, limit, id, columns...)
		if err != nil {
			return ListPage[T]{}, fmt.Errorf("list: %w", err)
		}
		var older, newer uint
		page.Rows, older, newer = KeysetPage(rows, id, after.ID, before.ID, limit)
		page.Following, page.Prev = Cursor{ID: older}.String(), Cursor{ID: newer}.String()
		return page, nil
	}
	if len(columns) > 0 {
		base = base.Select(columns)
	}
	rows, err := SortedRows(base, key, s, after, before, limit)
	if err != nil {
		return ListPage[T]{}, fmt.Errorf("list: %w", err)
	}
	var following, preceding Cursor
	page.Rows, following, preceding = SortedPage(rows, key, id, after, before, limit)
	page.Following, page.Prev = following.String(), preceding.String()
	return page, nil
}
