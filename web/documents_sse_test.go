package web_test

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"portal/models"
)

// The SSE endpoint sends the status fragment, a new one when the document
// changes, and "done" once it is final; then the stream ends.
func TestDocumentEventsStreamUntilFinal(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	op := newStaff(t, p, "docsse", models.RoleOperator)
	id := docCreate(t, p, op, docReviewForm())
	d := docGet(t, p, id)

	req, err := http.NewRequest(http.MethodGet, p.URL+"/documents/"+strconv.FormatUint(uint64(id), 10)+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	client := *op.client
	client.Timeout = 30 * time.Second
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := make(chan [2]string, 16)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		var event string
		var data []string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = append(data, strings.TrimPrefix(line, "data: "))
			case line == "" && event != "":
				events <- [2]string{event, strings.Join(data, "\n")}
				event, data = "", nil
			}
		}
	}()
	next := func() [2]string {
		t.Helper()
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("stream ended early")
			}
			return ev
		case <-time.After(20 * time.Second):
			t.Fatal("no event within 20 s")
		}
		return [2]string{}
	}
	first := next()
	if first[0] != "status" || !strings.Contains(first[1], "document-status-") {
		t.Fatalf("first event %q: %.200s", first[0], first[1])
	}
	for _, nin := range []string{docNIN1, docNIN2} {
		if err := p.PasbySim.Sign(*d.UpstreamID, nin); err != nil {
			t.Fatal(err)
		}
	}
	sawCompleted := false
	for {
		ev := next()
		if ev[0] == "done" {
			break
		}
		if ev[0] == "status" && strings.Contains(ev[1], "completed") {
			sawCompleted = true
		}
	}
	if !sawCompleted {
		t.Fatal("the stream ended without sending the completed status")
	}
	if _, ok := <-events; ok {
		t.Fatal("events after done")
	}
}
