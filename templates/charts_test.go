package templates

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/a-h/templ"
	"golang.org/x/net/html"
)

func TestNiceTicks(t *testing.T) {
	cases := []struct {
		max     float64
		integer bool
		want    []float64
	}{
		{1, true, []float64{0, 1, 2}},
		{2, true, []float64{0, 1, 2}},
		{3, true, []float64{0, 1, 2, 3}},
		{4, true, []float64{0, 1, 2, 3, 4}},
		{5, true, []float64{0, 2, 4, 6}},
		{7, true, []float64{0, 2, 4, 6, 8}},
		{10, true, []float64{0, 5, 10}},
		{12, true, []float64{0, 5, 10, 15}},
		{95, true, []float64{0, 50, 100}},
		{100, true, []float64{0, 50, 100}},
		{101, true, []float64{0, 50, 100, 150}},
		{1250, true, []float64{0, 500, 1000, 1500}},
		{1, false, []float64{0, 0.5, 1}},
		{0.37, false, []float64{0, 0.1, 0.2, 0.30000000000000004, 0.4}},
		{0.3, false, []float64{0, 0.1, 0.2, 0.30000000000000004}},
		{0, true, []float64{0, 1, 2}},
		{-5, false, []float64{0, 0.5, 1}},
		{math.NaN(), false, []float64{0, 0.5, 1}},
		{math.Inf(1), false, []float64{0, 0.5, 1}},
	}
	for _, c := range cases {
		if got := niceTicks(c.max, c.integer); !reflect.DeepEqual(got, c.want) {
			t.Errorf("niceTicks(%v, %v) = %v, want %v", c.max, c.integer, got, c.want)
		}
	}
}

// TestNiceTicksProperties sweeps many magnitudes: always 3 to 5 ticks from
// 0, evenly spaced by 1, 2 or 5 × 10^n, with the top at or above max.
func TestNiceTicksProperties(t *testing.T) {
	for _, integer := range []bool{false, true} {
		for e := -8; e <= 299; e++ {
			for _, m := range []float64{1, 1.01, 1.5, 2, 2.49, 3.3, 4, 4.99, 5, 7.5, 9.99} {
				hi := m * math.Pow10(e)
				if integer {
					hi = math.Ceil(hi)
				}
				ticks := niceTicks(hi, integer)
				if len(ticks) < 3 || len(ticks) > 5 {
					t.Fatalf("niceTicks(%g) = %v: %d ticks", hi, ticks, len(ticks))
				}
				step := ticks[1]
				// Log10 can land just under a whole power: a mantissa of 10 is 1.
				mant := step / math.Pow10(int(math.Floor(math.Log10(step))))
				if r := math.Round(mant); math.Abs(mant-r) > 1e-9 || (r != 1 && r != 2 && r != 5 && r != 10) {
					t.Fatalf("niceTicks(%g): step %g is not 1, 2 or 5 × 10^n", hi, step)
				}
				if integer && step < 1 {
					t.Fatalf("niceTicks(%g, integer): step %g", hi, step)
				}
				if ticks[0] != 0 || ticks[len(ticks)-1] < hi*(1-1e-9) || math.IsInf(ticks[len(ticks)-1], 0) {
					t.Fatalf("niceTicks(%g) = %v does not span [0, max]", hi, ticks)
				}
			}
		}
	}
}

func TestChartTickLabel(t *testing.T) {
	cases := []struct {
		v, step, top float64
		want         string
	}{
		{0, 500, 1500, "0"},
		{1500, 500, 1500, "1,500"},
		{20000, 10000, 40000, "20k"},
		{25000, 5000, 25000, "25k"},
		{15000, 5000, 15000, "15k"},
		{1.5e6, 5e5, 2e6, "1.5M"},
		{0.5, 0.5, 1, "0.5"},
		{0.30000000000000004, 0.1, 0.4, "0.3"},
		{2e300, 1e300, 4e300, "2e+300"},
	}
	for _, c := range cases {
		if got := chartTickLabel(c.v, c.step, c.top); got != c.want {
			t.Errorf("chartTickLabel(%v, %v, %v) = %q, want %q", c.v, c.step, c.top, got, c.want)
		}
	}
}

