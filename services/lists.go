package services

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// DateLayout is how list filters take dates: whole UTC days.
const DateLayout = "2006-01-02"

// ParseDateRange reads the "from" and "to" filter fields (inclusive UTC days,
// either may be empty) and adds messages for bad ones to errs.
func ParseDateRange(from, to string, errs FieldErrors) (fromDay, toDay time.Time) {
	var err error
	if from = strings.TrimSpace(from); from != "" {
		if fromDay, err = time.Parse(DateLayout, from); err != nil {
			errs["from"] = "Enter a date like 2026-01-31."
		}
	}
	if to = strings.TrimSpace(to); to != "" {
		if toDay, err = time.Parse(DateLayout, to); err != nil {
			errs["to"] = "Enter a date like 2026-01-31."
		}
	}
	if !fromDay.IsZero() && !toDay.IsZero() && toDay.Before(fromDay) {
		errs["to"] = "The end date is before the start date."
	}
	return fromDay, toDay
}

// ExportBatch is how many rows a CSV export reads at a time.
const ExportBatch = 1000

// StreamCSV writes header and then every row, newest first, reading them in
// id-keyset batches so memory stays flat however many rows match. next
// returns the batch of rows with ids below cursor (0: the newest); records
// turns a batch into CSV records (a batch at a time, so it can load related
// rows in one query). Every field is made formula-safe.
func StreamCSV[T any](w io.Writer, header []string, next func(cursor uint, limit int) ([]T, error), id func(T) uint, records func([]T) ([][]string, error)) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(header); err != nil {
		return err
	}
	var cursor uint
	for {
		rows, err := next(cursor, ExportBatch)
		if err != nil {
			return err
		}
		recs, err := records(rows)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			for i := range rec {
				rec[i] = CSVSafe(rec[i])
			}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
		if len(rows) < ExportBatch {
			return nil
		}
		cursor = id(rows[len(rows)-1])
	}
}

// SearchText is a list's free-text search box as read by ParseSearch.
type SearchText struct {
	ID     uint   // "#123": that record only
	Prefix string // anything else: a prefix of the list's indexed columns
}

// ParseSearch reads a list's "q" field: empty, "#<number>" for one record
// (what names the kind of record, e.g. "document"), or a prefix of at
// least minLen and at most maxLen characters. Problems go to errs["q"].
func ParseSearch(q, what string, minLen, maxLen int, errs FieldErrors) SearchText {
	q = strings.TrimSpace(q)
	var s SearchText
	switch {
	case q == "":
	case utf8.RuneCountInString(q) > maxLen:
		errs["q"] = fmt.Sprintf("Search for at most %d characters.", maxLen)
	case strings.HasPrefix(q, "#"):
		n, err := strconv.ParseUint(q[1:], 10, 32)
		if err != nil || n == 0 {
			errs["q"] = "A " + what + " number looks like #123."
		}
		s.ID = uint(n)
	case utf8.RuneCountInString(q) < minLen:
		errs["q"] = fmt.Sprintf("Type at least %d characters.", minLen)
	default:
		s.Prefix = q
	}
	return s
}

// MaxSelection is the most records one bulk action or selection export
// takes: a person can check what that many did; for more, the filter
// export and the reconcilers (which follow every open record anyway) are
// the tools.
const MaxSelection = 10_000

// ParseSelection checks a list filter's selected ids (none: the whole
// list) and adds a message for a bad selection to errs.
func ParseSelection(ids []uint, errs FieldErrors) []uint {
	if len(ids) > MaxSelection {
		errs["id"] = fmt.Sprintf("Select at most %d records at once.", MaxSelection)
		return nil
	}
	for _, id := range ids {
		if id == 0 {
			errs["id"] = "A selected record is not one of the list's: select again from the list."
			return nil
		}
	}
	return ids
}

// CollectIDs walks a list newest first, page after page, and returns the
// ids of at most max+1 of its records: one more than max says there are
// more. page reads the page after cursor next.
func CollectIDs(max int, page func(next string, limit int) (ids []uint, following string, err error)) ([]uint, error) {
	var out []uint
	for next := ""; ; {
		ids, following, err := page(next, min(500, max+1-len(out)))
		if err != nil {
			return nil, err
		}
		out = append(out, ids...)
		if following == "" || len(out) > max {
			return out, nil
		}
		next = following
	}
}
