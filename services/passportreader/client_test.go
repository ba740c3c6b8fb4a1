package passportreader

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"portal/services/upstream"
)

// Images in test sessions: any bytes do, these look like a JPEG and a PNG.
var (
	portraitBytes = []byte("\xff\xd8\xff\xe0portrait-jpeg")
	faceBytes     = []byte("\x89PNG\r\n\x1a\nface-png")
)

// sessionWith is a full session.get answer with the given id text, in the
// shapes NOTES.md gives ([3p]); the values are the tests' own.
func sessionWith(id string) string {
	return `{"id":` + id + `,"created":"2024-01-27T10:11:12Z","expires":"2024-01-28T10:11:12Z","state":"APPROVED",` +
		`"reference":"ref-7f3a","user_ip":"203.0.113.7","user_agent":"PassportReader/2.1 (iPhone)",` +
		`"given_names":"ANNA MARIA","surname":"ERIKSSON","nationality":"SE","sex":"FEMALE","date_of_birth":"1974-08-12",` +
		`"personal_number":"19740812-1234","document_type":"PASSPORT","document_number":"L898902C3","expiry_date":"2032-04-15",` +
		`"issuing_country":"SE","issuer":"Polismyndigheten",` +
		`"portrait":"` + base64.StdEncoding.EncodeToString(portraitBytes) + `","face":"` + base64.StdEncoding.EncodeToString(faceBytes) + `"}`
}

// idText is the request's id exactly as sent.
func idText(t *testing.T, body []byte) string {
	t.Helper()
	m := jsonLeaves(t, body)
	n, ok := m["id"].(json.Number)
	if !ok {
		t.Errorf("request %s has no numeric id", body)
		return "0"
	}
	return n.String()
}

// cannedAPI answers every documented method with a plausible success.
func cannedAPI(t *testing.T) func(w http.ResponseWriter, r *http.Request, body []byte) {
	return func(w http.ResponseWriter, r *http.Request, body []byte) {
		switch r.URL.Path {
		case "/api/v1/session.create":
			writeJSON(w, 200, `{"id":123,"token":"tok-abc_123"}`)
		case "/api/v1/session.get":
			writeJSON(w, 200, sessionWith(idText(t, body)))
		case "/api/v1/session.state":
			writeJSON(w, 200, `{"state":"APPROVED"}`)
		default:
			writeJSON(w, 404, `{"error_message":"no such method","error_name":"MethodNotFound"}`)
		}
	}
}

// endpoint is one client call, for tables over all of them.
type endpoint struct {
	name   string
	path   string
	body   string // the expected request body
	create bool
	call   func(ctx context.Context, c *Client) error
}

func endpoints() []endpoint {
	return []endpoint{
		{"create", "/api/v1/session.create", `{}`, true, func(ctx context.Context, c *Client) error {
			_, err := c.CreateSession(ctx, CreateSessionRequest{})
			return err
		}},
		{"get", "/api/v1/session.get", `{"id":123}`, false, func(ctx context.Context, c *Client) error {
			_, err := c.GetSession(ctx, 123)
			return err
		}},
		{"state", "/api/v1/session.state", `{"id":123}`, false, func(ctx context.Context, c *Client) error {
			_, err := c.SessionState(ctx, 123)
			return err
		}},
	}
}

func readEndpoints() []endpoint {
	var out []endpoint
	for _, ep := range endpoints() {
		if !ep.create {
			out = append(out, ep)
		}
	}
	return out
}

func TestRequestShape(t *testing.T) {
	for _, ep := range endpoints() {
		t.Run(ep.name, func(t *testing.T) {
			u := newUpstream(t, cannedAPI(t))
			if err := ep.call(context.Background(), fastClient(u.URL)); err != nil {
				t.Fatal(err)
			}
			req := u.last()
			if req.Method != http.MethodPost || req.Path != ep.path || req.RawQuery != "" {
				t.Errorf("request = %s %s?%s, want POST %s", req.Method, req.Path, req.RawQuery, ep.path)
			}
			if got := req.Header.Get("Authorization"); got != testBasic {
				t.Errorf("Authorization = %q, want %q", got, testBasic)
			}
			if got := req.Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q", got)
			}
			if got := req.Header.Get("Accept"); got != "application/json" {
				t.Errorf("Accept = %q", got)
			}
			if !bytes.Equal(req.Body, []byte(ep.body)) {
				t.Errorf("body = %s, want %s", req.Body, ep.body)
			}
			if n := u.reqs.Load(); n != 1 {
				t.Errorf("requests = %d, want 1", n)
			}
		})
	}
}

