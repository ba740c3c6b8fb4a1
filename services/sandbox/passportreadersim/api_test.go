package passportreadersim_test

import (
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"portal/services/sandbox"
	"portal/services/sandbox/passportreadersim"
	"portal/services/sandbox/simtest"
)

func TestSimulatorRegistration(t *testing.T) {
	e := setup(t, passportreadersim.Options{})
	view := simtest.CheckRegistration(t, e.harness, e.sim, "passportreader", "PassportReader sessions", []string{
		"POST /api/v1/session.create",
		"POST /api/v1/session.get",
		"POST /api/v1/session.state",
		"POST /api/session.create",
		"POST /api/session.get",
		"POST /api/session.state",
		"/api/",
		"GET /open",
		"POST /open",
		"GET /assets/open.css",
	}, []string{"advance", "approve", "reject", "fail", "expire", "resend_callback"})
	for _, a := range view.Actions {
		if a.Fields[0].Name != "id" || !a.Fields[0].Required {
			t.Errorf("action %s: first field %+v, want a required id", a.Name, a.Fields[0])
		}
	}
}

func TestDefaultCredentialsShape(t *testing.T) {
	// "the public key is prefixed with “public-key-” and the secret is
	// prefixed with “secret-”"
	if !strings.HasPrefix(passportreadersim.DefaultPublicKey, "public-key-") || !strings.HasPrefix(passportreadersim.DefaultSecret, "secret-") {
		t.Fatalf("key %q secret %q", passportreadersim.DefaultPublicKey, passportreadersim.DefaultSecret)
	}
}

func TestBasicAuth(t *testing.T) {
	e := setup(t, passportreadersim.Options{})
	key, secret := passportreadersim.DefaultPublicKey, passportreadersim.DefaultSecret
	for _, tc := range []struct {
		name       string
		user, pass string
		header     string // a raw Authorization header instead of user/pass
		want       int
	}{
		{name: "right", user: key, pass: secret, want: http.StatusOK},
		{name: "wrong key", user: "public-key-someone-else", pass: secret, want: http.StatusUnauthorized},
		{name: "wrong secret", user: key, pass: "secret-wrong", want: http.StatusUnauthorized},
		{name: "swapped", user: secret, pass: key, want: http.StatusUnauthorized},
		{name: "key without its prefix", user: strings.TrimPrefix(key, "public-key-"), pass: secret, want: http.StatusUnauthorized},
		{name: "no secret", user: key, pass: "", want: http.StatusUnauthorized},
		{name: "missing", want: http.StatusUnauthorized},
		{name: "bearer", header: "Bearer " + secret, want: http.StatusUnauthorized},
		{name: "not base64", header: "Basic %%%", want: http.StatusUnauthorized},
		{name: "no colon", header: "Basic " + base64.StdEncoding.EncodeToString([]byte(key+secret)), want: http.StatusUnauthorized},
		{name: "manual header", header: "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":"+secret)), want: http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{passportreadersim.PathCreate, passportreadersim.PathState, passportreadersim.PathCreateUnversioned} {
				req, _ := http.NewRequest(http.MethodPost, e.base+path, strings.NewReader(`{"id":1}`))
				switch {
				case tc.header != "":
					req.Header.Set("Authorization", tc.header)
				case tc.user != "" || tc.pass != "":
					req.SetBasicAuth(tc.user, tc.pass)
				}
				resp, err := e.srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b := readAll(t, resp)
				if tc.want == http.StatusOK {
					// session.state of id 1 is a 404: authenticated.
					if resp.StatusCode == http.StatusUnauthorized {
						t.Fatalf("%s: refused: %s", path, b)
					}
					continue
				}
				wantError(t, resp.StatusCode, b, http.StatusUnauthorized, "Unauthorized", "")
				if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
					t.Errorf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
				}
				if strings.Contains(string(b), "secret-wrong") || strings.Contains(string(b), secret) {
					t.Fatalf("the answer repeats a secret: %s", b)
				}
			}
		})
	}
}

