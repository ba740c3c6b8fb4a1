package pasby

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"portal/services/upstream"
)

// The error shapes of NOTES.md ("Error codes seen"), in pasby's envelope.
// Only "Flow request with such id does not exists" is a published reason;
// the other reasons are our wording.
var errorShapes = []struct {
	name   string
	status int
	body   string
	want   error                   // a sentinel, or nil for a bare *upstream.RejectedError
	rej    *upstream.RejectedError // the refusal pasby's own sentinels and nil want carry; nil for the shared vocabulary
}{
	{"400 unknown flow", 400, errUnknown, ErrUnknownFlow,
		rejected(400, "param_error", "failed", "Flow request with such id does not exists")},
	{"404 unknown flow in envelope", 404, `{"status":"failed","reason":"Document not found"}`, ErrUnknownFlow,
		rejected(404, "", "failed", "Document not found")},
	{"400 cancelled (type)", 400, `{"status":"handled","reason":"Flow request has been handled","type":"session_cancel"}`, ErrCancelled,
		rejected(400, "session_cancel", "handled", "Flow request has been handled")},
	{"400 cancelled (reason)", 400, `{"status":"failed","reason":"Flow request was cancelled by the requester","type":"param_error"}`, ErrCancelled,
		rejected(400, "param_error", "failed", "Flow request was cancelled by the requester")},
	{"400 not a PDF", 400, `{"status":"failed","reason":"The file URL does not point to a PDF","type":"invalid_request"}`, ErrNotPDF,
		rejected(400, "invalid_request", "failed", "The file URL does not point to a PDF")},
	{"401 expired flow", 401, errExpired, ErrExpired,
		rejected(401, "session_expiry", "expiration", "Flow request has expired")},
	{"401 expired (type only)", 401, `{"status":"failed","reason":"Session over","type":"session_expiry"}`, ErrExpired,
		rejected(401, "session_expiry", "failed", "Session over")},
	{"401 another app's flow", 401, `{"status":"unauthorized","reason":"Flow request belongs to another app","type":"authorization_error"}`, upstream.ErrBadCredentials, nil},
	{"403 unauthorized", 403, `{"status":"unauthorized","reason":"Key revoked","type":"authorization_error"}`, upstream.ErrBadCredentials, nil},
	{"403 mode mismatch", 403, `{"status":"mismatch","reason":"Flow mode does not match this action","type":"invalid_request","version":"v2"}`, nil,
		rejected(403, "invalid_request", "mismatch", "Flow mode does not match this action")},
	{"428 signing without webhook", 428, `{"status":"failed","reason":"Provide a webhook to receive signing events","type":"param_error"}`, ErrMissingWebhook,
		rejected(428, "param_error", "failed", "Provide a webhook to receive signing events")},
	{"428 bare", 428, ``, ErrMissingWebhook, rejected(428, "", "", "Precondition Required")},
	{"400 webhook required (reason)", 400, `{"status":"failed","reason":"webhook is required"}`, ErrMissingWebhook,
		rejected(400, "", "failed", "webhook is required")},
	{"422 validation", 422, `{"status":"failed","reason":"to must contain at least 1 element(s)","type":"param_error"}`, nil,
		rejected(422, "param_error", "failed", "to must contain at least 1 element(s)")},
	{"400 message instead of reason", 400, `{"message":"Bad body"}`, nil, rejected(400, "", "", "Bad body")},
	{"400 not JSON", 400, `<html>Bad Request</html>`, nil, rejected(400, "", "", "Bad Request")},
	{"404 bare (wrong base URL)", 404, `404 page not found`, nil, rejected(404, "", "", "Not Found")},
	{"200 expiration", 200, errExpired, ErrExpired, rejected(200, "session_expiry", "expiration", "Flow request has expired")},
	{"200 failed", 200, `{"status":"failed","reason":"Something","version":"v2"}`, nil, rejected(200, "", "failed", "Something")},
	{"201 unknown flow", 201, `{"status":"failed","reason":"Flow request with such id does not exists"}`, ErrUnknownFlow,
		rejected(201, "", "failed", "Flow request with such id does not exists")},
	{"400 reason as object", 400, `{"status":"failed","reason":{"issues":[{"path":["flow"],"message":"min 40"}]},"type":"param_error"}`, nil,
		rejected(400, "param_error", "failed", `{"issues":[{"path":["flow"],"message":"min 40"}]}`)},
}