func TestCreateSessionBody(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  CreateSessionRequest
		want string
	}{
		{"nothing", CreateSessionRequest{}, `{}`},
		{"everything", CreateSessionRequest{CallbackURL: "https://portal.example/hooks/pr/s3cr3t?x=1", FaceVerification: ptr(true), Reference: "ref-1", PassportOnly: ptr(true)},
			`{"callback_url":"https://portal.example/hooks/pr/s3cr3t?x=1","face_verification":true,"reference":"ref-1","passport_only":true}`},
		{"false is sent", CreateSessionRequest{FaceVerification: ptr(false), PassportOnly: ptr(false)},
			`{"face_verification":false,"passport_only":false}`},
		{"reference only", CreateSessionRequest{Reference: "ünïcode & <html>"}, `{"reference":"ünïcode & <html>"}`},
		{"callback only", CreateSessionRequest{CallbackURL: "http://127.0.0.1:8080/cb"}, `{"callback_url":"http://127.0.0.1:8080/cb"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newUpstream(t, cannedAPI(t))
			got, err := fastClient(u.URL).CreateSession(context.Background(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if got != (CreatedSession{ID: 123, Token: "tok-abc_123"}) {
				t.Errorf("created = %+v", got)
			}
			assertSameJSON(t, u.last().Body, []byte(tc.want))
		})
	}
}

func TestBaseURLForms(t *testing.T) {
	u := newUpstream(t, cannedAPI(t))
	prefixed := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if r.URL.Path != "/sandbox/passportreader/api/v1/session.state" {
			writeJSON(w, 404, `{"error_message":"wrong path","error_name":"NoRoute"}`)
			return
		}
		writeJSON(w, 200, `{"state":"CREATED"}`)
	})
	for _, tc := range []struct {
		base, root string
	}{
		{u.URL, u.URL},
		{u.URL + "/", u.URL},
		{u.URL + "/api", u.URL},
		{u.URL + "/api/", u.URL},
		{u.URL + "/api/v1", u.URL},
		{u.URL + "/api/v1/", u.URL},
		{"  " + u.URL + "/API/V1 ", u.URL},
		{prefixed.URL + "/sandbox/passportreader", prefixed.URL + "/sandbox/passportreader"},
		{prefixed.URL + "/sandbox/passportreader/", prefixed.URL + "/sandbox/passportreader"},
		{prefixed.URL + "/sandbox/passportreader/api/v1", prefixed.URL + "/sandbox/passportreader"},
	} {
		t.Run(tc.base, func(t *testing.T) {
			c := fastClient(tc.base)
			if _, err := c.SessionState(context.Background(), 123); err != nil {
				t.Fatal(err)
			}
			if got, want := c.OpenURL("t", ""), tc.root+"/open?token=t"; got != want {
				t.Errorf("OpenURL = %q, want %q", got, want)
			}
		})
	}
}

func TestLargeIDsRoundTrip(t *testing.T) {
	for _, id := range []int64{1<<53 + 1, math.MaxInt64, 1<<62 + 7} {
		t.Run(fmt.Sprint(id), func(t *testing.T) {
			text := fmt.Sprint(id)
			var seen sync.Map
			u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
				switch r.URL.Path {
				case "/api/v1/session.create":
					writeJSON(w, 200, `{"id":`+text+`,"token":"tok"}`)
				case "/api/v1/session.get":
					seen.Store("get", idText(t, body))
					writeJSON(w, 200, sessionWith(idText(t, body)))
				case "/api/v1/session.state":
					seen.Store("state", idText(t, body))
					writeJSON(w, 200, `{"state":"INITIATED"}`)
				}
			})
			c := fastClient(u.URL)
			ctx := context.Background()
			created, err := c.CreateSession(ctx, CreateSessionRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if created.ID != id {
				t.Fatalf("created id = %d, want %d", created.ID, id)
			}
			s, err := c.GetSession(ctx, created.ID)
			if err != nil {
				t.Fatal(err)
			}
			if s.ID != id {
				t.Errorf("session id = %d, want %d", s.ID, id)
			}
			if _, err := c.SessionState(ctx, created.ID); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"get", "state"} {
				if got, _ := seen.Load(k); got != text {
					t.Errorf("%s sent id %v, want %s", k, got, text)
				}
			}
		})
	}
}

var allSentinels = []error{upstream.ErrBadCredentials, upstream.ErrForbidden, upstream.ErrNotFound, upstream.ErrUnavailable, upstream.ErrNotSent, upstream.ErrInvalidRequest}

// checkSentinels asserts err matches exactly the sentinels in want.
func checkSentinels(t *testing.T, err error, want ...error) {
	t.Helper()
	for _, s := range allSentinels {
		wanted := false
		for _, w := range want {
			wanted = wanted || w == s
		}
		if got := errors.Is(err, s); got != wanted {
			t.Errorf("errors.Is(%v, %v) = %v, want %v", err, s, got, wanted)
		}
	}
}

func TestErrorMapping(t *testing.T) {
	notFound := string(readTestdata(t, "error_response.json"))
	var (
		unavailable = []error{upstream.ErrUnavailable}
		found       = []error{upstream.ErrNotFound}
	)
	for _, tc := range []struct {
		name     string
		status   int
		body     string
		want     []error
		rejected bool   // a *upstream.RejectedError with these:
		code     string // error_name
		msg      string // error_message
		text     string // in the error text
		readRetr bool   // a read retries it
	}{
		{"404 SessionNotFound", 404, notFound, found, false, "", "", "SessionNotFound: No session found with id: 123", false},
		{"400 SessionNotFound", 400, notFound, found, false, "", "", "SessionNotFound: No session found with id: 123", false},
		{"500 SessionNotFound", 500, notFound, []error{upstream.ErrNotFound, upstream.ErrUnavailable}, false, "", "", "HTTP 500 Internal Server Error: SessionNotFound: No session found with id: 123", true},
		{"404 with a message", 404, `{"error_message":"gone"}`, found, false, "", "", "HTTP 404 Not Found: gone", false},
		{"404 bare", 404, `<html><body>404 page not found</body></html>`, unavailable, false, "", "", "(check the base URL)", false},
		{"400", 400, `{"error_message":"id: expected integer","error_name":"InvalidRequest"}`, nil, true, "InvalidRequest", "id: expected integer", "id: expected integer", false},
		{"401", 401, `{"error_message":"Invalid credentials","error_name":"Unauthorized"}`, []error{upstream.ErrBadCredentials}, false, "", "", "Invalid credentials", false},
		{"401 empty", 401, ``, []error{upstream.ErrBadCredentials}, false, "", "", "HTTP 401", false},
		{"403", 403, `{"error_message":"Missing permission","error_name":"Forbidden"}`, []error{upstream.ErrForbidden}, false, "", "", "Missing permission", false},
		{"409 other 4xx", 409, `{"error_message":"busy","error_name":"Conflict"}`, nil, true, "Conflict", "busy", "busy", false},
		{"429", 429, `{"error_message":"slow down"}`, unavailable, false, "", "", "slow down", true},
		{"500", 500, `{"error_message":"Internal error","error_name":"InternalError"}`, unavailable, false, "", "", "Internal error", true},
		{"503 html", 503, `<html>maintenance</html>`, unavailable, false, "", "", "HTTP 503", true},
		{"500 odd types", 500, `{"error_message":{"a":1},"error_name":7}`, unavailable, false, "", "", `{"a":1}`, true},
	} {
		for _, ep := range endpoints() {
			t.Run(tc.name+"/"+ep.name, func(t *testing.T) {
				u := answering(t, tc.status, tc.body)
				err := ep.call(context.Background(), fastClient(u.URL))
				t.Logf("err: %v", err)
				checkErrText(t, err)
				checkSentinels(t, err, tc.want...)
				if upstream.IsUnknown(err) {
					t.Fatalf("err = %v, not an unknown outcome", err)
				}
				if !strings.Contains(err.Error(), tc.text) {
					t.Errorf("err = %q, want it to say %q", err, tc.text)
				}
				re := asRejected(err)
				if (re != nil) != tc.rejected {
					t.Fatalf("err = %#v, rejected = %v, want %v", err, re != nil, tc.rejected)
				}
				if re != nil && (re.Status != tc.status || re.Code != tc.code || re.Message != tc.msg) {
					t.Errorf("RejectedError = %+v, want %d %q %q", re, tc.status, tc.code, tc.msg)
				}
				want := int64(1)
				if tc.readRetr && !ep.create {
					want = 5
				}
				if n := u.reqs.Load(); n != want {
					t.Errorf("requests = %d, want %d", n, want)
				}
			})
		}
	}
}

func TestWrongCredentialsAreUnauthorized(t *testing.T) {
	u := newUpstream(t, cannedAPI(t))
	for _, ep := range endpoints() {
		c := fastClient(u.URL, func(cfg *Config) { cfg.Secret = "secret-wrong-one" })
		err := ep.call(context.Background(), c)
		checkSentinels(t, err, upstream.ErrBadCredentials)
	}
}

func TestReadRetriedOn500ThenSucceeds(t *testing.T) {
	for _, ep := range readEndpoints() {
		t.Run(ep.name, func(t *testing.T) {
			var n atomic.Int64
			canned := cannedAPI(t)
			u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
				if n.Add(1) <= 2 {
					writeJSON(w, 500, `{"error_message":"try again","error_name":"InternalError"}`)
					return
				}
				canned(w, r, body)
			})
			if err := ep.call(context.Background(), fastClient(u.URL)); err != nil {
				t.Fatal(err)
			}
			if got := u.reqs.Load(); got != 3 {
				t.Fatalf("requests = %d, want 3", got)
			}
		})
	}
}

func TestReadNotRetriedOn4xx(t *testing.T) {
	for _, status := range []int{400, 401, 403, 404, 409, 422} {
		for _, ep := range readEndpoints() {
			t.Run(fmt.Sprint(ep.name, status), func(t *testing.T) {
				u := answering(t, status, `{"error_message":"no","error_name":"No"}`)
				err := ep.call(context.Background(), fastClient(u.URL))
				checkErrText(t, err)
				if upstream.IsUnknown(err) || errors.Is(err, upstream.ErrUnavailable) {
					t.Fatalf("err = %v", err)
				}
				if n := u.reqs.Load(); n != 1 {
					t.Fatalf("requests = %d, want 1", n)
				}
			})
		}
	}
}

func TestReadGivesUpAfterFourRetries(t *testing.T) {
	for _, ep := range readEndpoints() {
		t.Run(ep.name, func(t *testing.T) {
			u := answering(t, 500, `{"error_message":"down","error_name":"InternalError"}`)
			err := ep.call(context.Background(), fastClient(u.URL))
			checkSentinels(t, err, upstream.ErrUnavailable)
			checkErrText(t, err)
			if n := u.reqs.Load(); n != 5 {
				t.Fatalf("requests = %d, want 5 (1 + 4 retries)", n)
			}
		})
	}
}

func TestRetrySetsTheNumberOfTries(t *testing.T) {
	for _, tc := range []struct {
		retry upstream.Retry
		want  int64
	}{
		{upstream.Retry{Attempts: 1}, 1},
		{upstream.Retry{Attempts: 2}, 2},
		{upstream.Retry{Attempts: 3, Base: time.Millisecond, Max: time.Millisecond}, 3},
	} {
		u := answering(t, 503, `{}`)
		c := fastClient(u.URL, func(cfg *Config) { cfg.Retry = tc.retry })
		if _, err := c.SessionState(context.Background(), 1); !errors.Is(err, upstream.ErrUnavailable) {
			t.Fatalf("err = %v", err)
		}
		if n := u.reqs.Load(); n != tc.want {
			t.Errorf("retry %+v: requests = %d, want %d", tc.retry, n, tc.want)
		}
	}
}

func TestMalformedReadIsUnavailableNotRetried(t *testing.T) {
	for _, tc := range []struct {
		name, method, body string
	}{
		{"get truncated", "get", `{"id": 123, "state": "CREA`},
		{"get html", "get", `<html>ok</html>`},
		{"get empty", "get", ``},
		{"get array", "get", `[{"id":123,"state":"CREATED"}]`},
		{"get null", "get", `null`},
		{"get empty object", "get", `{}`},
		{"get id string", "get", `{"id":"abc","state":"CREATED"}`},
		{"get id float", "get", `{"id":123.5,"state":"CREATED"}`},
		{"get id exponent", "get", `{"id":1.23e2,"state":"CREATED"}`},
		{"get id overflow", "get", `{"id":9223372036854775808,"state":"CREATED"}`},
		{"get other session", "get", `{"id":124,"state":"CREATED"}`},
		{"get no state", "get", `{"id":123,"state":""}`},
		{"get state number", "get", `{"id":123,"state":5}`},
		{"get sex number", "get", `{"id":123,"state":"CREATED","sex":1}`},
		{"get nested object", "get", `{"id":123,"state":"CREATED","surname":{"a":"b"}}`},
		{"get created number", "get", `{"id":123,"state":"CREATED","created":1706313600}`},
		{"get trailing data", "get", `{"id":123,"state":"CREATED"}{"id":1}`},
		{"state empty object", "state", `{}`},
		{"state null", "state", `{"state":null}`},
		{"state number", "state", `{"state":1}`},
		{"state html", "state", `<html>`},
		{"state blank", "state", `{"state":"  "}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := answering(t, 200, tc.body)
			c := fastClient(u.URL)
			var err error
			if tc.method == "get" {
				_, err = c.GetSession(context.Background(), 123)
			} else {
				_, err = c.SessionState(context.Background(), 123)
			}
			t.Logf("err: %v", err)
			checkSentinels(t, err, upstream.ErrUnavailable)
			checkErrText(t, err)
			if asRejected(err) != nil {
				t.Errorf("err = %v, not a *upstream.RejectedError", err)
			}
			if n := u.reqs.Load(); n != 1 {
				t.Fatalf("requests = %d, want 1", n)
			}
		})
	}
}

func TestAnswerSizeBounds(t *testing.T) {
	big := bytes.Repeat([]byte{0xAB}, 3<<20) // a few MB of image: fine for session.get
	okBody := `{"id":123,"state":"APPROVED","portrait":"` + base64.StdEncoding.EncodeToString(big) + `"}`
	hugeBody := `{"id":123,"state":"APPROVED","portrait":"` + strings.Repeat("A", 16<<20) + `"}`
	overMiB := `{"state":"APPROVED","pad":"` + strings.Repeat("x", 1<<20) + `"}`

	t.Run("get with 4 MB", func(t *testing.T) {
		u := answering(t, 200, okBody)
		s, err := fastClient(u.URL).GetSession(context.Background(), 123)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(s.Portrait, big) {
			t.Errorf("portrait of %d bytes, want %d", len(s.Portrait), len(big))
		}
	})
	for _, tc := range []struct {
		name, body string
		call       func(c *Client) error
	}{
		{"get over 16 MiB", hugeBody, func(c *Client) error { _, err := c.GetSession(context.Background(), 123); return err }},
		{"state over 1 MiB", overMiB, func(c *Client) error { _, err := c.SessionState(context.Background(), 123); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := answering(t, 200, tc.body)
			err := tc.call(fastClient(u.URL))
			checkSentinels(t, err, upstream.ErrUnavailable)
			if n := u.reqs.Load(); n != 1 {
				t.Fatalf("requests = %d, want 1 (size is not cured by asking again)", n)
			}
		})
	}
	t.Run("create over 1 MiB", func(t *testing.T) {
		u := answering(t, 200, `{"id":123,"token":"`+strings.Repeat("t", 1<<20)+`"}`)
		_, err := fastClient(u.URL).CreateSession(context.Background(), CreateSessionRequest{})
		if !upstream.IsUnknown(err) {
			t.Fatalf("err = %v, want an unknown outcome", err)
		}
	})
}

func TestCreateNotRetriedOn5xx(t *testing.T) {
	for _, status := range []int{500, 501, 503} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			u := answering(t, status, `{"error_message":"temporarily out of order","error_name":"InternalError"}`)
			_, err := fastClient(u.URL).CreateSession(context.Background(), CreateSessionRequest{Reference: "r"})
			t.Logf("err: %v", err)
			checkSentinels(t, err, upstream.ErrUnavailable)
			if upstream.IsUnknown(err) || asRejected(err) != nil {
				t.Fatalf("err = %v, want PassportReader's answer", err)
			}
			if !strings.Contains(err.Error(), "temporarily out of order") {
				t.Errorf("error %q lacks the message", err)
			}
			if n := u.reqs.Load(); n != 1 {
				t.Fatalf("requests = %d, want exactly 1", n)
			}
		})
	}
}

func TestCreateMalformedSuccessIsUnknown(t *testing.T) {
	for _, tc := range []struct{ name, body string }{
		{"truncated", `{"id": 12`},
		{"html", `<html>ok</html>`},
		{"empty", ``},
		{"empty object", `{}`},
		{"no token", `{"id":123}`},
		{"blank token", `{"id":123,"token":" "}`},
		{"no id", `{"token":"t"}`},
		{"zero id", `{"id":0,"token":"t"}`},
		{"negative id", `{"id":-4,"token":"t"}`},
		{"float id", `{"id":12.5,"token":"t"}`},
		{"token number", `{"id":123,"token":5}`},
		{"array", `[{"id":123,"token":"t"}]`},
		{"trailing data", `{"id":123,"token":"t"}{}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := answering(t, 200, tc.body)
			_, err := fastClient(u.URL).CreateSession(context.Background(), CreateSessionRequest{})
			t.Logf("err: %v", err)
			if !upstream.IsUnknown(err) {
				t.Fatalf("err = %v, want OutcomeUnknownError", err)
			}
			checkSentinels(t, err)
			checkErrText(t, err)
			if n := u.reqs.Load(); n != 1 {
				t.Fatalf("requests = %d, want 1", n)
			}
		})
	}
}

func TestCreateRefusedIsRejected(t *testing.T) {
	u := answering(t, 400, `{"error_message":"callback_url: expected string","error_name":"InvalidType"}`)
	_, err := fastClient(u.URL).CreateSession(context.Background(), CreateSessionRequest{})
	checkSentinels(t, err)
	re := asRejected(err)
	if upstream.IsUnknown(err) || re == nil || re.Code != "InvalidType" || re.Message != "callback_url: expected string" {
		t.Fatalf("err = %v", err)
	}
}

func TestInvalidArgumentsSendNothing(t *testing.T) {
	u := newUpstream(t, cannedAPI(t))
	c := fastClient(u.URL)
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"get 0":          func() error { _, err := c.GetSession(ctx, 0); return err },
		"get negative":   func() error { _, err := c.GetSession(ctx, -1); return err },
		"state 0":        func() error { _, err := c.SessionState(ctx, 0); return err },
		"state negative": func() error { _, err := c.SessionState(ctx, math.MinInt64); return err },
		"relative cb": func() error {
			_, err := c.CreateSession(ctx, CreateSessionRequest{CallbackURL: "/hooks/pr"})
			return err
		},
		"ftp cb": func() error {
			_, err := c.CreateSession(ctx, CreateSessionRequest{CallbackURL: "ftp://x.example/cb"})
			return err
		},
		"unparseable cb": func() error {
			_, err := c.CreateSession(ctx, CreateSessionRequest{CallbackURL: "http://[::1"})
			return err
		},
		"cb without host": func() error {
			_, err := c.CreateSession(ctx, CreateSessionRequest{CallbackURL: "https:///x"})
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			err := call()
			checkSentinels(t, err, upstream.ErrInvalidRequest, upstream.ErrNotSent)
			checkErrText(t, err)
		})
	}
	if n := u.reqs.Load(); n != 0 {
		t.Fatalf("requests = %d, want 0", n)
	}
}

