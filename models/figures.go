package models

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// FigureSum is a sum of the figure counts the database's triggers keep for
// every insert, state change and delete (migration 7): how many records of
// one kind, and their amounts in minor units (recharges), for one
// combination of the grouped columns. Columns not grouped are "".
type FigureSum struct {
	Day         string // UTC day of creation, YYYY-MM-DD
	State       string
	Sub         string // recharges: currency; verifications: provider
	Decision    string // review decision
	N           int64
	AmountMinor int64
}

// figureColumns are the columns SumFigures may group by.
var figureColumns = []string{"day", "state", "sub", "decision"}

// SumFigures sums the kept counts of kind ("recharge", "document",
// "verification") for records created on or after the UTC day of since
// (zero: all of them), where states, when given, holds the state, grouped
// by the named columns. Its cost depends on how many days and states there
// are, never on how many records.
func SumFigures(ctx context.Context, db *gorm.DB, kind string, since time.Time, states []string, groupBy ...string) ([]FigureSum, error) {
	d := DialectOf(db)
	sel := make([]string, 0, len(groupBy)+2)
	for _, c := range groupBy {
		if !slices.Contains(figureColumns, c) {
			return nil, fmt.Errorf("figures: no column %q", c)
		}
		if c == "day" {
			sel = append(sel, d.dayText()+" AS day")
			continue
		}
		sel = append(sel, c)
	}
	sel = append(sel, "SUM(n) AS n", "SUM(amount_minor) AS amount_minor")
	q := db.WithContext(ctx).Table("figure_counts").Select(strings.Join(sel, ", ")).Where("kind = ?", kind)
	if !since.IsZero() {
		q = q.Where(d.daySince(), since.UTC().Format("2006-01-02"))
	}
	if len(states) > 0 {
		q = q.Where("state IN ?", states)
	}
	if len(groupBy) > 0 {
		q = q.Group(strings.Join(groupBy, ", "))
	}
	var out []FigureSum
	if err := q.Scan(&out).Error; err != nil {
		return nil, fmt.Errorf("figures: %s: %w", kind, err)
	}
	return out, nil
}

// DurationSum is how many records of a kind took Minutes from creation to
// completion among those completed on Day (UTC, YYYY-MM-DD), as the
// triggers of migration 8 keep them.
type DurationSum struct {
	Day     string
	Minutes int64
	N       int64
}

// SumDurations reads the kept completion times of kind for the records
// completed on or after the UTC day of since: a few rows per day.
func SumDurations(ctx context.Context, db *gorm.DB, kind string, since time.Time) ([]DurationSum, error) {
	d := DialectOf(db)
	var out []DurationSum
	if err := db.WithContext(ctx).Table("figure_durations").Select(d.dayText()+" AS day, minutes, n").
		Where("kind = ? AND n <> 0", kind).Where(d.daySince(), since.UTC().Format("2006-01-02")).Scan(&out).Error; err != nil {
		return nil, fmt.Errorf("figures: %s durations: %w", kind, err)
	}
	return out, nil
}

// dayText is the figure tables' day column as YYYY-MM-DD text: a DATE on
// PostgreSQL, that text already on SQLite.
func (d Dialect) dayText() string {
	if d.postgres {
		return "to_char(day, 'YYYY-MM-DD')"
	}
	return "day"
}

// daySince compares the day column with a YYYY-MM-DD argument.
func (d Dialect) daySince() string {
	if d.postgres {
		return "day >= CAST(? AS DATE)"
	}
	return "day >= ?"
}
