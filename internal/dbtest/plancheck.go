package dbtest

import (
	"strings"
	"testing"

	"gorm.io/gorm"
)

// ListPlan is what the plans of one list query must show, on whichever
// database the tests run on.
type ListPlan struct {
	Name  string
	Table string // the list's table
	// Filtered: a filter is applied, so a full scan of Table is wrong.
	// Unfiltered pages read the primary key backwards and stop after a
	// page, which is exactly right.
	Filtered bool
	MaySort  bool     // a sort of the matches is acceptable (date searches)
	Unread   []string // other tables the plans must not scan
	Want     []string // indexes the plans must use, between them
}

// CheckListPlan plans q, or, when stmts is not nil, each of the statements
// a prefix search may run (services.PrefixStatements), and reports every
// way the plans break want.
func CheckListPlan(t testing.TB, db *gorm.DB, want ListPlan, q func(tx *gorm.DB) *gorm.DB, stmts []string) {
	t.Helper()
	if OnPostgres() {
		checkPGListPlan(t, db, want, q, stmts)
		return
	}
	var texts []string
	if stmts != nil {
		for _, stmt := range stmts {
			texts = append(texts, PlanSQL(t, db, stmt))
		}
	} else {
		texts = append(texts, Plan(t, db, q))
	}
	for _, text := range texts {
		if strings.Contains(text, "SCAN "+want.Table) && !strings.Contains(text, "USING") && want.Filtered {
			t.Errorf("%s: full table scan: %s", want.Name, text)
		}
		for _, table := range want.Unread {
			if strings.Contains(text, "SCAN "+table) {
				t.Errorf("%s: scans %s: %s", want.Name, table, text)
			}
		}
		if strings.Contains(text, "TEMP B-TREE") && !want.MaySort {
			t.Errorf("%s: sorts instead of reading in index order: %s", want.Name, text)
		}
		t.Logf("%s: %s", want.Name, text)
	}
	text := strings.Join(texts, " || ")
	for _, idx := range want.Want {
		if !strings.Contains(text, idx+" ") && !strings.HasSuffix(text, idx) {
			t.Errorf("%s: plan does not use %s: %s", want.Name, idx, text)
		}
	}
}

func checkPGListPlan(t testing.TB, db *gorm.DB, want ListPlan, q func(tx *gorm.DB) *gorm.DB, stmts []string) {
	t.Helper()
	var plans []PGPlanNode
	switch {
	case stmts != nil:
		for _, stmt := range stmts {
			plans = append(plans, PGPlanSQL(t, db, stmt))
		}
	case want.MaySort:
		plans = append(plans, PGPlan(t, db, q))
	default:
		plans = append(plans, PGPlanInOrder(t, db, q))
	}
	for _, plan := range plans {
		// FullScans is PostgreSQL's counterpart of SQLite's rowid scan.
		if plan.FullScans(want.Table) && want.Filtered {
			t.Errorf("%s: full table scan: %s", want.Name, plan)
		}
		for _, table := range want.Unread {
			if plan.FullScans(table) {
				t.Errorf("%s: scans %s: %s", want.Name, table, plan)
			}
		}
		if plan.Sorts() && !want.MaySort {
			t.Errorf("%s: sorts instead of reading in index order: %s", want.Name, plan)
		}
		t.Logf("%s: %s", want.Name, plan)
	}
	for _, idx := range want.Want {
		used := false
		for _, plan := range plans {
			used = used || plan.UsesIndex(idx)
		}
		if !used {
			t.Errorf("%s: plan does not use %s: %v", want.Name, idx, plans)
		}
	}
}

// CheckReadsInOrder reports a plan of q that does not read index in the
// query's order (a sort, or another index), on whichever database the tests
// run on.
func CheckReadsInOrder(t testing.TB, db *gorm.DB, name string, q func(tx *gorm.DB) *gorm.DB, index string) {
	t.Helper()
	if OnPostgres() {
		plan := PGPlanInOrder(t, db, q)
		if !plan.UsesIndex(index) || plan.Sorts() {
			t.Errorf("%s: plan does not read %s in order: %s", name, index, plan)
		}
		t.Logf("%s: %s", name, plan)
		return
	}
	text := Plan(t, db, q)
	if !strings.Contains(text, index) || strings.Contains(text, "TEMP B-TREE") {
		t.Errorf("%s: plan does not read %s in order: %s", name, index, text)
	}
	t.Logf("%s: %s", name, text)
}

// CheckUsesIndex reports a plan of q that does not use index.
func CheckUsesIndex(t testing.TB, db *gorm.DB, name string, q func(tx *gorm.DB) *gorm.DB, index string) {
	t.Helper()
	if OnPostgres() {
		plan := PGPlan(t, db, q)
		if !plan.UsesIndex(index) {
			t.Errorf("%s: plan does not use %s: %s", name, index, plan)
		}
		t.Logf("%s: %s", name, plan)
		return
	}
	text := Plan(t, db, q)
	if !strings.Contains(text, index) {
		t.Errorf("%s: plan does not use %s: %s", name, index, text)
	}
	t.Logf("%s: %s", name, text)
}

// CheckReadsInstead reports a statement of stmts (recorded with Record)
// whose plan reads table, or does not read instead: the dashboard's
// figures come from the tables the triggers keep, never from the records.
func CheckReadsInstead(t testing.TB, db *gorm.DB, name string, stmts []string, table, instead string) {
	t.Helper()
	if len(stmts) == 0 {
		t.Fatalf("%s: no statement recorded", name)
	}
	for _, stmt := range stmts {
		if OnPostgres() {
			plan := PGPlanSQL(t, db, stmt)
			if plan.Reads(table) || !plan.Reads(instead) {
				t.Errorf("%s: %s\nreads the %s: %s", name, stmt, table, plan)
			}
			t.Logf("%s: %s", name, plan)
			continue
		}
		text := PlanSQL(t, db, stmt)
		if strings.Contains(text, table) || !strings.Contains(text, instead) {
			t.Errorf("%s: %s\nreads the %s: %s", name, stmt, table, text)
		}
		t.Logf("%s: %s", name, text)
	}
}