func TestBadConfig(t *testing.T) {
	u := newUpstream(t, cannedAPI(t))
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no base", Config{PublicKey: testKey, Secret: testSecret}},
		{"relative base", Config{BaseURL: "passportreader.app", PublicKey: testKey, Secret: testSecret}},
		{"ftp base", Config{BaseURL: "ftp://passportreader.app", PublicKey: testKey, Secret: testSecret}},
		{"credentials in base", Config{BaseURL: "https://u:p@passportreader.app", PublicKey: testKey, Secret: testSecret}},
		{"query in base", Config{BaseURL: u.URL + "?x=1", PublicKey: testKey, Secret: testSecret}},
		{"no key", Config{BaseURL: u.URL, Secret: testSecret}},
		{"no secret", Config{BaseURL: u.URL, PublicKey: testKey}},
		{"colon in key", Config{BaseURL: u.URL, PublicKey: "public-key-a:b", Secret: testSecret}},
		{"newline in secret", Config{BaseURL: u.URL, PublicKey: testKey, Secret: testSecret + "\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New(tc.cfg)
			for _, ep := range endpoints() {
				err := ep.call(context.Background(), c)
				checkSentinels(t, err, upstream.ErrInvalidRequest, upstream.ErrNotSent)
				checkErrText(t, err)
			}
		})
	}
	if n := u.reqs.Load(); n != 0 {
		t.Fatalf("requests = %d, want 0", n)
	}
}

