package templates

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Charts are drawn on the server as SVG: no script, no external request, and
// no inline style (the CSP forbids it), so every colour and font size is a
// class in static/charts.css and only geometry is written as attributes.
//
// The SVG has a fixed viewBox and scales to its container's width, so text
// shrinks with the chart. charts.css raises the font size when the chart's
// container is narrow (a phone); the layout below always reserves room for
// that larger size, so labels never collide at either size.

// ChartPoint is one bar.
type ChartPoint struct {
	Label string  // x-axis label, e.g. "11-02"
	Value float64 // bar height in the chart's unit
	Text  string  // the value as people read it, e.g. "1,250.00 KES" or "12"; shown in the bar's <title> tooltip
	Href  string  // where the bar links (the filtered list behind it); "" = no link
}

// BarChartView is a simple bar chart, typically one bar per day.
type BarChartView struct {
	ID, Title, Caption string // Caption: one sentence under the chart saying what it shows
	Unit               string // e.g. "recharges", "KES"
	Points             []ChartPoint
	Empty              string // message when every value is 0 or there are no points
	// LabelHeading heads the label column of the screen-reader table, e.g.
	// "Day"; "Label" when empty.
	LabelHeading string
}

// ChartSeries is one layer of a stacked bar chart. Values, Hrefs and Texts
// are indexed like the chart's Categories; missing entries count as 0, no
// link and a formatted number.
type ChartSeries struct {
	Name   string
	Class  string // the colour: "ok", "bad", "warn", "muted", "info"; anything else picks one by position
	Values []float64
	Hrefs  []string
	Texts  []string // the values as people read them; optional
}

// StackedBarChartView has one bar per category (e.g. provider), stacked by
// series (e.g. approved, declined, expired, aborted).
type StackedBarChartView struct {
	ID, Title, Caption string
	Unit               string // e.g. "recharges"; optional, used in tooltips and the table
	Categories         []string
	Series             []ChartSeries
	Empty              string
	// LabelHeading heads the category column of the screen-reader table,
	// e.g. "Provider"; "Category" when empty.
	LabelHeading string
}

// StatView is a big figure with a label and a link, for counts and medians.
type StatView struct {
	Label, Value, Hint, Href string
	Kind                     string // "", "alert" (needs attention), "ok"
}

// Geometry, in viewBox units.
const (
	chartW         = 600.0
	chartH         = 260.0
	chartPadTop    = 28.0 // room for the unit label and the totals above the tallest stack
	chartPadBottom = 30.0 // room for the x labels
	chartPadRight  = 8.0
	chartTickGap   = 8.0 // between a y label and the plot
	chartMinBarH   = 2.0 // a non-zero value stays visible next to a huge one
	chartMaxBarW   = 56.0
	chartMaxStackW = 72.0
	// chartFont and chartFontLarge must match the font sizes in
	// charts.css: x labels are laid out once for each (charts.css shows the
	// set that fits the container), everything else for the larger.
	chartFont      = 13.0
	chartFontLarge = 20.0
	// chartCharW is an average glyph advance as a share of the font size,
	// generous for digits and most Latin text in system-ui [ours].
	chartCharW = 0.62
	// Values are clamped into [0, chartMaxValue]; anything below
	// chartMinValue is drawn as zero [ours]: no unit the portal charts
	// (counts, shillings, seconds) has meaning below a nanounit, and the
	// bounds keep the scale arithmetic finite.
	chartMaxValue = 1e300
	chartMinValue = 1e-9
	// chartMaxLabelRunes caps an x label before thinning [ours].
	chartMaxLabelRunes = 14
)

var chartViewBox = "0 0 " + chartNum(chartW) + " " + chartNum(chartH)

// chartClasses are the series colours charts.css defines, in the order used
// when a series names none.
var chartClasses = []string{"info", "ok", "warn", "bad", "muted"}

type chartTick struct {
	Y     float64
	Label string
}

type chartLabel struct {
	X    float64
	Text string
	Full string // the untruncated label when Text was shortened, for a <title>
}

// chartRect is one drawn rectangle: a bar or a stacked segment.
type chartRect struct {
	X, Y, W, H float64
	Class      string // colour class, e.g. "chart-bar" or "chart-fill-ok"
	Title      string
	Href       string
}

// chartColumn is everything drawn for one x position.
type chartColumn struct {
	Rects  []chartRect
	Total  string // text above a stack; "" for none
	TotalX float64
	TotalY float64
}

