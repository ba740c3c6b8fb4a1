package services

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"gorm.io/gorm"

	"portal/models"
)

// PrefixProbeLimit is how many matches of a prefix search are read from the
// search indexes before the search counts as dense. Up to it, the matching
// ids are read from the indexes alone and the page is cut from them in Go;
// beyond it, the list is walked newest first, testing each row, which finds
// a page after about limit/density rows: at this threshold (0.5 % of a
// million rows) a few thousand. Either way no query sorts the matches, so a
// four-character prefix that matches most of the table costs what an exact
// search costs.
const PrefixProbeLimit = 5000

// A PrefixKey is one way a record matches a prefix search.
type PrefixKey struct {
	// Probe reads matching record ids from one index alone: "SELECT <id
	// column> FROM <table> WHERE <range>", the index being on (range column,
	// id column) so the read is index-only.
	Probe   string
	IDCol   string // the id column of Probe, for the keyset bound
	Args    []any
	Match   string // the same condition on the list's own row, written so no planner picks an index for it
	MatchAr []any
}

// PrefixRange is the key "col starts with prefix" of table, whose index is
// on (col, id).
func PrefixRange(d models.Dialect, table, col, prefix string) PrefixKey {
	end := PrefixEnd(prefix)
	plain := d.Unindexed(col)
	return PrefixKey{
		Probe: "SELECT id FROM " + table + " WHERE " + col + " >= ? AND " + col + " < ?", IDCol: "id", Args: []any{prefix, end},
		Match: plain + " >= ? AND " + plain + " < ?", MatchAr: []any{prefix, end},
	}
}

// FoldedPrefixRange is PrefixRange for a column searched without regard to
// ASCII case (see models.Dialect.Folded).
func FoldedPrefixRange(d models.Dialect, table, col, prefix string) PrefixKey {
	folded, end := d.Folded(col), PrefixEnd(prefix)
	plain := d.Unindexed(folded)
	args := []any{d.FoldArg(prefix), d.FoldArg(end)}
	return PrefixKey{
		Probe: "SELECT id FROM " + table + " WHERE " + folded + " >= ? AND " + folded + " < ?", IDCol: "id", Args: args,
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
	seen := make(map[uint]struct{})
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
		var ids []uint
		if err := base.Session(&gorm.Session{NewDB: true}).Raw(sql+" LIMIT ?", append(args, PrefixProbeLimit+1)...).Scan(&ids).Error; err != nil {
			return nil, fmt.Errorf("prefix probe: %w", err)
		}
		for _, id := range ids {
			seen[id] = struct{}{}
		}
		if len(seen) > PrefixProbeLimit {
			return denseIDs(base, keys, before, after, limit)
		}
	}
	if len(seen) == 0 {
		return nil, nil
	}
	candidates := make([]uint, 0, len(seen))
	for id := range seen {
		candidates = append(candidates, id)
	}
	// The other filters (state, dates) still apply: keep the candidates
	// that pass them, by primary key.
	var ids []uint
	if err := base.Session(&gorm.Session{}).Where("id IN ?", candidates).Pluck("id", &ids).Error; err != nil {
		return nil, fmt.Errorf("prefix candidates: %w", err)
	}
	if after > 0 {
		slices.Sort(ids)
	} else {
		slices.SortFunc(ids, func(a, b uint) int { return cmp.Compare(b, a) })
	}
	if len(ids) > limit+1 {
		ids = ids[:limit+1]
	}
	return ids, nil
}

// denseIDs walks the list in id order testing each row, which stops after
// a page because matches are common.
func denseIDs(base *gorm.DB, keys []PrefixKey, before, after uint, limit int) ([]uint, error) {
	var ids []uint
	if err := KeysetOrder(PrefixMatch(base.Session(&gorm.Session{}), keys), before, after, limit).Pluck("id", &ids).Error; err != nil {
		return nil, fmt.Errorf("prefix walk: %w", err)
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
