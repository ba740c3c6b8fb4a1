// Package sorttest checks a keyset-paged sorted list from its outside:
// every list's test walks its pages the same way.
package sorttest

import (
	"errors"
	"slices"
	"testing"

	"portal/services"
)

// A Page is what Walk needs of one page of a list: the ids on it, in
// order, and the cursors of the pages after and before it ("" for none).
type Page struct {
	IDs             []uint
	Following, Prev string
}

// Walk reads every page forwards from the first, then reads each page
// again backwards from the one after it, and fails t unless the forward
// walk is want exactly (every match once, in order) and each backward
// read is the page it came back to.
func Walk(t testing.TB, want []uint, list func(next, prev string) (Page, error)) {
	t.Helper()
	var pages []Page
	for next := ""; ; {
		page, err := list(next, "")
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, page)
		if page.Following == "" {
			break
		}
		if len(pages) > len(want)+1 {
			t.Fatalf("more pages than matches: the walk does not end (cursor %q)", page.Following)
		}
		next = page.Following
	}
	var got []uint
	for _, p := range pages {
		got = append(got, p.IDs...)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("walking forwards: %d ids %v…, want %d %v…", len(got), head(got), len(want), head(want))
	}
	if pages[0].Prev != "" {
		t.Errorf("the first page links a preceding page %q", pages[0].Prev)
	}
	for i := len(pages) - 1; i > 0; i-- {
		back, err := list("", pages[i].Prev)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(back.IDs, pages[i-1].IDs) {
			t.Fatalf("page %d read backwards: %v…, want %v…", i-1, head(back.IDs), head(pages[i-1].IDs))
		}
	}
}

// IDs are the ids of rows, in order.
func IDs[T any](rows []T, id func(T) uint) []uint {
	out := make([]uint, len(rows))
	for i, r := range rows {
		out[i] = id(r)
	}
	return out
}

func head(ids []uint) []uint { return ids[:min(len(ids), 8)] }

// A Refusal is a list request that must be refused: with a message on
// Field, or, when Field is "", as a broken page link.
type Refusal[F any] struct {
	Name       string
	Filter     F
	Next, Prev string
	Field      string
}

// CheckRefusals asks list for each case and fails t unless it is refused
// as the case says; badCursor is the list's broken-link error.
func CheckRefusals[F any](t testing.TB, cases []Refusal[F], badCursor error, list func(f F, next, prev string) error) {
	t.Helper()
	for _, c := range cases {
		err := list(c.Filter, c.Next, c.Prev)
		if c.Field == "" {
			if !errors.Is(err, badCursor) {
				t.Errorf("%s: %v, want %v", c.Name, err, badCursor)
			}
			continue
		}
		if fe, ok := services.AsFieldErrors(err); !ok || fe[c.Field] == "" {
			t.Errorf("%s: %v, want a message for %s", c.Name, err, c.Field)
		}
	}
}
