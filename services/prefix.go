package services

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gorm.io/gorm"

	"portal/models"
)

// How a prefix search finds its page without reading every match. It first
// walks the list in id order from the cursor, testing each row, through one
// window of PrefixWindow ids: a short prefix that matches most of the table
// has its page there, at the cost of a list page. Otherwise the ids of
// each search index's matches are read index-only, as one text value per
// index, up to PrefixProbeLimit+1 in all. When the matches are that few,
// the ids are ordered here (the database sorts nothing) and the newest page
// that passes the list's other filters is kept. When there are more, but
// they were not near the cursor, the walk goes on in doubling windows, and
// only after PrefixWalkLimit ids without a page does it read the rest
// through the indexes, at a cost in proportion to the matches.
//
// The limits are variables only so that tests reach every path without
// seeding hundreds of thousands of rows.
var (
	PrefixProbeLimit       = 50_000
	PrefixWindow     int64 = 2000
	PrefixWalkLimit  int64 = 256_000
)

// A PrefixKey is one way a record matches a prefix search.
type PrefixKey struct {
	// Probe selects the matching record ids from one index alone: "SELECT
	// <id column> FROM <table> WHERE <range>", the index being on (range
	// column, id column).
	Probe string
	IDCol string // the id column of Probe, for the keyset bound
	Args  []any
	// Match is the same condition written so that no planner picks an
	// index for it: the walk in id order tests rows with it.
	Match   string
	MatchAr []any
}

// PrefixRange is the key "col starts with prefix" of table, whose index is
// on (col, id).
func PrefixRange(d models.Dialect, table, col, prefix string) PrefixKey {
	return prefixRange(d, table, col, []any{prefix, PrefixEnd(prefix)})
}

// FoldedPrefixRange is PrefixRange for a column searched without regard to
// ASCII case (see models.Dialect.Folded).
func FoldedPrefixRange(d models.Dialect, table, col, prefix string) PrefixKey {
	return prefixRange(d, table, d.Folded(col), []any{d.FoldArg(prefix), d.FoldArg(PrefixEnd(prefix))})
}

func prefixRange(d models.Dialect, table, expr string, args []any) PrefixKey {
	cond := expr + " >= ? AND " + expr + " < ?"
	plain := d.Unindexed(expr)
	return PrefixKey{
		Probe: "SELECT id FROM " + table + " WHERE " + cond, IDCol: "id", Args: args,
		Match: plain + " >= ? AND " + plain + " < ?", MatchAr: args,
	}
}

// PrefixEnd is the smallest string greater than every string that starts
// with prefix (short of characters beyond U+FFFF), so "col >= prefix AND
// col < PrefixEnd(prefix)" is an index range; a LIKE would not use the
// index under SQLite's case-insensitive LIKE.
func PrefixEnd(prefix string) string { return prefix + "\uffff" }

// PrefixIDs returns the ids of one page of a prefix search, in the order
// KeysetOrder reads them (newest first; oldest first when after > 0), at
// most limit+1 of them. base is the list's model with its other filters
// already applied; keys are the ways a row matches.
func PrefixIDs(base *gorm.DB, keys []PrefixKey, before, after uint, limit int) ([]uint, error) {
	for _, k := range keys {
		if k.Probe == "" || k.IDCol == "" || k.Match == "" {
			return nil, fmt.Errorf("prefix search: incomplete key %+v", k)
		}
	}
	w, err := newWalk(base, keys, before, after, limit)
	if err != nil {
		return nil, err
	}
	if done, err := w.step(); err != nil || done {
		return w.ids, err
	}
	// The probe reads the ids of at most PrefixProbeLimit matches: few
	// enough, they are the answer; more, and the walk goes on.
	ids, err := matchIDs(base, keys, before, after, PrefixProbeLimit+1)
	switch {
	case err != nil:
		return nil, err
	case len(ids) == 0:
		return nil, nil
	case len(ids) <= PrefixProbeLimit:
		return passing(base, inListOrder(ids, after > 0), limit)
	}
	for {
		done, err := w.step()
		if err != nil || done {
			return w.ids, err
		}
		if w.walked >= PrefixWalkLimit {
			// Many matches, all far back: the rest from the indexes.
			var rest []uint
			if w.forward {
				rest, err = indexedIDs(base, keys, 0, uint(w.cur-1), limit-len(w.ids))
			} else if w.cur >= 1 {
				rest, err = indexedIDs(base, keys, uint(w.cur+1), 0, limit-len(w.ids))
			}
			return append(w.ids, rest...), err
		}
	}
}

