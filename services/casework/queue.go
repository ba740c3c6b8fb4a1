package casework

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"

	"portal/models"
)

// Who narrows a queue to whose cases.
type Who string

const (
	Everyone   Who = "all"
	Mine       Who = "mine"
	Unassigned Who = "unassigned"
)

// ParseWho reads a queue filter, everyone's by default.
func ParseWho(s string) Who {
	switch Who(s) {
	case Mine, Unassigned:
		return Who(s)
	}
	return Everyone
}

// Item is one case in a queue: the record id, since when it waits, and
// its case when someone has taken or decided it.
type Item struct {
	RecordID uint
	QueuedAt time.Time
	Title    string // the record's title, or who it is about
	Case     *models.ReviewCase
}

// Queue is a page of a review queue, oldest first, with the figures the
// page shows above it.
type Queue struct {
	Items []Item
	// OldestSince is when the longest-waiting case of the page started
	// waiting (zero when empty).
	OldestSince time.Time
}

// Waiting returns the cases waiting for a first decision, oldest first, at
// most limit: everyone's, only those nobody has, or only viewer's.
func (s *Service) Waiting(ctx context.Context, k models.CaseKind, who Who, viewer uint, limit int) (Queue, error) {
	kd, err := kindOf(k)
	if err != nil {
		return Queue{}, err
	}
	var items []Item
	if who == Mine {
		var cases []models.ReviewCase
		err = mineQuery(s.db.WithContext(ctx), k, viewer, limit).Find(&cases).Error
		for i := range cases {
			items = append(items, Item{RecordID: cases[i].RecordID, QueuedAt: cases[i].QueuedAt, Case: &cases[i]})
		}
	} else {
		items, err = s.waiting(ctx, kd, who == Unassigned, limit)
		if err == nil {
			err = s.attachCases(ctx, k, items)
		}
	}
	if err == nil {
		err = s.fillTitles(ctx, kd, items)
	}
	if err != nil {
		return Queue{}, fmt.Errorf("casework: %s queue: %w", k, err)
	}
	q := Queue{Items: items}
	if len(items) > 0 {
		q.OldestSince = items[0].QueuedAt
	}
	return q, nil
}

// AwaitingSecond returns the decisions waiting for a second officer,
// oldest decision first, at most limit.
func (s *Service) AwaitingSecond(ctx context.Context, k models.CaseKind, limit int) (Queue, error) {
	if _, err := kindOf(k); err != nil {
		return Queue{}, err
	}
	var cases []models.ReviewCase
	if err := secondQuery(s.db.WithContext(ctx), k, limit).Find(&cases).Error; err != nil {
		return Queue{}, fmt.Errorf("casework: %s second reviews: %w", k, err)
	}
	q := Queue{}
	for i := range cases {
		q.Items = append(q.Items, Item{RecordID: cases[i].RecordID, QueuedAt: cases[i].QueuedAt, Case: &cases[i]})
		if q.OldestSince.IsZero() || cases[i].QueuedAt.Before(q.OldestSince) {
			q.OldestSince = cases[i].QueuedAt
		}
	}
	if err := s.fillTitles(ctx, kinds[k], q.Items); err != nil {
		return Queue{}, fmt.Errorf("casework: %s second reviews: %w", k, err)
	}
	return q, nil
}

func mineQuery(db *gorm.DB, k models.CaseKind, viewer uint, limit int) *gorm.DB {
	return db.Model(&models.ReviewCase{}).Where("kind = ? AND assignee_id = ? AND stage = ?", k, viewer, models.CaseOpen).
		Order("queued_at, record_id").Limit(limit)
}

func secondQuery(db *gorm.DB, k models.CaseKind, limit int) *gorm.DB {
	return db.Model(&models.ReviewCase{}).Where("kind = ? AND stage = ?", k, models.CaseSecondReview).
		Order("decided_at, record_id").Limit(limit)
}