func TestCustomCredentials(t *testing.T) {
	e := setup(t, passportreadersim.Options{PublicKey: "public-key-x", Secret: "secret-y"})
	if st, _, b := e.send(http.MethodPost, passportreadersim.PathCreate, "public-key-x", "secret-y", ""); st != http.StatusOK {
		t.Fatalf("custom credentials: %d %s", st, b)
	}
	st, _, b := e.send(http.MethodPost, passportreadersim.PathCreate, passportreadersim.DefaultPublicKey, passportreadersim.DefaultSecret, "")
	wantError(t, st, b, http.StatusUnauthorized, "Unauthorized", "Invalid API credentials")
}

func TestOnlyPost(t *testing.T) {
	e := setup(t, passportreadersim.Options{})
	for _, path := range []string{
		passportreadersim.PathCreate, passportreadersim.PathGet, passportreadersim.PathState,
		passportreadersim.PathCreateUnversioned, passportreadersim.PathGetUnversioned, passportreadersim.PathStateUnversioned,
	} {
		for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPatch} {
			st, h, b := e.send(method, path, passportreadersim.DefaultPublicKey, passportreadersim.DefaultSecret, "")
			wantError(t, st, b, http.StatusMethodNotAllowed, "MethodNotAllowed", "POST")
			if h.Get("Allow") != http.MethodPost || h.Get("Content-Type") != "application/json" {
				t.Fatalf("%s %s: headers %v", method, path, h)
			}
		}
	}
	if e.sim.CreateCalls() != 0 {
		t.Fatal("a GET counted as a create call")
	}
	// Methods the sandbox does not have answer in the same shape.
	for _, path := range []string{"/api/v1/session.list", "/api/v1/session.delete", "/api/v2/session.create", "/api/"} {
		st, b := e.call(path, `{}`)
		wantError(t, st, b, http.StatusNotFound, "NotFound", "session.create")
	}
}

