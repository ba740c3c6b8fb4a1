package recharges

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"gorm.io/gorm"

	"portal/internal/dbtest"
	"portal/models"
	"portal/services"
)

// prefixFixture has more device-id matches than services.PrefixProbeLimit,
// so "6875" takes the dense path and longer prefixes the sparse one.
func prefixFixture(t *testing.T) (*gorm.DB, []models.Recharge) {
	t.Helper()
	old := services.PrefixProbeLimit
	services.PrefixProbeLimit = 5000
	t.Cleanup(func() { services.PrefixProbeLimit = old })
	db := dbtest.Open(t)
	n := services.PrefixProbeLimit + 1500
	rows := make([]models.Recharge, 0, n)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 1; i <= n; i++ {
		r := models.Recharge{
			IdempotencyKey: fmt.Sprintf("k-%d", i), CustomerName: "C", CustomerPhone: fmt.Sprintf("+2547%08d", i%400),
			Amount: decimal.RequireFromString("10"), Currency: "KES", State: models.RechargeCompleted,
			CreatedAt: at.Add(time.Duration(i) * time.Minute), UpdatedAt: at,
		}
		up := fmt.Sprintf("up-%08d", i)
		r.UpstreamID = &up
		if i%13 == 0 {
			r.CardID = fmt.Sprintf("30%08d", i)
		} else {
			r.DeviceID = fmt.Sprintf("6875%010d", i%700)
		}
		if i%7 == 0 {
			r.State = models.RechargeFailed
		}
		rows = append(rows, r)
	}
	if err := db.CreateInBatches(rows, 500).Error; err != nil {
		t.Fatal(err)
	}
	return db, rows
}

// want is the brute-force answer: every matching id, newest first.
func want(rows []models.Recharge, f Filter) []uint {
	p, err := f.parse()
	if err != nil {
		panic(err)
	}
	var ids []uint
	for _, r := range rows {
		if f.State != "" && string(r.State) != f.State {
			continue
		}
		if p.phone != "" {
			if r.CustomerPhone == p.phone {
				ids = append(ids, r.ID)
			}
			continue
		}
		match := strings.HasPrefix(r.DeviceID, p.prefix) && r.DeviceID != "" ||
			strings.HasPrefix(r.CardID, p.prefix) && r.CardID != "" ||
			strings.HasPrefix(*r.UpstreamID, p.prefix)
		for _, ph := range p.phones {
			match = match || strings.HasPrefix(r.CustomerPhone, ph)
		}
		if match {
			ids = append(ids, r.ID)
		}
	}
	slices.Reverse(ids)
	return ids
}

// Every page of a prefix search, forwards and back, is exactly the matches
// in newest-first order, whichever path (dense walk or index probe) it took.
func TestPrefixSearchPagesMatchABruteForceFilter(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds several thousand rows")
	}
	db, rows := prefixFixture(t)
	s := New(db, nil, time.Now, Options{})
	ctx := context.Background()
	for _, f := range []Filter{
		{Q: "6875"},                     // dense: most rows
		{Q: "6875", State: "failed"},    // dense, narrowed by state
		{Q: "68750000000012"},           // sparse: a few devices
		{Q: "30"},                       // cards only
		{Q: "up-0000"},                  // 1flow ids
		{Q: "up-0000", State: "failed"}, // sparse after narrowing
		{Q: "+25470000012"},             // phone prefix
		{Q: "0700000012"},               // phone prefix, national
		{Q: "nothing-starts-like-this"}, // no match
		{Q: "687500000001", State: "unknown"},
	} {
		t.Run(f.Q+"/"+f.State, func(t *testing.T) {
			expect := want(rows, f)
			const size = 400
			var got []uint
			var pages [][]uint
			before := ""
			for {
				page, err := s.List(ctx, f, before, "", size)
				if err != nil {
					t.Fatal(err)
				}
				var ids []uint
				for _, r := range page.Recharges {
					ids = append(ids, r.ID)
				}
				got = append(got, ids...)
				pages = append(pages, ids)
				if page.Following == "" {
					break
				}
				before = page.Following
			}
			if !slices.Equal(got, expect) {
				t.Fatalf("walking older pages found %d ids, want %d (first got %v, want %v)", len(got), len(expect), head(got), head(expect))
			}
			// And back again from the last page with the newer cursors.
			for i := len(pages) - 1; i > 0; i-- {
				after := strconv.FormatUint(uint64(pages[i][0]), 10)
				page, err := s.List(ctx, f, "", after, size)
				if err != nil {
					t.Fatal(err)
				}
				var ids []uint
				for _, r := range page.Recharges {
					ids = append(ids, r.ID)
				}
				if !slices.Equal(ids, pages[i-1]) {
					t.Fatalf("page %d read with after=%s: %v…, want %v…", i-1, after, head(ids), head(pages[i-1]))
				}
			}
		})
	}
}