func rejected(status int, code, upStatus, msg string) *upstream.RejectedError {
	return &upstream.RejectedError{Vendor: "pasby", Status: status, Code: code, UpstreamStatus: upStatus, Message: msg}
}

var allSentinels = []error{ErrExpired, ErrUnknownFlow, ErrCancelled, ErrNotPDF, ErrMissingWebhook,
	upstream.ErrBadCredentials, upstream.ErrForbidden, upstream.ErrNotFound, upstream.ErrUnavailable, upstream.ErrInvalidRequest, upstream.ErrNotSent}

func TestErrorShapes(t *testing.T) {
	for _, tc := range errorShapes {
		for _, which := range []string{"ping", "refresh", "signing", "review", "cancel"} {
			t.Run(tc.name+"/"+which, func(t *testing.T) {
				u := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { writeJSON(w, tc.status, tc.body) })
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
				if upstream.IsUnknown(err) {
					t.Fatalf("err = %v: a refusal is not an unknown outcome", err)
				}
				if tc.want != nil && !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
				for _, k := range allSentinels {
					if k != tc.want && errors.Is(err, k) {
						t.Errorf("err = %v also matches %v", err, k)
					}
				}
				// pasby's own refusals carry what pasby said, as a bare
				// refusal does; the shared vocabulary's do not.
				var rej *upstream.RejectedError
				switch {
				case tc.rej == nil && errors.As(err, &rej):
					t.Errorf("err = %v is also a RejectedError", err)
				case tc.rej != nil && !errors.As(err, &rej):
					t.Fatalf("err = %v, want a *RejectedError too", err)
				case tc.rej != nil && *rej != *tc.rej:
					t.Errorf("rejected = %+v, want %+v", *rej, *tc.rej)
				}
				if n := u.apiReqs.Load(); n != 1 {
					t.Errorf("requests = %d, want 1 (a refusal is not retried)", n)
				}
			})
		}
	}
}

func TestRateLimitIsUnavailable(t *testing.T) {
	u := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		writeJSON(w, 429, `{"status":"failed","reason":"Too many requests"}`)
	})
	c := fastClient(u.URL, 5*time.Second)
	_, err := c.Ping(context.Background(), "req_1")
	if !errors.Is(err, upstream.ErrUnavailable) || u.apiReqs.Load() != 3 {
		t.Fatalf("ping: err = %v after %d requests, want upstream.ErrUnavailable after 3", err, u.apiReqs.Load())
	}
	_, err = c.Signing(context.Background(), sampleSigning())
	if !errors.Is(err, upstream.ErrUnavailable) || upstream.IsUnknown(err) || u.apiReqs.Load() != 4 {
		t.Fatalf("signing: err = %v after %d requests, want upstream.ErrUnavailable after 1 more", err, u.apiReqs.Load())
	}
}

func TestErrorTexts(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{classify(403, "mismatch", "Flow mode does not match", "invalid_request"),
			"pasby: rejected: HTTP 403 Forbidden (mismatch, invalid_request): Flow mode does not match"},
		{classify(400, "", "", ""), "pasby: rejected: HTTP 400 Bad Request: Bad Request"},
		{classify(401, "expiration", "Flow request has expired", "session_expiry"),
			"pasby: flow expired: pasby: rejected: HTTP 401 Unauthorized (expiration, session_expiry): Flow request has expired"},
		{classify(401, "unauthorized", "Invalid key", "authorization_error"), "pasby: bad credentials: HTTP 401 Unauthorized: Invalid key"},
		{statusError(503, []byte(`{"status":"failed","reason":"maintenance"}`), clean), "pasby: unavailable: HTTP 503 Service Unavailable: maintenance"},
		{checkFileAndHook(&FileInput{URL: "u", Title: "t"}, &Webhook{}),
			"pasby: invalid request (request not sent): webhook.host and webhook.reference are required"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

func clean(s string) string { return upstream.CleanMessage(s) }
