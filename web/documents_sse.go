package web

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"portal/models"
	"portal/templates"
)

// sseInterval is how often the stream looks at the database; like the polled
// fragment it never calls pasby, so a hundred open pages cost pasby nothing.
const sseInterval = 2 * time.Second

// documentEvents streams the document's status fragment as server-sent
// events: one "status" event whenever the rendered fragment changes, and a
// final "done" event once the document is final, after which the stream
// ends. It is the push alternative to polling /documents/:id/status.
func (s *Server) documentEvents(c *gin.Context) {
	id, ok := s.idParam(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	render := func() (string, bool, error) {
		// Only the document and its signees: the stream re-reads every 2 s
		// and the fragment needs nothing else (no timeline, no audit).
		doc, err := s.deps.Documents.Get(ctx, id)
		if err != nil {
			return "", false, err
		}
		signees, err := s.deps.Documents.Signees(ctx, id)
		if err != nil {
			return "", false, err
		}
		view := documentView(doc, signees)
		var buf bytes.Buffer
		if err := templates.DocumentStatus(view, s.canRevealNINs(c)).Render(ctx, &buf); err != nil {
			return "", false, err
		}
		return buf.String(), view.Final, nil
	}
	html, final, err := render()
	if errors.Is(err, models.ErrNotFound) {
		s.notFound(c)
		return
	}
	if err != nil {
		s.serverError(c, err)
		return
	}
	w := c.Writer
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(event, data string) bool {
		var b strings.Builder
		fmt.Fprintf(&b, "event: %s\n", event)
		for _, line := range strings.Split(data, "\n") {
			fmt.Fprintf(&b, "data: %s\n", line)
		}
		b.WriteString("\n")
		if _, err := w.WriteString(b.String()); err != nil {
			return false
		}
		w.Flush()
		return true
	}
	if !send("status", html) {
		return
	}
	last := html
	tick := time.NewTicker(sseInterval)
	defer tick.Stop()
	for !final {
		select {
		case <-ctx.Done():
			return
		case <-s.streamsDone:
			return
		case <-tick.C:
		}
		html, final, err = render()
		if err != nil {
			s.deps.Logger.WarnContext(ctx, "document events", "request_id", RequestID(ctx), "document_id", id, "err", err)
			return
		}
		if html == last {
			// A comment keeps proxies from closing an idle stream.
			if _, err := w.WriteString(": keep-alive\n\n"); err != nil {
				return
			}
			w.Flush()
			continue
		}
		if !send("status", html) {
			return
		}
		last = html
	}
	send("done", "final")
}
