package bulk

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"portal/internal/dbtest"
	"portal/models"
	"portal/services"
)

// errFinal stands for a list's own failure that its Explain puts in words.
var errFinal = errors.New("already final")

type fixture struct {
	db      *gorm.DB
	now     time.Time
	mu      sync.Mutex
	calls   map[uint]int // refreshes per record
	fail    map[uint]error
	admin   services.Actor
	officer models.User
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{db: dbtest.Open(t), now: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC), calls: map[uint]int{}, fail: map[uint]error{}}
	for _, u := range []*models.User{
		{Email: "admin@example.com", Role: models.RoleAdmin},
		{Email: "ann@example.com", Role: models.RoleCompliance},
		{Email: "olga@example.com", Role: models.RoleOperator},
	} {
		if err := f.db.Create(u).Error; err != nil {
			t.Fatal(err)
		}
		if u.Role == models.RoleAdmin {
			f.admin = services.Actor{ID: u.ID, Email: u.Email, Role: u.Role}
		}
		if u.Role == models.RoleCompliance {
			f.officer = *u
		}
	}
	return f
}

func (f *fixture) target() Target {
	act := func(id uint) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.calls[id]++
		return f.fail[id]
	}
	return Target{
		Noun:    "document",
		Subject: subjectOf("document"),
		Refresh: func(ctx context.Context, a services.Actor, id uint) error { return act(id) },
		Assign:  func(ctx context.Context, a services.Actor, id, to uint) error { return act(id) },
		Explain: func(err error) (string, bool) {
			if errors.Is(err, errFinal) {
				return "Nothing to refresh.", true
			}
			return "", false
		},
	}
}

func (f *fixture) service(opts Options) *Service {
	reviewer := func(ctx context.Context, id uint) (models.User, error) {
		if id != f.officer.ID {
			return models.User{}, services.FieldErrors{"assignee_id": "Choose an active compliance officer or admin."}
		}
		return f.officer, nil
	}
	return New(f.db, func() time.Time { return f.now }, map[string]Target{"documents": f.target()}, reviewer, opts)
}

func ids(n int) []uint {
	out := make([]uint, n)
	for i := range out {
		out[i] = uint(n - i)
	}
	return out
}

