package web

// What every list page shares: the links to its neighbouring pages and
// the sortable headings of its columns.

import (
	"net/url"
	"strconv"

	"github.com/gin-gonic/gin"

	"portal/services"
	"portal/templates"
)

// listFilters are a list's URL values without its order and page: what
// an export or a bulk action of the list takes.
func listFilters(v url.Values) url.Values {
	out := url.Values{}
	for k, vals := range v {
		if k != "sort" && k != "before" && k != "after" {
			out[k] = vals
		}
	}
	return out
}

// keysetPager links the neighbouring pages of a list, keeping its filters.
func keysetPager(path string, filters url.Values, older, newer uint, shown int) templates.Pager {
	pager := templates.Pager{Shown: shown}
	link := func(key string, id uint) string {
		v := url.Values{}
		for k, vals := range filters {
			v[k] = vals
		}
		v.Set(key, strconv.FormatUint(uint64(id), 10))
		return path + "?" + v.Encode()
	}
	if older > 0 {
		pager.OlderHref = link("before", older)
	}
	if newer > 0 {
		pager.NewerHref = link("after", newer)
	}
	return pager
}

// cursorPager links the neighbouring pages of a list whose cursors are
// services.Cursor text (any sort order), keeping its filters.
func cursorPager(path string, filters url.Values, following, preceding string, shown int) templates.Pager {
	pager := templates.Pager{Shown: shown}
	link := func(key, cursor string) string {
		v := url.Values{}
		for k, vals := range filters {
			v[k] = vals
		}
		v.Set(key, cursor)
		return path + "?" + v.Encode()
	}
	if following != "" {
		pager.OlderHref = link("before", following)
	}
	if preceding != "" {
		pager.NewerHref = link("after", preceding)
	}
	return pager
}

// pageCursors reads a list's "before"/"after" cursors, answering 400 itself
// when a link was mangled.
func (s *Server) pageCursors(c *gin.Context, beforeRaw, afterRaw string) (before, after uint, ok bool) {
	parse := func(raw string) (uint, bool) {
		if raw == "" {
			return 0, true
		}
		n, err := strconv.ParseUint(raw, 10, 32)
		return uint(n), err == nil
	}
	before, ok1 := parse(beforeRaw)
	after, ok2 := parse(afterRaw)
	if !ok1 || !ok2 {
		s.badRequest(c, "That page link is broken. Start again from the first page.")
		return 0, 0, false
	}
	return before, after, true
}

// columnSortHeader is the heading of column key in a list at path whose
// order is current (empty: def) and whose filters are v: a link to the
// order the other way round on the current column, and on another column
// to the order a person wants first (first: the newest, the largest, A
// before Z).
func columnSortHeader(path string, v url.Values, current string, def services.Sort, first services.Sort) templates.SortHeader {
	if current == "" {
		current = def.String()
	}
	h, next := templates.SortHeader{}, first
	switch current {
	case first.Key:
		h.State, next = "ascending", services.Sort{Key: first.Key}
	case "-" + first.Key:
		h.State, next = "descending", services.Sort{Key: first.Key, Asc: true}
	}
	v.Set("sort", next.String())
	h.Href = (&url.URL{Path: path, RawQuery: v.Encode()}).String()
	return h
}
