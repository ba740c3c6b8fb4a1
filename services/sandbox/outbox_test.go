package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type testMeta struct {
	Ref string `json:"ref"`
}

// receiver records what is posted to it and answers what answer says (200
// when nil); a handler that blocks holds the post.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []receivedPost
	answer func(n int, body string) int
	posted chan string
}

type receivedPost struct {
	Body   string
	Header http.Header
	At     time.Time
}

func newReceiver(t *testing.T, answer func(n int, body string) int) *receiver {
	t.Helper()
	r := &receiver{answer: answer, posted: make(chan string, 100)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, receivedPost{string(b), req.Header.Clone(), time.Now()})
		n := len(r.got)
		r.mu.Unlock()
		r.posted <- string(b)
		status := http.StatusOK
		if r.answer != nil {
			status = r.answer(n, string(b))
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) posts() []receivedPost {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receivedPost(nil), r.got...)
}

func (r *receiver) next(t *testing.T) string {
	t.Helper()
	select {
	case b := <-r.posted:
		return b
	case <-time.After(10 * time.Second):
		t.Fatal("nothing posted in 10 s")
		return ""
	}
}

// testOutbox starts an outbox on bucket "sim" of st that only looks at the
// store when woken (Poll is an hour), so every test also checks that an
// Enqueue and an ending post wake the worker.
func testOutbox(t *testing.T, st *Store, opts OutboxOptions[testMeta]) *Outbox[testMeta] {
	t.Helper()
	if opts.Poll == 0 {
		opts.Poll = time.Hour
	}
	o := NewOutbox(st.Bucket("sim"), opts)
	t.Cleanup(o.Close)
	return o
}

