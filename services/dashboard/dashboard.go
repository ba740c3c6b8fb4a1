// Package dashboard computes the figures of the operations dashboard: counts
// by state for each area, what needs a person, and the data behind the
// charts. Every figure comes from an indexed query of our database; none
// asks an upstream.
package dashboard

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/shopspring/decimal"
	"gorm.io/gorm"

	"portal/models"
	"portal/services"
	"portal/services/documents"
)

// Days is how far back the charts look.
const Days = 30

// Queue is a review queue's size and its oldest entry.
type Queue struct {
	Count  int64
	Oldest *time.Time
}

// Day is one day of the recharges chart.
type Day struct {
	Day       time.Time // 00:00 UTC
	Count     int64     // recharges created that day
	Completed int64
	Amounts   map[string]decimal.Decimal // completed amount per currency
}

// Figures is everything the dashboard shows.
type Figures struct {
	At time.Time
	// Counts by state, for each area.
	Recharges     map[string]int64
	Documents     map[string]int64
	Verifications map[string]int64
	// Needs attention.
	UnknownRecharges     int64
	UnknownDocuments     int64
	UnknownVerifications int64
	FailedRecharges      int64 // in the last 24 h
	FailedDocuments      int64
	FailedVerifications  int64
	StalledDocuments     int64 // open with no event for documents.StalledAfter
	InReview             int64 // pawaPass REVIEW
	DocumentQueue        Queue
	VerificationQueue    Queue
	// Charts.
	RechargeDays    []Day // Days days, oldest first, today last
	MainCurrency    string
	Outcomes        map[models.VerificationProvider]map[string]int64 // final states in the last Days days
	DocMedian       time.Duration                                    // median create → completed, last Days days
	DocCompleted    int                                              // how many that median is of
	DocMedianByWeek []WeekMedian
}

// WeekMedian is the median completion time of the documents completed in
// one week.
type WeekMedian struct {
	Start  time.Time
	Median time.Duration
	Count  int
}

// Service computes Figures, caching them for TTL so a room of dashboards
// costs the database one computation.
type Service struct {
	db  *gorm.DB
	now services.Clock
	ttl time.Duration

	mu     sync.Mutex
	cached *Figures
}

// New returns the service; ttl 0 computes on every call.
func New(db *gorm.DB, now services.Clock, ttl time.Duration) *Service {
	return &Service{db: db, now: now, ttl: ttl}
}

// Figures returns the dashboard's figures.
func (s *Service) Figures(ctx context.Context) (Figures, error) {
	now := s.now().UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cached != nil && now.Sub(s.cached.At) < s.ttl && !now.Before(s.cached.At) {
		return *s.cached, nil
	}
	f, err := s.compute(ctx, now)
	if err != nil {
		return Figures{}, err
	}
	s.cached = &f
	return f, nil
}