func TestErrorsNeverCarryTheSecret(t *testing.T) {
	echo := func(w http.ResponseWriter, r *http.Request, status int) {
		b, _ := json.Marshal(map[string]string{
			"error_message": "you sent " + r.Header.Get("Authorization") + " with secret " + testSecret,
			"error_name":    testSecret,
		})
		writeJSON(w, status, string(b))
	}
	for _, status := range []int{400, 401, 404, 500, 502} {
		for _, ep := range endpoints() {
			t.Run(fmt.Sprint(ep.name, status), func(t *testing.T) {
				u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { echo(w, r, status) })
				err := ep.call(context.Background(), fastClient(u.URL))
				t.Logf("err: %v", err)
				checkErrText(t, err)
				if re := asRejected(err); re != nil && (strings.Contains(re.Message, testSecret) || strings.Contains(re.Code, testSecret)) {
					t.Errorf("RejectedError carries the secret: %+v", re)
				}
			})
		}
	}
	// A 2xx that echoes the secret where an id or a state belongs.
	for _, ep := range endpoints() {
		t.Run(ep.name+" 200", func(t *testing.T) {
			u := answering(t, 200, `{"id":"`+testSecret+`","state":{"x":"`+testSecret+`"},"token":["`+testSecret+`"]}`)
			err := ep.call(context.Background(), fastClient(u.URL))
			t.Logf("err: %v", err)
			checkErrText(t, err)
		})
	}
}