func head(ids []uint) []uint { return ids[:min(len(ids), 5)] }

// A prefix search never has the database sort: its probes read index
// entries only, a dense search walks in id order, and a search whose
// matches were counted as few reads them index-only and orders the ids in
// Go.
func TestPrefixSearchNeverSorts(t *testing.T) {
	dbtest.SQLiteOnly(t, "the plans read are SQLite's EXPLAIN QUERY PLAN")
	if testing.Short() {
		t.Skip("seeds several thousand rows")
	}
	db, rows := prefixFixture(t)
	allProbes := 0
	for _, f := range []Filter{{Q: "6875"}, {Q: "687500000000"}, {Q: "up-"}, {Q: "+2547000"}, {Q: "6875", State: "failed"}, {Q: "up-0000001", State: "failed"}} {
		for _, before := range []uint{0, 3000} {
			matches := 0
			for _, id := range want(rows, Filter{Q: f.Q}) {
				if before == 0 || id < before {
					matches++
				}
			}
			rec, stmts := dbtest.Record(db)
			s := New(rec, nil, time.Now, Options{})
			if _, err := s.List(context.Background(), f, services.Cursor{ID: before}.String(), "", 50); err != nil {
				t.Fatal(err)
			}
			taken := stmts.Take()
			probes := 0
			for _, stmt := range taken {
				plan := dbtest.PlanSQL(t, db, stmt)
				if strings.Contains(plan, "TEMP B-TREE") {
					t.Errorf("%+v before %d (%d matches): %s\nsorts: %s", f, before, matches, stmt, plan)
				}
				if !strings.HasPrefix(stmt, "SELECT COALESCE(group_concat(probe.id)") {
					continue
				}
				probes++
				if !strings.Contains(plan, "COVERING INDEX") && !strings.Contains(plan, "sqlite_autoindex_recharges") {
					t.Errorf("%+v: the probe %s reads rows, not just the index: %s", f, stmt, plan)
				}
			}
			allProbes += probes
			t.Logf("%+v before %d: %d matches, %d statements, %d probes", f, before, matches, len(taken), probes)
		}
	}
	if allProbes == 0 {
		t.Error("no search read the indexes: the fixture no longer reaches the probes")
	}
}

// TestBareDigitsReadAsAPhoneStillSearchIDs: "52026989" is a valid national
// number in a region the portal knows and also the start of a 1flow id
// (the simulator's ids are random digits, so this failed now and then in
// TestRechargeListAndExport). Bare digits are only a guess at a phone: the
// recharge whose 1flow id starts with them is found. A number written as a
// phone, with "+" or a trunk "0", is searched as the phone alone.
func TestBareDigitsReadAsAPhoneStillSearchIDs(t *testing.T) {
	t.Parallel()
	db := dbtest.Open(t)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	upstream := "52026989123"
	rows := []models.Recharge{
		{IdempotencyKey: "a", DeviceID: "DEV-A", UpstreamID: &upstream, Amount: decimal.NewFromInt(1), Currency: "KES", State: models.RechargeCompleted, CreatedAt: at, UpdatedAt: at},
		{IdempotencyKey: "b", DeviceID: "DEV-B", CustomerPhone: "+254712345678", Amount: decimal.NewFromInt(1), Currency: "KES", State: models.RechargeCompleted, CreatedAt: at, UpdatedAt: at},
	}
	if err := db.Create(&rows).Error; err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		q    string
		want []uint
	}{
		{"52026989", []uint{rows[0].ID}},
		{"0712345678", []uint{rows[1].ID}},
		{"+254 712 345 678", []uint{rows[1].ID}},
		{"254712345678", []uint{rows[1].ID}},
	} {
		p, err := Filter{Q: tc.q}.parse()
		if err != nil {
			t.Fatalf("%q: %v", tc.q, err)
		}
		got, err := services.PageRows(p.apply(db.Model(&models.Recharge{})), p.prefixKeys(models.DialectOf(db)), 0, 0, 50,
			func(r models.Recharge) uint { return r.ID })
		if err != nil {
			t.Fatalf("%q: %v", tc.q, err)
		}
		var ids []uint
		for _, r := range got {
			ids = append(ids, r.ID)
		}
		if !slices.Equal(ids, tc.want) {
			t.Errorf("search %q found %v, want %v", tc.q, ids, tc.want)
		}
	}
}