func (s *Service) compute(ctx context.Context, now time.Time) (Figures, error) {
	db := s.db.WithContext(ctx)
	f := Figures{At: now}
	var err error
	if f.Recharges, err = countByState(db, "recharges"); err != nil {
		return f, err
	}
	if f.Documents, err = countByState(db, "documents"); err != nil {
		return f, err
	}
	if f.Verifications, err = countByState(db, "verifications"); err != nil {
		return f, err
	}
	f.UnknownRecharges, f.UnknownDocuments, f.UnknownVerifications = f.Recharges["unknown"], f.Documents["unknown"], f.Verifications["unknown"]
	dayAgo := now.Add(-24 * time.Hour)
	for _, c := range []struct {
		table string
		out   *int64
	}{{"recharges", &f.FailedRecharges}, {"documents", &f.FailedDocuments}, {"verifications", &f.FailedVerifications}} {
		// "+state" keeps SQLite off the state index: the last day's rows by
		// created_at are far fewer than all the failed ones.
		if err := db.Table(c.table).Where("+state = 'failed' AND created_at >= ?", dayAgo).Count(c.out).Error; err != nil {
			return f, fmt.Errorf("dashboard: failed %s: %w", c.table, err)
		}
	}
	if err := StalledQuery(db, now).Count(&f.StalledDocuments).Error; err != nil {
		return f, fmt.Errorf("dashboard: stalled documents: %w", err)
	}
	if err := db.Table("verifications").Where("provider_status = 'REVIEW'").Count(&f.InReview).Error; err != nil {
		return f, fmt.Errorf("dashboard: in review: %w", err)
	}
	if f.DocumentQueue, err = queue(db, "documents", []string{"completed"}); err != nil {
		return f, err
	}
	if f.VerificationQueue, err = queue(db, "verifications", []string{"approved", "declined"}); err != nil {
		return f, err
	}
	if err := s.rechargeDays(db, now, &f); err != nil {
		return f, err
	}
	if err := s.outcomes(db, now, &f); err != nil {
		return f, err
	}
	if err := s.documentMedians(db, now, &f); err != nil {
		return f, err
	}
	return f, nil
}

func countByState(db *gorm.DB, table string) (map[string]int64, error) {
	var rows []struct {
		State string
		N     int64
	}
	if err := db.Table(table).Select("state, COUNT(*) AS n").Group("state").Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("dashboard: %s by state: %w", table, err)
	}
	out := map[string]int64{}
	for _, r := range rows {
		out[r.State] = r.N
	}
	return out, nil
}

// StalledQuery selects the open documents nobody acted on for
// documents.StalledAfter, as the documents list's "stalled" filter does.
func StalledQuery(db *gorm.DB, now time.Time) *gorm.DB {
	return db.Table("documents").Where(documents.StalledSQL, now.Add(-documents.StalledAfter))
}

// queue reads a review queue's size and oldest entry, one index range per
// state.
func queue(db *gorm.DB, table string, states []string) (Queue, error) {
	var q Queue
	for _, st := range states {
		var n int64
		if err := db.Table(table).Where("review_decision = '' AND state = ?", st).Count(&n).Error; err != nil {
			return q, fmt.Errorf("dashboard: %s queue: %w", table, err)
		}
		q.Count += n
		var oldest []time.Time
		if err := db.Table(table).Where("review_decision = '' AND state = ? AND completed_at IS NOT NULL", st).
			Order("completed_at").Limit(1).Pluck("completed_at", &oldest).Error; err != nil {
			return q, fmt.Errorf("dashboard: %s queue age: %w", table, err)
		}
		if len(oldest) == 1 && (q.Oldest == nil || oldest[0].Before(*q.Oldest)) {
			t := oldest[0]
			q.Oldest = &t
		}
	}
	return q, nil
}

func startOfDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// rechargeDays groups the last Days days of recharges by day, state,
// currency and amount in SQL (the recharges_created index range); the
// amounts are multiplied out and summed here as decimals, so no amount is
// ever a float and no row's timestamp is parsed in Go.
func (s *Service) rechargeDays(db *gorm.DB, now time.Time, f *Figures) error {
	first := startOfDay(now).AddDate(0, 0, -(Days - 1))
	f.RechargeDays = make([]Day, Days)
	for i := range f.RechargeDays {
		f.RechargeDays[i] = Day{Day: first.AddDate(0, 0, i), Amounts: map[string]decimal.Decimal{}}
	}
	var rows []struct {
		Day       string
		Completed bool
		Currency  string
		Amount    string
		N         int64
	}
	if err := db.Table("recharges").
		Select("date(created_at) AS day, state = 'completed' AS completed, currency, amount, COUNT(*) AS n").
		Where("created_at >= ?", first).Group("1, 2, 3, 4").Scan(&rows).Error; err != nil {
		return fmt.Errorf("dashboard: recharges per day: %w", err)
	}
	perCurrency := map[string]int64{}
	for _, r := range rows {
		day, err := time.Parse("2006-01-02", r.Day)
		if err != nil {
			continue
		}
		i := int(day.Sub(first) / (24 * time.Hour))
		if i < 0 || i >= Days {
			continue
		}
		d := &f.RechargeDays[i]
		d.Count += r.N
		if !r.Completed {
			continue
		}
		amt, err := decimal.NewFromString(r.Amount)
		if err != nil {
			continue
		}
		d.Completed += r.N
		d.Amounts[r.Currency] = d.Amounts[r.Currency].Add(amt.Mul(decimal.NewFromInt(r.N)))
		perCurrency[r.Currency] += r.N
	}
	for c, n := range perCurrency {
		if f.MainCurrency == "" || n > perCurrency[f.MainCurrency] || n == perCurrency[f.MainCurrency] && c < f.MainCurrency {
			f.MainCurrency = c
		}
	}
	return nil
}