func TestCreate(t *testing.T) {
	e := setup(t, passportreadersim.Options{})
	tokenRe := regexp.MustCompile(`^[A-Za-z0-9_-]{32}$`)
	seen := map[string]bool{}
	for _, tc := range []struct {
		name, path, body string
		check            func(t *testing.T, s passportreadersim.Session)
	}{
		// The document's example sends no body at all.
		{"no body", passportreadersim.PathCreate, "", func(t *testing.T, s passportreadersim.Session) {
			if s.CallbackURL != "" || s.Reference != "" || s.FaceVerification || s.PassportOnly {
				t.Fatalf("%+v", s)
			}
		}},
		{"empty object", passportreadersim.PathCreate, "{}", nil},
		{"whitespace", passportreadersim.PathCreate, " \n\t", nil},
		{"every property", passportreadersim.PathCreate,
			`{"callback_url":"https://portal.example/callbacks/pr/abc?x=1","face_verification":true,"reference":"ref-1","passport_only":true}`,
			func(t *testing.T, s passportreadersim.Session) {
				if s.CallbackURL != "https://portal.example/callbacks/pr/abc?x=1" || s.Reference != "ref-1" || !s.FaceVerification || !s.PassportOnly {
					t.Fatalf("%+v", s)
				}
			}},
		{"extraneous properties are ignored", passportreadersim.PathCreate,
			`{"reference":"r","colour":"blue","nested":{"a":[1,2]},"face_verification":false}`,
			func(t *testing.T, s passportreadersim.Session) {
				if s.Reference != "r" || s.FaceVerification {
					t.Fatalf("%+v", s)
				}
			}},
		{"null is absent", passportreadersim.PathCreate, `{"callback_url":null,"reference":null,"face_verification":null,"passport_only":null}`, nil},
		{"empty callback_url is none", passportreadersim.PathCreate, `{"callback_url":""}`, func(t *testing.T, s passportreadersim.Session) {
			if s.CallbackURL != "" {
				t.Fatalf("%+v", s)
			}
		}},
		{"http callback", passportreadersim.PathCreate, `{"callback_url":"http://localhost:8080/cb"}`, nil},
		{"without v1", passportreadersim.PathCreateUnversioned, `{"reference":"old-path"}`, func(t *testing.T, s passportreadersim.Session) {
			if s.Reference != "old-path" {
				t.Fatalf("%+v", s)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, b := e.call(tc.path, tc.body)
			if st != http.StatusOK {
				t.Fatalf("%d %s", st, b)
			}
			v := decodeNumbers(t, b)
			if len(v) != 2 {
				t.Fatalf("answer %s, want exactly id and token", b)
			}
			var c created
			c.Token, _ = v["token"].(string)
			if !tokenRe.MatchString(c.Token) || seen[c.Token] {
				t.Fatalf("token %q", c.Token)
			}
			seen[c.Token] = true
			s, ok := e.sim.SessionByToken(c.Token)
			if !ok || v["id"] != jsonInt(s.ID) || s.State != passportreadersim.StateCreated {
				t.Fatalf("answer %s, session %+v", b, s)
			}
			if tc.check != nil {
				tc.check(t, s)
			}
		})
	}
	if n := e.sim.CreateCalls(); n != 9 {
		t.Fatalf("CreateCalls %d", n)
	}
}

func TestWrongTypes(t *testing.T) {
	e := setup(t, passportreadersim.Options{})
	big := `{"reference":"` + strings.Repeat("x", 70<<10) + `"}`
	for _, tc := range []struct {
		path, body, msg string
	}{
		{passportreadersim.PathCreate, `{"callback_url":1}`, "callback_url must be a string"},
		{passportreadersim.PathCreate, `{"callback_url":["https://x.example"]}`, "callback_url must be a string"},
		{passportreadersim.PathCreate, `{"callback_url":"ftp://x.example/cb"}`, "callback_url must be an absolute http(s) URL"},
		{passportreadersim.PathCreate, `{"callback_url":"/relative/cb"}`, "callback_url must be an absolute http(s) URL"},
		{passportreadersim.PathCreate, `{"callback_url":"https://"}`, "callback_url must be an absolute http(s) URL"},
		{passportreadersim.PathCreate, `{"face_verification":"true"}`, "face_verification must be a boolean"},
		{passportreadersim.PathCreate, `{"face_verification":1}`, "face_verification must be a boolean"},
		{passportreadersim.PathCreate, `{"reference":5}`, "reference must be a string"},
		{passportreadersim.PathCreate, `{"reference":{"a":1}}`, "reference must be a string"},
		{passportreadersim.PathCreate, `{"reference":"` + strings.Repeat("r", 1001) + `"}`, "reference must be at most 1000"},
		{passportreadersim.PathCreate, `{"passport_only":"yes"}`, "passport_only must be a boolean"},
		{passportreadersim.PathGet, `{"id":"123"}`, "id must be an integer"},
		{passportreadersim.PathGet, `{"id":1.5}`, "id must be an integer"},
		{passportreadersim.PathGet, `{"id":123.0}`, "id must be an integer"},
		{passportreadersim.PathGet, `{"id":1e3}`, "id must be an integer"},
		{passportreadersim.PathGet, `{"id":true}`, "id must be an integer"},
		{passportreadersim.PathGet, `{"id":[1]}`, "id must be an integer"},
		{passportreadersim.PathGet, `{"id":9223372036854775808}`, "id must be an integer"},
		{passportreadersim.PathState, `{"id":"abc"}`, "id must be an integer"},
		{passportreadersim.PathGet, `{}`, "id is required"},
		{passportreadersim.PathState, ``, "id is required"},
		{passportreadersim.PathGet, `{"id":null}`, "id is required"},
		{passportreadersim.PathCreate, `[]`, "must be a JSON object"},
		{passportreadersim.PathCreate, `"x"`, "must be a JSON object"},
		{passportreadersim.PathCreate, `null`, "must be a JSON object"},
		{passportreadersim.PathCreate, `{"reference":"a"} {}`, "nothing after it"},
		{passportreadersim.PathCreate, `{"reference":`, "not valid JSON"},
		{passportreadersim.PathCreate, `{reference:1}`, "not valid JSON"},
		{passportreadersim.PathCreate, big, "larger than 64 KiB"},
	} {
		st, b := e.call(tc.path, tc.body)
		wantError(t, st, b, http.StatusBadRequest, "InvalidRequest", tc.msg)
	}
	if n := len(e.sim.Sessions()); n != 0 {
		t.Fatalf("%d sessions created by bad requests", n)
	}
}

func TestSessionNotFound(t *testing.T) {
	e := setup(t, passportreadersim.Options{})
	for _, path := range []string{passportreadersim.PathGet, passportreadersim.PathState, passportreadersim.PathGetUnversioned, passportreadersim.PathStateUnversioned} {
		// The document's error example, to the byte.
		st, b := e.call(path, `{"id": 123}`)
		if st != http.StatusNotFound || string(b) != `{"error_message":"No session found with id: 123","error_name":"SessionNotFound"}` {
			t.Fatalf("%s: %d %s", path, st, b)
		}
		for _, id := range []string{"0", "-5", "9223372036854775807"} {
			st, b := e.call(path, `{"id":`+id+`}`)
			wantError(t, st, b, http.StatusNotFound, "SessionNotFound", "No session found with id: "+id)
		}
	}
}

func TestFaultInjection(t *testing.T) {
	// Faults come from the harness: a request they stop never reaches the
	// simulator, and the simulator works again afterwards.
	e := setup(t, passportreadersim.Options{})
	if err := e.harness.SetFault("passportreader", "POST "+passportreadersim.PathCreate, sandbox.Fault{Kind: sandbox.FaultStatus, Status: 503, Times: 1}); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.call(passportreadersim.PathCreate, ""); st != http.StatusServiceUnavailable {
		t.Fatalf("status %d", st)
	}
	e.create("")
	// Refused creates reached the simulator, so they count.
	e.send(http.MethodPost, passportreadersim.PathCreate, "public-key-nope", "secret-nope", "")
	e.call(passportreadersim.PathCreate, `{"reference":1}`)
	if n := e.sim.CreateCalls(); n != 3 {
		t.Fatalf("CreateCalls %d, want 3", n)
	}
}

func TestConcurrentUse(t *testing.T) {
	e := setup(t, passportreadersim.Options{})
	var wg sync.WaitGroup
	ids := make(chan int64, 20)
	for range 20 {
		wg.Go(func() {
			c := e.create(`{"callback_url":"` + e.hooks.URL() + `"}`)
			ids <- c.ID
			_ = e.sim.Initiate(c.ID)
			e.get(c.ID)
			_, _ = e.sim.Advance(c.ID)
			e.state(c.ID)
		})
	}
	wg.Wait()
	close(ids)
	for id := range ids {
		if s := e.session(id); s.State != passportreadersim.StateCompleted {
			t.Fatalf("session %d is %s", id, s.State)
		}
	}
	e.waitCallbacks()
	if n := len(e.hooks.Got()); n != 40 {
		t.Fatalf("%d callbacks, want 40", n)
	}
}

func TestUnknownSessionErrors(t *testing.T) {
	e := setup(t, passportreadersim.Options{})
	for name, f := range map[string]func(int64) error{
		"Initiate": e.sim.Initiate, "Complete": e.sim.Complete, "Approve": e.sim.Approve,
		"Reject": func(id int64) error { return e.sim.Reject(id, "") }, "Fail": e.sim.Fail, "Abort": e.sim.Abort,
		"Expire": e.sim.Expire, "ResendCallback": e.sim.ResendCallback,
		"Advance": func(id int64) error { _, err := e.sim.Advance(id); return err },
		"CompleteWith": func(id int64) error {
			return e.sim.CompleteWith(id, passportreadersim.Identity{Surname: "X", Nationality: "NG", Sex: "MALE", DateOfBirth: "1990-01-01", DocumentType: "PASSPORT", DocumentNumber: "A1", ExpiryDate: "2030-01-01", IssuingCountry: "NG"})
		},
	} {
		if err := f(42); !errors.Is(err, passportreadersim.ErrUnknownSession) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, ok := e.sim.Session(42); ok {
		t.Fatal("Session(42) found")
	}
	if _, ok := e.sim.SessionByToken("nope"); ok {
		t.Fatal("SessionByToken found")
	}
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