func TestChartNumber(t *testing.T) {
	cases := map[float64]string{
		0: "0", 12: "12", 1250: "1,250", 1250.5: "1,250.5", 1234567.891: "1,234,567.89", 1e300: "1e+300",
	}
	for v, want := range cases {
		if got := chartNumber(v); got != want {
			t.Errorf("chartNumber(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestStackHeights(t *testing.T) {
	cases := []struct {
		vals         []float64
		height, minH float64
		want         []float64
	}{
		{[]float64{1, 1}, 100, 2, []float64{50, 50}},
		{[]float64{3, 0, 1}, 100, 2, []float64{75, 0, 25}},
		{[]float64{1000, 1}, 100, 2, []float64{98, 2}},
		{[]float64{1000, 1, 1}, 100, 2, []float64{96, 2, 2}},
		{[]float64{1, 1, 1}, 3, 2, []float64{1, 1, 1}},
		{[]float64{0, 0}, 100, 2, []float64{0, 0}},
		{nil, 100, 2, []float64{}},
	}
	for _, c := range cases {
		got := stackHeights(c.vals, c.height, c.minH)
		if len(got) != len(c.want) {
			t.Fatalf("stackHeights(%v) = %v, want %v", c.vals, got, c.want)
		}
		for i := range got {
			if math.Abs(got[i]-c.want[i]) > 1e-9 {
				t.Errorf("stackHeights(%v, %v, %v) = %v, want %v", c.vals, c.height, c.minH, got, c.want)
				break
			}
		}
	}
}

func points(vals ...float64) []ChartPoint {
	ps := make([]ChartPoint, len(vals))
	for i, v := range vals {
		ps[i] = ChartPoint{Label: fmt.Sprintf("11-%02d", i+1), Value: v, Href: fmt.Sprintf("/recharges?day=%d", i+1)}
	}
	return ps
}

// checkInside fails when a rectangle leaves the plot area or has a
// negative or non-finite size.
func checkInside(t *testing.T, l chartLayout, r chartRect) {
	t.Helper()
	for _, f := range []float64{r.X, r.Y, r.W, r.H} {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			t.Fatalf("non-finite geometry %+v", r)
		}
	}
	const eps = 1e-6
	if r.W <= 0 || r.H <= 0 || r.X < l.X0-eps || r.X+r.W > l.X1+eps || r.Y < l.Y0-eps || r.Y+r.H > l.Y1+eps {
		t.Fatalf("rect %+v outside plot [%v,%v]×[%v,%v]", r, l.X0, l.X1, l.Y0, l.Y1)
	}
	if l.X0 < 0 || l.X1 > chartW || l.Y0 < 0 || l.Y1 > chartH {
		t.Fatalf("plot outside the viewBox: %+v", l)
	}
}

func TestBarGeometry(t *testing.T) {
	cases := []struct {
		name string
		vals []float64
	}{
		{"week", []float64{3, 7, 0, 12, 5, 9, 1}},
		{"one", []float64{42}},
		{"money", []float64{1250.5, 300, 0.75, 9999.99}},
		{"month", func() []float64 {
			v := make([]float64, 30)
			for i := range v {
				v[i] = float64(i*i%17 + 1)
			}
			return v
		}()},
		{"negative and broken", []float64{-4, math.NaN(), math.Inf(1), math.Inf(-1), 8, 2}},
		{"one huge", []float64{1, 2, 1e308, 3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := barChartLayout(BarChartView{Title: "T", Points: points(c.vals...)})
			if l.Empty {
				t.Fatal("empty layout")
			}
			if len(l.Columns) != len(c.vals) {
				t.Fatalf("%d columns for %d points", len(l.Columns), len(c.vals))
			}
			plotH := l.Y1 - l.Y0
			for i, col := range l.Columns {
				v := chartClean(c.vals[i])
				if v == 0 {
					if len(col.Rects) != 0 {
						t.Errorf("bar %d: value %v drawn as %+v", i, c.vals[i], col.Rects)
					}
					continue
				}
				if len(col.Rects) != 1 {
					t.Fatalf("bar %d: %d rects", i, len(col.Rects))
				}
				r := col.Rects[0]
				checkInside(t, l, r)
				if math.Abs(r.Y+r.H-l.Y1) > 1e-9 {
					t.Errorf("bar %d does not stand on the axis: %+v", i, r)
				}
				// Proportional to the value, except that a tiny bar keeps
				// the minimum height.
				want := max(v/l.top*plotH, chartMinBarH)
				if math.Abs(r.H-want) > 1e-9 {
					t.Errorf("bar %d: height %v, want %v", i, r.H, want)
				}
				if i > 0 && len(l.Columns[i-1].Rects) == 1 && l.Columns[i-1].Rects[0].X+l.Columns[i-1].Rects[0].W > r.X {
					t.Errorf("bar %d overlaps the one before", i)
				}
			}
			for _, tk := range l.Ticks {
				if tk.Y < l.Y0-1e-9 || tk.Y > l.Y1+1e-9 {
					t.Errorf("tick %+v outside the plot", tk)
				}
			}
		})
	}
}

// TestBarHeightsProportional: doubling a value doubles its bar.
func TestBarHeightsProportional(t *testing.T) {
	l := barChartLayout(BarChartView{Points: points(10, 20, 40)})
	h := func(i int) float64 { return l.Columns[i].Rects[0].H }
	if math.Abs(h(1)-2*h(0)) > 1e-9 || math.Abs(h(2)-2*h(1)) > 1e-9 {
		t.Fatalf("heights %v, %v, %v not proportional to 10, 20, 40", h(0), h(1), h(2))
	}
}

func TestStackedGeometry(t *testing.T) {
	v := StackedBarChartView{
		Title:      "Outcomes",
		Categories: []string{"M-Pesa", "Airtel Money", "T-Kash", "Equitel"},
		Series: []ChartSeries{
			{Name: "Approved", Class: "ok", Values: []float64{120, 40, 3, 0}},
			{Name: "Declined", Class: "bad", Values: []float64{10, 2, 0, 0}},
			{Name: "Expired", Class: "warn", Values: []float64{1, math.NaN(), -3}},
		},
	}
	l := stackedChartLayout(v)
	plotH := l.Y1 - l.Y0
	for c, col := range l.Columns {
		var total, drawn float64
		for s := range v.Series {
			total += chartClean(chartAt(v.Series[s].Values, c))
		}
		if total == 0 {
			if len(col.Rects) != 0 || col.Total != "" {
				t.Errorf("category %d: empty stack drawn: %+v", c, col)
			}
			continue
		}
		bottom := l.Y1
		for _, r := range col.Rects {
			checkInside(t, l, r)
			if math.Abs(r.Y+r.H-bottom) > 1e-9 {
				t.Errorf("category %d: segments do not stack: %+v", c, col.Rects)
			}
			bottom = r.Y
			drawn += r.H
		}
		want := max(total/l.top*plotH, chartMinBarH*float64(len(col.Rects)))
		if math.Abs(drawn-want) > 1e-9 {
			t.Errorf("category %d: stack %v high, want %v", c, drawn, want)
		}
	}
	if got := len(l.Columns[0].Rects); got != 3 {
		t.Errorf("first stack has %d segments, want 3", got)
	}
}

func TestXLabelsThinned(t *testing.T) {
	vals := make([]float64, 30)
	for i := range vals {
		vals[i] = 1
	}
	l := barChartLayout(BarChartView{Points: points(vals...)})
	for _, set := range []struct {
		labels []chartLabel
		font   float64
	}{{l.Labels, chartFont}, {l.LabelsNarrow, chartFontLarge}} {
		if set.labels == nil {
			set.labels = l.Labels
		}
		if n := len(set.labels); n < 4 || n > 15 {
			t.Fatalf("30 days got %d labels at font %v", n, set.font)
		}
		if last := set.labels[len(set.labels)-1]; last.Text != "11-30" {
			t.Errorf("last label %q, want the last day", last.Text)
		}
		for i := 1; i < len(set.labels); i++ {
			if gap := set.labels[i].X - set.labels[i-1].X; gap < chartTextWidth(5, set.font)+4 {
				t.Errorf("labels %d and %d are %v apart: they collide at font %v", i-1, i, gap, set.font)
			}
		}
	}

	week := barChartLayout(BarChartView{Points: points(1, 2, 3, 4, 5, 6, 7)})
	if len(week.Labels) != 7 {
		t.Errorf("a week got %d labels, want all 7", len(week.Labels))
	}

	st := stackedChartLayout(StackedBarChartView{
		Categories: []string{"M-Pesa", "A provider with a very long name indeed"},
		Series:     []ChartSeries{{Name: "Approved", Values: []float64{1, 2}}},
	})
	if len(st.Labels) != 2 || st.Labels[1].Full == "" || !strings.HasSuffix(st.Labels[1].Text, "…") {
		t.Errorf("long category label not shortened with its full text kept: %+v", st.Labels)
	}
	if len(st.LabelsNarrow) != 2 || len([]rune(st.LabelsNarrow[1].Text)) >= len([]rune(st.Labels[1].Text)) {
		t.Errorf("narrow labels not shorter: %+v", st.LabelsNarrow)
	}
}

func render(t testing.TB, c templ.Component) string {
	t.Helper()
	var b bytes.Buffer
	if err := c.Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func parse(t testing.TB, s string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader("<!DOCTYPE html><html><body>" + s + "</body></html>"))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func walk(n *html.Node, f func(*html.Node)) {
	f(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func hasClass(n *html.Node, class string) bool {
	v, _ := attr(n, "class")
	for _, c := range strings.Fields(v) {
		if c == class {
			return true
		}
	}
	return false
}

func findAll(root *html.Node, pred func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	walk(root, func(n *html.Node) {
		if n.Type == html.ElementNode && pred(n) {
			out = append(out, n)
		}
	})
	return out
}

func tag(name string) func(*html.Node) bool {
	return func(n *html.Node) bool { return n.Data == name }
}

func text(n *html.Node) string {
	var b strings.Builder
	walk(n, func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
	})
	return strings.TrimSpace(b.String())
}

// inSVG reports whether n sits inside an <svg>.
func inSVG(n *html.Node) bool {
	for p := n.Parent; p != nil; p = p.Parent {
		if p.Data == "svg" {
			return true
		}
	}
	return false
}

// checkCSPSafe fails on anything the portal's CSP would block or a chart
// must never emit: style attributes or elements, scripts, event handlers,
// and geometry that is not a finite number inside the viewBox.
func checkCSPSafe(t testing.TB, doc *html.Node) {
	t.Helper()
	geometry := map[string]bool{"x": true, "y": true, "width": true, "height": true, "x1": true, "x2": true, "y1": true, "y2": true}
	walk(doc, func(n *html.Node) {
		if n.Type != html.ElementNode {
			return
		}
		if n.Data == "style" || n.Data == "script" {
			t.Fatalf("<%s> element in chart output", n.Data)
		}
		for _, a := range n.Attr {
			if a.Key == "style" || strings.HasPrefix(a.Key, "on") {
				t.Fatalf("%s attribute on <%s>", a.Key, n.Data)
			}
			if a.Key == "viewBox" && a.Val != chartViewBox {
				t.Fatalf("viewBox %q", a.Val)
			}
			if !inSVG(n) || !geometry[a.Key] {
				continue
			}
			f, err := strconv.ParseFloat(a.Val, 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				t.Fatalf("<%s %s=%q>: not a finite number", n.Data, a.Key, a.Val)
			}
			limit := chartW
			if a.Key == "y" || a.Key == "y1" || a.Key == "y2" || a.Key == "height" {
				limit = chartH
			}
			if f < 0 || f > limit {
				t.Fatalf("<%s %s=%q>: outside the viewBox", n.Data, a.Key, a.Val)
			}
		}
	})
}

func TestBarChartRender(t *testing.T) {
	v := BarChartView{
		ID: "recharges-per-day", Title: "Recharges per day", Caption: "Successful recharges in the last 7 days.",
		Unit:         "recharges",
		LabelHeading: "Day",
		Points: []ChartPoint{
			{Label: "11-01", Value: 12, Text: "12", Href: "/recharges?day=2025-11-01"},
			{Label: "11-02", Value: 0, Href: "/recharges?day=2025-11-02"},
			{Label: "11-03", Value: 7, Href: "/recharges?day=2025-11-03"},
			{Label: "11-04", Value: 30, Text: "30 recharges"},
			{Label: "11-05", Value: -2, Text: "refunds"},
		},
	}
	doc := parse(t, render(t, BarChart(v)))
	checkCSPSafe(t, doc)

	svgs := findAll(doc, tag("svg"))
	if len(svgs) != 1 {
		t.Fatalf("%d <svg>, want 1", len(svgs))
	}
	svg := svgs[0]
	// The drawing is hidden from assistive technology (its links would be
	// interactive elements inside an image); a sentence and the table say
	// the same.
	if h, _ := attr(svg, "aria-hidden"); h != "true" {
		t.Errorf("svg aria-hidden %q, want true", h)
	}
	if r, ok := attr(svg, "role"); ok {
		t.Errorf("svg role %q: a hidden drawing needs none", r)
	}
	summary := findAll(doc, func(n *html.Node) bool { return n.Data == "p" && hasClass(n, "sr-only") })
	if len(summary) != 1 || !strings.HasPrefix(text(summary[0]), "Recharges per day") || !strings.Contains(text(summary[0]), "30 recharges") {
		t.Errorf("no screen-reader summary of the chart: %v", summary)
	}
	if w, _ := attr(svg, "width"); w != "100%" {
		t.Errorf("svg width %q", w)
	}

	rects := findAll(svg, tag("rect"))
	if len(rects) != 3 {
		t.Fatalf("%d <rect>, want one per non-zero bar (3)", len(rects))
	}
	var hrefs []string
	for _, a := range findAll(svg, tag("a")) {
		h, _ := attr(a, "href")
		hrefs = append(hrefs, h)
		if ti, _ := attr(a, "tabindex"); ti != "-1" {
			t.Errorf("bar link in the tab order: %v", a.Attr)
		}
	}
	wantHrefs := []string{"/recharges?day=2025-11-01", "/recharges?day=2025-11-03"}
	if !reflect.DeepEqual(hrefs, wantHrefs) {
		t.Errorf("bar links %v, want %v", hrefs, wantHrefs)
	}
	var titles []string
	for _, n := range findAll(svg, tag("title")) {
		titles = append(titles, text(n))
	}
	wantTitles := []string{"11-01: 12", "11-03: 7 recharges", "11-04: 30 recharges"}
	if !reflect.DeepEqual(titles, wantTitles) {
		t.Errorf("titles %q, want %q", titles, wantTitles)
	}

	tables := chartTables(doc)
	if len(tables) != 1 {
		t.Fatalf("%d tables under Show the numbers", len(tables))
	}
	rows := findAll(tables[0], func(n *html.Node) bool { return n.Data == "tr" && n.Parent.Data == "tbody" })
	if len(rows) != len(v.Points) {
		t.Fatalf("%d table rows, want %d", len(rows), len(v.Points))
	}
	for i, r := range rows {
		cells := findAll(r, func(n *html.Node) bool { return n.Data == "th" || n.Data == "td" })
		if len(cells) != 2 || text(cells[0]) != v.Points[i].Label {
			t.Errorf("row %d: %q", i, text(r))
		}
	}
	if got := text(rows[4]); !strings.Contains(got, "refunds") {
		t.Errorf("row with a Text shows %q", got)
	}
	tableHrefs := []string{}
	for _, a := range findAll(tables[0], tag("a")) {
		if ti, ok := attr(a, "tabindex"); ok {
			t.Errorf("table link with tabindex %q: the table is how the keyboard reaches the bars' lists", ti)
		}
		h, _ := attr(a, "href")
		tableHrefs = append(tableHrefs, h)
	}
	if want := []string{"/recharges?day=2025-11-01", "/recharges?day=2025-11-02", "/recharges?day=2025-11-03"}; !reflect.DeepEqual(tableHrefs, want) {
		t.Errorf("table links %v, want %v", tableHrefs, want)
	}
	if ths := findAll(tables[0], func(n *html.Node) bool { return n.Data == "th" && n.Parent.Parent.Data == "thead" }); len(ths) != 2 || text(ths[0]) != "Day" {
		t.Errorf("table head %v", ths)
	}
	if fig := findAll(doc, tag("figure")); len(fig) != 1 {
		t.Errorf("%d figures", len(fig))
	} else if id, _ := attr(fig[0], "id"); id != "recharges-per-day" {
		t.Errorf("figure id %q", id)
	}
	if c := findAll(doc, tag("figcaption")); len(c) != 1 || text(c[0]) != v.Caption {
		t.Errorf("caption missing")
	}
	if len(findAll(doc, func(n *html.Node) bool { return hasClass(n, "chart-empty") })) != 0 {
		t.Error("empty message on a chart with data")
	}
}

// chartTables are the tables folded under a chart's "Show the numbers".
func chartTables(doc *html.Node) []*html.Node {
	var out []*html.Node
	for _, d := range findAll(doc, func(n *html.Node) bool { return n.Data == "details" && hasClass(n, "chart-data") }) {
		if s := findAll(d, tag("summary")); len(s) != 1 || text(s[0]) != "Show the numbers" {
			continue
		}
		out = append(out, findAll(d, tag("table"))...)
	}
	return out
}

func TestBarChartEmpty(t *testing.T) {
	cases := []struct {
		name   string
		points []ChartPoint
	}{
		{"no points", nil},
		{"all zero", points(0, 0, 0)},
		{"negative and broken", points(-1, math.NaN(), math.Inf(1), math.Inf(-1), 1e-12)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := render(t, BarChart(BarChartView{Title: "Volume", Caption: "KES per day.", Points: c.points, Empty: "No recharges in these 30 days."}))
			doc := parse(t, out)
			checkCSPSafe(t, doc)
			if n := len(findAll(doc, tag("svg"))); n != 0 {
				t.Errorf("%d svg for empty data", n)
			}
			if n := len(findAll(doc, tag("table"))); n != 0 {
				t.Errorf("%d tables for empty data", n)
			}
			msg := findAll(doc, func(n *html.Node) bool { return hasClass(n, "chart-empty") })
			if len(msg) != 1 || text(msg[0]) != "No recharges in these 30 days." {
				t.Errorf("empty message missing in %s", out)
			}
		})
	}
	if out := render(t, BarChart(BarChartView{})); !strings.Contains(out, chartEmpty("")) {
		t.Errorf("no default empty message: %s", out)
	}
}

func TestStackedBarChartRender(t *testing.T) {
	v := StackedBarChartView{
		Title: "Outcomes by provider", Caption: "Recharges by provider and outcome, last 30 days.", Unit: "recharges",
		Categories: []string{"M-Pesa", "Airtel", "T-Kash"},
		Series: []ChartSeries{
			{Name: "Approved", Class: "ok", Values: []float64{120, 40, 0}, Hrefs: []string{"/r?p=mpesa&s=ok", "/r?p=airtel&s=ok", "/r?p=tkash&s=ok"}},
			{Name: "Declined", Class: "bad", Values: []float64{10, 0, 0}, Hrefs: []string{"/r?p=mpesa&s=bad"}},
			{Name: "Odd", Class: "purple\" onclick=\"x", Values: []float64{0, 5, 0}},
		},
	}
	doc := parse(t, render(t, StackedBarChart(v)))
	checkCSPSafe(t, doc)
	svg := findAll(doc, tag("svg"))[0]
	rects := findAll(svg, tag("rect"))
	if len(rects) != 4 {
		t.Fatalf("%d segments, want 4 (the non-zero values)", len(rects))
	}
	for _, r := range rects {
		c, _ := attr(r, "class")
		if !strings.HasPrefix(c, "chart-fill-") || strings.ContainsAny(c, "\" ") {
			t.Errorf("segment class %q", c)
		}
	}
	var hrefs []string
	for _, a := range findAll(svg, tag("a")) {
		h, _ := attr(a, "href")
		hrefs = append(hrefs, h)
	}
	if want := []string{"/r?p=mpesa&s=ok", "/r?p=mpesa&s=bad", "/r?p=airtel&s=ok"}; !reflect.DeepEqual(hrefs, want) {
		t.Errorf("segment links %v, want %v", hrefs, want)
	}
	var titles []string
	for _, n := range findAll(svg, func(n *html.Node) bool { return n.Data == "title" && n.Parent.Data != "text" }) {
		titles = append(titles, text(n))
	}
	if want := []string{"M-Pesa: Approved 120 recharges", "M-Pesa: Declined 10 recharges", "Airtel: Approved 40 recharges", "Airtel: Odd 5 recharges"}; !reflect.DeepEqual(titles, want) {
		t.Errorf("titles %q, want %q", titles, want)
	}
	legend := findAll(doc, func(n *html.Node) bool {
		return n.Data == "li" && n.Parent != nil && hasClass(n.Parent, "chart-legend")
	})
	if len(legend) != 3 || text(legend[0]) != "Approved" {
		t.Errorf("legend %d items", len(legend))
	}
	for i, want := range []string{"chart-fill-ok", "chart-fill-bad", "chart-fill-warn"} {
		if sw := findAll(legend[i], func(n *html.Node) bool { return hasClass(n, "chart-swatch") }); len(sw) != 1 || !hasClass(sw[0], want) {
			t.Errorf("legend %d: swatch without %s", i, want)
		}
	}
	totals := findAll(svg, func(n *html.Node) bool { return hasClass(n, "chart-total") })
	if len(totals) != 2 || text(totals[0]) != "130" || text(totals[1]) != "45" {
		t.Errorf("totals %v", totals)
	}
	table := chartTables(doc)[0]
	rows := findAll(table, func(n *html.Node) bool { return n.Data == "tr" && n.Parent.Data == "tbody" })
	if len(rows) != 3 {
		t.Fatalf("%d table rows, want 3", len(rows))
	}
	if got := text(rows[0]); !strings.Contains(got, "M-Pesa") || !strings.Contains(got, "130 recharges") {
		t.Errorf("row 0: %q", got)
	}

	empty := v
	empty.Series = []ChartSeries{{Name: "Approved", Values: []float64{0, 0, 0}}}
	empty.Empty = "No recharges yet."
	doc = parse(t, render(t, StackedBarChart(empty)))
	if len(findAll(doc, tag("svg"))) != 0 || !strings.Contains(text(doc), "No recharges yet.") {
		t.Error("all-zero stacked chart not shown as empty")
	}
}

func TestStatRender(t *testing.T) {
	cases := []struct {
		v        StatView
		tag      string
		class    string
		noClass  string
		hintText string
	}{
		{StatView{Label: "Unknown outcome", Value: "3", Hint: "needs a decision", Href: "/recharges?state=unknown", Kind: "alert"}, "a", "stat-alert", "stat-ok", "needs a decision"},
		{StatView{Label: "Median time", Value: "42 s", Kind: "ok"}, "div", "stat-ok", "stat-alert", ""},
		{StatView{Label: "Other", Value: "1", Kind: "bogus"}, "div", "stat", "stat-bogus", ""},
	}
	for _, c := range cases {
		doc := parse(t, render(t, Stat(c.v)))
		checkCSPSafe(t, doc)
		n := findAll(doc, func(n *html.Node) bool { return hasClass(n, "stat") })
		if len(n) != 1 || n[0].Data != c.tag || !hasClass(n[0], c.class) || hasClass(n[0], c.noClass) {
			t.Fatalf("%+v rendered as %+v", c.v, n)
		}
		if c.tag == "a" {
			if h, _ := attr(n[0], "href"); h != c.v.Href {
				t.Errorf("href %q", h)
			}
		}
		if v := findAll(doc, func(n *html.Node) bool { return hasClass(n, "stat-value") }); len(v) != 1 || text(v[0]) != c.v.Value {
			t.Errorf("value missing")
		}
		hints := findAll(doc, func(n *html.Node) bool { return hasClass(n, "stat-hint") })
		if (c.hintText == "") != (len(hints) == 0) {
			t.Errorf("hint: %d elements for %q", len(hints), c.hintText)
		}
	}
}

func TestChartEdgeCasesRender(t *testing.T) {
	cases := map[string][]ChartPoint{
		"one point":     points(5),
		"one huge":      points(1, 3, 1e308, 2, math.MaxFloat64),
		"tiny":          points(0.001, 0.002),
		"many":          points(make([]float64, 400)...),
		"javascript":    {{Label: "x", Value: 1, Href: "javascript:alert(1)"}},
		"markup labels": {{Label: "<script>alert(1)</script>", Value: 1, Text: "</title><style>"}},
	}
	cases["many"][399].Value = 1
	for name, ps := range cases {
		t.Run(name, func(t *testing.T) {
			out := render(t, BarChart(BarChartView{Title: name, Points: ps}))
			doc := parse(t, out)
			checkCSPSafe(t, doc)
			for _, a := range findAll(doc, tag("a")) {
				if h, _ := attr(a, "href"); strings.HasPrefix(h, "javascript:") {
					t.Errorf("unsafe href %q", h)
				}
			}
		})
	}
}

// FuzzBarChart throws arbitrary values (NaN, infinities, negatives,
// subnormals, giants) and labels at BarChart: it must not panic and must
// stay CSP-safe with finite geometry inside the viewBox.
func FuzzBarChart(f *testing.F) {
	enc := func(vals ...float64) []byte {
		b := make([]byte, 8*len(vals))
		for i, v := range vals {
			binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
		}
		return b
	}
	f.Add(enc(1, 2, 3), "a|b|c", "KES")
	f.Add(enc(math.NaN(), math.Inf(1), math.Inf(-1), -1), "x||y", "")
	f.Add(enc(1e308, 1, math.MaxFloat64, 5e-324), "11-01|11-02", "recharges")
	f.Add(enc(0, 0), "", "")
	f.Add([]byte{}, "only label", "x")
	f.Add(enc(0.1, 0.2, 0.30000000000000004), "\xff\xfe|ünïcødé label that is rather long|<b>", "\"unit\"")
	f.Fuzz(func(t *testing.T, data []byte, labels, unit string) {
		ls := strings.Split(labels, "|")
		var ps []ChartPoint
		for i := 0; i+8 <= len(data) && len(ps) < 500; i += 8 {
			v := math.Float64frombits(binary.LittleEndian.Uint64(data[i:]))
			l := ls[len(ps)%len(ls)]
			ps = append(ps, ChartPoint{Label: l, Value: v, Href: "/r?l=" + l})
		}
		v := BarChartView{Title: labels, Unit: unit, Points: ps}
		out := render(t, BarChart(v))
		doc := parse(t, out)
		checkCSPSafe(t, doc)
		l := barChartLayout(v)
		for _, c := range l.Columns {
			for _, r := range c.Rects {
				checkInside(t, l, r)
			}
		}
		if !l.Empty {
			rows := findAll(doc, func(n *html.Node) bool { return n.Data == "tr" && n.Parent.Data == "tbody" })
			if len(rows) != len(ps) {
				t.Fatalf("%d table rows for %d points", len(rows), len(ps))
			}
		}
	})
}

// FuzzStackedBarChart does the same for stacks: any number of series and
// categories, ragged value slices, any values.
func FuzzStackedBarChart(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, uint8(2), "a|b", "ok|bad|nope")
	f.Add(make([]byte, 64), uint8(3), "x", "")
	f.Fuzz(func(t *testing.T, data []byte, nseries uint8, cats, classes string) {
		v := StackedBarChartView{Title: cats, Unit: classes, Categories: strings.Split(cats, "|")}
		cls := strings.Split(classes, "|")
		for s := 0; s < int(nseries%12); s++ {
			v.Series = append(v.Series, ChartSeries{Name: cls[s%len(cls)], Class: cls[s%len(cls)]})
		}
		for i := 0; i+8 <= len(data) && len(v.Series) > 0 && i < 8*1000; i += 8 {
			x := math.Float64frombits(binary.LittleEndian.Uint64(data[i:]))
			s := &v.Series[(i/8)%len(v.Series)]
			s.Values = append(s.Values, x)
			s.Hrefs = append(s.Hrefs, "/r?i="+strconv.Itoa(i))
		}
		doc := parse(t, render(t, StackedBarChart(v)))
		checkCSPSafe(t, doc)
		l := stackedChartLayout(v)
		for _, c := range l.Columns {
			for _, r := range c.Rects {
				checkInside(t, l, r)
			}
		}
	})
}

// TestWriteChartSample writes a page with sample charts for a visual check
// in a browser: CHART_SAMPLE=/tmp/charts.html go test -run WriteChartSample.
// The stylesheets are expected next to the page.
func TestWriteChartSample(t *testing.T) {
	path := os.Getenv("CHART_SAMPLE")
	if path == "" {
		t.Skip("CHART_SAMPLE not set")
	}
	days := make([]ChartPoint, 30)
	for i := range days {
		v := float64((i*37)%23*55 + 200)
		if i == 12 {
			v = 0
		}
		days[i] = ChartPoint{Label: fmt.Sprintf("11-%02d", i+1), Value: v, Text: chartNumber(v) + ".00 KES", Href: "/recharges?day=" + strconv.Itoa(i+1)}
	}
	week := points(12, 18, 9, 0, 22, 31, 4)
	parts := []templ.Component{
		templ.Raw(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Charts</title><link rel="stylesheet" href="app.css"><link rel="stylesheet" href="charts.css"></head><body><main class="main stack"><div class="stats">`),
		Stat(StatView{Label: "Unknown outcome", Value: "3", Hint: "Recharges waiting for a decision", Href: "/recharges?state=unknown", Kind: "alert"}),
		Stat(StatView{Label: "Recharges today", Value: "128", Hint: "KES 412,300.00", Href: "/recharges?day=today"}),
		Stat(StatView{Label: "Median signing time", Value: "4 min", Hint: "Last 30 days", Kind: "ok"}),
		Stat(StatView{Label: "Verifications", Value: "17"}),
		templ.Raw(`</div><div class="grid-2"><div class="card">`),
		BarChart(BarChartView{ID: "volume", Title: "Recharge volume", Caption: "Successful recharges per day over the last 30 days, in shillings.", Unit: "KES", Points: days, LabelHeading: "Day"}),
		templ.Raw(`</div><div class="card">`),
		StackedBarChart(StackedBarChartView{
			ID: "outcomes", Title: "Outcomes by provider", Caption: "Recharges started in the last 30 days, by provider and how they ended.", Unit: "recharges", LabelHeading: "Provider",
			Categories: []string{"M-Pesa", "Airtel Money", "T-Kash", "Equitel Mobile Banking"},
			Series: []ChartSeries{
				{Name: "Approved", Class: "ok", Values: []float64{412, 133, 18, 61}, Hrefs: []string{"/r?1", "/r?2", "/r?3", "/r?4"}},
				{Name: "Declined", Class: "bad", Values: []float64{37, 21, 2, 9}},
				{Name: "Expired", Class: "warn", Values: []float64{12, 8, 1, 0}},
				{Name: "Aborted", Class: "muted", Values: []float64{5, 3, 0, 1}},
			},
		}),
		templ.Raw(`</div><div class="card">`),
		BarChart(BarChartView{Title: "Recharges per day", Caption: "Recharges started each day this week.", Unit: "recharges", Points: week}),
		templ.Raw(`</div><div class="card">`),
		BarChart(BarChartView{Title: "Failed signatures", Caption: "Documents declined per day.", Points: points(0, 0, 0), Empty: "No declined documents in the last 7 days."}),
		templ.Raw(`</div><div class="card">`),
		BarChart(BarChartView{Title: "One huge day", Caption: "One value dwarfs the rest; the small ones stay visible.", Points: points(3, 5, 250000, 2, 8, 1)}),
		templ.Raw(`</div><div class="card">`),
		BarChart(BarChartView{Title: "A single point", Caption: "Only one day of data.", Unit: "recharges", Points: points(7)}),
		templ.Raw(`</div></div></main></body></html>`),
	}
	out := render(t, Join(parts...))
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", filepath.Clean(path))
}