// indexedIDs reads the matches beyond the cursor from the search indexes
// alone, puts them in the list's order here, and keeps the first limit+1
// that pass base's other filters. The database never sorts: each key is one
// index range read index-only, in index order, so a sort there would hold
// every match (OR-ed together, the planners may give up on the indexes
// altogether: SQLite does for seven ranges, PostgreSQL for a range next to
// a subquery). Here the matches cost 8 bytes each; PrefixIDs comes here
// after a walk that found the newer ids empty.
func indexedIDs(base *gorm.DB, keys []PrefixKey, before, after uint, limit int) ([]uint, error) {
	ids, err := matchIDs(base, keys, before, after, 0)
	if err != nil {
		return nil, err
	}
	return passing(base, inListOrder(ids, after > 0), limit)
}

// matchIDs reads the ids of every key's matches beyond the cursor, stopping
// once it has more than most of them when most is not 0.
func matchIDs(base *gorm.DB, keys []PrefixKey, before, after uint, most int) ([]uint, error) {
	var ids []uint
	for _, k := range keys {
		var err error
		n := 0
		if most > 0 {
			n = most - len(ids)
		}
		if ids, err = appendMatches(ids, matchQuery(base.Session(&gorm.Session{NewDB: true}), k, before, after, n)); err != nil {
			return nil, fmt.Errorf("prefix matches: %w", err)
		}
		if most > 0 && len(ids) >= most {
			break
		}
	}
	return ids, nil
}

// inListOrder sorts ids as KeysetOrder reads a list (newest first; oldest
// first when forward) without the repeats of a record that several keys
// match.
func inListOrder(ids []uint, forward bool) []uint {
	if forward {
		slices.Sort(ids)
	} else {
		slices.SortFunc(ids, func(a, b uint) int { return cmp.Compare(b, a) })
	}
	return slices.Compact(ids)
}

// appendMatches appends the ids q reads as one list (see
// models.Dialect.IDList): row by row, each id would cost a few
// allocations in the driver, and there may be tens of thousands.
func appendMatches(ids []uint, q *gorm.DB) ([]uint, error) {
	var list string
	if err := q.Row().Scan(&list); err != nil {
		return ids, err
	}
	for list != "" {
		var field string
		field, list, _ = strings.Cut(list, ",")
		id, err := strconv.ParseUint(field, 10, 64)
		if err != nil {
			return ids, fmt.Errorf("id %q: %w", field, err)
		}
		ids = append(ids, uint(id))
	}
	return ids, nil
}

// passingChunk is the most candidates checked in one statement, well under
// the bound parameters SQLite and PostgreSQL take.
const passingChunk = 1000

// passing keeps the first limit+1 of candidates, in their order, that pass
// base's filters, looked up by primary key in chunks that double from a
// page: a search without other filters takes one, a strict filter takes
// more in proportion to what it turns away.
func passing(base *gorm.DB, candidates []uint, limit int) ([]uint, error) {
	var out []uint
	for chunk := limit + 1; len(candidates) > 0 && len(out) <= limit; chunk = min(2*chunk, passingChunk) {
		n := min(chunk, len(candidates))
		var ok []uint
		if err := passingQuery(base.Session(&gorm.Session{}), candidates[:n]).Pluck("id", &ok).Error; err != nil {
			return nil, fmt.Errorf("prefix filters: %w", err)
		}
		pass := make(map[uint]bool, len(ok))
		for _, id := range ok {
			pass[id] = true
		}
		for _, id := range candidates[:n] {
			if pass[id] {
				out = append(out, id)
			}
		}
		candidates = candidates[n:]
	}
	return out[:min(len(out), limit+1)], nil
}

