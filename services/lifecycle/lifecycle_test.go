package lifecycle

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"portal/internal/dbtest"
	"portal/models"
	"portal/services"
)

type lampState string

const (
	off    lampState = "off"
	on     lampState = "on"
	broken lampState = "broken"
	lost   lampState = "lost"
)

func (s lampState) Final() bool { return s == broken }

type lamp struct {
	ID        uint
	State     lampState
	Watts     int
	UpdatedAt time.Time
}

type lampEvent struct {
	ID        uint
	LampID    uint
	At        time.Time
	FromState lampState
	ToState   lampState
	Note      string
}

type lampChange struct{ Watts *int }

var lamps = &Kind[lampState]{
	Name: "lamp",
	Table: Table[lampState]{
		off:  {on, broken, lost},
		on:   {off, broken, lost},
		lost: {off, broken},
	},
	Model: func() any { return &lamp{} },
	Event: func(m Move[lampState], from lampState, at time.Time) any {
		return &lampEvent{LampID: m.ID, At: at, FromState: from, ToState: m.To, Note: m.Note}
	},
}

func testDB(t *testing.T) *gorm.DB {
	t.Helper()
	ctx := context.Background()
	db := dbtest.Open(t)
	if err := models.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	if err := db.AutoMigrate(&lamp{}, &lampEvent{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if sqlDB, err := db.DB(); err == nil {
			sqlDB.Close()
		}
	})
	return db
}

func TestTableRefusesWhatItDoesNotList(t *testing.T) {
	for _, tt := range []struct {
		from, to lampState
		ok       bool
	}{
		{off, on, true}, {on, off, true}, {lost, off, true},
		{lost, on, false}, // only a person's word brings a lost lamp back, and then off
		{broken, off, false}, {off, off, false}, {on, "melted", false},
	} {
		if got := lamps.Table.Allows(tt.from, tt.to); got != tt.ok {
			t.Errorf("Allows(%s → %s) = %v", tt.from, tt.to, got)
		}
	}
	if p := lamps.Table.Problems([]lampState{off, on, broken, lost}); len(p) > 0 {
		t.Errorf("problems: %v", p)
	}
	bad := Table[lampState]{off: {off}, broken: {on}, lost: {"melted"}}
	if p := bad.Problems([]lampState{off, on, broken, lost}); len(p) != 4 {
		t.Errorf("a bad table's problems: %q", p)
	}
	db := testDB(t)
	l := lamp{State: lost}
	db.Create(&l)
	moved, err := lamps.Transition(context.Background(), db, time.Now(), Move[lampState]{ID: l.ID, From: []lampState{lost}, To: on})
	if !errors.Is(err, ErrNoMove) || moved {
		t.Fatalf("unlisted move: %v, %v", moved, err)
	}
	if _, err := lamps.Transition(context.Background(), db, time.Now(), Move[lampState]{ID: l.ID, To: on}); !errors.Is(err, ErrNoMove) {
		t.Fatalf("move with no from state: %v", err)
	}
}

func TestTransitionWritesStateEventAndAuditTogether(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	l := lamp{State: off}
	db.Create(&l)
	w := 60
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	moved, err := lamps.Transition(ctx, db, now, Move[lampState]{ID: l.ID, From: []lampState{off}, To: on,
		Change: lampChange{Watts: &w}, Note: "switched on",
		Audit: &Audit{Actor: services.Actor{Email: "ops@example.com"}, Action: "lamp.on", Details: "w=60"}})
	if err != nil || !moved {
		t.Fatalf("Transition = %v, %v", moved, err)
	}
	var got lamp
	db.First(&got, l.ID)
	if got.State != on || got.Watts != 60 || !got.UpdatedAt.Equal(now) {
		t.Errorf("row = %+v", got)
	}
	var ev []lampEvent
	db.Find(&ev)
	if len(ev) != 1 || ev[0].FromState != off || ev[0].ToState != on || ev[0].Note != "switched on" {
		t.Errorf("events = %+v", ev)
	}
	var audits []models.AuditEvent
	db.Find(&audits)
	if len(audits) != 1 || audits[0].Subject != "lamp:1" || audits[0].Action != "lamp.on" {
		t.Errorf("audit = %+v", audits)
	}

	// A row no longer where the caller saw it is left alone, and says so.
	moved, err = lamps.Transition(ctx, db, now, Move[lampState]{ID: l.ID, From: []lampState{off}, To: broken})
	if err != nil || moved {
		t.Fatalf("stale move = %v, %v", moved, err)
	}
	db.First(&got, l.ID)
	if got.State != on {
		t.Errorf("stale move changed the row: %s", got.State)
	}
}

