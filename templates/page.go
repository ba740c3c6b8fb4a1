// Package templates holds the templ components. Components take view models
// shaped like the screen (plain structs, no GORM or Gin types), so a page can be
// rendered and tested without a database.
package templates

import (
	"context"
	"encoding/json"
	"io"
	"strconv"
	"time"

	"github.com/a-h/templ"
)

// Page is what the layout needs around every signed-in page.
type Page struct {
	Title   string
	Viewer  *Viewer // nil for anonymous pages
	Nav     []NavItem
	Flashes []Flash
	Sandbox bool
}

// Viewer is the signed-in staff member.
type Viewer struct {
	ID    uint
	Name  string
	Email string
	Role  string
}

// NavItem is one link in the header; the web layer builds the list from the
// route policy so a link shows only to roles that may open it.
type NavItem struct {
	Label  string
	Href   string
	Active bool
	Count  int  // shown as a counter when > 0
	Alert  bool // needs someone's attention: highlighted
}

// Flash is a one-time message shown at the top of the next page.
type Flash struct {
	Kind    string // success, error, info, warning
	Message string
}

// FieldError returns the message for a field, or "".
type FieldErrors map[string]string

// Get returns the error message for field.
func (e FieldErrors) Get(field string) string {
	if e == nil {
		return ""
	}
	return e[field]
}

// Pager holds keyset paging links; empty hrefs mean no page that way.
type Pager struct {
	NewerHref string
	OlderHref string
	Shown     int
	// Sorted pages are not newer or older, only before or after: they
	// read "Previous" and "Next".
	Sorted bool
}

func (p Pager) backLabel() string {
	if p.Sorted {
		return "← Previous"
	}
	return "← Newer"
}

func (p Pager) onLabel() string {
	if p.Sorted {
		return "Next →"
	}
	return "Older →"
}

// A SortHeader is a column heading that sorts its list. Href sorts by the
// column (the other way round when it is the current order); State is
// aria-sort's "ascending" or "descending" on the current column, "" on
// the others. The zero value is a plain heading.
type SortHeader struct {
	Href, State string
}

func (h SortHeader) arrow() string {
	switch h.State {
	case "ascending":
		return " ▲"
	case "descending":
		return " ▼"
	}
	return ""
}

func itoa[T ~int | ~uint | ~int64 | ~uint64](n T) string { return strconv.FormatInt(int64(n), 10) }

func utc(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func utcTitle(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") + " UTC" }

func utcText(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") + " UTC" }

// Join renders components one after the other, for an htmx answer that
// carries out-of-band fragments next to the main one.
func Join(parts ...templ.Component) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		for _, p := range parts {
			if err := p.Render(ctx, w); err != nil {
				return err
			}
		}
		return nil
	})
}

// StatusSeenHeader carries, on a status poll, the version of the fragment
// the page shows; the fragment endpoint answers 204 No Content when it is
// still current, so htmx leaves the page (and its live region) alone.
const StatusSeenHeader = "X-Status-Seen"

type statusVersionKey struct{}

// WithStatusVersion is ctx for rendering a status fragment (alone, or in its
// page) whose content hashes to v.
func WithStatusVersion(ctx context.Context, v string) context.Context {
	return context.WithValue(ctx, statusVersionKey{}, v)
}

// statusHeaders is the hx-headers value of a polling status fragment: the
// version the poll reports as seen.
func statusHeaders(ctx context.Context) string {
	v, _ := ctx.Value(statusVersionKey{}).(string)
	b, _ := json.Marshal(map[string]string{StatusSeenHeader: v})
	return string(b)
}
