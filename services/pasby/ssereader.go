package pasby

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"time"
)

// A hand-written reader of text/event-stream, following the WHATWG HTML
// standard, "Server-sent events", section "Interpreting an event stream":
//
//   - The stream is UTF-8; one leading BOM is dropped; invalid bytes become
//     U+FFFD.
//   - Lines end with CRLF, LF or CR (a CR at the end of one read and an LF
//     at the start of the next are one line ending).
//   - A blank line dispatches the event being built: its data lines joined
//     with "\n" (the final "\n" removed), its type (default "message"), and
//     the last event ID. An event with no data line is not dispatched, but
//     still resets the type.
//   - A line starting with ":" is a comment.
//   - "field:value" (one space after the colon is dropped) or "field" alone
//     (empty value). Fields: "data" appends, "event" sets the type, "id"
//     sets the last event ID (unless the value contains NUL) and persists
//     across events, "retry" sets the reconnection time if it is all ASCII
//     digits. Other fields are ignored.
//   - At the end of the stream an event without its blank line is dropped.
//
// Limits, ours: a line longer than maxSSELine, or an event whose data grows
// past maxSSEData, is an error (the stream is then dropped and reopened).

const (
	maxSSELine = 1 << 20
	maxSSEData = 1 << 20
)

// errSSETooLarge is a line or event past the limits above.
var errSSETooLarge = errors.New("event stream line or event too large")

// sseEvent is one dispatched event.
type sseEvent struct {
	Type string // "message" unless an event: field said otherwise
	Data string
	ID   string // the last event ID at dispatch
}

// sseReader reads events from a text/event-stream body.
type sseReader struct {
	r       *bufio.Reader
	started bool // the BOM check is done
	skipLF  bool // the previous line ended with CR: a leading LF belongs to it

	data    strings.Builder
	hasData bool
	typ     string
	lastID  string

	retry    time.Duration
	hasRetry bool

	tooLarge bool // an event's data grew past maxSSEData
}

func newSSEReader(r io.Reader) *sseReader {
	return &sseReader{r: bufio.NewReaderSize(r, 4096)}
}

// Retry returns the last reconnection time the stream asked for.
func (s *sseReader) Retry() (time.Duration, bool) { return s.retry, s.hasRetry }

// Next returns the next event. At the end of the stream it returns io.EOF
// (a pending, undispatched event is dropped); other errors are the body's
// read errors or errSSETooLarge.
func (s *sseReader) Next() (sseEvent, error) {
	for {
		line, err := s.readLine()
		if err != nil {
			return sseEvent{}, err
		}
		ev, ok := s.processLine(line)
		if s.tooLarge {
			return sseEvent{}, errSSETooLarge
		}
		if ok {
			return ev, nil
		}
	}
}

// readLine returns one line without its ending. A last line without an
// ending is not a line: the stream ended inside it, and io.EOF is returned.
func (s *sseReader) readLine() (string, error) {
	if !s.started {
		s.started = true
		if b, err := s.r.Peek(3); err == nil && bytes.Equal(b, []byte("\xEF\xBB\xBF")) {
			s.r.Discard(3)
		}
	}
	var line []byte
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			return "", err
		}
		if s.skipLF {
			s.skipLF = false
			if c == '\n' {
				continue
			}
		}
		switch c {
		case '\n':
			return decodeUTF8(line), nil
		case '\r':
			s.skipLF = true
			return decodeUTF8(line), nil
		}
		if len(line) >= maxSSELine {
			return "", errSSETooLarge
		}
		line = append(line, c)
	}
}

func decodeUTF8(b []byte) string {
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// processLine applies one line; ok is true when it dispatched an event.
func (s *sseReader) processLine(line string) (sseEvent, bool) {
	if line == "" {
		return s.dispatch()
	}
	if line[0] == ':' {
		return sseEvent{}, false
	}
	field, value := line, ""
	if i := strings.IndexByte(line, ':'); i >= 0 {
		field, value = line[:i], line[i+1:]
		value = strings.TrimPrefix(value, " ")
	}
	switch field {
	case "data":
		if s.data.Len()+len(value)+1 > maxSSEData {
			s.data.Reset()
			s.hasData = false
			s.tooLarge = true
			return sseEvent{}, false
		}
		s.data.WriteString(value)
		s.data.WriteByte('\n')
		s.hasData = true
	case "event":
		s.typ = value
	case "id":
		if !strings.ContainsRune(value, 0) {
			s.lastID = value
		}
	case "retry":
		if ms, ok := asciiDigits(value); ok {
			s.retry = time.Duration(ms) * time.Millisecond
			s.hasRetry = true
		}
	}
	return sseEvent{}, false
}

func (s *sseReader) dispatch() (sseEvent, bool) {
	typ := s.typ
	s.typ = ""
	if !s.hasData {
		s.data.Reset()
		return sseEvent{}, false
	}
	data := strings.TrimSuffix(s.data.String(), "\n")
	s.data.Reset()
	s.hasData = false
	if typ == "" {
		typ = "message"
	}
	return sseEvent{Type: typ, Data: data, ID: s.lastID}, true
}

// asciiDigits parses a non-empty run of ASCII digits as milliseconds,
// capped so the duration cannot overflow.
func asciiDigits(v string) (int64, bool) {
	if v == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < 1<<40 {
			n = n*10 + int64(c-'0')
		}
	}
	if n > 1<<40 {
		n = 1 << 40
	}
	return n, true
}