func TestErrorMessageIsCleaned(t *testing.T) {
	long := strings.Repeat("é", 1000)
	u := answering(t, 400, `{"error_message":"line1\nline2\u0000\u001b[31m `+long+`","error_name":"Bad\tName"}`)
	_, err := fastClient(u.URL).SessionState(context.Background(), 1)
	re := asRejected(err)
	if re == nil {
		t.Fatalf("err = %v", err)
	}
	if strings.ContainsAny(re.Message+re.Code, "\n\t\x00\x1b") {
		t.Errorf("control characters kept: %q / %q", re.Code, re.Message)
	}
	if n := len([]rune(re.Message)); n > upstream.MaxMessageRunes+1 {
		t.Errorf("message of %d runes", n)
	}
}

func TestDefaults(t *testing.T) {
	c := New(Config{BaseURL: "https://passportreader.app", PublicKey: testKey, Secret: testSecret})
	if got := c.up.Timeout(); got != 60*time.Second {
		t.Errorf("timeout = %v, want 60s", got)
	}
	// The document's 2, 4, 8 and 16 s.
	want := upstream.Retry{Attempts: 5, Base: 2 * time.Second, Max: 16 * time.Second, Jitter: 0.2}
	if got := c.up.Retry(); got != want {
		t.Errorf("retry = %+v, want %+v", got, want)
	}
	for i, d := range []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second} {
		if got := want.Delay(i + 1); got < d-d/5 || got > d+d/5 {
			t.Errorf("wait %d = %v, want %v ±20 %%", i+1, got, d)
		}
	}
	if err := c.up.ConfigErr(); err != nil {
		t.Errorf("config error %v", err)
	}
}

