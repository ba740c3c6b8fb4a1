package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestErrorVocabulary(t *testing.T) {
	own := errors.New("flow expired")
	tests := []struct {
		name    string
		err     error
		text    string
		matches []error
		not     []error
	}{
		{"not sent", vendor.NotSent("could not connect", errors.New("refused")),
			"acme: unavailable (request not sent): could not connect: refused",
			[]error{ErrUnavailable, ErrNotSent}, []error{ErrNotFound}},
		{"unavailable", vendor.Unavailable("HTTP 503", nil), "acme: unavailable: HTTP 503",
			[]error{ErrUnavailable}, []error{ErrNotSent}},
		{"invalid request is never sent", vendor.InvalidRequest("no key"), "acme: invalid request (request not sent): no key",
			[]error{ErrInvalidRequest, ErrNotSent}, []error{ErrUnavailable}},
		{"vendor kind", vendor.Kind("HTTP 401", nil, own), "acme: flow expired: HTTP 401",
			[]error{own}, []error{ErrBadCredentials}},
		{"prefixed", Prefix("token", vendor.NotFound("HTTP 404")), "acme: not found: token: HTTP 404",
			[]error{ErrNotFound}, nil},
		{"unknown hides what it wraps", vendor.Unknown("recharge", "HTTP 200", vendor.Unavailable("x", context.DeadlineExceeded)),
			"acme: recharge outcome unknown: HTTP 200: acme: unavailable: x: context deadline exceeded",
			nil, []error{ErrUnavailable, context.DeadlineExceeded}},
		{"unknown keeps a plain cause", vendor.Unknown("recharge", "sent", context.DeadlineExceeded),
			"acme: recharge outcome unknown: sent: context deadline exceeded",
			[]error{context.DeadlineExceeded}, []error{ErrUnavailable}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err.Error() != tt.text {
				t.Errorf("text\n got %q\nwant %q", tt.err, tt.text)
			}
			for _, k := range tt.matches {
				if !errors.Is(tt.err, k) {
					t.Errorf("does not match %v", k)
				}
			}
			for _, k := range tt.not {
				if errors.Is(tt.err, k) {
					t.Errorf("matches %v", k)
				}
			}
		})
	}
}

func TestPrefixKeepsOtherErrors(t *testing.T) {
	rej := vendor.Rejected(400, "", "bad")
	if got := Prefix("x", rej); got != error(rej) {
		t.Fatalf("Prefix changed a rejection: %v", got)
	}
}

func TestCleanMessage(t *testing.T) {
	long := strings.Repeat("é", MaxMessageRunes+10)
	tests := []struct{ in, want string }{
		{"  fine  ", "fine"},
		{"line\nbreak\ttab", "line break tab"},
		{"key sk-1 echoed", "key [redacted] echoed"},
		{"bad \xff byte", "bad \uFFFD byte"},
		{long, strings.Repeat("é", MaxMessageRunes) + "…"},
	}
	for _, tt := range tests {
		if got := CleanMessage(tt.in, "sk-1", ""); got != tt.want {
			t.Errorf("CleanMessage(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRetryDelay(t *testing.T) {
	exact := Retry{Base: 100 * time.Millisecond, Max: time.Second}
	for attempt, want := range map[int]time.Duration{0: 100 * time.Millisecond, 1: 100 * time.Millisecond,
		2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 500: time.Second} {
		if got := exact.Delay(attempt); got != want {
			t.Errorf("Delay(%d) = %v, want %v", attempt, got, want)
		}
	}
	jittered := Retry{Base: time.Second, Max: time.Minute, Jitter: 0.2}
	seen := map[time.Duration]bool{}
	for range 200 {
		d := jittered.Delay(2)
		if d < 1600*time.Millisecond || d > 2400*time.Millisecond {
			t.Fatalf("Delay(2) = %v, outside ±20 %% of 2s", d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Errorf("only %d distinct delays: no jitter", len(seen))
	}
	if (Retry{}).Delay(3) != 0 || (Retry{}).Tries() != 1 || (Retry{}).OrDefault() != DefaultRetry {
		t.Error("zero Retry")
	}
}

func TestSleep(t *testing.T) {
	if !Sleep(context.Background(), time.Millisecond) {
		t.Error("a short sleep failed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	start := time.Now()
	if Sleep(ctx, time.Hour) || time.Since(start) > time.Second {
		t.Error("a sleep past the deadline was started")
	}
}

func TestDecodeStrict(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{`{"a":1}`, true},
		{` {"a":1} `, true},
		{`{"a":1}{"a":2}`, false},
		{`{"a":1} x`, false},
		{`{"a":`, false},
		{``, false},
	}
	for _, tt := range tests {
		var v map[string]any
		if err := DecodeStrict([]byte(tt.in), &v); (err == nil) != tt.ok {
			t.Errorf("DecodeStrict(%q) = %v", tt.in, err)
		}
	}
}

func FuzzDecodeStrict(f *testing.F) {
	for _, s := range []string{`{}`, `[1,2]`, `{"a":1} 2`, `"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var v any
		if DecodeStrict(b, &v) == nil {
			var again any
			if err := DecodeStrict(b, &again); err != nil {
				t.Fatalf("not repeatable: %v", err)
			}
		}
	})
}

func TestRejectedReasonIsNeverEmpty(t *testing.T) {
	v := Vendor("acme")
	cases := []struct {
		err  *RejectedError
		want string
	}{
		{v.Rejected(400, "bad_amount", "amount too large"), "amount too large"},
		{v.Rejected(409, "duplicate", ""), "duplicate"},
		{v.Rejected(422, "", ""), "HTTP 422 Unprocessable Entity"},
	}
	for _, c := range cases {
		if got := c.err.Reason(); got != c.want {
			t.Errorf("%+v: reason %q, want %q", c.err, got, c.want)
		}
	}
}

func TestMalformedSaysWhatTheAnswerHad(t *testing.T) {
	var v struct{ ID int }
	typeErr := json.Unmarshal([]byte(`{"ID":"x"}`), &v)
	syntaxErr := json.Unmarshal([]byte(`{`), &v)
	cases := []struct {
		err  error
		want string
	}{
		{Malformed(typeErr), `malformed answer: "ID" is a JSON string`},
		{Malformed(syntaxErr), "malformed answer: not JSON (offset 1)"},
		{Malformedf("data.%s has no id", "doc"), "malformed answer: data.doc has no id"},
	}
	for _, c := range cases {
		if c.err.Error() != c.want {
			t.Errorf("%q, want %q", c.err.Error(), c.want)
		}
	}
	var me *MalformedError
	if !errors.As(Malformed(typeErr), &me) || !errors.Is(me, typeErr) {
		t.Error("MalformedError does not unwrap to its cause")
	}
}

func TestJSONText(t *testing.T) {
	for raw, want := range map[string]string{`"hi"`: "hi", ` null `: "", ``: "", `{"a":1}`: `{"a":1}`, `42`: "42"} {
		if got := JSONText(json.RawMessage(raw)); got != want {
			t.Errorf("JSONText(%q) = %q, want %q", raw, got, want)
		}
	}
}