type chartLayout struct {
	Empty          bool
	X0, X1, Y0, Y1 float64 // the plot area
	Ticks          []chartTick
	Labels         []chartLabel // for wide containers, chartFont
	LabelsNarrow   []chartLabel // for narrow ones, chartFontLarge; nil when the same as Labels
	Columns        []chartColumn
	Unit           string // drawn above the y axis; "" for none
	Aria           string
	top            float64 // the value at Y0
}

// chartRow is one row of the screen-reader table.
type chartRow struct {
	Label string
	Cells []chartCell
}

// chartCell links to the same list as the bar or segment it describes.
type chartCell struct {
	Text, Href string
}

type chartTable struct {
	Caption string
	Heads   []string // column headings, the label column's first
	Rows    []chartRow
}

// chartClean makes a value drawable: NaN, infinities, negatives and
// specks become 0, giants are capped.
func chartClean(v float64) float64 {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0) || v < chartMinValue:
		return 0
	case v > chartMaxValue:
		return chartMaxValue
	}
	return v
}

// niceTicks returns 3 to 5 evenly spaced ticks from 0 to a top at or above
// hi, spaced 1, 2 or 5 × 10^n. With integer set the spacing is at least 1,
// so counts never get a "0.5" tick. hi <= 0 is treated as 1.
func niceTicks(hi float64, integer bool) []float64 {
	if !(hi > 0) || math.IsInf(hi, 0) {
		hi = 1
	}
	hi = min(hi, chartMaxValue)
	// Starting one decade below hi means the first steps give over 4
	// intervals; each next step is at most 2.5 times the last, so the first
	// that gives 4 or fewer gives at least 2.
	for e := int(math.Floor(math.Log10(hi))) - 1; ; e++ {
		for _, m := range []float64{1, 2, 5} {
			step := m * math.Pow10(e)
			if integer && step < 1 {
				continue
			}
			// The tolerance keeps 0.3/0.1 = 2.9999999999999996 from
			// becoming 3 intervals plus an empty one.
			n := int(math.Ceil(hi / step * (1 - 1e-12)))
			if n > 4 {
				continue
			}
			if n < 2 {
				n = 2
			}
			ticks := make([]float64, n+1)
			for i := range ticks {
				ticks[i] = float64(i) * step
			}
			return ticks
		}
	}
}