func TestOpenURL(t *testing.T) {
	for _, tc := range []struct {
		base, token, redirect, want string
	}{
		{"https://passportreader.app", "i_dI5hs7m", "", "https://passportreader.app/open?token=i_dI5hs7m"},
		{"https://passportreader.app/api/v1/", "i_dI5hs7m", "https://portal.example/verify/done?id=7&x=a b#top",
			"https://passportreader.app/open?token=i_dI5hs7m&redirect_url=https%3A%2F%2Fportal.example%2Fverify%2Fdone%3Fid%3D7%26x%3Da+b%23top"},
		{"https://passportreader.app", "a+b/c=d&e f?é", "", "https://passportreader.app/open?token=a%2Bb%2Fc%3Dd%26e+f%3F%C3%A9"},
		{"http://127.0.0.1:8080/sandbox/passportreader/api", "t", "x", "http://127.0.0.1:8080/sandbox/passportreader/open?token=t&redirect_url=x"},
	} {
		c := New(Config{BaseURL: tc.base, PublicKey: testKey, Secret: testSecret})
		if got := c.OpenURL(tc.token, tc.redirect); got != tc.want {
			t.Errorf("OpenURL(%q, %q) = %q, want %q", tc.token, tc.redirect, got, tc.want)
		}
	}
}

