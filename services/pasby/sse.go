package pasby

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"portal/services/upstream"
)

// ssePath is GET /api/v2/flow/sse: "v2 only", "No v1 SSE route".
const ssePath = "/api/v2/flow/sse"

// SSE streams a flow's state from GET /api/v2/flow/sse?request=<id>. Each
// event's data: JSON is yielded as a FlowState with a nil error, until:
//   - a state is Final (it is yielded, then the sequence ends);
//   - the caller stops ranging, or ctx ends (the sequence just ends);
//   - pasby refuses the stream or says so in an event (ErrExpired,
//     ErrUnknownFlow, ErrCancelled, upstream.ErrBadCredentials,
//     *upstream.RejectedError, ...), or the stream cannot be reopened
//     (upstream.ErrUnavailable). That error is yielded, and the sequence
//     ends: every yielded error is the last item.
//
// A dropped stream, a stream silent for Config.StreamIdleTimeout, a 5xx/429,
// a network error and an event whose data cannot be read are retried; see
// the package comment. The data of an event may be the envelope
// ({"status","reason","data":{"request":…}}), the data object
// ({"request":…}) or the request object itself: the document does not say,
// all three are read. Events with a name other than "message" whose data is
// not JSON are ignored (keep-alives). SSE on a v1 client yields
// upstream.ErrInvalidRequest: there is no v1 route (use Polling or Ping).
func (c *Client) SSE(ctx context.Context, id string) iter.Seq2[FlowState, error] {
	id = strings.TrimSpace(id)
	return func(yield func(FlowState, error) bool) {
		switch {
		case c.up.ConfigErr() != nil:
			yield(FlowState{}, c.up.ConfigErr())
			return
		case id == "":
			yield(FlowState{}, vendor.InvalidRequest("flow id is empty"))
			return
		case c.version != V2:
			yield(FlowState{}, vendor.InvalidRequest("SSE has no v1 route; use Polling or Ping"))
			return
		}
		s := &sseSession{c: c, id: id}
		retry := c.up.Retry()
		failures := 0
		for {
			if ctx.Err() != nil {
				return
			}
			r := s.connect(ctx, yield)
			if r.stop {
				return
			}
			if r.gotEvents {
				failures = 0
			}
			failures++
			if failures >= retry.Tries() {
				yield(FlowState{}, vendor.Unavailable(fmt.Sprintf("event stream lost, %d attempts failed", failures), r.err))
				return
			}
			if !upstream.Sleep(ctx, reconnectDelay(retry, failures, s.retry)) {
				return
			}
		}
	}
}

// sseSession is the state kept across reconnections.
type sseSession struct {
	c      *Client
	id     string
	lastID string        // the last event ID, sent as Last-Event-ID
	retry  time.Duration // the server's retry:, 0 if none
}

// connResult is how one connection ended.
type connResult struct {
	stop      bool  // the sequence is over (yielded a final state or an error, the caller stopped, ctx ended)
	gotEvents bool  // the connection yielded at least one state
	err       error // why it dropped, when not stop
}