// chartTickLabel writes a tick compactly ("1.5k", "20M") so the y axis
// stays narrow; step decides how many decimals the labels need.
func chartTickLabel(v, step, top float64) string {
	if top >= 1e15 || top < 1e-3 {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	div, suffix := 1.0, ""
	switch {
	case top >= 1e12:
		div, suffix = 1e12, "T"
	case top >= 1e9:
		div, suffix = 1e9, "B"
	case top >= 1e6:
		div, suffix = 1e6, "M"
	case top >= 1e4:
		div, suffix = 1e3, "k"
	}
	decimals := 0
	if s := step / div; s > 0 && s < 1 {
		decimals = int(math.Ceil(-math.Log10(s) - 1e-9))
	}
	if v == 0 {
		return "0"
	}
	if div == 1 && decimals == 0 {
		return chartNumber(v)
	}
	return strconv.FormatFloat(v/div, 'f', decimals, 64) + suffix
}

// chartNumber writes a value for people: thousands separators, at most two
// decimals, no trailing zeros.
func chartNumber(v float64) string {
	if v >= 1e15 {
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
	s := strconv.FormatFloat(v, 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if frac != "" {
		b.WriteString("." + frac)
	}
	return b.String()
}

func chartValueText(text string, v float64, unit string) string {
	if text != "" {
		return text
	}
	if unit == "" {
		return chartNumber(v)
	}
	return chartNumber(v) + " " + unit
}

// chartNum writes a coordinate; two decimals are finer than any screen.
func chartNum(f float64) string {
	return strconv.FormatFloat(math.Round(f*100)/100, 'f', -1, 64)
}

// chartTextWidth estimates the width of runes characters at a font size.
func chartTextWidth(runes int, font float64) float64 {
	return float64(runes) * font * chartCharW
}

// chartTruncate shortens s to at most n runes, ending in "…" when cut.
func chartTruncate(s string, n int) string {
	if n < 1 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// chartNiceStep is the smallest of 1, 2, 5, 10, 20, 50, ... at or above x.
func chartNiceStep(x float64) int {
	for step := 1; ; step *= 10 {
		for _, m := range []int{1, 2, 5} {
			if float64(m*step) >= x || m*step >= math.MaxInt32/10 {
				return m * step
			}
		}
	}
}

// chartXLabels places the x labels under slots of the given width. Labels
// that do not all fit are thinned to every step-th one, counted back from
// the last so the most recent day is always named; with fit set (few named
// categories) they are shortened to their slot first and thinned only when
// too little would be left of them.
func chartXLabels(labels []string, x0, slot float64, fit bool, font float64) []chartLabel {
	if len(labels) == 0 {
		return nil
	}
	const gap = 8.0
	maxRunes := 0
	for _, l := range labels {
		maxRunes = max(maxRunes, min(utf8.RuneCountInString(l), chartMaxLabelRunes))
	}
	step, runes := 1, chartMaxLabelRunes
	if fit {
		runes = int((slot - gap) / (font * chartCharW))
	}
	if !fit || runes < min(maxRunes, 4) {
		runes = min(maxRunes, chartMaxLabelRunes)
		if slot > 0 {
			step = chartNiceStep((chartTextWidth(runes, font) + gap) / slot)
		}
	}
	out := make([]chartLabel, 0, len(labels)/step+1)
	for i, l := range labels {
		if (len(labels)-1-i)%step != 0 {
			continue
		}
		t := chartTruncate(l, runes)
		full := ""
		if t != l {
			full = l
		}
		out = append(out, chartLabel{X: x0 + (float64(i)+0.5)*slot, Text: t, Full: full})
	}
	return out
}

// chartFrame lays out the axes for values up to hi with one slot per label.
func chartFrame(hi float64, integer bool, labels []string, fit bool) chartLayout {
	ticks := niceTicks(hi, integer)
	top := ticks[len(ticks)-1]
	step := ticks[1]
	texts := make([]string, len(ticks))
	widest := 0
	for i, t := range ticks {
		texts[i] = chartTickLabel(t, step, top)
		widest = max(widest, utf8.RuneCountInString(texts[i]))
	}
	x0 := min(max(chartTextWidth(widest, chartFontLarge)+chartTickGap, 24), chartW/3)
	l := chartLayout{X0: x0, X1: chartW - chartPadRight, Y0: chartPadTop, Y1: chartH - chartPadBottom, top: top}
	for i, t := range ticks {
		l.Ticks = append(l.Ticks, chartTick{Y: l.Y1 - t/top*(l.Y1-l.Y0), Label: texts[i]})
	}
	if n := len(labels); n > 0 {
		slot := (l.X1 - l.X0) / float64(n)
		l.Labels = chartXLabels(labels, l.X0, slot, fit, chartFont)
		l.LabelsNarrow = chartXLabels(labels, l.X0, slot, fit, chartFontLarge)
		if slices.Equal(l.Labels, l.LabelsNarrow) {
			l.LabelsNarrow = nil
		}
	}
	return l
}

// stackHeights splits height among the non-zero values in proportion,
// except that none gets less than minH (the rest share what is left), so a
// small segment next to a large one can still be seen and hovered. The
// heights add up to height exactly; zero values get 0.
func stackHeights(vals []float64, height, minH float64) []float64 {
	out := make([]float64, len(vals))
	nz := 0
	for _, v := range vals {
		if v > 0 {
			nz++
		}
	}
	if nz == 0 || !(height > 0) {
		return out
	}
	minH = min(minH, height/float64(nz))
	fixed := make([]bool, len(vals))
	for {
		var rest float64
		restH := height
		for i, v := range vals {
			switch {
			case v <= 0:
			case fixed[i]:
				restH -= minH
			default:
				rest += v
			}
		}
		changed := false
		for i, v := range vals {
			if v > 0 && !fixed[i] && v/rest*restH < minH {
				fixed[i], changed = true, true
			}
		}
		if changed {
			continue
		}
		for i, v := range vals {
			switch {
			case v <= 0:
			case fixed[i]:
				out[i] = minH
			default:
				out[i] = v / rest * restH
			}
		}
		return out
	}
}

// chartColumnX returns the left edge and width of the bar in slot i.
func (l chartLayout) chartColumnX(i, n int, maxW float64) (x, w float64) {
	slot := (l.X1 - l.X0) / float64(n)
	w = min(slot*0.7, maxW)
	return l.X0 + float64(i)*slot + (slot-w)/2, w
}

func chartIsInteger(v float64) bool { return v == math.Trunc(v) }

// barChartLayout computes everything BarChart draws.
func barChartLayout(v BarChartView) chartLayout {
	vals := make([]float64, len(v.Points))
	labels := make([]string, len(v.Points))
	var top float64
	integer := true
	for i, p := range v.Points {
		vals[i] = chartClean(p.Value)
		labels[i] = p.Label
		top = max(top, vals[i])
		integer = integer && chartIsInteger(vals[i])
	}
	if top == 0 {
		return chartLayout{Empty: true}
	}
	l := chartFrame(top, integer, labels, false)
	l.Unit = chartTruncate(v.Unit, 24)
	plotH := l.Y1 - l.Y0
	highest := 0
	for i, p := range v.Points {
		if vals[i] > vals[highest] {
			highest = i
		}
		if vals[i] == 0 {
			l.Columns = append(l.Columns, chartColumn{})
			continue
		}
		h := min(max(vals[i]/l.top*plotH, chartMinBarH), plotH)
		x, w := l.chartColumnX(i, len(v.Points), chartMaxBarW)
		l.Columns = append(l.Columns, chartColumn{Rects: []chartRect{{
			X: x, Y: l.Y1 - h, W: w, H: h,
			Class: "chart-bar",
			Title: chartTitle(p.Label, chartValueText(p.Text, vals[i], v.Unit)),
			Href:  p.Href,
		}}})
	}
	name := v.Title
	if name == "" {
		name = v.Caption
	}
	hp := v.Points[highest]
	l.Aria = name + ": " + strconv.Itoa(len(v.Points)) + chartPlural(len(v.Points), " bar", " bars")
	if len(v.Points) > 1 {
		l.Aria += ", " + v.Points[0].Label + " to " + v.Points[len(v.Points)-1].Label
	}
	l.Aria += "; highest " + chartValueText(hp.Text, vals[highest], v.Unit)
	if hp.Label != "" {
		l.Aria += " (" + hp.Label + ")"
	}
	l.Aria += ". Show the numbers, under the chart, lists every value."
	return l
}

func chartTitle(label, text string) string {
	if label == "" {
		return text
	}
	return label + ": " + text
}

func chartPlural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// chartSeriesClass is the colour class of series i: its own when charts.css
// knows it, otherwise the next in chartClasses.
func chartSeriesClass(s ChartSeries, i int) string {
	for _, c := range chartClasses {
		if s.Class == c {
			return "chart-fill-" + c
		}
	}
	return "chart-fill-" + chartClasses[i%len(chartClasses)]
}

func chartAt[T any](xs []T, i int) T {
	var zero T
	if i < len(xs) {
		return xs[i]
	}
	return zero
}

// stackedValues returns the cleaned value of every series for every
// category, indexed [category][series], and the largest stack.
func stackedValues(v StackedBarChartView) (vals [][]float64, top float64, integer bool) {
	integer = true
	vals = make([][]float64, len(v.Categories))
	for c := range v.Categories {
		vals[c] = make([]float64, len(v.Series))
		var total float64
		for s, series := range v.Series {
			x := chartClean(chartAt(series.Values, c))
			vals[c][s] = x
			total += x
			integer = integer && chartIsInteger(x)
		}
		top = max(top, total)
	}
	return vals, min(top, chartMaxValue), integer
}

// stackedChartLayout computes everything StackedBarChart draws.
func stackedChartLayout(v StackedBarChartView) chartLayout {
	vals, top, integer := stackedValues(v)
	if top == 0 {
		return chartLayout{Empty: true}
	}
	l := chartFrame(top, integer, v.Categories, true)
	plotH := l.Y1 - l.Y0
	var grand float64
	for c, cat := range v.Categories {
		var total float64
		nz := 0
		for _, x := range vals[c] {
			total += x
			if x > 0 {
				nz++
			}
		}
		col := chartColumn{}
		if total == 0 {
			l.Columns = append(l.Columns, col)
			continue
		}
		grand += total
		h := min(max(min(total, chartMaxValue)/l.top*plotH, chartMinBarH*float64(nz)), plotH)
		hs := stackHeights(vals[c], h, chartMinBarH)
		x, w := l.chartColumnX(c, len(v.Categories), chartMaxStackW)
		y := l.Y1
		for s, series := range v.Series {
			if hs[s] <= 0 {
				continue
			}
			y -= hs[s]
			col.Rects = append(col.Rects, chartRect{
				X: x, Y: max(y, l.Y0), W: w, H: hs[s],
				Class: chartSeriesClass(series, s),
				Title: chartTitle(cat, series.Name+" "+chartValueText(chartAt(series.Texts, c), vals[c][s], v.Unit)),
				Href:  chartAt(series.Hrefs, c),
			})
		}
		col.Total = chartNumber(total)
		if chartTextWidth(utf8.RuneCountInString(col.Total), chartFontLarge) > (l.X1-l.X0)/float64(len(v.Categories)) {
			col.Total = chartCompact(total)
		}
		col.TotalX = x + w/2
		col.TotalY = y - 6
		l.Columns = append(l.Columns, col)
	}
	name := v.Title
	if name == "" {
		name = v.Caption
	}
	names := make([]string, 0, len(v.Series))
	for _, s := range v.Series {
		names = append(names, s.Name)
	}
	l.Aria = name + ": " + strconv.Itoa(len(v.Categories)) + chartPlural(len(v.Categories), " bar", " bars") +
		" split into " + strings.Join(names, ", ") + "; " + chartValueText("", grand, v.Unit) + " in all. Show the numbers, under the chart, lists every value."
	return l
}

// chartCompact writes a value in at most about five characters: "980",
// "12.5k", "3.1M".
func chartCompact(v float64) string {
	if v >= 1e15 {
		return strconv.FormatFloat(v, 'g', 2, 64)
	}
	for _, u := range []struct {
		div    float64
		suffix string
	}{{1e12, "T"}, {1e9, "B"}, {1e6, "M"}, {1e3, "k"}} {
		if v >= u.div {
			s := strconv.FormatFloat(v/u.div, 'f', 1, 64)
			return strings.TrimSuffix(s, ".0") + u.suffix
		}
	}
	return strconv.FormatFloat(math.Round(v), 'f', 0, 64)
}

func chartEmpty(msg string) string {
	if msg == "" {
		return "Nothing to show for this period." // [ours]
	}
	return msg
}

func chartLabelHeading(h, fallback string) string {
	if h == "" {
		return fallback
	}
	return h
}

// barChartTable is the data behind a bar chart for screen readers: one row
// per point, zeros included.
func barChartTable(v BarChartView) chartTable {
	t := chartTable{Caption: v.Title, Heads: []string{chartLabelHeading(v.LabelHeading, "Label"), "Value"}}
	for _, p := range v.Points {
		t.Rows = append(t.Rows, chartRow{Label: p.Label, Cells: []chartCell{{chartValueText(p.Text, chartClean(p.Value), v.Unit), p.Href}}})
	}
	return t
}

// stackedChartTable has one row per category and one column per series,
// then the total.
func stackedChartTable(v StackedBarChartView) chartTable {
	vals, _, _ := stackedValues(v)
	t := chartTable{Caption: v.Title, Heads: []string{chartLabelHeading(v.LabelHeading, "Category")}}
	for _, s := range v.Series {
		t.Heads = append(t.Heads, s.Name)
	}
	t.Heads = append(t.Heads, "Total")
	for c, cat := range v.Categories {
		row := chartRow{Label: cat}
		var total float64
		for s, series := range v.Series {
			row.Cells = append(row.Cells, chartCell{chartValueText(chartAt(series.Texts, c), vals[c][s], ""), chartAt(series.Hrefs, c)})
			total += vals[c][s]
		}
		row.Cells = append(row.Cells, chartCell{Text: chartValueText("", total, v.Unit)})
		t.Rows = append(t.Rows, row)
	}
	return t
}

// chartLegend is one swatch per series.
type chartLegendItem struct{ Name, Class string }

func stackedChartLegend(v StackedBarChartView) []chartLegendItem {
	out := make([]chartLegendItem, 0, len(v.Series))
	for i, s := range v.Series {
		out = append(out, chartLegendItem{Name: s.Name, Class: chartSeriesClass(s, i)})
	}
	return out
}

func statClass(kind string) string {
	switch kind {
	case "alert":
		return "stat-alert"
	case "ok":
		return "stat-ok"
	}
	return ""
}
