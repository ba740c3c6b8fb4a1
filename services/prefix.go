package services

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"gorm.io/gorm"

	"portal/models"
)

// How a prefix search finds its page without reading every match: each
// search index is first counted, index-only and only up to
// PrefixProbeLimit. When the matches are that few, one query reads them
// through the indexes and keeps the newest page (a sort of at most that
// many ids, a few milliseconds). When there are more, they are at least 2 %
// of a million rows, and the list is walked in id order from the cursor,
// testing each row, in windows of PrefixWindow ids that double until a page
// is found: a four-character prefix matching most of the table stops after
// the first window. Only when PrefixWalkLimit ids went by without a page
// (many matches, all far back) does the walk give up and read the rest
// through the indexes, at a cost in proportion to the matches.
//
// The limits are variables only so that tests reach every path without
// seeding hundreds of thousands of rows.
var (
	PrefixProbeLimit       = 20_000
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
	// Indexed is the condition on the list's own row that the planner
	// serves from the same index.
	Indexed   string
	IndexedAr []any
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
		Indexed: cond, IndexedAr: args,
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
		if k.Probe == "" || k.IDCol == "" || k.Indexed == "" || k.Match == "" {
			return nil, fmt.Errorf("prefix search: incomplete key %+v", k)
		}
	}
	total := 0
	for _, k := range keys {
		sql, args := k.Probe, slices.Clone(k.Args)
		switch {
		case after > 0:
			sql += " AND " + k.IDCol + " > ?"
			args = append(args, after)
		case before > 0:
			sql += " AND " + k.IDCol + " < ?"
			args = append(args, before)
		}
		var n int
		if err := base.Session(&gorm.Session{NewDB: true}).Raw("SELECT COUNT(*) FROM ("+sql+" LIMIT ?) AS probe", append(args, PrefixProbeLimit+1)...).
			Scan(&n).Error; err != nil {
			return nil, fmt.Errorf("prefix probe: %w", err)
		}
		if total += n; total > PrefixProbeLimit {
			return walkIDs(base, keys, before, after, limit)
		}
	}
	if total == 0 {
		return nil, nil
	}
	return indexedIDs(base, keys, before, after, limit)
}

// indexedIDs reads the matches through the search indexes, one query per
// key, and keeps the newest page of their union. Apart, each query is an
// index range that sorts at most its own matches; OR-ed together, the
// planners may give up on the indexes (SQLite does for seven ranges,
// PostgreSQL for a range next to a subquery) and scan the table.
func indexedIDs(base *gorm.DB, keys []PrefixKey, before, after uint, limit int) ([]uint, error) {
	seen := map[uint]bool{}
	var ids []uint
	for _, k := range keys {
		var got []uint
		q := base.Session(&gorm.Session{}).Where(k.Indexed, k.IndexedAr...)
		if err := KeysetOrder(q, before, after, limit).Pluck("id", &got).Error; err != nil {
			return nil, fmt.Errorf("prefix page: %w", err)
		}
		for _, id := range got {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	if after > 0 {
		slices.Sort(ids)
	} else {
		slices.SortFunc(ids, func(a, b uint) int { return cmp.Compare(b, a) })
	}
	return ids[:min(len(ids), limit+1)], nil
}

// walkIDs walks the list in id order from the cursor, testing each row, in
// doubling windows of ids, until it has a page or runs out of ids.
func walkIDs(base *gorm.DB, keys []PrefixKey, before, after uint, limit int) ([]uint, error) {
	var bounds struct{ Lo, Hi int64 }
	// Two subqueries: SQLite answers a lone MIN or MAX from the primary
	// key's ends, but both in one select scan the table.
	table := base.Statement.Table
	if table == "" {
		if err := base.Statement.Parse(base.Statement.Model); err != nil {
			return nil, fmt.Errorf("prefix walk: %w", err)
		}
		table = base.Statement.Schema.Table
	}
	if err := base.Session(&gorm.Session{NewDB: true}).
		Raw("SELECT COALESCE((SELECT MIN(id) FROM " + table + "), 0) AS lo, COALESCE((SELECT MAX(id) FROM " + table + "), 0) AS hi").Scan(&bounds).Error; err != nil {
		return nil, fmt.Errorf("prefix walk: %w", err)
	}
	forward := after > 0
	// cur is the next id to look at, inclusive.
	cur := bounds.Hi
	switch {
	case forward:
		cur = max(int64(after)+1, bounds.Lo)
	case before > 0:
		cur = min(int64(before)-1, bounds.Hi)
	}
	var ids []uint
	walked := int64(0)
	for width := PrefixWindow; cur >= bounds.Lo && cur <= bounds.Hi; width *= 2 {
		lo, hi := cur-width+1, cur
		if forward {
			lo, hi = cur, cur+width-1
		}
		q := PrefixMatch(base.Session(&gorm.Session{}), keys).Where("id >= ? AND id <= ?", lo, hi)
		if forward {
			q, cur = q.Order("id ASC"), hi+1
		} else {
			q, cur = q.Order("id DESC"), lo-1
		}
		var got []uint
		if err := q.Limit(limit+1-len(ids)).Pluck("id", &got).Error; err != nil {
			return nil, fmt.Errorf("prefix walk: %w", err)
		}
		if ids = append(ids, got...); len(ids) > limit {
			return ids, nil
		}
		if walked += width; walked >= PrefixWalkLimit {
			// Many matches, all far back: the rest from the indexes.
			var rest []uint
			var err error
			if forward {
				rest, err = indexedIDs(base, keys, 0, uint(cur-1), limit-len(ids))
			} else if cur >= 1 {
				rest, err = indexedIDs(base, keys, uint(cur+1), 0, limit-len(ids))
			}
			return append(ids, rest...), err
		}
	}
	return ids, nil
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
