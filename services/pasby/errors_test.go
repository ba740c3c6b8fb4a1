package pasby

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The error shapes of NOTES.md ("Error codes seen"), in pasby's envelope.
// Only "Flow request with such id does not exists" is a published reason;
// the other reasons are our wording.
var errorShapes = []struct {
	name   string
	status int
	body   string
	want   error          // a sentinel, or nil for *RejectedError
	rej    *RejectedError // when want is nil
}{
	{"400 unknown flow", 400, errUnknown, ErrUnknownFlow, nil},
	{"404 unknown flow in envelope", 404, `{"status":"failed","reason":"Document not found"}`, ErrUnknownFlow, nil},
	{"400 cancelled (type)", 400, `{"status":"handled","reason":"Flow request has been handled","type":"session_cancel"}`, ErrCancelled, nil},
	{"400 cancelled (reason)", 400, `{"status":"failed","reason":"Flow request was cancelled by the requester","type":"param_error"}`, ErrCancelled, nil},
	{"400 not a PDF", 400, `{"status":"failed","reason":"The file URL does not point to a PDF","type":"invalid_request"}`, ErrNotPDF, nil},
	{"401 expired flow", 401, errExpired, ErrExpired, nil},
	{"401 expired (type only)", 401, `{"status":"failed","reason":"Session over","type":"session_expiry"}`, ErrExpired, nil},
	{"401 another app's flow", 401, `{"status":"unauthorized","reason":"Flow request belongs to another app","type":"authorization_error"}`, ErrUnauthorized, nil},
	{"403 unauthorized", 403, `{"status":"unauthorized","reason":"Key revoked","type":"authorization_error"}`, ErrUnauthorized, nil},
	{"403 mode mismatch", 403, `{"status":"mismatch","reason":"Flow mode does not match this action","type":"invalid_request","version":"v2"}`, nil,
		&RejectedError{Status: 403, Reason: "Flow mode does not match this action", Type: "invalid_request", UpstreamStatus: "mismatch"}},
	{"428 signing without webhook", 428, `{"status":"failed","reason":"Provide a webhook to receive signing events","type":"param_error"}`, ErrMissingWebhook, nil},
	{"428 bare", 428, ``, ErrMissingWebhook, nil},
	{"400 webhook required (reason)", 400, `{"status":"failed","reason":"webhook is required"}`, ErrMissingWebhook, nil},
	{"422 validation", 422, `{"status":"failed","reason":"to must contain at least 1 element(s)","type":"param_error"}`, nil,
		&RejectedError{Status: 422, Reason: "to must contain at least 1 element(s)", Type: "param_error", UpstreamStatus: "failed"}},
	{"400 message instead of reason", 400, `{"message":"Bad body"}`, nil, &RejectedError{Status: 400, Reason: "Bad body"}},
	{"400 not JSON", 400, `<html>Bad Request</html>`, nil, &RejectedError{Status: 400, Reason: "Bad Request"}},
	{"404 bare (wrong base URL)", 404, `404 page not found`, nil, &RejectedError{Status: 404, Reason: "Not Found"}},
	{"200 expiration", 200, errExpired, ErrExpired, nil},
	{"200 failed", 200, `{"status":"failed","reason":"Something","version":"v2"}`, nil,
		&RejectedError{Status: 200, Reason: "Something", UpstreamStatus: "failed"}},
	{"201 unknown flow", 201, `{"status":"failed","reason":"Flow request with such id does not exists"}`, ErrUnknownFlow, nil},
	{"400 reason as object", 400, `{"status":"failed","reason":{"issues":[{"path":["flow"],"message":"min 40"}]},"type":"param_error"}`, nil,
		&RejectedError{Status: 400, Reason: `{"issues":[{"path":["flow"],"message":"min 40"}]}`, Type: "param_error", UpstreamStatus: "failed"}},
}

var allSentinels = []error{ErrExpired, ErrUnknownFlow, ErrCancelled, ErrNotPDF, ErrMissingWebhook, ErrUnauthorized, ErrUnavailable, ErrInvalidRequest, ErrNotSent}