// walk goes through the list in id order from a cursor, testing each row,
// in windows of ids that double each step.
type walk struct {
	base          *gorm.DB
	keys          []PrefixKey
	limit         int
	forward       bool
	lo, hi        int64 // the table's ids
	cur           int64 // the next id to look at, inclusive
	width, walked int64
	ids           []uint
}

func newWalk(base *gorm.DB, keys []PrefixKey, before, after uint, limit int) (*walk, error) {
	w := &walk{base: base, keys: keys, limit: limit, forward: after > 0, width: PrefixWindow}
	table, err := tableOf(base)
	if err != nil {
		return nil, fmt.Errorf("prefix walk: %w", err)
	}
	var bounds struct{ Lo, Hi int64 }
	if err := boundsQuery(base.Session(&gorm.Session{NewDB: true}), table).Scan(&bounds).Error; err != nil {
		return nil, fmt.Errorf("prefix walk: %w", err)
	}
	w.lo, w.hi, w.cur = bounds.Lo, bounds.Hi, bounds.Hi
	switch {
	case w.forward:
		w.cur = max(int64(after)+1, w.lo)
	case before > 0:
		w.cur = min(int64(before)-1, w.hi)
	}
	return w, nil
}

// step tests the next window; done is true once there is a page or no id
// is left.
func (w *walk) step() (done bool, err error) {
	if w.cur < w.lo || w.cur > w.hi || w.lo == 0 {
		return true, nil
	}
	lo, hi := w.cur-w.width+1, w.cur
	if w.forward {
		lo, hi = w.cur, w.cur+w.width-1
		w.cur = hi + 1
	} else {
		w.cur = lo - 1
	}
	var got []uint
	if err := windowQuery(w.base.Session(&gorm.Session{}), w.keys, lo, hi, w.forward, w.limit+1-len(w.ids)).Pluck("id", &got).Error; err != nil {
		return true, fmt.Errorf("prefix walk: %w", err)
	}
	w.ids = append(w.ids, got...)
	w.walked += w.width
	w.width *= 2
	return len(w.ids) > w.limit || w.cur < w.lo || w.cur > w.hi, nil
}

// PrefixMatch filters q to rows matching any key, without the search
// indexes: for walks in id order (the dense page, CSV exports), which must
// not turn into "read every match, then sort".
func PrefixMatch(q *gorm.DB, keys []PrefixKey) *gorm.DB {
	conds := make([]string, 0, len(keys))
	var args []any
	for _, k := range keys {
		conds = append(conds, "("+k.Match+")")
		args = append(args, k.MatchAr...)
	}
	return q.Where("("+strings.Join(conds, " OR ")+")", args...)
}

// PageRows reads one page of a list in KeysetOrder's order: base is the
// list's model with its filters; keys, when not nil, are a prefix search
// (see PrefixIDs). columns, when given, are the only ones read.
func PageRows[T any](base *gorm.DB, keys []PrefixKey, before, after uint, limit int, id func(T) uint, columns ...string) ([]T, error) {
	var rows []T
	sel := func(q *gorm.DB) *gorm.DB {
		if len(columns) > 0 {
			return q.Select(columns)
		}
		return q
	}
	if keys == nil {
		err := KeysetOrder(sel(base.Session(&gorm.Session{})), before, after, limit).Find(&rows).Error
		return rows, err
	}
	ids, err := PrefixIDs(base, keys, before, after, limit)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	// The ids passed base's filters already; read them by primary key.
	if err := sel(base.Session(&gorm.Session{NewDB: true}).Model(base.Statement.Model)).Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, err
	}
	return InIDOrder(rows, ids, id), nil
}

// InIDOrder returns rows in the order of ids (rows read with "id IN ids"
// come back in whatever order the database likes).
func InIDOrder[T any](rows []T, ids []uint, id func(T) uint) []T {
	pos := make(map[uint]int, len(ids))
	for i, v := range ids {
		pos[v] = i
	}
	slices.SortFunc(rows, func(a, b T) int { return pos[id(a)] - pos[id(b)] })
	return rows
}

