package dbtest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"gorm.io/gorm"
)

// PGPlanNode is one node of PostgreSQL's EXPLAIN (FORMAT JSON) tree, with
// the fields the plan tests read.
type PGPlanNode struct {
	NodeType  string       `json:"Node Type"`
	Relation  string       `json:"Relation Name"`
	Index     string       `json:"Index Name"`
	IndexCond string       `json:"Index Cond"`
	Filter    string       `json:"Filter"`
	Direction string       `json:"Scan Direction"`
	SortKey   []string     `json:"Sort Key"`
	Plans     []PGPlanNode `json:"Plans"`
}

// How the plans are made, and why not on seeded tables: the tests' tables
// are empty and never analyzed, so the planner falls back to its fixed
// guesses for how selective a condition is, as SQLite does without ANALYZE
// data (what the SQLite plan tests read). That asks the question the tests
// are about, whether an index serves each condition and order, without
// making every assertion depend on how many rows some seed made and how
// it spread them (a selective search on one seed is half the table on
// another, and then a scan is the right plan). What would distort the
// guesses is that the planner takes the empty table for ten pages, which
// are cheapest read whole and sorted; so enable_seqscan is off, and a Seq
// Scan still shows up exactly where no index can serve the condition.
// What guesses cannot tell is which of two usable indexes is narrower: a
// test about that seeds rows and runs ANALYZE first. Nor do they show the
// planner walking the primary key because it takes a range's matches to
// be spread evenly over the ids; only a million seeded rows do (see
// docs/benchmarks.md).

// PGPlan returns PostgreSQL's plan of the query q builds, the PostgreSQL
// counterpart of Plan, made with enable_seqscan off.
func PGPlan(t testing.TB, db *gorm.DB, q func(tx *gorm.DB) *gorm.DB) PGPlanNode {
	t.Helper()
	sql, vars := dryRun(db, q)
	return explain(t, db, sql, vars)
}

// PGPlanInOrder is PGPlan for a query that must read its rows in an
// index's order and stop after a page: sorting is switched off too, so a
// Sort left in the plan means no index gives that order. With sorting on,
// the ten-page guess makes sorting a third of the table look cheaper than
// an index read that stops after the page, which at a million rows it is
// not.
func PGPlanInOrder(t testing.TB, db *gorm.DB, q func(tx *gorm.DB) *gorm.DB) PGPlanNode {
	t.Helper()
	sql, vars := dryRun(db, q)
	return explain(t, db, sql, vars, "SET LOCAL enable_sort = off")
}

// PGPlanSQL is PGPlan for SQL already written out: with PostgreSQL's $n
// placeholders and their arguments in vars (as GORM's Statement holds
// them), or with the arguments inlined (as a Recorder keeps statements).
func PGPlanSQL(t testing.TB, db *gorm.DB, sql string, vars ...any) PGPlanNode {
	t.Helper()
	return explain(t, db, sql, vars)
}

func dryRun(db *gorm.DB, q func(tx *gorm.DB) *gorm.DB) (string, []any) {
	stmt := q(db.Session(&gorm.Session{DryRun: true, NewDB: true})).Statement
	return stmt.SQL.String(), stmt.Vars
}

// errRollback ends explain's transaction: nothing in it is to be kept.
var errRollback = errors.New("rollback")