func enqueue(t *testing.T, o *Outbox[testMeta], msgs ...OutboxMessage[testMeta]) []string {
	t.Helper()
	var ids []string
	err := o.bucket.Update(t.Context(), func(tx *Tx) error {
		ids = ids[:0]
		for _, m := range msgs {
			id, err := o.Enqueue(tx, m)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func settle(t *testing.T, o *Outbox[testMeta]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := o.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

func message(t *testing.T, o *Outbox[testMeta], id string) (m OutboxMessage[testMeta], due time.Time, scheduled bool) {
	t.Helper()
	err := o.bucket.Update(t.Context(), func(tx *Tx) error {
		var err error
		if m, _, err = o.Message(tx, id); err != nil {
			return err
		}
		ids, err := tx.Due(OutboxKind, time.Now().Add(100*365*24*time.Hour), 1000)
		if err != nil {
			return err
		}
		for _, d := range ids {
			if d == id {
				scheduled = true
			}
		}
		due, _, err = tx.NextDue(OutboxKind)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m, due, scheduled
}

func TestOutboxDelivers(t *testing.T) {
	rcv := newReceiver(t, nil)
	st := MemoryStore()
	defer st.Close()
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	o := testOutbox(t, st, OutboxOptions[testMeta]{UserAgent: "test-agent/1", Now: func() time.Time { return clock }})
	ids := enqueue(t, o, OutboxMessage[testMeta]{
		Target: rcv.URL + "/hook/s3cret", Body: []byte(`{"a":1}`), Meta: testMeta{"r1"},
		Header: http.Header{"X-Signature": {"sig"}},
	})
	if b := rcv.next(t); b != `{"a":1}` {
		t.Fatalf("posted %s", b)
	}
	settle(t, o)
	p := rcv.posts()[0]
	if p.Header.Get("X-Signature") != "sig" || p.Header.Get("User-Agent") != "test-agent/1" || p.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", p.Header)
	}
	m, _, scheduled := message(t, o, ids[0])
	if m.State != OutboxDelivered || !m.Done() || scheduled || len(m.Tries) != 1 || m.Tries[0].Status != 200 || !m.Tries[0].At.Equal(clock) {
		t.Fatalf("message %+v (scheduled %v)", m, scheduled)
	}
	log, err := o.Log(t.Context())
	if err != nil || len(log) != 1 || log[0].MessageID != ids[0] || log[0].Meta.Ref != "r1" || log[0].Attempt != 1 || log[0].Status != 200 {
		t.Fatalf("log %+v %v", log, err)
	}
	recent, err := o.Recent(t.Context(), 10)
	if err != nil || len(recent) != 1 || recent[0].ID != ids[0] {
		t.Fatalf("recent %+v %v", recent, err)
	}
}

// Enqueue belongs to the caller's transaction: rolled back, nothing is
// queued or posted.
func TestOutboxEnqueueRollsBack(t *testing.T) {
	rcv := newReceiver(t, nil)
	st := MemoryStore()
	defer st.Close()
	o := testOutbox(t, st, OutboxOptions[testMeta]{})
	boom := errors.New("boom")
	err := o.bucket.Update(t.Context(), func(tx *Tx) error {
		if _, err := o.Enqueue(tx, OutboxMessage[testMeta]{Target: rcv.URL, Body: []byte(`{}`)}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	settle(t, o)
	if recent, err := o.Recent(t.Context(), 10); err != nil || len(recent) != 0 {
		t.Fatalf("recent %+v %v", recent, err)
	}
	if n := len(rcv.posts()); n != 0 {
		t.Fatalf("%d posts", n)
	}
}

// A failed attempt is retried after Backoff of the failures so far, the
// success rule is the outbox's option, and the log says why each failed.
func TestOutboxBackoffAndSuccessRule(t *testing.T) {
	rcv := newReceiver(t, func(n int, _ string) int {
		if n < 3 {
			return http.StatusAccepted // a 2xx, yet not what this receiver's provider counts as delivered
		}
		return http.StatusOK
	})
	st := MemoryStore()
	defer st.Close()
	var mu sync.Mutex
	var asked []int
	o := testOutbox(t, st, OutboxOptions[testMeta]{
		Delivered: func(status int) bool { return status == http.StatusOK },
		Backoff: func(n int) time.Duration {
			mu.Lock()
			asked = append(asked, n)
			mu.Unlock()
			return time.Duration(n) * 100 * time.Millisecond
		},
	})
	ids := enqueue(t, o, OutboxMessage[testMeta]{Target: rcv.URL, Body: []byte(`{}`)})
	settle(t, o)
	ps := rcv.posts()
	if len(ps) != 3 {
		t.Fatalf("%d posts", len(ps))
	}
	if gap := ps[1].At.Sub(ps[0].At); gap < 100*time.Millisecond {
		t.Fatalf("second attempt %v after the first", gap)
	}
	if gap := ps[2].At.Sub(ps[1].At); gap < 200*time.Millisecond {
		t.Fatalf("third attempt %v after the second", gap)
	}
	mu.Lock()
	if fmt.Sprint(asked) != "[1 2]" {
		t.Fatalf("Backoff asked for %v", asked)
	}
	mu.Unlock()
	m, _, _ := message(t, o, ids[0])
	if m.State != OutboxDelivered || len(m.Tries) != 3 || m.Tries[0].Status != 202 {
		t.Fatalf("%+v", m)
	}
}

// After Attempts failures a message is given up: no longer due, and its
// attempts are in the log. A failed request is logged without the URL.
func TestOutboxGivesUp(t *testing.T) {
	st := MemoryStore()
	defer st.Close()
	o := testOutbox(t, st, OutboxOptions[testMeta]{Attempts: 2, Backoff: func(int) time.Duration { return time.Millisecond }})
	ids := enqueue(t, o, OutboxMessage[testMeta]{Target: "http://127.0.0.1:1/hook/s3cret", Body: []byte(`{}`)})
	settle(t, o)
	m, _, scheduled := message(t, o, ids[0])
	if m.State != OutboxFailed || !m.Done() || scheduled || len(m.Tries) != 2 || m.Tries[0].Status != 0 || m.Tries[0].Err == "" {
		t.Fatalf("%+v (scheduled %v)", m, scheduled)
	}
	if strings.Contains(m.Tries[0].Err, "s3cret") {
		t.Fatalf("the error shows the URL: %s", m.Tries[0].Err)
	}
	if log, err := o.Log(t.Context()); err != nil || len(log) != 2 || log[1].Attempt != 2 {
		t.Fatalf("log %+v %v", log, err)
	}
}

// While a message is being posted its due is the end of a lease longer
// than the post may take, so no other worker claims it meanwhile; Close
// mid-post gives the claim back at once, recording no attempt.
func TestOutboxClaimLeaseAndCloseReleases(t *testing.T) {
	entered := make(chan struct{})
	var once sync.Once
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body) // the server notices a hang-up only once the body is read
		once.Do(func() { close(entered) })
		<-r.Context().Done()
	}))
	t.Cleanup(rcv.Close)
	st := MemoryStore()
	defer st.Close()
	o := NewOutbox(st.Bucket("sim"), OutboxOptions[testMeta]{Poll: time.Hour, Timeout: 3 * time.Second, LeaseMargin: time.Second})
	defer o.Close()
	before := time.Now()
	ids := enqueue(t, o, OutboxMessage[testMeta]{Target: rcv.URL, Body: []byte(`{}`)})
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("never posted")
	}
	m, due, _ := message(t, o, ids[0])
	if lease := due.Sub(before); lease < 4*time.Second || lease > 5*time.Second {
		t.Fatalf("a lease of %v, want the timeout plus the margin (4 s)", lease)
	}
	if m.Claim != 1 || m.State != OutboxPending {
		t.Fatalf("claimed %+v", m)
	}
	done := make(chan struct{})
	go func() { o.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for the post")
	}
	m, due, scheduled := message(t, o, ids[0])
	if !scheduled || time.Until(due) > 0 || len(m.Tries) != 0 {
		t.Fatalf("after Close: %+v due %v (scheduled %v), want due now with no attempt", m, due, scheduled)
	}
	if log, _ := o.Log(t.Context()); len(log) != 0 {
		t.Fatalf("an attempt cut short by Close was logged: %+v", log)
	}
	// Wait does not wait for a closed outbox.
	if err := o.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// A process killed mid-post leaves its claim, due at the end of the lease;
// once that has passed, the next outbox on the store posts it, once.
func TestOutboxLapsedClaimIsDelivered(t *testing.T) {
	rcv := newReceiver(t, nil)
	st, err := OpenStore(t.Context(), filepath.Join(t.TempDir(), "sandbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m := OutboxMessage[testMeta]{ID: "1", Target: rcv.URL, Body: []byte(`{"left":"behind"}`), State: OutboxPending, Claim: 1}
	if err := st.Bucket("sim").Update(t.Context(), func(tx *Tx) error {
		return tx.Put(OutboxKind, m.ID, m, time.Now().Add(-time.Second))
	}); err != nil {
		t.Fatal(err)
	}
	o := testOutbox(t, st, OutboxOptions[testMeta]{})
	if b := rcv.next(t); b != `{"left":"behind"}` {
		t.Fatalf("posted %s", b)
	}
	settle(t, o)
	got, _, _ := message(t, o, "1")
	if got.State != OutboxDelivered || got.Claim != 2 || len(got.Tries) != 1 {
		t.Fatalf("%+v", got)
	}
	if n := len(rcv.posts()); n != 1 {
		t.Fatalf("%d posts", n)
	}
}

// The outcome of a claim whose lease lapsed, and which was claimed again,
// is not recorded, nor released: the later claim's is.
func TestOutboxStaleOutcomeIgnored(t *testing.T) {
	st := MemoryStore()
	defer st.Close()
	o := testOutbox(t, st, OutboxOptions[testMeta]{})
	far := time.Now().Add(time.Hour) // not due: the worker leaves it alone
	m := OutboxMessage[testMeta]{ID: "1", Target: "http://127.0.0.1:1/", State: OutboxPending, Claim: 2}
	if err := o.bucket.Update(t.Context(), func(tx *Tx) error { return tx.Put(OutboxKind, m.ID, m, far) }); err != nil {
		t.Fatal(err)
	}
	stale := m
	stale.Claim = 1
	n, err := o.record(t.Context(), stale, OutboxResult{Status: 200, At: time.Now()})
	if err != nil || n != 0 {
		t.Fatalf("record of a stale claim: %d %v", n, err)
	}
	if err := o.release(t.Context(), stale); err != nil {
		t.Fatal(err)
	}
	got, due, _ := message(t, o, "1")
	if got.State != OutboxPending || len(got.Tries) != 0 || !due.Equal(far.Truncate(time.Millisecond)) {
		t.Fatalf("after a stale outcome: %+v due %v", got, due)
	}
	if log, _ := o.Log(t.Context()); len(log) != 0 {
		t.Fatalf("a stale outcome was logged: %+v", log)
	}
	// The current claim's outcome is.
	if n, err := o.record(t.Context(), m, OutboxResult{Status: 200, At: time.Now()}); err != nil || n != 1 {
		t.Fatalf("record of the current claim: %d %v", n, err)
	}
}

// Messages of one key are posted one after the other, in order, each only
// once the one before has finished (delivered or given up); other keys
// and unkeyed messages do not wait for them.
func TestOutboxOrderingKey(t *testing.T) {
	release := make(chan struct{})
	var a1Tries int // only the handler of a1 touches it, one post at a time
	rcv := newReceiver(t, func(_ int, body string) int {
		if body == "a1" {
			<-release
			if a1Tries++; a1Tries == 1 {
				return http.StatusServiceUnavailable
			}
		}
		return http.StatusOK
	})
	st := MemoryStore()
	defer st.Close()
	o := testOutbox(t, st, OutboxOptions[testMeta]{Backoff: func(int) time.Duration { return 20 * time.Millisecond }})
	ids := enqueue(t, o,
		OutboxMessage[testMeta]{Key: "a", Target: rcv.URL, Body: []byte("a1")},
		OutboxMessage[testMeta]{Key: "a", Target: rcv.URL, Body: []byte("a2")},
		OutboxMessage[testMeta]{Key: "b", Target: rcv.URL, Body: []byte("b1")},
		OutboxMessage[testMeta]{Target: rcv.URL, Body: []byte("u1")},
	)
	if m, _, scheduled := message(t, o, ids[1]); m.State != OutboxQueued || scheduled {
		t.Fatalf("the second of key a: %+v (scheduled %v), want queued", m, scheduled)
	}
	seen := map[string]bool{}
	for range 3 {
		seen[rcv.next(t)] = true
	}
	if !seen["a1"] || !seen["b1"] || !seen["u1"] {
		t.Fatalf("first posts %v, want a1, b1 and u1", seen)
	}
	close(release) // a1 fails once, then is delivered; only then a2
	settle(t, o)
	var order []string
	for _, p := range rcv.posts() {
		if strings.HasPrefix(p.Body, "a") {
			order = append(order, p.Body)
		}
	}
	if strings.Join(order, ",") != "a1,a1,a2" {
		t.Fatalf("key a posted %v", order)
	}
	// Once its queue is empty, a key's next message is due at once.
	enqueue(t, o, OutboxMessage[testMeta]{Key: "a", Target: rcv.URL, Body: []byte("a3")})
	for rcv.next(t) != "a3" { // what was posted before is still in the channel
	}
	settle(t, o)
	err := o.bucket.Update(t.Context(), func(tx *Tx) error {
		n, err := tx.Count(outboxKeyKind)
		if err == nil && n != 0 {
			err = fmt.Errorf("%d key queues left", n)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The attempt log keeps its last OutboxLogSize entries however many
// attempts there were.
func TestOutboxLogIsPruned(t *testing.T) {
	st := MemoryStore()
	defer st.Close()
	o := testOutbox(t, st, OutboxOptions[testMeta]{})
	const total = OutboxLogSize + 5
	err := o.bucket.Update(t.Context(), func(tx *Tx) error {
		for i := range total {
			m := OutboxMessage[testMeta]{ID: outboxID(int64(i + 1)), Meta: testMeta{fmt.Sprint(i + 1)}, Tries: []OutboxResult{{Status: 500}}}
			if err := o.logAttempt(tx, &m, m.Tries[0]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	log, err := o.Log(t.Context())
	if err != nil || len(log) != OutboxLogSize || log[0].Meta.Ref != "6" || log[len(log)-1].Meta.Ref != fmt.Sprint(total) {
		t.Fatalf("log of %d from %+v: %v", len(log), log[0], err)
	}
	err = o.bucket.Update(t.Context(), func(tx *Tx) error {
		n, err := tx.Count(OutboxLogKind)
		if err == nil && n != OutboxLogSize {
			err = fmt.Errorf("%d log records kept", n)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// MaxInflight bounds the posts under way; the rest wait their turn.
func TestOutboxMaxInflight(t *testing.T) {
	var mu sync.Mutex
	busy, most := 0, 0
	rcv := newReceiver(t, func(int, string) int {
		mu.Lock()
		busy++
		most = max(most, busy)
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		busy--
		mu.Unlock()
		return http.StatusOK
	})
	st := MemoryStore()
	defer st.Close()
	o := testOutbox(t, st, OutboxOptions[testMeta]{MaxInflight: 2})
	var msgs []OutboxMessage[testMeta]
	for i := range 6 {
		msgs = append(msgs, OutboxMessage[testMeta]{Target: rcv.URL, Body: []byte(fmt.Sprint(i))})
	}
	enqueue(t, o, msgs...)
	settle(t, o)
	if n := len(rcv.posts()); n != 6 {
		t.Fatalf("%d posts", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if most > 2 {
		t.Fatalf("%d posts at once", most)
	}
}
