package casework

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"portal/models"
	"portal/services"
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

// Queue is a page of a review queue in the order asked for, with the
// figures the page shows above it.
type Queue struct {
	Items []Item
	// OldestSince is when the longest-waiting case of the queue (of its
	// first page in the default order, for second reviews) started
	// waiting, whatever the order shown (zero when empty).
	OldestSince time.Time
	// Sort is the order of Items.
	Sort services.Sort
}

// The queues are sorted, not paged: a page is the first limit cases in
// the order asked for, read from the queue's index in that order (either
// direction of an index is as cheap), so it stays fast at a million rows.

// WaitingSortKeys are the orders of the cases waiting for a first
// decision: by how long they have waited, the Waiting column. Nothing else
// the queue shows has an index in the queue's order: everyone's and the
// unassigned read the records' review_queue indexes, whose last column is
// completed_at; mine reads review_cases_mine, which ends in queued_at.
var WaitingSortKeys = []services.SortKey[Item]{{Name: "wait"}}

// DefaultWaitingSort is the longest wait first ("-wait"), the order cases
// should be worked in.
var DefaultWaitingSort = services.Sort{Key: "wait"}

// SecondSortKeys are the orders of the decisions awaiting a second
// officer: by when the first decision was made (review_cases_stage ends
// in decided_at).
var SecondSortKeys = []services.SortKey[Item]{{Name: "decided"}}

// DefaultSecondSort is the oldest decision first.
var DefaultSecondSort = services.Sort{Key: "decided", Asc: true}

// Waiting returns the cases waiting for a first decision, oldest first, at
// most limit: everyone's, only those nobody has, or only viewer's.
func (s *Service) Waiting(ctx context.Context, k models.CaseKind, who Who, viewer uint, limit int) (Queue, error) {
	return s.WaitingSorted(ctx, k, who, viewer, "", limit)
}

// WaitingSorted is Waiting in the order sort names (one of
// WaitingSortKeys, "-" first for descending; "" is DefaultWaitingSort).
// An order the queue does not offer is a field error on "sort".
func (s *Service) WaitingSorted(ctx context.Context, k models.CaseKind, who Who, viewer uint, sort string, limit int) (Queue, error) {
	kd, err := kindOf(k)
	if err != nil {
		return Queue{}, err
	}
	errs := services.FieldErrors{}
	order, _ := services.ParseSort(sort, WaitingSortKeys, DefaultWaitingSort, errs)
	if len(errs) > 0 {
		return Queue{}, errs
	}
	// The longest wait is the earliest queued: "-wait" reads forwards.
	newest := order.Asc
	read := func(newest bool, limit int) ([]Item, error) {
		if who == Mine {
			return s.mine(ctx, k, viewer, newest, limit)
		}
		return s.waiting(ctx, kd, who == Unassigned, newest, limit)
	}
	items, err := read(newest, limit)
	if err == nil && who != Mine {
		err = s.attachCases(ctx, k, items)
	}
	if err == nil {
		err = s.fillTitles(ctx, kd, items)
	}
	q := Queue{Items: items, Sort: order}
	if err == nil {
		q.OldestSince, err = oldestSince(items, newest, limit, read)
	}
	if err != nil {
		return Queue{}, fmt.Errorf("casework: %s queue: %w", k, err)
	}
	return q, nil
}

// oldestSince is when the longest-waiting case of a queue was queued: the
// first of a page read oldest first; of one read newest first, the last
// when the page holds the whole queue, or else one more (one-row) read.
func oldestSince(items []Item, newest bool, limit int, read func(newest bool, limit int) ([]Item, error)) (time.Time, error) {
	switch {
	case len(items) == 0:
		return time.Time{}, nil
	case !newest:
		return items[0].QueuedAt, nil
	case len(items) < limit:
		return items[len(items)-1].QueuedAt, nil
	}
	oldest, err := read(false, 1)
	if err != nil || len(oldest) == 0 {
		return time.Time{}, err
	}
	return oldest[0].QueuedAt, nil
}

// AwaitingSecond returns the decisions waiting for a second officer,
// oldest decision first, at most limit.
func (s *Service) AwaitingSecond(ctx context.Context, k models.CaseKind, limit int) (Queue, error) {
	return s.AwaitingSecondSorted(ctx, k, "", limit)
}