func explain(t testing.TB, db *gorm.DB, sql string, vars []any, settings ...string) PGPlanNode {
	t.Helper()
	var out []byte
	// SET LOCAL lasts until the transaction ends, so the settings and the
	// EXPLAIN share one connection and leave the pool's others alone.
	err := db.Session(&gorm.Session{NewDB: true}).Transaction(func(tx *gorm.DB) error {
		ctx := context.Background()
		// The transaction's connection itself: GORM's Raw reads only "?"
		// as a placeholder and would append vars after the SQL again.
		conn := tx.Statement.ConnPool
		for _, s := range append([]string{"SET LOCAL enable_seqscan = off"}, settings...) {
			if _, err := conn.ExecContext(ctx, s); err != nil {
				return err
			}
		}
		if err := conn.QueryRowContext(ctx, "EXPLAIN (FORMAT JSON) "+sql, vars...).Scan(&out); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("explain %s: %v", sql, err)
	}
	var plans []struct{ Plan PGPlanNode }
	if err := json.Unmarshal(out, &plans); err != nil || len(plans) != 1 {
		t.Fatalf("explain %s: reading the plan %q: %v", sql, out, err)
	}
	return plans[0].Plan
}

// Walk calls fn for n and every node below it, parents first.
func (n PGPlanNode) Walk(fn func(PGPlanNode)) {
	fn(n)
	for _, c := range n.Plans {
		c.Walk(fn)
	}
}

func (n PGPlanNode) has(match func(PGPlanNode) bool) bool {
	found := false
	n.Walk(func(c PGPlanNode) { found = found || match(c) })
	return found
}

// UsesIndex reports whether any node reads the index named index (an
// Index Scan, Index Only Scan or Bitmap Index Scan).
func (n PGPlanNode) UsesIndex(index string) bool {
	return n.has(func(c PGPlanNode) bool { return c.Index == index })
}

// Reads reports whether any node reads table, by whatever means.
func (n PGPlanNode) Reads(table string) bool {
	return n.has(func(c PGPlanNode) bool { return c.Relation == table })
}

// SeqScans reports whether the plan reads table whole in storage order.
func (n PGPlanNode) SeqScans(table string) bool {
	return n.has(func(c PGPlanNode) bool { return c.NodeType == "Seq Scan" && c.Relation == table })
}

// FullScans reports whether the plan reads all of table ("": of any
// table), SQLite's "SCAN table" without an index: a Seq Scan, or an index
// scan with no Index Cond (every entry of the index, in its order, the
// rows filtered as they come, as SQLite's rowid scan does).
func (n PGPlanNode) FullScans(table string) bool {
	return n.has(func(c PGPlanNode) bool {
		if c.Relation == "" || (table != "" && c.Relation != table) {
			return false
		}
		switch c.NodeType {
		case "Seq Scan":
			return true
		case "Index Scan", "Index Only Scan":
			return c.IndexCond == ""
		}
		return false
	})
}

// Sorts reports whether the plan sorts all the rows some node returns
// (SQLite's "USE TEMP B-TREE FOR ORDER BY"). An Incremental Sort is not
// one: it reads rows in the order of a leading sort key and only orders
// each run of equal keys, as SQLite does implicitly by the rowid at the
// end of every index entry.
func (n PGPlanNode) Sorts() bool {
	return n.has(func(c PGPlanNode) bool { return c.NodeType == "Sort" })
}

// String is the plan on one line for failure messages and logs, e.g.
// "Limit [Index Scan Backward using recharges_state on recharges (...)]".
func (n PGPlanNode) String() string {
	var b strings.Builder
	n.write(&b)
	return b.String()
}

func (n PGPlanNode) write(b *strings.Builder) {
	b.WriteString(n.NodeType)
	if n.Direction == "Backward" {
		b.WriteString(" Backward")
	}
	if n.Index != "" {
		b.WriteString(" using " + n.Index)
	}
	if n.Relation != "" {
		b.WriteString(" on " + n.Relation)
	}
	if n.IndexCond != "" {
		b.WriteString(" " + n.IndexCond)
	}
	if n.Filter != "" {
		b.WriteString(" filter " + n.Filter)
	}
	if len(n.SortKey) > 0 {
		b.WriteString(" by " + strings.Join(n.SortKey, ", "))
	}
	if len(n.Plans) == 0 {
		return
	}
	b.WriteString(" [")
	for i, c := range n.Plans {
		if i > 0 {
			b.WriteString("; ")
		}
		c.write(b)
	}
	b.WriteString("]")
}