// finalVerificationStates are the outcomes the chart shows.
var finalVerificationStates = []string{"approved", "declined", "expired", "aborted", "failed"}

func (s *Service) outcomes(db *gorm.DB, now time.Time, f *Figures) error {
	var rows []struct {
		Provider string
		State    string
		N        int64
	}
	since := startOfDay(now).AddDate(0, 0, -(Days - 1))
	// Without INDEXED BY SQLite walks the provider index to save the
	// GROUP BY sort, reading every verification ever made; the created_at
	// range is 30 days of them.
	if err := db.Table("verifications INDEXED BY verifications_created").Select("provider, state, COUNT(*) AS n").
		Where("created_at >= ? AND +state IN ?", since, finalVerificationStates).Group("provider, state").Scan(&rows).Error; err != nil {
		return fmt.Errorf("dashboard: verification outcomes: %w", err)
	}
	f.Outcomes = map[models.VerificationProvider]map[string]int64{
		models.ProviderPawaPass: {}, models.ProviderPassportReader: {},
	}
	for _, r := range rows {
		p := models.VerificationProvider(r.Provider)
		if f.Outcomes[p] == nil {
			f.Outcomes[p] = map[string]int64{}
		}
		f.Outcomes[p][r.State] = r.N
	}
	return nil
}

// documentMedians reads, for the documents completed in the last Days
// days (the documents_completed index), how long each took and in which
// week it completed, computed by SQLite, and takes the medians here.
func (s *Service) documentMedians(db *gorm.DB, now time.Time, f *Figures) error {
	since := startOfDay(now).AddDate(0, 0, -(Days - 1))
	var rows []struct {
		Secs int64
		Week int
	}
	// Only completed documents have completed_at.
	if err := db.Table("documents").
		Select("CAST(round((julianday(completed_at) - julianday(created_at)) * 86400) AS INTEGER) AS secs, "+
			"CAST((julianday(completed_at) - julianday(?)) / 7 AS INTEGER) AS week", since).
		Where("completed_at >= ?", since).Scan(&rows).Error; err != nil {
		return fmt.Errorf("dashboard: document times: %w", err)
	}
	all := make([]time.Duration, 0, len(rows))
	weeks := map[int][]time.Duration{}
	for _, r := range rows {
		if r.Secs < 0 {
			continue
		}
		d := time.Duration(r.Secs) * time.Second
		all = append(all, d)
		weeks[r.Week] = append(weeks[r.Week], d)
	}
	f.DocCompleted = len(all)
	f.DocMedian = Median(all)
	for w := 0; w*7 < Days; w++ {
		f.DocMedianByWeek = append(f.DocMedianByWeek, WeekMedian{Start: since.AddDate(0, 0, 7*w), Median: Median(weeks[w]), Count: len(weeks[w])})
	}
	return nil
}

// Median is the middle duration (the mean of the two middle ones for an
// even count); 0 for none.
func Median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return s[n/2-1] + (s[n/2]-s[n/2-1])/2
}
