package sandbox

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type testRecord struct {
	Name string `json:"name"`
	N    int    `json:"n"`
}

func TestStoreKeepsRecordsAcrossReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sandbox.db")
	st, err := OpenStore(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	b := st.Bucket("sim")
	now := time.UnixMilli(1_800_000_000_000)
	err = b.Update(ctx, func(tx *Tx) error {
		if err := tx.Put("rec", "a", testRecord{"a", 1}, now.Add(time.Second)); err != nil {
			return err
		}
		if err := tx.Put("rec", "b", testRecord{"b", 2}, time.Time{}); err != nil {
			return err
		}
		_, err := tx.Add("calls", 3)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// A failed Update leaves nothing behind.
	boom := errors.New("boom")
	if err := b.Update(ctx, func(tx *Tx) error {
		_ = tx.Put("rec", "c", testRecord{"c", 3}, time.Time{})
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want boom", err)
	}
	if _, err := OpenStore(ctx, path); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("second OpenStore = %v, want in use", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, err = OpenStore(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b = st.Bucket("sim")
	var got testRecord
	if found, err := b.Get(ctx, "rec", "a", &got); err != nil || !found || got != (testRecord{"a", 1}) {
		t.Fatalf("Get a = %v %v %+v", found, err, got)
	}
	if found, _ := b.Get(ctx, "rec", "c", &got); found {
		t.Fatal("the rolled-back record is there")
	}
	if found, _ := st.Bucket("other").Get(ctx, "rec", "a", &got); found {
		t.Fatal("another simulator sees the record")
	}
	_ = b.Update(ctx, func(tx *Tx) error {
		if ids, err := tx.Due("rec", now, 10); err != nil || len(ids) != 0 {
			t.Errorf("Due(now) = %v %v, want none", ids, err)
		}
		if ids, err := tx.Due("rec", now.Add(time.Second), 10); err != nil || len(ids) != 1 || ids[0] != "a" {
			t.Errorf("Due(now+1s) = %v %v, want [a]", ids, err)
		}
		if at, ok, err := tx.NextDue("rec"); err != nil || !ok || !at.Equal(now.Add(time.Second)) {
			t.Errorf("NextDue = %v %v %v", at, ok, err)
		}
		if err := tx.Insert("rec", "a", testRecord{}, time.Time{}); !errors.Is(err, ErrExists) {
			t.Errorf("Insert of a taken id = %v, want ErrExists", err)
		}
		var order []string
		_ = tx.Each("rec", true, 0, func(id string, _ []byte) error { order = append(order, id); return nil })
		if strings.Join(order, ",") != "b,a" {
			t.Errorf("Each newest first = %v", order)
		}
		if v, err := tx.Add("calls", 1); err != nil || v != 4 {
			t.Errorf("counter = %d %v, want 4", v, err)
		}
		return nil
	})
}

func TestMemoryStoresAreApart(t *testing.T) {
	ctx := context.Background()
	a, b := MemoryStore(), MemoryStore()
	defer a.Close()
	defer b.Close()
	if err := a.Bucket("s").Update(ctx, func(tx *Tx) error { return tx.Put("k", "1", testRecord{}, time.Time{}) }); err != nil {
		t.Fatal(err)
	}
	var r testRecord
	if found, err := b.Bucket("s").Get(ctx, "k", "1", &r); err != nil || found {
		t.Fatalf("the second memory store sees the first's record: %v %v", found, err)
	}
}

// A context that ends during Update must not cost the memory store its one
// connection, which is its whole database.
func TestMemoryStoreSurvivesACancelledUpdate(t *testing.T) {
	st := MemoryStore()
	defer st.Close()
	b := st.Bucket("sim")
	if err := b.Update(t.Context(), func(tx *Tx) error { return tx.Put("rec", "a", testRecord{"a", 1}, time.Time{}) }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	err := b.Update(ctx, func(tx *Tx) error {
		cancel()
		time.Sleep(10 * time.Millisecond) // database/sql reacts to the end of a context in a goroutine
		return tx.Put("rec", "b", testRecord{"b", 2}, time.Time{})
	})
	if err != nil {
		t.Fatal(err)
	}
	var r testRecord
	if found, err := b.Get(t.Context(), "rec", "a", &r); err != nil || !found {
		t.Fatalf("after a cancelled Update: %v %v", found, err)
	}
	if err := b.Update(ctx, func(*Tx) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Update with an ended context: %v", err)
	}
}

func TestAfterCommitRunsOnlyOnCommit(t *testing.T) {
	st := MemoryStore()
	defer st.Close()
	b := st.Bucket("sim")
	var ran []string
	_ = b.Update(t.Context(), func(tx *Tx) error {
		tx.AfterCommit(func() { ran = append(ran, "rolled back") })
		return errors.New("boom")
	})
	err := b.Update(t.Context(), func(tx *Tx) error {
		tx.AfterCommit(func() { ran = append(ran, "committed") })
		if len(ran) != 0 {
			t.Error("ran inside the transaction")
		}
		return nil
	})
	if err != nil || strings.Join(ran, ",") != "committed" {
		t.Fatalf("%v %v", ran, err)
	}
}