func TestIsFinal(t *testing.T) {
	for state, want := range map[string]bool{
		StateCreated: false, StateInitiated: false, StateCompleted: false,
		StateApproved: true, StateFailed: true, StateAborted: true, StateRejected: true,
		"": false, "approved": false, "EXPIRED": false,
	} {
		if got := IsFinal(state); got != want {
			t.Errorf("IsFinal(%q) = %v, want %v", state, got, want)
		}
		if got := (Session{State: state}).Final(); got != want {
			t.Errorf("Session{%q}.Final() = %v", state, got)
		}
	}
}

func TestGetSessionDecoded(t *testing.T) {
	u := newUpstream(t, cannedAPI(t))
	s, err := fastClient(u.URL).GetSession(context.Background(), 4711)
	if err != nil {
		t.Fatal(err)
	}
	want := Session{
		ID:      4711,
		Created: time.Date(2024, 1, 27, 10, 11, 12, 0, time.UTC), Expires: time.Date(2024, 1, 28, 10, 11, 12, 0, time.UTC),
		State: StateApproved, Reference: "ref-7f3a", UserIP: "203.0.113.7", UserAgent: "PassportReader/2.1 (iPhone)",
		GivenNames: "ANNA MARIA", Surname: "ERIKSSON", Nationality: "SE", Sex: "FEMALE", DateOfBirth: "1974-08-12",
		PersonalNumber: "19740812-1234", DocumentType: "PASSPORT", DocumentNumber: "L898902C3", ExpiryDate: "2032-04-15",
		IssuingCountry: "SE", Issuer: "Polismyndigheten",
		Portrait: portraitBytes, Face: faceBytes,
		Raw: json.RawMessage(sessionWith("4711")),
	}
	if !s.Created.Equal(want.Created) || !s.Expires.Equal(want.Expires) || s.Created.Location() != time.UTC {
		t.Errorf("times = %v, %v; want %v, %v in UTC", s.Created, s.Expires, want.Created, want.Expires)
	}
	s.Created, s.Expires, want.Created, want.Expires = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("session =\n%#v\nwant\n%#v", s, want)
	}
}

func TestConcurrentUse(t *testing.T) {
	u := newUpstream(t, cannedAPI(t))
	c := fastClient(u.URL)
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, ep := range endpoints() {
				if err := ep.call(context.Background(), c); err != nil {
					errs <- fmt.Errorf("%d %s: %w", i, ep.name, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