// connect opens one stream and reads it to its end.
func (s *sseSession) connect(ctx context.Context, yield func(FlowState, error) bool) connResult {
	c := s.c
	connCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	// One timer: first the connect timeout (until the headers arrive), then
	// the idle timeout, pushed back by every read that returns bytes.
	timer := time.AfterFunc(c.up.Timeout(), cancel)
	defer timer.Stop()

	h := http.Header{"Cache-Control": {"no-cache"}}
	if s.lastID != "" {
		h.Set("Last-Event-ID", s.lastID)
	}
	resp, err := c.long.Open(connCtx, upstream.Request{
		Method: http.MethodGet,
		Path:   ssePath,
		Query:  url.Values{"request": {s.id}},
		Header: h,
		Accept: "text/event-stream",
		Auth:   c.secretAuth,
	})
	if err != nil {
		if ctx.Err() != nil {
			return connResult{stop: true}
		}
		var se *upstream.SendError
		if errors.As(err, &se) {
			if connCtx.Err() != nil {
				return connResult{err: fmt.Errorf("no answer within %v", c.up.Timeout())}
			}
			return connResult{err: se.Cause}
		}
		yield(FlowState{}, err) // a Config error
		return connResult{stop: true}
	}
	defer resp.Body.Close()

	if resp.StatusCode == http.StatusNoContent {
		// The standard's way for a server to say "do not reconnect".
		yield(FlowState{}, vendor.Unavailable("pasby closed the event stream (HTTP 204)", nil))
		return connResult{stop: true}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 || !isEventStream(resp.Header.Get("Content-Type")) {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, upstream.DefaultMaxBody))
		if ctx.Err() != nil {
			return connResult{stop: true}
		}
		var err error
		switch {
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			// Not an event stream: an envelope saying no, or garbage.
			_, err = decodeEnvelope(resp.StatusCode, body)
			var me *upstream.MalformedError
			if err == nil || errors.As(err, &me) {
				return connResult{err: fmt.Errorf("answer is %q, not text/event-stream", upstream.CleanMessage(resp.Header.Get("Content-Type")))}
			}
		default:
			// Not an upstream.Response: the credentials are kept out here.
			err = statusError(resp.StatusCode, body, func(m string) string { return upstream.CleanMessage(m, c.key, c.secret) })
			if upstream.Retryable(resp.StatusCode) {
				return connResult{err: err}
			}
		}
		yield(FlowState{}, err)
		return connResult{stop: true}
	}

	timer.Reset(c.idle)
	rd := newSSEReader(&idleReader{r: resp.Body, timer: timer, idle: c.idle})
	var got bool
	for {
		ev, err := rd.Next()
		if r, ok := rd.Retry(); ok {
			s.retry = r
		}
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return connResult{stop: true}
			case connCtx.Err() != nil:
				err = fmt.Errorf("no data for %v", c.idle)
			case err == io.EOF:
				err = errors.New("pasby closed the event stream")
			}
			return connResult{gotEvents: got, err: err}
		}
		if validHeaderValue(ev.ID) {
			s.lastID = ev.ID
		}
		if strings.TrimSpace(ev.Data) == "" {
			continue // a keep-alive
		}
		st, err := decodeStreamData(ev.Data, s.id)
		if err != nil {
			var me *upstream.MalformedError
			if !errors.As(err, &me) {
				yield(FlowState{}, err) // pasby said no inside the stream
				return connResult{stop: true}
			}
			if ev.Type != "message" {
				continue
			}
			return connResult{gotEvents: got, err: fmt.Errorf("event: %w", err)}
		}
		got = true
		if !yield(st, nil) || st.Final() {
			return connResult{stop: true}
		}
	}
}

// reconnectDelay is the wait before reconnection number failures (1 after
// a stream that worked): the retry policy's, but never shorter than the
// server's retry: field.
func reconnectDelay(r upstream.Retry, failures int, serverRetry time.Duration) time.Duration {
	return max(r.Delay(failures), serverRetry)
}

// decodeStreamData reads one event's data (see SSE for the three shapes).
func decodeStreamData(data, id string) (FlowState, error) {
	b := []byte(data)
	var m map[string]json.RawMessage
	if err := upstream.DecodeStrict(b, &m); err != nil {
		return FlowState{}, upstream.Malformed(err)
	}
	if m == nil {
		return FlowState{}, upstream.Malformedf("event data is null")
	}
	_, hasStatus := m["status"]
	_, hasData := m["data"]
	_, hasReason := m["reason"]
	_, hasRequest := m["request"]
	switch {
	case hasStatus && (hasData || hasReason):
		return decodeFlowResponse(http.StatusOK, b, id)
	case hasRequest && isObject(m["request"]):
		return decodeFlowData(b, id)
	default:
		wrapped := append(append([]byte(`{"request":`), b...), '}')
		st, err := decodeFlowData(wrapped, id)
		if err != nil {
			return FlowState{}, err
		}
		st.Raw = json.RawMessage(data)
		return st, nil
	}
}

func isEventStream(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "text/event-stream"
}

// validHeaderValue: no control characters but tab, not too long.
func validHeaderValue(s string) bool {
	if len(s) > 1024 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; (b < ' ' && b != '\t') || b == 0x7f {
			return false
		}
	}
	return true
}

// idleReader pushes the idle timer back on every read that returns bytes.
type idleReader struct {
	r     io.Reader
	timer *time.Timer
	idle  time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.timer.Reset(r.idle)
	}
	return n, err
}