func TestErrorShapes(t *testing.T) {
	for _, tc := range errorShapes {
		for _, which := range []string{"ping", "refresh", "signing", "review", "cancel"} {
			t.Run(tc.name+"/"+which, func(t *testing.T) {
				u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { writeJSON(w, tc.status, tc.body) })
				c := fastClient(u.URL, 5*time.Second)
				ctx := context.Background()
				var err error
				switch which {
				case "ping":
					_, err = c.Ping(ctx, "req_1")
				case "refresh":
					_, err = c.Refresh(ctx, docID40())
				case "signing":
					_, err = c.Signing(ctx, sampleSigning())
				case "review":
					_, err = c.Review(ctx, sampleReview())
				case "cancel":
					_, err = c.Cancel(ctx, "req_1")
				}
				checkErrText(t, err)
				if isUnknown(err) {
					t.Fatalf("err = %v: a refusal is not an unknown outcome", err)
				}
				var rej *RejectedError
				if tc.want != nil {
					if !errors.Is(err, tc.want) {
						t.Fatalf("err = %v, want %v", err, tc.want)
					}
					for _, k := range allSentinels {
						if k != tc.want && errors.Is(err, k) {
							t.Errorf("err = %v also matches %v", err, k)
						}
					}
					if errors.As(err, &rej) {
						t.Errorf("err = %v is also a RejectedError", err)
					}
				} else {
					if !errors.As(err, &rej) {
						t.Fatalf("err = %v, want *RejectedError", err)
					}
					if *rej != *tc.rej {
						t.Errorf("rejected = %+v, want %+v", *rej, *tc.rej)
					}
					for _, k := range allSentinels {
						if errors.Is(err, k) {
							t.Errorf("err = %v matches %v", err, k)
						}
					}
				}
				if n := u.apiReqs.Load(); n != 1 {
					t.Errorf("requests = %d, want 1 (a refusal is not retried)", n)
				}
			})
		}
	}
}

func TestRateLimitIsUnavailable(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		writeJSON(w, 429, `{"status":"failed","reason":"Too many requests"}`)
	})
	c := fastClient(u.URL, 5*time.Second)
	_, err := c.Ping(context.Background(), "req_1")
	if !errors.Is(err, ErrUnavailable) || u.apiReqs.Load() != 3 {
		t.Fatalf("ping: err = %v after %d requests, want ErrUnavailable after 3", err, u.apiReqs.Load())
	}
	_, err = c.Signing(context.Background(), sampleSigning())
	if !errors.Is(err, ErrUnavailable) || isUnknown(err) || u.apiReqs.Load() != 4 {
		t.Fatalf("signing: err = %v after %d requests, want ErrUnavailable after 1 more", err, u.apiReqs.Load())
	}
}

func TestErrorTexts(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&RejectedError{Status: 403, Reason: "Flow mode does not match", Type: "invalid_request", UpstreamStatus: "mismatch"},
			"pasby: rejected: HTTP 403 (mismatch, invalid_request): Flow mode does not match"},
		{&RejectedError{Status: 400, Reason: "Bad Request"}, "pasby: rejected: HTTP 400: Bad Request"},
		{&RejectedError{Status: 422, Type: "param_error"}, "pasby: rejected: HTTP 422 (param_error)"},
		{classify(401, "expiration", "Flow request has expired", "session_expiry"), "pasby: flow expired: HTTP 401 Unauthorized: Flow request has expired"},
		{notSent("could not connect", errors.New("refused")), "pasby: unavailable (request not sent): could not connect: refused"},
		{invalidRequest("flow id is empty"), "pasby: invalid request: flow id is empty"},
		{&OutcomeUnknownError{}, "pasby: outcome unknown"},
		{unknownOutcome("HTTP 504", nil), "pasby: outcome unknown: HTTP 504"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
	for _, s := range allSentinels {
		if !strings.HasPrefix(s.Error(), "pasby: ") {
			t.Errorf("%q", s)
		}
	}
	u := &OutcomeUnknownError{Err: fmt.Errorf("x: %w", context.DeadlineExceeded)}
	if !errors.Is(u, context.DeadlineExceeded) {
		t.Error("OutcomeUnknownError does not unwrap")
	}
}