// AwaitingSecondSorted is AwaitingSecond in the order sort names (one of
// SecondSortKeys; "" is DefaultSecondSort). An order the queue does not
// offer is a field error on "sort".
func (s *Service) AwaitingSecondSorted(ctx context.Context, k models.CaseKind, sort string, limit int) (Queue, error) {
	if _, err := kindOf(k); err != nil {
		return Queue{}, err
	}
	errs := services.FieldErrors{}
	order, _ := services.ParseSort(sort, SecondSortKeys, DefaultSecondSort, errs)
	if len(errs) > 0 {
		return Queue{}, errs
	}
	var cases []models.ReviewCase
	if err := secondQuery(s.db.WithContext(ctx), k, !order.Asc, limit).Find(&cases).Error; err != nil {
		return Queue{}, fmt.Errorf("casework: %s second reviews: %w", k, err)
	}
	q := Queue{Sort: order}
	for i := range cases {
		q.Items = append(q.Items, Item{RecordID: cases[i].RecordID, QueuedAt: cases[i].QueuedAt, Case: &cases[i]})
	}
	// The figure is the same in either order: over the page of the oldest
	// decisions, which a short queue shows whole.
	figures := cases
	if !order.Asc && len(cases) == limit {
		figures = nil // not into cases: the items point at them
		if err := secondQuery(s.db.WithContext(ctx), k, false, limit).Select("queued_at").Find(&figures).Error; err != nil {
			return Queue{}, fmt.Errorf("casework: %s second reviews: %w", k, err)
		}
	}
	for _, c := range figures {
		if q.OldestSince.IsZero() || c.QueuedAt.Before(q.OldestSince) {
			q.OldestSince = c.QueuedAt
		}
	}
	if err := s.fillTitles(ctx, kinds[k], q.Items); err != nil {
		return Queue{}, fmt.Errorf("casework: %s second reviews: %w", k, err)
	}
	return q, nil
}

// queueOrder is an ORDER BY of cols, each descending when newest.
func queueOrder(newest bool, cols ...string) string {
	dir := " ASC"
	if newest {
		dir = " DESC"
	}
	return strings.Join(cols, dir+", ") + dir
}

func mineQuery(db *gorm.DB, k models.CaseKind, viewer uint, newest bool, limit int) *gorm.DB {
	return db.Model(&models.ReviewCase{}).Where("kind = ? AND assignee_id = ? AND stage = ?", k, viewer, models.CaseOpen).
		Order(queueOrder(newest, "queued_at", "record_id")).Limit(limit)
}

// mine reads viewer's open cases, the case itself being the queue's row.
func (s *Service) mine(ctx context.Context, k models.CaseKind, viewer uint, newest bool, limit int) ([]Item, error) {
	var cases []models.ReviewCase
	if err := mineQuery(s.db.WithContext(ctx), k, viewer, newest, limit).Find(&cases).Error; err != nil {
		return nil, err
	}
	items := make([]Item, 0, len(cases))
	for i := range cases {
		items = append(items, Item{RecordID: cases[i].RecordID, QueuedAt: cases[i].QueuedAt, Case: &cases[i]})
	}
	return items, nil
}

func secondQuery(db *gorm.DB, k models.CaseKind, newest bool, limit int) *gorm.DB {
	return db.Model(&models.ReviewCase{}).Where("kind = ? AND stage = ?", k, models.CaseSecondReview).
		Order(queueOrder(newest, "decided_at", "record_id")).Limit(limit)
}

// waitingQuery reads one reviewable state's undecided records in the
// queue index's order, the oldest first or, with newest, last; free leaves
// out those someone has.
func waitingQuery(db *gorm.DB, kd *kind, state string, free, newest bool, limit int) *gorm.DB {
	q := db.Table(kd.table).Select("id", "completed_at", "updated_at").
		Where("review_decision = '' AND state = ?", state)
	if free {
		q = q.Where("NOT EXISTS (SELECT 1 FROM review_cases c WHERE c.kind = ? AND c.record_id = "+kd.table+".id AND c.assignee_id IS NOT NULL)", kd.name)
	}
	return q.Order(queueOrder(newest, "completed_at", "id")).Limit(limit)
}

// waiting merges the reviewable states' index-ordered reads: an IN over
// the states would make SQLite sort every waiting row.
func (s *Service) waiting(ctx context.Context, kd *kind, free, newest bool, limit int) ([]Item, error) {
	var items []Item
	for _, st := range kd.states {
		var rows []record
		if err := waitingQuery(s.db.WithContext(ctx), kd, st, free, newest, limit).Scan(&rows).Error; err != nil {
			return nil, err
		}
		for _, r := range rows {
			items = append(items, Item{RecordID: r.ID, QueuedAt: r.queuedAt()})
		}
	}
	slices.SortStableFunc(items, func(a, b Item) int {
		c := cmp.Or(a.QueuedAt.Compare(b.QueuedAt), cmp.Compare(a.RecordID, b.RecordID))
		if newest {
			return -c
		}
		return c
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
		sub := lateQuery(s.db.WithContext(ctx), kd, st, cutoff)
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

// lateQuery reads one reviewable state's undecided records queued before
// cutoff, at most LateCap. In the queue's order: that is the range of the
// review_queue index, which PostgreSQL otherwise may pass over for the
// (state, updated_at) one and filter every completed record.
func lateQuery(db *gorm.DB, kd *kind, state string, cutoff time.Time) *gorm.DB {
	return db.Table(kd.table).Select("1").
		Where("review_decision = '' AND state = ? AND completed_at < ?", state, cutoff).Order("completed_at").Limit(LateCap)
}

// IsLate reports whether a case queued at since is past the SLA at now.
func (s *Service) IsLate(since, now time.Time) bool { return now.Sub(since) > s.sla }