// PrefixStatements is every statement PrefixIDs may run for one page, with
// its arguments inlined, without running any: the plan tests read their
// plans whatever the data would make PrefixIDs choose.
func PrefixStatements(base *gorm.DB, keys []PrefixKey, before, after uint, limit int) []string {
	var ids []uint
	var list string
	var bounds struct{ Lo, Hi int64 }
	dry := func(q func(tx *gorm.DB) *gorm.DB) string { return base.Session(&gorm.Session{}).ToSQL(q) }
	table, _ := tableOf(base)
	lo, hi := int64(1_000_000)-PrefixWindow+1, int64(1_000_000)
	switch {
	case after > 0:
		lo, hi = int64(after)+1, int64(after)+PrefixWindow
	case before > 0:
		lo, hi = int64(before)-PrefixWindow, int64(before)-1
	}
	out := []string{
		base.Session(&gorm.Session{NewDB: true}).ToSQL(func(tx *gorm.DB) *gorm.DB { return boundsQuery(tx, table).Scan(&bounds) }),
		dry(func(tx *gorm.DB) *gorm.DB { return windowQuery(tx, keys, lo, hi, after > 0, limit+1).Pluck("id", &ids) }),
	}
	for _, k := range keys {
		out = append(out,
			base.Session(&gorm.Session{NewDB: true}).ToSQL(func(tx *gorm.DB) *gorm.DB {
				return matchQuery(tx, k, before, after, PrefixProbeLimit+1).Scan(&list)
			}),
			base.Session(&gorm.Session{NewDB: true}).ToSQL(func(tx *gorm.DB) *gorm.DB { return matchQuery(tx, k, before, after, 0).Scan(&list) }))
	}
	candidates := make([]uint, passingChunk)
	for i := range candidates {
		candidates[i] = uint(i + 1)
	}
	return append(out, dry(func(tx *gorm.DB) *gorm.DB { return passingQuery(tx, candidates).Pluck("id", &ids) }))
}

// The statements of a prefix page, shared by PrefixIDs and
// PrefixStatements.

// tableOf is the table of base's model.
func tableOf(base *gorm.DB) (string, error) {
	if base.Statement.Table != "" {
		return base.Statement.Table, nil
	}
	if err := base.Statement.Parse(base.Statement.Model); err != nil {
		return "", err
	}
	return base.Statement.Schema.Table, nil
}

// boundsQuery reads the table's smallest and largest id. Two subqueries:
// SQLite answers a lone MIN or MAX from the primary key's ends, but both in
// one select scan the table.
func boundsQuery(tx *gorm.DB, table string) *gorm.DB {
	return tx.Raw("SELECT COALESCE((SELECT MIN(id) FROM " + table + "), 0) AS lo, COALESCE((SELECT MAX(id) FROM " + table + "), 0) AS hi")
}

// beyond is k's probe limited to the ids beyond the cursor.
func beyond(k PrefixKey, before, after uint) (string, []any) {
	sql, args := k.Probe, slices.Clone(k.Args)
	switch {
	case after > 0:
		sql, args = sql+" AND "+k.IDCol+" > ?", append(args, after)
	case before > 0:
		sql, args = sql+" AND "+k.IDCol+" < ?", append(args, before)
	}
	return sql, args
}

// matchQuery reads the ids of k's matches beyond the cursor, index-only
// and in index order, as one list of at most n (0: all).
func matchQuery(tx *gorm.DB, k PrefixKey, before, after uint, n int) *gorm.DB {
	sql, args := beyond(k, before, after)
	if n > 0 {
		sql, args = sql+" LIMIT ?", append(args, n)
	}
	return tx.Raw("SELECT "+models.DialectOf(tx).IDList("probe."+k.IDCol)+" FROM ("+sql+") AS probe", args...)
}

// passingQuery is which of ids pass base's filters.
func passingQuery(tx *gorm.DB, ids []uint) *gorm.DB {
	return tx.Where("id IN ?", ids)
}

// windowQuery tests the rows with ids lo..hi, in id order, for at most n
// matches.
func windowQuery(tx *gorm.DB, keys []PrefixKey, lo, hi int64, forward bool, n int) *gorm.DB {
	q := PrefixMatch(tx, keys).Where("id >= ? AND id <= ?", lo, hi)
	if forward {
		return q.Order("id ASC").Limit(n)
	}
	return q.Order("id DESC").Limit(n)
}