// waitingQuery reads one reviewable state's undecided records in the
// queue index's order; free leaves out those someone has.
func waitingQuery(db *gorm.DB, kd *kind, state string, free bool, limit int) *gorm.DB {
	q := db.Table(kd.table).Select("id", "completed_at", "updated_at").
		Where("review_decision = '' AND state = ?", state)
	if free {
		q = q.Where("NOT EXISTS (SELECT 1 FROM review_cases c WHERE c.kind = ? AND c.record_id = "+kd.table+".id AND c.assignee_id IS NOT NULL)", kd.name)
	}
	return q.Order("completed_at, id").Limit(limit)
}

// waiting merges the reviewable states' index-ordered reads: an IN over
// the states would make SQLite sort every waiting row.
func (s *Service) waiting(ctx context.Context, kd *kind, free bool, limit int) ([]Item, error) {
	var items []Item
	for _, st := range kd.states {
		var rows []record
		if err := waitingQuery(s.db.WithContext(ctx), kd, st, free, limit).Scan(&rows).Error; err != nil {
			return nil, err
		}
		for _, r := range rows {
			items = append(items, Item{RecordID: r.ID, QueuedAt: r.queuedAt()})
		}
	}
	slices.SortStableFunc(items, func(a, b Item) int {
		if c := a.QueuedAt.Compare(b.QueuedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.RecordID, b.RecordID)
	})
	return items[:min(len(items), limit)], nil
}

// fillTitles reads what the queue shows of each record.
func (s *Service) fillTitles(ctx context.Context, kd *kind, items []Item) error {
	if len(items) == 0 {
		return nil
	}
	ids := make([]uint, len(items))
	for i, it := range items {
		ids[i] = it.RecordID
	}
	var rows []struct {
		ID    uint
		Title string
	}
	if err := s.db.WithContext(ctx).Table(kd.table).Select("id, "+kd.titleSQL+" AS title").Where("id IN ?", ids).Scan(&rows).Error; err != nil {
		return err
	}
	titles := make(map[uint]string, len(rows))
	for _, r := range rows {
		titles[r.ID] = r.Title
	}
	for i := range items {
		items[i].Title = titles[items[i].RecordID]
	}
	return nil
}

// attachCases fills in the cases of items that have one.
func (s *Service) attachCases(ctx context.Context, k models.CaseKind, items []Item) error {
	if len(items) == 0 {
		return nil
	}
	ids := make([]uint, len(items))
	for i, it := range items {
		ids[i] = it.RecordID
	}
	var cases []models.ReviewCase
	if err := s.db.WithContext(ctx).Where("kind = ? AND record_id IN ?", k, ids).Find(&cases).Error; err != nil {
		return err
	}
	byID := map[uint]*models.ReviewCase{}
	for i := range cases {
		byID[cases[i].RecordID] = &cases[i]
	}
	for i := range items {
		items[i].Case = byID[items[i].RecordID]
	}
	return nil
}

// LateCap bounds the late-case count: past it the dashboard says "1,000+"
// rather than count a whole backlog on every request.
const LateCap = 1000

// Late counts the cases of kind k that have waited longer than the SLA
// for a first or a second decision, at most LateCap.
func (s *Service) Late(ctx context.Context, k models.CaseKind) (int64, error) {
	kd, err := kindOf(k)
	if err != nil {
		return 0, err
	}
	cutoff := s.now().UTC().Add(-s.sla)
	var total int64
	for _, st := range kd.states {
		var n int64
		sub := s.db.WithContext(ctx).Table(kd.table).Select("1").
			Where("review_decision = '' AND state = ? AND completed_at < ?", st, cutoff).Limit(LateCap)
		if err := s.db.WithContext(ctx).Table("(?) AS late", sub).Count(&n).Error; err != nil {
			return 0, fmt.Errorf("casework: late %s cases: %w", k, err)
		}
		total += n
	}
	var n int64
	sub := s.db.WithContext(ctx).Model(&models.ReviewCase{}).Select("1").
		Where("kind = ? AND stage = ? AND queued_at < ?", k, models.CaseSecondReview, cutoff).Limit(LateCap)
	if err := s.db.WithContext(ctx).Table("(?) AS late", sub).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("casework: late %s second reviews: %w", k, err)
	}
	return min(total+n, LateCap), nil
}

// IsLate reports whether a case queued at since is past the SLA at now.
func (s *Service) IsLate(since, now time.Time) bool { return now.Sub(since) > s.sla }
