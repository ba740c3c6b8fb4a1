package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/shopspring/decimal"

	"portal/models"
	"portal/services/casework"
	"portal/services/dashboard"
	"portal/templates"
)

// dashboard opens every role on what needs doing: attention items first,
// then the queues and charts that role works from. Each figure links to
// the filtered list behind it.
func (s *Server) dashboard(c *gin.Context) {
	f, err := s.deps.Dashboard.Figures(c.Request.Context())
	if err != nil {
		s.serverError(c, err)
		return
	}
	user, _ := s.currentUser(c)
	s.render(c, http.StatusOK, templates.DashboardPage(s.page(c, "Dashboard"), s.dashboardView(c, user.Role, f)))
}

func listHref(path string, kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return path + "?" + v.Encode()
}

func attention(label string, n int64, hint, href string) templates.StatView {
	kind := "ok"
	if n > 0 {
		kind = "alert"
	}
	return templates.StatView{Label: label, Value: strconv.FormatInt(n, 10), Hint: hint, Href: href, Kind: kind}
}

func (s *Server) dashboardView(c *gin.Context, role models.Role, f dashboard.Figures) templates.DashboardView {
	d := templates.DashboardView{Role: string(role)}
	since := f.At.Add(-24 * time.Hour).Format("2006-01-02")
	d.Attention = []templates.StatView{
		attention("Recharges with unknown outcome", f.UnknownRecharges, "Money in limbo: resolve with 1flow", listHref("/recharges", "state", "unknown")),
		attention("Recharges failed (24 h)", f.FailedRecharges, "", listHref("/recharges", "state", "failed", "from", since)),
		attention("Documents with unknown outcome", f.UnknownDocuments, "", listHref("/documents", "state", "unknown")),
		attention("Documents failed (24 h)", f.FailedDocuments, "", listHref("/documents", "state", "failed", "from", since)),
		attention("Documents with no progress for 24 h", f.StalledDocuments, "Nobody opened or signed them for a day", listHref("/documents", "stalled", "1")),
		attention("Verifications with unknown outcome", f.UnknownVerifications, "", listHref("/verifications", "state", "unknown")),
		attention("Verifications failed (24 h)", f.FailedVerifications, "", listHref("/verifications", "state", "failed", "from", since)),
		attention("Verifications in pawaPass review", f.InReview, "", listHref("/verifications", "status", "REVIEW")),
	}
	d.AllClear = true
	for _, a := range d.Attention {
		if a.Kind == "alert" {
			d.AllClear = false
		}
	}
	queue := func(label string, q dashboard.Queue, href string) templates.StatView {
		st := templates.StatView{Label: label, Value: strconv.FormatInt(q.Count, 10), Href: href, Kind: "ok"}
		if q.Count > 0 {
			st.Kind = "alert"
		}
		if q.Oldest != nil {
			st.Hint = "oldest waiting " + humanDuration(f.At.Sub(*q.Oldest))
		}
		return st
	}
	if s.can(c, http.MethodGet, "/reviews/documents") {
		d.Queues = append(d.Queues, queue("Documents to review", f.DocumentQueue, "/reviews/documents"))
	}
	if s.can(c, http.MethodGet, "/reviews/verifications") {
		d.Queues = append(d.Queues, queue("Verifications to review", f.VerificationQueue, "/reviews/verifications"))
	}
	for _, a := range []caseArea{s.documentCases(), s.verificationCases()} {
		if !s.can(c, http.MethodGet, a.queue()) {
			continue
		}
		// Bounded (casework.LateCap) and index-only, so it is read live
		// rather than from the cached figures.
		n, err := s.deps.Casework.Late(c.Request.Context(), a.kind)
		if err != nil {
			s.logFailure(c, "count late cases", err)
			continue
		}
		st := templates.StatView{Label: capitalize(a.tab) + " past the review target", Value: strconv.FormatInt(n, 10),
			Href: a.queue(), Kind: "ok", Hint: "waiting longer than " + humanDuration(s.deps.Casework.SLA())}
		if n >= casework.LateCap {
			st.Value = strconv.Itoa(casework.LateCap) + "+"
		}
		if n > 0 {
			st.Kind = "alert"
		}
		d.Queues = append(d.Queues, st)
	}
	for _, a := range []struct{ label, href string }{
		{"New recharge", "/customers/lookup"}, {"New verification", "/verifications/new"}, {"New document", "/documents/new"},
	} {
		target := a.href
		if a.label == "New recharge" {
			target = "/recharges/new"
		}
		if role != models.RoleAdmin && s.can(c, http.MethodGet, target) && role != models.RoleSupport {
			d.Actions = append(d.Actions, templates.Action{Label: a.label, Href: a.href})
		}
	}

	area := func(title, path string, states []string, counts map[string]int64) templates.AreaCounts {
		a := templates.AreaCounts{Title: title, Href: path}
		for _, st := range states {
			a.Counts = append(a.Counts, templates.StatView{Label: strings.ReplaceAll(st, "_", " "), Value: strconv.FormatInt(counts[st], 10), Href: listHref(path, "state", st)})
		}
		return a
	}
	d.Areas = []templates.AreaCounts{
		area("Recharges", "/recharges", stateNames(models.RechargeStates), f.Recharges),
		area("Documents", "/documents", stateNames(models.DocumentStates), f.Documents),
		area("Verifications", "/verifications", stateNames(models.VerificationStates), f.Verifications),
	}

	counts := templates.BarChartView{ID: "chart-recharges", Title: "Recharges per day", Unit: "recharges", LabelHeading: "Day",
		Caption: fmt.Sprintf("Recharges created each day over the last %d days (UTC). Select a bar for that day's list.", dashboard.Days),
		Empty:   "No recharges in the last 30 days."}
	amount := templates.BarChartView{ID: "chart-amount", Title: "Completed amount per day", Unit: f.MainCurrency, LabelHeading: "Day",
		Caption: "Money that reached customers' devices each day.", Empty: "No completed recharges in the last 30 days."}
	if f.MainCurrency != "" {
		amount.Title += " (" + f.MainCurrency + ")"
		amount.Caption = "Completed recharges in " + f.MainCurrency + " each day; other currencies are in the day's list."
	}
	for _, day := range f.RechargeDays {
		label := day.Day.Format("01-02")
		date := day.Day.Format("2006-01-02")
		counts.Points = append(counts.Points, templates.ChartPoint{Label: label, Value: float64(day.Count),
			Text: fmt.Sprintf("%s: %d recharges, %d completed", date, day.Count, day.Completed), Href: listHref("/recharges", "from", date, "to", date)})
		amt := day.Amounts[f.MainCurrency]
		v, _ := amt.Float64() // a bar's height only; the text keeps the exact decimal
		text := date + ": " + amt.StringFixed(2) + " " + f.MainCurrency
		for cur, other := range day.Amounts {
			if cur != f.MainCurrency && !other.Equal(decimal.Zero) {
				text += " + " + other.StringFixed(2) + " " + cur
			}
		}
		amount.Points = append(amount.Points, templates.ChartPoint{Label: label, Value: v, Text: text,
			Href: listHref("/recharges", "state", "completed", "from", date, "to", date)})
	}
	d.RechargeCounts, d.RechargeAmount = counts, amount

	out := templates.StackedBarChartView{ID: "chart-outcomes", Title: "Verification outcomes by provider", LabelHeading: "Provider",
		Caption:    fmt.Sprintf("Verifications created in the last %d days that reached a final state.", dashboard.Days),
		Categories: []string{"pawaPass", "PassportReader"}, Empty: "No verification has finished in the last 30 days."}
	for _, st := range []struct{ state, class string }{{"approved", "ok"}, {"declined", "bad"}, {"expired", "muted"}, {"aborted", "warn"}, {"failed", "info"}} {
		series := templates.ChartSeries{Name: st.state, Class: st.class}
		for _, p := range []models.VerificationProvider{models.ProviderPawaPass, models.ProviderPassportReader} {
			series.Values = append(series.Values, float64(f.Outcomes[p][st.state]))
			series.Hrefs = append(series.Hrefs, listHref("/verifications", "provider", string(p), "state", st.state))
		}
		out.Series = append(out.Series, series)
	}
	d.Outcomes = out

	d.DocMedian = templates.StatView{Label: "Median time to complete a document", Value: "—",
		Hint: fmt.Sprintf("No document completed in the last %d days", dashboard.Days), Href: listHref("/documents", "state", "completed")}
	if f.DocCompleted > 0 {
		d.DocMedian.Value = humanDuration(f.DocMedian)
		d.DocMedian.Hint = fmt.Sprintf("from sending to the last signature, %s in the last %d days", plural(f.DocCompleted, "document", "documents"), dashboard.Days)
	}
	weeks := templates.BarChartView{ID: "chart-doc-median", Title: "Median hours to complete, by week", Unit: "hours", LabelHeading: "Week of",
		Caption: "Each bar is the median of the documents completed that week.", Empty: "No document completed in the last 30 days."}
	for _, w := range f.DocMedianByWeek {
		hours := w.Median.Hours()
		if w.Count > 0 && hours < 0.01 {
			// A week with documents is drawn even when they took seconds
			// (the sandbox signs at once); zero would read as "none".
			hours = 0.01
		}
		weeks.Points = append(weeks.Points, templates.ChartPoint{Label: w.Start.Format("01-02"), Value: hours,
			Text: fmt.Sprintf("week of %s: %s (%s)", w.Start.Format("2006-01-02"), humanDuration(w.Median), plural(w.Count, "document", "documents")),
			Href: listHref("/documents", "state", "completed")})
	}
	d.DocMedianWeeks = weeks
	return d
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func stateNames[S ~string](states []S) []string {
	out := make([]string, len(states))
	for i, s := range states {
		out[i] = string(s)
	}
	return out
}

// humanDuration is a duration as people say it: "3 h 20 min", "2 days".
func humanDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "under a minute"
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		h := int(d.Hours())
		if m := int(d.Minutes()) % 60; m > 0 {
			return fmt.Sprintf("%d h %d min", h, m)
		}
		return fmt.Sprintf("%d h", h)
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}
