package models

import (
	"strings"

	"gorm.io/gorm"
)

// Dialect is the one place that knows where SQLite and PostgreSQL differ in
// the SQL the services write. Everything else is one query for both.
type Dialect struct{ postgres bool }

// DialectOf is db's dialect.
func DialectOf(db *gorm.DB) Dialect { return Dialect{postgres: db.Dialector.Name() == "postgres"} }

// Postgres reports whether db is PostgreSQL.
func (d Dialect) Postgres() bool { return d.postgres }

// Name is "postgres" or "sqlite", for logs and test names.
func (d Dialect) Name() string {
	if d.postgres {
		return "postgres"
	}
	return "sqlite"
}

// Unindexed is col written so that SQLite's planner will not pick col's
// index (a unary "+"): for counts over a recent date range, the created_at
// index is the narrow one. PostgreSQL's planner weighs both with statistics
// and has no such hint.
func (d Dialect) Unindexed(col string) string {
	if d.postgres {
		return col
	}
	return "+" + col
}

// TableUsing is table, pinned to index on SQLite (INDEXED BY), whose
// planner misjudges a few grouped counts; PostgreSQL plans it from
// statistics.
func (d Dialect) TableUsing(table, index string) string {
	if d.postgres {
		return table
	}
	return table + " INDEXED BY " + index
}

// Folded is the case-insensitive form of a column searched by prefix. On
// SQLite the column itself is COLLATE NOCASE; on PostgreSQL its index is on
// lower(col), so the search has to say lower(col) to use it. The searched
// text goes through FoldArg.
func (d Dialect) Folded(col string) string {
	if d.postgres {
		return "lower(" + col + ")"
	}
	return col
}

// FoldArg is what a Folded column is compared with.
func (d Dialect) FoldArg(s string) string {
	if d.postgres {
		return strings.ToLower(s)
	}
	return s
}

// Day is the UTC calendar day of a timestamp column as 'YYYY-MM-DD' text.
func (d Dialect) Day(col string) string {
	if d.postgres {
		return "to_char(" + col + " AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
	}
	return "date(" + col + ")"
}

// Epoch is a timestamp expression in seconds since 1970 (a float).
func (d Dialect) Epoch(expr string) string {
	if d.postgres {
		return "EXTRACT(EPOCH FROM " + expr + ")"
	}
	return "(julianday(" + expr + ") * 86400)"
}

// Trunc is a number expression truncated toward zero to an integer (a
// plain CAST rounds on PostgreSQL).
func (d Dialect) Trunc(expr string) string {
	if d.postgres {
		return "CAST(trunc(" + expr + ") AS BIGINT)"
	}
	return "CAST(" + expr + " AS INTEGER)"
}

// TimestampArg is how a bound time parameter is written inside an
// expression, where PostgreSQL cannot infer its type.
func (d Dialect) TimestampArg() string {
	if d.postgres {
		return "CAST(? AS TIMESTAMPTZ)"
	}
	return "?"
}

// IDList aggregates the integer column col into one comma-separated text,
// in no particular order: tens of thousands of ids come back as one value
// instead of a row each.
func (d Dialect) IDList(col string) string {
	if d.postgres {
		return "COALESCE(string_agg(" + col + "::text, ','), '')"
	}
	return "COALESCE(group_concat(" + col + "), '')"
}