func TestAFailingStepUndoesTheMove(t *testing.T) {
	db := testDB(t)
	l := lamp{State: off}
	db.Create(&l)
	boom := errors.New("boom")
	_, err := lamps.Transition(context.Background(), db, time.Now(), Move[lampState]{ID: l.ID, From: []lampState{off}, To: on,
		Also: func(*gorm.DB) error { return boom }})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	var got lamp
	db.First(&got, l.ID)
	var n int64
	db.Model(&lampEvent{}).Count(&n)
	if got.State != off || n != 0 {
		t.Fatalf("half-written: state %s, %d events", got.State, n)
	}
}

// Two movers racing for one row: exactly one wins, and one event is written.
func TestConcurrentMovesMoveOnce(t *testing.T) {
	db := testDB(t)
	l := lamp{State: off}
	db.Create(&l)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			moved, err := lamps.Transition(context.Background(), db, time.Now(), Move[lampState]{ID: l.ID, From: []lampState{off}, To: on})
			if err != nil {
				t.Error(err)
			}
			if moved {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	var n int64
	db.Model(&lampEvent{}).Count(&n)
	if wins.Load() != 1 || n != 1 {
		t.Fatalf("%d wins, %d events", wins.Load(), n)
	}
}

func TestResolve(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	l := lamp{State: lost}
	db.Create(&l)
	audit := &Audit{Actor: services.Actor{Email: "ops@example.com"}, Action: "lamp.found"}
	if err := lamps.Resolve(ctx, db, time.Now(), lost, Move[lampState]{ID: l.ID, To: off}); err == nil {
		t.Fatal("resolve without an audit entry")
	}
	if err := lamps.Resolve(ctx, db, time.Now(), lost, Move[lampState]{ID: l.ID, To: off, Audit: audit}); err != nil {
		t.Fatal(err)
	}
	if err := lamps.Resolve(ctx, db, time.Now(), lost, Move[lampState]{ID: l.ID, To: off, Audit: audit}); !errors.Is(err, ErrMoved) {
		t.Fatalf("second resolve: %v", err)
	}
}

func TestUpdateKeepsTheState(t *testing.T) {
	db := testDB(t)
	l := lamp{State: on}
	db.Create(&l)
	w := 5
	done, err := lamps.Update(context.Background(), db, time.Now(), l.ID, []lampState{off}, lampChange{Watts: &w}, nil)
	if err != nil || done {
		t.Fatalf("update of a row in another state: %v, %v", done, err)
	}
	done, err = lamps.Update(context.Background(), db, time.Now(), l.ID, []lampState{on}, lampChange{Watts: &w}, nil)
	var got lamp
	db.First(&got, l.ID)
	if err != nil || !done || got.Watts != 5 || got.State != on {
		t.Fatalf("update: %v %v %+v", done, err, got)
	}
}

func TestCheckSchedule(t *testing.T) {
	next := CheckSchedule(10*time.Second, time.Minute)
	for attempt, want := range map[int]time.Duration{1: 10 * time.Second, 2: 20 * time.Second, 3: 40 * time.Second, 9: time.Minute} {
		if d := next(attempt); d < want*8/10 || d > want*12/10 {
			t.Errorf("attempt %d: %v, want %v ±20 %%", attempt, d, want)
		}
	}
}

func TestChangesNameOnlyTheModelsColumns(t *testing.T) {
	db := testDB(t)
	l := lamp{State: off}
	db.Create(&l)
	type typo struct{ Wats *int }
	type notPointer struct{ Watts int }
	for _, c := range []Change{typo{Wats: new(1)}, notPointer{Watts: 1}, 7} {
		if _, err := lamps.Update(context.Background(), db, time.Now(), l.ID, []lampState{off}, c, nil); err == nil {
			t.Errorf("change %#v accepted", c)
		}
	}
	if _, err := lamps.Update(context.Background(), db, time.Now(), l.ID, []lampState{off}, &lampChange{Watts: new(9)}, nil); err != nil {
		t.Errorf("pointer to a change: %v", err)
	}
}

func TestRunReconcilerRunsEveryStepOnTickAndWake(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var inbox, checks atomic.Int32
	wake := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		RunReconciler(ctx, time.Hour, wake, slog.New(slog.DiscardHandler),
			Step{"inbox", func(context.Context) (int, error) { inbox.Add(1); return 0, errors.New("a failing step") }},
			Step{"checks", func(context.Context) (int, error) { checks.Add(1); return 1, nil }})
	}()
	wake <- struct{}{} // taken only once the first round is over
	wake <- struct{}{}
	cancel()
	<-done
	if inbox.Load() < 2 || checks.Load() != inbox.Load() {
		t.Fatalf("inbox ran %d times, checks %d: a failing step must not stop the round", inbox.Load(), checks.Load())
	}
}
