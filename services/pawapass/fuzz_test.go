package pawapass

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"portal/services/upstream"
)

// FuzzVerifySignature: never panics; a signature verifies only when it is,
// prefix, case and surrounding space aside, the body's HMAC under a
// non-empty secret; and the right HMAC always verifies.
func FuzzVerifySignature(f *testing.F) {
	body := []byte(notificationBody("n-1", NotificationStatusChange, verificationJSON("v1", StatusApproved)))
	good := Sign(webhookSecret, body)
	for _, s := range []string{good, strings.ToUpper(good), "sha256=" + good, "", "sha256=", "zz", good[:10], " " + good} {
		f.Add(webhookSecret, body, s)
	}
	f.Add("", []byte{}, "")
	f.Add("k", []byte("\x00\xff"), "SHA256=00")
	f.Fuzz(func(t *testing.T, secret string, body []byte, sig string) {
		got := VerifySignature(secret, body, sig)
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		want := mac.Sum(nil)
		if got {
			s := strings.TrimSpace(sig)
			if len(s) >= 7 && strings.EqualFold(s[:7], "sha256=") {
				s = s[7:]
			}
			raw, err := hex.DecodeString(s)
			if secret == "" || err != nil || !hmac.Equal(raw, want) {
				t.Fatalf("VerifySignature(%q, %q, %q) = true for a wrong signature", secret, body, sig)
			}
		}
		right := hex.EncodeToString(want)
		for _, s := range []string{right, strings.ToUpper(right), "sha256=" + right} {
			if VerifySignature(secret, body, s) != (secret != "") {
				t.Fatalf("the right HMAC %q under secret %q: verified %v", s, secret, !(secret != ""))
			}
		}
		if secret != "" && VerifySignature(secret, append(append([]byte(nil), body...), 'x'), right) {
			t.Fatal("a longer body verified with the original signature")
		}
	})
}

// FuzzParseNotification: never panics; what it accepts has a notification
// id and a verification with an id and valid Raw; what it refuses is
// ErrInvalidNotification with a bounded text.
func FuzzParseNotification(f *testing.F) {
	f.Add([]byte(notificationBody("n-1", NotificationStatusChange, verificationJSON("v1", StatusApproved))))
	f.Add([]byte(notificationBody("n-2", NotificationIdentityDocumentChange, exampleVerification(f))))
	for _, s := range []string{
		``, `null`, `{}`, `[]`, `{"notificationId":"n"}`, `{"notificationId":"n","data":{"id":""}}`,
		`{"notificationId":"n","data":{"id":"v","createdAt":"2025-08-20T09:00:00"}}`,
		`{"notificationId":"n","createdAt":1,"data":{"id":"v"}}`,
		`{"notificationId":"n","data":{"id":"v","metadata":{"a":[{"b":null}]},"requirements":[{"options":null}]}}`,
		`{"notificationId":"\u0000","data":{"id":"\ud800"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := ParseNotification(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidNotification) || !strings.HasPrefix(err.Error(), "pawapass: invalid notification") {
				t.Fatalf("untyped error %v", err)
			}
			if len(err.Error()) > 2000 {
				t.Fatalf("error text too long: %d bytes", len(err.Error()))
			}
			return
		}
		if strings.TrimSpace(n.NotificationID) == "" || strings.TrimSpace(n.Data.ID) == "" {
			t.Fatalf("accepted %+v", n)
		}
		if !json.Valid(n.Data.Raw) || (n.Data.Metadata != nil && !json.Valid(n.Data.Metadata)) {
			t.Fatalf("Raw or Metadata is not JSON: %q / %q", n.Data.Raw, n.Data.Metadata)
		}
	})
}

// cannedAnswer answers every request with status and body, without a
// network, so a fuzz run can go through the whole client quickly.
type cannedAnswer struct {
	status int
	body   []byte
}

func (c cannedAnswer) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{Status: strconv.Itoa(c.status), StatusCode: c.status, Header: http.Header{},
		Body: io.NopCloser(strings.NewReader(string(c.body))), Request: r}, nil
}

// FuzzDecodeAnswers: the read decoders and the error mapping never panic,
// what they accept is usable, and what they refuse is typed.
func FuzzDecodeAnswers(f *testing.F) {
	f.Add([]byte(exampleVerification(f)), uint16(200))
	f.Add([]byte(`{"items":[`+verificationJSON("v1", StatusCreated)+`],"count":1}`), uint16(200))
	for _, s := range []string{
		`{"statusCode":401,"code":"UNAUTHORIZED","message":"Unauthorized"}`,
		`{"statusCode":400,"code":"VALIDATION_ERROR","message":["a",["b",{"c":1}],null,7]}`,
		`{"message":{"nested":true},"error":12}`,
		`{"code":"` + testKey + `","message":["Bearer ` + testKey + `"]}`,
		`{"items":[{"id":"v"}],"count":1e99}`, `{"id":"v","expiresAt":"0000-01-01T00:00:00Z"}`,
		`{"id":"v","createdAt":"2025-13-45T25:61:61.9999999999Z"}`, `[`, `"`,
	} {
		f.Add([]byte(s), uint16(400))
	}
	f.Fuzz(func(t *testing.T, b []byte, status uint16) {
		if v, err := decodeVerification(b); err == nil {
			if strings.TrimSpace(v.ID) == "" || !json.Valid(v.Raw) {
				t.Fatalf("accepted %+v", v)
			}
		} else if !errors.As(err, new(*upstream.MalformedError)) {
			t.Fatalf("untyped error %v", err)
		}
		if l, err := decodeList(b); err == nil {
			if l.Count < 0 || l.Items == nil {
				t.Fatalf("accepted %+v", l)
			}
			for _, v := range l.Items {
				if strings.TrimSpace(v.ID) == "" || !json.Valid(v.Raw) {
					t.Fatalf("accepted item %+v", v)
				}
			}
		}
		code := int(status)%500 + 100
		if code >= 200 && code < 300 {
			return
		}
		c := testClient("http://pawapass.invalid", func(cfg *Config) {
			cfg.HTTPClient = &http.Client{Transport: cannedAnswer{code, b}}
			cfg.Retry = upstream.Retry{Attempts: 1}
		})
		_, err := c.Get(t.Context(), "v1")
		var rej *upstream.RejectedError
		switch {
		case errors.As(err, &rej):
			if rej.Status != code || code < 400 || code >= 500 {
				t.Fatalf("%d: %v", code, err)
			}
		case errors.Is(err, upstream.ErrBadCredentials), errors.Is(err, upstream.ErrForbidden), errors.Is(err, upstream.ErrNotFound), errors.Is(err, upstream.ErrUnavailable):
		default:
			t.Fatalf("%d: untyped %v", code, err)
		}
		if s := err.Error(); !strings.HasPrefix(s, "pawapass: ") || strings.Contains(s, testKey) || len(s) > 2000 {
			t.Fatalf("%d: error text %q", code, s)
		}
		if code == http.StatusTooManyRequests && !errors.Is(err, upstream.ErrUnavailable) {
			t.Fatalf("429: %v", err)
		}
	})
}
