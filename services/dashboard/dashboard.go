// Package dashboard computes the figures of the operations dashboard: counts
// by state for each area, what needs a person, and the data behind the
// charts. Every figure comes from an indexed query of our database, owned
// by the service of its table (recharges, documents, verifications); none
// asks an upstream.
package dashboard

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/shopspring/decimal"
	"gorm.io/gorm"

	"portal/models"
	"portal/services"
	"portal/services/documents"
	"portal/services/recharges"
	"portal/services/verifications"
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
// costs the database one computation per TTL.
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

// Figures returns the dashboard's figures. No lock is held while they are
// computed: every figure reads kept counts or a short index range, so two
// requests that find the cache stale both compute rather than one waiting
// on the other.
func (s *Service) Figures(ctx context.Context) (Figures, error) {
	now := s.now().UTC()
	s.mu.Lock()
	cached := s.cached
	s.mu.Unlock()
	if cached != nil && now.Sub(cached.At) < s.ttl && !now.Before(cached.At) {
		return *cached, nil
	}
	f, err := s.compute(ctx, now)
	if err != nil {
		return Figures{}, err
	}
	s.mu.Lock()
	if s.cached == nil || !f.At.Before(s.cached.At) {
		s.cached = &f
	}
	s.mu.Unlock()
	return f, nil
}

// compute composes the figures each area's service owns, reading
// s.db; every query lives with its table.
func (s *Service) compute(ctx context.Context, now time.Time) (Figures, error) {
	db := s.db
	f := Figures{At: now}
	var err error
	if f.Recharges, err = recharges.CountByState(ctx, db); err != nil {
		return f, err
	}
	if f.Documents, err = documents.CountByState(ctx, db); err != nil {
		return f, err
	}
	if f.Verifications, err = verifications.CountByState(ctx, db); err != nil {
		return f, err
	}
	f.UnknownRecharges, f.UnknownDocuments, f.UnknownVerifications = f.Recharges["unknown"], f.Documents["unknown"], f.Verifications["unknown"]
	dayAgo := now.Add(-24 * time.Hour)
	if f.FailedRecharges, err = recharges.CountFailedSince(ctx, db, dayAgo); err != nil {
		return f, err
	}
	if f.FailedDocuments, err = documents.CountFailedSince(ctx, db, dayAgo); err != nil {
		return f, err
	}
	if f.FailedVerifications, err = verifications.CountFailedSince(ctx, db, dayAgo); err != nil {
		return f, err
	}
	if f.StalledDocuments, err = documents.CountStalled(ctx, db, now); err != nil {
		return f, err
	}
	if f.InReview, err = verifications.CountInReview(ctx, db); err != nil {
		return f, err
	}
	if f.DocumentQueue.Count, f.DocumentQueue.Oldest, err = documents.CountReviewQueue(ctx, db); err != nil {
		return f, err
	}
	if f.VerificationQueue.Count, f.VerificationQueue.Oldest, err = verifications.CountReviewQueue(ctx, db); err != nil {
		return f, err
	}
	since := startOfDay(now).AddDate(0, 0, -(Days - 1))
	if err := rechargeDays(ctx, db, since, &f); err != nil {
		return f, err
	}
	if f.Outcomes, err = verifications.CountOutcomes(ctx, db, since); err != nil {
		return f, err
	}
	if err := documentMedians(ctx, db, since, &f); err != nil {
		return f, err
	}
	return f, nil
}

func startOfDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// rechargeDays fills the recharges chart from first (00:00 UTC, Days days
// ago counting today) and picks its main currency: the one with the most
// completed recharges, the first by name on a tie.
func rechargeDays(ctx context.Context, db *gorm.DB, first time.Time, f *Figures) error {
	days, perCurrency, err := recharges.Daily(ctx, db, first, Days)
	if err != nil {
		return err
	}
	f.RechargeDays = make([]Day, len(days))
	for i, d := range days {
		f.RechargeDays[i] = Day(d)
	}
	for c, n := range perCurrency {
		if f.MainCurrency == "" || n > perCurrency[f.MainCurrency] || n == perCurrency[f.MainCurrency] && c < f.MainCurrency {
			f.MainCurrency = c
		}
	}
	return nil
}

// documentMedians takes the median completion time of the documents
// completed since since, overall and for each week of the chart.
func documentMedians(ctx context.Context, db *gorm.DB, since time.Time, f *Figures) error {
	times, err := documents.CompletionTimes(ctx, db, since)
	if err != nil {
		return err
	}
	weeks := map[int][]documents.CompletionTime{}
	var total int64
	for _, t := range times {
		weeks[t.Week] = append(weeks[t.Week], t)
		total += t.N
	}
	f.DocCompleted = int(total)
	f.DocMedian = weightedMedian(times)
	for w := 0; w*7 < Days; w++ {
		var n int64
		for _, t := range weeks[w] {
			n += t.N
		}
		f.DocMedianByWeek = append(f.DocMedianByWeek, WeekMedian{Start: since.AddDate(0, 0, 7*w), Median: weightedMedian(weeks[w]), Count: int(n)})
	}
	return nil
}

// weightedMedian is Median of the durations the bins stand for, each
// Took counted N times, without spelling them out.
func weightedMedian(bins []documents.CompletionTime) time.Duration {
	var total int64
	for _, b := range bins {
		total += b.N
	}
	if total == 0 {
		return 0
	}
	s := slices.Clone(bins)
	slices.SortFunc(s, func(a, b documents.CompletionTime) int { return cmp.Compare(a.Took, b.Took) })
	// at returns the i-th smallest duration (0-based).
	at := func(i int64) time.Duration {
		for _, b := range s {
			if i < b.N {
				return b.Took
			}
			i -= b.N
		}
		return s[len(s)-1].Took
	}
	if total%2 == 1 {
		return at(total / 2)
	}
	lo, hi := at(total/2-1), at(total/2)
	return lo + (hi-lo)/2
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