func drain(t *testing.T, s *Service) {
	t.Helper()
	for range 1000 {
		n, err := s.RunOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	t.Fatal("the job never finished")
}

// A job does each record once, in the background, and its report says how
// many succeeded and, grouped by reason, why the others did not.
func TestJobReportsPartialFailure(t *testing.T) {
	f := newFixture(t)
	s := f.service(Options{Batch: 7})
	f.fail[3], f.fail[5], f.fail[8] = errFinal, errFinal, models.ErrNotFound
	f.fail[9] = errors.New("disk on fire") // internal: logged, and a plain reason shown
	job, err := s.Start(context.Background(), f.admin, Request{Kind: "documents", Action: Refresh, IDs: append(ids(20), 4, 4), Matching: true, Filter: "state in progress"})
	if err != nil {
		t.Fatal(err)
	}
	if job.Total != 20 {
		t.Fatalf("total %d, want 20 (repeats dropped)", job.Total)
	}
	r, err := s.Report(context.Background(), f.admin, job.ID)
	if err != nil || r.Pending != 20 || r.Done() {
		t.Fatalf("before work: %+v, %v", r, err)
	}
	if n, _ := s.RunOnce(context.Background()); n != 7 {
		t.Fatalf("one pass did %d records, want a batch of 7", n)
	}
	drain(t, s)
	r, err = s.Report(context.Background(), f.admin, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Done() || r.Succeeded != 16 || r.Failed != 4 || r.Pending != 0 {
		t.Fatalf("report %+v", r)
	}
	want := []ReasonCount{{"Nothing to refresh.", 2},
		{"The portal could not finish this one (the error is in its log): try it again from its page.", 1},
		{"There is no such document (any more).", 1}}
	if fmt.Sprint(r.Reasons) != fmt.Sprint(want) {
		t.Errorf("reasons %v, want %v", r.Reasons, want)
	}
	if len(r.Failures) != 4 || r.Failures[0].RecordID != 9 {
		t.Errorf("failures %+v, want the four newest first", r.Failures)
	}
	for id := uint(1); id <= 20; id++ {
		if f.calls[id] != 1 {
			t.Errorf("record %d done %d times", id, f.calls[id])
		}
	}
	var audit []models.AuditEvent
	f.db.Where("subject = ?", subject(job.ID)).Order("id").Find(&audit)
	if len(audit) != 2 || audit[0].Action != "bulk.started" || audit[1].Action != "bulk.finished" ||
		audit[1].Details != "16 succeeded, 4 failed" || audit[0].ActorEmail != "admin@example.com" {
		t.Errorf("audit %+v", audit)
	}
	// Finished is finished: more passes do nothing and audit nothing.
	drain(t, s)
	var n int64
	f.db.Model(&models.AuditEvent{}).Where("subject = ?", subject(job.ID)).Count(&n)
	if n != 2 {
		t.Errorf("%d audit events after more passes", n)
	}
}

// Two replicas working the same jobs at once never do a record twice, and
// a job whose replica died is taken over once its lease runs out.
func TestReplicasShareJobsByLease(t *testing.T) {
	f := newFixture(t)
	var clock atomic.Int64
	clock.Store(f.now.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()).UTC() }
	mk := func() *Service {
		s := f.service(Options{Batch: 5, Lease: time.Minute})
		s.now = now
		return s
	}
	a, b := mk(), mk()
	var jobs []uint
	for range 3 {
		job, err := a.Start(context.Background(), f.admin, Request{Kind: "documents", Action: Refresh, IDs: ids(30)})
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, job.ID)
	}
	var wg sync.WaitGroup
	for _, s := range []*Service{a, b} {
		wg.Go(func() {
			for range 200 {
				if _, err := s.RunOnce(context.Background()); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, id := range jobs {
		r, _ := a.Report(context.Background(), f.admin, id)
		if !r.Done() || r.Succeeded != 30 {
			t.Errorf("job %d: %+v", id, r)
		}
	}
	for id, n := range f.calls {
		if n != 3 { // once per job
			t.Errorf("record %d refreshed %d times, want once per job", id, n)
		}
	}

	// A replica claims a job and dies: nobody else takes it within the
	// lease, and the next replica finishes it after.
	job, _ := a.Start(context.Background(), f.admin, Request{Kind: "documents", Action: Refresh, IDs: ids(4)})
	if err := f.db.Model(&models.BulkJob{}).Where("id = ?", job.ID).
		Updates(map[string]any{"claimed_by": "dead", "lease_until": now().Add(time.Minute)}).Error; err != nil {
		t.Fatal(err)
	}
	if n, _ := b.RunOnce(context.Background()); n != 0 {
		t.Fatalf("a held job was worked by another replica (%d records)", n)
	}
	clock.Add(int64(2 * time.Minute))
	drain(t, b)
	if r, _ := b.Report(context.Background(), f.admin, job.ID); !r.Done() || r.Succeeded != 4 {
		t.Errorf("taken-over job: %+v", r)
	}
}

func TestStartRefusals(t *testing.T) {
	f := newFixture(t)
	s := f.service(Options{})
	operator := services.Actor{ID: f.admin.ID + 2, Email: "olga@example.com", Role: models.RoleOperator}
	for _, c := range []struct {
		name  string
		a     services.Actor
		r     Request
		field string // "" means forbidden
	}{
		{"nothing selected", f.admin, Request{Kind: "documents", Action: Refresh}, "id"},
		{"nothing matching", f.admin, Request{Kind: "documents", Action: Refresh, Matching: true}, "id"},
		{"too many", f.admin, Request{Kind: "documents", Action: Refresh, IDs: ids(services.MaxSelection + 1)}, "id"},
		{"unknown action", f.admin, Request{Kind: "documents", Action: "delete", IDs: ids(2)}, "action"},
		{"unknown list", f.admin, Request{Kind: "users", Action: Refresh, IDs: ids(2)}, "action"},
		{"assign to an operator", f.admin, Request{Kind: "documents", Action: Assign, IDs: ids(2), AssigneeID: operator.ID}, "assignee_id"},
		{"assign by an operator", operator, Request{Kind: "documents", Action: Assign, IDs: ids(2), AssigneeID: f.officer.ID}, ""},
	} {
		_, err := s.Start(context.Background(), c.a, c.r)
		var forbidden *services.ErrForbidden
		if c.field == "" {
			if !errors.As(err, &forbidden) {
				t.Errorf("%s: %v, want forbidden", c.name, err)
			}
			continue
		}
		if fe, ok := services.AsFieldErrors(err); !ok || fe[c.field] == "" {
			t.Errorf("%s: %v, want a message on %s", c.name, err, c.field)
		}
	}
	var n int64
	f.db.Model(&models.BulkJob{}).Count(&n)
	if n != 0 {
		t.Errorf("%d jobs written by refused requests", n)
	}
	// Assign names the reviewer; another person's job is not found.
	job, err := s.Start(context.Background(), f.admin, Request{Kind: "documents", Action: Assign, IDs: ids(2), AssigneeID: f.officer.ID})
	if err != nil || job.AssigneeEmail != "ann@example.com" {
		t.Fatalf("assign job %+v, %v", job, err)
	}
	if _, err := s.Report(context.Background(), operator, job.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("another person's job: %v, want ErrNotFound", err)
	}
}
